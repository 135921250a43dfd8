//! Runtime teams and usage through the admin API on the native binary:
//! a team's allow-list and limits bind its keys, narrowed by their own;
//! a disabled team's keys are refused on every replica within the bound;
//! usage per key and per team, by model.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use support::{admin_call as call, admin_config, ADMIN};

fn respond(gw: &Gateway, key: &str, model: &str) -> u16 {
    let body = json!({"model": model, "input": "hi"});
    call(gw, "POST", "/v1/responses", Some(key), Some(body)).0
}

fn until(gws: &[Gateway], key: &str, want: u16) -> Duration {
    let start = Instant::now();
    while !gws.iter().all(|g| respond(g, key, "offline") == want) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not {want} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[test]
fn a_runtime_team_binds_its_keys_and_its_disabling_reaches_every_replica() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gws = [
        start_with(&admin_config(&mock, &redis.url), mock.clone()),
        start_with(&admin_config(&mock, &redis.url), mock),
    ];
    let team =
        json!({"name": "search-team", "models": ["offline"], "limits": {"requests_per_minute": 3}});
    let (status, t) = call(
        &gws[0],
        "POST",
        "/v1/admin/teams",
        Some(ADMIN),
        Some(team.clone()),
    );
    assert_eq!(status, 201, "{t}");
    assert_eq!(
        (t["id"].as_str(), t["object"].as_str()),
        (Some("search-team"), Some("team"))
    );
    let (status, e) = call(&gws[1], "POST", "/v1/admin/teams", Some(ADMIN), Some(team));
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("team_exists")),
        "{e}"
    );
    // A key may not ask for more models than its team has.
    let (status, e) = call(
        &gws[1],
        "POST",
        "/v1/admin/keys",
        Some(ADMIN),
        Some(json!({"name": "wide", "team": "search-team", "models": ["gpt-4o-mini"]})),
    );
    assert_eq!(status, 400, "{e}");
    let key = |name: &str| {
        let (status, k) = call(
            &gws[1],
            "POST",
            "/v1/admin/keys",
            Some(ADMIN),
            Some(json!({"name": name, "team": "search-team"})),
        );
        assert_eq!(status, 201, "{k}");
        (
            k["key"].as_str().unwrap().to_owned(),
            k["id"].as_str().unwrap().to_owned(),
        )
    };
    let (a, a_id) = key("a");
    let (b, _) = key("b");
    // The team's allow-list holds for a key without its own.
    assert_eq!(respond(&gws[0], &a, "gpt-4o-mini"), 403);
    // The team's limit is shared by its keys, across replicas.
    assert_eq!(respond(&gws[0], &a, "offline"), 200);
    assert_eq!(respond(&gws[1], &b, "offline"), 200);
    assert_eq!(respond(&gws[0], &b, "offline"), 200);
    assert_eq!(respond(&gws[1], &a, "offline"), 429);
    // Disabling the team refuses its keys everywhere within the bound.
    let (status, _) = call(
        &gws[1],
        "PATCH",
        "/v1/admin/teams/search-team",
        Some(ADMIN),
        Some(json!({"disabled": true})),
    );
    assert_eq!(status, 200);
    let took = until(&gws, &a, 401);
    assert!(took <= Duration::from_secs(5), "{took:?}");
    eprintln!("team disabled everywhere after {took:?}");
    let (_, e) = call(
        &gws[0],
        "POST",
        "/v1/responses",
        Some(&b),
        Some(json!({"model": "offline", "input": "hi"})),
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team is disabled"),
        "{e}"
    );
    // A team with keys cannot be deleted; without them it can.
    let (status, e) = call(
        &gws[0],
        "DELETE",
        "/v1/admin/teams/search-team",
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("team_in_use")),
        "{e}"
    );
    let (_, list) = call(
        &gws[0],
        "GET",
        "/v1/admin/keys?team=search-team&limit=100",
        Some(ADMIN),
        None,
    );
    for k in list["data"].as_array().unwrap() {
        let id = k["id"].as_str().unwrap();
        assert_eq!(
            call(
                &gws[0],
                "DELETE",
                &format!("/v1/admin/keys/{id}"),
                Some(ADMIN),
                None
            )
            .0,
            200
        );
    }
    assert_eq!(
        call(
            &gws[0],
            "DELETE",
            "/v1/admin/teams/search-team",
            Some(ADMIN),
            None
        )
        .0,
        200
    );
    assert_eq!(
        call(
            &gws[1],
            "GET",
            "/v1/admin/teams/search-team",
            Some(ADMIN),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &gws[1],
            "GET",
            &format!("/v1/admin/keys/{a_id}"),
            Some(ADMIN),
            None
        )
        .0,
        404
    );
}

#[test]
fn team_attacks_get_clear_answers_and_change_nothing() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    for bad in [
        json!({"name": "bad\u{0007}name"}),
        json!({"name": ""}),
        json!({"name": "a/b"}),
        json!({"name": "alpha"}),
        json!({"name": "x", "models": ["nope"]}),
        json!({"name": "x", "budget": {"usd": -1}}),
        json!({"name": "x", "surprise": true}),
    ] {
        let (status, e) = call(
            &gw,
            "POST",
            "/v1/admin/teams",
            Some(ADMIN),
            Some(bad.clone()),
        );
        assert_eq!(status, 400, "{bad}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    }
    assert_eq!(
        call(
            &gw,
            "POST",
            "/v1/admin/teams",
            Some("sk-plain-key"),
            Some(json!({"name": "x"}))
        )
        .0,
        403
    );
    assert_eq!(
        call(&gw, "GET", "/v1/admin/teams?limit=101", Some(ADMIN), None).0,
        400
    );
    let (_, list) = call(&gw, "GET", "/v1/admin/teams", Some(ADMIN), None);
    assert_eq!(list["data"], json!([]), "nothing was created");
    assert_eq!(
        call(
            &gw,
            "POST",
            "/v1/admin/teams",
            Some(ADMIN),
            Some(json!({"name": "x"}))
        )
        .0,
        201
    );
    let (status, e) = call(
        &gw,
        "PATCH",
        "/v1/admin/teams/x",
        Some(ADMIN),
        Some(json!({"name": "y"})),
    );
    assert_eq!(status, 400, "{e}");
    let (status, e) = call(
        &gw,
        "GET",
        "/v1/admin/usage?key=a&team=b",
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        call(
            &gw,
            "GET",
            "/v1/admin/usage?key=a&from=10&to=5",
            Some(ADMIN),
            None
        )
        .0,
        400
    );
    assert_eq!(
        call(
            &gw,
            "GET",
            "/v1/admin/usage?key=a&from=0&to=99999999",
            Some(ADMIN),
            None
        )
        .0,
        400
    );
}

#[test]
fn usage_is_counted_per_key_and_per_team_by_model() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    let (_, k) = call(
        &gw,
        "POST",
        "/v1/admin/keys",
        Some(ADMIN),
        Some(json!({"name": "u", "team": "alpha"})),
    );
    let (secret, id) = (k["key"].as_str().unwrap(), k["id"].as_str().unwrap());
    for _ in 0..3 {
        assert_eq!(respond(&gw, secret, "offline"), 200);
    }
    let start = Instant::now();
    let usage = loop {
        let (status, u) = call(
            &gw,
            "GET",
            &format!("/v1/admin/usage?key={id}"),
            Some(ADMIN),
            None,
        );
        assert_eq!(status, 200, "{u}");
        if u["requests"] == 3 || start.elapsed() > Duration::from_secs(5) {
            break u;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(usage["requests"], 3, "{usage}");
    assert_eq!(usage["by_model"]["offline"]["requests"], 3, "{usage}");
    assert!(usage["input_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(usage["hourly"].as_array().unwrap().len(), 1, "{usage}");
    let (_, team) = call(&gw, "GET", "/v1/admin/usage?team=alpha", Some(ADMIN), None);
    assert_eq!(team["requests"], 3, "{team}");
    // A range before the requests holds none.
    let (_, none) = call(
        &gw,
        "GET",
        "/v1/admin/usage?team=alpha&from=0&to=3600",
        Some(ADMIN),
        None,
    );
    assert_eq!(none["requests"], 0, "{none}");
}

/// Every route of `docs/admin-openapi.json` is served, and answers as
/// documented (every call above is checked against it too).
#[test]
fn every_documented_admin_route_is_served_as_documented() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    let routes = admin_routes();
    assert!(routes.len() >= 12, "{routes:?}");
    for (method, template) in routes {
        let path = template
            .replace("{id}", "key_0000")
            .replace("{name}", "missing");
        let (status, answer) = call(&gw, &method, &path, Some(ADMIN), None);
        assert!(
            [200, 400, 404, 415].contains(&status),
            "{method} {path}: {status} {answer}"
        );
        assert_ne!(answer["error"]["code"], "no_route", "{method} {path}");
    }
}

/// With OTLP, an admin action is a span too, sampled whatever the ratio,
/// naming the action, the record and the fields changed.
#[test]
fn an_admin_action_is_a_span_with_otlp() {
    let receiver = Receiver::start();
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = admin_config(&mock, "memory")
        + &format!(
            "observability:\n  otlp: {{ endpoint: \"http://127.0.0.1:{}\", sample_ratio: 0.000001 }}\n",
            receiver.port
        );
    let gw = start_with(&yaml, mock);
    let (_, t) = call(
        &gw,
        "POST",
        "/v1/admin/teams",
        Some(ADMIN),
        Some(json!({"name": "traced"})),
    );
    assert_eq!(t["name"], "traced");
    let parent = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let r = client()
        .patch(format!("{}/v1/admin/teams/traced", gw.url))
        .bearer_auth(ADMIN)
        .header("traceparent", parent)
        .json(&json!({"disabled": true, "metadata": {"owner": "ops"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let spans = receiver.spans("5bf92f3577b34da6a3ce929d0e0e4736", 1);
    let span = &spans[0];
    assert_eq!(span["name"], "PATCH /v1/admin/teams/{name}", "{span:#?}");
    let a = &span["attributes"];
    assert_eq!(a["latticelm.admin.action"], "team.update", "{span:#?}");
    assert_eq!(a["latticelm.admin.record"], "traced");
    assert_eq!(
        a["latticelm.admin.changed"],
        json!(["metadata", "disabled"])
    );
    assert_eq!(a["latticelm.principal"], "admin");
}

/// Keys created at once on two replicas are all listed: the index is a
/// counters hash, added to atomically, not a list read and written back.
#[test]
fn concurrent_creations_on_two_replicas_are_all_listed() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gws = [
        start_with(&admin_config(&mock, &redis.url), mock.clone()),
        start_with(&admin_config(&mock, &redis.url), mock),
    ];
    std::thread::scope(|s| {
        for i in 0..24 {
            let gw = &gws[i % 2];
            s.spawn(move || {
                let body = json!({"name": format!("c{i}")});
                assert_eq!(
                    call(gw, "POST", "/v1/admin/keys", Some(ADMIN), Some(body)).0,
                    201
                );
            });
        }
    });
    let (_, list) = call(
        &gws[1],
        "GET",
        "/v1/admin/keys?limit=100",
        Some(ADMIN),
        None,
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 24, "{list}");
}
