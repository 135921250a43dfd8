//! `observability:`: where traces go. Logs and metrics are in `server:`
//! (`log_level`, `log_format`, `metrics_address`).

use indexmap::IndexMap;
use serde::Deserialize;

use super::ConfigError;

/// `observability:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservabilityConfig {
    /// OpenTelemetry traces over OTLP/HTTP (off when absent).
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
}

/// `observability.otlp:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://127.0.0.1:4318`); `/v1/traces` is
    /// appended unless the URL already ends with it.
    pub endpoint: String,
    /// Headers sent with each export (an ingest key, for example).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Share of new traces recorded (0 to 1, default 1). A caller's
    /// `traceparent` decides for its own trace.
    #[serde(default = "one")]
    pub sample_ratio: f64,
    /// `service.name` of the spans.
    #[serde(default = "service")]
    pub service_name: String,
}

fn one() -> f64 {
    1.0
}

fn service() -> String {
    "latticelm".into()
}

impl OtlpConfig {
    /// The URL exports are posted to.
    pub fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError::invalid(
                "observability.otlp.sample_ratio",
                "must be between 0 and 1",
            ));
        }
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "observability.otlp.endpoint",
                "must be an http:// or https:// URL, like http://127.0.0.1:4318",
            ));
        }
        Ok(())
    }
}
