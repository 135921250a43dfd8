//! The turns of a response with hosted tools: each model turn goes
//! through the attempt loop (routing, breakers, retries) and is held
//! against the caller's limits and budget; between turns the gateway
//! runs the calls. One builder makes the response the client sees: the
//! tool lists, the calls with their MCP events, then the model's answer.

use serde_json::{json, Value};

use crate::builder::{Outcome, ResponseBuilder};
use crate::host::Host;
use crate::types::{CreateResponseBody, Input, Item, ResponseStatus, Usage};

use super::super::attempt::{self, ServedBody, Target};
use super::super::clock::unix_secs;
use super::super::error::StageError;
use super::super::finish::Finish;
use super::super::Cx;
use super::{Hosted, Next};
use crate::routing::Candidate;

/// How the turns ended: the response so far (not yet finished), who
/// served its last turn, the upstream requests made, and the finish
/// that settles them all.
pub(crate) struct Turns<H: Host + Clone + 'static> {
    /// Settles every turn.
    pub finish: Finish<H>,
    /// The response, its outcome set but its terminal event not emitted.
    pub builder: ResponseBuilder,
    /// The last turn's target (it prices the response).
    pub target: Target,
    /// Upstream requests over every turn.
    pub attempts: u32,
}

/// Runs turns until the model answers, a call waits for approval, a
/// limit or budget has no room for another turn, or the calls run out.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    hosted: &mut Hosted,
    body: &mut CreateResponseBody,
    job: &attempt::Job<'_>,
    candidates: &[Candidate<'_>],
    mut finish: Finish<H>,
    skeleton: crate::types::ResponseResource,
) -> Result<Turns<H>, StageError> {
    let mut out = ResponseBuilder::new(skeleton, job.id_seed, true);
    out.start();
    let mut shown = 0;
    let mut usage: Option<Usage> = None;
    let mut attempts = 0;
    let mut earlier = Vec::new();
    loop {
        let turn_job = attempt::Job {
            body: &*body,
            ..*job
        };
        let served = attempt::run(cx.config, cx.host, &turn_job, candidates).await;
        super::super::routing_store::save(cx.host).await;
        let served = match served {
            Ok(s) => s,
            Err(gave_up) => return Err(finish.gave_up(gave_up)),
        };
        finish.admission.reached();
        finish.timed_out(served.billed);
        attempts += served.attempts;
        let ServedBody::Whole(b) = served.body else {
            return Err(crate::error::ApiError::internal("a hosted-tool turn streamed").into());
        };
        let turn = b.into_response();
        if let Some(u) = &turn.usage {
            usage = Some(usage.map_or(*u, |s| s.plus(u)));
        }
        let mut input = match body.input.take() {
            Some(Input::Items(items)) => items,
            other => crate::conversation::input_items(other.as_ref()),
        };
        let client_calls = turn
            .output
            .iter()
            .any(|i| matches!(i, Item::FunctionCall(c) if !hosted.is_hosted(&c.name)));
        let (status, details) = (turn.status, turn.incomplete_details.clone());
        let turn_usage = turn.usage;
        let mut laid_out = Vec::new();
        let next = hosted
            .run_calls(cx, turn.output, &mut input, &mut laid_out)
            .await;
        body.input = Some(Input::Items(input));
        shown = show(&mut out, &hosted.items, shown);
        for item in laid_out {
            match item {
                Item::Other(v) => {
                    show(&mut out, std::slice::from_ref(&v), 0);
                }
                other => {
                    out.add_item(other);
                }
            }
        }
        let last = matches!(next, Next::Done | Next::Approval) || client_calls;
        if last {
            if let Some(u) = usage {
                out.usage(u);
            }
            reprice(cx, &mut finish, &served.target, &earlier);
            let outcome = match (&next, status) {
                (Next::Approval, _) => Outcome::Completed,
                (_, ResponseStatus::Incomplete) => Outcome::Incomplete(
                    details.map_or_else(|| "max_output_tokens".into(), |d| d.reason),
                ),
                _ => Outcome::Completed,
            };
            out.settle(outcome, unix_secs(cx.host));
            return Ok(Turns {
                finish,
                builder: out,
                target: served.target,
                attempts,
            });
        }
        // Another turn: this one is charged at its own target's prices
        // (settled with the response), and the hold grows by a turn. No
        // room: the response ends incomplete.
        let price = prices(cx, &served.target);
        earlier.push((turn_usage, price));
        if finish.another_turn().await.is_err() {
            return Ok(end(
                out,
                usage,
                served.target,
                attempts,
                cx,
                finish,
                &earlier,
            ));
        }
    }
}

/// The prices of a turn's target, if it has them.
fn prices<H: Host>(cx: &Cx<'_, H>, t: &Target) -> Option<crate::config::Prices> {
    cx.config.prices(&t.listed_by, &t.provider, &t.model)
}

fn cost(usage: Option<&Usage>, price: Option<crate::config::Prices>) -> f64 {
    match (usage, price) {
        (Some(u), Some(p)) => p.cost(
            u.input_tokens,
            u.input_tokens_details.cached_tokens,
            u.output_tokens,
        ),
        _ => 0.0,
    }
}

/// A response cut short of another turn: incomplete, earlier turns
/// repriced.
#[allow(clippy::too_many_arguments)]
fn end<H: Host + Clone + 'static>(
    mut out: ResponseBuilder,
    usage: Option<Usage>,
    target: Target,
    attempts: u32,
    cx: &Cx<'_, H>,
    mut finish: Finish<H>,
    earlier: &[(Option<Usage>, Option<crate::config::Prices>)],
) -> Turns<H> {
    if let Some(u) = usage {
        out.usage(u);
    }
    reprice(cx, &mut finish, &target, earlier);
    out.settle(
        Outcome::Incomplete("max_output_tokens".into()),
        unix_secs(cx.host),
    );
    Turns {
        finish,
        builder: out,
        target,
        attempts,
    }
}

/// The earlier turns at their own prices, beside the response's usage
/// at the last target's.
fn reprice<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    finish: &mut Finish<H>,
    last: &Target,
    earlier: &[(Option<Usage>, Option<crate::config::Prices>)],
) {
    let at_last = prices(cx, last);
    let own: f64 = earlier.iter().map(|(u, p)| cost(u.as_ref(), *p)).sum();
    let there: f64 = earlier.iter().map(|(u, _)| cost(u.as_ref(), at_last)).sum();
    finish.reprice_turns(own, there);
}

/// Adds the hosted items not shown yet to the response, with the events
/// OpenAI streams for them; returns how many are shown.
fn show(out: &mut ResponseBuilder, items: &[Value], shown: usize) -> usize {
    for item in &items[shown..] {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        match kind {
            "mcp_list_tools" => {
                let mut first = item.clone();
                first["tools"] = json!([]);
                let at = out.start_opaque(first);
                let event = |t: &str| json!({"type": t, "output_index": at, "item_id": id});
                out.extension_event(event("response.mcp_list_tools.in_progress"));
                let done = if item.get("error").is_some_and(|e| !e.is_null()) {
                    "response.mcp_list_tools.failed"
                } else {
                    "response.mcp_list_tools.completed"
                };
                out.extension_event(event(done));
                out.end_item_with(at, Item::Other(item.clone()));
            }
            "mcp_call" => {
                let mut first = item.clone();
                first["arguments"] = json!("");
                first["output"] = Value::Null;
                first["error"] = Value::Null;
                first["status"] = json!("in_progress");
                let at = out.start_opaque(first);
                let event = |t: &str| json!({"type": t, "output_index": at, "item_id": id});
                out.extension_event(event("response.mcp_call.in_progress"));
                let args = item.get("arguments").cloned().unwrap_or(json!(""));
                let mut delta = event("response.mcp_call_arguments.delta");
                delta["delta"] = args.clone();
                out.extension_event(delta);
                let mut done = event("response.mcp_call_arguments.done");
                done["arguments"] = args;
                out.extension_event(done);
                let failed = item.get("status").and_then(Value::as_str) == Some("failed");
                out.extension_event(event(if failed {
                    "response.mcp_call.failed"
                } else {
                    "response.mcp_call.completed"
                }));
                let status = item
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("completed");
                out.end_item_with_status(at, Item::Other(item.clone()), status);
            }
            _ => {
                let at = out.start_opaque(item.clone());
                out.end_item_with(at, Item::Other(item.clone()));
            }
        }
    }
    items.len()
}
