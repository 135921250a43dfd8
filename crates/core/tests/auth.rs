//! Authentication through the pipeline: a fake OIDC issuer (discovery and
//! JWKS served by the host), keys generated here, tokens signed here.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use latticelm_core::{
    Body, Config, Gateway, Host, HostError, HttpRequest, UpstreamRequest, UpstreamResponse,
};
use serde_json::{json, Value};

const ISSUER: &str = "https://issuer.test";
const NOW: u64 = 1_800_000_000;

/// Serves discovery and the JWKS; counts fetches.
#[derive(Clone, Default)]
struct IssuerHost {
    jwks: Rc<RefCell<Value>>,
    fetches: Rc<Cell<u32>>,
    clock: Rc<Cell<u64>>,
    kv: Rc<RefCell<HashMap<String, Vec<u8>>>>,
    /// The issuer cannot be reached.
    down: Rc<Cell<bool>>,
    /// The discovery document's jwks_uri, when not the default.
    jwks_uri: Rc<RefCell<Option<String>>>,
}

/// Pending once, then ready: lets other requests run in between.
struct YieldOnce(bool);
impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl Host for IssuerHost {
    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        YieldOnce(false).await;
        if self.down.get() {
            return Err(HostError::Transport("connection refused".into()));
        }
        let body = match req.url.as_str() {
            "https://issuer.test/.well-known/openid-configuration" => {
                let uri = self.jwks_uri.borrow().clone();
                json!({"issuer": ISSUER, "jwks_uri": uri.unwrap_or_else(|| "https://issuer.test/jwks".into())})
            }
            "https://issuer.test/jwks" => {
                self.fetches.set(self.fetches.get() + 1);
                self.jwks.borrow().clone()
            }
            other => return Err(HostError::Transport(format!("unexpected fetch {other}"))),
        };
        let chunks = vec![Ok(Bytes::from(body.to_string()))];
        Ok(UpstreamResponse {
            status: 200,
            headers: vec![],
            body: futures::stream::iter(chunks).boxed_local(),
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
        UNIX_EPOCH + Duration::from_secs(NOW + self.clock.get())
    }
    async fn sleep(&self, _: Duration) {
        futures::future::pending::<()>().await
    }
    fn with_routing<R>(
        &self,
        f: impl FnOnce(&mut latticelm_core::routing::RoutingState) -> R,
    ) -> R {
        f(&mut Default::default())
    }
    fn random(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

struct Keys {
    rsa: RsaPrivateKey,
    rsa2: RsaPrivateKey,
    ec: p256::ecdsa::SigningKey,
    ed: ed25519_dalek::SigningKey,
}

fn keys() -> Keys {
    let mut rng = rand_core::OsRng;
    Keys {
        rsa: RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        rsa2: RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        ec: p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap(),
        ed: ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
    }
}

fn jwk(key: JsonWebKey<'_>, kid: &str) -> Value {
    let mut v = serde_json::to_value(key).unwrap();
    v["kid"] = json!(kid);
    v
}

fn jwks(k: &Keys, rsa_kid: &str) -> Value {
    json!({"keys": [
        jwk(JsonWebKey::from(&RsaPublicKey::from(&k.rsa)), rsa_kid),
        jwk(JsonWebKey::from(k.ec.verifying_key()), "ec-1"),
        jwk(JsonWebKey::from(&k.ed.verifying_key()), "ed-1"),
    ]})
}

fn claims(extra: Value) -> Claims<Value> {
    let mut custom = json!({"iss": ISSUER, "sub": "user-42", "aud": "latticelm"});
    for (k, v) in extra.as_object().unwrap() {
        custom[k] = v.clone();
    }
    let mut c = Claims::new(custom);
    c.expiration = chrono::DateTime::from_timestamp(NOW as i64 + 600, 0);
    c
}

fn rs256(key: &RsaPrivateKey, kid: &str, c: &Claims<Value>) -> String {
    Rsa::rs256()
        .token(&Header::empty().with_key_id(kid), c, key)
        .unwrap()
}

fn gateway(audience: &str) -> Gateway {
    let yaml = format!(
        "providers: {{ m: {{ type: mock }} }}\nmodels: [ {{ name: mock, provider: m }}, {{ name: other, provider: m }} ]\n\
         auth:\n  enabled: true\n  issuer: \"{ISSUER}\"\n  audience: {audience}\n  api_keys:\n    - {{ name: team-a, key: \"secret-a\", models: [mock] }}\n    - {{ name: team-b, sha256: \"{}\" }}\n",
        hex(&sha2_digest(b"secret-b"))
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

fn sha2_digest(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn call(
    gw: &Gateway,
    host: &IssuerHost,
    headers: Vec<(&str, String)>,
    model: &str,
) -> (u16, Value, Vec<(String, String)>) {
    let req = HttpRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        headers: headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .chain([("content-type".to_owned(), "application/json".to_owned())])
            .collect(),
        body: Bytes::from(json!({"model": model, "input": "hi"}).to_string()),
        ..Default::default()
    };
    futures::executor::block_on(async {
        let resp = gw.handle(host, req).await;
        let body = match resp.body {
            Body::Full(b) => b.to_vec(),
            Body::Stream(s) => s.collect::<Vec<_>>().await.concat(),
        };
        (
            resp.status,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            resp.headers,
        )
    })
}

fn bearer(t: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {t}"))]
}

fn code(r: &(u16, Value, Vec<(String, String)>)) -> (u16, String) {
    (r.0, r.1["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[test]
fn tokens() {
    let k = keys();
    let host = IssuerHost::default();
    *host.jwks.borrow_mut() = jwks(&k, "rsa-1");
    let gw = gateway("latticelm");

    // Valid tokens, for each algorithm.
    let ok = rs256(&k.rsa, "rsa-1", &claims(json!({})));
    assert_eq!(call(&gw, &host, bearer(&ok), "mock").0, 200);
    let es = Es256
        .token(
            &Header::empty().with_key_id("ec-1"),
            &claims(json!({})),
            &k.ec,
        )
        .unwrap();
    assert_eq!(call(&gw, &host, bearer(&es), "mock").0, 200, "ES256");
    let ed = Ed25519
        .token(
            &Header::empty().with_key_id("ed-1"),
            &claims(json!({})),
            &k.ed,
        )
        .unwrap();
    assert_eq!(call(&gw, &host, bearer(&ed), "mock").0, 200, "EdDSA");
    assert_eq!(host.fetches.get(), 1, "the JWKS is cached");

    // Tampered signature and payload.
    let mut parts: Vec<String> = ok.split('.').map(str::to_owned).collect();
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&parts[2])
        .unwrap();
    sig[10] ^= 1;
    parts[2] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    let r = call(&gw, &host, bearer(&parts.join(".")), "mock");
    assert_eq!(code(&r), (401, "invalid_token".into()));
    let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"iss": ISSUER, "sub": "admin", "exp": NOW + 600}).to_string());
    let forged = format!(
        "{}.{}.{}",
        ok.split('.').next().unwrap(),
        forged_claims,
        ok.split('.').nth(2).unwrap()
    );
    assert_eq!(
        code(&call(&gw, &host, bearer(&forged), "mock")),
        (401, "invalid_token".into())
    );

    // alg: none.
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "rsa-1"})),
        b64(json!({"iss": ISSUER, "sub": "x", "exp": NOW + 600}))
    );
    let r = call(&gw, &host, bearer(&none), "mock");
    assert_eq!(r.0, 401, "alg none: {}", r.1);
    let none2 = format!(
        "{}.{}.x",
        b64(json!({"alg": "none", "kid": "rsa-1"})),
        b64(json!({"iss": ISSUER, "sub": "x", "exp": NOW + 600}))
    );
    assert_eq!(call(&gw, &host, bearer(&none2), "mock").0, 401);

    // HS256 signed with the public key as the secret.
    let public_pem_like =
        serde_json::to_vec(&jwk(JsonWebKey::from(&RsaPublicKey::from(&k.rsa)), "rsa-1")).unwrap();
    let hs = Hs256
        .token(
            &Header::empty().with_key_id("rsa-1"),
            &claims(json!({})),
            &Hs256Key::new(&public_pem_like),
        )
        .unwrap();
    let r = call(&gw, &host, bearer(&hs), "mock");
    assert_eq!(code(&r), (401, "invalid_token".into()));
    assert!(r.1["error"]["message"].as_str().unwrap().contains("HS256"));

    // Expired; not yet valid; within leeway.
    let mut c = claims(json!({}));
    c.expiration = chrono::DateTime::from_timestamp(NOW as i64 - 120, 0);
    assert_eq!(
        code(&call(
            &gw,
            &host,
            bearer(&rs256(&k.rsa, "rsa-1", &c)),
            "mock"
        )),
        (401, "token_expired".into())
    );
    c.expiration = chrono::DateTime::from_timestamp(NOW as i64 - 30, 0);
    assert_eq!(
        call(&gw, &host, bearer(&rs256(&k.rsa, "rsa-1", &c)), "mock").0,
        200,
        "inside the 60 s leeway"
    );
    let mut c = claims(json!({}));
    c.not_before = chrono::DateTime::from_timestamp(NOW as i64 + 300, 0);
    assert_eq!(
        code(&call(
            &gw,
            &host,
            bearer(&rs256(&k.rsa, "rsa-1", &c)),
            "mock"
        )),
        (401, "token_not_yet_valid".into())
    );

    // Wrong issuer; wrong audience.
    let r = call(
        &gw,
        &host,
        bearer(&rs256(
            &k.rsa,
            "rsa-1",
            &claims(json!({"iss": "https://evil.test"})),
        )),
        "mock",
    );
    assert!(r.1["error"]["message"].as_str().unwrap().contains("issuer"));
    let r = call(
        &gw,
        &host,
        bearer(&rs256(
            &k.rsa,
            "rsa-1",
            &claims(json!({"aud": "someone-else"})),
        )),
        "mock",
    );
    assert!(
        r.0 == 401
            && r.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains("audience")
    );
    // The token's aud as a list.
    assert_eq!(
        call(
            &gw,
            &host,
            bearer(&rs256(
                &k.rsa,
                "rsa-1",
                &claims(json!({"aud": ["x", "latticelm"]}))
            )),
            "mock"
        )
        .0,
        200
    );

    // Failures carry WWW-Authenticate, and never echo the token.
    let r = call(&gw, &host, bearer(&parts.join(".")), "mock");
    let challenge =
        r.2.iter()
            .find(|(k, _)| k == "www-authenticate")
            .map(|(_, v)| v.clone())
            .unwrap();
    assert!(challenge.starts_with("Bearer realm=\"latticelm\", error=\"invalid_token\""));
    assert!(!r.1.to_string().contains(&parts[2]) && !challenge.contains(&parts[2]));
}

#[test]
fn audience_list_in_config_and_key_rotation() {
    let k = keys();
    let host = IssuerHost::default();
    *host.jwks.borrow_mut() = jwks(&k, "rsa-1");
    let gw = gateway("[web, latticelm]");
    assert_eq!(
        call(
            &gw,
            &host,
            bearer(&rs256(&k.rsa, "rsa-1", &claims(json!({"aud": "web"})))),
            "mock"
        )
        .0,
        200
    );
    assert_eq!(host.fetches.get(), 1);
    // The issuer rotates to a new key: an unknown kid triggers one refetch…
    host.clock.set(40);
    let mut rotated = jwks(&k, "rsa-1");
    rotated["keys"]
        .as_array_mut()
        .unwrap()
        .push(jwk(JsonWebKey::from(&RsaPublicKey::from(&k.rsa2)), "rsa-2"));
    *host.jwks.borrow_mut() = rotated;
    let new = rs256(&k.rsa2, "rsa-2", &claims(json!({})));
    assert_eq!(
        call(&gw, &host, bearer(&new), "mock").0,
        200,
        "rotation picked up"
    );
    assert_eq!(host.fetches.get(), 2);
    // …rate-limited: another unknown kid right after does not refetch.
    let bogus = rs256(&k.rsa2, "rsa-9", &claims(json!({})));
    assert_eq!(call(&gw, &host, bearer(&bogus), "mock").0, 401);
    assert_eq!(host.fetches.get(), 2);
}

#[test]
fn api_keys_and_model_allow_list() {
    let host = IssuerHost::default();
    let gw = gateway("latticelm");
    assert_eq!(call(&gw, &host, bearer("secret-a"), "mock").0, 200);
    assert_eq!(
        call(&gw, &host, vec![("x-api-key", "secret-b".into())], "other").0,
        200,
        "x-api-key and sha256 keys"
    );
    let r = call(&gw, &host, bearer("secret-a"), "other");
    assert_eq!(code(&r), (403, "model_not_allowed".into()));
    assert_eq!(r.1["error"]["param"], "model");
    let r = call(&gw, &host, bearer("wrong"), "mock");
    assert_eq!(code(&r), (401, "invalid_api_key".into()));
    assert!(
        !r.1.to_string().contains("wrong"),
        "the credential is not echoed"
    );
    let r = call(&gw, &host, vec![], "mock");
    assert_eq!(code(&r), (401, "missing_credentials".into()));
    assert!(r
        .2
        .iter()
        .any(|(k, v)| k == "www-authenticate" && v == "Bearer realm=\"latticelm\""));
    // /health stays open; /v1/models is filtered for the key.
    let get = |path: &str, h: Vec<(&str, String)>| {
        let req = HttpRequest {
            method: "GET".into(),
            path: path.into(),
            headers: h.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ..Default::default()
        };
        futures::executor::block_on(async {
            let resp = gw.handle(&host, req).await;
            let Body::Full(b) = resp.body else { panic!() };
            (resp.status, serde_json::from_slice::<Value>(&b).unwrap())
        })
    };
    assert_eq!(get("/health", vec![]).0, 200);
    assert_eq!(get("/v1/models", vec![]).0, 401);
    let (s, list) = get("/v1/models", bearer("secret-a"));
    assert_eq!((s, list["data"].as_array().unwrap().len()), (200, 1));
}

#[test]
fn jwks_is_fetched_once_for_many_and_served_stale_when_the_issuer_is_down() {
    let k = keys();
    let host = IssuerHost::default();
    *host.jwks.borrow_mut() = jwks(&k, "rsa-1");
    let gw = gateway("latticelm");
    let token = rs256(&k.rsa, "rsa-1", &claims(json!({})));
    // Ten requests at once on a cold cache: one fetch.
    let statuses = futures::executor::block_on(futures::future::join_all((0..10).map(|_| {
        let req = HttpRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            headers: vec![
                ("authorization".into(), format!("Bearer {token}")),
                ("content-type".into(), "application/json".into()),
            ],
            body: Bytes::from(json!({"model": "mock", "input": "hi"}).to_string()),
            ..Default::default()
        };
        let (gw, host) = (&gw, &host);
        async move { gw.handle(host, req).await.status }
    })));
    assert_eq!(statuses, vec![200; 10]);
    assert_eq!(
        host.fetches.get(),
        1,
        "a single fetch for concurrent requests"
    );
    // Past the TTL with the issuer down: the last good keys still verify.
    host.down.set(true);
    host.clock.set(2 * 3600);
    let mut c = claims(json!({}));
    c.expiration = chrono::DateTime::from_timestamp((NOW + 2 * 3600 + 600) as i64, 0);
    let token = rs256(&k.rsa, "rsa-1", &c);
    let r = call(&gw, &host, bearer(&token), "mock");
    assert_eq!(r.0, 200, "stale-if-error: {}", r.1);
    // Not forever.
    host.clock.set(3 * 24 * 3600);
    let mut c = claims(json!({}));
    c.expiration = chrono::DateTime::from_timestamp((NOW + 3 * 24 * 3600 + 600) as i64, 0);
    let r = call(&gw, &host, bearer(&rs256(&k.rsa, "rsa-1", &c)), "mock");
    assert_eq!(r.0, 503, "{}", r.1);
}

#[test]
fn a_discovered_jwks_uri_must_be_https() {
    let k = keys();
    let host = IssuerHost::default();
    *host.jwks.borrow_mut() = jwks(&k, "rsa-1");
    *host.jwks_uri.borrow_mut() = Some("http://issuer.test/jwks".into());
    let gw = gateway("latticelm");
    let r = call(
        &gw,
        &host,
        bearer(&rs256(&k.rsa, "rsa-1", &claims(json!({})))),
        "mock",
    );
    assert_eq!(r.0, 503, "{}", r.1);
    assert!(r.1.to_string().contains("not an https:// URL"), "{}", r.1);
    assert_eq!(host.fetches.get(), 0, "the keys were not fetched over http");
}

#[test]
fn malformed_alg_or_kid_is_a_401() {
    let host = IssuerHost::default();
    let gw = gateway("latticelm");
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = b64(json!({"iss": ISSUER, "sub": "x", "aud": "latticelm", "exp": NOW + 600}));
    for header in [
        json!({"alg": 7}),
        json!({"alg": null}),
        json!({"alg": ["RS256"]}),
        json!({"alg": "RS256", "kid": {"x": 1}}),
        json!({"alg": "RS256", "kid": 12}),
        json!({"alg": "RS256\u{0}", "kid": "a"}),
        json!({}),
    ] {
        let token = format!("{}.{payload}.c2ln", b64(header.clone()));
        let r = call(&gw, &host, bearer(&token), "mock");
        assert_eq!(r.0, 401, "{header}: {}", r.1);
    }
}
