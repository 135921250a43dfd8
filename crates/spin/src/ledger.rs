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
    let (keys, [json, keep]) = quota::redis_call(op);
    let bin = |s: String| RedisParameter::Binary(s.into_bytes());
    let mut args = vec![
        bin(quota::REDIS_SCRIPT.to_owned()),
        RedisParameter::Int64(keys.len() as i64),
    ];
    args.extend(keys.into_iter().map(bin));
    args.push(bin(json));
    args.push(bin(keep));
    let out = conn.execute("EVAL", args).await.map_err(err)?;
    match out.first() {
        Some(RedisResult::Binary(b)) => quota::redis_reply(b),
        other => Err(HostError::Store(format!(
            "redis: the ledger answered {other:?}"
        ))),
    }
}
