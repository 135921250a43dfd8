//! The response cache on the native binary: a repeat on every upstream
//! protocol is a hit (one upstream call), streamed or not, valid against
//! the spec; the key ignores what it should and not more; tenants never
//! share entries unless configured; hits through the other front doors,
//! in conversations, and under limits.

mod support;

use serde_json::{json, Value};
use support::*;

#[test]
fn a_repeat_on_every_protocol_is_one_upstream_call() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_cache(&mock, "principal"), mock);
    for model in CACHED_MODELS {
        let calls = hit_after_miss(&gw, model, &format!("cache me, {model}"), &[]);
        assert_eq!(calls, 1, "{model}: one upstream call for three answers");
    }
    // Streamed first, then not: the stream's answer is cached too.
    let body = json!({"model": "claude-test", "input": "streamed first", "stream": true});
    let first = send(&gw, "/v1/responses", &[], &body);
    assert_eq!(first.cache, "miss");
    let whole = send(
        &gw,
        "/v1/responses",
        &[],
        &json!({"model": "claude-test", "input": "streamed first"}),
    );
    assert_eq!(whole.cache, "hit");
    assert_eq!(
        output_text(&whole.body),
        output_text(&completed(&first.body))
    );
}

#[test]
fn the_key_ignores_form_and_counts_what_changes_the_answer() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_cache(&mock, "principal"), mock);
    let raw = |text: &str| {
        client()
            .post(format!("{}/v1/responses", gw.url))
            .header("content-type", "application/json")
            .body(text.to_owned())
            .send()
            .unwrap()
            .headers()["x-latticelm-cache"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        raw(r#"{"model":"llama","input":"k","temperature":1,"metadata":{"a":"1"}}"#),
        "miss"
    );
    assert_eq!(raw("{ \"temperature\": 1.0,\n  \"input\": \"k\", \"model\": \"llama\", \"metadata\": {\"b\": \"2\"} }"), "hit");
    assert_eq!(
        raw(r#"{"model":"llama","input":"k","temperature":1,"stream":true}"#),
        "hit"
    );
    assert_eq!(
        raw(r#"{"model":"llama","input":"k","temperature":0.2}"#),
        "miss"
    );
    let tool = r#"{"model":"llama","input":"k","temperature":1,"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{}}}]}"#;
    assert_eq!(raw(tool), "miss");
    assert_eq!(raw(tool), "hit");
}

#[test]
fn tenants_never_share_entries_unless_configured() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let keys = "auth:\n  api_keys:\n    - { name: a, key: key-aaaa, team: t }\n    - { name: b, key: key-bbbb, team: t }\n    - { name: c, key: key-cccc }\nteams:\n  - { name: t }\n";
    let body = json!({"model": "gpt-4o-mini", "input": "tenant data"});
    let cache = |gw: &Gateway, key: &str| {
        let auth = format!("Bearer {key}");
        send(gw, "/v1/responses", &[("authorization", &auth)], &body).cache
    };
    // principal (the default): nobody else's entry.
    let gw = start_with(
        &(config_with_cache(&mock, "principal") + keys),
        mock.clone(),
    );
    assert_eq!(cache(&gw, "key-aaaa"), "miss");
    assert_eq!(cache(&gw, "key-bbbb"), "miss", "same team, other key");
    assert_eq!(cache(&gw, "key-cccc"), "miss");
    assert_eq!(cache(&gw, "key-aaaa"), "hit");
    // team: shared inside the team only.
    let gw = start_with(&(config_with_cache(&mock, "team") + keys), mock.clone());
    assert_eq!(cache(&gw, "key-aaaa"), "miss");
    assert_eq!(cache(&gw, "key-bbbb"), "hit", "same team");
    assert_eq!(cache(&gw, "key-cccc"), "miss", "no team");
    // shared: everyone.
    let gw = start_with(&(config_with_cache(&mock, "shared") + keys), mock);
    assert_eq!(cache(&gw, "key-aaaa"), "miss");
    assert_eq!(cache(&gw, "key-cccc"), "hit");
}

#[test]
fn headers_turn_it_on_off_and_skip_lookup_or_write() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_cache(&mock, "principal"), mock.clone());
    let body = |input: &str| json!({"model": "llama", "input": input});
    let go = |input: &str, h: &[(&str, &str)]| send(&gw, "/v1/responses", h, &body(input));
    assert_eq!(
        go("h1", &[("x-latticelm-cache-ttl", "0")]).cache,
        "",
        "bypassed"
    );
    assert_eq!(go("h1", &[]).cache, "miss", "the bypass wrote nothing");
    assert_eq!(go("h2", &[("cache-control", "no-store")]).cache, "miss");
    assert_eq!(go("h2", &[]).cache, "miss", "no-store wrote nothing");
    assert_eq!(
        go("h2", &[("cache-control", "no-cache")]).cache,
        "miss",
        "no-cache looked nothing up"
    );
    assert_eq!(go("h2", &[]).cache, "hit");
    let bad = go("h3", &[("x-latticelm-cache-ttl", "soon")]);
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("x-latticelm-cache-ttl"))
    );
    // A model without `cache:` is cached only when a request asks.
    let plain = start_with(&config(&mock), mock);
    let ask = [("x-latticelm-cache-ttl", "60")];
    assert_eq!(send(&plain, "/v1/responses", &[], &body("p")).cache, "");
    assert_eq!(
        send(&plain, "/v1/responses", &ask, &body("p")).cache,
        "miss"
    );
    assert_eq!(send(&plain, "/v1/responses", &ask, &body("p")).cache, "hit");
    // Failures are never cached.
    let dead = json!({"model": "unreachable", "input": "x"});
    assert!(send(&plain, "/v1/responses", &ask, &dead).status >= 500);
    assert!(send(&plain, "/v1/responses", &ask, &dead).status >= 500);
}

#[test]
fn hits_through_the_other_front_doors_and_in_conversations() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_cache(&mock, "principal"), mock);
    let chat = json!({"model": "llama", "messages": [{"role": "user", "content": "front door"}]});
    let a = send(&gw, "/v1/chat/completions", &[], &chat);
    let b = send(&gw, "/v1/chat/completions", &[], &chat);
    assert_eq!((a.cache.as_str(), b.cache.as_str()), ("miss", "hit"));
    assert_eq!(b.body["object"], "chat.completion", "{}", b.body);
    assert_eq!(
        b.body["choices"][0]["message"],
        a.body["choices"][0]["message"]
    );
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let s = send(&gw, "/v1/chat/completions", &[], &streamed);
    assert_eq!(s.cache, "hit");
    let text = s.body.as_str().unwrap();
    assert!(
        text.contains("chat.completion.chunk") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
    let msgs = json!({"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "messages door"}]});
    let a = send(&gw, "/v1/messages", &[], &msgs);
    let b = send(&gw, "/v1/messages", &[], &msgs);
    assert_eq!((a.cache.as_str(), b.cache.as_str()), ("miss", "hit"));
    assert_eq!(b.body["content"], a.body["content"]);
    // A hit is stored: the conversation continues from it.
    let turn = json!({"model": "gpt-4o-mini", "input": "remember me"});
    send(&gw, "/v1/responses", &[], &turn);
    let hit = send(&gw, "/v1/responses", &[], &turn);
    assert_eq!(hit.cache, "hit");
    let id = hit.body["id"].as_str().unwrap();
    let next = send(
        &gw,
        "/v1/responses",
        &[],
        &json!({"model": "gpt-4o-mini", "input": "and then", "previous_response_id": id}),
    );
    assert_eq!(next.status, 200, "{}", next.body);
    let got = client()
        .get(format!("{}/v1/responses/{id}", gw.url))
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
}

#[test]
fn a_hit_counts_as_a_request_but_costs_nothing() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config_with_cache(&mock, "principal").replace(
        "  - { name: gpt-4o-mini, provider: oa, cache",
        "  - { name: gpt-4o-mini, targets: [{ provider: oa, input_cost: 1000, output_cost: 1000 }], cache",
    ) + "auth:\n  api_keys:\n    - { name: a, key: key-aaaa, limits: { requests_per_minute: 3 }, budget: { usd: 1000 } }\n";
    let (gw, out) = start_logged(&yaml, mock, &[]);
    let auth = [("authorization", "Bearer key-aaaa")];
    let body = json!({"model": "gpt-4o-mini", "input": "priced"});
    assert_eq!(send(&gw, "/v1/responses", &auth, &body).cache, "miss");
    assert_eq!(send(&gw, "/v1/responses", &auth, &body).cache, "hit");
    assert_eq!(send(&gw, "/v1/responses", &auth, &body).cache, "hit");
    assert_eq!(
        send(&gw, "/v1/responses", &auth, &body).status,
        429,
        "hits count as requests"
    );
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..100 {
        lines = out
            .json()
            .into_iter()
            .filter(|l| l["cache"].is_object())
            .collect();
        if lines.len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let hit = lines
        .iter()
        .find(|l| l["cache"]["result"] == "hit")
        .expect("a hit's line");
    assert_eq!(hit["cost_usd"], 0.0, "{hit}");
    assert!(hit["cache"]["saved_usd"].as_f64().unwrap() > 0.0, "{hit}");
    assert!(
        hit["limits"]["settled_usd"]
            .as_f64()
            .is_none_or(|c| c == 0.0),
        "{hit}"
    );
    let metrics = client()
        .get(format!("{}/metrics", gw.url))
        .bearer_auth("key-aaaa")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("latticelm_cache_requests_total{model=\"gpt-4o-mini\",result=\"hit\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("latticelm_cache_saved_usd_total"),
        "{metrics}"
    );
}

/// With `cache.store` on Redis, a replica serves what another cached;
/// an answer over `max_entry_bytes` is served but never cached.
#[test]
fn replicas_share_a_redis_cache_and_oversize_answers_are_not_kept() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml =
        config_with_cache(&mock, "shared") + &format!("cache: {{ store: \"{}\" }}\n", redis.url);
    let a = start_with(&yaml, mock.clone());
    let b = start_with(&yaml, mock.clone());
    let body = json!({"model": "gemini-test", "input": "across replicas"});
    assert_eq!(send(&a, "/v1/responses", &[], &body).cache, "miss");
    let other = send(&b, "/v1/responses", &[], &body).cache;
    assert_eq!(other, "hit", "the other replica serves the cached answer");
    let small = config_with_cache(&mock, "shared") + "cache: { max_entry_bytes: 200 }\n";
    let gw = start_with(&small, mock);
    assert_eq!(send(&gw, "/v1/responses", &[], &body).cache, "miss");
    assert_eq!(
        send(&gw, "/v1/responses", &[], &body).cache,
        "miss",
        "too large to keep"
    );
}

/// A cached answer with sealed reasoning keeps the seal for its
/// provider: the hit carries the same blob, and a conversation continued
/// from the hit hands the thinking back to that provider.
#[test]
fn sealed_reasoning_stays_sealed_for_its_provider() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config(&mock), mock);
    let ask = [("x-latticelm-cache-ttl", "600")];
    let model = "fixture:anthropic/anthropic-clear-thinking.1";
    let body = json!({"model": model, "provider": "claude", "input": "think"});
    let first = send(&gw, "/v1/responses", &ask, &body);
    let hit = send(&gw, "/v1/responses", &ask, &body);
    assert_eq!((first.cache.as_str(), hit.cache.as_str()), ("miss", "hit"));
    let blob = |r: &Value| {
        r["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "reasoning")
            .and_then(|i| i["encrypted_content"].as_str())
            .map(str::to_owned)
    };
    let sealed = blob(&first.body).expect("a sealed reasoning item");
    assert!(sealed.starts_with("lattice2."), "{sealed}");
    assert_eq!(blob(&hit.body), Some(sealed));
    gw.upstream_requests();
    let id = hit.body["id"].as_str().unwrap();
    let next =
        json!({"model": model, "provider": "claude", "input": "again", "previous_response_id": id});
    assert_eq!(send(&gw, "/v1/responses", &[], &next).status, 200);
    let sent = gw.upstream_requests();
    let thinking = &sent.last().unwrap()["body"]["messages"][1]["content"][0];
    assert_eq!(thinking["type"], "thinking", "{thinking}");
}

/// A stream the client left is never cached.
#[test]
fn a_stream_the_client_left_is_not_cached() {
    use std::io::Read;
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock).replace(
        "  - { name: llama,",
        "  - { name: slow, provider: chat, provider_model_id: \"slow:100\", cache: { ttl: 1h } }\n  - { name: llama,",
    );
    let gw = start_with(&yaml, mock);
    let body = json!({"model": "slow", "input": "a b c d e f g h", "stream": true});
    {
        let mut r = client()
            .post(format!("{}/v1/responses", gw.url))
            .json(&body)
            .send()
            .unwrap();
        let mut first = [0u8; 64];
        let _ = r.read(&mut first).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(send(&gw, "/v1/responses", &[], &body).cache, "miss");
    assert_eq!(
        send(&gw, "/v1/responses", &[], &body).cache,
        "hit",
        "a whole stream is"
    );
}
