//! `latticelm keys …`: the admin API's keys from a terminal or a script.
//! Each command is one call to `/v1/admin/keys` on a running gateway,
//! authenticated with an admin key (`--admin-key` or
//! `LATTICELM_ADMIN_KEY`). Output is the API's JSON (a table for `list`
//! unless `--json`); an error answer is printed and exits non-zero.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// Where and as whom.
#[derive(Args)]
pub struct Target {
    /// The gateway's URL.
    #[arg(long, env = "LATTICELM_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin key (`auth.admin_keys`).
    #[arg(long, env = "LATTICELM_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
}

/// `latticelm keys …`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue a key; prints it (its secret, `key`, is shown this once).
    Create {
        #[command(flatten)]
        target: Target,
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Its team (a name of `teams:`).
        #[arg(long)]
        team: Option<String>,
        /// Models it may use, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u64>,
        /// Tokens per minute.
        #[arg(long)]
        tpm: Option<u64>,
        /// Requests in flight.
        #[arg(long)]
        concurrent: Option<u64>,
        /// A budget in USD.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// The budget's period: daily, weekly, monthly or total.
        #[arg(long, default_value = "monthly")]
        budget_period: String,
        /// Expires after this long (`30d`, `12h`).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List keys.
    List {
        #[command(flatten)]
        target: Target,
        /// Only this team's.
        #[arg(long)]
        team: Option<String>,
        /// Print the API's JSON pages instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a key (it is refused everywhere within seconds).
    Disable {
        #[command(flatten)]
        target: Target,
        /// The key's id (`key_…`).
        id: String,
    },
    /// Enable a disabled key.
    Enable {
        #[command(flatten)]
        target: Target,
        /// The key's id.
        id: String,
    },
    /// Give a key a new secret; the old one works for `--grace`.
    Rotate {
        #[command(flatten)]
        target: Target,
        /// The key's id.
        id: String,
        /// How long the old secret keeps working (`1h`; default none).
        #[arg(long)]
        grace: Option<String>,
    },
    /// Delete a key.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The key's id.
        id: String,
    },
    /// A key's or a team's usage: requests, tokens and cost, by model.
    Usage {
        #[command(flatten)]
        target: Target,
        /// The key's id (or a config key's name).
        #[arg(required_unless_present = "team", conflicts_with = "team")]
        id: Option<String>,
        /// A team's name instead of a key.
        #[arg(long)]
        team: Option<String>,
        /// How far back (`24h`, `7d`; at most 31 days).
        #[arg(long, default_value = "24h")]
        since: String,
    },
}

fn secs(d: &str) -> Result<u64, String> {
    latticelm_core::config::parse_duration(d).map(|d| d.as_secs())
}

/// Runs one command.
pub fn run(cmd: KeysCommand) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run_async(cmd))
}

async fn run_async(cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::Create {
            target,
            name,
            team,
            models,
            rpm,
            tpm,
            concurrent,
            budget_usd,
            budget_period,
            expires_in,
        } => {
            let mut body = json!({"name": name, "team": team, "models": models});
            if rpm.is_some() || tpm.is_some() || concurrent.is_some() {
                body["limits"] = json!({"requests_per_minute": rpm, "tokens_per_minute": tpm, "concurrent": concurrent});
            }
            if let Some(usd) = budget_usd {
                body["budget"] = json!({"usd": usd, "period": budget_period});
            }
            if let Some(e) = expires_in {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                body["expires_at"] = json!(now + secs(&e)?);
            }
            print(call(&target, reqwest::Method::POST, "/v1/admin/keys", Some(body)).await?)
        }
        KeysCommand::List { target, team, json } => {
            let mut after: Option<String> = None;
            let mut rows = Vec::new();
            loop {
                let mut path = "/v1/admin/keys?limit=100".to_owned();
                if let Some(t) = &team {
                    path.push_str(&format!("&team={t}"));
                }
                if let Some(a) = &after {
                    path.push_str(&format!("&after={a}"));
                }
                let page = call(&target, reqwest::Method::GET, &path, None).await?;
                if json {
                    println!("{page}");
                }
                rows.extend(page["data"].as_array().cloned().unwrap_or_default());
                after = page["last_id"].as_str().map(str::to_owned);
                if page["has_more"] != true || after.is_none() {
                    break;
                }
            }
            if !json {
                println!("{:<22} {:<24} {:<12} STATE", "ID", "NAME", "TEAM");
                for r in rows {
                    let state = if r["disabled"] == true {
                        "disabled"
                    } else {
                        "enabled"
                    };
                    println!(
                        "{:<22} {:<24} {:<12} {state}",
                        r["id"].as_str().unwrap_or_default(),
                        r["name"].as_str().unwrap_or_default(),
                        r["team"].as_str().unwrap_or("-"),
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Disable { target, id } => set_disabled(&target, &id, true).await,
        KeysCommand::Enable { target, id } => set_disabled(&target, &id, false).await,
        KeysCommand::Rotate { target, id, grace } => {
            let body =
                json!({"grace_seconds": grace.as_deref().map(secs).transpose()?.unwrap_or(0)});
            print(
                call(
                    &target,
                    reqwest::Method::POST,
                    &format!("/v1/admin/keys/{id}/rotate"),
                    Some(body),
                )
                .await?,
            )
        }
        KeysCommand::Usage {
            target,
            id,
            team,
            since,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let from = now.saturating_sub(secs(&since)?);
            let who = match (id, team) {
                (Some(id), _) => format!("key={id}"),
                (None, Some(t)) => format!("team={t}"),
                (None, None) => return Err("name a key's id or --team".into()),
            };
            let path = format!("/v1/admin/usage?{who}&from={from}&to={now}");
            print(call(&target, reqwest::Method::GET, &path, None).await?)
        }
        KeysCommand::Delete { target, id } => print(
            call(
                &target,
                reqwest::Method::DELETE,
                &format!("/v1/admin/keys/{id}"),
                None,
            )
            .await?,
        ),
    }
}

async fn set_disabled(target: &Target, id: &str, disabled: bool) -> Result<(), String> {
    let body = json!({"disabled": disabled});
    let path = format!("/v1/admin/keys/{id}");
    print(call(target, reqwest::Method::PATCH, &path, Some(body)).await?)
}

fn print(v: Value) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

async fn call(
    t: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let url = format!("{}{path}", t.url.trim_end_matches('/'));
    let mut rb = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(&t.admin_key);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let msg = v["error"]["message"].as_str().unwrap_or("no message");
        let code = v["error"]["code"].as_str().unwrap_or("");
        return Err(format!("{status}: {msg} ({code})"));
    }
    Ok(v)
}
