//! The config loader on arbitrary text: an error naming a key, never a
//! panic (durations that overflow included).
#![no_main]

use latticelm_core::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "SET").then(|| "value".to_owned());
    let _ = Config::from_yaml(text, &env);
});
