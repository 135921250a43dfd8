//! Conversations end to end: the real binary, the mock provider, and the
//! real stores (in-process memory, and a real `redis-server`).

mod support;

use serde_json::{json, Value};
use support::*;

/// Three turns on `model`; checks that the third upstream request holds
/// the whole prior context, in order.
fn three_turns(gw: &Gateway, other: Option<&Gateway>, model: &str) -> Value {
    gw.upstream_requests();
    let (s, first) = gw.post(&json!({"model": model, "input": "first"}));
    assert_eq!(s, 200, "{first}");
    let (s, second) = other
        .unwrap_or(gw)
        .post(&json!({"model": model, "input": "second", "previous_response_id": first["id"]}));
    assert_eq!(s, 200, "{second}");
    let (s, third) = gw.post(&json!({"model": model, "input": [{"role": "user", "content": "third"}], "previous_response_id": second["id"]}));
    assert_eq!(s, 200, "{third}");
    let sent = gw.upstream_requests();
    let last = &sent.last().unwrap()["body"];
    assert_eq!(
        last["messages"],
        json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "echo: first"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "echo: second"},
            {"role": "user", "content": "third"},
        ])
    );
    third
}

#[test]
fn memory_store_continuation_retrieval_and_deletion() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(
        &config_with_conversations(&mock, "{ store: memory, ttl: 1h }"),
        mock,
    );
    let third = three_turns(&gw, None, "llama");
    let id = third["id"].as_str().unwrap();
    let (s, got) = gw.get(&format!("/v1/responses/{id}"));
    assert_eq!((s, &got), (200, &third));
    let (s, items) = gw.get(&format!(
        "/v1/responses/{id}/input_items?order=asc&limit=10"
    ));
    assert_eq!(s, 200);
    let texts: Vec<&str> = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["content"]
                .as_str()
                .or(i["content"][0]["text"].as_str())
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        texts,
        ["first", "echo: first", "second", "echo: second", "third"]
    );
    let r = client()
        .delete(format!("{}/v1/responses/{id}", gw.url))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(gw.get(&format!("/v1/responses/{id}")).0, 404);
    // Streaming responses are stored once complete, and continue.
    let (_, events) =
        gw.stream(&json!({"model": "claude-test", "input": "streamed", "stream": true}));
    let done = &events.last().unwrap().1["response"];
    let (s, next) = gw.post(
        &json!({"model": "gemini-test", "input": "after", "previous_response_id": done["id"]}),
    );
    assert_eq!(s, 200, "a Claude conversation continues on Gemini: {next}");
    let sent = gw.upstream_requests();
    let contents = &sent.last().unwrap()["body"]["contents"];
    assert_eq!(
        contents[1],
        json!({"role": "model", "parts": [{"text": "echo: streamed"}]})
    );
}

#[test]
fn ownership_across_principals() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_conversations(&mock, "{ ttl: 1h }"), mock);
    let as_user = |who: &str, body: &Value| {
        let r = client()
            .post(format!("{}/v1/responses", gw.url))
            .header("x-test-principal", who)
            .json(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (_, mine) = as_user("alice", &json!({"model": "llama", "input": "private"}));
    let (s, e) = as_user(
        "bob",
        &json!({"model": "llama", "input": "x", "previous_response_id": mine["id"]}),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
    let r = client()
        .get(format!(
            "{}/v1/responses/{}",
            gw.url,
            mine["id"].as_str().unwrap()
        ))
        .header("x-test-principal", "bob")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (s, _) = as_user(
        "alice",
        &json!({"model": "llama", "input": "x", "previous_response_id": mine["id"]}),
    );
    assert_eq!(s, 200);
}

#[test]
fn store_false_and_expiry_on_the_memory_store() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_conversations(&mock, "{ ttl: 2s }"), mock);
    let (_, unstored) = gw.post(&json!({"model": "llama", "input": "a", "store": false}));
    let (s, e) =
        gw.post(&json!({"model": "llama", "input": "b", "previous_response_id": unstored["id"]}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
    let asked = std::time::Instant::now();
    let (_, stored) = gw.post(&json!({"model": "llama", "input": "a"}));
    expires_after_its_ttl(&gw, &stored, asked, 2);
}

/// Reads `stored` (asked for at `asked`) back within its TTL of
/// `ttl_secs`, when the machine was quick enough to ask in time (a loaded
/// CI runner may not be), and again after it, when it must be gone.
fn expires_after_its_ttl(gw: &Gateway, stored: &Value, asked: std::time::Instant, ttl_secs: u64) {
    let path = format!("/v1/responses/{}", stored["id"].as_str().unwrap());
    let first = gw.get(&path).0;
    let ttl = std::time::Duration::from_secs(ttl_secs);
    if asked.elapsed() < ttl {
        assert_eq!(first, 200, "readable within its TTL");
    }
    std::thread::sleep(
        (ttl + std::time::Duration::from_millis(300)).saturating_sub(asked.elapsed()),
    );
    assert_eq!(gw.get(&path).0, 404, "gone after its TTL");
}

#[test]
fn redis_store_shared_by_two_gateways() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let cfg = config_with_conversations(
        &mock,
        &format!("{{ store: redis, url: \"{}\", ttl: 1h }}", redis.url),
    );
    let a = start_with(&cfg, mock.clone());
    let b = start_with(&cfg, mock);
    // Created on one process, continued on the other, and back.
    let third = three_turns(&a, Some(&b), "llama");
    let (s, got) = b.get(&format!("/v1/responses/{}", third["id"].as_str().unwrap()));
    assert_eq!((s, &got), (200, &third));
}

#[test]
fn redis_ttl_expires_entries() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(
        &config_with_conversations(
            &mock,
            &format!("{{ store: redis, url: \"{}\", ttl: 2s }}", redis.url),
        ),
        mock,
    );
    let asked = std::time::Instant::now();
    let (_, r) = gw.post(&json!({"model": "llama", "input": "a"}));
    expires_after_its_ttl(&gw, &r, asked, 2);
}

#[test]
fn redis_down_means_503_not_success() {
    let Some(redis) = redis() else { return };
    let url = redis.url.clone();
    drop(redis); // nobody listens there any more
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(
        &config_with_conversations(
            &mock,
            &format!("{{ store: redis, url: \"{url}\", ttl: 1h }}"),
        ),
        mock,
    );
    let (s, e) = gw.post(&json!({"model": "llama", "input": "a"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{e}"
    );
    let (s, _) = gw.post(&json!({"model": "llama", "input": "a", "store": false}));
    assert_eq!(s, 200, "store: false does not need the store");
}

#[test]
fn redis_over_tls_with_a_password() {
    let Some((redis, ca, _dir)) = redis_tls("s3cret-pw") else {
        return;
    };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let store = |url: &str| {
        format!(
            "{{ store: redis, url: \"{url}\", ca_file: \"{}\", ttl: 1h }}",
            ca.display()
        )
    };
    let gw = start_with(
        &config_with_conversations(&mock, &store(&redis.url)),
        mock.clone(),
    );
    let (s, first) = gw.post(&json!({"model": "llama", "input": "over tls"}));
    assert_eq!(s, 200, "{first}");
    let (s, second) =
        gw.post(&json!({"model": "llama", "input": "again", "previous_response_id": first["id"]}));
    assert_eq!(s, 200, "{second}");
    // A wrong password: the store refuses, the client gets a 503 that
    // does not repeat the password.
    let wrong = redis.url.replace("s3cret-pw", "wrong-pw");
    let gw = start_with(&config_with_conversations(&mock, &store(&wrong)), mock);
    let (s, e) = gw.post(&json!({"model": "llama", "input": "x"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{e}"
    );
    assert!(!e.to_string().contains("wrong-pw"));
}
