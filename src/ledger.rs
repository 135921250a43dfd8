//! The native host's limit ledger (`limits.store`): `memory`, one map for
//! the process behind a lock, or `redis://…`, shared by every replica,
//! where each operation is one `EVAL` of the core's Lua twin of the
//! ledger over every shard it names.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use latticelm_core::quota::{self, Ledger, Op, Reply};
use latticelm_core::HostError;

use crate::store::RedisStore;

/// What worker threads share to build their ledgers.
#[derive(Clone)]
pub enum LedgerShared {
    /// One map for the process.
    Memory(Arc<Mutex<BTreeMap<String, Ledger>>>),
    /// The Redis client, and the script.
    Redis(Box<redis::Client>, Arc<redis::Script>),
}

/// A worker thread's ledger.
#[derive(Clone)]
pub enum NativeLedger {
    /// The process's map.
    Memory(Arc<Mutex<BTreeMap<String, Ledger>>>),
    /// This thread's Redis connection.
    Redis(Rc<RedisStore>, Arc<redis::Script>),
}

impl Default for NativeLedger {
    fn default() -> Self {
        NativeLedger::Memory(Arc::default())
    }
}

impl LedgerShared {
    /// From `limits.store`.
    pub fn from_config(store: Option<&str>) -> Result<Self, String> {
        match store {
            None | Some("memory") => Ok(LedgerShared::Memory(Arc::default())),
            Some(url) => {
                let client = redis::Client::open(url).map_err(|e| {
                    // The URL can hold a password: name only what is wrong.
                    format!(
                        "config key `limits.store`: not a usable Redis URL: {:?}",
                        e.kind()
                    )
                })?;
                let script = redis::Script::new(quota::REDIS_SCRIPT);
                Ok(LedgerShared::Redis(Box::new(client), Arc::new(script)))
            }
        }
    }

    /// The ledger for one worker thread.
    pub fn for_worker(&self) -> NativeLedger {
        match self {
            LedgerShared::Memory(m) => NativeLedger::Memory(m.clone()),
            LedgerShared::Redis(c, s) => {
                NativeLedger::Redis(Rc::new(RedisStore::new((**c).clone())), s.clone())
            }
        }
    }
}

impl NativeLedger {
    /// Applies `op` atomically.
    pub async fn apply(&self, op: &Op) -> Result<Reply, HostError> {
        match self {
            NativeLedger::Memory(m) => {
                let mut all = m.lock().unwrap_or_else(|e| e.into_inner());
                // Only the shards this op names are touched (and pruned).
                let mut mine: BTreeMap<String, Ledger> = op
                    .shards()
                    .into_iter()
                    .map(|s| (s.to_owned(), all.remove(s).unwrap_or_default()))
                    .collect();
                let reply = quota::apply(&mut mine, op);
                all.extend(mine);
                Ok(reply)
            }
            NativeLedger::Redis(r, script) => {
                let (keys, args) = quota::redis_call(op);
                let out = r.eval(script, &keys, &args).await?;
                quota::redis_reply(out.as_bytes())
            }
        }
    }
}
