//! What the user typed: a message, or a `/command`.

/// One line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this to the model.
    Say(String),
    /// `/model NAME`.
    Model(String),
    /// `/models`.
    Models,
    /// `/stream on|off`.
    Stream(bool),
    /// `/store on|off`.
    Store(bool),
    /// `/tools on|off`.
    Tools(bool),
    /// `/clear`: start a new conversation.
    Clear,
    /// `/help`.
    Help,
    /// `/quit` or `/exit`.
    Quit,
    /// Nothing to do (an empty line).
    Nothing,
}

/// The help text.
pub const HELP: &str = "\
commands:
  /model NAME        switch model (the conversation continues)
  /models            list the gateway's models
  /stream on|off     stream answers as they arrive
  /store on|off      keep the conversation on the server (previous_response_id)
  /tools on|off      offer the built-in calculator tool
  /clear             start a new conversation
  /help              this help
  /quit              leave (or Ctrl-D); Ctrl-C cancels an answer";

/// Parses one line; errors are messages for the user.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Command::Nothing);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Command::Say(line.to_owned()));
    };
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (rest, ""),
    };
    let on_off = |what: &str| match arg {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("usage: /{what} on|off")),
    };
    match name {
        "model" if !arg.is_empty() => Ok(Command::Model(arg.to_owned())),
        "model" => Err("usage: /model NAME (see /models)".into()),
        "models" => Ok(Command::Models),
        "stream" => on_off("stream").map(Command::Stream),
        "store" => on_off("store").map(Command::Store),
        "tools" => on_off("tools").map(Command::Tools),
        "clear" => Ok(Command::Clear),
        "help" | "?" => Ok(Command::Help),
        "quit" | "exit" | "q" => Ok(Command::Quit),
        other => Err(format!("unknown command /{other} (try /help)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_messages() {
        assert_eq!(
            parse("  hello there "),
            Ok(Command::Say("hello there".into()))
        );
        assert_eq!(parse(""), Ok(Command::Nothing));
        assert_eq!(
            parse("/model  claude-sonnet"),
            Ok(Command::Model("claude-sonnet".into()))
        );
        assert!(parse("/model").is_err());
        assert_eq!(parse("/stream off"), Ok(Command::Stream(false)));
        assert_eq!(parse("/store on"), Ok(Command::Store(true)));
        assert_eq!(parse("/tools on"), Ok(Command::Tools(true)));
        assert!(parse("/tools maybe").unwrap_err().contains("on|off"));
        assert_eq!(parse("/exit"), Ok(Command::Quit));
        assert!(parse("/frobnicate").unwrap_err().contains("/help"));
    }
}
