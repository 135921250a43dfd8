//! The runtime team handlers of the admin API that are a team's own
//! (`/v1/admin/teams`): its creation (names are unique: a team's name is
//! its id) and its deletion (not while a key names it). Config teams
//! (`teams:`) are read-only and are not listed here.

use serde_json::json;

use crate::error::ApiError;
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::{self, NewTeam, TeamRecord};

use super::{audit, conflict, new_record, store_error, Actor};
use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::json_ok;

impl Gateway {
    pub(super) async fn create_team<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
    ) -> Result<HttpResponse, ApiError> {
        let new: NewTeam = new_record(&self.config, req)?;
        new.check(&self.config)?;
        if keys::team(host, &new.name)
            .await
            .map_err(|e| store_error(&e))?
            .is_some()
        {
            return Err(conflict(
                "team_exists",
                format!("a team named `{}` already exists", new.name),
            ));
        }
        let team = TeamRecord {
            name: new.name,
            owner: principal.id.clone(),
            created_at: unix_secs(host),
            models: new.models,
            limits: new.limits,
            budget: new.budget,
            mcp: new.mcp,
            metadata: new.metadata,
            disabled: new.disabled,
            generation: {
                let mut g = [0u8; 8];
                host.random(&mut g);
                u64::from_le_bytes(g).max(1)
            },
        };
        // Two creations of one name: the first write wins.
        if !keys::swap_team(host, &team, None)
            .await
            .map_err(|e| store_error(&e))?
        {
            return Err(conflict(
                "team_exists",
                format!("a team named `{}` already exists", team.name),
            ));
        }
        keys::add_team_to_index(host, &team)
            .await
            .map_err(|e| store_error(&e))?;
        self.forget_team(&team.name);
        let view = team.view();
        audit(
            host,
            principal,
            "team.create",
            &team.name,
            json!({"after": view.clone()}),
        );
        let mut resp = json_ok(view);
        resp.status = 201;
        Ok(resp)
    }

    /// Deletes a team that no key names (409 `team_in_use` otherwise).
    pub(super) async fn delete_team<H: Host>(
        &self,
        host: &H,
        principal: &Actor<'_>,
        name: &str,
    ) -> Result<HttpResponse, ApiError> {
        let team = self.record::<TeamRecord, H>(host, name).await?;
        let ids = keys::index(host).await.map_err(|e| store_error(&e))?;
        let mut members = 0usize;
        for id in &ids {
            let rec = keys::get(host, id).await.map_err(|e| store_error(&e))?;
            if rec.is_some_and(|r| r.team.as_deref() == Some(name)) {
                members += 1;
            }
        }
        if members > 0 {
            return Err(conflict(
                "team_in_use",
                format!("team `{name}` still has {members} key(s): delete them or move them to another team first"),
            ));
        }
        keys::delete_team(host, &team)
            .await
            .map_err(|e| store_error(&e))?;
        self.forget_team(name);
        audit(host, principal, "team.delete", name, json!({}));
        Ok(json_ok(
            json!({"id": name, "object": "team", "deleted": true}),
        ))
    }
}
