//! WebSocket messages through the session: arbitrary text frames (split
//! on a NUL byte into several frames on one connection) on the built-in
//! mock model, turns and continuations included. Every frame is answered
//! with JSON frames, never a panic.
#![no_main]

#[path = "host.rs"]
mod host;

use futures::StreamExt;
use host::FuzzHost;
use latticelm_core::{Config, Gateway, HttpRequest};
use libfuzzer_sys::fuzz_target;

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
    let host = FuzzHost::answering(&[]);
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
