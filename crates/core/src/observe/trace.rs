//! W3C Trace Context: the caller's `traceparent` (and `tracestate`), or a
//! new trace, and the child header each upstream request carries.

/// A request's place in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The gateway's server span.
    pub span_id: [u8; 8],
    /// The caller's span, when it sent a `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    /// The sampled flag.
    pub sampled: bool,
    /// The caller's `tracestate`, passed on as it came (when valid).
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// Continues the caller's trace, or starts one. `random` is 24 bytes
    /// from the host: a new trace id (16) and the server span id (8).
    /// `sample` decides a new trace's sampled flag; a caller's flag wins.
    pub fn from_headers(
        traceparent: Option<&str>,
        tracestate: Option<&str>,
        random: [u8; 24],
        sample: bool,
    ) -> TraceContext {
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&random[16..]);
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        if let Some((trace_id, parent, flags)) = traceparent.and_then(parse) {
            return TraceContext {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
                sampled: flags & 1 == 1,
                tracestate: tracestate
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s.len() <= 512 && s.is_ascii())
                    .map(str::to_owned),
            };
        }
        let mut trace_id = [0u8; 16];
        trace_id.copy_from_slice(&random[..16]);
        if trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        TraceContext {
            trace_id,
            span_id,
            parent_span_id: None,
            sampled: sample,
            tracestate: None,
        }
    }

    /// The trace id in hex.
    pub fn trace_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` for a child span of this request (an upstream
    /// attempt).
    pub fn child_header(&self, span_id: &[u8; 8]) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(span_id),
            u8::from(self.sampled)
        )
    }
}

/// `00-<32 hex>-<16 hex>-<2 hex>`; a later version may append fields
/// after a `-`. Invalid or all-zero ids, and version `ff`, are refused.
fn parse(header: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let h = header.trim();
    let mut parts = h.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let version = unhex::<1>(version)?;
    let _ = version;
    let trace_id = unhex::<16>(trace)?;
    let span_id = unhex::<8>(span)?;
    let flags = unhex::<1>(flags)?[0];
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags))
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: [u8; 24] = [7; 24];

    #[test]
    fn continues_a_valid_parent() {
        let t = TraceContext::from_headers(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("congo=t61rcWkgMzE"),
            R,
            false,
        );
        assert_eq!(t.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            t.parent_span_id,
            Some([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert!(t.sampled);
        assert_eq!(t.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
        assert_eq!(
            t.child_header(&[1, 2, 3, 4, 5, 6, 7, 8]),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01"
        );
    }

    #[test]
    fn starts_a_trace_for_bad_headers() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            let t = TraceContext::from_headers(Some(bad), Some("a=b"), R, true);
            assert_eq!(t.trace_id, [7; 16], "{bad}");
            assert_eq!(t.parent_span_id, None);
            assert_eq!(t.tracestate, None);
        }
        // A later version may carry more fields.
        let t = TraceContext::from_headers(
            Some("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more"),
            None,
            R,
            true,
        );
        assert_eq!(t.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!t.sampled);
    }
}
