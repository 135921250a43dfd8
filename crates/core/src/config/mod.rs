//! Gateway configuration: one YAML format for every host.
//!
//! [`Config::from_yaml`] expands `${VAR}` / `${VAR:-default}` in every
//! string value (never in keys), then checks the whole file, so a config
//! error always names its key and never surfaces at request time.

mod auth;
mod cache;
mod duration;
mod expand;
mod limits;
pub mod mcp;
mod observability;
mod routing;
mod server;
mod url;

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

pub use auth::{AdminClaim, ApiKeyConfig, Audience, AuthConfig};
pub use cache::{parse_size, CacheConfig, CacheScope, ModelCacheConfig, MAX_CACHE_TTL};
pub use duration::parse_duration;
pub use expand::referenced_vars;
pub(crate) use limits::check_limits;
pub use limits::{
    BudgetAlert, BudgetConfig, LimitSet, LimitsConfig, ModelLimits, OnStoreError, Period,
    StoreErrorMode, TeamConfig, Unpriced,
};
pub use observability::{ObservabilityConfig, OtlpConfig};
pub use routing::{
    BreakerConfig, ModelConfig, Prices, RetryOn, RoutingConfig, Strategy, TargetConfig,
};
pub use server::{LogFormat, LogLevel, ServerConfig};
pub(crate) use url::is_loopback_http;

/// Everything that can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML.
    #[error("config is not valid YAML: {0}")]
    Yaml(String),
    /// A key has the wrong shape or an unknown name.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `${VAR}` without a default, and the variable is unset.
    #[error("config key `{key}`: environment variable `{var}` is not set (use `${{{var}:-default}}` for a default)")]
    MissingVar {
        /// Dotted path of the key.
        key: String,
        /// The variable.
        var: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// Upstream providers by name, in file order.
    #[serde(default)]
    pub providers: IndexMap<String, ProviderConfig>,
    /// Model names clients may use.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    /// Retries, backoff, circuit breaking and the request deadline.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Stored conversations (`previous_response_id`).
    #[serde(default)]
    pub conversations: ConversationsConfig,
    /// Authentication: API keys and OIDC/JWT.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Traces (see [`ObservabilityConfig`]).
    #[serde(default)]
    pub observability: ObservabilityConfig,
    /// Teams: limits and budgets shared by their keys.
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    /// Where rate-limit and budget counters live, and how admission
    /// behaves (see `crate::quota`).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The response cache's store and bounds (a model's `cache:` turns
    /// caching on).
    #[serde(default)]
    pub cache: CacheConfig,
    /// MCP servers for hosted `mcp` tools (see [`mcp::McpConfig`]).
    #[serde(default)]
    pub mcp: mcp::McpConfig,
    /// Loaded from the embedded default, not from the operator's file.
    #[serde(skip)]
    pub embedded: bool,
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ProviderKind {
    /// OpenAI Responses API.
    #[serde(rename = "openai")]
    OpenAi,
    /// OpenAI Chat Completions, and every compatible server.
    #[serde(
        rename = "openai-chat",
        alias = "openai_chat",
        alias = "openai-compatible"
    )]
    OpenAiChat,
    /// Built-in offline provider that answers without any network.
    #[serde(rename = "mock")]
    Mock,
    /// Anthropic Messages API.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Google Gemini API.
    #[serde(rename = "google", alias = "gemini")]
    Google,
    /// Azure OpenAI.
    #[serde(rename = "azureopenai", alias = "azure-openai", alias = "azure")]
    AzureOpenAi,
}

impl ProviderKind {
    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiChat => "openai-chat",
            ProviderKind::Mock => "mock",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Google => "google",
            ProviderKind::AzureOpenAi => "azureopenai",
        }
    }

    fn default_endpoint(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Google => Some("https://generativelanguage.googleapis.com"),
            ProviderKind::OpenAiChat | ProviderKind::AzureOpenAi | ProviderKind::Mock => None,
        }
    }
}

/// One entry of `providers:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The protocol.
    #[serde(rename = "type")]
    pub kind: ProviderKind,
    /// Credential sent upstream (empty means none).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Base URL, without the API path (`https://api.openai.com`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Extra headers sent with every upstream request.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// `openai-chat`: which field carries `max_output_tokens`
    /// (`max_tokens`, understood by most servers, or `max_completion_tokens`).
    #[serde(default)]
    pub max_tokens_field: Option<String>,
    /// `anthropic`: `max_tokens` when the request sets no
    /// `max_output_tokens` (Messages requires one; default 4096).
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    /// Azure: API version for the deployments path.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Azure: `responses` or `chat`.
    #[serde(default)]
    pub api: Option<String>,
    /// Request fields and hosted tools that reach organisation-level
    /// resources of the provider account (`conversation`, `prompt`,
    /// `service_tier`, `file_search`, `mcp`, `code_interpreter`, …),
    /// allowed for every caller. Off unless listed.
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// Chat, Anthropic, Gemini: what becomes of a hosted tool the protocol
    /// cannot express (`web_search`, `local_shell`, …): `drop` (default;
    /// named in `x-latticelm-dropped-tools`) or `reject` (400).
    #[serde(default)]
    pub unsupported_tools: Option<String>,
    /// Chat servers: how a continuation hands over the partial answer
    /// (`gateway::resume`): `continue_final_message` (vLLM, sglang),
    /// `prefix` (DeepSeek) or `none` (the default: best effort). Anthropic
    /// and Gemini always prefill; OpenAI's Responses API cannot.
    #[serde(default)]
    pub prefill: Option<Prefill>,
}

/// How a Chat server continues a partial assistant message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefill {
    /// `continue_final_message: true`, `add_generation_prompt: false`.
    ContinueFinalMessage,
    /// `prefix: true` on the final assistant message.
    Prefix,
    /// No prefill: the partial answer and an instruction to continue.
    None,
}

impl ProviderConfig {
    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.endpoint.as_deref().unwrap_or("").trim_end_matches('/')
    }

    /// The API key, if one is set and not empty.
    pub fn key(&self) -> Option<&str> {
        self.api_key.as_deref().filter(|k| !k.is_empty())
    }
}

/// `conversations:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationsConfig {
    /// How long a stored response lives.
    #[serde(default = "default_ttl", deserialize_with = "duration::de")]
    pub ttl: Duration,
    /// Store backend (host-specific: `memory`, `redis`, …).
    #[serde(default)]
    pub store: Option<String>,
    /// Store URL (for `redis`): `redis://[:password@]host:port[/db]`, or
    /// `rediss://` for TLS (with `user:password@` for ACL users).
    #[serde(default)]
    pub url: Option<String>,
    /// `rediss://`: a PEM file of the CA that signed the server's
    /// certificate (default: the system's roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// `memory` store: most responses kept (oldest evicted first).
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// `memory` store: most bytes kept (oldest evicted first).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Largest stored response, in bytes (a Durable Object value holds at
    /// most 2 MB); a turn past it is refused before any upstream call.
    #[serde(default = "default_max_entry_bytes")]
    pub max_entry_bytes: usize,
    /// Most responses in one chain of `previous_response_id`.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// The former name of `server.seal_key`, still honoured when that is
    /// unset.
    #[serde(default)]
    pub reasoning_key: Option<String>,
}

fn default_max_entry_bytes() -> usize {
    2_000_000
}
fn default_max_depth() -> usize {
    256
}

fn default_max_entries() -> usize {
    10_000
}
fn default_max_bytes() -> usize {
    256 * 1024 * 1024
}

fn default_ttl() -> Duration {
    Duration::from_secs(3600)
}

impl Default for ConversationsConfig {
    fn default() -> Self {
        ConversationsConfig {
            ttl: default_ttl(),
            store: None,
            url: None,
            ca_file: None,
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
            max_entry_bytes: default_max_entry_bytes(),
            max_depth: default_max_depth(),
            reasoning_key: None,
        }
    }
}

impl Config {
    /// Where the native host keeps limit counters: `limits.store`, else
    /// `auth.store` when that is a Redis URL (runtime keys shared by
    /// replicas count their limits there too), else memory.
    pub fn limits_store(&self) -> Option<&str> {
        self.limits.store.as_deref().or_else(|| {
            self.auth
                .as_ref()
                .and_then(|a| a.store.as_deref())
                .filter(|s| s.starts_with("redis"))
        })
    }

    /// Whether a host that serves the internet by default (Workers, Spin)
    /// must refuse to spend provider keys for this request: the embedded
    /// default configuration, no authentication, and no `server.public`.
    pub fn guards_open_proxy(&self) -> bool {
        self.embedded && !self.server.public && self.auth.as_ref().is_none_or(|a| !a.enabled)
    }

    /// The MCP servers a config team's keys may use (`None`: no list,
    /// or not a config team).
    pub fn team_mcp(&self, team: Option<&str>) -> Option<&[String]> {
        let team = team?;
        self.teams.iter().find(|t| t.name == team)?.mcp.as_deref()
    }

    /// The prices of `model`'s target on `provider` serving
    /// `upstream_model`, when it is priced.
    pub fn prices(&self, model: &str, provider: &str, upstream_model: &str) -> Option<Prices> {
        let m = self.models.iter().find(|m| m.name == model)?;
        m.targets
            .iter()
            .find(|t| {
                t.provider == provider
                    && t.provider_model_id.as_deref().unwrap_or(model) == upstream_model
            })?
            .prices()
    }

    /// Parses, expands and validates a YAML configuration. `env` resolves
    /// `${VAR}`: the process environment, Worker secrets, Spin variables.
    pub fn from_yaml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        if value.is_null() {
            value = serde_norway::Value::Mapping(Default::default());
        }
        expand::expand_value(&mut value, &mut String::new(), env)?;
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::invalid(
                if key == "." {
                    String::from("(root)")
                } else {
                    key
                },
                e.into_inner().to_string(),
            )
        })?;
        config.validate()?;
        // The seal key may come as a secret of its own (a Worker secret, a
        // Spin variable, an environment variable) rather than in the YAML.
        if config.server.seal_key.as_deref().is_none_or(str::is_empty) {
            config.server.seal_key = env("LATTICELM_SEAL_KEY").filter(|k| !k.is_empty());
        }
        Ok(config)
    }

    /// Gives the configuration this process's random bytes, the seal key
    /// of last resort (see `providers::seal`). Hosts call it once at start;
    /// returns a warning to print when sealed state will not outlive the
    /// process (no `server.seal_key`, and a provider without a credential).
    pub fn seed_seal(&mut self, random: [u8; 32]) -> Option<String> {
        self.server.process_seal = server::ProcessSeal(random);
        let configured = self
            .server
            .seal_key
            .as_deref()
            .is_some_and(|k| !k.is_empty())
            || self
                .conversations
                .reasoning_key
                .as_deref()
                .is_some_and(|k| !k.is_empty());
        let keyless: Vec<&str> = self
            .providers
            .iter()
            .filter(|(_, p)| p.kind != ProviderKind::Mock && p.key().is_none_or(str::is_empty))
            .map(|(n, _)| n.as_str())
            .collect();
        (!configured && !keyless.is_empty()).then(|| {
            format!(
                "no server.seal_key (LATTICELM_SEAL_KEY): state sealed for {} is sealed with a random key of this process, so it will not open after a restart or on another instance; set server.seal_key to one secret on every instance",
                keyless.join(", ")
            )
        })
    }

    /// The embedded default: the offline `mock` provider, plus OpenAI when
    /// `OPENAI_API_KEY` is set, so that a fresh checkout runs with no keys.
    pub fn embedded_default(env: &dyn Fn(&str) -> Option<String>) -> Config {
        let mut text = String::from(DEFAULT_CONFIG);
        if env("OPENAI_API_KEY").is_some_and(|k| !k.is_empty()) {
            text.push_str(OPENAI_ADDON);
        }
        // The embedded text is fixed and tested; it only fails to load on a
        // bad LATTICELM_PUBLIC, which then counts as not public.
        let mut config = Config::from_yaml(&text, env)
            .or_else(|_| {
                Config::from_yaml(&text, &|n| {
                    (n != "LATTICELM_PUBLIC").then(|| env(n)).flatten()
                })
            })
            .unwrap_or_else(|e| panic!("embedded default config is broken: {e}"));
        config.embedded = true;
        config
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        self.mcp.validate()?;
        let labels = |key: String, list: Option<&Vec<String>>| -> Result<(), ConfigError> {
            for l in list.into_iter().flatten() {
                if self.mcp.server(l).is_none() {
                    return Err(ConfigError::invalid(
                        key,
                        format!("`{l}` is no server of mcp.servers"),
                    ));
                }
            }
            Ok(())
        };
        for (i, k) in self.auth.iter().flat_map(|a| a.api_keys.iter()).enumerate() {
            labels(format!("auth.api_keys[{i}].mcp"), k.mcp.as_ref())?;
        }
        for (i, t) in self.teams.iter().enumerate() {
            labels(format!("teams[{i}].mcp"), t.mcp.as_ref())?;
        }
        if let Some(otlp) = &self.observability.otlp {
            otlp.validate()?;
        }
        if self.server.stream_ping_interval.is_zero() {
            return Err(ConfigError::invalid(
                "server.stream_ping_interval",
                "must be longer than zero (10s by default)",
            ));
        }
        for (i, h) in self.server.allowed_hosts.iter_mut().enumerate() {
            if h.is_empty() || h.contains(['/', ' ']) {
                return Err(ConfigError::invalid(
                    format!("server.allowed_hosts[{i}]"),
                    "must be a host name, like gateway.example.com or localhost",
                ));
            }
            h.make_ascii_lowercase();
        }
        for (name, p) in &mut self.providers {
            let key = format!("providers.{name}");
            if p.endpoint.as_deref().is_none_or(str::is_empty) {
                p.endpoint = p.kind.default_endpoint().map(str::to_owned);
            }
            match p.endpoint.as_deref() {
                None if p.kind == ProviderKind::Mock => {}
                None => {
                    return Err(ConfigError::invalid(
                        format!("{key}.endpoint"),
                        "is required for this provider type",
                    ))
                }
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return Err(ConfigError::invalid(
                        format!("{key}.endpoint"),
                        format!("`{url}` is not an http:// or https:// URL"),
                    ))
                }
                Some(_) => {}
            }
            if let Some(api) = p.api.as_deref() {
                if p.kind != ProviderKind::AzureOpenAi || (api != "responses" && api != "chat") {
                    return Err(ConfigError::invalid(
                        format!("{key}.api"),
                        format!("`{api}`: only azureopenai providers take `api`, and it is `responses` or `chat`"),
                    ));
                }
            }
            if let Some(u) = p.unsupported_tools.as_deref() {
                if u != "drop" && u != "reject" {
                    return Err(ConfigError::invalid(
                        format!("{key}.unsupported_tools"),
                        format!("`{u}` is neither `drop` nor `reject`"),
                    ));
                }
            }
            if let Some(f) = p.max_tokens_field.as_deref() {
                if f != "max_tokens" && f != "max_completion_tokens" {
                    return Err(ConfigError::invalid(
                        format!("{key}.max_tokens_field"),
                        format!("`{f}` is neither `max_tokens` nor `max_completion_tokens`"),
                    ));
                }
            }
        }
        match self.conversations.store.as_deref() {
            None | Some("memory") => {}
            Some("redis") if self.conversations.url.is_some() => {}
            Some("redis") => {
                return Err(ConfigError::invalid(
                    "conversations.url",
                    "the redis store needs a `url` (redis://host:port)",
                ))
            }
            // Host-specific backends (Durable Objects, KV, Spin) are
            // checked by their host.
            Some(_) => {}
        }
        if self.conversations.ttl.is_zero() {
            return Err(ConfigError::invalid(
                "conversations.ttl",
                "must be longer than zero",
            ));
        }
        routing::validate(&mut self.models, &self.providers, &self.routing)?;
        limits::validate(self)?;
        cache::validate(self)?;
        Ok(())
    }
}

/// The embedded default configuration (see [`Config::embedded_default`]).
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");
const OPENAI_ADDON: &str = "
  - { name: gpt-4o-mini, provider: openai }
  - { name: gpt-4.1-mini, provider: openai }
";

#[cfg(test)]
mod tests;
