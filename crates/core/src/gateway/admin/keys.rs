//! The runtime key handlers of the admin API that are a key's own: its
//! creation (the secret shown once), its rotation (with a grace period
//! for the old secret) and its deletion. Reading, listing and patching
//! are the handlers every record with grants shares (`records.rs`).

use serde_json::{json, Value};

use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::{self, KeyRecord, NewKey};

use super::{audit, lost_race, new_record, not_found, store_error, Actor, SWAP_TRIES};
use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::json_ok;

impl Gateway {
    pub(super) async fn create_key<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
    ) -> Result<HttpResponse, ApiError> {
        let new: NewKey = new_record(&self.config, req)?;
        let now = unix_secs(host);
        new.check(&self.config, now)?;
        self.check_team(host, new.team.as_deref(), new.models.as_deref())
            .await?;
        let mut random = [0u8; 32];
        host.random(&mut random);
        let (secret, id) = keys::new_secret(&random);
        let rec = KeyRecord {
            id: id.clone(),
            name: new.name,
            team: new.team,
            owner: principal.id.clone(),
            created_at: now,
            expires_at: new.expires_at,
            models: new.models,
            passthrough: new.passthrough,
            limits: new.limits,
            budget: new.budget,
            mcp: new.mcp,
            metadata: new.metadata,
            disabled: false,
            hash: keys::hash(&secret, self.config.server.seal_key.as_deref()),
            previous: None,
        };
        keys::put(host, &rec).await.map_err(|e| store_error(&e))?;
        keys::add_to_index(host, &rec)
            .await
            .map_err(|e| store_error(&e))?;
        let mut view = rec.view();
        audit(
            host,
            principal,
            "key.create",
            &id,
            json!({"after": view.clone()}),
        );
        view["key"] = json!(secret);
        let mut resp = json_ok(view);
        resp.status = 201;
        Ok(resp)
    }

    pub(super) async fn rotate_key<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let grace = if req.body.is_empty() {
            0
        } else {
            let v = crate::gateway::doors::json_body(&self.config, req)?;
            match &v["grace_seconds"] {
                Value::Null => 0,
                g => g.as_u64().filter(|s| *s <= 30 * 86_400).ok_or_else(|| {
                    RequestError::InvalidValue {
                        param: "grace_seconds".into(),
                        message: "must be 0 to 2592000 (30 days)".into(),
                    }
                })?,
            }
        };
        let mut random = [0u8; 32];
        host.random(&mut random);
        let (secret, _) = keys::new_secret(&random);
        let hash = keys::hash(&secret, self.config.server.seal_key.as_deref());
        // A compare-and-set, like a PATCH: a rotation never undoes an
        // update that came between its read and its write, nor another
        // rotation (whose secret would then name nothing).
        let mut rotated = None;
        for _ in 0..SWAP_TRIES {
            let read = keys::get_versioned(host, id)
                .await
                .map_err(|e| store_error(&e))?
                .ok_or_else(|| not_found("API key", id))?;
            let mut rec = read.value;
            let dropped = rec.previous.take();
            let old = std::mem::replace(&mut rec.hash, hash.clone());
            if grace > 0 {
                rec.previous = Some((old.clone(), unix_secs(host) + grace));
            }
            if keys::swap(host, &rec, &read.raw)
                .await
                .map_err(|e| store_error(&e))?
            {
                rotated = Some((rec, old, dropped));
                break;
            }
        }
        let Some((rec, old, dropped)) = rotated else {
            return Err(lost_race("API key", id));
        };
        keys::put_hashes(host, &rec)
            .await
            .map_err(|e| store_error(&e))?;
        // The hashes no longer named: the previous grace period's, and
        // the old one unless it keeps a grace period.
        if let Some((gone, _)) = dropped {
            let _ = keys::forget_hash(host, &gone).await;
            self.forget_hash(&gone);
        }
        if grace == 0 {
            keys::forget_hash(host, &old)
                .await
                .map_err(|e| store_error(&e))?;
        }
        self.forget_hash(&old);
        self.forget(&rec);
        audit(
            host,
            principal,
            "key.rotate",
            id,
            json!({"grace_seconds": grace}),
        );
        let mut view = rec.view();
        view["key"] = json!(secret);
        Ok(json_ok(view))
    }

    pub(super) async fn delete_key<H: Host>(
        &self,
        host: &H,
        principal: &Actor<'_>,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let rec = self.record::<KeyRecord, H>(host, id).await?;
        keys::delete(host, &rec)
            .await
            .map_err(|e| store_error(&e))?;
        self.forget(&rec);
        audit(host, principal, "key.delete", id, json!({}));
        Ok(json_ok(
            json!({"id": id, "object": "api_key", "deleted": true}),
        ))
    }
}
