//! The stage lists, top to bottom: [`respond`] for a response (every
//! front door's turn), [`compact`] for a compaction on an upstream's own
//! endpoint. Each stage is a function of its room; this file only says
//! in which order they run and what each hands the next.

use crate::auth::Principal;
use crate::config::Config;
use crate::conversation;
use crate::error::ApiError;
use crate::host::Host;
use crate::ids::IdGen;
use crate::observe::Recorder;
use crate::routing;
use crate::stored::Saver;
use crate::types::{CreateResponseBody, Item};
use crate::validate;

use super::admit::{self, reserve};
use super::attempt::{self, ServedBody};
use super::cache::{self, Hit};
use super::error::StageError;
use super::finish::{Finish, ServedBy};
use super::hosted::{self, turns, Hosted};
use super::respond::{served, Answer, Answered};
use super::stream::egress::Egress;
use super::turn::{Seeds, Turn};
use super::{clock, expand, plan, resume, routing_store, stream, Cx};

/// A response: expand → plan → admit → cache lookup → the attempt loop
/// (with continuation, in the stream) → finish. The turn's body has been
/// parsed and checked by its door.
pub(crate) async fn respond<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    turn: Turn,
) -> Result<Answer, StageError> {
    let Turn {
        principal,
        rec,
        mut body,
        front,
        size,
        cache: cache_policy,
    } = turn;
    let model = body.model.clone().unwrap_or_default();
    let stream = body.stream.unwrap_or(false);
    rec.with(|r| {
        r.model = body.model.clone();
        r.stream = stream;
        r.strategy = routing::strategy_of(cx.config, &model);
    });
    let seeds = Seeds::for_response(cx.host);
    // What this turn stores: its own input, and the chain before it.
    let own_input = conversation::input_items(body.input.as_ref());
    let ancestors = expand::expand(cx, &principal, &mut body).await?;
    let saver = saver(
        cx.config, &body, &principal, own_input, ancestors, seeds.ids,
    );
    validate::check_call_outputs(&body)?;
    if let Some(s) = &saver {
        s.check_input()?;
    }

    let now = clock::now_ms(cx.host);
    let pinned = body.provider.clone();
    let ask = plan::Ask {
        model: &model,
        pinned: pinned.as_deref(),
        principal: &principal.id,
        tokens: (size / 4, body.max_output_tokens.unwrap_or(size / 4)),
        seed: seeds.plan,
    };
    let mut planned = plan::plan(cx, ask, now, &rec).await?;
    let scopes = admit::scopes(cx, &principal, planned.model, now);
    reserve::cap_output(cx.config, planned.model, &scopes, &mut body);
    let estimate = reserve::estimate(cx.config, &body, size, &planned.candidates);
    let admission = admit::admit(cx, &mut planned, scopes, estimate, &rec).await?;
    let candidates = planned.candidates;
    let mut finish = Finish::new(saver, admission);

    let skeleton = validate::skeleton(&body, seeds.id.clone(), &model, now / 1000);
    let team_mcp = cx.config.team_mcp(principal.team.as_deref());
    let tools_seed = seeds.ids.rotate_left(17);
    if let Some(hosted) = hosted::prepare(cx, &principal, team_mcp, &mut body, tools_seed).await? {
        let turn = HostedTurn {
            hosted,
            body,
            principal: &principal,
            rec: &rec,
            egress: front.egress,
            stream,
            ids: seeds.ids,
            jitter: seeds.jitter,
            now,
        };
        return with_hosted_tools(cx, turn, skeleton, &candidates, finish).await;
    }
    let cached = cache_policy.is_some();
    let verbatim = front.verbatim.as_ref();
    let (hit, write) = cache::lookup(cx, cache_policy, &body, verbatim, &principal, &rec).await;
    if let Some(entry) = hit {
        let hit = Hit {
            entry,
            skeleton,
            ids: seeds.ids,
            stream,
        };
        return cache::answer(cx, hit, front.egress, &rec, finish).await;
    }
    finish.cache = write;

    let deadline = now.saturating_add(routing::millis(cx.config.routing.deadline));
    let job = attempt::Job {
        body: &body,
        stream,
        skeleton: &skeleton,
        id_seed: seeds.ids,
        seed: seeds.jitter,
        deadline,
        caller_passthrough: &principal.passthrough,
        principal: &principal.id,
        rec: &rec,
        verbatim: front.verbatim.as_ref(),
        compact: false,
        resume: None,
    };
    let served_by = attempt::run(cx.config, cx.host, &job, &candidates).await;
    routing_store::save(cx.host).await;
    let mut served_by = match served_by {
        Ok(s) => s,
        Err(gave_up) => return Err(finish.gave_up(gave_up)),
    };
    finish.admission.reached();
    finish.timed_out(served_by.billed);
    let limits = finish.limit_headers();

    let target = &served_by.target;
    let (answered, mut headers) = match served_by.body {
        ServedBody::Whole(mut b) => {
            let by = ServedBy::Upstream(target);
            let (cost, stored) = finish
                .response(cx.config, cx.host, &rec, &mut b, by, false)
                .await;
            stored?;
            let cost = cost.map(|c| ("x-latticelm-cost-usd".to_owned(), format!("{c:.8}")));
            let answered = Answered::Whole(Box::new(b.into_response()), front.egress);
            (answered, cost.into_iter().collect())
        }
        ServedBody::Compacted(bytes) => {
            finish.compacted(cx.config, &bytes, target);
            (Answered::Compacted(bytes), Vec::new())
        }
        ServedBody::Stream(live) => {
            let resume = resume::Resume::for_request(
                cx.config,
                &body,
                &skeleton,
                &principal,
                seeds.resume,
                &candidates,
            );
            let job = stream::StreamJob {
                host: cx.host.clone(),
                config: cx.config.clone(),
                target: target.clone(),
                principal: principal.id.clone(),
                deadline,
                rec: rec.clone(),
                egress: front.egress,
                finish,
                resume,
            };
            (Answered::Stream(stream::body(*live, job)), Vec::new())
        }
    };
    headers.extend(served(Some(target), served_by.attempts));
    headers.extend(limits);
    if cached {
        headers.push((crate::cache::STATUS_HEADER.into(), "miss".into()));
    }
    let dropped = std::mem::take(&mut served_by.dropped_tools);
    if !dropped.is_empty() {
        headers.push(("x-latticelm-dropped-tools".into(), dropped.join(", ")));
    }
    Ok(Answer {
        body: answered,
        headers,
    })
}

/// What a response with hosted tools carries into its turns.
struct HostedTurn<'a> {
    hosted: Hosted,
    body: CreateResponseBody,
    principal: &'a Principal,
    rec: &'a Recorder,
    egress: Egress,
    stream: bool,
    ids: u64,
    jitter: u64,
    now: u64,
}

/// A response with hosted tools: its turns, each through the attempt
/// loop, then the one finish. A client that streams gets the whole
/// response's events once the turns are done (never cached).
async fn with_hosted_tools<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    turn: HostedTurn<'_>,
    skeleton: crate::types::ResponseResource,
    candidates: &[routing::Candidate<'_>],
    finish: Finish<H>,
) -> Result<Answer, StageError> {
    let HostedTurn {
        mut hosted,
        mut body,
        principal,
        rec,
        mut egress,
        stream,
        ids,
        jitter,
        now,
    } = turn;
    let original = body.clone();
    let template = attempt::Job {
        body: &original,
        stream: false,
        skeleton: &skeleton,
        id_seed: ids,
        seed: jitter,
        deadline: now.saturating_add(routing::millis(cx.config.routing.deadline)),
        caller_passthrough: &principal.passthrough,
        principal: &principal.id,
        rec,
        verbatim: None,
        compact: false,
        resume: None,
    };
    let done = turns::run(
        cx,
        &mut hosted,
        &mut body,
        &template,
        candidates,
        finish,
        skeleton.clone(),
    )
    .await?;
    let turns::Turns {
        mut finish,
        mut builder,
        target,
        attempts,
    } = done;
    let limits = finish.limit_headers();
    let (cost, stored) = finish
        .response(
            cx.config,
            cx.host,
            rec,
            &mut builder,
            ServedBy::Upstream(&target),
            false,
        )
        .await;
    stored?;
    let mut headers = served(Some(&target), attempts);
    headers.extend(limits);
    headers.extend(cost.map(|c| ("x-latticelm-cost-usd".to_owned(), format!("{c:.8}"))));
    let body = if stream {
        let bytes = egress.write(builder.drain(), true);
        Answered::Stream(Box::pin(futures::stream::iter([bytes])))
    } else {
        Answered::Whole(Box::new(builder.into_response()), egress)
    };
    Ok(Answer { body, headers })
}

/// A compaction on the upstream's own `/responses/compact`: the same
/// plan, admission and attempt loop as a response (routing, breakers,
/// retries, timeouts, the error envelope, the record); the upstream's
/// answer passed on, settled at the usage it reports. `body` is
/// expanded.
pub(crate) async fn compact<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    principal: &Principal,
    rec: &Recorder,
    model: &str,
    body: &CreateResponseBody,
) -> Result<Answer, StageError> {
    let now = clock::now_ms(cx.host);
    let seeds = Seeds::for_compaction(cx.host);
    let size = serde_json::to_vec(&body.input).map_or(0, |b| b.len() as u64);
    let ask = plan::Ask {
        model,
        pinned: body.provider.as_deref(),
        principal: &principal.id,
        tokens: (size / 4, size / 8),
        seed: seeds.plan,
    };
    let mut planned = plan::plan(cx, ask, now, rec).await?;
    // A compaction's output is a summary: reserved like a response with
    // no max_output_tokens.
    let reserve = (size / 4, cx.config.limits.default_max_output_tokens);
    let scopes = admit::scopes(cx, principal, planned.model, now);
    let admission = admit::admit(cx, &mut planned, scopes, reserve, rec).await?;
    let candidates = planned.candidates;
    let mut finish = Finish::new(None, admission);
    let skeleton = validate::skeleton(body, seeds.id, model, now / 1000);
    let job = attempt::Job {
        body,
        stream: false,
        skeleton: &skeleton,
        id_seed: seeds.ids,
        seed: seeds.jitter,
        deadline: now.saturating_add(routing::millis(cx.config.routing.deadline)),
        caller_passthrough: &principal.passthrough,
        principal: &principal.id,
        rec,
        verbatim: None,
        compact: true,
        resume: None,
    };
    let served_by = attempt::run(cx.config, cx.host, &job, &candidates).await;
    routing_store::save(cx.host).await;
    let served_by = match served_by {
        Ok(s) => s,
        Err(gave_up) => return Err(finish.gave_up(gave_up)),
    };
    finish.timed_out(served_by.billed);
    let limits = finish.limit_headers();
    let ServedBody::Compacted(bytes) = served_by.body else {
        return Err(ApiError::internal("compaction answered as a response").into());
    };
    finish.compacted(cx.config, &bytes, &served_by.target);
    let mut headers = served(Some(&served_by.target), served_by.attempts);
    headers.extend(limits);
    Ok(Answer {
        body: Answered::Compacted(bytes),
        headers,
    })
}

/// What the turn stores for `previous_response_id` (unless `store` is
/// off): its own input with ids, after the chain it continues.
fn saver(
    config: &Config,
    body: &CreateResponseBody,
    principal: &Principal,
    mut input: Vec<Item>,
    ancestors: Vec<String>,
    ids: u64,
) -> Option<Saver> {
    body.store.unwrap_or(true).then(|| {
        conversation::assign_ids(&mut input, &mut IdGen::new(!ids));
        Saver {
            input,
            parent: body.previous_response_id.clone(),
            ancestors,
            provider: String::new(),
            owner: principal.id.clone(),
            ttl: config.conversations.ttl,
            max_bytes: config.conversations.max_entry_bytes,
        }
    })
}
