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
use crate::providers::{self, seal, Protocol};
use crate::routing;
use crate::types::{CreateResponseBody, Item};

use super::{clock::unix_secs, parse::parse, Gateway};

/// What the gateway asks a model for when it compacts.
pub const PROMPT: &str = "Compact the conversation above so that it can continue in a smaller context. Write a concise but complete summary of it for yourself: the user's goals and instructions, decisions made, facts learned, tool calls and the results that still matter, files, names and identifiers mentioned, and what remains to be done. It will replace the conversation, so leave out nothing that is needed to continue, and add nothing that was not said.";

impl Gateway {
    /// `POST /v1/responses/compact`.
    pub(super) async fn compact<H: Host + Clone + 'static>(
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
            return self.compact_upstream(host, &route, &body).await;
        }
        self.compact_here(host, req, principal, rec, &model, body)
            .await
    }

    /// The upstream's own `/responses/compact`, answered as it came.
    async fn compact_upstream<H: Host>(
        &self,
        host: &H,
        route: &routing::Route<'_>,
        body: &CreateResponseBody,
    ) -> Result<HttpResponse, ApiError> {
        let timeout = self.config.server.upstream_timeout;
        let mut up = providers::build_request(route, body, false, timeout)?;
        let (path, query) = up.url.split_once('?').unwrap_or((up.url.as_str(), ""));
        up.url = if query.is_empty() {
            format!("{path}/compact")
        } else {
            format!("{path}/compact?{query}")
        };
        let mut out = serde_json::Map::new();
        out.insert("model".into(), json!(route.upstream_model));
        out.insert(
            "input".into(),
            serde_json::to_value(&body.input).unwrap_or_default(),
        );
        if let Some(i) = &body.instructions {
            out.insert("instructions".into(), json!(i));
        }
        if let Some(k) = &body.prompt_cache_key {
            out.insert("prompt_cache_key".into(), json!(k));
        }
        up.body = Bytes::from(serde_json::to_vec(&out).unwrap_or_default());
        let provider = route.provider_name.to_owned();
        let resp = host.send(up).await.map_err(|e| {
            ApiError::from(crate::error::UpstreamError::Transport {
                provider: provider.clone(),
                message: e.to_string(),
            })
        })?;
        let status = resp.status;
        let mut bytes = Vec::new();
        let mut stream = resp.body;
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::from(crate::error::UpstreamError::Transport {
                    provider: provider.clone(),
                    message: e.to_string(),
                })
            })?;
            if bytes.len() + chunk.len() > self.config.server.max_upstream_stream_bytes {
                return Err(ApiError::internal("the upstream's compaction is too large"));
            }
            bytes.extend_from_slice(&chunk);
        }
        let mut resp = HttpResponse::json(status, Bytes::from(bytes));
        resp.headers.push(("x-latticelm-provider".into(), provider));
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
        let inner = super::ingress::responses_request(&ask);
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
