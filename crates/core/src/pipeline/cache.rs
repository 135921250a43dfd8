//! The cache stages: the lookup, after admission and before the attempt
//! loop (a hit skips the loop and is replayed as a fresh response or
//! event stream), and the write, once an answer has completed and before
//! its last byte.

use std::time::Duration;

use crate::auth::Principal;
use crate::cache::{self, Entry, Policy};
use crate::config::Config;
use crate::error::ApiError;
use crate::host::{Host, HttpResponse};
use crate::observe::{CacheRecord, Recorder};
use crate::stored::Saver;
use crate::types::{CreateResponseBody, ResponseResource};

use crate::gateway::Gateway;
use crate::pipeline::admit::{Admission, Used};
use crate::pipeline::attempt::Target;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::finished_json;
use crate::pipeline::respond::save;
use crate::pipeline::respond::served_headers;
use crate::pipeline::respond::sse_response;
use crate::pipeline::stream::Egress;

/// A cacheable request's key, and whether its answer is written.
#[derive(Debug, Clone)]
pub(crate) struct CacheWrite {
    key: String,
    ttl: Duration,
    max_bytes: u64,
}

impl CacheWrite {
    /// Writes a completed `response` served by `target` before the
    /// answer ends (as the conversation store is written), so that the
    /// next identical request is a hit; anything else (incomplete,
    /// failed, too large) is not written. A failed write is logged, never
    /// returned.
    pub async fn write<H: Host>(
        &self,
        host: &H,
        response: &ResponseResource,
        target: &Target,
        cost_usd: Option<f64>,
    ) {
        let entry = Entry {
            response: response.clone(),
            provider: target.provider.clone(),
            model: target.model.clone(),
            listed_by: target.listed_by.clone(),
            cost_usd,
        };
        let Some(bytes) = entry.to_bytes(self.max_bytes) else {
            return;
        };
        if let Err(e) = host.cache_put(&self.key, bytes, self.ttl).await {
            let line = serde_json::json!({"level": "warn", "msg": "cache write failed", "error": e.to_string()});
            host.log(&line.to_string());
        }
    }
}

/// What a hit needs to become this request's answer.
pub(crate) struct HitJob<'a, H: Host + Clone + 'static> {
    pub skeleton: ResponseResource,
    pub id_seed: u64,
    pub stream: bool,
    pub egress: Egress,
    pub saver: Option<Saver>,
    pub rec: &'a Recorder,
    pub admission: Admission<H>,
    pub limit_headers: Vec<(String, String)>,
}

impl Gateway {
    /// The cache-lookup stage for the expanded `body`: a hit's entry, and
    /// the write to do after a miss. A store that cannot be read is a miss.
    pub(crate) async fn cache_lookup<H: Host>(
        &self,
        host: &H,
        policy: Option<Policy>,
        body: &CreateResponseBody,
        front: Option<&serde_json::Value>,
        principal: &Principal,
        rec: &Recorder,
    ) -> (Option<Entry>, Option<CacheWrite>) {
        let Some(policy) = policy else {
            return (None, None);
        };
        let model = body.model.as_deref().unwrap_or_default();
        let m = self.config.models.iter().find(|m| m.name == model);
        let scope = cache::scope_id(policy.scope, &principal.id, principal.team.as_deref());
        let key = cache::key::key(body, m, &scope, front);
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
            max_bytes: self.config.cache.max_entry_bytes,
        });
        (hit, write)
    }

    /// Answers with a hit: replayed under this request's id, stored for
    /// `previous_response_id` when `store` is on, charged as a request
    /// but not to any budget.
    pub(crate) async fn cache_hit<H: Host + Clone + 'static>(
        &self,
        host: &H,
        entry: Entry,
        job: HitJob<'_, H>,
    ) -> Result<HttpResponse, ApiError> {
        let HitJob {
            skeleton,
            id_seed,
            stream,
            mut egress,
            mut saver,
            rec,
            mut admission,
            limit_headers,
        } = job;
        let now = unix_secs(host);
        let mut b = entry.replay(skeleton, id_seed, stream, now);
        if let Some(s) = saver.as_mut() {
            s.provider = entry.provider.clone();
        }
        save(saver.as_ref(), host, &mut b).await?;
        b.emit_terminal();
        admission.reached();
        admission.settle_later(Used::default());
        rec.with(|r| {
            r.response(b.response());
            r.response_model = Some(entry.model.clone());
            r.cost_usd = entry.cost_usd.map(|_| 0.0);
            r.cache = Some(CacheRecord {
                hit: true,
                saved_tokens: r.usage.map_or(0, |u| u.input_tokens + u.output_tokens),
                saved_usd: entry.cost_usd,
            });
        });
        let mut resp = if stream {
            let bytes = egress.write(b.drain(), true);
            sse_response(Box::pin(futures::stream::iter([bytes])))
        } else {
            finished_json(b, &egress)
        };
        let target = Target {
            provider: entry.provider,
            model: entry.model,
            key: String::new(),
            listed_by: entry.listed_by,
            configured: false,
        };
        served_headers(&mut resp, Some(&target), 0);
        resp.headers.extend(limit_headers);
        resp.headers
            .push((cache::STATUS_HEADER.into(), "hit".into()));
        Ok(resp)
    }
}

/// The cache policy of a request to `model` (bad headers are a 400).
pub(crate) fn policy(
    config: &Config,
    model: &str,
    req: &crate::host::HttpRequest,
) -> Result<Option<Policy>, ApiError> {
    Ok(cache::policy(config, model, req)?)
}
