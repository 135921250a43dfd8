//! # latticelm-core
//!
//! The runtime-agnostic core of latticelm, an [Open Responses] gateway.
//! It holds the spec's types, request validation and errors, the
//! configuration, model routing, the provider translators, the SSE codec
//! and the request pipeline ([`Gateway::handle`]). It performs **no I/O**:
//! everything it needs from the outside comes through the [`Host`] trait.
//! It builds for `wasm32-unknown-unknown` (Workers) and `wasm32-wasip2`
//! (Spin) as well as natively.
//!
//! [Open Responses]: https://www.openresponses.org
//!
//! ## The rules a host follows
//!
//! 1. **Convert, don't interpret.** Turn the platform's request into an
//!    [`HttpRequest`] (lower-case header names, path without the query,
//!    the whole body) and write the [`HttpResponse`] back. Routing, auth,
//!    validation and errors all happen in the core.
//! 2. **Limit the request body while reading it**, at
//!    `config.server.max_request_bytes`; answer an oversized body with
//!    [`error_response`] of [`RequestError::TooLarge`].
//! 3. **Stream both ways.** [`Host::send`] resolves as soon as the
//!    upstream's status and headers arrive, with the body as a stream. A
//!    [`Body::Stream`] must be written chunk by chunk, each chunk flushed
//!    as it comes: never buffered. Dropping the body stream (the client
//!    went away) must cancel the upstream request.
//! 4. **Time and randomness are inputs.** [`Host::now`] and
//!    [`Host::random`] are the only clock and entropy the core uses; tests
//!    make them fixed, and the output is then fully deterministic.
//! 5. **Expire on read.** [`Host::kv_get`] never returns a value past its
//!    TTL, whether or not the backend has its own expiry.
//! 6. **No `Send` is required.** Workers and Spin are single-threaded and
//!    their handles are not `Send`. The native host runs one
//!    current-thread runtime per core, so the core's futures and streams
//!    need not be `Send` either.
//! 7. **Parse the configuration once** per process or isolate with
//!    [`Config::from_yaml`]; `${VAR}` resolves from the host's environment
//!    or secrets.
//! 8. **Never log** request headers, upstream request headers or config
//!    values: they carry credentials.
//! 9. **Sleep on the host's timer.** [`Host::sleep`] backs every timeout,
//!    backoff and deadline in the core (header and idle timeouts are
//!    raced against it), so a host needs no timers of its own. Dropping
//!    the future cancels it.
//! 10. **Keep the routing state where it outlives a request.**
//!     [`Host::with_routing`] runs a closure on the
//!     [`routing::RoutingState`]: shared by every thread of a process, or
//!     per isolate. A host whose instances live for one request (Spin)
//!     sets [`Host::ROUTING_IN_STORE`], and the core reads it from the
//!     store before planning and writes it back after.
//! 11. **Shared counters are atomic where the host can make them so.**
//!     [`Host::ledger`] (limits and budgets) and [`Host::counters_add`]
//!     (usage, the indexes of runtime keys and teams) must not lose an
//!     update between instances: Redis scripts natively and on Spin, a
//!     Durable Object per shard on the Worker, a lock in one process.
//!     So must [`Host::record_swap`], the compare-and-set of the admin
//!     API's records. Their defaults over the key-value store hold for
//!     one instance.
//! 12. **Cache entries expire on read, like key-value values.**
//!     [`Host::cache_get`] never returns an entry past its TTL; a host
//!     may evict earlier (the native memory cache by bytes, least
//!     recently used first) but never serve one tenant's entry under
//!     another's key (the core puts the scope in the key).

#![warn(missing_docs)]

pub mod auth;
mod builder;
mod cache;
pub mod caps;
pub mod config;
pub mod conversation;
mod error;
mod gateway;
mod host;
mod ids;
pub mod ingress;
pub mod keys;
pub mod mcp;
pub mod observe;
mod pipeline;
pub mod providers;
pub mod quota;
pub mod routing;
pub mod sse;
mod stored;
pub mod types;
pub mod ui;
pub mod validate;

pub use builder::{Outcome, ResponseBuilder};
pub use config::{Config, ConfigError};
pub use error::{
    ApiError, GatewayError, HostError, RequestError, RouteError, TranslateError, UpstreamError,
};
pub use gateway::{Gateway, WsClose, WsReply, WsSession, MAX_CONNECTION};
pub use host::{
    ledger_in_kv, read_body_limited, record_swap_in_kv, Body, ByteStream, Host, HttpRequest,
    HttpResponse, UpstreamRequest, UpstreamResponse, RECORD_TTL,
};
pub use ids::IdGen;
pub use pipeline::respond::error_response;

// jwt-compact's RSA support links getrandom 0.2, which has no source of
// randomness on wasm32-unknown-unknown. Verification never draws any, and
// the core's only entropy is `Host::random`: refuse.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn no_os_randomness(_: &mut [u8]) -> Result<(), getrandom02::Error> {
    Err(getrandom02::Error::UNSUPPORTED)
}
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
getrandom02::register_custom_getrandom!(no_os_randomness);
