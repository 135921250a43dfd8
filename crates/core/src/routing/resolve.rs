//! Name resolution for what is not a configured model: a pinned
//! provider, `<provider>/<model>`, and the model family.

use serde_json::json;

use crate::config::{Config, ModelConfig, ProviderConfig, ProviderKind, TargetConfig};
use crate::error::RouteError;

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// The configured provider name.
    pub provider_name: &'a str,
    /// Its configuration.
    pub provider: &'a ProviderConfig,
    /// The model id to send upstream.
    pub upstream_model: &'a str,
}

/// Resolves a model name, in this order:
/// 1. `provider` pinned in the request (must be configured, and one of
///    the model's targets when the model is a configured name);
/// 2. a `models[].name`;
/// 3. `<provider>/<model>` with a configured provider name;
/// 4. the model family (`gpt-`, `o1`/`o3`/`o4`, `chatgpt` → openai or
///    azureopenai; `claude` → anthropic; `gemini` → google), served by the
///    first configured provider of that type.
pub fn resolve<'a>(
    config: &'a Config,
    model: &'a str,
    pinned: Option<&str>,
) -> Result<Route<'a>, RouteError> {
    if let Some(name) = pinned {
        let (provider_name, provider) = config
            .providers
            .get_key_value(name)
            .ok_or_else(|| RouteError::UnknownProvider(name.to_owned()))?;
        // A pin on a configured model reaches only its own targets: a
        // pin elsewhere would be an unpriced, unlimited way round them.
        let upstream_model = match config.models.iter().find(|m| m.name == model) {
            Some(m) => {
                let t = m
                    .targets
                    .iter()
                    .find(|t| t.provider == name)
                    .ok_or_else(|| RouteError::NotATarget {
                        model: model.to_owned(),
                        provider: name.to_owned(),
                    })?;
                t.provider_model_id.as_deref().unwrap_or(&m.name)
            }
            None => model,
        };
        return Ok(Route {
            provider_name,
            provider,
            upstream_model,
        });
    }
    if let Some(m) = config.models.iter().find(|m| m.name == model) {
        if let Some(route) = m.targets.first().and_then(|t| target_route(config, m, t)) {
            return Ok(route);
        }
    }
    if let Some((prefix, rest)) = model.split_once('/') {
        if let Some((provider_name, provider)) = config.providers.get_key_value(prefix) {
            return Ok(Route {
                provider_name,
                provider,
                upstream_model: rest,
            });
        }
    }
    let Some((kinds, label)) = family(model) else {
        return Err(RouteError::UnknownModel(model.to_owned()));
    };
    config
        .providers
        .iter()
        .find(|(_, p)| kinds.contains(&p.kind))
        .map(|(provider_name, provider)| Route {
            provider_name,
            provider,
            upstream_model: model,
        })
        .ok_or_else(|| RouteError::NoProviderForFamily {
            model: model.to_owned(),
            kind: label,
        })
}

/// The route to one configured target (validated at load: its provider
/// exists).
pub(crate) fn target_route<'a>(
    config: &'a Config,
    model: &'a ModelConfig,
    target: &'a TargetConfig,
) -> Option<Route<'a>> {
    let (provider_name, provider) = config.providers.get_key_value(&target.provider)?;
    Some(Route {
        provider_name,
        provider,
        upstream_model: target.provider_model_id.as_deref().unwrap_or(&model.name),
    })
}

/// The configured model that lists `route` among its targets: the name
/// that prices, limits and counts a request, whatever the client called
/// it (`provider/model`, a pin, a family name). `prefer` first, when it
/// lists it; else, of several, the one that prices it highest (a route
/// listed priced and unpriced is priced).
pub fn owner<'a>(config: &'a Config, route: &Route<'_>, prefer: &str) -> Option<&'a ModelConfig> {
    let target = |m: &'a ModelConfig| {
        m.targets.iter().find(|t| {
            t.provider == route.provider_name
                && t.provider_model_id.as_deref().unwrap_or(&m.name) == route.upstream_model
        })
    };
    if let Some(m) = config.models.iter().find(|m| m.name == prefer) {
        if target(m).is_some() {
            return Some(m);
        }
    }
    let price = |m: &&'a ModelConfig| {
        target(m)
            .and_then(|t| t.prices())
            .map_or((0.0, 0.0), |p| (p.output, p.input))
    };
    config
        .models
        .iter()
        .filter(|m| target(m).is_some())
        .reduce(|best, m| if price(&m) > price(&best) { m } else { best })
}

/// The name a request's usage is counted under: the configured model
/// that owns its first target; an unlisted route as `provider/model`
/// (at most 256 bytes); `other` when even that is too long. A client
/// can't grow the usage tables with names of its own making.
pub fn usage_name(first: &super::Candidate<'_>) -> String {
    if first.configured {
        return first.model.to_owned();
    }
    let name = format!(
        "{}/{}",
        first.route.provider_name, first.route.upstream_model
    );
    if name.len() <= 256 {
        name
    } else {
        "other".to_owned()
    }
}

fn family(model: &str) -> Option<(&'static [ProviderKind], &'static str)> {
    const OPENAI: &[ProviderKind] = &[ProviderKind::OpenAi, ProviderKind::AzureOpenAi];
    let m = model.to_ascii_lowercase();
    let is_o_series = ["o1", "o3", "o4"]
        .iter()
        .any(|p| m == *p || m.starts_with(&format!("{p}-")));
    if m.starts_with("gpt-") || m.starts_with("chatgpt") || is_o_series {
        Some((OPENAI, "openai or azureopenai"))
    } else if m.starts_with("claude") {
        Some((&[ProviderKind::Anthropic], "anthropic"))
    } else if m.starts_with("gemini") {
        Some((&[ProviderKind::Google], "google"))
    } else {
        None
    }
}

/// `GET /v1/models`: the configured models, in the OpenAI list shape;
/// a model with prices (USD per million tokens) lists them in `pricing`.
pub fn models_list(config: &Config) -> serde_json::Value {
    let data: Vec<_> = config
        .models
        .iter()
        .map(|m| {
            let mut entry =
                json!({"id": m.name, "object": "model", "created": 0, "owned_by": m.owner()});
            // The configured prices, so that a client (the playground) can
            // price a streamed answer from its usage as the gateway does.
            let pricing: Vec<_> = m
                .targets
                .iter()
                .filter_map(|t| {
                    Some(json!({
                        "provider": t.provider,
                        "model": t.provider_model_id.as_deref().unwrap_or(&m.name),
                        "input_cost": t.input_cost?,
                        "output_cost": t.output_cost?,
                    }))
                })
                .collect();
            if !pricing.is_empty() {
                entry["pricing"] = json!(pricing);
            }
            entry
        })
        .collect();
    json!({"object": "list", "data": data})
}

/// The routing strategy of a configured model name, if it is one.
pub fn strategy_of(config: &Config, model: &str) -> Option<&'static str> {
    config
        .models
        .iter()
        .find(|m| m.name == model)
        .map(|m| m.strategy.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let yaml = r#"
providers:
  local: { type: openai-chat, endpoint: "http://127.0.0.1:1" }
  oa: { type: openai, api_key: k }
models:
  - { name: llama, provider: local, provider_model_id: "llama3.2:3b" }
"#;
        Config::from_yaml(yaml, &|_| None).unwrap()
    }

    #[test]
    fn another_name_is_owned_by_the_model_that_prices_it_highest() {
        let yaml = r#"
providers:
  oa: { type: openai, api_key: k }
models:
  - { name: free, provider: oa, provider_model_id: gpt-4o-mini }
  - { name: cheap, targets: [ { provider: oa, provider_model_id: gpt-4o-mini, input_cost: 0.1, output_cost: 0.4 } ] }
  - { name: dear, targets: [ { provider: oa, provider_model_id: gpt-4o-mini, input_cost: 1, output_cost: 4 } ] }
"#;
        let c = Config::from_yaml(yaml, &|_| None).unwrap();
        let r = resolve(&c, "oa/gpt-4o-mini", None).unwrap();
        assert_eq!(
            owner(&c, &r, "oa/gpt-4o-mini").map(|m| m.name.as_str()),
            Some("dear")
        );
        // A pin on a configured name keeps that name.
        let r = resolve(&c, "free", Some("oa")).unwrap();
        assert_eq!(owner(&c, &r, "free").map(|m| m.name.as_str()), Some("free"));
        assert!(matches!(
            resolve(&c, "free", Some("ghost")),
            Err(RouteError::UnknownProvider(_))
        ));
    }

    #[test]
    fn resolution_order() {
        let c = config();
        let r = resolve(&c, "llama", None).unwrap();
        assert_eq!(
            (r.provider_name, r.upstream_model),
            ("local", "llama3.2:3b")
        );
        let r = resolve(&c, "gpt-4o", None).unwrap();
        assert_eq!((r.provider_name, r.upstream_model), ("oa", "gpt-4o"));
        let r = resolve(&c, "o3-mini", None).unwrap();
        assert_eq!(r.provider_name, "oa");
        let r = resolve(&c, "local/qwen3", None).unwrap();
        assert_eq!((r.provider_name, r.upstream_model), ("local", "qwen3"));
        let r = resolve(&c, "gpt-4o", Some("local")).unwrap();
        assert_eq!(r.provider_name, "local");
        assert!(matches!(
            resolve(&c, "claude-3", None),
            Err(RouteError::NoProviderForFamily { .. })
        ));
        assert!(matches!(
            resolve(&c, "o30", None),
            Err(RouteError::UnknownModel(_))
        ));
        assert!(matches!(
            resolve(&c, "x", Some("ghost")),
            Err(RouteError::UnknownProvider(_))
        ));
    }
}
