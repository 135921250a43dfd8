//! The request pipeline: [`Gateway::handle`] turns one HTTP request into
//! one HTTP response, using only the [`Host`] capabilities.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::stream::{self, StreamExt};

use crate::auth::{AuthError, Authenticator, Principal};
use crate::builder::{Outcome, ResponseBuilder};
use crate::config::{Config, ProviderKind};
use crate::conversation;
use crate::error::{ApiError, RequestError, UpstreamError};
use crate::host::{Body, ByteStream, Host, HttpRequest, HttpResponse};
use crate::ids::IdGen;
use crate::providers::{self, StreamTranslator};
use crate::routing::{self, Route};
use crate::sse::{self, SseDecoder};
use crate::stored::{self, Saver};
use crate::types::{ErrorPayload, Input};
use crate::validate;

/// The gateway: an immutable configuration and the pipeline over it.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    config: Arc<Config>,
    auth: Option<Arc<Authenticator>>,
}

/// Largest upstream body read whole (non-streaming or error bodies).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

impl Gateway {
    /// A gateway over a loaded configuration.
    pub fn new(config: Config) -> Self {
        let auth = config
            .auth
            .clone()
            .filter(|a| a.enabled)
            .map(Authenticator::new);
        Gateway {
            config: Arc::new(config),
            auth,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one request. Never panics on input: every failure becomes
    /// the spec's error envelope with its status.
    pub async fn handle<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: HttpRequest,
    ) -> HttpResponse {
        match self.dispatch(host, req).await {
            Ok(resp) => resp,
            Err(e) => error_response(&e),
        }
    }

    async fn dispatch<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let path = req.path.trim_end_matches('/');
        let method = req.method.as_str();
        let no_route = || RequestError::NoRoute {
            method: req.method.clone(),
            path: req.path.clone(),
        };
        let wrong_method = || RequestError::MethodNotAllowed {
            method: req.method.clone(),
            path: req.path.clone(),
        };
        match path {
            "/health" | "/ready" if method != "GET" => return Err(wrong_method().into()),
            // Open, for load balancers and orchestrators.
            "/health" => return Ok(json_ok(serde_json::json!({"status": "ok"}))),
            "/ready" => {
                return Ok(json_ok(
                    serde_json::json!({"status": "ready", "models": self.config.models.len()}),
                ))
            }
            _ => {}
        }
        let principal = self.authenticate(host, &req).await?;
        match path {
            "/v1/models" if method != "GET" => Err(wrong_method().into()),
            "/v1/models" => {
                let mut list = routing::models_list(&self.config);
                if let Some(data) = list["data"].as_array_mut() {
                    data.retain(|m| m["id"].as_str().is_some_and(|id| principal.may_use(id)));
                }
                Ok(json_ok(list))
            }
            "/v1/responses" if method != "POST" => Err(wrong_method().into()),
            "/v1/responses" => self.create_response(host, &req, &principal).await,
            p if p.starts_with("/v1/responses/") => {
                let rest = &p["/v1/responses/".len()..];
                match (method, rest.split_once('/')) {
                    ("GET", None) => self.get_response(host, &principal, rest).await,
                    ("DELETE", None) => self.delete_response(host, &principal, rest).await,
                    ("GET", Some((id, "input_items"))) => {
                        self.input_items(host, &req, &principal, id).await
                    }
                    (_, None) | (_, Some((_, "input_items"))) => Err(wrong_method().into()),
                    _ => Err(no_route().into()),
                }
            }
            _ => Err(no_route().into()),
        }
    }

    async fn create_response<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
    ) -> Result<HttpResponse, ApiError> {
        if let Some(ct) = req.header("content-type") {
            let mime = ct.split(';').next().unwrap_or_default().trim();
            let json = mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json");
            // `curl -d '{…}'` sends a form content type with a JSON body.
            let looks_json = req.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            if !json
                && !(looks_json
                    && (mime == "application/x-www-form-urlencoded" || mime == "text/plain"))
            {
                return Err(RequestError::UnsupportedMediaType(mime.to_owned()).into());
            }
        }
        if req.body.len() > self.config.server.max_request_bytes {
            return Err(RequestError::TooLarge(self.config.server.max_request_bytes).into());
        }
        let mut body = validate::parse_body(&req.body)?;
        validate::validate(&body)?;
        let now = unix_secs(host);
        if let Some(model) = body.model.as_deref().filter(|m| !principal.may_use(m)) {
            return Err(AuthError::ModelForbidden {
                principal: principal.id.clone(),
                model: model.to_owned(),
            }
            .into());
        }
        if let Some(prev_id) = &body.previous_response_id {
            let Some(prev) = stored::load(host, prev_id, &principal.id, now).await? else {
                return Err(RequestError::NotFound {
                    what: "previous response",
                    id: prev_id.clone(),
                    param: Some("previous_response_id"),
                    code: "previous_response_not_found",
                }
                .into());
            };
            body.input = Some(Input::Items(conversation::expand(
                &prev,
                body.input.as_ref(),
            )));
        }
        let model = body.model.as_deref().unwrap_or_default();
        let route = routing::resolve(&self.config, model, body.provider.as_deref())?;
        let stream = body.stream.unwrap_or(false);
        let mut seed = [0u8; 24];
        host.random(&mut seed);
        let id = format!("resp_{}", hex(&seed[..16]));
        let id_seed = u64::from_le_bytes(seed[16..24].try_into().unwrap_or_default());
        let skeleton = validate::skeleton(&body, id, model, now);
        let mut b = ResponseBuilder::new(skeleton, id_seed, stream);
        let saver = body.store.unwrap_or(true).then(|| {
            let mut input = conversation::input_items(body.input.as_ref());
            conversation::assign_ids(&mut input, &mut IdGen::new(!id_seed));
            Saver {
                input,
                provider: route.provider_name.to_owned(),
                owner: principal.id.clone(),
                ttl: self.config.conversations.ttl,
            }
        });

        if route.provider.kind == ProviderKind::Mock {
            b.start();
            let outcome = providers::mock::respond(&body, &mut b);
            b.settle(outcome, unix_secs(host));
            let saved = save(saver.as_ref(), host, &mut b).await;
            if !stream {
                saved?;
            }
            b.emit_terminal();
            return Ok(if stream {
                sse_response(
                    stream::iter(vec![
                        sse::encode_all(b.drain()),
                        Bytes::from_static(sse::DONE),
                    ])
                    .boxed_local(),
                )
            } else {
                finished_json(b)
            });
        }

        let Some(protocol) = providers::Protocol::of(route.provider) else {
            return Err(ApiError::internal("provider without a protocol"));
        };
        let upstream_req =
            providers::build_request(&route, &body, stream, self.config.server.upstream_timeout)?;
        let resp = host
            .send(upstream_req)
            .await
            .map_err(|e| host_error(&route, e))?;
        if !(200..300).contains(&resp.status) {
            let retry_after = resp.header("retry-after").map(str::to_owned);
            let status = resp.status;
            let raw = read_all(resp.body, MAX_UPSTREAM_BODY)
                .await
                .unwrap_or_default();
            return Err(providers::parse_error(
                protocol,
                route.provider_name,
                status,
                retry_after,
                raw,
            )
            .into());
        }
        if !stream {
            let raw = read_all(resp.body, MAX_UPSTREAM_BODY)
                .await
                .map_err(|e| host_error(&route, e))?;
            let outcome =
                providers::parse_response(protocol, route.provider_name, &body, &raw, &mut b)?;
            b.settle(outcome, unix_secs(host));
            save(saver.as_ref(), host, &mut b).await?;
            return Ok(finished_json(b));
        }
        let translator = StreamTranslator::new(protocol, route.provider_name, &body);
        Ok(sse_response(translate_stream(
            resp.body,
            translator,
            b,
            host.clone(),
            route.provider_name.to_owned(),
            saver,
        )))
    }

    /// Who is calling. Until authentication exists everyone is
    /// `anonymous`, unless the test-only identity header is configured.
    async fn authenticate<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<Principal, ApiError> {
        if let Some(auth) = &self.auth {
            return Ok(auth.authenticate(host, req, unix_secs(host)).await?);
        }
        let header = self.config.server.insecure_test_principal_header.as_deref();
        Ok(match header.and_then(|h| req.header(h)) {
            Some(p) if !p.is_empty() => Principal {
                id: format!("test:{p}"),
                models: None,
            },
            _ => Principal::anonymous(),
        })
    }

    async fn find<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        id: &str,
    ) -> Result<conversation::StoredResponse, ApiError> {
        stored::load(host, id, &principal.id, unix_secs(host))
            .await?
            .ok_or_else(|| {
                RequestError::NotFound {
                    what: "response",
                    id: id.to_owned(),
                    param: None,
                    code: "not_found",
                }
                .into()
            })
    }

    async fn get_response<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let found = self.find(host, principal, id).await?;
        Ok(json_ok_bytes(
            serde_json::to_vec(&found.response).unwrap_or_default(),
        ))
    }

    async fn delete_response<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        self.find(host, principal, id).await?;
        host.kv_delete(&conversation::key(id))
            .await
            .map_err(|e| stored::unavailable(&e))?;
        Ok(json_ok(
            serde_json::json!({"id": id, "object": "response", "deleted": true}),
        ))
    }

    async fn input_items<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let found = self.find(host, principal, id).await?;
        Ok(json_ok(conversation::input_items_page(
            &found.input,
            &req.query,
        )?))
    }
}

/// Saves a settled response when the request asked for it.
async fn save<H: Host>(
    saver: Option<&Saver>,
    host: &H,
    b: &mut ResponseBuilder,
) -> Result<(), ApiError> {
    match saver {
        Some(s) => s.save(host, b, unix_secs(host)).await,
        None => Ok(()),
    }
}

/// The SSE body: the builder's opening events at once, then each upstream
/// chunk's translation as soon as it arrives, then `[DONE]`.
fn translate_stream<H: Host + 'static>(
    upstream: ByteStream,
    translator: StreamTranslator,
    mut b: ResponseBuilder,
    host: H,
    provider: String,
    saver: Option<Saver>,
) -> futures::stream::LocalBoxStream<'static, Bytes> {
    b.start();
    let first = sse::encode_all(b.drain());
    struct State<H> {
        upstream: Option<ByteStream>,
        decoder: SseDecoder,
        translator: StreamTranslator,
        b: ResponseBuilder,
        host: H,
        provider: String,
        events: Vec<sse::SseEvent>,
        saver: Option<Saver>,
        done_sent: bool,
    }
    impl<H: Host> State<H> {
        fn fail(&mut self, code: &str, message: String) {
            let error = ErrorPayload {
                kind: "server_error".into(),
                code: Some(code.into()),
                message,
                param: None,
            };
            let now = unix_secs(&self.host);
            self.b.settle(Outcome::Failed(error), now);
        }
    }
    let state = State {
        upstream: Some(upstream),
        decoder: SseDecoder::new(),
        translator,
        b,
        host,
        provider,
        events: Vec::new(),
        saver,
        done_sent: false,
    };
    let rest = stream::unfold(state, |mut st| async move {
        loop {
            if st.b.is_finished() {
                if st.done_sent {
                    return None;
                }
                st.done_sent = true;
                // Stop reading (and drop) the upstream once it is finished.
                st.upstream = None;
                // Store before the terminal event: a failed write turns it
                // into `error` + `response.failed`.
                let _ = save(st.saver.as_ref(), &st.host, &mut st.b).await;
                st.b.emit_terminal();
                let mut out = sse::encode_all(st.b.drain()).to_vec();
                out.extend_from_slice(sse::DONE);
                return Some((Bytes::from(out), st));
            }
            let next = match st.upstream.as_mut() {
                Some(up) => up.next().await,
                None => None,
            };
            let ended = match next {
                Some(Ok(chunk)) => {
                    st.decoder.push(&chunk, &mut st.events);
                    false
                }
                Some(Err(e)) => {
                    let message = format!("upstream '{}' stream failed: {e}", st.provider);
                    st.fail("upstream_stream_error", message);
                    continue;
                }
                None => {
                    st.decoder.finish(&mut st.events);
                    true
                }
            };
            for ev in std::mem::take(&mut st.events) {
                // Nothing after the upstream's terminal event belongs to
                // this response, however the bytes were chunked.
                if st.translator.is_terminal() {
                    break;
                }
                if let Err(e) = st.translator.on_event(&ev, &mut st.b) {
                    st.fail("upstream_invalid_response", e.to_string());
                    break;
                }
            }
            if !st.b.is_finished() && (ended || st.translator.is_terminal()) {
                let outcome = st.translator.finish(&mut st.b);
                let now = unix_secs(&st.host);
                st.b.settle(outcome, now);
                continue;
            }
            let chunk = sse::encode_all(st.b.drain());
            if !chunk.is_empty() {
                return Some((chunk, st));
            }
        }
    });
    stream::iter([first]).chain(rest).boxed_local()
}

fn unix_secs<H: Host>(host: &H) -> u64 {
    host.now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_ok(v: serde_json::Value) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

fn finished_json(b: ResponseBuilder) -> HttpResponse {
    json_ok_bytes(serde_json::to_vec(&b.into_response()).unwrap_or_default())
}

fn json_ok_bytes(v: Vec<u8>) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(v))
}

fn sse_response(body: futures::stream::LocalBoxStream<'static, Bytes>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/event-stream".into()),
            ("cache-control".into(), "no-cache".into()),
            ("x-accel-buffering".into(), "no".into()),
        ],
        body: Body::Stream(body),
    }
}

/// The HTTP response for an error: the envelope, its status, and
/// `retry-after` when the upstream gave one.
pub fn error_response(e: &ApiError) -> HttpResponse {
    let mut resp = HttpResponse::json(e.status, e.to_json());
    if let Some(ra) = &e.retry_after {
        resp.headers.push(("retry-after".into(), ra.clone()));
    }
    if let Some(c) = &e.challenge {
        resp.headers.push(("www-authenticate".into(), c.clone()));
    }
    resp
}

fn host_error(route: &Route<'_>, e: crate::error::HostError) -> ApiError {
    let provider = route.provider_name.to_owned();
    match e {
        crate::error::HostError::Timeout(message) => {
            UpstreamError::Timeout { provider, message }.into()
        }
        other => UpstreamError::Transport {
            provider,
            message: other.to_string(),
        }
        .into(),
    }
}

async fn read_all(mut body: ByteStream, limit: usize) -> Result<Bytes, crate::error::HostError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(crate::error::HostError::Transport(format!(
                "upstream body exceeds {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}
