//! `latticelm chat`: an interactive terminal client for the gateway.
//!
//! Answers stream in with Markdown styling, a spinner shows until the
//! first token, Ctrl-C cancels the answer (not the program), and the
//! conversation lives on the server through `previous_response_id`
//! unless storing is off or the server does not store.

mod calc;
mod client;
mod commands;
mod render;
mod state;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use self::client::{ChatError, Client, Event};
use self::commands::Command;
use self::render::Renderer;
use self::state::Conversation;

/// Options from the command line.
pub struct ChatArgs {
    /// Gateway URL.
    pub url: String,
    /// Starting model.
    pub model: String,
    /// Bearer token.
    pub token: Option<String>,
    /// Start with streaming off.
    pub no_stream: bool,
}

/// At most this many tool rounds per message.
const MAX_TOOL_ROUNDS: usize = 5;

struct Ui {
    color: bool,
    width: usize,
}

impl Ui {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn note(&self, s: &str) {
        println!("{}", self.paint("2", s));
    }
    fn error(&self, s: &str) {
        println!("{}", self.paint("31", &format!("error: {s}")));
    }
}

/// Runs the chat until `/quit` or Ctrl-D.
pub fn run(args: ChatArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = Client::new(&args.url, args.token);
    let ui = Ui {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        width: std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80),
    };
    let mut conv = Conversation::new(args.model, !args.no_stream);
    let mut editor = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    ui.note(&format!(
        "latticelm chat · {} · model {} · /help for commands",
        client.base(),
        conv.model
    ));
    loop {
        let prompt = if ui.color {
            "\x1b[1;32myou›\x1b[0m ".to_owned()
        } else {
            "you> ".to_owned()
        };
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
        }
        match commands::parse(&line) {
            Err(e) => ui.error(&e),
            Ok(Command::Nothing) => {}
            Ok(Command::Quit) => break,
            Ok(Command::Help) => println!("{}", commands::HELP),
            Ok(Command::Model(m)) => {
                conv.model = m;
                ui.note(&format!(
                    "model: {} (the conversation continues)",
                    conv.model
                ));
            }
            Ok(Command::Models) => rt.block_on(list_models(&client, &ui)),
            Ok(Command::Stream(on)) => {
                conv.stream = on;
                ui.note(&format!("streaming {}", if on { "on" } else { "off" }));
            }
            Ok(Command::Store(on)) => {
                conv.set_store(on);
                ui.note(&format!(
                    "server-side storage {}",
                    if on {
                        "on"
                    } else {
                        "off: the history is sent each turn"
                    }
                ));
            }
            Ok(Command::Tools(on)) => {
                conv.tools = on;
                ui.note(&format!(
                    "calculator tool {}",
                    if on { "on" } else { "off" }
                ));
            }
            Ok(Command::Clear) => {
                ui.note(&format!(
                    "new conversation ({} items forgotten)",
                    conv.len()
                ));
                conv.clear();
            }
            Ok(Command::Say(text)) => rt.block_on(turn(&client, &mut conv, &ui, text)),
        }
    }
    Ok(())
}

async fn list_models(client: &Client, ui: &Ui) {
    match client.models().await {
        Err(e) => ui.error(&e.to_string()),
        Ok(list) => {
            let rows: Vec<(String, String)> = list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    (
                        m["id"].as_str().unwrap_or("?").to_owned(),
                        m["owned_by"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
            println!("{}", ui.paint("1", &format!("{:<w$}  PROVIDER", "MODEL")));
            for (id, owner) in rows {
                println!("{id:<w$}  {owner}");
            }
        }
    }
}

/// One user message, and the tool rounds it leads to.
async fn turn(client: &Client, conv: &mut Conversation, ui: &Ui, text: String) {
    let mut items = vec![json!({"role": "user", "content": text})];
    let mut retried = false;
    let mut rounds = 0;
    loop {
        let response = match answer(client, conv, ui, &items).await {
            Ok(Some(r)) => r,
            Ok(None) => return, // cancelled
            Err(e) if e.lost_previous() && !retried && conv.server_lost() => {
                // The server forgot the chain (expired): resend it whole.
                retried = true;
                ui.note("(the server no longer has this conversation; sending the history)");
                continue;
            }
            Err(e) => return ui.error(&e.to_string()),
        };
        conv.record(&items, &response);
        if response["status"] == "failed" {
            let msg = response["error"]["message"]
                .as_str()
                .unwrap_or("the response failed");
            return ui.error(msg);
        }
        if response["status"] == "incomplete" {
            let reason = response["incomplete_details"]["reason"]
                .as_str()
                .unwrap_or("unknown");
            ui.note(&format!("(incomplete: {reason})"));
        }
        let calls: Vec<&Value> = response["output"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == "function_call" && i["name"] == "calculator")
            .collect();
        if calls.is_empty() || rounds >= MAX_TOOL_ROUNDS {
            return;
        }
        rounds += 1;
        items = calls
            .iter()
            .map(|c| {
                let args = c["arguments"].as_str().unwrap_or("{}");
                let result = calc::run(args);
                ui.note(&format!("🔧 calculator {args} → {result}"));
                json!({"type": "function_call_output", "call_id": c["call_id"], "output": result})
            })
            .collect();
    }
}

/// Sends one request and shows the answer; `None` when cancelled.
async fn answer(
    client: &Client,
    conv: &Conversation,
    ui: &Ui,
    items: &[Value],
) -> Result<Option<Value>, ChatError> {
    let events = client.respond(conv.request(items));
    futures::pin_mut!(events);
    let ctrl_c = tokio::signal::ctrl_c();
    futures::pin_mut!(ctrl_c);
    let mut tick = tokio::time::interval(Duration::from_millis(90));
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut frame = 0;
    let mut started = false;
    let mut renderer = Renderer::new(ui.color, ui.width);
    let mut out = std::io::stdout();
    let start_text = |started: &mut bool, out: &mut std::io::Stdout| {
        if !*started {
            *started = true;
            let _ = write!(out, "\r\x1b[2K");
        }
    };
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Text(t))) if t.is_empty() => {}
                Some(Ok(Event::Text(t))) => {
                    start_text(&mut started, &mut out);
                    let _ = write!(out, "{}", renderer.push(&t));
                    let _ = out.flush();
                }
                Some(Ok(Event::Done(resp))) => {
                    start_text(&mut started, &mut out);
                    if !conv.stream {
                        for text in message_texts(&resp) {
                            let _ = write!(out, "{}", renderer.push(&text));
                        }
                    }
                    let _ = write!(out, "{}", renderer.finish());
                    let _ = out.flush();
                    return Ok(Some(resp));
                }
                Some(Err(e)) => {
                    start_text(&mut started, &mut out);
                    return Err(e);
                }
                None => {
                    start_text(&mut started, &mut out);
                    let _ = writeln!(out, "{}", renderer.finish());
                    return Err(ChatError::Transport("the stream ended without a final response".into()));
                }
            },
            _ = tick.tick(), if !started => {
                let _ = write!(out, "\r{} ", ui.paint("36", &frames[frame % frames.len()].to_string()));
                let _ = out.flush();
                frame += 1;
            }
            _ = &mut ctrl_c => {
                // Dropping the stream closes the connection; the gateway
                // then cancels the upstream request.
                let _ = writeln!(out, "{}", renderer.finish());
                ui.note("[cancelled]");
                return Ok(None);
            }
        }
    }
}

/// The texts of a response's messages (refusals included).
fn message_texts(resp: &Value) -> Vec<String> {
    resp["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| {
            p["text"]
                .as_str()
                .or(p["refusal"].as_str())
                .map(str::to_owned)
        })
        .collect()
}
