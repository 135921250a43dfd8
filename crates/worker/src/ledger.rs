//! `LimitLedger`: one Durable Object per shard of the rate-limit and
//! budget ledger (a key or a team), worldwide. A Durable Object runs one
//! request at a time, so each operation on a shard is atomic; the core's
//! `quota::apply_sharded` spans a key and its team, cancelling on the
//! first shard what the second refused.

use latticelm_core::quota::{self, Ledger, Op};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// Durable Object namespace binding of the ledger.
pub const BINDING: &str = "LIMITS";

#[durable_object]
pub struct LimitLedger {
    state: State,
}

const LEDGER: &str = "ledger";
const COUNTERS: &str = "counters";
/// Set on counters that expire (usage): their alarm deletes them.
const EXPIRING: &str = "expiring";

type Counters = std::collections::BTreeMap<String, i64>;

impl LimitLedger {
    /// `GET /counters` reads this object's counters; `POST` adds to them
    /// (`[[field, amount], …]`). One object per usage hash; with
    /// `?ttl_ms=N`, it is deleted N ms after this addition (an alarm),
    /// else never.
    async fn counters(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let stored: Option<String> = storage.get(COUNTERS).await.ok().flatten();
        let mut map: Counters = stored
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        if req.method() == Method::Post {
            let adds: Vec<(String, i64)> = match req.json().await {
                Ok(a) => a,
                Err(e) => return Response::error(format!("not counters: {e}"), 400),
            };
            latticelm_core::keys::add_counters(&mut map, &adds);
            storage
                .put(COUNTERS, serde_json::to_string(&map).unwrap_or_default())
                .await?;
            let ttl = req.url().ok().and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "ttl_ms")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
            });
            if let Some(ms) = ttl {
                storage.put(EXPIRING, true).await?;
                storage
                    .set_alarm(std::time::Duration::from_millis(ms))
                    .await?;
            }
        }
        Response::from_json(&map)
    }
}

impl DurableObject for LimitLedger {
    fn new(state: State, _env: Env) -> Self {
        LimitLedger { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() == "/counters" {
            return self.counters(req).await;
        }
        if req.method() != Method::Post {
            return Ok(Response::empty()?.with_status(405));
        }
        let op: Op = match req.json().await {
            Ok(op) => op,
            Err(e) => return Response::error(format!("not an op: {e}"), 400),
        };
        let storage = self.state.storage();
        let shard = op
            .shards()
            .first()
            .map(|s| (*s).to_owned())
            .unwrap_or_default();
        let stored: Option<String> = storage.get(LEDGER).await.ok().flatten();
        let ledger: Ledger = stored
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let before = ledger.clone();
        let mut ledgers = std::collections::BTreeMap::from([(shard.clone(), ledger)]);
        let reply = quota::apply(&mut ledgers, &op);
        // A refusal changes no count, but what it pruned (a lapsed lease,
        // charged) is kept.
        let changed = reply.ok || ledgers.get(&shard) != Some(&before);
        if changed && op.op != quota::OpKind::Peek {
            let ledger = ledgers.remove(&shard).unwrap_or_default();
            storage
                .put(LEDGER, serde_json::to_string(&ledger).unwrap_or_default())
                .await?;
            // A shard without a budget is forgotten once its windows and
            // leases are past.
            match op.keep_ms() {
                Some(ms) => {
                    storage
                        .set_alarm(std::time::Duration::from_millis(ms))
                        .await?
                }
                None => {
                    let _ = storage.delete_alarm().await;
                }
            }
        }
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let counters = storage.get::<String>(COUNTERS).await.ok().flatten();
        let expiring = storage.get::<bool>(EXPIRING).await.ok().flatten();
        // An index of keys or teams is kept for ever.
        if counters.is_some() && expiring != Some(true) {
            return Response::empty();
        }
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}

fn store_err(e: worker::Error) -> latticelm_core::HostError {
    latticelm_core::HostError::Store(format!("durable object `{BINDING}`: {e}"))
}

/// Calls the object named `name` at `path`: a POST of `body` when there
/// is one, else a GET; its JSON answer.
async fn call(
    env: &Env,
    name: &str,
    path: &str,
    body: Option<String>,
) -> std::result::Result<serde_json::Value, latticelm_core::HostError> {
    let stub = env
        .durable_object(BINDING)
        .map_err(store_err)?
        .id_from_name(name)
        .map_err(store_err)?
        .get_stub()
        .map_err(store_err)?;
    let mut init = worker::RequestInit::new();
    if let Some(body) = body {
        init.with_method(Method::Post)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    }
    let url = format!("https://limit-ledger{path}");
    let req = Request::new_with_init(&url, &init).map_err(store_err)?;
    let mut resp = stub.fetch_with_request(req).await.map_err(store_err)?;
    if resp.status_code() != 200 {
        let text = resp.text().await.unwrap_or_default();
        return Err(latticelm_core::HostError::Store(format!(
            "durable object `{BINDING}` answered {}: {text}",
            resp.status_code()
        )));
    }
    resp.json().await.map_err(store_err)
}

fn unreadable(e: serde_json::Error) -> latticelm_core::HostError {
    latticelm_core::HostError::Store(format!("durable object `{BINDING}`: {e}"))
}

/// One shard's part of an op, applied by its object.
pub async fn apply(
    env: &Env,
    shard: String,
    op: Op,
) -> std::result::Result<quota::Reply, latticelm_core::HostError> {
    let body = serde_json::to_string(&op).unwrap_or_default();
    serde_json::from_value(call(env, &shard, "/op", Some(body)).await?).map_err(unreadable)
}

/// Adds to (`adds` set) or reads the counters of the usage hash `key`,
/// each hash in its own object.
/// Additions to a counters hash, and how long it lives after them.
pub type Adds<'a> = (&'a [(String, i64)], Option<std::time::Duration>);

pub async fn counters(
    env: &Env,
    key: &str,
    adds: Option<Adds<'_>>,
) -> std::result::Result<Counters, latticelm_core::HostError> {
    let path = match adds.and_then(|(_, ttl)| ttl) {
        Some(ttl) => format!("/counters?ttl_ms={}", ttl.as_millis()),
        None => "/counters".to_owned(),
    };
    let body = adds.map(|(a, _)| serde_json::to_string(a).unwrap_or_default());
    serde_json::from_value(call(env, key, &path, body).await?).map_err(unreadable)
}
