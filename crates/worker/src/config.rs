//! The gateway, built once per isolate from `LATTICELM_CONFIG` (a Worker
//! var or secret holding the YAML) or the embedded default.

use std::cell::RefCell;

use latticelm_core::{ApiError, Config, Gateway};
use worker::Env;

thread_local! {
    static GATEWAY: RefCell<Option<Gateway>> = const { RefCell::new(None) };
}

/// A Worker var or secret, for `${VAR}` expansion.
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

/// A config error for any caller: the details (which can quote a value,
/// secrets included) go to the log only.
fn config_error(e: &latticelm_core::ConfigError) -> ApiError {
    let mut err = ApiError::new(
        500,
        "server_error",
        Some("config_error"),
        None,
        "the gateway's configuration (LATTICELM_CONFIG) is invalid; its operator can find why in the Worker's logs",
    );
    err.detail = Some(format!("LATTICELM_CONFIG: {e}"));
    err
}

/// The isolate's gateway. A config error is answered on every request
/// (500, naming the key) rather than hidden.
pub fn gateway(env: &Env) -> Result<Gateway, ApiError> {
    if let Some(g) = GATEWAY.with(|g| g.borrow().clone()) {
        return Ok(g);
    }
    let vars = |name: &str| lookup(env, name);
    let config = match lookup(env, "LATTICELM_CONFIG").filter(|t| !t.trim().is_empty()) {
        Some(text) => Config::from_yaml(&text, &vars).map_err(|e| config_error(&e))?,
        None => Config::embedded_default(&vars),
    };
    let mut config = config;
    let mut seal = [0u8; 32];
    let _ = getrandom::fill(&mut seal);
    if let Some(warning) = config.seed_seal(seal) {
        worker::console_warn!("latticelm: {warning}");
    }
    let gateway = Gateway::new(config);
    GATEWAY.with(|g| *g.borrow_mut() = Some(gateway.clone()));
    Ok(gateway)
}
