//! Which limits and budgets apply to a request: the scopes of its key
//! (or `limits.per_principal`), of its team, and of both for its model.

use std::collections::HashMap;

use crate::config::{BudgetConfig, Config, LimitSet};

use super::{period, ScopeOp};

/// A key's or a team's own limits and budget.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allowance {
    /// Rate limits.
    pub limits: Option<LimitSet>,
    /// The budget.
    pub budget: Option<BudgetConfig>,
}

/// The limits and budgets of a configuration, by principal and team.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    keys: HashMap<String, Allowance>,
    teams: HashMap<String, Allowance>,
    per_principal: Option<LimitSet>,
}

impl Rules {
    /// From `auth.api_keys`, `teams:` and `limits.per_principal`.
    pub fn new(config: &Config) -> Rules {
        let keys = config
            .auth
            .iter()
            .flat_map(|a| a.api_keys.iter())
            .map(|k| {
                let a = Allowance {
                    limits: k.limits.clone(),
                    budget: k.budget.clone(),
                };
                (format!("key:{}", k.name), a)
            })
            .collect();
        let teams = config
            .teams
            .iter()
            .map(|t| {
                let a = Allowance {
                    limits: t.limits.clone(),
                    budget: t.budget.clone(),
                };
                (t.name.clone(), a)
            })
            .collect();
        Rules {
            keys,
            teams,
            per_principal: config.limits.per_principal.clone(),
        }
    }

    /// Whether any limit or budget is configured at all (when none is,
    /// the limit stage costs nothing).
    pub fn any(&self) -> bool {
        self.per_principal.is_some()
            || self
                .keys
                .values()
                .chain(self.teams.values())
                .any(|a| a.limits.as_ref().is_some_and(|l| !l.is_empty()) || a.budget.is_some())
    }

    /// Whether `team` names a configured team.
    pub fn has_team(&self, team: &str) -> bool {
        self.teams.contains_key(team)
    }

    /// The scopes that apply to `principal` (of `team`) calling `model`,
    /// at `now_ms`, without amounts. Empty when nothing applies.
    pub fn scopes(
        &self,
        principal: &str,
        team: Option<&str>,
        model: &str,
        now_ms: u64,
    ) -> Vec<ScopeOp> {
        self.scopes_with(principal, None, team, None, model, now_ms)
    }

    /// [`Rules::scopes`], with a runtime key's own `allowance` and a
    /// runtime team's (`team_allowance`) in place of the config's.
    pub fn scopes_with(
        &self,
        principal: &str,
        allowance: Option<&Allowance>,
        team: Option<&str>,
        team_allowance: Option<&Allowance>,
        model: &str,
        now_ms: u64,
    ) -> Vec<ScopeOp> {
        let mut out = Vec::new();
        let own = allowance.or_else(|| self.keys.get(principal));
        let own_limits = own
            .and_then(|a| a.limits.as_ref())
            .or(self.per_principal.as_ref());
        push(
            &mut out,
            principal,
            own_limits,
            own.and_then(|a| a.budget.as_ref()),
            model,
            now_ms,
        );
        let team = team.and_then(|t| match team_allowance {
            Some(a) => Some((t, a)),
            None => self.teams.get_key_value(t).map(|(n, a)| (n.as_str(), a)),
        });
        if let Some((name, a)) = team {
            let shard = format!("team:{name}");
            push(
                &mut out,
                &shard,
                a.limits.as_ref(),
                a.budget.as_ref(),
                model,
                now_ms,
            );
        }
        out
    }
}

fn push(
    out: &mut Vec<ScopeOp>,
    shard: &str,
    limits: Option<&LimitSet>,
    budget: Option<&BudgetConfig>,
    model: &str,
    now_ms: u64,
) {
    if limits.is_none_or(|l| {
        l.requests_per_minute.is_none() && l.tokens_per_minute.is_none() && l.concurrent.is_none()
    }) && budget.is_none()
    {
        // Only per-model limits, or nothing, at this level.
    } else {
        let (period, period_end_ms) = match budget {
            Some(b) => period::current(b.period, now_ms),
            None => (String::new(), 0),
        };
        out.push(ScopeOp {
            shard: shard.to_owned(),
            name: "all".into(),
            rpm: limits.and_then(|l| l.requests_per_minute),
            tpm: limits.and_then(|l| l.tokens_per_minute),
            concurrent: limits.and_then(|l| l.concurrent),
            budget: budget.map(|b| b.usd),
            period,
            period_end_ms,
            ..Default::default()
        });
    }
    if let Some(m) = limits.and_then(|l| l.models.get(model)) {
        out.push(ScopeOp {
            shard: shard.to_owned(),
            name: format!("m:{model}"),
            rpm: m.requests_per_minute,
            tpm: m.tokens_per_minute,
            concurrent: m.concurrent,
            ..Default::default()
        });
    }
}

/// What `check-config` says about limits: a summary line, and warnings
/// (a budget on a principal that may call an unpriced model; counters
/// kept per process or per instance).
pub fn describe(config: &Config) -> (Option<String>, Vec<String>) {
    let rules = Rules::new(config);
    let mut warnings = Vec::new();
    let admin = config
        .auth
        .as_ref()
        .is_some_and(|a| !a.admin_keys.is_empty() || a.admin_claim.is_some());
    if admin && config.server.seal_key.as_deref().is_none_or(str::is_empty) {
        warnings.push("the admin API is on but there is no server.seal_key: runtime keys are stored as plain SHA-256 hashes, not keyed ones; set server.seal_key (LATTICELM_SEAL_KEY) before issuing keys (changing it later invalidates them)".into());
    }
    // Every route without prices: a budget can't count it, so a caller
    // under one is refused it (or served at $0 with limits.unpriced:
    // allow). Runtime keys (the admin API) may carry budgets of their own.
    let routes: Vec<String> = config
        .models
        .iter()
        .flat_map(|m| {
            m.targets
                .iter()
                .filter(|t| t.prices().is_none())
                .filter(|t| {
                    config
                        .providers
                        .get(&t.provider)
                        .is_none_or(|p| p.kind != crate::config::ProviderKind::Mock)
                })
                .map(move |t| {
                    format!(
                        "{} ({}/{})",
                        m.name,
                        t.provider,
                        t.provider_model_id.as_deref().unwrap_or(&m.name)
                    )
                })
        })
        .collect();
    if !routes.is_empty() && (rules.any() || admin) {
        let rule = match config.limits.unpriced {
            crate::config::Unpriced::Refuse => {
                "refused to callers under a budget (limits.unpriced: refuse)"
            }
            crate::config::Unpriced::Allow => {
                "served to callers under a budget at $0 (limits.unpriced: allow)"
            }
        };
        warnings.push(format!(
            "unpriced routes, {rule}: {}; set input_cost and output_cost on each target",
            routes.join(", ")
        ));
    }
    if !rules.any() {
        return (None, warnings);
    }
    let unpriced: Vec<&str> = config
        .models
        .iter()
        .filter(|m| m.targets.iter().any(|t| t.prices().is_none()))
        .map(|m| m.name.as_str())
        .collect();
    let keys = config.auth.iter().flat_map(|a| a.api_keys.iter());
    for k in keys {
        let team_budget = k
            .team
            .as_ref()
            .and_then(|t| config.teams.iter().find(|x| &x.name == t))
            .is_some_and(|t| t.budget.is_some());
        if k.budget.is_none() && !team_budget {
            continue;
        }
        let may: Vec<&str> = unpriced
            .iter()
            .copied()
            .filter(|m| {
                k.models
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|x| x == m))
            })
            .collect();
        if !may.is_empty() {
            warnings.push(format!(
                "key `{}` has a budget (its own or its team's) but may call {}, which {} no prices (input_cost and output_cost on every target): those calls count toward its rate limits, not its budget",
                k.name,
                may.join(", "),
                if may.len() == 1 { "has" } else { "have" }
            ));
        }
    }
    let store = config.limits_store().unwrap_or("memory");
    if store == "memory" {
        warnings.push("limits.store is `memory`: a native instance counts limits and budgets for itself only, so N replicas allow N times each; set limits.store to a redis:// URL shared by every replica. On Spin, without a redis:// store, limits hold per instance only (its key-value store has no atomic update). Workers always count in the LIMITS Durable Objects.".into());
    }
    let modes = config.limits.on_store_error;
    let summary = format!(
        "limits: {} keys and {} teams with limits or budgets; counters in {}; when the store is unreachable, rate limits fail {} and budgets fail {}; {} output tokens reserved when a request sets none",
        rules.keys.values().filter(|a| a.limits.is_some() || a.budget.is_some()).count(),
        rules.teams.values().filter(|a| a.limits.is_some() || a.budget.is_some()).count(),
        if store == "memory" { "memory" } else { "redis" },
        mode(modes.limits),
        mode(modes.budgets),
        config.limits.default_max_output_tokens,
    );
    (Some(summary), warnings)
}

fn mode(m: crate::config::StoreErrorMode) -> &'static str {
    match m {
        crate::config::StoreErrorMode::Open => "open",
        crate::config::StoreErrorMode::Closed => "closed",
    }
}
