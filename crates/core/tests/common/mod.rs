//! Test support: a fake host with canned upstream answers, SSE parsing of
//! the gateway's output, and validation against the spec's OpenAPI schemas.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use latticelm_core::{
    Body, Config, Gateway, Host, HostError, HttpRequest, UpstreamRequest, UpstreamResponse,
};

use serde_json::Value;
#[allow(unused_imports)] // not every test binary validates
pub use spec_check::*;

pub mod recordings;
#[allow(unused_imports)] // not every test binary replays recordings
pub use recordings::*;

/// A canned upstream answer: status, headers and body chunks.
#[derive(Clone, Default)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Bytes>,
}

/// A host with a fixed clock, fixed randomness, a map store, and canned
/// upstream answers; it records every upstream request.
#[derive(Clone, Default)]
pub struct FakeHost {
    pub canned: Rc<RefCell<Vec<Canned>>>,
    pub sent: Rc<RefCell<Vec<UpstreamRequest>>>,
    pub kv: Rc<RefCell<HashMap<String, Vec<u8>>>>,
    /// Seconds added to the fixed clock.
    pub clock: Rc<std::cell::Cell<u64>>,
    /// Make every store write fail.
    pub fail_puts: Rc<std::cell::Cell<bool>>,
    /// Milliseconds added to the clock by `sleep`.
    pub slept_ms: Rc<std::cell::Cell<u64>>,
    /// Every sleep, in order.
    pub sleeps: Rc<RefCell<Vec<Duration>>>,
    /// Random draws so far.
    pub draws: Rc<std::cell::Cell<u64>>,
    /// The routing state (per host, as on a Worker isolate).
    pub routing: Rc<RefCell<latticelm_core::routing::RoutingState>>,
}

impl FakeHost {
    pub fn answering(c: Canned) -> Self {
        let h = FakeHost::default();
        h.canned.borrow_mut().push(c);
        h
    }
}

impl Host for FakeHost {
    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        self.sent.borrow_mut().push(req);
        let c = self
            .canned
            .borrow_mut()
            .pop()
            .ok_or_else(|| HostError::Transport("no canned answer".into()))?;
        // Status 0: the upstream sends no headers in time.
        if c.status == 0 {
            return Err(HostError::Timeout("no response headers in time".into()));
        }
        let chunks: Vec<Result<Bytes, HostError>> = c.chunks.into_iter().map(Ok).collect();
        Ok(UpstreamResponse {
            status: c.status,
            headers: c.headers,
            body: futures::stream::iter(chunks).boxed_local(),
        })
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    async fn kv_put(&self, key: &str, value: Vec<u8>, _ttl: Duration) -> Result<(), HostError> {
        if self.fail_puts.get() {
            return Err(HostError::Store("disk on fire".into()));
        }
        self.kv.borrow_mut().insert(key.into(), value);
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_800_000_000 + self.clock.get())
            + Duration::from_millis(self.slept_ms.get())
    }
    async fn sleep(&self, duration: Duration) {
        self.sleeps.borrow_mut().push(duration);
        self.slept_ms
            .set(self.slept_ms.get() + duration.as_millis() as u64);
    }
    fn with_routing<R>(
        &self,
        f: impl FnOnce(&mut latticelm_core::routing::RoutingState) -> R,
    ) -> R {
        f(&mut self.routing.borrow_mut())
    }
    fn random(&self, buf: &mut [u8]) {
        // Fixed, but a different draw each call (the first is the same
        // for every host, so snapshots stay stable).
        let n = self.draws.get();
        self.draws.set(n + 1);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11) ^ (n as u8).wrapping_mul(101);
        }
    }
}

/// A gateway with one provider `up` of the given type at a fake endpoint.
pub fn gateway(kind: &str) -> Gateway {
    let yaml = format!(
        "providers:\n  up: {{ type: {kind}, endpoint: \"http://upstream.test\", api_key: sk-test }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\n"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

/// A gateway like [`gateway`] whose provider lets every caller send
/// `service_tier` and the other passthrough fields (translation tests).
pub fn gateway_passthrough(kind: &str) -> Gateway {
    let yaml = format!(
        "providers:\n  up: {{ type: {kind}, endpoint: \"http://upstream.test\", api_key: sk-test, passthrough: [service_tier, conversation, prompt, top_k, repetition_penalty] }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\n"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

/// A gateway like [`gateway`] whose provider allows these passthrough
/// names (a YAML list's items, comma-separated).
pub fn gateway_passthrough_of(kind: &str, allowed: &str) -> Gateway {
    let yaml = format!(
        "providers:\n  up: {{ type: {kind}, endpoint: \"http://upstream.test\", api_key: sk-test, passthrough: [{allowed}] }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\n"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

/// A gateway like [`gateway`], with extra top-level YAML.
pub fn gateway_with(kind: &str, extra: &str) -> Gateway {
    let yaml = format!(
        "providers:\n  up: {{ type: {kind}, endpoint: \"http://upstream.test\", api_key: sk-test }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\n{extra}"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

/// A POST /v1/responses request.
pub fn post(body: &Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(serde_json::to_vec(body).unwrap()),
        ..Default::default()
    }
}

/// A GET or DELETE of a path, with a query string.
pub fn request(method: &str, path: &str, query: &str, principal: Option<&str>) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: principal
            .map(|p| vec![("x-test-principal".to_owned(), p.to_owned())])
            .unwrap_or_default(),
        body: Bytes::new(),
    }
}

/// Runs a request; returns the status and the body chunks.
pub fn run(gw: &Gateway, host: &FakeHost, req: HttpRequest) -> (u16, Vec<Bytes>) {
    futures::executor::block_on(async {
        let resp = gw.handle(host, req).await;
        let chunks = match resp.body {
            Body::Full(b) => vec![b],
            Body::Stream(s) => s.collect().await,
        };
        (resp.status, chunks)
    })
}

/// [`run`], with the response headers.
pub fn run_full(
    gw: &Gateway,
    host: &FakeHost,
    req: HttpRequest,
) -> (u16, Vec<Bytes>, Vec<(String, String)>) {
    futures::executor::block_on(async {
        let resp = gw.handle(host, req).await;
        let chunks = match resp.body {
            Body::Full(b) => vec![b],
            Body::Stream(s) => s.collect().await,
        };
        (resp.status, chunks, resp.headers)
    })
}

/// Every recorded stream as the SSE its provider sends (CRLF line ends),
/// with the provider type that reads it.
pub fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let base = shared_dir().join("fixtures");
    let mut out = Vec::new();
    for (dir, kind) in [
        ("openai-responses", "openai"),
        ("open-responses", "openai"),
        ("azure-openai-responses", "openai"),
        ("openai-chat", "openai-chat"),
        ("anthropic", "anthropic"),
        ("google", "google"),
    ] {
        for entry in std::fs::read_dir(base.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".chunks.txt") {
                let text = std::fs::read_to_string(&path).unwrap();
                // The same bytes as `sse_of`, with CRLF line ends.
                let sse = String::from_utf8(sse_of(kind, &text))
                    .unwrap()
                    .replace('\n', "\r\n")
                    .into_bytes();
                out.push((kind, sse));
            }
        }
    }
    out.sort();
    out
}
