//! The limit ledger on Spin. With `limits.store: redis://…`, each
//! operation is one `EVAL` of the core's Lua ledger over outbound Redis:
//! exact across every instance. Without it, the core's default reads and
//! writes the key-value store, which has no atomic update: limits then
//! hold per instance only (`check-config` and the README say so).

use latticelm_core::quota::{self, Op, Reply};
use latticelm_core::HostError;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// Applies `op` in the Redis at `url`.
pub async fn apply(url: &str, op: &Op) -> Result<Reply, HostError> {
    let err = |e: spin_sdk::redis::Error| HostError::Store(format!("redis: {e:?}"));
    let conn = Connection::open(url).await.map_err(err)?;
    let shards = op.shards();
    let bin = |s: String| RedisParameter::Binary(s.into_bytes());
    let mut args = vec![
        bin(quota::REDIS_SCRIPT.to_owned()),
        RedisParameter::Int64(shards.len() as i64),
    ];
    args.extend(shards.into_iter().map(|s| bin(quota::redis_key(s))));
    args.push(bin(serde_json::to_string(op).unwrap_or_default()));
    args.push(bin(op.keep_ms().unwrap_or(0).to_string()));
    let out = conn.execute("EVAL", args).await.map_err(err)?;
    match out.first() {
        Some(RedisResult::Binary(b)) => serde_json::from_slice(b)
            .map_err(|e| HostError::Store(format!("redis: the ledger answered {e}"))),
        other => Err(HostError::Store(format!(
            "redis: the ledger answered {other:?}"
        ))),
    }
}
