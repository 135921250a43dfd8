//! The request pipeline: [`Gateway::handle`] turns one HTTP request into
//! one HTTP response, using only the [`Host`] capabilities.

mod admin;
pub(crate) mod doors;
mod export;
mod telemetry;

use std::sync::{Arc, Mutex};

use crate::auth::{Authenticator, Principal};
use crate::config::Config;
use crate::error::{ApiError, GatewayError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::observe::{Metrics, Recorder};
use crate::pipeline::clock::unix_secs;
use crate::pipeline::error::StageError;
use crate::pipeline::respond::json_ok;
use crate::pipeline::Cx;
use crate::routing;

pub use doors::ws::{WsClose, WsReply, WsSession, MAX_CONNECTION};

/// The gateway: an immutable configuration and the pipeline over it.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) config: Arc<Config>,
    auth: Option<Arc<Authenticator>>,
    pub(crate) metrics: Arc<Mutex<Metrics>>,
    pub(crate) spans: Arc<Mutex<export::SpanQueue>>,
    pub(crate) rules: Arc<crate::quota::Rules>,
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
        telemetry::metrics_response(&self.metrics, host)
    }

    /// Handles one request. Never panics on input: every failure becomes
    /// the spec's error envelope with its status.
    pub async fn handle<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: HttpRequest,
    ) -> HttpResponse {
        let rec = telemetry::begin(
            &self.config,
            &self.metrics,
            &self.spans,
            host,
            &telemetry::Arrival::of(&req),
        );
        let anthropic = req.path.trim_end_matches('/').starts_with("/v1/messages");
        let mut resp = match self.dispatch(host, req, &rec).await {
            Ok(mut resp) => {
                telemetry::respond(&rec, host, None, &mut resp);
                resp
            }
            Err(e) => {
                let error = e.error();
                let mut resp = e.into_response();
                telemetry::respond(&rec, host, Some(&error), &mut resp);
                resp
            }
        };
        if anthropic {
            doors::messages::reshape(&mut resp);
        }
        resp
    }

    async fn dispatch<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: HttpRequest,
        rec: &Recorder,
    ) -> Result<HttpResponse, StageError> {
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
                Ok(telemetry::metrics_response(&self.metrics, host))
            }
            "/v1/dashboard" if !self.config.server.ui => Err(no_route().into()),
            "/v1/dashboard" if method != "GET" => Err(wrong_method().into()),
            "/v1/dashboard" => Ok(self.dashboard(host, &principal).await),
            p if p.starts_with("/v1/admin/") => {
                let rest = &p["/v1/admin/".len()..];
                Ok(self.admin(host, &req, &principal, rest, rec).await?)
            }
            // The gateway as an MCP server: POST only (no GET stream).
            "/mcp" if method != "POST" => Err(wrong_method().into()),
            "/mcp" => Ok(self.mcp(host, &req, &principal, rec).await),
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
            "/v1/messages/count_tokens" => Err(ApiError::from(GatewayError::CountTokens).into()),
            "/v1/chat/completions" if method != "POST" => Err(wrong_method().into()),
            "/v1/chat/completions" => self.chat_completions(host, &req, &principal, rec).await,
            "/v1/responses/compact" if method != "POST" => Err(wrong_method().into()),
            "/v1/responses/compact" => self.compact(host, &req, &principal, rec).await,
            "/v1/responses" if method != "POST" => Err(wrong_method().into()),
            "/v1/responses" => self.responses(host, &req, &principal, rec).await,
            p if p.starts_with("/v1/responses/") => {
                let rest = &p["/v1/responses/".len()..];
                match (method, rest.split_once('/')) {
                    ("GET", None) => Ok(self.get_response(host, &principal, rest).await?),
                    ("DELETE", None) => Ok(self.delete_response(host, &principal, rest).await?),
                    ("GET", Some((id, "input_items"))) => {
                        Ok(self.input_items(host, &req, &principal, id).await?)
                    }
                    (_, None) | (_, Some((_, "input_items"))) => Err(wrong_method().into()),
                    _ => Err(no_route().into()),
                }
            }
            _ => Err(no_route().into()),
        }
    }

    /// What the pipeline's stages read: the configuration, the limit
    /// rules, the host.
    pub(crate) fn cx<'a, H>(&'a self, host: &'a H) -> Cx<'a, H> {
        Cx {
            config: &self.config,
            rules: &self.rules,
            host,
        }
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
        Err(GatewayError::HostNotAllowed.into())
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
                Ok(mut principal) if principal.id.starts_with("oidc:") => {
                    self.oidc_team(host, &mut principal).await?;
                    Ok(principal)
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
                team_generation: 0,
                mcp: None,
            },
            _ => Principal::anonymous(),
        })
    }
}
