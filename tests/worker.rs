//! The same gateway on Cloudflare Workers: the built Worker under
//! `wrangler dev` (workerd) on 127.0.0.1, in front of the mock provider.

mod support;

use support::*;

#[test]
fn worker_end_to_end() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_slow(&mock), mock) else {
        return;
    };
    edge_suite(&gw);
}

#[test]
fn worker_auth() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let Some(gw) = start_worker(&config_with_auth(&mock, &issuer.url), mock) else {
        return;
    };
    auth_checks(&gw, &issuer);
}

#[test]
fn worker_routing() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_routing(&mock), mock) else {
        return;
    };
    routing_suite(&gw);
}
