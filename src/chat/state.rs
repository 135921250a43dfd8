//! The conversation: kept on the server through `previous_response_id`
//! when it stores responses, otherwise (or after it lost them) sent whole.

use serde_json::{json, Value};

/// Settings and history of one chat.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The model to ask.
    pub model: String,
    /// Stream answers.
    pub stream: bool,
    /// Ask the server to store responses (and continue from them).
    pub store: bool,
    /// Offer the calculator tool.
    pub tools: bool,
    /// The last stored response, when the server keeps the chain.
    previous: Option<String>,
    /// Every item so far, for sending the history whole.
    history: Vec<Value>,
}

impl Conversation {
    /// A new conversation.
    pub fn new(model: String, stream: bool) -> Self {
        Conversation {
            model,
            stream,
            store: true,
            tools: false,
            previous: None,
            history: Vec::new(),
        }
    }

    /// The request body for the turn's new items.
    pub fn request(&self, new_items: &[Value]) -> Value {
        let mut body = json!({"model": self.model, "stream": self.stream, "store": self.store});
        match (&self.previous, self.store) {
            (Some(id), true) => {
                body["previous_response_id"] = json!(id);
                body["input"] = json!(new_items);
            }
            _ => {
                let mut all = self.history.clone();
                all.extend(new_items.iter().cloned());
                body["input"] = Value::Array(all);
            }
        }
        if self.tools {
            body["tools"] = json!([super::calc::tool()]);
        }
        body
    }

    /// Records a finished turn: its new items and the response's output.
    pub fn record(&mut self, new_items: &[Value], response: &Value) {
        self.history.extend(new_items.iter().cloned());
        // Reasoning items are provider-specific and not needed to continue
        // a stateless history on another model.
        let output = response["output"].as_array().cloned().unwrap_or_default();
        self.history
            .extend(output.into_iter().filter(|i| i["type"] != "reasoning"));
        let stored = response["store"].as_bool() == Some(true) && response["status"] != "failed";
        self.previous = (self.store && stored)
            .then(|| response["id"].as_str().map(str::to_owned))
            .flatten();
    }

    /// The server no longer has the chain (expired): send history whole.
    pub fn server_lost(&mut self) -> bool {
        self.previous.take().is_some()
    }

    /// Turns storing on or off; off also stops continuing server-side.
    pub fn set_store(&mut self, on: bool) {
        self.store = on;
        if !on {
            self.previous = None;
        }
    }

    /// Starts over.
    pub fn clear(&mut self) {
        self.previous = None;
        self.history.clear();
    }

    /// Items in the local history.
    pub fn len(&self) -> usize {
        self.history.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(t: &str) -> Vec<Value> {
        vec![json!({"role": "user", "content": t})]
    }

    fn response(id: &str, store: bool, text: &str) -> Value {
        json!({"id": id, "store": store, "status": "completed", "output": [
            {"type": "reasoning", "id": "rs", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}]})
    }

    #[test]
    fn continues_on_the_server_sending_only_new_messages() {
        let mut c = Conversation::new("m".into(), true);
        let first = c.request(&user("hi"));
        assert!(first.get("previous_response_id").is_none());
        c.record(&user("hi"), &response("resp_1", true, "hello"));
        let second = c.request(&user("again"));
        assert_eq!(second["previous_response_id"], "resp_1");
        assert_eq!(second["input"], json!(user("again")));
        // The model can change; the chain continues.
        c.model = "other".into();
        assert_eq!(c.request(&user("x"))["model"], "other");
    }

    #[test]
    fn falls_back_to_the_whole_history() {
        let mut c = Conversation::new("m".into(), false);
        c.record(&user("hi"), &response("resp_1", false, "hello"));
        let body = c.request(&user("again"));
        assert!(
            body.get("previous_response_id").is_none(),
            "the server did not store"
        );
        assert_eq!(
            body["input"].as_array().unwrap().len(),
            3,
            "user, assistant (reasoning dropped), user"
        );
        let mut c = Conversation::new("m".into(), false);
        c.record(&user("hi"), &response("resp_1", true, "hello"));
        assert!(c.server_lost());
        assert_eq!(
            c.request(&user("again"))["input"].as_array().unwrap().len(),
            3
        );
        c.set_store(false);
        assert_eq!(c.request(&user("x"))["store"], false);
        c.clear();
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn tools_are_offered_when_on() {
        let mut c = Conversation::new("m".into(), false);
        assert!(c.request(&user("x")).get("tools").is_none());
        c.tools = true;
        assert_eq!(c.request(&user("x"))["tools"][0]["name"], "calculator");
    }
}
