//! The core on wasm32, under Node (`wasm-bindgen-test`): the pipeline with
//! the offline mock provider, streaming, conversations through a store,
//! and the wasm sources of time and randomness the Worker uses.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use latticelm_core::{
    Body, Config, Gateway, Host, HostError, HttpRequest, UpstreamRequest, UpstreamResponse,
};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

#[derive(Clone, Default)]
struct NodeHost {
    kv: Rc<RefCell<HashMap<String, Vec<u8>>>>,
    routing: Rc<RefCell<latticelm_core::routing::RoutingState>>,
}

impl Host for NodeHost {
    async fn send(&self, _req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        Err(HostError::Transport("no network in this test".into()))
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    async fn kv_put(&self, key: &str, value: Vec<u8>, _ttl: Duration) -> Result<(), HostError> {
        self.kv.borrow_mut().insert(key.into(), value);
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(js_sys::Date::now() as u64)
    }
    async fn sleep(&self, _: Duration) {
        // Every upstream here answers at once: no timer ever has to fire.
        futures::future::pending::<()>().await
    }
    fn with_routing<R>(
        &self,
        f: impl FnOnce(&mut latticelm_core::routing::RoutingState) -> R,
    ) -> R {
        f(&mut self.routing.borrow_mut())
    }
    fn random(&self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("crypto.getRandomValues");
    }
}

fn gateway() -> Gateway {
    Gateway::new(Config::embedded_default(&|_| None))
}

fn post(body: Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body.to_string()),
        ..Default::default()
    }
}

async fn body_of(resp: latticelm_core::HttpResponse) -> Vec<u8> {
    match resp.body {
        Body::Full(b) => b.to_vec(),
        Body::Stream(s) => s.collect::<Vec<Bytes>>().await.concat(),
    }
}

#[wasm_bindgen_test]
async fn responses_through_the_pipeline() {
    let host = NodeHost::default();
    let resp = gateway()
        .handle(
            &host,
            post(json!({"model": "mock", "input": "hi from wasm"})),
        )
        .await;
    assert_eq!(resp.status, 200);
    let v: Value = serde_json::from_slice(&body_of(resp).await).unwrap();
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "You said: hi from wasm"
    );
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert!(
        v["created_at"].as_u64().unwrap() > 1_700_000_000,
        "the clock is JavaScript's"
    );
}

#[wasm_bindgen_test]
async fn streaming_and_errors() {
    let host = NodeHost::default();
    let resp = gateway()
        .handle(
            &host,
            post(json!({"model": "mock", "input": "stream", "stream": true})),
        )
        .await;
    let text = String::from_utf8(body_of(resp).await).unwrap();
    assert!(text.starts_with("event: response.created\n"));
    assert!(text.ends_with("data: [DONE]\n\n"));
    let resp = gateway()
        .handle(&host, post(json!({"model": "nope", "input": "x"})))
        .await;
    assert_eq!(resp.status, 404);
}

#[wasm_bindgen_test]
async fn conversations_on_wasm() {
    let host = NodeHost::default();
    let gw = gateway();
    let first: Value = serde_json::from_slice(
        &body_of(
            gw.handle(&host, post(json!({"model": "mock", "input": "one"})))
                .await,
        )
        .await,
    )
    .unwrap();
    assert_eq!(host.kv.borrow().len(), 1);
    let resp = gw
        .handle(
            &host,
            post(json!({"model": "mock", "input": "two", "previous_response_id": first["id"]})),
        )
        .await;
    assert_eq!(resp.status, 200);
}

#[wasm_bindgen_test]
fn randomness_differs() {
    let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
    NodeHost::default().random(&mut a);
    NodeHost::default().random(&mut b);
    assert_ne!(a, b);
}
