//! One upstream stream being translated: the decoder, the translator and
//! the builder, pumped chunk by chunk under the idle timeout and the
//! request deadline. The attempt loop pumps it until the first output
//! (the first-byte hold); the SSE body pumps the rest.

use std::time::Duration;

use futures::StreamExt;

use crate::builder::ResponseBuilder;
use crate::host::{ByteStream, Host};
use crate::providers::StreamTranslator;
use crate::routing::Failure;
use crate::sse::{SseDecoder, SseEvent};

use crate::pipeline::clock::{now_ms, unix_secs, within};

/// An upstream stream and its translation so far.
pub(crate) struct Live {
    upstream: Option<ByteStream>,
    decoder: SseDecoder,
    translator: StreamTranslator,
    events: Vec<SseEvent>,
    /// Bytes received from the upstream so far, and the most allowed.
    received: usize,
    max_bytes: usize,
    /// The builder: its events are what the client gets.
    pub b: ResponseBuilder,
    /// A stream cut before its end, after output, is a fault (for the
    /// continuation stage) rather than a settled failure.
    pub cut_is_fault: bool,
}

/// Why a stream could not go on.
#[derive(Debug, Clone)]
pub(crate) struct StreamFault {
    /// The error code for the client.
    pub code: &'static str,
    /// What happened.
    pub message: String,
    /// How the attempt failed, for the retry policy and the breaker.
    pub failure: Failure,
}

impl Live {
    /// A stream whose builder has not started yet.
    pub fn new(
        upstream: ByteStream,
        translator: StreamTranslator,
        b: ResponseBuilder,
        max_bytes: usize,
    ) -> Self {
        Live {
            upstream: Some(upstream),
            decoder: SseDecoder::new(),
            translator,
            events: Vec::new(),
            received: 0,
            max_bytes,
            b,
            cut_is_fault: false,
        }
    }

    /// Whether the builder has produced model output.
    pub fn has_output(&self) -> bool {
        !self.b.response().output.is_empty()
    }

    /// Reads one upstream chunk and translates it. When the upstream ends
    /// (or sends its terminal event), the builder is settled and the
    /// upstream dropped. Time runs out at the idle timeout or at the
    /// deadline (ms since the epoch), whichever comes first.
    pub async fn pump<H: Host>(
        &mut self,
        host: &H,
        provider: &str,
        idle: Duration,
        deadline: u64,
    ) -> Result<(), StreamFault> {
        let remaining = deadline.saturating_sub(now_ms(host));
        let limit = idle.min(Duration::from_millis(remaining));
        let next = match self.upstream.as_mut() {
            Some(up) => within(host, limit, up.next()).await,
            None => Some(None),
        };
        let ended = match next {
            None if limit < idle => {
                return Err(StreamFault {
                    code: "deadline_exceeded",
                    message: format!(
                        "the request deadline passed while upstream '{provider}' was streaming"
                    ),
                    failure: Failure::Timeout,
                })
            }
            None => {
                return Err(StreamFault {
                    code: "upstream_timeout",
                    message: format!("upstream '{provider}' sent nothing for {idle:?}"),
                    failure: Failure::Timeout,
                })
            }
            Some(Some(Err(e))) => {
                return Err(StreamFault {
                    code: "upstream_stream_error",
                    message: format!("upstream '{provider}' stream failed: {e}"),
                    failure: Failure::Connect,
                })
            }
            Some(Some(Ok(chunk))) => {
                self.received = self.received.saturating_add(chunk.len());
                self.decoder.push(&chunk, &mut self.events);
                if self.decoder.overflowed() || self.received > self.max_bytes {
                    self.upstream = None;
                    return Err(StreamFault {
                        code: "upstream_response_too_large",
                        message: format!(
                            "upstream '{provider}' sent an event over {} bytes, or more than {} bytes in all (server.max_upstream_stream_bytes)",
                            crate::sse::MAX_EVENT_BYTES,
                            self.max_bytes
                        ),
                        failure: Failure::Status(502),
                    });
                }
                false
            }
            Some(None) => {
                self.decoder.finish(&mut self.events);
                true
            }
        };
        for ev in std::mem::take(&mut self.events) {
            // Nothing after the upstream's terminal event belongs to this
            // response, however the bytes were chunked.
            if self.translator.is_terminal() {
                break;
            }
            if let Err(e) = self.translator.on_event(&ev, &mut self.b) {
                self.upstream = None;
                return Err(StreamFault {
                    code: "upstream_invalid_response",
                    message: e.to_string(),
                    failure: Failure::Status(502),
                });
            }
        }
        if let Some(why) = self.b.take_inconsistency() {
            self.upstream = None;
            return Err(StreamFault {
                code: "upstream_invalid_response",
                message: format!("upstream '{provider}' sent an inconsistent stream: {why}"),
                failure: Failure::Status(502),
            });
        }
        if !self.b.is_finished() && (ended || self.translator.is_terminal()) {
            // Stop reading (and drop) the upstream once it is finished.
            self.upstream = None;
            let outcome = self.translator.finish(&mut self.b);
            if let crate::builder::Outcome::Failed(e) = &outcome {
                let cut = e.code.as_deref() == Some("upstream_stream_truncated");
                if cut && self.cut_is_fault && self.has_output() {
                    return Err(StreamFault {
                        code: "upstream_stream_truncated",
                        message: e.message.clone(),
                        failure: Failure::Connect,
                    });
                }
            }
            self.b.settle(outcome, unix_secs(host));
        }
        Ok(())
    }
}
