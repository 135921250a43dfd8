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
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::observe::Recorder;
use crate::providers::{seal, Protocol};
use crate::routing;
use crate::types::{CreateResponseBody, Item};

use crate::gateway::Gateway;
use crate::pipeline::attempt;
use crate::pipeline::clock::{now_ms, unix_secs};
use crate::pipeline::parse::parse;
use crate::pipeline::respond::error_response;
use crate::pipeline::respond::served_headers;
use crate::pipeline::routing_store;

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
    ) -> Result<HttpResponse, ApiError> {
        let mut body = parse(&self.config, req, principal)?;
        let Some(model) = body.model.clone().filter(|m| !m.is_empty()) else {
            return Err(RequestError::InvalidValue {
                param: "model".into(),
                message: "`model` is required to compact".into(),
            }
            .into());
        };
        rec.with(|r| r.model = Some(model.clone()));
        self.expand(host, principal, &mut body).await?;
        body.previous_response_id = None;
        let route = routing::resolve(&self.config, &model, body.provider.as_deref())?;
        let native = Protocol::of(route.provider) == Protocol::Responses
            && route.provider.kind != crate::config::ProviderKind::Mock;
        if native {
            return self
                .compact_upstream(host, principal, rec, &model, &body)
                .await;
        }
        self.compact_here(host, req, principal, rec, &model, body)
            .await
    }

    /// The upstream's own `/responses/compact`, through the same plan
    /// and attempt loop as every other call (routing, breakers, retries,
    /// timeouts, the error envelope, the record); its answer passed on.
    async fn compact_upstream<H: Host + Clone + 'static>(
        &self,
        host: &H,
        principal: &Principal,
        rec: &Recorder,
        model: &str,
        body: &CreateResponseBody,
    ) -> Result<HttpResponse, ApiError> {
        let now = now_ms(host);
        let mut seed = [0u8; 32];
        host.random(&mut seed);
        let word = |i: usize| u64::from_le_bytes(seed[i..i + 8].try_into().unwrap_or_default());
        let size = serde_json::to_vec(&body.input).map_or(0, |b| b.len() as u64);
        let input = (
            body.provider.as_deref(),
            principal.id.as_str(),
            (size / 4, size / 8),
            word(0),
        );
        let candidates = match self.plan(host, model, now, input).await {
            Ok(c) => c,
            Err(resp) => return Ok(resp),
        };
        // A compaction's output is a summary: reserved like a response
        // with no max_output_tokens.
        let reserve = (size / 4, self.config.limits.default_max_output_tokens);
        let mut admission = match self
            .admit(host, principal, model, reserve, &candidates, rec)
            .await
        {
            Ok(a) => a,
            Err(resp) => return Ok(resp),
        };
        let id = format!("resp_{}", crate::observe::trace::hex(&seed[8..24]));
        let skeleton = crate::validate::skeleton(body, id, model, now / 1000);
        let job = attempt::Job {
            body,
            stream: false,
            skeleton: &skeleton,
            id_seed: word(24),
            seed: word(16),
            deadline: now.saturating_add(routing::millis(self.config.routing.deadline)),
            caller_passthrough: &principal.passthrough,
            principal: &principal.id,
            rec,
            verbatim: None,
            compact: true,
            resume: None,
        };
        let served = attempt::run(&self.config, host, &job, &candidates).await;
        routing_store::save(host).await;
        let limit_headers = std::mem::take(&mut admission.headers);
        let mut resp = match served {
            Ok(attempt::Served {
                body: attempt::ServedBody::Compacted(bytes),
                target,
                attempts,
                ..
            }) => {
                admission.reached();
                let prices = self
                    .config
                    .prices(&target.listed_by, &target.provider, &target.model);
                let used = crate::pipeline::admit::used_in(&bytes, prices, admission.reserved());
                admission.settle_later(used);
                let mut resp = HttpResponse::json(200, bytes);
                served_headers(&mut resp, Some(&target), attempts);
                resp
            }
            Ok(_) => return Err(ApiError::internal("compaction answered as a response")),
            Err(gave_up) => {
                if gave_up.attempts > 0 {
                    admission.reached();
                }
                admission.settle_later(crate::pipeline::admit::Used::default());
                let mut resp = error_response(&gave_up.error);
                served_headers(&mut resp, gave_up.last.as_ref(), gave_up.attempts);
                resp
            }
        };
        resp.headers.extend(limit_headers);
        Ok(resp)
    }

    /// Compaction by the gateway, through the same model.
    async fn compact_here<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
        model: &str,
        body: CreateResponseBody,
    ) -> Result<HttpResponse, ApiError> {
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
        let inner = crate::gateway::doors::responses_request(&ask);
        let _ = req;
        let answered = self
            .create_response(host, &inner, principal, rec, None)
            .await?;
        let Body::Full(bytes) = &answered.body else {
            return Err(ApiError::internal("compaction answered with a stream"));
        };
        if answered.status != 200 {
            return Ok(answered);
        }
        let response: Value = serde_json::from_slice(bytes).unwrap_or_default();
        let summary: String = response["output"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == "message")
            .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect();
        let sealer = seal::Sealer::gateway(&self.config);
        let mut output = kept;
        output.push(json!({
            "type": "compaction",
            "id": format!("cmp_{id}"),
            "encrypted_content": sealer.seal(&format!("{}{summary}", seal::COMPACTION)),
            "created_by": "latticelm",
        }));
        let compacted = json!({
            "id": format!("resp_{id}"),
            "object": "response.compaction",
            "created_at": unix_secs(host),
            "output": output,
            "usage": response["usage"],
        });
        let mut resp = HttpResponse::json(
            200,
            Bytes::from(serde_json::to_vec(&compacted).unwrap_or_default()),
        );
        for (k, v) in &answered.headers {
            if k.starts_with("x-latticelm-") {
                resp.headers.push((k.clone(), v.clone()));
            }
        }
        Ok(resp)
    }
}
