//! WebSocket messages through the session: arbitrary text frames (split
//! on a NUL byte into several frames on one connection) on the built-in
//! mock model, turns and continuations included. Every frame is answered
//! with JSON frames, never a panic.
#![no_main]

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use latticelm_core::routing::RoutingState;
use latticelm_core::{
    Config, Gateway, Host, HostError, HttpRequest, UpstreamRequest, UpstreamResponse,
};
use libfuzzer_sys::fuzz_target;

#[derive(Clone, Default)]
struct FuzzHost;

impl Host for FuzzHost {
    async fn send(&self, _: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        Err(HostError::Transport("no upstream".into()))
    }
    async fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    async fn kv_put(&self, _: &str, _: Vec<u8>, _: Duration) -> Result<(), HostError> {
        Ok(())
    }
    async fn kv_delete(&self, _: &str) -> Result<(), HostError> {
        Ok(())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
    fn random(&self, buf: &mut [u8]) {
        buf.fill(5);
    }
    async fn sleep(&self, _: Duration) {
        futures::future::pending::<()>().await
    }
    fn with_routing<R>(&self, f: impl FnOnce(&mut RoutingState) -> R) -> R {
        f(&mut RoutingState::default())
    }
}

thread_local! {
    static GATEWAY: Gateway = Gateway::new(
        Config::from_yaml(
            "server: { max_request_bytes: 65536, limits: { max_json_values: 4096, max_json_depth: 32 } }\nproviders: { m: { type: mock } }\nmodels: [ { name: mock, provider: m } ]\n",
            &|_| None,
        )
        .expect("config"),
    );
}

fuzz_target!(|data: &[u8]| {
    let gw = GATEWAY.with(Gateway::clone);
    let host = FuzzHost;
    let upgrade = HttpRequest {
        method: "GET".into(),
        path: "/v1/responses".into(),
        ..Default::default()
    };
    futures::executor::block_on(async {
        let Ok(session) = gw.ws_open(&host, &upgrade).await else {
            panic!("the upgrade was refused");
        };
        for frame in data.split(|b| *b == 0).take(8) {
            let text = String::from_utf8_lossy(frame);
            let reply = gw.ws_message(&host, &session, &text).await;
            let frames: Vec<String> = reply.frames.collect().await;
            for f in &frames {
                let v: serde_json::Value = serde_json::from_str(f).expect("a JSON frame");
                assert!(v["type"].is_string(), "{f}");
            }
        }
    });
});
