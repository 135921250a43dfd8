//! Runtime keys through the admin API on the native binary: issued on
//! one replica, used on another, disabled and rotated with effect on
//! every replica sharing one real `redis-server` within the bound, and
//! the admin API's refusals.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

use support::{admin_call as call, admin_config, ADMIN};

fn respond(gw: &Gateway, key: &str) -> u16 {
    call(
        gw,
        "POST",
        "/v1/responses",
        Some(key),
        Some(json!({"model": "offline", "input": "hi"})),
    )
    .0
}

/// Waits until every gateway answers `want` with `key`; returns how long.
fn until_all(gws: &[Gateway], key: &str, want: u16) -> Duration {
    let start = Instant::now();
    loop {
        if gws.iter().all(|g| respond(g, key) == want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not {want} everywhere after 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_key_issued_on_one_replica_works_and_is_revoked_on_all_within_the_bound() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw0, out) = start_logged(&admin_config(&mock, &redis.url), mock.clone(), &[]);
    let gws = [
        gw0,
        start_with(&admin_config(&mock, &redis.url), mock.clone()),
        start_with(&admin_config(&mock, &redis.url), mock),
    ];
    let (status, created) = call(
        &gws[0],
        "POST",
        "/v1/admin/keys",
        Some(ADMIN),
        Some(json!({"name": "ci bot", "team": "alpha", "limits": {"requests_per_minute": 100}})),
    );
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("llm_") && secret.len() > 30, "{secret}");
    // Used on another replica, with its limits' headers.
    assert_eq!(respond(&gws[1], &secret), 200);
    // Read back: no secret, no hash.
    let (_, read) = call(
        &gws[2],
        "GET",
        &format!("/v1/admin/keys/{id}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(read["name"], "ci bot");
    assert!(
        read.get("key").is_none() && !read.to_string().contains(&secret),
        "{read}"
    );
    // Disabled on a third: refused everywhere within the bound.
    let (status, _) = call(
        &gws[2],
        "PATCH",
        &format!("/v1/admin/keys/{id}"),
        Some(ADMIN),
        Some(json!({"disabled": true})),
    );
    assert_eq!(status, 200);
    let took = until_all(&gws, &secret, 401);
    assert!(
        took <= Duration::from_secs(5),
        "disabled everywhere after {took:?}"
    );
    eprintln!("disabled everywhere after {took:?}");
    call(
        &gws[0],
        "PATCH",
        &format!("/v1/admin/keys/{id}"),
        Some(ADMIN),
        Some(json!({"disabled": false})),
    );
    until_all(&gws, &secret, 200);
    // Rotation with a grace period: both work, then only the new one.
    let (status, rotated) = call(
        &gws[1],
        "POST",
        &format!("/v1/admin/keys/{id}/rotate"),
        Some(ADMIN),
        Some(json!({"grace_seconds": 3})),
    );
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, secret);
    until_all(&gws, &new, 200);
    assert_eq!(
        respond(&gws[0], &secret),
        200,
        "the old key works in its grace period"
    );
    let took = until_all(&gws, &secret, 401);
    assert!(took <= Duration::from_secs(6), "{took:?}");
    // Deleted: gone everywhere.
    let (status, _) = call(
        &gws[0],
        "DELETE",
        &format!("/v1/admin/keys/{id}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200);
    assert!(until_all(&gws, &new, 401) <= Duration::from_secs(5));
    // Every change wrote one audit line, without a secret.
    let audit: Vec<Value> = out
        .json()
        .into_iter()
        .filter(|v| v["msg"] == "admin")
        .collect();
    let actions: Vec<&str> = audit
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"key.create"), "{actions:?}");
    for line in out.lines() {
        assert!(
            !line.contains(&secret) && !line.contains(&new),
            "a secret in the log: {line}"
        );
    }
}

#[test]
fn the_admin_api_refuses_what_it_must_and_changes_nothing() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    let good = json!({"name": "a"});
    // No credential, an ordinary key, a made-up runtime key.
    assert_eq!(
        call(&gw, "POST", "/v1/admin/keys", None, Some(good.clone())).0,
        401
    );
    let (status, e) = call(
        &gw,
        "POST",
        "/v1/admin/keys",
        Some("sk-plain-key"),
        Some(good.clone()),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (403, Some("admin_required"))
    );
    assert_eq!(
        call(
            &gw,
            "POST",
            "/v1/admin/keys",
            Some("llm_madeup"),
            Some(good.clone())
        )
        .0,
        401
    );
    // Bad input: control characters, an unknown team or model, a huge page.
    for bad in [
        json!({"name": "a\u{0007}b"}),
        json!({"name": ""}),
        json!({"name": "a", "team": "nope"}),
        json!({"name": "a", "models": ["nope"]}),
        json!({"name": "a", "limits": {"requests_per_minute": 0}}),
        json!({"name": "a", "surprise": 1}),
        json!({"name": "a", "expires_at": 1}),
    ] {
        let (status, e) = call(
            &gw,
            "POST",
            "/v1/admin/keys",
            Some(ADMIN),
            Some(bad.clone()),
        );
        assert_eq!(status, 400, "{bad}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    }
    assert_eq!(
        call(&gw, "GET", "/v1/admin/keys?limit=100000", Some(ADMIN), None).0,
        400
    );
    let (_, list) = call(&gw, "GET", "/v1/admin/keys", Some(ADMIN), None);
    assert_eq!(list["data"], json!([]), "nothing was created");
    // The admin key calls no model.
    assert_eq!(respond(&gw, ADMIN), 403);
    // Paging.
    for i in 0..3 {
        assert_eq!(call(&gw, "POST", "/v1/admin/keys", Some(ADMIN), Some(json!({"name": format!("k{i}"), "team": if i == 1 { Value::Null } else { json!("alpha") }}))).0, 201);
    }
    let (_, page) = call(
        &gw,
        "GET",
        "/v1/admin/keys?limit=1&team=alpha",
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (1, Some(true))
    );
    let after = page["last_id"].as_str().unwrap();
    let (_, rest) = call(
        &gw,
        "GET",
        &format!("/v1/admin/keys?team=alpha&after={after}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(rest["data"][0]["name"], "k2");
    assert_eq!(rest["has_more"], false);
}

#[test]
fn a_runtime_key_carries_its_own_limits() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    let (_, created) = call(
        &gw,
        "POST",
        "/v1/admin/keys",
        Some(ADMIN),
        Some(
            json!({"name": "one a minute", "limits": {"requests_per_minute": 1}, "models": ["offline"]}),
        ),
    );
    let secret = created["key"].as_str().unwrap();
    assert_eq!(respond(&gw, secret), 200);
    assert_eq!(respond(&gw, secret), 429);
    let other = call(
        &gw,
        "POST",
        "/v1/responses",
        Some(secret),
        Some(json!({"model": "gpt-4o-mini", "input": "hi"})),
    )
    .0;
    assert_eq!(other, 403, "its model allow-list holds");
}

/// `latticelm keys …` drives the same API, for scripts and terminals.
#[test]
fn the_keys_cli_issues_lists_disables_rotates_and_deletes() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, "memory"), mock);
    let cli = |args: &[&str]| -> (bool, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_latticelm"))
            .arg("keys")
            .args(args)
            .env("LATTICELM_URL", &gw.url)
            .env("LATTICELM_ADMIN_KEY", ADMIN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = cli(&[
        "create",
        "--name",
        "from the cli",
        "--team",
        "alpha",
        "--rpm",
        "10",
        "--budget-usd",
        "2.5",
    ]);
    assert!(ok, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    assert_eq!(created["limits"]["requests_per_minute"], 10);
    assert_eq!(created["budget"]["usd"], 2.5);
    assert_eq!(respond(&gw, secret), 200);
    let (ok, table) = cli(&["list", "--team", "alpha"]);
    assert!(
        ok && table.contains(id) && table.contains("from the cli"),
        "{table}"
    );
    assert!(cli(&["disable", id]).0);
    assert_eq!(respond(&gw, secret), 401);
    assert!(cli(&["enable", id]).0);
    let (ok, text) = cli(&["rotate", id]);
    assert!(ok, "{text}");
    let rotated: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(respond(&gw, rotated["key"].as_str().unwrap()), 200);
    assert_eq!(
        respond(&gw, secret),
        401,
        "no grace: the old secret is gone"
    );
    let mut usage = Value::Null;
    for _ in 0..50 {
        let (ok, text) = cli(&["usage", id, "--since", "1h"]);
        assert!(ok, "{text}");
        usage = serde_json::from_str(&text).unwrap();
        if usage["requests"] == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(usage["requests"], 2, "{usage}");
    let (ok, text) = cli(&["usage", "--team", "alpha"]);
    assert!(ok && text.contains("\"by_model\""), "{text}");
    assert!(cli(&["delete", id]).0);
    let (ok, text) = cli(&["disable", id]);
    assert!(!ok && text.contains("404"), "{text}");
}

/// An OIDC subject whose token carries `auth.admin_claim` is an admin;
/// another role, or a token whose claims were changed after signing, is
/// not.
#[test]
fn the_admin_claim_comes_only_from_a_verified_token() {
    use base64::Engine;
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let yaml = config(&mock)
        + &format!("auth:\n  issuer: \"{}\"\n  audience: latticelm\n  admin_claim: {{ name: roles, value: llm-admin }}\n", issuer.url);
    let gw = start_with(&yaml, mock);
    let body = json!({"name": "by oidc"});
    let admin = issuer.token_with(
        "alice",
        "latticelm",
        300,
        json!({"roles": ["reader", "llm-admin"]}),
    );
    assert_eq!(
        call(
            &gw,
            "POST",
            "/v1/admin/keys",
            Some(&admin),
            Some(body.clone())
        )
        .0,
        201
    );
    let reader = issuer.token_with("bob", "latticelm", 300, json!({"roles": ["reader"]}));
    assert_eq!(
        call(
            &gw,
            "POST",
            "/v1/admin/keys",
            Some(&reader),
            Some(body.clone())
        )
        .0,
        403
    );
    // Bob's token with the role written in afterwards: its signature fails.
    let parts: Vec<&str> = reader.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = json!(["llm-admin"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        call(&gw, "POST", "/v1/admin/keys", Some(&forged), Some(body)).0,
        401
    );
    let (_, list) = call(&gw, "GET", "/v1/admin/keys", Some(&admin), None);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only the admin's key exists"
    );
}

/// Updates of one key sent at once to two replicas are all kept: a
/// rename, a disabling and a rotation race on each of 12 keys, and every
/// key ends renamed, disabled and rotated (its new secret refused as
/// disabled, not as an unknown or superseded one). Two creations of one
/// team name: one 201, one 409. Each write is a compare-and-set on Redis
/// (`Host::record_swap`); a read-modify-write lost some of these.
#[test]
fn concurrent_admin_updates_on_two_replicas_lose_nothing() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gws = [
        start_with(&admin_config(&mock, &redis.url), mock.clone()),
        start_with(&admin_config(&mock, &redis.url), mock),
    ];
    let ids: Vec<String> = (0..12)
        .map(|i| {
            let (status, created) = call(
                &gws[i % 2],
                "POST",
                "/v1/admin/keys",
                Some(ADMIN),
                Some(json!({"name": format!("k{i}")})),
            );
            assert_eq!(status, 201, "{created}");
            created["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let secrets: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let gws = &gws;
                let rename = s.spawn(move || {
                    let path = format!("/v1/admin/keys/{id}");
                    let body = json!({"name": format!("renamed {i}")});
                    call(&gws[i % 2], "PATCH", &path, Some(ADMIN), Some(body))
                });
                let disable = s.spawn(move || {
                    let path = format!("/v1/admin/keys/{id}");
                    let body = json!({"disabled": true});
                    call(&gws[(i + 1) % 2], "PATCH", &path, Some(ADMIN), Some(body))
                });
                let rotate = s.spawn(move || {
                    let path = format!("/v1/admin/keys/{id}/rotate");
                    call(&gws[i % 2], "POST", &path, Some(ADMIN), None)
                });
                (rename, disable, rotate)
            })
            .collect();
        handles
            .into_iter()
            .map(|(rename, disable, rotate)| {
                for (status, body) in [rename.join().unwrap(), disable.join().unwrap()] {
                    assert_eq!(status, 200, "{body}");
                }
                let (status, rotated) = rotate.join().unwrap();
                assert_eq!(status, 200, "{rotated}");
                rotated["key"].as_str().unwrap().to_owned()
            })
            .collect()
    });
    for (i, (id, secret)) in ids.iter().zip(&secrets).enumerate() {
        let (_, key) = call(
            &gws[1],
            "GET",
            &format!("/v1/admin/keys/{id}"),
            Some(ADMIN),
            None,
        );
        assert_eq!(key["name"], format!("renamed {i}"), "{key}");
        assert_eq!(key["disabled"], true, "{key}");
        let (status, refused) = call(
            &gws[0],
            "POST",
            "/v1/responses",
            Some(secret),
            Some(json!({"model": "offline", "input": "hi"})),
        );
        assert_eq!(status, 401, "{refused}");
        assert_eq!(
            refused["error"]["message"], "this API key is disabled",
            "the rotation was lost: {refused}"
        );
    }
    let created: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = gws
            .iter()
            .map(|gw| {
                s.spawn(move || {
                    let body = json!({"name": "twice"});
                    call(gw, "POST", "/v1/admin/teams", Some(ADMIN), Some(body)).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(sorted, [201, 409], "{created:?}");
}
