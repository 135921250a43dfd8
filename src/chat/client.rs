//! Talking to the gateway: models, and responses as a stream of events
//! (non-streaming answers arrive as one final event).

use std::collections::VecDeque;

use futures::stream::{self, Stream, StreamExt};
use latticelm_core::sse::{SseDecoder, SseEvent};
use serde_json::Value;

/// What went wrong, said for a person.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The gateway answered with an error envelope.
    #[error("{message}{hint}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The envelope's code.
        code: Option<String>,
        /// The envelope's message.
        message: String,
        /// Advice, for 401.
        hint: &'static str,
    },
    /// Could not reach or read the gateway.
    #[error("{0}")]
    Transport(String),
}

impl ChatError {
    /// Whether the server lost the conversation (so it can be resent whole).
    pub fn lost_previous(&self) -> bool {
        matches!(self, ChatError::Api { code: Some(c), .. } if c == "previous_response_not_found")
    }
}

/// One thing the answer did.
pub enum Event {
    /// Text for the user.
    Text(String),
    /// The final response object.
    Done(Value),
}

/// A connection to the gateway.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for `url` (with or without `/v1`).
    pub fn new(url: &str, token: Option<String>) -> Self {
        let base = url.trim_end_matches('/').trim_end_matches("/v1").to_owned();
        Client {
            http: reqwest::Client::new(),
            base,
            token,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn with_auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// `GET /v1/models`.
    pub async fn models(&self) -> Result<Value, ChatError> {
        let resp = self
            .with_auth(self.http.get(format!("{}/v1/models", self.base)))
            .send()
            .await
            .map_err(|e| transport(&self.base, e))?;
        read_json(resp).await
    }

    /// `POST /v1/responses`, as events.
    pub fn respond(&self, body: Value) -> impl Stream<Item = Result<Event, ChatError>> + '_ {
        enum St {
            Start(Value),
            Streaming(
                Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin + Send>,
                SseDecoder,
                VecDeque<Event>,
            ),
            Done,
        }
        stream::unfold(St::Start(body), move |st| async move {
            match st {
                St::Done => None,
                St::Start(body) => {
                    let streaming = body["stream"].as_bool() == Some(true);
                    let sent = self
                        .with_auth(
                            self.http
                                .post(format!("{}/v1/responses", self.base))
                                .json(&body),
                        )
                        .send()
                        .await;
                    let resp = match sent {
                        Ok(r) => r,
                        Err(e) => return Some((Err(transport(&self.base, e)), St::Done)),
                    };
                    if !streaming || !resp.status().is_success() {
                        return Some((read_json(resp).await.map(Event::Done), St::Done));
                    }
                    let bytes = Box::new(resp.bytes_stream());
                    Some((
                        Ok(Event::Text(String::new())),
                        St::Streaming(bytes, SseDecoder::new(), VecDeque::new()),
                    ))
                }
                St::Streaming(mut bytes, mut decoder, mut pending) => loop {
                    if let Some(ev) = pending.pop_front() {
                        return Some((Ok(ev), St::Streaming(bytes, decoder, pending)));
                    }
                    let mut events = Vec::new();
                    match bytes.next().await {
                        Some(Ok(chunk)) => decoder.push(&chunk, &mut events),
                        Some(Err(e)) => {
                            return Some((
                                Err(ChatError::Transport(format!("the stream broke: {e}"))),
                                St::Done,
                            ))
                        }
                        None => {
                            decoder.finish(&mut events);
                            pending.extend(events.iter().filter_map(to_event));
                            return pending.pop_front().map(|ev| {
                                (
                                    Ok(ev),
                                    St::Streaming(Box::new(stream::empty()), decoder, pending),
                                )
                            });
                        }
                    }
                    pending.extend(events.iter().filter_map(to_event));
                },
            }
        })
    }
}

fn to_event(ev: &SseEvent) -> Option<Event> {
    let v: Value = serde_json::from_str(&ev.data).ok()?;
    match v["type"].as_str()? {
        "response.output_text.delta" | "response.refusal.delta" => {
            v["delta"].as_str().map(|t| Event::Text(t.to_owned()))
        }
        "response.completed" | "response.incomplete" | "response.failed" => {
            Some(Event::Done(v["response"].clone()))
        }
        _ => None,
    }
}

fn transport(base: &str, e: reqwest::Error) -> ChatError {
    if e.is_connect() {
        ChatError::Transport(format!(
            "cannot reach the gateway at {base} (is `latticelm serve` running? see --url)"
        ))
    } else {
        ChatError::Transport(format!("request to {base} failed: {e}"))
    }
}

async fn read_json(resp: reqwest::Response) -> Result<Value, ChatError> {
    let status = resp.status().as_u16();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| ChatError::Transport(format!("unreadable answer: {e}")))?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let err = &body["error"];
    Err(ChatError::Api {
        status,
        code: err["code"].as_str().map(str::to_owned),
        message: err["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}")),
        hint: if status == 401 {
            " (pass --token or set LATTICELM_TOKEN)"
        } else {
            ""
        },
    })
}
