//! Runtime keys and teams as a request presents them: read through a
//! per-process cache of [`KEY_CACHE_MS`] (see [`super::key_cache`]), so a
//! disabled, deleted or rotated key stops working everywhere once that
//! entry lapses.

use crate::auth::Principal;
use crate::error::{ApiError, RequestError};
use crate::host::Host;
use crate::keys::{self, KeyRecord, TeamRecord};

use super::store_error;
use crate::gateway::Gateway;
use crate::pipeline::clock::{now_ms, unix_secs};

use super::key_cache::KEY_CACHE_MS;

/// What a principal's team turned out to be.
enum Joined {
    /// None, or a team of the configuration.
    Config,
    /// A runtime team, applied.
    Runtime,
    /// A runtime team that no longer exists.
    Gone,
    /// A runtime team that is disabled.
    Disabled,
}

impl Gateway {
    /// The principal of a runtime key (`llm_…`), or why there is none.
    pub(crate) async fn runtime_key<H: Host>(
        &self,
        host: &H,
        secret: &str,
    ) -> Result<Principal, ApiError> {
        let hash = keys::hash(secret, self.config.server.seal_key.as_deref());
        let now = now_ms(host);
        let cached = self
            .key_cache
            .lock()
            .ok()
            .and_then(|mut c| c.key(&hash, now));
        let record = match cached {
            Some(r) => r,
            None => {
                let r = keys::find(host, &hash).await.map_err(|e| store_error(&e))?;
                if let Ok(mut c) = self.key_cache.lock() {
                    c.remember_key(&hash, r.clone(), now);
                }
                r
            }
        };
        let bad = |why: &str| {
            let mut e: ApiError = crate::auth::AuthError::BadKey.into();
            e.payload.message = why.to_owned();
            e
        };
        let record = record.ok_or_else(|| bad("invalid API key"))?;
        let mut principal = record.principal(&hash, unix_secs(host)).map_err(bad)?;
        match self.join_runtime_team(host, &mut principal, now).await? {
            Joined::Gone => Err(bad("this API key's team no longer exists")),
            Joined::Disabled => Err(bad("this API key's team is disabled")),
            Joined::Config | Joined::Runtime => Ok(principal),
        }
    }

    /// A principal whose team is named by its OIDC token: a runtime
    /// team's models, limits, budget and `disabled` apply to it as to
    /// the team's keys (a team the token names but nobody created stays
    /// a label).
    pub(crate) async fn oidc_team<H: Host>(
        &self,
        host: &H,
        principal: &mut Principal,
    ) -> Result<(), ApiError> {
        let admin = self.config.auth.as_ref().is_some_and(|a| a.admin_api());
        if !admin {
            return Ok(());
        }
        match self
            .join_runtime_team(host, principal, now_ms(host))
            .await?
        {
            Joined::Disabled => Err(crate::error::GatewayError::TeamDisabled.into()),
            _ => Ok(()),
        }
    }

    /// Applies the principal's team when it is a runtime one: narrows its
    /// models, and carries the team's limits, budget and generation.
    async fn join_runtime_team<H: Host>(
        &self,
        host: &H,
        principal: &mut Principal,
        now: u64,
    ) -> Result<Joined, ApiError> {
        let Some(name) = principal.team.clone() else {
            return Ok(Joined::Config);
        };
        if self.rules.has_team(&name) {
            return Ok(Joined::Config);
        }
        Ok(match self.runtime_team(host, &name, now).await? {
            None => Joined::Gone,
            Some(t) if t.disabled => Joined::Disabled,
            Some(t) => {
                principal.models = t.narrow(principal.models.take());
                principal.mcp = t.narrow_mcp(principal.mcp.take());
                principal.team_allowance = t.allowance();
                principal.team_generation = t.generation;
                Joined::Runtime
            }
        })
    }

    /// A runtime team, read through the same cache as keys.
    async fn runtime_team<H: Host>(
        &self,
        host: &H,
        name: &str,
        now: u64,
    ) -> Result<Option<TeamRecord>, ApiError> {
        let cached = self
            .key_cache
            .lock()
            .ok()
            .and_then(|mut c| c.teams.get(name, now, KEY_CACHE_MS));
        if let Some(t) = cached {
            return Ok(t);
        }
        let t = keys::team(host, name).await.map_err(|e| store_error(&e))?;
        if let Ok(mut c) = self.key_cache.lock() {
            c.teams.put(name, t.clone(), now);
        }
        Ok(t)
    }

    /// Drops a runtime team's cached lookup on this instance.
    pub(crate) fn forget_team(&self, name: &str) {
        if let Ok(mut c) = self.key_cache.lock() {
            c.teams.remove(name);
        }
    }

    /// Checks a key's team (a config team, or a runtime one that exists)
    /// and that its models are within the team's.
    pub(super) async fn check_team<H: Host>(
        &self,
        host: &H,
        team: Option<&str>,
        models: Option<&[String]>,
    ) -> Result<(), ApiError> {
        let Some(name) = team else { return Ok(()) };
        if self.rules.has_team(name) {
            return Ok(());
        }
        let invalid = |message: String| -> ApiError {
            RequestError::InvalidValue {
                param: "team".into(),
                message,
            }
            .into()
        };
        let t = keys::team(host, name)
            .await
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| invalid(format!("`{name}` is not a team")))?;
        if let (Some(own), Some(allowed)) = (models, &t.models) {
            if let Some(m) = own.iter().find(|m| !allowed.contains(m)) {
                return Err(RequestError::InvalidValue {
                    param: "models".into(),
                    message: format!("`{m}` is not among the models of team `{name}`"),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Drops a record's cached lookups on this instance (others see the
    /// change within [`KEY_CACHE_MS`]).
    pub(super) fn forget(&self, rec: &KeyRecord) {
        self.forget_hash(&rec.hash);
        if let Some((old, _)) = &rec.previous {
            self.forget_hash(old);
        }
    }

    /// Drops this instance's cached lookup of one secret's hash.
    pub(super) fn forget_hash(&self, hash: &str) {
        if let Ok(mut c) = self.key_cache.lock() {
            c.forget_key(hash);
        }
    }
}
