//! Server-sent events: a decoder that is indifferent to how the network
//! splits the bytes, and the encoder for the gateway's own events.

use bytes::Bytes;

use crate::types::StreamEvent;

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// An incremental decoder (WHATWG event-stream rules): CR, LF and CRLF
/// line ends, multi-line `data:`, comments, a leading BOM. Bytes are only
/// decoded once their line is complete, so a UTF-8 sequence split across
/// chunks is reassembled.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed part of `buf`.
    pos: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
    started: bool,
    /// The previous chunk ended in CR: a leading LF belongs to it.
    skip_lf: bool,
}

impl SseDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; appends every event they complete to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        let mut chunk = chunk;
        if self.skip_lf {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            if !chunk.is_empty() {
                self.skip_lf = false;
            }
        }
        self.buf.extend_from_slice(chunk);
        loop {
            let rest = &self.buf[self.pos..];
            let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                break;
            };
            let is_cr = rest[i] == b'\r';
            let mut consumed = i + 1;
            if is_cr {
                match rest.get(i + 1) {
                    Some(b'\n') => consumed += 1,
                    Some(_) => {}
                    // CR at the end: an LF may follow in the next chunk.
                    None => self.skip_lf = true,
                }
            }
            let line = String::from_utf8_lossy(&rest[..i]).into_owned();
            self.pos += consumed;
            self.line(&line, out);
        }
        // Compact once the consumed prefix dominates, keeping pushes O(n).
        if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        } else if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Ends the stream: dispatches a final event that lacked its blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.pos < self.buf.len() {
            let line = String::from_utf8_lossy(&self.buf[self.pos..]).into_owned();
            self.buf.clear();
            self.pos = 0;
            self.line(&line, out);
        }
        self.dispatch(out);
    }

    fn line(&mut self, mut line: &str, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {} // id, retry and unknown fields do not matter to a proxy
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

/// The terminal `data: [DONE]` event.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Encodes one gateway event as `event: <type>\ndata: <json>\n\n`.
pub fn encode(event: &StreamEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.type_name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing our own types cannot fail.
    let _ = serde_json::to_writer(&mut *out, event);
    out.extend_from_slice(b"\n\n");
}

/// Encodes several events into one chunk.
pub fn encode_all(events: impl IntoIterator<Item = StreamEvent>) -> Bytes {
    let mut out = Vec::new();
    for e in events {
        encode(&e, &mut out);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn crlf_cr_lf_and_multiline() {
        let ev = decode_all(&[
            b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n",
            b"data: x\r",
            b"\n\r\n",
            b"data: y\r\rdata:z\n\n",
        ]);
        assert_eq!(ev.len(), 4);
        assert_eq!(
            ev[0],
            SseEvent {
                event: Some("a".into()),
                data: "1\n2".into()
            }
        );
        assert_eq!(ev[1].data, "x");
        assert_eq!(ev[2].data, "y");
        assert_eq!(ev[3].data, "z");
    }

    #[test]
    fn comments_bom_and_split_utf8() {
        let s = "\u{feff}: ping\n\ndata: h\u{e9}llo\n\n".as_bytes();
        let (a, b) = s.split_at(s.len() - 6); // splits the two-byte é
        let ev = decode_all(&[a, b]);
        assert_eq!(
            ev,
            vec![SseEvent {
                event: None,
                data: "héllo".into()
            }]
        );
    }

    #[test]
    fn final_event_without_blank_line() {
        assert_eq!(decode_all(&[b"data: last"])[0].data, "last");
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn every_single_cut_of_a_crlf_stream() {
        let text = "event: a\r\ndata: {\"x\":1}\r\n\r\nevent: b\r\ndata: 2\r\n\r\n: c\r\n\r\ndata: 3\r\n\r\n";
        let bytes = text.as_bytes();
        let mut whole = Vec::new();
        let mut d = SseDecoder::new();
        d.push(bytes, &mut whole);
        d.finish(&mut whole);
        for cut in 0..=bytes.len() {
            let mut out = Vec::new();
            let mut d = SseDecoder::new();
            d.push(&bytes[..cut], &mut out);
            d.push(&bytes[cut..], &mut out);
            d.finish(&mut out);
            assert_eq!(out, whole, "cut at {cut}");
        }
    }
}
