//! How the pipeline's events reach the client: Open Responses SSE, or a
//! front door's encoder fed each event as a value (never written out as
//! text and parsed back).

use bytes::Bytes;

use crate::sse;

/// How a stream's events are written for the client: Open Responses SSE,
/// or another front door's encoding, fed each event as a JSON value
/// (never written out as text and parsed back).
pub(crate) enum Egress {
    /// `event: <type>` / `data: <json>` frames, then `[DONE]`.
    Responses,
    /// A front door's encoder.
    Other(Box<dyn EventSink>),
}

/// A front door's stream encoder.
pub(crate) trait EventSink {
    /// Writes what one Open Responses event becomes.
    fn write_event(&mut self, event: &crate::types::StreamEvent, out: &mut String);
    /// What ends the stream.
    fn tail(&self) -> &'static str;
    /// Whether events of this type matter to it (the others are not
    /// turned into JSON values at all).
    fn wants(&self, kind: &str) -> bool;
    /// A finished (non-streamed) response in the front door's shape.
    fn whole(&self, response: &serde_json::Value) -> serde_json::Value;
}

impl Egress {
    /// What `events` become for the client; `end` adds what ends the
    /// stream (`[DONE]`).
    pub(crate) fn write(
        &mut self,
        events: impl IntoIterator<Item = crate::types::StreamEvent>,
        end: bool,
    ) -> Bytes {
        match self {
            Egress::Responses => {
                let mut out = Vec::new();
                for e in events {
                    sse::encode(&e, &mut out);
                }
                if end {
                    out.extend_from_slice(sse::DONE);
                }
                Bytes::from(out)
            }
            Egress::Other(sink) => {
                let mut out = String::new();
                for e in events {
                    if !sink.wants(e.type_name()) {
                        continue;
                    }
                    sink.write_event(&e, &mut out);
                }
                if end {
                    out.push_str(sink.tail());
                }
                Bytes::from(out)
            }
        }
    }
}
