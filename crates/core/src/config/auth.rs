//! `auth:` in the configuration.

use std::time::Duration;

use serde::Deserialize;

use super::url::is_loopback_http;

/// `auth:`. The seed's `{ enabled, issuer, audience }` works as is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Off means every caller is `anonymous`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// OIDC issuer (`https://accounts.google.com`); enables JWT bearer tokens.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted `aud` values (one or a list); required with an `issuer`.
    #[serde(default)]
    pub audience: Option<Audience>,
    /// The JWKS URL, when discovery (`{issuer}/.well-known/openid-configuration`)
    /// should not be used.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Accepted signature algorithms.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway", deserialize_with = "super::duration::de")]
    pub leeway: Duration,
    /// How long a fetched JWKS is trusted.
    #[serde(default = "default_jwks_ttl", deserialize_with = "super::duration::de")]
    pub jwks_ttl: Duration,
    /// API keys.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// The token claim naming an OIDC subject's team (a name of
    /// `teams:`); its limits and budget then apply.
    #[serde(default)]
    pub team_claim: Option<String>,
    /// Credentials of the admin API (`/v1/admin/`): `${LATTICELM_ADMIN_KEY}`.
    #[serde(default)]
    pub admin_keys: Vec<String>,
    /// An OIDC claim that makes a subject an admin: `{ name: roles,
    /// value: llm-admin }` (the claim is that value, or a list holding it).
    #[serde(default)]
    pub admin_claim: Option<AdminClaim>,
    /// Where runtime key records live on the native host: `memory` (the
    /// default) or `redis://…`, shared by every replica.
    #[serde(default)]
    pub store: Option<String>,
}

/// `auth.admin_claim`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminClaim {
    /// The claim's name (`roles`, `groups`).
    pub name: String,
    /// The value that makes an admin.
    pub value: String,
}

/// One audience or several.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// The accepted values.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// One API key: the key itself (from a secret) or its SHA-256.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's name; the principal is `key:<name>`.
    pub name: String,
    /// The key (`${TEAM_A_KEY}`).
    #[serde(default)]
    pub key: Option<String>,
    /// The key's SHA-256, hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The models this key may use (unset: all).
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Passthrough fields and hosted tools this key may send, on top of
    /// each provider's `passthrough`.
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// The team the key belongs to (a name of `teams:`).
    #[serde(default)]
    pub team: Option<String>,
    /// The key's own rate limits.
    #[serde(default)]
    pub limits: Option<super::limits::LimitSet>,
    /// The key's own budget.
    #[serde(default)]
    pub budget: Option<super::limits::BudgetConfig>,
    /// The MCP servers (labels of `mcp.servers`) this key may use;
    /// absent: every configured server.
    #[serde(default)]
    pub mcp: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}
fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}
fn default_leeway() -> Duration {
    Duration::from_secs(60)
}
fn default_jwks_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// The algorithms the gateway can verify.
pub const SUPPORTED_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

impl AuthConfig {
    /// Whether the admin API is on (an admin key or an admin claim).
    pub fn admin_api(&self) -> bool {
        self.enabled && (!self.admin_keys.is_empty() || self.admin_claim.is_some())
    }

    /// Checks the section; errors name the key.
    pub(crate) fn validate(&self) -> Result<(), super::ConfigError> {
        let invalid = |key: String, message: String| super::ConfigError::Invalid { key, message };
        if !self.enabled {
            return Ok(());
        }
        if self.issuer.is_none() && self.api_keys.is_empty() && self.admin_keys.is_empty() {
            return Err(invalid(
                "auth".into(),
                "enabled, but none of `issuer`, `api_keys` or `admin_keys` is set".into(),
            ));
        }
        for (i, k) in self.admin_keys.iter().enumerate() {
            if k.len() < 16 {
                return Err(invalid(
                    format!("auth.admin_keys[{i}]"),
                    "is shorter than 16 characters (is its variable set?): an admin key must be a long random secret".into(),
                ));
            }
        }
        if self.admin_claim.is_some() && self.issuer.is_none() {
            return Err(invalid(
                "auth.admin_claim".into(),
                "needs an OIDC `issuer`, whose tokens carry the claim".into(),
            ));
        }
        if let Some(s) = self.store.as_deref() {
            if s != "memory" && !s.starts_with("redis://") && !s.starts_with("rediss://") {
                return Err(invalid(
                    "auth.store".into(),
                    "is `memory` or a `redis://` (or `rediss://`) URL".into(),
                ));
            }
        }
        if let Some(iss) = &self.issuer {
            if self.audience.is_none() {
                return Err(invalid(
                    "auth.audience".into(),
                    "is required with an `issuer`: without it, a token the issuer minted for any other application would be accepted here".into(),
                ));
            }
            if !iss.starts_with("https://") && !is_loopback_http(iss) {
                return Err(invalid(
                    "auth.issuer".into(),
                    format!("`{iss}` must be an https:// URL"),
                ));
            }
        }
        if let Some(url) = &self.jwks_url {
            if !url.starts_with("https://") && !is_loopback_http(url) {
                return Err(invalid(
                    "auth.jwks_url".into(),
                    format!("`{url}` must be an https:// URL"),
                ));
            }
        }
        for a in &self.algorithms {
            if !SUPPORTED_ALGORITHMS.contains(&a.as_str()) {
                return Err(invalid(
                    "auth.algorithms".into(),
                    format!("`{a}` is not supported (use RS256, ES256, EdDSA; HMAC and `none` never are)"),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, k) in self.api_keys.iter().enumerate() {
            let key = format!("auth.api_keys[{i}]");
            if !names.insert(k.name.as_str()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("`{}` is used twice", k.name),
                ));
            }
            match (&k.key, &k.sha256) {
                (Some(v), None) if v.is_empty() => {
                    return Err(invalid(
                        format!("{key}.key"),
                        "is empty (is its variable set?)".into(),
                    ))
                }
                (Some(_), None) => {}
                (None, Some(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                (None, Some(_)) => {
                    return Err(invalid(
                        format!("{key}.sha256"),
                        "must be 64 hex digits".into(),
                    ))
                }
                _ => {
                    return Err(invalid(
                        key,
                        "needs exactly one of `key` or `sha256`".into(),
                    ))
                }
            }
        }
        Ok(())
    }
}
