//! `web_search` onto the providers' own search: Anthropic's web search
//! server tool and Gemini's Google Search grounding, request and answer,
//! streamed and not, and the results sent back in a later turn. The
//! upstream answers are recorded-style fixtures in `tests/fixtures/`
//! (structure from public recordings; ids and blobs made up).

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

fn fixture(path: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::read_to_string(dir.join(path)).unwrap()
}

/// A gateway whose provider allows web search (billed to its account).
fn gateway(kind: &str) -> latticelm_core::Gateway {
    gateway_passthrough_of(kind, "web_search")
}

/// The gateway's final response to a replayed upstream answer.
fn replay(kind: &str, path: &str, request: Value) -> (Value, Vec<(String, String)>) {
    let text = fixture(path);
    let stream = path.ends_with(".chunks.txt");
    let body = if stream {
        let mut out = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if kind == "anthropic" {
                let v: Value = serde_json::from_str(line).unwrap();
                out.push_str(&format!("event: {}\n", v["type"].as_str().unwrap()));
            }
            out.push_str(&format!("data: {line}\n\n"));
        }
        out
    } else {
        text
    };
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(body)],
    });
    let mut request = request;
    request["stream"] = json!(stream);
    let resp = run_full(&gateway(kind), &host, post(&request));
    let out: Vec<u8> = resp.1.concat();
    // The spec's `Tool` is only `function`: the echo of the client's
    // hosted tool is left out of the check.
    let unechoed = |mut v: Value| {
        if let Some(r) = v.get_mut("response") {
            r["tools"] = json!([]);
        }
        v
    };
    let mut response = if stream {
        let events: Vec<Value> = parse_sse(&out).into_iter().map(unechoed).collect();
        assert_valid_stream(&events);
        events.last().unwrap()["response"].clone()
    } else {
        serde_json::from_slice(&out).unwrap()
    };
    response["tools"] = json!([]);
    assert_valid("ResponseResource", &response);
    (response, resp.2)
}

/// The upstream body, and the response headers, for a request.
fn upstream(kind: &str, request: &Value) -> (Value, Vec<(String, String)>) {
    let host = FakeHost::answering(Canned {
        status: 500,
        headers: vec![],
        chunks: vec![Bytes::from_static(b"{}")],
    });
    let (status, body, headers) = run_full(&gateway(kind), &host, post(request));
    let sent = host.sent.borrow();
    assert!(
        !sent.is_empty(),
        "{kind}: {status} {}",
        String::from_utf8_lossy(&body.concat())
    );
    (serde_json::from_slice(&sent[0].body).unwrap(), headers)
}

fn search_tool() -> Value {
    json!({"type": "web_search", "user_location": {"type": "approximate", "city": "Oslo", "country": "NO", "region": null},
        "filters": {"allowed_domains": ["rust-lang.org"]}, "search_context_size": "medium"})
}

#[test]
fn the_request_asks_for_the_providers_own_search() {
    let fun = json!({"type": "function", "name": "f", "parameters": {"type": "object"}});
    let req = json!({"model": "test-model", "input": "news?", "tools": [search_tool(), fun]});
    let (a, headers) = upstream("anthropic", &req);
    assert_eq!(
        a["tools"][0],
        json!({"type": "web_search_20250305", "name": "web_search",
            "user_location": {"type": "approximate", "city": "Oslo", "country": "NO"},
            "allowed_domains": ["rust-lang.org"]})
    );
    assert!(!headers
        .iter()
        .any(|(k, _)| k == "x-latticelm-dropped-tools"));
    // Searches are billed to the gateway's account: without the
    // operator's allowance the tool is dropped, as one with no equivalent.
    let host = FakeHost::answering(Canned {
        status: 500,
        headers: vec![],
        chunks: vec![Bytes::from_static(b"{}")],
    });
    run(&common::gateway("anthropic"), &host, post(&req));
    let sent: Value = serde_json::from_slice(&host.sent.borrow()[0].body).unwrap();
    assert_eq!(sent["tools"].as_array().unwrap().len(), 1, "{sent}");
    assert_eq!(sent["tools"][0]["name"], "f");
    // Gemini: grounding alone; beside function tools it is dropped (Gemini
    // 2.x refuses the two together), and the header says so.
    let alone = json!({"model": "test-model", "input": "news?", "tools": [search_tool()]});
    let (g, _) = upstream("google", &alone);
    assert_eq!(g["tools"], json!([{"google_search": {}}]));
    let (g, _) = upstream("google", &req);
    assert_eq!(g["tools"].as_array().unwrap().len(), 1, "{g}");
    assert!(g["tools"][0].get("functionDeclarations").is_some());
    let (_, headers) = replay("google", "google/google-search-grounding.json", req.clone());
    assert!(headers
        .iter()
        .any(|(k, v)| k == "x-latticelm-dropped-tools" && v == "web_search"));
    // Chat has no search: dropped.
    let (c, _) = upstream("openai-chat", &req);
    assert_eq!(c["tools"].as_array().unwrap().len(), 1, "{c}");
}

fn kinds(resp: &Value) -> Vec<String> {
    resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn claude_searches_come_back_as_items_and_citations() {
    let req = json!({"model": "test-model", "input": "latest rust?", "tools": [search_tool()]});
    let (streamed, _) = replay(
        "anthropic",
        "anthropic/anthropic-web-search.chunks.txt",
        req.clone(),
    );
    let (whole, _) = replay("anthropic", "anthropic/anthropic-web-search.json", req);
    for resp in [&streamed, &whole] {
        assert_eq!(
            kinds(resp),
            [
                "message",
                "anthropic:server_tool_use",
                "anthropic:web_search_tool_result",
                "message"
            ],
            "{resp}"
        );
        let call = &resp["output"][1];
        assert!(call["id"].as_str().unwrap().starts_with("srvtoolu_"));
        assert_eq!(call["name"], "web_search");
        assert!(
            call["input"]["query"].as_str().unwrap().contains("Rust"),
            "{call}"
        );
        let results = resp["output"][2]["content"].as_array().unwrap();
        assert!(results.iter().all(|r| r["encrypted_content"].is_string()));
        // Each cited block is a part; its citations span it.
        let parts = resp["output"][3]["content"].as_array().unwrap();
        let cited: Vec<&Value> = parts
            .iter()
            .filter(|p| !p["annotations"].as_array().unwrap().is_empty())
            .collect();
        assert!(!cited.is_empty(), "{resp}");
        for p in cited {
            let a = &p["annotations"][0];
            assert_eq!(a["type"], "url_citation");
            assert!(a["url"].as_str().unwrap().starts_with("https://"));
            assert_eq!(a["start_index"], 0);
            assert_eq!(
                a["end_index"].as_u64().unwrap() as usize,
                p["text"].as_str().unwrap().chars().count()
            );
        }
    }
    // Streamed and whole say the same.
    assert_eq!(streamed["output"][1]["input"], whole["output"][1]["input"]);
    assert_eq!(
        streamed["output"][2]["content"],
        whole["output"][2]["content"]
    );
    assert_eq!(
        streamed["output"][3]["content"],
        whole["output"][3]["content"]
    );
    insta::assert_json_snapshot!(streamed["output"]);
}

#[test]
fn claude_gets_its_search_back_and_others_do_not() {
    let req = json!({"model": "test-model", "input": "latest rust?", "tools": [search_tool()]});
    let (first, _) = replay(
        "anthropic",
        "anthropic/anthropic-web-search.chunks.txt",
        req,
    );
    let mut input = vec![json!({"role": "user", "content": "latest rust?"})];
    input.extend(first["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "and before that?"}));
    let next =
        json!({"model": "test-model", "input": input, "tools": [search_tool()], "store": false});
    let (a, _) = upstream("anthropic", &next);
    let blocks = a["messages"][1]["content"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types[1..3],
        ["server_tool_use", "web_search_tool_result"],
        "{a}"
    );
    let recorded: Value =
        serde_json::from_str(&fixture("anthropic/anthropic-web-search.json")).unwrap();
    assert_eq!(
        blocks[1], recorded["content"][1],
        "the call, as Anthropic sent it"
    );
    assert_eq!(
        blocks[2], recorded["content"][2],
        "the results, encrypted_content and all"
    );
    for kind in ["google", "openai", "openai-chat"] {
        let (body, _) = upstream(kind, &next);
        let body = body.to_string();
        assert!(
            !body.contains("srvtoolu_") && !body.contains("encrypted_content"),
            "{kind}: {body}"
        );
        assert!(body.contains("and before that?"), "{kind}");
    }
}

#[test]
fn gemini_grounding_comes_back_as_an_item_and_citations() {
    let req = json!({"model": "test-model", "input": "who won?", "tools": [search_tool()]});
    let (streamed, _) = replay(
        "google",
        "google/google-search-grounding.chunks.txt",
        req.clone(),
    );
    let (whole, _) = replay("google", "google/google-search-grounding.json", req);
    for resp in [&streamed, &whole] {
        assert_eq!(kinds(resp), ["message", "google:grounding"], "{resp}");
        let part = &resp["output"][0]["content"][0];
        let text: Vec<char> = part["text"].as_str().unwrap().chars().collect();
        let annotations = part["annotations"].as_array().unwrap();
        assert!(!annotations.is_empty());
        let grounding = &resp["output"][1];
        let supports = grounding["groundingSupports"].as_array().unwrap();
        // Gemini counts bytes; the annotations count characters, and span
        // exactly the text Gemini says they support.
        for a in annotations {
            let (s, e) = (
                a["start_index"].as_u64().unwrap() as usize,
                a["end_index"].as_u64().unwrap() as usize,
            );
            let span: String = text[s..e].iter().collect();
            assert!(
                supports
                    .iter()
                    .any(|x| x["segment"]["text"] == span.as_str()),
                "{span:?}"
            );
        }
        assert!(grounding["webSearchQueries"]
            .as_array()
            .is_some_and(|q| !q.is_empty()));
    }
    assert_eq!(
        streamed["output"][0]["content"],
        whole["output"][0]["content"]
    );
}
