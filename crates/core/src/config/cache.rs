//! `cache:` (where cached responses live, and how big they may be) and a
//! model's `cache:` (how long its answers are kept, and who shares them).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{duration, ConfigError};

/// `cache:`: the response cache's store and bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Native: `memory` (the default; bounded by `max_bytes`, least
    /// recently used evicted first) or `redis://…` (shared by every
    /// replica). Workers: the data centre's Cache API, or `kv` for the
    /// conversation store (where the Cache API does not serve, as on
    /// `workers.dev`). Spin: its key-value store.
    #[serde(default)]
    pub store: Option<String>,
    /// `memory`: most bytes kept (`256MiB` by default).
    #[serde(default = "default_max_bytes", deserialize_with = "size_de")]
    pub max_bytes: u64,
    /// Largest cached answer (`4MiB` by default); larger answers are
    /// served but not cached.
    #[serde(default = "default_max_entry_bytes", deserialize_with = "size_de")]
    pub max_entry_bytes: u64,
}

fn default_max_bytes() -> u64 {
    256 << 20
}
fn default_max_entry_bytes() -> u64 {
    4 << 20
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            store: None,
            max_bytes: default_max_bytes(),
            max_entry_bytes: default_max_entry_bytes(),
        }
    }
}

/// Who may be served an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// Only the principal (key or subject) that caused it: the default.
    #[default]
    Principal,
    /// Every principal of the same team (a principal without a team keeps
    /// its own entries).
    Team,
    /// Every caller: for public data only.
    Shared,
}

impl CacheScope {
    /// Its config name.
    pub fn name(self) -> &'static str {
        match self {
            CacheScope::Principal => "principal",
            CacheScope::Team => "team",
            CacheScope::Shared => "shared",
        }
    }
}

/// A model's `cache:`: its answers are cached for `ttl`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCacheConfig {
    /// How long an answer is served from the cache.
    #[serde(deserialize_with = "duration::de")]
    pub ttl: Duration,
    /// Who shares entries (default `principal`).
    #[serde(default)]
    pub scope: CacheScope,
}

/// The longest `ttl`, and the most a request's `x-latticelm-cache-ttl`
/// may ask for.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(30 * 86_400);

/// Parses `4MiB`, `256MB`, `512KiB`, `1GiB`, `1024` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (use 4MiB, 256MB or bytes)"))?;
    let per: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        u => {
            return Err(format!(
                "unknown size unit `{u}` (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    n.checked_mul(per)
        .ok_or_else(|| format!("`{s}` is too large a size"))
}

/// A size in config: bytes, or `64KiB`, `1MiB`….
pub(super) fn size_de<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

/// Checks `cache:` and every model's `cache:`.
pub(crate) fn validate(config: &super::Config) -> Result<(), ConfigError> {
    let c = &config.cache;
    if let Some(s) = &c.store {
        let known = ["memory", "kv"].contains(&s.as_str());
        if !known && !s.starts_with("redis://") && !s.starts_with("rediss://") {
            return Err(ConfigError::invalid(
                "cache.store",
                "must be `memory` or a redis:// URL (native), or `kv` (Workers: the conversation store instead of the Cache API)",
            ));
        }
    }
    if c.max_entry_bytes == 0 || c.max_entry_bytes > c.max_bytes {
        return Err(ConfigError::invalid(
            "cache.max_entry_bytes",
            "must be more than zero and at most cache.max_bytes",
        ));
    }
    for (i, m) in config.models.iter().enumerate() {
        if let Some(mc) = &m.cache {
            if mc.ttl.is_zero() || mc.ttl > MAX_CACHE_TTL {
                return Err(ConfigError::invalid(
                    format!("models[{i}].cache.ttl"),
                    "must be more than zero and at most 30 days",
                ));
            }
        }
    }
    Ok(())
}
