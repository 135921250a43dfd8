//! `POST /v1/responses/compact`: a compacted input window.
//!
//! An OpenAI Responses upstream compacts with its own endpoint. For every
//! other provider the gateway compacts: it asks the same model, through
//! the ordinary pipeline (routing and failover included), to summarise
//! the history with [`PROMPT`], and returns the window OpenAI's endpoint
//! returns: the user's messages, kept as they were, then a `compaction`
//! item whose `encrypted_content` is the summary sealed with the gateway's
//! key (`providers::seal`). Sent back in a later request, to any provider,
//! that item becomes a user message holding the summary.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::observe::Recorder;
use crate::providers::{seal, Protocol};
use crate::routing;
use crate::types::{ContentPart, CreateResponseBody, Item, MessageContent, ResponseResource};

use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::error::StageError;
use crate::pipeline::respond::Answered;
use crate::pipeline::turn::{Front, Turn};
use crate::pipeline::{expand, parse, run};

/// What the gateway asks a model for when it compacts.
pub const PROMPT: &str = "Compact the conversation above so that it can continue in a smaller context. Write a concise but complete summary of it for yourself: the user's goals and instructions, decisions made, facts learned, tool calls and the results that still matter, files, names and identifiers mentioned, and what remains to be done. It will replace the conversation, so leave out nothing that is needed to continue, and add nothing that was not said.";

impl Gateway {
    /// `POST /v1/responses/compact`.
    pub(crate) async fn compact<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> Result<HttpResponse, StageError> {
        let mut body = parse::parse(&self.config, req, principal)?;
        let Some(model) = body.model.clone().filter(|m| !m.is_empty()) else {
            return Err(RequestError::InvalidValue {
                param: "model".into(),
                message: "`model` is required to compact".into(),
            }
            .into());
        };
        rec.with(|r| r.model = Some(model.clone()));
        let cx = self.cx(host);
        expand::expand(&cx, principal, &mut body).await?;
        body.previous_response_id = None;
        let route = routing::resolve(&self.config, &model, body.provider.as_deref())
            .map_err(ApiError::from)?;
        let native = Protocol::of(route.provider) == Protocol::Responses
            && route.provider.kind != crate::config::ProviderKind::Mock;
        if native {
            let answer = run::compact(&cx, principal, rec, &model, &body).await?;
            return Ok(answer.into_response());
        }
        self.compact_here(host, principal, rec, &model, body).await
    }

    /// Compaction by the gateway, through the same model: a turn of the
    /// ordinary pipeline whose typed response is the summary.
    async fn compact_here<H: Host + Clone + 'static>(
        &self,
        host: &H,
        principal: &Principal,
        rec: &Recorder,
        model: &str,
        body: CreateResponseBody,
    ) -> Result<HttpResponse, StageError> {
        let mut items = crate::conversation::input_items(body.input.as_ref());
        let mut random = [0u8; 16];
        host.random(&mut random);
        let id = crate::observe::trace::hex(&random);
        // The user's messages stay, as output items.
        let user = crate::types::Role::User;
        let kept: Vec<Value> = items
            .iter()
            .enumerate()
            .filter_map(|(n, i)| match i {
                Item::Message(m) if m.role == user => Some(json!({
                    "type": "message",
                    "id": m.id.clone().unwrap_or_else(|| format!("msg_{id}{n}")),
                    "status": "completed",
                    "role": "user",
                    "content": m.content.to_parts(user),
                })),
                _ => None,
            })
            .collect();
        items.push(Item::Message(crate::types::Message::user_text(PROMPT)));
        let mut ask = json!({"model": model, "input": items, "store": false, "stream": false});
        if let Some(i) = &body.instructions {
            ask["instructions"] = json!(i);
        }
        if let Some(p) = &body.provider {
            ask["provider"] = json!(p);
        }
        // The ask passes the same checks as a body sent to `/v1/responses`.
        let bytes = serde_json::to_vec(&ask).unwrap_or_default();
        let ask = parse::json(&self.config, &bytes, principal)?;
        let front = Front::responses();
        let turn = Turn::new(
            &self.config,
            principal.clone(),
            rec.clone(),
            ask,
            front,
            bytes.len(),
            &[],
        )?;
        let answer = run::respond(&self.cx(host), turn).await?;
        let Answered::Whole(response, _) = answer.body else {
            return Err(ApiError::internal("compaction answered with a stream").into());
        };
        let sealer = seal::Sealer::gateway(&self.config);
        let mut output = kept;
        output.push(json!({
            "type": "compaction",
            "id": format!("cmp_{id}"),
            "encrypted_content": sealer.seal(&format!("{}{}", seal::COMPACTION, summary(&response))),
            "created_by": "latticelm",
        }));
        let compacted = json!({
            "id": format!("resp_{id}"),
            "object": "response.compaction",
            "created_at": unix_secs(host),
            "output": output,
            "usage": response.usage,
        });
        let mut resp = HttpResponse::json(
            200,
            Bytes::from(serde_json::to_vec(&compacted).unwrap_or_default()),
        );
        let own = answer.headers.into_iter();
        resp.headers
            .extend(own.filter(|(k, _)| k.starts_with("x-latticelm-")));
        Ok(resp)
    }
}

/// The text of a response's messages, in order: the summary.
fn summary(response: &ResponseResource) -> String {
    let mut out = String::new();
    for item in &response.output {
        let Item::Message(m) = item else { continue };
        let MessageContent::Parts(parts) = &m.content else {
            continue;
        };
        for part in parts {
            match part {
                ContentPart::OutputText(t) => out.push_str(&t.text),
                ContentPart::InputText(t)
                | ContentPart::Text(t)
                | ContentPart::SummaryText(t)
                | ContentPart::ReasoningText(t) => out.push_str(&t.text),
                ContentPart::Other(v) => out.push_str(v["text"].as_str().unwrap_or_default()),
                _ => {}
            }
        }
    }
    out
}
