//! What the configuration accepts as a URL.

/// `http://127.0.0.1…` and `http://localhost…`: a local issuer for tests.
pub(crate) fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    rest.starts_with("127.0.0.1") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}
