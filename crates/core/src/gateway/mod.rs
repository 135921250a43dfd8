//! The request pipeline: [`Gateway::handle`] turns one HTTP request into
//! one HTTP response, using only the [`Host`] capabilities.

mod admin;
mod admin_teams;
mod admin_usage;
mod admit;
mod attempt;
mod budget_alert;
mod cache;
mod chat;
mod clock;
mod compact;
mod compact_attempt;
mod dashboard;
mod dashboard_limits;
mod export;
mod ingress;
mod limit_answer;
mod live;
mod messages;
mod parse;
mod record;
mod respond;
mod responses;
mod resume;
mod resume_request;
mod routing_store;
mod stream;
mod upstream_answer;
mod ws;

use respond::{finished_json, json_ok, json_ok_bytes, save, served_headers, sse_response};

use std::sync::{Arc, Mutex};

use crate::auth::{Authenticator, Principal};
use crate::config::Config;
use crate::conversation;
use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::ids::IdGen;
use crate::observe::{Metrics, Recorder};
use crate::routing::{self, PlanInput};
use crate::stored::{self, Saver};
use crate::types::{CreateResponseBody, Input};
use crate::validate;

use attempt::ServedBody;
use clock::unix_secs;
use parse::parse;
pub use ws::{WsReply, WsSession, MAX_CONNECTION};

/// The gateway: an immutable configuration and the pipeline over it.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    config: Arc<Config>,
    auth: Option<Arc<Authenticator>>,
    metrics: Arc<Mutex<Metrics>>,
    spans: Arc<Mutex<export::SpanQueue>>,
    rules: Arc<crate::quota::Rules>,
    key_cache: Arc<Mutex<admin::KeyCache>>,
}

impl Gateway {
    /// A gateway over a loaded configuration.
    pub fn new(config: Config) -> Self {
        let auth = config
            .auth
            .clone()
            .filter(|a| a.enabled)
            .map(Authenticator::new);
        // Metric labels name only what the operator configured.
        let known = config.models.iter().flat_map(|m| {
            let upstream = m.targets.iter().filter_map(|t| t.provider_model_id.clone());
            std::iter::once(m.name.clone()).chain(upstream)
        });
        let metrics = Arc::new(Mutex::new(Metrics::with_known(known)));
        Gateway {
            rules: Arc::new(crate::quota::Rules::new(&config)),
            config: Arc::new(config),
            auth,
            metrics,
            spans: Default::default(),
            key_cache: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `GET /metrics` as a host serves it on `server.metrics_address`
    /// (without authentication: that listener is the operator's).
    pub fn metrics<H: Host>(&self, host: &H) -> HttpResponse {
        record::metrics_response(&self.metrics, host)
    }

    /// Handles one request. Never panics on input: every failure becomes
    /// the spec's error envelope with its status.
    pub async fn handle<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: HttpRequest,
    ) -> HttpResponse {
        let rec = record::begin(&self.config, &self.metrics, &self.spans, host, &req);
        let anthropic = req.path.trim_end_matches('/').starts_with("/v1/messages");
        let mut resp = match self.dispatch(host, req, &rec).await {
            Ok(mut resp) => {
                record::respond(&rec, host, None, &mut resp);
                resp
            }
            Err(e) => {
                let mut resp = error_response(&e);
                record::respond(&rec, host, Some(&e), &mut resp);
                resp
            }
        };
        if anthropic {
            messages::reshape(&mut resp);
        }
        resp
    }

    async fn dispatch<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: HttpRequest,
        rec: &Recorder,
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
        self.check_host(&req)?;
        // The page is public: the calls it makes carry the key.
        if let Some(asset) = crate::ui::find(path).filter(|_| self.config.server.ui) {
            if method != "GET" && method != "HEAD" {
                return Err(wrong_method().into());
            }
            return Ok(crate::ui::respond(asset, &req));
        }
        let principal = self.authenticate(host, &req).await?;
        rec.with(|r| {
            r.principal = Some(principal.id.clone());
            r.team.clone_from(&principal.team);
        });
        match path {
            "/metrics" if H::METRICS && method == "GET" => {
                Ok(record::metrics_response(&self.metrics, host))
            }
            "/v1/dashboard" if !self.config.server.ui => Err(no_route().into()),
            "/v1/dashboard" if method != "GET" => Err(wrong_method().into()),
            "/v1/dashboard" => Ok(self.dashboard(host, &principal).await),
            p if p.starts_with("/v1/admin/") => {
                let rest = &p["/v1/admin/".len()..];
                self.admin(host, &req, &principal, rest, rec).await
            }
            "/v1/models" if method != "GET" => Err(wrong_method().into()),
            "/v1/models" => {
                let mut list = routing::models_list(&self.config);
                if let Some(data) = list["data"].as_array_mut() {
                    data.retain(|m| m["id"].as_str().is_some_and(|id| principal.may_use(id)));
                }
                Ok(json_ok(list))
            }
            "/v1/messages" if method != "POST" => Err(wrong_method().into()),
            "/v1/messages" => self.messages(host, &req, &principal, rec).await,
            "/v1/messages/count_tokens" => Err(ApiError::new(
                501,
                "invalid_request_error",
                Some("not_implemented"),
                None,
                "latticelm cannot count tokens honestly for every upstream model, so it does not estimate them",
            )),
            "/v1/chat/completions" if method != "POST" => Err(wrong_method().into()),
            "/v1/chat/completions" => self.chat_completions(host, &req, &principal, rec).await,
            "/v1/responses/compact" if method != "POST" => Err(wrong_method().into()),
            "/v1/responses/compact" => self.compact(host, &req, &principal, rec).await,
            "/v1/responses" if method != "POST" => Err(wrong_method().into()),
            "/v1/responses" => self.create_response(host, &req, &principal, rec, None).await,
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

    /// `POST /v1/responses`, as named stages: parse, expand, plan, the
    /// attempt loop (with translation), store, respond. `front` is set
    /// when the request came by another front door: its own body, the
    /// Open Responses body decoded from it, and its encoder (`req` is
    /// then the client's own request, for its headers and size).
    async fn create_response<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
        front: Option<ingress::Front>,
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

    /// The plan stage: the model's targets in the order to try them, or
    /// the answer when none is available. `input` is the pinned provider,
    /// the principal, the (input, output) token estimate and the seed.
    async fn plan<'c, H: Host>(
        &'c self,
        host: &H,
        model: &'c str,
        now: u64,
        input: (Option<&'c str>, &'c str, (u64, u64), u64),
    ) -> Result<Vec<routing::Candidate<'c>>, HttpResponse> {
        let (pinned, principal, (input_tokens, output_tokens), seed) = input;
        routing_store::load(host).await;
        let planned = host.with_routing(|state| {
            routing::plan(
                &self.config,
                state,
                PlanInput {
                    principal,
                    model,
                    pinned,
                    now,
                    input_tokens,
                    output_tokens,
                    seed,
                    explore: self.config.routing.explore,
                },
            )
        });
        planned.map_err(|e| {
            let mut resp = error_response(&e.into());
            served_headers(&mut resp, None, 0);
            resp
        })
    }

    /// Expands `previous_response_id` into the full input; returns the ids
    /// of the chain it continues, oldest first.
    async fn expand<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        body: &mut CreateResponseBody,
    ) -> Result<Vec<String>, ApiError> {
        let Some(prev_id) = &body.previous_response_id else {
            return Ok(Vec::new());
        };
        let now = unix_secs(host);
        let conversations = &self.config.conversations;
        let Some(chain) =
            stored::load_chain(host, prev_id, &principal.id, now, conversations).await?
        else {
            return Err(RequestError::NotFound {
                what: "previous response",
                id: prev_id.clone(),
                param: Some("previous_response_id"),
                code: "previous_response_not_found",
            }
            .into());
        };
        if chain.len() >= conversations.max_depth {
            return Err(RequestError::InvalidValue {
                param: "previous_response_id".into(),
                message: format!(
                    "this conversation has reached {} responses (conversations.max_depth); continue it in a new one, sending the context as input",
                    conversations.max_depth
                ),
            }
            .into());
        }
        let items = conversation::expand(&chain, body.input.as_ref());
        crate::limits::check_items(&items, &self.config.server.limits)?;
        body.input = Some(Input::Items(items));
        Ok(chain.iter().map(|r| r.response.id.clone()).collect())
    }

    /// `server.allowed_hosts`: the `host` header, port aside, must be one
    /// of them (when any are set).
    fn check_host(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let allowed = &self.config.server.allowed_hosts;
        if allowed.is_empty() {
            return Ok(());
        }
        let host = req.header("host").unwrap_or_default().trim();
        // `[::1]:8080`, `example.com:8080`, `example.com`.
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        if allowed.iter().any(|a| {
            a.eq_ignore_ascii_case(name) || a.trim_matches(['[', ']']).eq_ignore_ascii_case(name)
        }) {
            return Ok(());
        }
        Err(ApiError::new(
            421,
            "invalid_request_error",
            Some("host_not_allowed"),
            None,
            "this gateway does not answer to that host name (server.allowed_hosts)",
        ))
    }

    /// Who is calling. Until authentication exists everyone is
    /// `anonymous`, unless the test-only identity header is configured.
    async fn authenticate<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<Principal, ApiError> {
        if let Some(auth) = &self.auth {
            return match auth.authenticate(host, req, unix_secs(host)).await {
                // A runtime key, issued through the admin API.
                Err(crate::auth::AuthError::BadKey) => {
                    match crate::auth::credential_of(req)
                        .filter(|c| c.starts_with(crate::keys::PREFIX))
                    {
                        Some(secret) => self.runtime_key(host, secret).await,
                        None => Err(crate::auth::AuthError::BadKey.into()),
                    }
                }
                other => Ok(other?),
            };
        }
        let header = self.config.server.insecure_test_principal_header.as_deref();
        Ok(match header.and_then(|h| req.header(h)) {
            Some(p) if !p.is_empty() => Principal {
                id: format!("test:{p}"),
                models: None,
                passthrough: Vec::new(),
                team: None,
                admin: false,
                allowance: None,
                team_allowance: None,
            },
            _ => Principal::anonymous(),
        })
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
    resp.detail = e.detail.clone();
    resp
}
