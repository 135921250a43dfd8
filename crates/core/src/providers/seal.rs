//! Provider reasoning state, sealed into `encrypted_content`.
//!
//! Anthropic thinking blocks (signed or redacted) and Gemini thought
//! signatures must go back to the provider that issued them, byte for
//! byte, when a stateless client (`store: false`) resends its reasoning
//! items. The stream translators write that state in a raw form,
//! `<slug><data>`: `anthropic:` + the block's JSON, `google:` + the
//! signature. The builder seals it before any item leaves the gateway:
//!
//! ```text
//! lattice1.<base64url(raw)>.<base64url(HMAC-SHA-256(key, "lattice1." + base64url(raw))[..16])>
//! ```
//!
//! Sent back, a blob is opened before the upstream request is built
//! ([`open_input`]). One that verifies becomes its raw form again, and each
//! provider's request builder keeps only its own slug; one that does not
//! verify, or a raw form that a client wrote itself, is dropped with its
//! item. So the blob is opaque to clients, tamper-evident, and never
//! hands one provider's data to another.
//!
//! The key is derived from `conversations.reasoning_key` when it is set
//! (blobs then move between instances that share it and between providers
//! of one protocol). Unset, each provider seals with a key derived from its
//! own credential, or, without one (a local server), from its name and
//! endpoint.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::routing::Route;
use crate::types::{CreateResponseBody, Input, Item};

const PREFIX: &str = "lattice1.";
const TAG_BYTES: usize = 16;
/// The raw form of a gateway-made compaction summary.
pub const COMPACTION: &str = "compaction:";
/// The slugs of raw state: only the gateway may write these.
const RAW_SLUGS: [&str; 3] = [super::anthropic::SLUG, super::google::SLUG, COMPACTION];
/// What a compaction item becomes for the model.
const SUMMARY_HEADER: &str = "[A summary of the earlier conversation, which it replaces]\n";

/// Seals and opens blobs with one key.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer for blobs that `route`'s provider issues or receives.
    pub fn for_route(config: &Config, route: &Route<'_>) -> Sealer {
        let mut h = Sha256::new();
        h.update(b"latticelm reasoning seal v1\0");
        match config
            .conversations
            .reasoning_key
            .as_deref()
            .filter(|k| !k.is_empty())
        {
            Some(secret) => {
                h.update(b"key\0");
                h.update(secret.as_bytes());
            }
            None => {
                h.update(b"provider\0");
                h.update(route.provider_name.as_bytes());
                h.update(b"\0");
                h.update(route.provider.base_url().as_bytes());
                h.update(b"\0");
                h.update(route.provider.key().unwrap_or_default().as_bytes());
            }
        }
        Sealer {
            key: h.finalize().into(),
        }
    }

    /// The sealer for state that any provider may receive (compaction
    /// summaries): `conversations.reasoning_key`, or, unset, a key derived
    /// from every configured provider's name, endpoint and credential (the
    /// same on every instance that shares the configuration).
    pub fn gateway(config: &Config) -> Sealer {
        let mut h = Sha256::new();
        h.update(b"latticelm gateway seal v1\0");
        match config
            .conversations
            .reasoning_key
            .as_deref()
            .filter(|k| !k.is_empty())
        {
            Some(secret) => h.update(secret.as_bytes()),
            None => {
                for (name, p) in &config.providers {
                    for part in [name.as_str(), p.base_url(), p.key().unwrap_or_default()] {
                        h.update(part.as_bytes());
                        h.update(b"\0");
                    }
                }
            }
        }
        Sealer {
            key: h.finalize().into(),
        }
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(signed.as_bytes());
        mac
    }

    /// Seals a raw form; anything else is returned as it is.
    pub fn seal(&self, raw: &str) -> String {
        if !is_raw(raw) {
            return raw.to_owned();
        }
        let signed = format!("{PREFIX}{}", B64.encode(raw));
        let tag = self.mac(&signed).finalize().into_bytes();
        format!("{signed}.{}", B64.encode(&tag[..TAG_BYTES]))
    }

    /// The raw form inside a sealed blob, if it verifies.
    pub fn open(&self, blob: &str) -> Option<String> {
        let (signed, tag) = blob.rsplit_once('.')?;
        let payload = signed.strip_prefix(PREFIX)?;
        let tag = B64.decode(tag).ok()?;
        // Constant time: a mismatch must not say how much matched.
        if tag.len() != TAG_BYTES || self.mac(signed).verify_truncated_left(&tag).is_err() {
            return None;
        }
        let raw = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        is_raw(&raw).then_some(raw)
    }
}

/// Whether `s` is raw provider state (to be sealed before it leaves).
pub fn is_raw(s: &str) -> bool {
    RAW_SLUGS.iter().any(|slug| s.starts_with(slug))
}

/// Whether `s` is a sealed blob.
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(PREFIX)
}

/// The request with every sealed blob in its input opened for this
/// provider. Reasoning items whose blob does not verify, and those that
/// carry raw state written by the client, are dropped. A compaction item
/// the gateway made becomes a user message holding its summary; one an
/// OpenAI upstream made goes only to the Responses protocol. Borrowed
/// when there is nothing to open (the common case).
pub fn open_input<'a>(
    sealer: &Sealer,
    config: &Config,
    protocol: super::Protocol,
    body: &'a CreateResponseBody,
) -> Cow<'a, CreateResponseBody> {
    let carries = |i: &Item| match i {
        Item::Reasoning(r) => r
            .encrypted_content
            .as_deref()
            .is_some_and(|e| is_sealed(e) || is_raw(e)),
        other => is_compaction(other),
    };
    let Some(Input::Items(items)) = &body.input else {
        return Cow::Borrowed(body);
    };
    if !items.iter().any(carries) {
        return Cow::Borrowed(body);
    }
    let gateway = items
        .iter()
        .any(is_compaction)
        .then(|| Sealer::gateway(config));
    let mut body = body.clone();
    if let Some(Input::Items(items)) = &mut body.input {
        items.retain_mut(|i| {
            if is_compaction(i) {
                return match (compaction_summary(i, gateway.as_ref()), protocol) {
                    (Some(Ok(summary)), _) => {
                        *i = Item::Message(crate::types::Message::user_text(&format!(
                            "{SUMMARY_HEADER}{summary}"
                        )));
                        true
                    }
                    (Some(Err(())), _) => false,
                    // Not ours: the upstream's own, for its own protocol.
                    (None, p) => p == super::Protocol::Responses,
                };
            }
            let Item::Reasoning(r) = i else {
                return true;
            };
            match r.encrypted_content.as_deref() {
                Some(e) if is_sealed(e) => match sealer.open(e) {
                    Some(raw) => {
                        r.encrypted_content = Some(raw);
                        true
                    }
                    None => false,
                },
                Some(e) => !is_raw(e),
                None => true,
            }
        });
    }
    Cow::Owned(body)
}

fn is_compaction(i: &Item) -> bool {
    matches!(i, Item::Other(v) if v.get("type").and_then(|t| t.as_str()) == Some("compaction"))
}

/// A compaction item's summary: `None` when the item is not the
/// gateway's; `Err` when it claims to be and does not verify.
fn compaction_summary(i: &Item, gateway: Option<&Sealer>) -> Option<Result<String, ()>> {
    let Item::Other(v) = i else { return None };
    let e = v.get("encrypted_content").and_then(|e| e.as_str())?;
    if is_raw(e) {
        return Some(Err(()));
    }
    if !is_sealed(e) {
        return None;
    }
    let raw = gateway.and_then(|g| g.open(e));
    Some(
        raw.as_deref()
            .and_then(|r| r.strip_prefix(COMPACTION))
            .map(str::to_owned)
            .ok_or(()),
    )
}
