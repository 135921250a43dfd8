//! Bearer credentials through authentication: arbitrary tokens (and
//! token-shaped strings) against an issuer with a real JWKS. Every
//! failure is a 401 (or 403), never a panic or a 500.
#![no_main]

#[path = "host.rs"]
mod host;

use bytes::Bytes;
use host::FuzzHost;
use latticelm_core::{Config, Gateway, HttpRequest};
use libfuzzer_sys::fuzz_target;

/// RFC 7515 appendix A.3's P-256 key, and an Ed25519 one.
const JWKS: &str = r#"{"keys":[
 {"kty":"EC","crv":"P-256","kid":"ec-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
 {"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

/// The issuer's discovery document and keys.
const ISSUER: &[(&str, &str)] = &[
    (
        "https://issuer.test/.well-known/openid-configuration",
        r#"{"issuer":"https://issuer.test","jwks_uri":"https://issuer.test/jwks"}"#,
    ),
    ("https://issuer.test/jwks", JWKS),
];

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
    let host = FuzzHost::answering(ISSUER);
    let status = GATEWAY.with(|gw| futures::executor::block_on(gw.handle(&host, req)).status);
    assert!(matches!(status, 200 | 401 | 403), "status {status}");
});
