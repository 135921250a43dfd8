//! The cache stages: the lookup, after admission and before the attempt
//! loop (a hit skips the loop and is replayed as a fresh response or
//! event stream, finished like any other), and the write
//! ([`write::CacheWrite`]), once an answer has completed and before its
//! last byte.

pub(crate) mod write;

use crate::auth::Principal;
use crate::cache::{self, Entry, Policy};
use crate::host::Host;
use crate::observe::{CacheRecord, Recorder};
use crate::types::{CreateResponseBody, ResponseResource};

use super::attempt::Target;
use super::clock::unix_secs;
use super::error::StageError;
use super::finish::{Finish, ServedBy};
use super::respond::{served, Answer, Answered};
use super::stream::egress::Egress;
use super::Cx;
use write::CacheWrite;

/// The cache-lookup stage for the expanded `body`: a hit's entry, and
/// the write to do after a miss. A store that cannot be read is a miss.
pub(crate) async fn lookup<H: Host>(
    cx: &Cx<'_, H>,
    policy: Option<Policy>,
    body: &CreateResponseBody,
    front: Option<&crate::providers::verbatim::Verbatim>,
    principal: &Principal,
    rec: &Recorder,
) -> (Option<Entry>, Option<CacheWrite>) {
    let Some(policy) = policy else {
        return (None, None);
    };
    let host = cx.host;
    let model = body.model.as_deref().unwrap_or_default();
    let m = cx.config.models.iter().find(|m| m.name == model);
    let team = principal.team_scope();
    let scope = cache::scope_id(policy.scope, &principal.id, team.as_deref());
    let sent = cache::key::Sent {
        passthrough: &principal.passthrough,
        headers: front.map_or(&[], |v| &v.headers),
    };
    let key = cache::key::key(body, m, &scope, front.map(|v| &v.body), sent);
    let hit = if policy.lookup {
        match host.cache_get(&key).await {
            Ok(b) => b.and_then(|b| Entry::from_bytes(&b)),
            Err(e) => {
                let line = serde_json::json!({"level": "warn", "msg": "cache read failed", "error": e.to_string()});
                host.log(&line.to_string());
                None
            }
        }
    } else {
        None
    };
    rec.with(|r| {
        r.cache = Some(CacheRecord {
            hit: hit.is_some(),
            ..Default::default()
        })
    });
    let write = (hit.is_none() && policy.write).then(|| CacheWrite {
        key,
        ttl: policy.ttl,
        max_bytes: cx.config.cache.max_entry_bytes,
    });
    (hit, write)
}

/// What a hit needs to become this request's answer.
pub(crate) struct Hit {
    /// The cached answer.
    pub entry: Entry,
    /// The response it is replayed as (this request's id).
    pub skeleton: ResponseResource,
    /// Seeds the replayed items' ids.
    pub ids: u64,
    /// Whether the client streams.
    pub stream: bool,
}

/// Answers with a hit: replayed under this request's id, stored for
/// `previous_response_id` when `store` is on, charged as a request but
/// not to any budget.
pub(crate) async fn answer<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    hit: Hit,
    mut egress: Egress,
    rec: &Recorder,
    mut finish: Finish<H>,
) -> Result<Answer, StageError> {
    let Hit {
        entry,
        skeleton,
        ids,
        stream,
    } = hit;
    let mut b = entry.replay(skeleton, ids, stream, unix_secs(cx.host));
    let by = ServedBy::Cache(&entry);
    let (_, stored) = finish
        .response(cx.config, cx.host, rec, &mut b, by, false)
        .await;
    stored?;
    let body = if stream {
        let bytes = egress.write(b.drain(), true);
        Answered::Stream(Box::pin(futures::stream::iter([bytes])))
    } else {
        Answered::Whole(Box::new(b.into_response()), egress)
    };
    let target = Target {
        provider: entry.provider,
        model: entry.model,
        key: String::new(),
        listed_by: entry.listed_by,
        configured: false,
    };
    let mut headers = served(Some(&target), 0);
    headers.extend(finish.limit_headers());
    headers.push((cache::STATUS_HEADER.into(), "hit".into()));
    Ok(Answer { body, headers })
}
