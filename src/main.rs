//! `latticelm`: the native host of the latticelm gateway.

mod body;
mod cache_store;
mod chat;
mod conn;
mod host;
mod keys_cli;
mod ledger;
mod memory_store;
mod metrics_server;
mod server;
mod store;
mod trim;
mod upstream;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use latticelm_core::Config;

/// An Open Responses gateway in front of many LLM providers.
#[derive(Parser)]
#[command(
    name = "latticelm",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `latticelm` serves.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default command).
    Serve(ServeArgs),
    /// Chat with a running gateway in the terminal.
    Chat {
        /// The gateway's URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The model to start with.
        #[arg(long, short, default_value = "mock")]
        model: String,
        /// A bearer token (API key or JWT).
        #[arg(long, env = "LATTICELM_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Wait for whole answers instead of streaming them.
        #[arg(long)]
        no_stream: bool,
    },
    /// Issue, list, disable, rotate and delete runtime API keys on a
    /// running gateway (its admin API).
    #[command(subcommand)]
    Keys(keys_cli::KeysCommand),
    /// Load and check a configuration, then print the models it serves.
    CheckConfig {
        /// The YAML configuration file.
        #[arg(long, short, env = "LATTICELM_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The YAML configuration file (default: the embedded configuration,
    /// with the offline `mock` provider).
    #[arg(long, short, env = "LATTICELM_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address, overriding `server.address` (`127.0.0.1:0` picks a
    /// free port).
    #[arg(long, env = "LATTICELM_ADDRESS")]
    address: Option<String>,
    /// Worker threads, one single-threaded runtime each (default: cores).
    #[arg(long, env = "LATTICELM_THREADS")]
    threads: Option<usize>,
    /// Which requests are logged (overrides `server.log_level`): off,
    /// error, warn, info, debug.
    #[arg(long, env = "LATTICELM_LOG_LEVEL")]
    log_level: Option<String>,
    /// `json` or `text` (overrides `server.log_format`; default: text on a
    /// terminal, JSON otherwise).
    #[arg(long, env = "LATTICELM_LOG_FORMAT")]
    log_format: Option<String>,
}

/// Applies `--log-level` and `--log-format`, and picks text for a
/// terminal when the configuration does not say.
fn log_settings(config: &mut Config, args: &ServeArgs) -> Result<(), String> {
    use latticelm_core::observe::{LogFormat, LogLevel};
    if let Some(l) = &args.log_level {
        config.server.log_level =
            serde_json::from_value::<LogLevel>(serde_json::json!(l.to_ascii_lowercase()))
                .map_err(|_| format!("--log-level `{l}`: use off, error, warn, info or debug"))?;
    }
    if let Some(f) = &args.log_format {
        config.server.log_format = Some(
            serde_json::from_value::<LogFormat>(serde_json::json!(f.to_ascii_lowercase()))
                .map_err(|_| format!("--log-format `{f}`: use json or text"))?,
        );
    }
    if config.server.log_format.is_none() {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            config.server.log_format = Some(LogFormat::Text);
        }
    }
    Ok(())
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        None => Ok(Config::embedded_default(&env_var)),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
            Config::from_yaml(&text, &env_var).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => load_config(args.config.as_ref()).and_then(|mut config| {
            log_settings(&mut config, &args)?;
            if let Some(a) = args.address {
                config.server.address = a;
            }
            let threads = args
                .threads
                .unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                })
                .max(1);
            server::run(config, threads)
        }),
        Command::Chat {
            url,
            model,
            token,
            no_stream,
        } => chat::run(chat::ChatArgs {
            url,
            model,
            token,
            no_stream,
        }),
        Command::Keys(cmd) => keys_cli::run(cmd),
        Command::CheckConfig { config } => load_config(config.as_ref()).map(|c| {
            println!(
                "configuration OK: {} providers, {} models",
                c.providers.len(),
                c.models.len()
            );
            for m in &c.models {
                let targets: Vec<String> = m
                    .targets
                    .iter()
                    .map(|t| {
                        let id = t.provider_model_id.as_deref().unwrap_or(&m.name);
                        format!("{}/{id}", t.provider)
                    })
                    .collect();
                let mut line = format!("  {} -> {}", m.name, targets.join(", "));
                if m.targets.len() > 1 {
                    line.push_str(&format!(" ({})", m.strategy.as_str()));
                }
                if !m.fallbacks.is_empty() {
                    line.push_str(&format!("; then {}", m.fallbacks.join(", ")));
                }
                if let Some(cache) = &m.cache {
                    line.push_str(&format!("; cached {:?} per {}", cache.ttl, cache.scope.name()));
                }
                println!("{line}");
                if m.cache.as_ref().is_some_and(|x| x.scope == latticelm_core::config::CacheScope::Shared) {
                    println!("warning: model `{}` caches with scope `shared`: any caller may be served an answer cached for another; use it for public data only", m.name);
                }
            }
            let r = &c.routing;
            println!(
                "routing: {} retries, backoff {:?} to {:?}, circuit opens after {} failed requests (for everyone from {} principals) for {:?}, retry-after at most {:?}, deadline {:?}",
                r.retries, r.backoff, r.max_backoff, r.circuit_breaker.failures, r.circuit_breaker.min_principals, r.circuit_breaker.cooldown, r.max_retry_after, r.deadline
            );
            let (limits, warnings) = latticelm_core::quota::describe(&c);
            if let Some(line) = limits {
                println!("{line}");
            }
            for w in warnings {
                println!("warning: {w}");
            }
            if let Some(warning) = c.clone().seed_seal([0; 32]) {
                println!("warning: {warning}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latticelm: {e}");
            ExitCode::FAILURE
        }
    }
}
