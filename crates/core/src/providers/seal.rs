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
//! lattice2.<base64url(nonce ‖ XChaCha20-Poly1305(key, nonce, raw))>
//! ```
//!
//! The nonce is HMAC-SHA-256 of the raw form under a second key (a
//! synthetic IV: no randomness needed, and the same state always seals
//! the same way). So the blob is encrypted (clients cannot read it),
//! authenticated (tampered or forged blobs do not open), and never hands
//! one provider's data to another.
//!
//! Sent back, a blob is opened before the upstream request is built
//! ([`open_input`]). One that opens becomes its raw form again, and each
//! provider's request builder keeps only its own slug; one that does not
//! (another key's, tampered, or a `lattice1.` blob from before the
//! encryption), or a raw form that a client wrote itself, is dropped with
//! its item.
//!
//! The key: `server.seal_key` (or the older `conversations.reasoning_key`)
//! when set, so that blobs move between instances and between providers of
//! one protocol. Unset, each provider seals with a key derived from its own
//! credential; a provider without one (a local server) with the random key
//! the host drew for this process (`Config::seed_seal`), never with one
//! derived from public names alone.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::{Config, ProviderConfig};
use crate::routing::Route;
use crate::types::{CreateResponseBody, Input, Item};

const PREFIX: &str = "lattice2.";
/// Blobs of the earlier, signed-only format: recognised, never opened.
const OLD_PREFIX: &str = "lattice1.";
const NONCE_BYTES: usize = 24;
/// The raw form of a gateway-made compaction summary.
pub const COMPACTION: &str = "compaction:";
/// The slugs of raw state: only the gateway may write these.
/// The slug on Anthropic's thinking signatures (kept raw, sealed).
pub(crate) const ANTHROPIC_SLUG: &str = "anthropic:";
/// The slug on Gemini's thought signatures (kept raw, sealed).
pub(crate) const GOOGLE_SLUG: &str = "google:";

const RAW_SLUGS: [&str; 3] = [ANTHROPIC_SLUG, GOOGLE_SLUG, COMPACTION];
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

/// The configured secret, if any.
fn configured_secret(config: &Config) -> Option<&str> {
    config
        .server
        .seal_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .or(config.conversations.reasoning_key.as_deref())
        .filter(|k| !k.is_empty())
}

/// A provider's credential, if it has one.
fn credential(p: &ProviderConfig) -> Option<&str> {
    p.key().filter(|k| !k.is_empty())
}

impl Sealer {
    /// The sealer for blobs that `route`'s provider issues or receives.
    pub fn for_route(config: &Config, route: &Route<'_>) -> Sealer {
        let mut h = Sha256::new();
        h.update(b"latticelm reasoning seal v2\0");
        match configured_secret(config) {
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
                match credential(route.provider) {
                    Some(k) => h.update(k.as_bytes()),
                    None => h.update(config.server.process_seal.0),
                }
            }
        }
        Sealer {
            key: h.finalize().into(),
        }
    }

    /// The sealer for state that any provider may receive (compaction
    /// summaries): the configured secret, or, unset, a key derived from
    /// every configured provider's credential (the same on every instance
    /// that shares the configuration), with the process's random key when
    /// no provider has one.
    pub fn gateway(config: &Config) -> Sealer {
        let mut h = Sha256::new();
        h.update(b"latticelm gateway seal v2\0");
        match configured_secret(config) {
            Some(secret) => h.update(secret.as_bytes()),
            None => {
                let mut any = false;
                for (name, p) in &config.providers {
                    let key = credential(p).unwrap_or_default();
                    any |= !key.is_empty();
                    for part in [name.as_str(), p.base_url(), key] {
                        h.update(part.as_bytes());
                        h.update(b"\0");
                    }
                }
                if !any {
                    h.update(config.server.process_seal.0);
                }
            }
        }
        Sealer {
            key: h.finalize().into(),
        }
    }

    /// A key for one purpose, derived from the sealer's.
    fn subkey(&self, purpose: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose);
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.subkey(b"encrypt").into())
    }

    /// Seals a raw form; anything else is returned as it is.
    pub fn seal(&self, raw: &str) -> String {
        if !is_raw(raw) {
            return raw.to_owned();
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.subkey(b"nonce"))
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(raw.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut nonce = XNonce::default();
        nonce.copy_from_slice(&digest[..NONCE_BYTES]);
        // Encryption fails only past 256 GiB of plaintext.
        let Ok(sealed) = self.cipher().encrypt(&nonce, raw.as_bytes()) else {
            return String::new();
        };
        let mut blob = Vec::with_capacity(NONCE_BYTES + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(blob))
    }

    /// The raw form inside a sealed blob, if it opens with this key.
    pub fn open(&self, blob: &str) -> Option<String> {
        let bytes = B64.decode(blob.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (head, sealed) = bytes.split_at(NONCE_BYTES);
        let mut nonce = XNonce::default();
        nonce.copy_from_slice(head);
        let raw = self.cipher().decrypt(&nonce, sealed).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        is_raw(&raw).then_some(raw)
    }
}

/// Whether `s` is raw provider state (to be sealed before it leaves).
pub fn is_raw(s: &str) -> bool {
    RAW_SLUGS.iter().any(|slug| s.starts_with(slug))
}

/// Whether `s` is a sealed blob (of this format or the earlier one).
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(PREFIX) || s.starts_with(OLD_PREFIX)
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
