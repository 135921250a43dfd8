//! The web playground in a real browser: Debian's `chromium` driven by
//! `playwright-core` from npm (both installed by `.ci/run`), running
//! `tests/playground/check.mjs` against a gateway.

use std::path::PathBuf;
use std::process::Command;

/// What the page should find on this gateway.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlaygroundRun<'a> {
    /// A model the mock answers.
    pub model: &'a str,
    /// The API key the page must ask for (auth on).
    pub key: Option<&'a str>,
    /// The host keeps metrics (native).
    pub metrics: bool,
    /// The model has prices.
    pub priced: bool,
    /// A target whose circuit breaker is open.
    pub open: Option<&'a str>,
    /// The key has limits and its team a budget: the dashboard charts
    /// them.
    pub limits: bool,
    /// Write `playground.png` and `dashboard.png` here.
    pub shots: Option<&'a std::path::Path>,
}

/// The playwright-core install and the browser; a missing one is a skip,
/// except in CI.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let home = std::env::var("HOME").unwrap_or_default();
    let dir = std::env::var("LATTICELM_PLAYWRIGHT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home).join(".cache/latticelm/playwright"));
    let chromium = std::env::var("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    if dir.join("node_modules/playwright-core").exists() && chromium.exists() {
        return Some((dir, chromium));
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must install chromium and playwright-core (.ci/run does)"
    );
    super::skipped("install chromium and playwright-core (see .ci/run)");
    None
}

/// Runs the browser checks against `url`; panics with their output when
/// one fails.
pub fn playground_check(url: &str, run: PlaygroundRun) {
    let Some((dir, chromium)) = browser() else {
        return;
    };
    let flag = |b: bool| if b { "1" } else { "" };
    let mut cmd = Command::new("node");
    cmd.arg(super::root().join("tests/playground/check.mjs"))
        .env("BASE", url)
        .env("MODEL", run.model)
        .env("KEY", run.key.unwrap_or_default())
        .env("METRICS", flag(run.metrics))
        .env("PRICED", flag(run.priced))
        .env("OPEN", run.open.unwrap_or_default())
        .env("LIMITS", flag(run.limits))
        .env("PLAYWRIGHT", &dir)
        .env("CHROMIUM", &chromium);
    if let Some(shots) = run.shots {
        cmd.env("SHOTS", shots);
    }
    run_node(cmd, "playground");
}

fn run_node(mut cmd: Command, what: &str) {
    let out = cmd.output().expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "the {what} checks failed:\n{text}");
}

/// Runs the keys page's browser checks (`tests/playground/admin.mjs`)
/// against `url`, whose admin key is `admin` and whose mock answers
/// `model`.
pub fn admin_page_check(url: &str, model: &str, admin: &str) {
    let Some((dir, chromium)) = browser() else {
        return;
    };
    let mut cmd = Command::new("node");
    cmd.arg(super::root().join("tests/playground/admin.mjs"))
        .env("BASE", url)
        .env("MODEL", model)
        .env("ADMIN", admin)
        .env("PLAYWRIGHT", &dir)
        .env("CHROMIUM", &chromium);
    if let Ok(shots) = std::env::var("LATTICELM_SHOTS") {
        cmd.env("SHOTS", shots);
    }
    run_node(cmd, "keys page");
}
