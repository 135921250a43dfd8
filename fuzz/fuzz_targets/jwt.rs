//! Bearer credentials through authentication: arbitrary tokens (and
//! token-shaped strings) against an issuer with a real JWKS. Every
//! failure is a 401 (or 403), never a panic or a 500.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use latticelm_core::routing::RoutingState;
use latticelm_core::{
    Config, Gateway, Host, HostError, HttpRequest, UpstreamRequest, UpstreamResponse,
};
use libfuzzer_sys::fuzz_target;

/// RFC 7515 appendix A.3's P-256 key, and an Ed25519 one.
const JWKS: &str = r#"{"keys":[
 {"kty":"EC","crv":"P-256","kid":"ec-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
 {"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

#[derive(Clone, Default)]
struct FuzzHost {
    kv: std::rc::Rc<RefCell<HashMap<String, Vec<u8>>>>,
}

impl Host for FuzzHost {
    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        let body = match req.url.as_str() {
            "https://issuer.test/.well-known/openid-configuration" => {
                r#"{"issuer":"https://issuer.test","jwks_uri":"https://issuer.test/jwks"}"#
            }
            "https://issuer.test/jwks" => JWKS,
            _ => return Err(HostError::Transport("no such upstream".into())),
        };
        Ok(UpstreamResponse {
            status: 200,
            headers: vec![],
            body: futures::stream::iter([Ok(Bytes::from(body))]).boxed_local(),
        })
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    async fn kv_put(&self, key: &str, value: Vec<u8>, _: Duration) -> Result<(), HostError> {
        self.kv.borrow_mut().insert(key.into(), value);
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
    fn random(&self, buf: &mut [u8]) {
        buf.fill(3);
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
            "providers: { m: { type: mock } }\nmodels: [ { name: mock, provider: m } ]\nauth: { issuer: \"https://issuer.test\", audience: latticelm, api_keys: [ { name: k, key: key-1 } ] }\n",
            &|_| None,
        )
        .expect("config"),
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let req = HttpRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        headers: vec![
            ("authorization".into(), format!("Bearer {token}")),
            ("content-type".into(), "application/json".into()),
        ],
        body: Bytes::from_static(br#"{"model":"mock","input":"hi"}"#),
        ..Default::default()
    };
    let host = FuzzHost::default();
    let status = GATEWAY.with(|gw| futures::executor::block_on(gw.handle(&host, req)).status);
    assert!(matches!(status, 200 | 401 | 403), "status {status}");
});
