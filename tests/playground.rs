//! The web playground and dashboard on the native binary: served with
//! safe headers, public while the API needs a key, off with `server.ui:
//! false`, and used for real in headless Chromium (tests/playground/).

mod support;

use support::*;

/// The test config with auth on (one API key) and a priced model.
fn config_with_ui(mock: &str, extra: &str) -> String {
    format!(
        "{}  - name: priced\n    targets: [{{ provider: oa, provider_model_id: gpt-4o-mini, input_cost: 0.15, output_cost: 0.6 }}]\nauth:\n  enabled: true\n  api_keys:\n    - {{ name: playground, key: key-play-123, team: play, limits: {{ requests_per_minute: 1000, tokens_per_minute: 2000000 }} }}\nteams:\n  - {{ name: play, budget: {{ usd: 5, period: monthly }} }}\n{extra}",
        // The target nobody listens for is priced: the team has a budget,
        // and a budget can't reach an unpriced route.
        config(mock).replace(
            "  - { name: unreachable, provider: dead }",
            "  - { name: unreachable, targets: [{ provider: dead, input_cost: 1, output_cost: 1 }] }"
        )
    )
}

#[test]
fn playground_in_chromium() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_ui(&mock, ""), mock);
    // Trip the breaker of the target nobody listens for.
    for _ in 0..5 {
        let (status, _, body) = gw.post_as(
            &[("authorization", "Bearer key-play-123")],
            &serde_json::json!({"model": "unreachable", "input": "hi"}),
        );
        assert!(status >= 500, "{body}");
    }
    let shots = std::env::var("LATTICELM_SHOTS")
        .ok()
        .map(std::path::PathBuf::from);
    playground_check(
        &gw.url,
        PlaygroundRun {
            model: "priced",
            key: Some("key-play-123"),
            metrics: true,
            priced: true,
            open: Some("dead/unreachable"),
            limits: true,
            shots: shots.as_deref(),
        },
    );
}

/// The keys page in Chromium: a team and a key created, the secret
/// copied and used from the playground, its usage charted, its limits
/// edited, disabled (the playground is refused), rotated.
#[test]
fn keys_page_in_chromium() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    admin_page_check(&gw.url, "offline", ADMIN);
}

#[test]
fn the_page_is_public_and_the_api_is_not() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_ui(&mock, ""), mock);
    let c = client();
    for path in [
        "/",
        "/playground",
        "/dashboard",
        "/ui/app.js",
        "/ui/app.css",
    ] {
        let r = c.get(format!("{}{path}", gw.url)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        // Revalidated, then not sent again.
        let etag = h["etag"].clone();
        let again = c
            .get(format!("{}{path}", gw.url))
            .header("if-none-match", etag)
            .send()
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    let page = c.get(format!("{}/", gw.url)).send().unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // The data behind it needs the key.
    let (status, body) = gw.get("/v1/dashboard");
    assert_eq!(status, 401, "{body}");
    let r = c
        .get(format!("{}/v1/dashboard", gw.url))
        .bearer_auth("key-play-123")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().unwrap();
    assert!(d["metrics"]["counters"].is_array(), "{d}");
    let circuits = d["circuits"].as_array().unwrap();
    assert!(circuits
        .iter()
        .any(|c| c["target"] == "oa/gpt-4o-mini" && c["state"] == "closed"));
    // The models list carries the prices the page uses for a stream's cost.
    let r = c
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth("key-play-123")
        .send()
        .unwrap();
    let models: serde_json::Value = r.json().unwrap();
    let priced = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "priced")
        .unwrap();
    assert_eq!(priced["pricing"][0]["input_cost"], 0.15, "{priced}");
    // Pages are read-only; unknown files are plain 404s.
    let r = c.post(format!("{}/", gw.url)).send().unwrap();
    assert_eq!(r.status(), 405);
    let r = c.get(format!("{}/ui/nope.js", gw.url)).send().unwrap();
    assert_eq!(
        r.status(),
        401,
        "unknown paths are not the UI's: auth first"
    );
}

#[test]
fn ui_false_turns_it_off() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(
        &config_with_ui(&mock, "").replace("server:\n", "server:\n  ui: false\n"),
        mock,
    );
    let c = client();
    for path in ["/", "/playground", "/ui/app.js", "/v1/dashboard"] {
        let r = c
            .get(format!("{}{path}", gw.url))
            .bearer_auth("key-play-123")
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}
