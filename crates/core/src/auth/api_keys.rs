//! API keys: kept only as SHA-256 digests, compared in constant time.

use sha2::{Digest, Sha256};

use super::{ApiKeyConfig, Principal};

#[derive(Debug)]
pub(super) struct KeyEntry {
    digest: [u8; 32],
    principal: Principal,
}

pub(super) fn entries(keys: &[ApiKeyConfig]) -> Vec<KeyEntry> {
    keys.iter()
        .filter_map(|k| {
            let digest = match (&k.key, &k.sha256) {
                (Some(key), _) => Sha256::digest(key.as_bytes()).into(),
                (None, Some(hex)) => from_hex(hex)?,
                (None, None) => return None, // refused by validation
            };
            Some(KeyEntry {
                digest,
                principal: Principal {
                    id: format!("key:{}", k.name),
                    models: k.models.clone(),
                    passthrough: k.passthrough.clone(),
                    team: k.team.clone(),
                    admin: false,
                    allowance: None,
                    team_allowance: None,
                    team_generation: 0,
                    mcp: k.mcp.clone(),
                },
            })
        })
        .collect()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// A key's SHA-256.
pub(super) fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether `credential` is one of `digests`, each compared in constant
/// time.
pub(super) fn matches_any(digests: &[[u8; 32]], credential: &str) -> bool {
    let d = digest(credential);
    digests.iter().fold(false, |found, k| {
        let diff = k
            .iter()
            .zip(d.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (diff == 0)
    })
}

/// The key matching `credential`. Every entry is compared, each in
/// constant time, so timing reveals neither which key nor how much matched.
pub(super) fn find<'a>(keys: &'a [KeyEntry], credential: &str) -> Option<&'a Principal> {
    let digest: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
    let mut found = None;
    for k in keys {
        let diff = k
            .digest
            .iter()
            .zip(digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            found = Some(&k.principal);
        }
    }
    found
}
