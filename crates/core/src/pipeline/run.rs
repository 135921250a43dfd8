//! The stage list of `POST /v1/responses` and every door onto it: parse,
//! expand, plan, admit, cache lookup, the attempt loop, finish.

use crate::auth::Principal;
use crate::conversation;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::ids::IdGen;
use crate::observe::Recorder;
use crate::routing;
use crate::stored::Saver;
use crate::validate;

use super::attempt::{self, ServedBody};
use super::parse::{self, parse};
use super::respond::{error_response, finished_json, save, served_headers, sse_response};
use super::{admit, cache, clock, resume, routing_store, stream};

impl Gateway {
    /// `POST /v1/responses`, as named stages: parse, expand, plan, the
    /// attempt loop (with translation), store, respond. `front` is set
    /// when the request came by another front door: its own body, the
    /// Open Responses body decoded from it, and its encoder (`req` is
    /// then the client's own request, for its headers and size).
    pub(crate) async fn create_response<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
        front: Option<crate::gateway::doors::Front>,
    ) -> Result<HttpResponse, ApiError> {
        let (verbatim, egress, typed) = match front {
            Some(f) => (
                Some(f.verbatim),
                stream::Egress::Other(f.sink),
                Some(f.body),
            ),
            None => (None, stream::Egress::Responses, None),
        };
        let mut body = match typed {
            Some(b) => parse::checked(&self.config, b, principal)?,
            None => parse(&self.config, req, principal)?,
        };
        let cache_policy = cache::policy(&self.config, body.model.as_deref().unwrap_or(""), req)?;
        rec.with(|r| {
            r.model = body.model.clone();
            r.stream = body.stream.unwrap_or(false);
            r.strategy =
                routing::strategy_of(&self.config, body.model.as_deref().unwrap_or_default());
        });
        let mut seed = [0u8; 32];
        host.random(&mut seed);
        let word = |i: usize| u64::from_le_bytes(seed[i..i + 8].try_into().unwrap_or_default());
        let id = format!("resp_{}", crate::observe::trace::hex(&seed[..16]));
        let id_seed = word(16);
        // What this turn stores: its own input, and the chain before it.
        let own_input = conversation::input_items(body.input.as_ref());
        let ancestors = self.expand(host, principal, &mut body).await?;
        let mut saver = body.store.unwrap_or(true).then(|| {
            let mut input = own_input;
            conversation::assign_ids(&mut input, &mut IdGen::new(!id_seed));
            Saver {
                input,
                parent: body.previous_response_id.clone(),
                ancestors,
                provider: String::new(),
                owner: principal.id.clone(),
                ttl: self.config.conversations.ttl,
                max_bytes: self.config.conversations.max_entry_bytes,
            }
        });
        validate::check_call_outputs(&body)?;
        if let Some(s) = &saver {
            s.check_input()?;
        }
        let stream = body.stream.unwrap_or(false);
        let model = body.model.clone().unwrap_or_default();
        let now = clock::now_ms(host);
        let size = req.body.len() as u64;
        let estimate = (size / 4, body.max_output_tokens.unwrap_or(size / 4));
        let input = (
            body.provider.as_deref(),
            principal.id.as_str(),
            estimate,
            word(24),
        );
        let candidates = match self.plan(host, &model, now, input).await {
            Ok(c) => c,
            Err(resp) => return Ok(resp),
        };
        let input_size = if body.previous_response_id.is_some() {
            serde_json::to_vec(&body.input).map_or(size, |b| b.len() as u64 + size)
        } else {
            size
        };
        let reserve = (
            input_size / 4,
            body.max_output_tokens
                .unwrap_or(self.config.limits.default_max_output_tokens),
        );
        let mut admission = match self
            .admit(host, principal, &model, reserve, &candidates, rec)
            .await
        {
            Ok(a) => a,
            Err(resp) => return Ok(resp),
        };
        let skeleton = validate::skeleton(&body, id, &model, now / 1000);
        let cached = cache_policy.is_some();
        let (hit, cache_write) = self
            .cache_lookup(
                host,
                cache_policy,
                &body,
                verbatim.as_ref().map(|v| &v.body),
                principal,
                rec,
            )
            .await;
        if let Some(entry) = hit {
            let limit_headers = std::mem::take(&mut admission.headers);
            let (stream, rec) = (body.stream.unwrap_or(false), rec);
            let job = cache::HitJob {
                skeleton,
                id_seed,
                stream,
                egress,
                saver,
                rec,
                admission,
                limit_headers,
            };
            return self.cache_hit(host, entry, job).await;
        }
        let deadline = now.saturating_add(routing::millis(self.config.routing.deadline));
        let job = attempt::Job {
            body: &body,
            stream,
            skeleton: &skeleton,
            id_seed,
            seed: word(24).rotate_left(32),
            deadline,
            caller_passthrough: &principal.passthrough,
            principal: &principal.id,
            rec,
            verbatim: verbatim.as_ref(),
            compact: false,
            resume: None,
        };
        let served = attempt::run(&self.config, host, &job, &candidates).await;
        routing_store::save(host).await;
        let limit_headers = std::mem::take(&mut admission.headers);
        let mut served = match served {
            Ok(s) => s,
            Err(gave_up) => {
                // Failed attempts are not billed: settled at nothing, or
                // cancelled when no upstream was reached.
                if gave_up.attempts > 0 {
                    admission.reached();
                }
                admission.settle_later(admit::Used::default());
                let mut resp = error_response(&gave_up.error);
                served_headers(&mut resp, gave_up.last.as_ref(), gave_up.attempts);
                resp.headers.extend(limit_headers);
                return Ok(resp);
            }
        };
        admission.reached();
        if let Some(s) = saver.as_mut() {
            s.provider = served.target.provider.clone();
        }
        let dropped = std::mem::take(&mut served.dropped_tools);
        let mut resp = match served.body {
            ServedBody::Whole(mut b) => {
                save(saver.as_ref(), host, &mut b).await?;
                let cost =
                    stream::settle_record(rec, &self.config, &served.target, b.response(), None);
                if let Some(w) = &cache_write {
                    w.write(host, b.response(), &served.target, cost).await;
                }
                let used = admit::used(rec, admission.reserved());
                admission.settle_later(used);
                let mut resp = finished_json(*b, &egress);
                if let Some(c) = cost {
                    resp.headers
                        .push(("x-latticelm-cost-usd".into(), format!("{c:.8}")));
                }
                resp
            }
            ServedBody::Compacted(b) => {
                let used = admission.reserved();
                admission.settle_later(used);
                HttpResponse::json(200, b)
            }
            ServedBody::Stream(live) => {
                let job = stream::StreamJob {
                    host: host.clone(),
                    config: self.config.clone(),
                    target: served.target.clone(),
                    saver,
                    deadline,
                    rec: rec.clone(),
                    egress,
                    admission,
                    cache: cache_write.clone(),
                    resume: resume::Resume::for_request(
                        &self.config,
                        &body,
                        &skeleton,
                        principal,
                        word(8),
                    ),
                };
                sse_response(stream::body(*live, job))
            }
        };
        served_headers(&mut resp, Some(&served.target), served.attempts);
        resp.headers.extend(limit_headers);
        if cached {
            resp.headers
                .push((crate::cache::STATUS_HEADER.into(), "miss".into()));
        }
        if !dropped.is_empty() {
            resp.headers
                .push(("x-latticelm-dropped-tools".into(), dropped.join(", ")));
        }
        Ok(resp)
    }
}
