//! The turn: one request as the pipeline carries it. Its door builds it
//! once (who asks, what, in which protocol), and every stage reads it.

use crate::auth::Principal;
use crate::cache::Policy;
use crate::config::Config;
use crate::error::ApiError;
use crate::host::Host;
use crate::observe::Recorder;
use crate::providers::verbatim::Verbatim;
use crate::types::CreateResponseBody;

use super::stream::egress::Egress;

/// One request through the pipeline.
pub(crate) struct Turn {
    /// Who is calling (its limits, models, passthrough and team).
    pub principal: Principal,
    /// The request's record: the log line, metrics and spans.
    pub rec: Recorder,
    /// The validated body; the expand stage fills in its history.
    pub body: CreateResponseBody,
    /// How the client speaks.
    pub front: Front,
    /// The client's request in bytes, for the token estimates.
    pub size: u64,
    /// The cache policy its headers and the model's configuration set.
    pub cache: Option<Policy>,
}

/// How the client speaks: the body it sent, when another protocol's
/// targets take it as written, and how the answer is written for it.
pub(crate) struct Front {
    /// The client's own request, sent as written to targets of its
    /// protocol (Chat and Messages doors).
    pub verbatim: Option<Verbatim>,
    /// How the events and the finished response are written.
    pub egress: Egress,
}

impl Front {
    /// An Open Responses client.
    pub fn responses() -> Self {
        Front {
            verbatim: None,
            egress: Egress::Responses,
        }
    }
}

impl Turn {
    /// A turn for `body` (already parsed and checked), with the cache
    /// policy of the request's `headers`; bad cache headers are a 400.
    pub fn new(
        config: &Config,
        principal: Principal,
        rec: Recorder,
        body: CreateResponseBody,
        front: Front,
        size: usize,
        headers: &[(String, String)],
    ) -> Result<Turn, ApiError> {
        let model = body.model.as_deref().unwrap_or_default();
        let cache = crate::cache::policy(config, model, headers)?;
        Ok(Turn {
            principal,
            rec,
            body,
            front,
            size: size as u64,
            cache,
        })
    }
}

/// A turn's randomness, drawn once from the host: its response id, the
/// seed of the builder's ids, of the plan, of backoff jitter, and of a
/// continuation.
#[derive(Debug, Clone)]
pub(crate) struct Seeds {
    /// The response id (`resp_…`).
    pub id: String,
    /// Seeds the builder's item ids.
    pub ids: u64,
    /// Seeds the plan (weighted choice, exploration).
    pub plan: u64,
    /// Seeds backoff jitter.
    pub jitter: u64,
    /// Seeds a continuation's ids and jitter.
    pub resume: u64,
}

impl Seeds {
    /// The seeds of a response.
    pub fn for_response<H: Host>(host: &H) -> Seeds {
        let seed = draw(host);
        let word = |i: usize| word(&seed, i);
        Seeds {
            id: format!("resp_{}", crate::observe::trace::hex(&seed[..16])),
            ids: word(16),
            plan: word(24),
            jitter: word(24).rotate_left(32),
            resume: word(8),
        }
    }

    /// The seeds of a compaction on an upstream's own endpoint.
    pub fn for_compaction<H: Host>(host: &H) -> Seeds {
        let seed = draw(host);
        let word = |i: usize| word(&seed, i);
        Seeds {
            id: format!("resp_{}", crate::observe::trace::hex(&seed[8..24])),
            ids: word(24),
            plan: word(0),
            jitter: word(16),
            resume: 0,
        }
    }
}

fn draw<H: Host>(host: &H) -> [u8; 32] {
    let mut seed = [0u8; 32];
    host.random(&mut seed);
    seed
}

fn word(seed: &[u8; 32], i: usize) -> u64 {
    u64::from_le_bytes(seed[i..i + 8].try_into().unwrap_or_default())
}
