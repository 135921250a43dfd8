//! Request metrics, kept in core and rendered in the Prometheus text
//! format. Names follow the OpenTelemetry GenAI semantic conventions
//! v1.41.1 (the last release that defines them in the main repository;
//! still marked development), mapped to Prometheus as the OTLP
//! compatibility spec maps them (dots to underscores, unit suffixes,
//! `_total` on counters); the gateway's own series are `latticelm_*`.
//! `gen_ai.token.type` has only `input` and `output` there: cached and
//! reasoning tokens are counted in `latticelm_tokens_total`.

use std::fmt::Write;

use super::record::Record;

/// Seconds: from a millisecond to a few minutes (the semantic
/// conventions' advice for GenAI durations).
const SECONDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Tokens, as advised for `gen_ai.client.token.usage`.
const TOKENS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.buckets.len() != bounds.len() {
            self.buckets = vec![0; bounds.len()];
        }
        for (b, bound) in self.buckets.iter_mut().zip(bounds) {
            if v <= *bound {
                *b += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

use super::series::{Labels, SeriesMap};

/// Most series kept, counters and histograms together: past it, a new
/// series is counted under labels that all read `other`.
pub const MAX_SERIES: usize = 10_000;

/// The label value for a name that is not configured, or not safe to
/// keep as a label.
const OTHER: &str = "other";

/// Every series the gateway keeps.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    counters: SeriesMap<f64>,
    histograms: SeriesMap<Histogram>,
    /// Gauges set to their last value (budgets left).
    gauges: SeriesMap<f64>,
    in_flight: i64,
    /// Configured model names and upstream model ids: the only model
    /// label values (a client's made-up name is `other`).
    known: std::collections::HashSet<String>,
}

/// A code from an upstream or the gateway, kept when it looks like one
/// (short, `[a-z0-9_.-]`).
fn code_label(code: &str) -> &str {
    let ok = code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        code
    } else {
        OTHER
    }
}

/// An HTTP status as a label, without formatting the common ones.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    match status {
        200 => "200".into(),
        400 => "400".into(),
        401 => "401".into(),
        404 => "404".into(),
        429 => "429".into(),
        500 => "500".into(),
        502 => "502".into(),
        503 => "503".into(),
        s => s.to_string().into(),
    }
}

/// Help and type of each family, in output order.
const FAMILIES: [(&str, &str, &str); 19] = [
    ("latticelm_requests_total", "counter", "Requests answered, by route and status."),
    ("latticelm_requests_in_flight", "gauge", "Requests being answered (streams until they end)."),
    ("latticelm_upstream_attempts_total", "counter", "Upstream requests, by provider and outcome."),
    ("latticelm_upstream_retries_total", "counter", "Upstream requests past the first, by model."),
    ("latticelm_tokens_total", "counter", "Tokens, by model, principal and type (input, output, cached, reasoning)."),
    ("latticelm_cost_usd_total", "counter", "Cost in USD from the configured prices, by model and principal."),
    ("latticelm_circuit_state", "gauge", "Circuit breaker per target: 0 closed, 1 half-open, 2 open."),
    ("latticelm_limit_refusals_total", "counter", "Requests refused by a rate limit or budget, by principal, team and kind (requests, tokens, concurrent, budget)."),
    ("latticelm_limit_store_errors_total", "counter", "Admissions whose counter store could not be reached, by outcome (served open, refused closed)."),
    ("latticelm_budget_remaining_usd", "gauge", "USD left in a key's or team's budget for the current period, as of its last settlement."),
    ("latticelm_cache_requests_total", "counter", "Requests the response cache applied to, by model and result (hit, miss)."),
    ("latticelm_cache_saved_tokens_total", "counter", "Tokens served from the response cache instead of an upstream, by model."),
    ("latticelm_cache_saved_usd_total", "counter", "USD the response cache's hits would have cost, by model."),
    ("latticelm_continuations_total", "counter", "Streams cut after output and continued on another target, by model and mode (prefill, best_effort)."),
    ("gen_ai_client_operation_duration_seconds", "histogram", "GenAI operation duration (gen_ai.client.operation.duration), per upstream request."),
    ("gen_ai_client_operation_time_to_first_chunk_seconds", "histogram", "Time to the upstream's first output (gen_ai.client.operation.time_to_first_chunk), per serving upstream request."),
    ("gen_ai_client_token_usage", "histogram", "Tokens per upstream operation (gen_ai.client.token.usage)."),
    ("gen_ai_server_request_duration_seconds", "histogram", "Request duration as the gateway serves it (gen_ai.server.request.duration)."),
    ("gen_ai_server_time_to_first_token_seconds", "histogram", "Time to the response's first byte (gen_ai.server.time_to_first_token)."),
];

impl Metrics {
    /// Metrics whose model labels are these names (configured model names
    /// and upstream ids); any other name is counted as `other`.
    pub fn with_known(known: impl IntoIterator<Item = String>) -> Self {
        Metrics {
            known: known.into_iter().collect(),
            ..Default::default()
        }
    }

    fn model_label<'a>(&self, name: &'a str) -> &'a str {
        if name.is_empty() || self.known.contains(name) {
            name
        } else {
            OTHER
        }
    }

    /// A request started.
    pub fn start(&mut self) {
        self.in_flight += 1;
    }

    /// A request ended: count everything it did. A series counted into
    /// before is found again without allocating (`series.rs`).
    pub fn observe(&mut self, r: &Record, route: &str) {
        self.in_flight -= 1;
        let model = self.model_label(r.model.as_deref().unwrap_or_default());
        // The serving (last) attempt's upstream model.
        let upstream = r.attempts.last().map(|a| self.model_label(&a.model));
        let upstream = upstream.unwrap_or_default();
        let full = self.counters.len() + self.histograms.len() >= MAX_SERIES;
        let counters = &mut self.counters;
        let mut add = |name: &'static str, labels: &[(&'static str, &str)], v: f64| {
            *counters.series(name, labels, full, OTHER) += v;
        };
        let status = status_label(r.status);
        add(
            "latticelm_requests_total",
            &[("route", route), ("status", &status)],
            1.0,
        );
        let principal = r.principal.as_deref().unwrap_or_default();
        for a in &r.attempts {
            let outcome = if a.error.is_none() { "ok" } else { "error" };
            add(
                "latticelm_upstream_attempts_total",
                &[("provider", &a.provider), ("outcome", outcome)],
                1.0,
            );
        }
        if r.attempts.len() > 1 {
            add(
                "latticelm_upstream_retries_total",
                &[("model", model)],
                (r.attempts.len() - 1) as f64,
            );
        }
        if let Some(u) = r.usage {
            for (kind, n) in [
                ("input", u.input_tokens),
                ("output", u.output_tokens),
                ("cached", u.input_tokens_details.cached_tokens),
                ("reasoning", u.output_tokens_details.reasoning_tokens),
            ] {
                add(
                    "latticelm_tokens_total",
                    &[("model", model), ("principal", principal), ("type", kind)],
                    n as f64,
                );
            }
        }
        if let Some(l) = &r.limits {
            let team = r.team.as_deref().unwrap_or_default();
            if let Some(kind) = &l.refused {
                add(
                    "latticelm_limit_refusals_total",
                    &[
                        ("principal", principal),
                        ("team", team),
                        ("kind", code_label(kind)),
                    ],
                    1.0,
                );
            }
            if l.store_error {
                let outcome = if r.status == 503 { "closed" } else { "open" };
                add(
                    "latticelm_limit_store_errors_total",
                    &[("outcome", outcome)],
                    1.0,
                );
            }
            for (scope, left) in &l.budgets {
                *self.gauges.series(
                    "latticelm_budget_remaining_usd",
                    &[("scope", scope)],
                    full,
                    OTHER,
                ) = *left;
            }
        }
        if let Some(c) = &r.continuation {
            add(
                "latticelm_continuations_total",
                &[("model", model), ("mode", c.mode)],
                1.0,
            );
        }
        if let Some(c) = r.cache {
            let result = if c.hit { "hit" } else { "miss" };
            add(
                "latticelm_cache_requests_total",
                &[("model", model), ("result", result)],
                1.0,
            );
            if c.hit {
                let labels = [("model", model)];
                add(
                    "latticelm_cache_saved_tokens_total",
                    &labels,
                    c.saved_tokens as f64,
                );
                add(
                    "latticelm_cache_saved_usd_total",
                    &labels,
                    c.saved_usd.unwrap_or(0.0),
                );
            }
        }
        if let Some(c) = r.cost_usd {
            add(
                "latticelm_cost_usd_total",
                &[("model", model), ("principal", principal)],
                c,
            );
        }
        let error_type = code_label(r.error_type.as_deref().unwrap_or_default());
        let full = self.counters.len() + self.histograms.len() >= MAX_SERIES;
        let histograms = &mut self.histograms;
        let mut hist =
            |name: &'static str, labels: &[(&'static str, &str)], bounds: &[f64], v: f64| {
                histograms
                    .series(name, labels, full, OTHER)
                    .observe(bounds, v);
            };
        // The upstream operation: the attempt that served (the last).
        if let Some(a) = r.attempts.last() {
            let error = a.error.as_deref().map(code_label);
            let mut labels: Vec<(&'static str, &str)> = vec![
                ("gen_ai_operation_name", "chat"),
                ("gen_ai_provider_name", a.protocol),
                ("gen_ai_request_model", model),
                ("gen_ai_response_model", upstream),
            ];
            if let Some(e) = error {
                labels.push(("error_type", e));
            }
            let secs = a.end_ms.saturating_sub(a.start_ms) as f64 / 1000.0;
            hist(
                "gen_ai_client_operation_duration_seconds",
                &labels,
                &SECONDS,
                secs,
            );
            if let Some(first) = a.first_ms {
                hist(
                    "gen_ai_client_operation_time_to_first_chunk_seconds",
                    &labels,
                    &SECONDS,
                    first.saturating_sub(a.start_ms) as f64 / 1000.0,
                );
            }
            if let (Some(u), None) = (r.usage, &a.error) {
                for (kind, n) in [("input", u.input_tokens), ("output", u.output_tokens)] {
                    labels.push(("gen_ai_token_type", kind));
                    hist("gen_ai_client_token_usage", &labels, &TOKENS, n as f64);
                    labels.pop();
                }
            }
        }
        if let Some(ingress) = super::ingress_of_route(route, &r.method) {
            let mut labels: Vec<(&'static str, &str)> = vec![
                ("gen_ai_operation_name", "chat"),
                ("gen_ai_request_model", model),
                ("ingress", ingress),
            ];
            if !error_type.is_empty() {
                labels.push(("error_type", error_type));
            }
            let secs = r.end_ms.saturating_sub(r.start_ms) as f64 / 1000.0;
            hist(
                "gen_ai_server_request_duration_seconds",
                &labels,
                &SECONDS,
                secs,
            );
            if let Some(t) = r.ttfb_ms {
                hist(
                    "gen_ai_server_time_to_first_token_seconds",
                    &labels,
                    &SECONDS,
                    t as f64 / 1000.0,
                );
            }
        }
    }

    /// The Prometheus text exposition, with the breakers' states
    /// (`target`, 0/1/2) read at scrape time.
    pub fn render(&self, circuits: &[(String, u8)]) -> String {
        let mut out = String::new();
        // Sorted once a scrape, not once per family.
        let (gauges, counters, histograms) = (
            self.gauges.sorted(),
            self.counters.sorted(),
            self.histograms.sorted(),
        );
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            match name {
                "latticelm_requests_in_flight" => {
                    let _ = writeln!(out, "{name} {}", self.in_flight.max(0));
                }
                "latticelm_circuit_state" => {
                    for (target, state) in circuits {
                        let _ = writeln!(
                            out,
                            "{name}{} {state}",
                            labels(&[("target", target.clone())])
                        );
                    }
                }
                "latticelm_budget_remaining_usd" => {
                    for ((n, l), v) in gauges.iter().copied().filter(|((n, _), _)| *n == name) {
                        let _ = writeln!(out, "{n}{} {}", labels(l), number(*v));
                    }
                }
                _ if kind == "counter" => {
                    for ((n, l), v) in counters.iter().copied().filter(|((n, _), _)| *n == name) {
                        let _ = writeln!(out, "{n}{} {}", labels(l), number(*v));
                    }
                }
                _ => {
                    let bounds: &[f64] = if name == "gen_ai_client_token_usage" {
                        &TOKENS
                    } else {
                        &SECONDS
                    };
                    for ((n, l), h) in histograms.iter().copied().filter(|((n, _), _)| *n == name) {
                        for (b, count) in bounds.iter().zip(&h.buckets) {
                            let mut with = l.clone();
                            with.push(("le", number(*b)));
                            let _ = writeln!(out, "{n}_bucket{} {count}", labels(&with));
                        }
                        let mut inf = l.clone();
                        inf.push(("le", "+Inf".into()));
                        let _ = writeln!(out, "{n}_bucket{} {}", labels(&inf), h.count);
                        let _ = writeln!(out, "{n}_sum{} {}", labels(l), number(h.sum));
                        let _ = writeln!(out, "{n}_count{} {}", labels(l), h.count);
                    }
                }
            }
        }
        out
    }
}

impl Metrics {
    /// Every series as JSON, for the dashboard: counters as
    /// `{name, labels, value}`, histograms as `{name, labels, bounds,
    /// buckets (cumulative), sum, count}`.
    pub fn snapshot(&self) -> serde_json::Value {
        use serde_json::json;
        let obj = |l: &Labels| -> serde_json::Map<String, serde_json::Value> {
            l.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
        };
        let counters: Vec<_> = self
            .counters
            .sorted()
            .into_iter()
            .map(|((n, l), v)| json!({"name": n, "labels": obj(l), "value": v}))
            .collect();
        let histograms: Vec<_> = self
            .histograms
            .sorted()
            .into_iter()
            .map(|((n, l), h)| {
                let bounds: &[f64] = if *n == "gen_ai_client_token_usage" {
                    &TOKENS
                } else {
                    &SECONDS
                };
                json!({"name": n, "labels": obj(l), "bounds": bounds, "buckets": h.buckets,
                       "sum": h.sum, "count": h.count})
            })
            .collect();
        let gauges: Vec<_> = self
            .gauges
            .sorted()
            .into_iter()
            .map(|((n, l), v)| json!({"name": n, "labels": obj(l), "value": v}))
            .collect();
        json!({"in_flight": self.in_flight.max(0), "counters": counters, "histograms": histograms,
               "gauges": gauges})
    }
}

fn labels(l: &[(&str, String)]) -> String {
    if l.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = l
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::record::Attempt;
    use crate::types::Usage;

    #[test]
    fn renders_counts_and_histograms() {
        let mut m = Metrics::with_known(["m".to_owned(), "claude".to_owned()]);
        m.start();
        let r = Record {
            status: 200,
            model: Some("m".into()),
            principal: Some("key:a\"b".into()),
            start_ms: 1000,
            end_ms: 1300,
            ttfb_ms: Some(50),
            usage: Some(Usage::from_counts(10, 5, 15, 2, 1)),
            cost_usd: Some(0.25),
            attempts: vec![Attempt {
                provider: "p".into(),
                protocol: "anthropic",
                model: "claude".into(),
                start_ms: 1010,
                end_ms: 1290,
                status: Some(200),
                ..Default::default()
            }],
            ..Default::default()
        };
        m.observe(&r, "responses");
        let text = m.render(&[("p/claude".into(), 2)]);
        for want in [
            "latticelm_requests_total{route=\"responses\",status=\"200\"} 1",
            "latticelm_requests_in_flight 0",
            "latticelm_tokens_total{model=\"m\",principal=\"key:a\\\"b\",type=\"input\"} 10",
            "latticelm_tokens_total{model=\"m\",principal=\"key:a\\\"b\",type=\"cached\"} 2",
            "latticelm_cost_usd_total{model=\"m\",principal=\"key:a\\\"b\"} 0.25",
            "latticelm_circuit_state{target=\"p/claude\"} 2",
            "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"m\",gen_ai_response_model=\"claude\",le=\"0.32\"} 1",
            "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"m\",gen_ai_response_model=\"claude\",gen_ai_token_type=\"output\"} 5",
            "gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name=\"chat\",gen_ai_request_model=\"m\",ingress=\"responses\"} 1",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        let snap = m.snapshot();
        assert_eq!(snap["in_flight"], 0);
        assert!(snap["counters"].as_array().unwrap().iter().any(|c| {
            c["name"] == "latticelm_cost_usd_total"
                && c["labels"]["model"] == "m"
                && c["value"] == 0.25
        }));
        let h = snap["histograms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == "gen_ai_server_request_duration_seconds")
            .unwrap();
        assert_eq!(h["count"], 1);
        assert_eq!(
            h["bounds"].as_array().unwrap().len(),
            h["buckets"].as_array().unwrap().len()
        );
    }
}
