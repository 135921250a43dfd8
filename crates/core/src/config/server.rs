//! `server:`: listening, request limits, timeouts towards clients and
//! upstreams, and logging. Every field has a default.

use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// `server:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address (native host).
    #[serde(default = "default_address")]
    pub address: String,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_max_body")]
    pub max_request_bytes: usize,
    /// Time allowed for an upstream's response headers (`30s`, `5m`).
    #[serde(
        default = "default_upstream_timeout",
        deserialize_with = "duration::de"
    )]
    pub upstream_timeout: Duration,
    /// Longest silence allowed inside an upstream body.
    #[serde(default = "default_idle_timeout", deserialize_with = "duration::de")]
    pub upstream_idle_timeout: Duration,
    /// A streamed `/v1/messages` answer silent this long gets a `ping`
    /// event, as Anthropic sends them.
    #[serde(default = "default_ping_interval", deserialize_with = "duration::de")]
    pub stream_ping_interval: Duration,
    /// Native: idle upstream connections kept open for reuse, per
    /// upstream host and worker thread; past it, finished ones close.
    #[serde(default = "default_idle_connections")]
    pub upstream_idle_connections: usize,
    /// Time allowed to connect to an upstream.
    #[serde(default = "default_connect_timeout", deserialize_with = "duration::de")]
    pub upstream_connect_timeout: Duration,
    /// Native: time for a client to send a request's headers, from their
    /// first byte.
    #[serde(default = "default_header_timeout", deserialize_with = "duration::de")]
    pub client_header_timeout: Duration,
    /// Native: time for a client to send a request's whole body.
    #[serde(default = "default_body_timeout", deserialize_with = "duration::de")]
    pub client_body_timeout: Duration,
    /// Native: how long an idle keep-alive connection is kept open.
    #[serde(default = "default_keepalive", deserialize_with = "duration::de")]
    pub keepalive_timeout: Duration,
    /// Native: most connections open at once; more are refused at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Native: most bytes of request bodies held while being read, across
    /// all connections; past it, requests get 503.
    #[serde(default = "default_max_body_memory")]
    pub max_body_memory: usize,
    /// Native: on SIGTERM or SIGINT, how long in-flight requests and
    /// streams may take to finish before the process exits.
    #[serde(default = "default_grace", deserialize_with = "duration::de")]
    pub shutdown_grace: Duration,
    /// Host names the gateway answers to (the `host` header, port aside);
    /// empty: any. Guards a gateway on localhost or an intranet against
    /// DNS rebinding. `/health` and `/ready` answer any host.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// The operator means this gateway to be reachable by anyone: on the
    /// Worker and Spin, the embedded default configuration spends a
    /// provider key without authentication only with this set
    /// (`LATTICELM_PUBLIC=true`).
    #[serde(default, deserialize_with = "flag")]
    pub public: bool,
    /// Most bytes one upstream stream may send (a response past it fails).
    #[serde(default = "default_max_stream")]
    pub max_upstream_stream_bytes: usize,
    /// Caps on the shape of requests.
    #[serde(default)]
    pub limits: crate::caps::Caps,
    /// Which requests are logged, one line each: `off`, `error`, `warn`,
    /// `info` (default: every API request) or `debug` (health checks too).
    #[serde(default)]
    pub log_level: LogLevel,
    /// `json` (default) or `text`. The native binary writes text to a
    /// terminal unless this is set.
    #[serde(default)]
    pub log_format: Option<LogFormat>,
    /// Native: serve `GET /metrics` (Prometheus) on this address too,
    /// without authentication, for a scraper on a private network.
    #[serde(default)]
    pub metrics_address: Option<String>,
    /// Serve the web playground (`GET /`, `/playground`) and dashboard
    /// (`/dashboard`, its data at `GET /v1/dashboard`). The page is
    /// public; the API calls it makes carry the caller's key.
    #[serde(default = "yes", deserialize_with = "flag")]
    pub ui: bool,
    /// The secret that seals and encrypts what the gateway hands clients
    /// to send back (reasoning state, compaction summaries). Set one value
    /// on every instance (also `LATTICELM_SEAL_KEY`); unset, a provider's
    /// state is sealed with a key derived from its credential, and without
    /// one with a random key of the process (a warning says so at start).
    #[serde(default)]
    pub seal_key: Option<String>,
    /// The process's random seal key of last resort ([`ProcessSeal`]),
    /// given by the host at start (`Config::seed_seal`).
    #[serde(skip)]
    pub process_seal: ProcessSeal,
    /// Browser origins allowed to open the WebSocket besides the gateway's
    /// own (`https://app.example.com`); any other `Origin` gets 403.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Native: a WebSocket with no frame from the client for this long,
    /// and no turn in progress, is closed.
    #[serde(default = "default_ws_idle", deserialize_with = "duration::de")]
    pub websocket_idle_timeout: Duration,
    /// TESTS ONLY: a request header whose value is taken as the caller's
    /// identity, until authentication exists. Never set it in production:
    /// any client could claim any identity.
    #[serde(default)]
    pub insecure_test_principal_header: Option<String>,
}

/// Random bytes a host draws at start; shown redacted.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessSeal(pub [u8; 32]);

impl std::fmt::Debug for ProcessSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessSeal(..)")
    }
}

fn default_ws_idle() -> Duration {
    Duration::from_secs(300)
}

fn default_address() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_body() -> usize {
    32 * 1024 * 1024
}
/// A boolean, also from a `${VAR}` that expanded to `true`/`false`.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Bool(b) => Ok(b),
        Raw::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" | "" => Ok(false),
            other => Err(D::Error::custom(format!(
                "`{other}` is neither true nor false"
            ))),
        },
    }
}

fn yes() -> bool {
    true
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_keepalive() -> Duration {
    Duration::from_secs(75)
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_body_memory() -> usize {
    512 * 1024 * 1024
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}

fn default_max_stream() -> usize {
    256 * 1024 * 1024
}
fn default_upstream_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_idle_connections() -> usize {
    256
}
fn default_ping_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: default_address(),
            max_request_bytes: default_max_body(),
            upstream_timeout: default_upstream_timeout(),
            upstream_idle_timeout: default_idle_timeout(),
            stream_ping_interval: default_ping_interval(),
            upstream_idle_connections: default_idle_connections(),
            upstream_connect_timeout: default_connect_timeout(),
            client_header_timeout: default_header_timeout(),
            client_body_timeout: default_body_timeout(),
            keepalive_timeout: default_keepalive(),
            max_connections: default_max_connections(),
            max_body_memory: default_max_body_memory(),
            shutdown_grace: default_grace(),
            allowed_hosts: Vec::new(),
            public: false,
            max_upstream_stream_bytes: default_max_stream(),
            limits: Default::default(),
            log_level: Default::default(),
            log_format: None,
            metrics_address: None,
            ui: true,
            seal_key: None,
            process_seal: ProcessSeal::default(),
            allowed_origins: Vec::new(),
            websocket_idle_timeout: default_ws_idle(),
            insecure_test_principal_header: None,
        }
    }
}

/// `server.log_level`: which requests are logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Requests that ended in a server-side error (5xx, a failed stream).
    Error,
    /// And those refused as the client's fault (4xx), and streams the
    /// client left.
    Warn,
    /// Every API request (the default).
    #[default]
    Info,
    /// And health checks, the metrics scrape, and the web page and
    /// dashboard polls.
    Debug,
}

/// `server.log_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default).
    #[default]
    Json,
    /// `ts status method path model … duration` for a terminal.
    Text,
}
