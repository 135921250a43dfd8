//! Runtime API keys: issued, changed and revoked through the admin API
//! (`/v1/admin/keys`), beside the config file's keys.
//!
//! A key is `llm_` and 32 random URL-safe characters, so that secret
//! scanners can find a leaked one. Its secret is shown once, at creation
//! (and at rotation); the store keeps only a keyed hash (HMAC-SHA-256
//! under a key derived from `server.seal_key`, plain SHA-256 without
//! one). Records live in the host's record store ([`Host::record_get`]):
//! `keys/rec/<id>` (the record), `keys/hash/<hash>` (its id), and
//! `keys/ids` (every id with its creation time in ms, a counters hash so that
//! concurrent creations never drop one; listed oldest first). Runtime
//! teams live beside them: `teams/rec/<name>` and `teams/ids`. Updates
//! read a record with its bytes ([`get_versioned`]) and write it back
//! only if those bytes are still there ([`swap`], through
//! [`Host::record_swap`]), so two admins never lose each other's change.

pub mod counters;
mod key;
mod team;
pub mod usage;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use counters::add as add_counters;
pub use key::{KeyRecord, NewKey};
pub use team::{NewTeam, TeamRecord};

use crate::error::HostError;
use crate::host::Host;

/// The prefix of every runtime key.
pub const PREFIX: &str = "llm_";

/// A new secret and id from `random` (32 bytes).
pub fn new_secret(random: &[u8; 32]) -> (String, String) {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let secret = format!("{PREFIX}{}", b64.encode(&random[..24]));
    let id = format!("key_{}", crate::observe::trace::hex(&random[24..]));
    (secret, id)
}

/// The stored hash of a secret: keyed by `server.seal_key` when there is
/// one, so a copy of the store does not allow an offline search.
pub fn hash(secret: &str, seal_key: Option<&str>) -> String {
    let digest: [u8; 32] = match seal_key.filter(|k| !k.is_empty()) {
        Some(k) => {
            let key = Sha256::digest([b"latticelm/keys\0".as_slice(), k.as_bytes()].concat());
            let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&key) else {
                return String::new();
            };
            mac.update(secret.as_bytes());
            mac.finalize().into_bytes().into()
        }
        None => Sha256::digest(secret.as_bytes()).into(),
    };
    crate::observe::trace::hex(&digest)
}

fn rec_key(id: &str) -> String {
    format!("keys/rec/{id}")
}
fn hash_key(hash: &str) -> String {
    format!("keys/hash/{hash}")
}
const INDEX: &str = "keys/ids";

async fn read<H: Host, T: serde::de::DeserializeOwned>(
    host: &H,
    key: &str,
) -> Result<Option<T>, HostError> {
    Ok(host
        .record_get(key)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// A record as read, with the bytes it was stored as: what a
/// compare-and-set ([`swap`], [`swap_team`]) expects to find.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The record.
    pub value: T,
    /// Its stored bytes.
    pub raw: Vec<u8>,
}

async fn read_versioned<H: Host, T: serde::de::DeserializeOwned>(
    host: &H,
    key: &str,
) -> Result<Option<Versioned<T>>, HostError> {
    Ok(host.record_get(key).await?.and_then(|raw| {
        let value = serde_json::from_slice(&raw).ok()?;
        Some(Versioned { value, raw })
    }))
}

/// The compare-and-set of a record on Redis ([`Host::record_swap`]):
/// `KEYS[1]` the record; `ARGV[1]` is `1` when a value is expected (`0`:
/// none), `ARGV[2]` that value, `ARGV[3]` the new one and `ARGV[4]` its
/// time to live in ms. Answers `1` when it wrote, `0` when the record
/// held something else.
pub const REDIS_SWAP: &str = "local cur = redis.call('GET', KEYS[1]) if ARGV[1] == '1' then if cur ~= ARGV[2] then return '0' end elseif cur then return '0' end redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) return '1'";

/// An index: a counters hash of id → creation time (unix seconds), so
/// that concurrent creations on several instances never lose an entry.
async fn index_of<H: Host>(host: &H, index: &str) -> Result<Vec<String>, HostError> {
    let mut ids: Vec<(i64, String)> = host
        .counters_get(index)
        .await?
        .into_iter()
        .filter(|(_, at)| *at > 0)
        .map(|(id, at)| (at, id))
        .collect();
    ids.sort();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// Adds `id` at the host's time in milliseconds (seconds alone would
/// leave records made in the same second in no particular order).
async fn index_add<H: Host>(host: &H, index: &str, id: &str) -> Result<(), HostError> {
    let ms = host
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis().max(1) as i64);
    host.counters_add(index, &[(id.to_owned(), ms)], None).await
}

/// Removes `id` (its counter goes back to 0, which removes it).
async fn index_remove<H: Host>(host: &H, index: &str, id: &str) -> Result<(), HostError> {
    let Some(at) = host.counters_get(index).await?.get(id).copied() else {
        return Ok(());
    };
    host.counters_add(index, &[(id.to_owned(), -at)], None)
        .await
}

/// The record with this id.
pub async fn get<H: Host>(host: &H, id: &str) -> Result<Option<KeyRecord>, HostError> {
    read(host, &rec_key(id)).await
}

/// The record a secret's hash names, if any.
pub async fn find<H: Host>(host: &H, hash: &str) -> Result<Option<KeyRecord>, HostError> {
    let Some(id) = host.record_get(&hash_key(hash)).await? else {
        return Ok(None);
    };
    get(host, &String::from_utf8_lossy(&id)).await
}

/// Every id, oldest first.
pub async fn index<H: Host>(host: &H) -> Result<Vec<String>, HostError> {
    index_of(host, INDEX).await
}

/// The record with this id, with its stored bytes (for [`swap`]).
pub async fn get_versioned<H: Host>(
    host: &H,
    id: &str,
) -> Result<Option<Versioned<KeyRecord>>, HostError> {
    read_versioned(host, &rec_key(id)).await
}

/// Writes a new record, and the hashes that name it.
pub async fn put<H: Host>(host: &H, rec: &KeyRecord) -> Result<(), HostError> {
    let bytes = serde_json::to_vec(rec).unwrap_or_default();
    host.record_put(&rec_key(&rec.id), bytes).await?;
    put_hashes(host, rec).await
}

/// Replaces a record that still holds `expected` (as
/// [`get_versioned`] read it); `Ok(false)`, and nothing written, when
/// another update came first. A rotation then names the new hash
/// ([`put_hashes`]).
pub async fn swap<H: Host>(host: &H, rec: &KeyRecord, expected: &[u8]) -> Result<bool, HostError> {
    let bytes = serde_json::to_vec(rec).unwrap_or_default();
    host.record_swap(&rec_key(&rec.id), Some(expected), bytes)
        .await
}

/// Writes the hashes that name a record: the current one, and the old
/// one during a rotation's grace period. A stale one is harmless: a
/// record authenticates only its own hashes ([`KeyRecord::principal`]).
pub async fn put_hashes<H: Host>(host: &H, rec: &KeyRecord) -> Result<(), HostError> {
    host.record_put(&hash_key(&rec.hash), rec.id.clone().into_bytes())
        .await?;
    if let Some((old, _)) = &rec.previous {
        host.record_put(&hash_key(old), rec.id.clone().into_bytes())
            .await?;
    }
    Ok(())
}

/// Adds a new record to the index.
pub async fn add_to_index<H: Host>(host: &H, rec: &KeyRecord) -> Result<(), HostError> {
    index_add(host, INDEX, &rec.id).await
}

/// Deletes a record, its hashes and its place in the index.
pub async fn delete<H: Host>(host: &H, rec: &KeyRecord) -> Result<(), HostError> {
    host.record_delete(&hash_key(&rec.hash)).await?;
    if let Some((old, _)) = &rec.previous {
        host.record_delete(&hash_key(old)).await?;
    }
    host.record_delete(&rec_key(&rec.id)).await?;
    index_remove(host, INDEX, &rec.id).await
}

/// Forgets a hash (the old secret once its grace period is over).
pub async fn forget_hash<H: Host>(host: &H, hash: &str) -> Result<(), HostError> {
    host.record_delete(&hash_key(hash)).await
}

fn team_key(name: &str) -> String {
    format!("teams/rec/{name}")
}
const TEAM_INDEX: &str = "teams/ids";

/// The runtime team of this name.
pub async fn team<H: Host>(host: &H, name: &str) -> Result<Option<TeamRecord>, HostError> {
    read(host, &team_key(name)).await
}

/// Every runtime team's name, oldest first.
pub async fn team_index<H: Host>(host: &H) -> Result<Vec<String>, HostError> {
    index_of(host, TEAM_INDEX).await
}

/// The runtime team of this name, with its stored bytes (for
/// [`swap_team`]).
pub async fn team_versioned<H: Host>(
    host: &H,
    name: &str,
) -> Result<Option<Versioned<TeamRecord>>, HostError> {
    read_versioned(host, &team_key(name)).await
}

/// Writes a runtime team if its record still holds `expected` (`None`:
/// if there is no team of that name); `Ok(false)`, and nothing written,
/// when another write came first.
pub async fn swap_team<H: Host>(
    host: &H,
    team: &TeamRecord,
    expected: Option<&[u8]>,
) -> Result<bool, HostError> {
    let bytes = serde_json::to_vec(team).unwrap_or_default();
    host.record_swap(&team_key(&team.name), expected, bytes)
        .await
}

/// Adds a new runtime team to the index.
pub async fn add_team_to_index<H: Host>(host: &H, team: &TeamRecord) -> Result<(), HostError> {
    index_add(host, TEAM_INDEX, &team.name).await
}

/// Deletes a runtime team.
pub async fn delete_team<H: Host>(host: &H, team: &TeamRecord) -> Result<(), HostError> {
    host.record_delete(&team_key(&team.name)).await?;
    index_remove(host, TEAM_INDEX, &team.name).await
}
