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
///
/// The upstream controls the input, so the work is linear in it however
/// it is chunked (each byte is scanned once), and an event or line larger
/// than the limit stops the decoder ([`SseDecoder::overflowed`]) instead
/// of growing without bound.
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed part of `buf`.
    pos: usize,
    /// Bytes after `pos` already scanned for a line end.
    scanned: usize,
    /// Largest line or event, in bytes.
    limit: usize,
    overflow: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    started: bool,
    /// The previous chunk ended in CR: a leading LF belongs to it.
    skip_lf: bool,
}

/// The largest event [`SseDecoder::new`] accepts: 16 MiB.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

impl Default for SseDecoder {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl SseDecoder {
    /// A new decoder for events up to [`MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder for lines and events of at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            limit,
            overflow: false,
            event: None,
            data: String::new(),
            has_data: false,
            started: false,
            skip_lf: false,
        }
    }

    /// Whether a line or event went past the limit: the decoder has
    /// stopped, and the stream cannot be trusted.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Feeds bytes; appends every event they complete to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.overflow {
            return;
        }
        let mut chunk = chunk;
        if self.skip_lf {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            if !chunk.is_empty() {
                self.skip_lf = false;
            }
        }
        if self.pos == self.buf.len() {
            // Nothing pending (the common case): read the chunk's lines in
            // place, and keep only its unfinished tail.
            self.buf.clear();
            self.pos = 0;
            self.scanned = 0;
            let used = self.lines(chunk, out);
            if !self.overflow {
                self.buf.extend_from_slice(&chunk[used..]);
                self.check_pending();
            }
            return;
        }
        self.buf.extend_from_slice(chunk);
        let buf = std::mem::take(&mut self.buf);
        let used = self.lines(&buf[self.pos..], out);
        if self.overflow {
            return;
        }
        self.buf = buf;
        self.pos += used;
        // Compact once the consumed prefix dominates, keeping pushes O(n).
        if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        } else if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.check_pending();
    }

    /// Stops when the unfinished line alone is past the limit.
    fn check_pending(&mut self) {
        if self.buf.len() - self.pos > self.limit {
            self.stop();
        }
    }

    /// Reads the complete lines at the start of `rest` (bytes after the
    /// last consumed line); returns how many bytes they took. The scan
    /// for a line end resumes where the last push left it (`scanned`),
    /// so a long line fed in small pieces is scanned once.
    fn lines(&mut self, rest: &[u8], out: &mut Vec<SseEvent>) -> usize {
        let mut at = 0;
        loop {
            let pending = &rest[at..];
            let from = self.scanned.min(pending.len());
            let Some(i) = memchr::memchr2(b'\n', b'\r', &pending[from..]).map(|i| i + from) else {
                self.scanned = pending.len();
                return at;
            };
            self.scanned = 0;
            let mut consumed = i + 1;
            if pending[i] == b'\r' {
                match pending.get(i + 1) {
                    Some(b'\n') => consumed += 1,
                    Some(_) => {}
                    // CR at the end: an LF may follow in the next chunk.
                    None => self.skip_lf = true,
                }
            }
            let line = match std::str::from_utf8(&pending[..i]) {
                Ok(s) => std::borrow::Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(&pending[..i]),
            };
            at += consumed;
            self.line(&line, out);
            if self.data.len() > self.limit {
                self.stop();
                return at;
            }
        }
    }

    fn stop(&mut self) {
        self.overflow = true;
        self.buf = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        self.data = String::new();
        self.has_data = false;
    }

    /// Ends the stream: dispatches a final event that lacked its blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.overflow {
            return;
        }
        if self.pos < self.buf.len() {
            let line = String::from_utf8_lossy(&self.buf[self.pos..]).into_owned();
            self.buf.clear();
            self.pos = 0;
            self.line(&line, out);
            if self.data.len() > self.limit {
                self.stop();
                return;
            }
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

/// Encodes one gateway event as `event: <type>\ndata: <json>\n\n`. An
/// event type from an upstream (extension events) is written with only
/// `A-Z a-z 0-9 . _ : -`, anything else as `_`, so that it cannot end the
/// line and inject an event of its own.
pub fn encode(event: &StreamEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    for b in event.type_name().bytes() {
        out.push(if safe_event_byte(b) { b } else { b'_' });
    }
    out.extend_from_slice(b"\ndata: ");
    // Serializing our own types cannot fail.
    let _ = serde_json::to_writer(&mut *out, event);
    out.extend_from_slice(b"\n\n");
}

/// A byte an event type may hold on its `event:` line.
pub(crate) fn safe_event_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
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

    #[test]
    fn a_long_line_in_tiny_chunks_is_linear_and_bounded() {
        // 4 MiB without a line end, one byte at a time: scanning the
        // whole partial line on every push would be 8 trillion steps.
        let mut d = SseDecoder::with_limit(1024 * 1024);
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        for _ in 0..4 * 1024 * 1024 {
            d.push(b"x", &mut out);
        }
        assert!(d.overflowed(), "past the limit");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // Under the limit, a long line in small chunks still decodes.
        let mut d = SseDecoder::with_limit(1024 * 1024);
        let line = format!("data: {}\n\n", "y".repeat(500_000));
        for c in line.as_bytes().chunks(7) {
            d.push(c, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 500_000);
        assert!(!d.overflowed());
    }

    #[test]
    fn a_last_line_without_its_end_cannot_pass_the_limit() {
        // Found by cargo fuzz: the line that ends the stream without a
        // line end used to be added to the event unchecked.
        let mut d = SseDecoder::with_limit(100);
        let mut out = Vec::new();
        d.push(format!("data: {}\n", "a".repeat(90)).as_bytes(), &mut out);
        d.push(format!("data: {}", "b".repeat(90)).as_bytes(), &mut out);
        d.finish(&mut out);
        assert!(out.is_empty() && d.overflowed());
    }

    #[test]
    fn many_data_lines_cannot_grow_one_event_without_bound() {
        let mut d = SseDecoder::with_limit(1000);
        let mut out = Vec::new();
        for _ in 0..200 {
            d.push(b"data: 0123456789\n", &mut out);
        }
        assert!(d.overflowed());
        assert!(out.is_empty());
    }

    #[test]
    fn upstream_event_types_cannot_inject_lines() {
        let ev = StreamEvent::Extension(
            serde_json::json!({"type": "openai:x\n\nevent: response.completed\r", "a": 1}),
        );
        let mut out = Vec::new();
        encode(&ev, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("event: openai:x__event:_response.completed_\ndata: "),
            "{text}"
        );
        assert_eq!(text.matches('\n').count(), 3);
    }

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
