//! `latticelm chat` driven in a real terminal (tmux) against a running
//! gateway: streamed answers, model switching, the model table, the
//! calculator round trip, Ctrl-C cancelling an answer, and /quit.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

struct Tmux {
    name: String,
}

impl Tmux {
    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-500", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `text` appears `count` times on the screen.
    fn wait_for(&self, text: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.screen().matches(text).count() < count {
            assert!(
                Instant::now() < deadline,
                "`{text}` did not appear; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.name])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn chat_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install tmux (.ci/run does)"
        );
        skipped("tmux is not installed");
        return;
    }
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let cfg = config(&mock).replace(
        "- { name: llama,",
        "- { name: slow, provider: chat, provider_model_id: \"slow:300\" }\n  - { name: llama,",
    );
    let gw = start_with(&cfg, mock);
    let name = format!("latticelm-chat-{}", std::process::id());
    let cmd = format!(
        "NO_COLOR=1 {} chat --url {} --model llama",
        env!("CARGO_BIN_EXE_latticelm"),
        gw.url
    );
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "50",
            &cmd,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Tmux { name };
    t.wait_for("/help for commands", 1);

    // A streamed answer, then a second turn that continues server-side.
    t.type_line("hello gateway");
    t.wait_for("echo: hello gateway", 1);
    t.type_line("second turn");
    t.wait_for("echo: second turn", 1);
    let last = gw.upstream_requests().pop().unwrap();
    let messages = last["body"]["messages"].as_array().unwrap().clone();
    assert_eq!(
        messages.len(),
        3,
        "the prior context reached the model: {messages:?}"
    );
    assert_eq!(messages[1]["content"], "echo: hello gateway");

    // Switch model mid-conversation; list models.
    t.type_line("/model offline");
    t.wait_for("model: offline (the conversation continues)", 1);
    t.type_line("/models");
    t.wait_for("MODEL", 1);
    t.wait_for("az-chat", 1);

    // The calculator: the model calls it, the client runs it, the model
    // gets the result.
    t.type_line("/tools on");
    t.wait_for("calculator tool on", 1);
    t.type_line("calculator 6*7");
    t.wait_for("→ 42", 1);
    t.wait_for("The tool returned: 42", 1);

    // Ctrl-C cancels an answer, and the chat goes on.
    t.type_line("/model slow");
    t.wait_for("model: slow", 1);
    t.type_line("one two three four five six seven eight nine ten");
    t.wait_for("echo:", 3);
    t.keys(&["C-c"]);
    t.wait_for("[cancelled]", 1);
    assert!(t.alive(), "Ctrl-C did not end the program");
    t.type_line("/model llama");
    t.type_line("still here?");
    t.wait_for("echo: still here?", 1);

    // Errors are messages, not crashes.
    t.type_line("/model no-such-model");
    t.type_line("hi");
    t.wait_for(
        "error: The requested model 'no-such-model' does not exist.",
        1,
    );
    t.type_line("/frobnicate");
    t.wait_for("unknown command /frobnicate", 1);

    t.type_line("/quit");
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.alive() {
        assert!(Instant::now() < deadline, "/quit did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
