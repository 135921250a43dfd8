//! latticelm as a Fermyon Spin component (spin-sdk 7, WASI 0.3 HTTP on
//! `wasm32-wasip2`): a thin host over `latticelm-core`.
//!
//! Instances live for one request, so everything per-process on other
//! hosts is per-request here: the configuration is parsed on each request
//! (it is small and parsing is cheap), and caches (the JWKS) live in the
//! key-value store, which the core uses as its second cache layer.

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod component;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod ledger;
