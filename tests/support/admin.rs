//! The runtime-key lifecycle every host passes: issued through the admin
//! API, used, disabled (refused within the bound), deleted.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{client, config, Gateway};

/// The admin key of [`admin_config`].
pub const ADMIN: &str = "adm-0123456789abcdef";

/// The test config with an admin key, a config key `sk-plain-key`, the
/// team `alpha`, and records in `store`.
pub fn admin_config(mock: &str, store: &str) -> String {
    config(mock)
        + &format!(
            "auth:\n  admin_keys: [\"{ADMIN}\"]\n  api_keys:\n    - {{ name: plain, key: sk-plain-key }}\n  store: \"{store}\"\nteams:\n  - {{ name: alpha }}\nserver_extra: x\n"
        )
        .replace("server_extra: x\n", "")
}

/// One admin-API (or any) call: its status and JSON body.
pub fn admin_call(
    gw: &Gateway,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let c = client();
    let url = format!("{}{path}", gw.url);
    let mut rb = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PATCH" => c.patch(url),
        "DELETE" => c.delete(url),
        _ => unreachable!(),
    };
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = &body {
        rb = rb.json(b);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let answer = r.json().unwrap_or(Value::Null);
    checked(method, path, status, body.as_ref(), &answer);
    (status, answer)
}

/// Checks an admin-API answer against `docs/admin-openapi.json`.
fn checked(method: &str, path: &str, status: u16, body: Option<&Value>, answer: &Value) {
    if path.starts_with("/v1/admin/") {
        spec_check::assert_admin_answer(method, path, status, body, answer);
    }
}

/// The admin key of [`config_with_admin`].
pub const ADMIN_KEY: &str = "adm-0123456789abcdef";

/// The test config with an admin key and a team.
pub fn config_with_admin(mock: &str) -> String {
    config(mock)
        + &format!("auth:\n  admin_keys: [\"{ADMIN_KEY}\"]\nteams:\n  - {{ name: alpha }}\n")
}

fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = client()
        .request(method.clone(), format!("{}{path}", gw.url))
        .bearer_auth(key);
    if let Some(b) = &body {
        rb = rb.json(b);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let answer = r.json().unwrap_or(Value::Null);
    checked(method.as_str(), path, status, body.as_ref(), &answer);
    (status, answer)
}

fn use_key(gw: &Gateway, key: &str) -> u16 {
    let body = json!({"model": "gpt-4o-mini", "input": "hi"});
    send(gw, reqwest::Method::POST, "/v1/responses", key, Some(body)).0
}

/// Which edge host a shared check runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The Worker under workerd: WebSockets, and records in Durable
    /// Objects that compare and set in one step.
    Worker,
    /// The Spin harness: no WebSockets; records in its key-value store,
    /// per instance.
    Spin,
}

/// Create, use, disable (refused within 5 s, on an open WebSocket too
/// where the host has them), delete. On the Worker the disabling races
/// a rename, and both are kept.
pub fn edge_key_lifecycle(gw: &Gateway, edge: Edge) {
    let websocket = edge == Edge::Worker;
    let body = json!({"name": "edge", "team": "alpha"});
    let (status, created) = send(
        gw,
        reqwest::Method::POST,
        "/v1/admin/keys",
        ADMIN_KEY,
        Some(body),
    );
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(use_key(gw, &secret), 200);
    // Its use is counted, in the host's shared counters.
    let start = Instant::now();
    loop {
        let usage = format!("/v1/admin/usage?key={id}");
        let (status, u) = send(gw, reqwest::Method::GET, &usage, ADMIN_KEY, None);
        assert_eq!(status, 200, "{u}");
        if u["by_model"]["gpt-4o-mini"]["requests"] == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no usage: {u}");
        std::thread::sleep(Duration::from_millis(100));
    }
    edge_team_lifecycle(gw, &id);
    // A WebSocket opened with the key: its turns stop with the key.
    let mut ws = websocket.then(|| ws_socket(gw, &secret));
    if let Some(ws) = ws.as_mut() {
        assert_eq!(ws_turn(ws).unwrap()["type"], "response.completed");
    }
    let path = format!("/v1/admin/keys/{id}");
    if edge == Edge::Worker {
        let answers = std::thread::scope(|s| {
            let patches = [json!({"disabled": true}), json!({"name": "edge renamed"})];
            let handles: Vec<_> = patches
                .into_iter()
                .map(|p| s.spawn(|| send(gw, reqwest::Method::PATCH, &path, ADMIN_KEY, Some(p))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        for (status, body) in answers {
            assert_eq!(status, 200, "{body}");
        }
        let (_, key) = send(gw, reqwest::Method::GET, &path, ADMIN_KEY, None);
        assert_eq!(key["disabled"], true, "a concurrent PATCH was lost: {key}");
        assert_eq!(
            key["name"], "edge renamed",
            "a concurrent PATCH was lost: {key}"
        );
    } else {
        let patch = json!({"disabled": true});
        assert_eq!(
            send(gw, reqwest::Method::PATCH, &path, ADMIN_KEY, Some(patch)).0,
            200
        );
    }
    let start = Instant::now();
    while use_key(gw, &secret) != 401 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still served 5 s after it was disabled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let start = Instant::now();
    while let Some(ws) = ws.as_mut() {
        match ws_turn(ws) {
            Some(v) if v["type"] == "error" => break,
            // Closed (1008) before or after its error frame.
            None => break,
            Some(_) => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the open WebSocket still served turns 5 s after the key was disabled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        send(gw, reqwest::Method::DELETE, &path, ADMIN_KEY, None).0,
        200
    );
    assert_eq!(
        send(gw, reqwest::Method::GET, &path, ADMIN_KEY, None).0,
        404
    );
    assert_eq!(use_key(gw, &secret), 401);
}

/// A runtime team: its key works until the team is disabled; a team with
/// keys cannot be deleted, then can.
fn edge_team_lifecycle(gw: &Gateway, tag: &str) {
    let name = format!("team-{tag}");
    let team = json!({"name": name, "models": ["gpt-4o-mini"]});
    let (status, t) = send(
        gw,
        reqwest::Method::POST,
        "/v1/admin/teams",
        ADMIN_KEY,
        Some(team),
    );
    assert_eq!(status, 201, "{t}");
    let body = json!({"name": "member", "team": name});
    let (status, k) = send(
        gw,
        reqwest::Method::POST,
        "/v1/admin/keys",
        ADMIN_KEY,
        Some(body),
    );
    assert_eq!(status, 201, "{k}");
    let (secret, id) = (k["key"].as_str().unwrap(), k["id"].as_str().unwrap());
    assert_eq!(use_key(gw, secret), 200);
    let team_path = format!("/v1/admin/teams/{name}");
    let off = json!({"disabled": true});
    assert_eq!(
        send(gw, reqwest::Method::PATCH, &team_path, ADMIN_KEY, Some(off)).0,
        200
    );
    let start = Instant::now();
    while use_key(gw, secret) != 401 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "its team is disabled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        send(gw, reqwest::Method::DELETE, &team_path, ADMIN_KEY, None).0,
        409
    );
    let key_path = format!("/v1/admin/keys/{id}");
    assert_eq!(
        send(gw, reqwest::Method::DELETE, &key_path, ADMIN_KEY, None).0,
        200
    );
    assert_eq!(
        send(gw, reqwest::Method::DELETE, &team_path, ADMIN_KEY, None).0,
        200
    );
}

/// A client WebSocket.
pub type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A WebSocket to `/v1/responses` with `key`.
pub fn ws_socket(gw: &Gateway, key: &str) -> Socket {
    use tungstenite::client::IntoClientRequest;
    let url = gw.url.replace("http://", "ws://") + "/v1/responses";
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tungstenite::connect(req).unwrap().0
}

/// One turn: its terminal message, or `None` once the socket closed.
pub fn ws_turn(ws: &mut Socket) -> Option<Value> {
    ws_turn_with(ws, "gpt-4o-mini")
}

/// [`ws_turn`] to `model`.
pub fn ws_turn_with(ws: &mut Socket, model: &str) -> Option<Value> {
    use tungstenite::Message;
    let body = json!({"type": "response.create", "model": model, "input": "hi"});
    ws.send(Message::text(body.to_string())).ok()?;
    loop {
        match ws.read().ok()? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).ok()?;
                if matches!(
                    v["type"].as_str(),
                    Some("response.completed" | "response.failed" | "error")
                ) {
                    return Some(v);
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}
