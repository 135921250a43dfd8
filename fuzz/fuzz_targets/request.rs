//! Request bodies: the caps, the parser and the validator, then the
//! upstream request for every protocol. No panic on any input.
#![no_main]

use latticelm_core::config::Config;
use latticelm_core::caps::{self, Caps};
use latticelm_core::providers::build_request;
use latticelm_core::routing::resolve;
use latticelm_core::validate;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
providers:
  oa: { type: openai, api_key: k }
  chat: { type: openai-chat, endpoint: "http://chat.test" }
  claude: { type: anthropic, api_key: k }
  gemini: { type: google, api_key: k }
  az: { type: azureopenai, api: chat, endpoint: "https://az.test" }
"#;

fuzz_target!(|data: &[u8]| {
    let lim = Caps::default();
    if caps::scan(data, &lim).is_err() {
        return;
    }
    let Ok(body) = validate::parse_body(data) else {
        return;
    };
    if caps::check(&body, &lim).is_err() || validate::validate(&body).is_err() {
        return;
    }
    let config = Config::from_yaml(CONFIG, &|_| None).expect("config");
    let model = body.model.clone().unwrap_or_default();
    for provider in ["oa", "chat", "claude", "gemini", "az"] {
        if let Ok(route) = resolve(&config, &model, Some(provider)) {
            let _ = build_request(&route, &body, true, std::time::Duration::from_secs(1));
            let _ = build_request(&route, &body, false, std::time::Duration::from_secs(1));
        }
    }
});
