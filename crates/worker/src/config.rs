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

/// The isolate's gateway. A config error is answered on every request
/// (500, naming the key) rather than hidden.
pub fn gateway(env: &Env) -> Result<Gateway, ApiError> {
    if let Some(g) = GATEWAY.with(|g| g.borrow().clone()) {
        return Ok(g);
    }
    let vars = |name: &str| lookup(env, name);
    let config = match lookup(env, "LATTICELM_CONFIG").filter(|t| !t.trim().is_empty()) {
        Some(text) => Config::from_yaml(&text, &vars).map_err(|e| {
            ApiError::new(
                500,
                "server_error",
                Some("config_error"),
                None,
                format!("LATTICELM_CONFIG: {e}"),
            )
        })?,
        None => Config::embedded_default(&vars),
    };
    let gateway = Gateway::new(config);
    GATEWAY.with(|g| *g.borrow_mut() = Some(gateway.clone()));
    Ok(gateway)
}
