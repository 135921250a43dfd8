//! Authentication: API keys and OIDC/JWT bearer tokens, the same on every
//! host.
//!
//! A request carries `Authorization: Bearer <credential>` or
//! `x-api-key: <credential>`. A credential shaped like a JWT is verified
//! against the issuer's JWKS (RS256, ES256 or EdDSA, from an allow-list; never
//! `none`, never an HMAC algorithm, so a public key cannot be used as an HMAC
//! secret); anything else is looked up among the API keys by SHA-256, in
//! constant time. The result is a [`Principal`], which owns conversations and
//! may be limited to some models.

mod api_keys;
mod jwks;
mod jwt;

use std::sync::Arc;

pub use crate::config::{AdminClaim, ApiKeyConfig, Audience, AuthConfig};

use crate::error::ApiError;
use crate::host::{Host, HttpRequest};

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `key:<name>`, `oidc:<issuer>#<subject>`, or `anonymous`.
    pub id: String,
    /// The models this principal may use (`None`: all).
    pub models: Option<Vec<String>>,
    /// Passthrough fields and hosted tools this principal may send on top
    /// of what the provider allows (see `providers.<name>.passthrough`).
    pub passthrough: Vec<String>,
    /// The team it belongs to (a name of `teams:`): the team's limits and
    /// budget apply too.
    pub team: Option<String>,
    /// May use the admin API (`auth.admin_keys`, `auth.admin_claim`).
    pub admin: bool,
    /// A runtime key's own limits and budget (config keys' come from the
    /// config).
    pub allowance: Option<std::sync::Arc<crate::quota::Allowance>>,
    /// A runtime team's limits and budget (a config team's come from the
    /// config).
    pub team_allowance: Option<std::sync::Arc<crate::quota::Allowance>>,
    /// The runtime team's generation (see
    /// [`crate::keys::TeamRecord::generation`]); 0 for a config team.
    pub team_generation: u64,
    /// The MCP servers (labels) this principal may use; `None`: every
    /// configured server (its team may narrow it).
    pub mcp: Option<Vec<String>>,
}

impl Principal {
    /// The team as its limits, budget and cache know it: its name, and
    /// for a runtime team its generation (`alpha#3f2a…`), so that a team
    /// created again under an old name shares nothing with the old one.
    pub fn team_scope(&self) -> Option<String> {
        let team = self.team.as_deref()?;
        Some(match self.team_generation {
            0 => team.to_owned(),
            g => format!("{team}#{g:x}"),
        })
    }

    /// Whether it may use the MCP server `label`: its own list (a
    /// runtime team's folded in) and its config team's (`team`) both
    /// allow it. The admin key may use none.
    pub fn may_use_mcp(&self, label: &str, team: Option<&[String]>) -> bool {
        !(self.admin && self.id == "admin")
            && self
                .mcp
                .as_ref()
                .is_none_or(|l| l.iter().any(|s| s == label))
            && team.is_none_or(|l| l.iter().any(|s| s == label))
    }

    /// The caller when authentication is off.
    pub fn anonymous() -> Self {
        Principal {
            id: "anonymous".into(),
            models: None,
            passthrough: Vec::new(),
            team: None,
            admin: false,
            allowance: None,
            team_allowance: None,
            team_generation: 0,
            mcp: None,
        }
    }

    /// Whether the principal may use this model name.
    pub fn may_use(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == model))
    }
}

/// Why a request is not authenticated. Messages never repeat the
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential at all.
    #[error("missing credentials: send `Authorization: Bearer <token>` or `x-api-key: <key>`")]
    Missing,
    /// Not a configured API key (and not a JWT).
    #[error("invalid API key")]
    BadKey,
    /// A JWT that fails verification.
    #[error("invalid token: {0}")]
    BadToken(String),
    /// Past `exp` (with leeway).
    #[error("the token has expired")]
    Expired,
    /// Before `nbf` (with leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The JWKS could not be fetched.
    #[error("the identity provider could not be reached: {0}")]
    Unavailable(String),
    /// Authenticated, but this model is not allowed for the principal.
    #[error("`{principal}` may not use model `{model}`")]
    ModelForbidden {
        /// The principal's id.
        principal: String,
        /// The model asked for.
        model: String,
    },
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let msg = e.to_string();
        let (status, kind, code) = match &e {
            AuthError::Missing => (401, "authentication_error", "missing_credentials"),
            AuthError::BadKey => (401, "authentication_error", "invalid_api_key"),
            AuthError::BadToken(_) => (401, "authentication_error", "invalid_token"),
            AuthError::Expired => (401, "authentication_error", "token_expired"),
            AuthError::NotYetValid => (401, "authentication_error", "token_not_yet_valid"),
            AuthError::Unavailable(_) => (503, "server_error", "auth_unavailable"),
            AuthError::ModelForbidden { .. } => (403, "permission_error", "model_not_allowed"),
        };
        let mut err = ApiError::new(status, kind, Some(code), None, msg.clone());
        err.challenge = match &e {
            AuthError::Missing => Some(r#"Bearer realm="latticelm""#.to_owned()),
            AuthError::ModelForbidden { .. } => {
                Some(r#"Bearer realm="latticelm", error="insufficient_scope""#.to_owned())
            }
            AuthError::Unavailable(_) => None,
            _ => Some(format!(
                r#"Bearer realm="latticelm", error="invalid_token", error_description="{}""#,
                msg.replace('"', "'")
            )),
        };
        if let AuthError::ModelForbidden { .. } = e {
            err.payload.param = Some("model".into());
        }
        err
    }
}

/// Verifies credentials against the configuration. Shared by every request
/// of a process or isolate; holds the JWKS cache.
#[derive(Debug)]
pub struct Authenticator {
    config: AuthConfig,
    keys: Vec<api_keys::KeyEntry>,
    admin: Vec<[u8; 32]>,
    jwks: jwks::JwksCache,
}

impl Authenticator {
    /// An authenticator for a validated configuration.
    pub fn new(config: AuthConfig) -> Arc<Self> {
        let keys = api_keys::entries(&config.api_keys);
        let admin = config
            .admin_keys
            .iter()
            .map(|k| api_keys::digest(k))
            .collect();
        Arc::new(Authenticator {
            config,
            keys,
            admin,
            jwks: jwks::JwksCache::default(),
        })
    }

    /// The request's principal, or why there is none.
    pub async fn authenticate<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        now: u64,
    ) -> Result<Principal, AuthError> {
        let credential = credential(req).ok_or(AuthError::Missing)?;
        if self.config.issuer.is_some() && jwt::looks_like_jwt(credential) {
            let keys = self.jwks.keys(host, &self.config, now, false).await?;
            return match jwt::verify(credential, &keys, &self.config, now) {
                Err(jwt::Failure::UnknownKey) => {
                    // A key rotation: refetch once (rate-limited), then retry.
                    let keys = self.jwks.keys(host, &self.config, now, true).await?;
                    jwt::verify(credential, &keys, &self.config, now)
                        .map_err(jwt::Failure::into_auth)
                }
                other => other.map_err(jwt::Failure::into_auth),
            };
        }
        if api_keys::matches_any(&self.admin, credential) {
            return Ok(Principal {
                id: "admin".into(),
                // The admin API only: no model.
                models: Some(Vec::new()),
                admin: true,
                ..Principal::anonymous()
            });
        }
        api_keys::find(&self.keys, credential)
            .cloned()
            .ok_or(AuthError::BadKey)
    }
}

/// The credential of a request (`Authorization: Bearer …` or
/// `x-api-key`), if it has one.
pub fn credential_of(req: &HttpRequest) -> Option<&str> {
    credential(req)
}

/// `Authorization: Bearer …` or `x-api-key`.
fn credential(req: &HttpRequest) -> Option<&str> {
    if let Some(v) = req.header("authorization") {
        let (scheme, rest) = v.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|t| !t.is_empty());
    }
    req.header("x-api-key")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
