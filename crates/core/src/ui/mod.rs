//! The web playground and dashboard: hand-written HTML, CSS and
//! JavaScript with no build step, embedded here so that every host serves
//! the same bytes. The page is public; the API calls it makes carry the
//! key the user pasted (kept in the browser's `sessionStorage`). It is
//! sent with a strict Content-Security-Policy: scripts and styles only
//! from these files, requests only to this origin, no framing.

use bytes::Bytes;

use crate::host::{Body, HttpRequest, HttpResponse};

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `content-type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
    /// Its validator (FNV-1a of the bytes, computed at compile time).
    pub etag: u64,
}

const fn asset(path: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        path,
        content_type,
        body,
        etag: fnv1a(body.as_bytes()),
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The page (served at `/`, `/playground`, `/dashboard` and `/admin`).
const PAGE: &str = include_str!("index.html");

/// Every embedded file, the page first.
pub const ASSETS: [Asset; 10] = [
    asset("/", HTML, PAGE),
    asset(
        "/ui/app.css",
        "text/css; charset=utf-8",
        include_str!("app.css"),
    ),
    asset("/ui/app.js", JS, include_str!("app.js")),
    asset("/ui/util.js", JS, include_str!("util.js")),
    asset("/ui/chat.js", JS, include_str!("chat.js")),
    asset("/ui/markdown.js", JS, include_str!("markdown.js")),
    asset("/ui/dashboard.js", JS, include_str!("dashboard.js")),
    asset("/ui/limits.js", JS, include_str!("limits.js")),
    asset("/ui/admin.js", JS, include_str!("admin.js")),
    asset("/ui/icon.svg", "image/svg+xml", include_str!("icon.svg")),
];

/// The Content-Security-Policy of every UI response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The embedded file at `path` (the path without a trailing slash, as
/// the pipeline matches it), if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    match path {
        "" | "/playground" | "/dashboard" | "/admin" => Some(&ASSETS[0]),
        p => ASSETS[1..].iter().find(|a| a.path == p),
    }
}

/// The response for an asset: its bytes (none for `HEAD`), or `304` when
/// the browser's copy is current; validated by `ETag` on every use.
pub fn respond(asset: &Asset, req: &HttpRequest) -> HttpResponse {
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = req
        .header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut headers = vec![
        ("content-type".to_owned(), asset.content_type.to_owned()),
        ("cache-control".to_owned(), "no-cache".to_owned()),
        ("etag".to_owned(), etag),
    ];
    headers.extend(
        [
            ("content-security-policy", CSP),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
            (
                "permissions-policy",
                "camera=(), microphone=(), geolocation=()",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let (status, body) = if fresh {
        (304, Bytes::new())
    } else if req.method == "HEAD" {
        (200, Bytes::new())
    } else {
        (200, Bytes::from_static(asset.body.as_bytes()))
    };
    HttpResponse {
        status,
        headers,
        body: Body::Full(body),
        detail: None,
    }
}

/// FNV-1a, 64 bits: a stable validator for the embedded bytes.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_page_and_its_files_are_served_with_a_strict_policy() {
        for path in ["", "/playground", "/dashboard"] {
            assert_eq!(find(path).unwrap().content_type, HTML);
        }
        assert!(find("/ui/nope.js").is_none());
        assert!(find("/ui").is_none());
        let js = find("/ui/app.js").unwrap();
        let r = respond(js, &get("/ui/app.js", &[]));
        assert_eq!(r.status, 200);
        let header = |r: &HttpResponse, k: &str| {
            r.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header(&r, "content-security-policy").unwrap(), CSP);
        assert_eq!(header(&r, "x-content-type-options").unwrap(), "nosniff");
        let etag = header(&r, "etag").unwrap();
        let again = respond(js, &get("/ui/app.js", &[("if-none-match", &etag)]));
        assert_eq!(again.status, 304);
    }

    #[test]
    fn every_file_the_page_names_is_embedded() {
        for a in &ASSETS[1..] {
            let name = a.path.trim_start_matches("/ui/");
            let named = ASSETS.iter().any(|o| o.body.contains(name));
            assert!(named, "{} is embedded but never used", a.path);
        }
        // No inline script or style: the policy would block it.
        assert!(!PAGE.contains("<script>") && !PAGE.contains("style="));
        assert!(!PAGE.contains("<style"));
    }
}
