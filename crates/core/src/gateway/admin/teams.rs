//! The admin API for runtime teams (`/v1/admin/teams`). A team's name is
//! its id. Config teams (`teams:`) are read-only and are not listed here.

use serde_json::{json, Map, Value};

use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::{self, NewTeam, TeamRecord};

use crate::gateway::admin::{
    after_of, audit, changes, not_found, page, page_params, store_error, Actor,
};
use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::json_ok;

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError::new(409, "invalid_request_error", Some(code), None, &message)
}

impl Gateway {
    pub(crate) async fn team<H: Host>(&self, host: &H, name: &str) -> Result<TeamRecord, ApiError> {
        keys::team(host, name)
            .await
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| not_found("team", name))
    }

    pub(crate) async fn create_team<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
    ) -> Result<HttpResponse, ApiError> {
        let v = crate::gateway::doors::json_body(&self.config, req)?;
        let new: NewTeam = serde_json::from_value(v).map_err(|e| RequestError::InvalidBody {
            path: ".".into(),
            message: e.to_string(),
        })?;
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
            metadata: new.metadata,
            disabled: new.disabled,
        };
        keys::put_team(host, &team)
            .await
            .map_err(|e| store_error(&e))?;
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

    pub(crate) async fn list_teams<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let (limit, after, _) = page_params(&req.query)?;
        let names = keys::team_index(host).await.map_err(|e| store_error(&e))?;
        let mut data = Vec::new();
        let mut has_more = false;
        for name in after_of(&names, after.as_deref()) {
            let Some(t) = keys::team(host, name).await.map_err(|e| store_error(&e))? else {
                continue;
            };
            if data.len() == limit {
                has_more = true;
                break;
            }
            data.push(t.view());
        }
        Ok(page(data, has_more))
    }

    pub(crate) async fn patch_team<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
        name: &str,
    ) -> Result<HttpResponse, ApiError> {
        let v = crate::gateway::doors::json_body(&self.config, req)?;
        let Value::Object(patch) = v else {
            return Err(RequestError::InvalidValue {
                param: ".".into(),
                message: "must be an object of the fields to change".into(),
            }
            .into());
        };
        let mut team = self.team(host, name).await?;
        let before = team.view();
        apply_patch(&mut team, &patch, &self.config)?;
        keys::put_team(host, &team)
            .await
            .map_err(|e| store_error(&e))?;
        self.forget_team(name);
        let after = team.view();
        audit(
            host,
            principal,
            "team.update",
            name,
            changes(&before, &after),
        );
        Ok(json_ok(after))
    }

    /// Deletes a team that no key names (409 `team_in_use` otherwise).
    pub(crate) async fn delete_team<H: Host>(
        &self,
        host: &H,
        principal: &Actor<'_>,
        name: &str,
    ) -> Result<HttpResponse, ApiError> {
        let team = self.team(host, name).await?;
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

/// Applies `PATCH` fields: models, limits, budget, metadata, disabled.
fn apply_patch(
    team: &mut TeamRecord,
    patch: &Map<String, Value>,
    config: &crate::config::Config,
) -> Result<(), ApiError> {
    let mut new = NewTeam {
        name: team.name.clone(),
        models: team.models.clone(),
        limits: team.limits.clone(),
        budget: team.budget.clone(),
        metadata: team.metadata.clone(),
        disabled: team.disabled,
    };
    let field = |k: &str, e: serde_json::Error| RequestError::InvalidBody {
        path: k.into(),
        message: e.to_string(),
    };
    for (k, v) in patch {
        let v = v.clone();
        match k.as_str() {
            "models" => new.models = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "limits" => new.limits = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "budget" => new.budget = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "metadata" => new.metadata = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "disabled" => new.disabled = serde_json::from_value(v).map_err(|e| field(k, e))?,
            other => {
                return Err(RequestError::InvalidValue {
                    param: other.into(),
                    message:
                        "is not a field of a team that can be changed (a team's name is its id)"
                            .into(),
                }
                .into())
            }
        }
    }
    new.check(config)?;
    team.models = new.models;
    team.limits = new.limits;
    team.budget = new.budget;
    team.metadata = new.metadata;
    team.disabled = new.disabled;
    Ok(())
}
