//! Authentication end to end on the native binary: a local OIDC issuer on
//! 127.0.0.1 (discovery and JWKS; keys generated here), API keys, the
//! model allow-list, and ownership across principals.

mod support;

use support::*;

#[test]
fn oidc_api_keys_and_ownership() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let gw = start_with(&config_with_auth(&mock, &issuer.url), mock);
    auth_checks(&gw, &issuer);
}
