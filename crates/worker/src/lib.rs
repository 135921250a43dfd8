//! latticelm on Cloudflare Workers: a thin host over `latticelm-core`.
//!
//! It converts `worker::Request` to the core's request and back, and gives
//! the core its capabilities: `Fetch` with streaming bodies both ways, the
//! conversation store (a Durable Object per response by default, or KV),
//! the clock and `crypto.getRandomValues`. Configuration is parsed once
//! per isolate. A Rust panic aborts the wasm instance, which workers-rs
//! re-initializes for the next request; the isolate survives.

#[cfg(target_arch = "wasm32")]
mod config;
#[cfg(target_arch = "wasm32")]
mod convert;
#[cfg(target_arch = "wasm32")]
mod durable;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
mod ledger;
#[cfg(target_arch = "wasm32")]
mod ws;

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::{event, Context, Env, Request, Response, Result};

    use crate::host::WorkerHost;

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
    }

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
        let gateway = match crate::config::gateway(&env) {
            Ok(g) => g,
            Err(e) => return crate::convert::to_worker(latticelm_core::error_response(&e)),
        };
        if crate::ws::is_upgrade(&req) {
            let host = WorkerHost::new(env, ctx, gateway.config());
            return crate::ws::upgrade(gateway, host, &req).await;
        }
        let limit = gateway.config().server.max_request_bytes;
        let core_req = match crate::convert::to_core(req, limit).await {
            Ok(r) => r,
            Err(e) => return crate::convert::to_worker(latticelm_core::error_response(&e)),
        };
        let host = WorkerHost::new(env, ctx, gateway.config());
        crate::convert::to_worker(gateway.handle(&host, core_req).await)
    }
}
