//! The request's telemetry: opens its [`Record`] when it arrives, and
//! finishes it with the response; the record is emitted (log line,
//! metrics) when its last holder, the response or the stream after it,
//! lets go.

use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::error::ApiError;
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::observe::{self, log, Metrics, Record, Recorder, TraceContext};

use crate::pipeline::clock::now_ms;

/// What the record reads of a request as it arrives.
pub(crate) struct Arrival<'a> {
    /// `GET`, `POST`, … (`WS` for a WebSocket turn).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// Its headers (`x-request-id`, the trace context).
    pub headers: &'a [(String, String)],
}

impl<'a> Arrival<'a> {
    /// An HTTP request's.
    pub fn of(req: &'a HttpRequest) -> Self {
        Arrival {
            method: &req.method,
            path: &req.path,
            headers: &req.headers,
        }
    }

    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Opens the record of a request: its id (the caller's `x-request-id` when
/// it is a sane token, else a new one), its trace context, its arrival.
pub(crate) fn begin<H: Host + Clone + 'static>(
    config: &Arc<Config>,
    metrics: &Arc<Mutex<Metrics>>,
    spans: &Arc<Mutex<crate::gateway::export::SpanQueue>>,
    host: &H,
    req: &Arrival<'_>,
) -> Recorder {
    let mut random = [0u8; 32];
    host.random(&mut random);
    // A new trace is recorded at `sample_ratio` (none without OTLP).
    let ratio = config
        .observability
        .otlp
        .as_ref()
        .map_or(0.0, |o| o.sample_ratio);
    let draw = u32::from_le_bytes([random[0], random[1], random[2], random[3]]);
    // Admin requests are always recorded: their span is the audit trail.
    let admin = ratio > 0.0 && req.path.starts_with("/v1/admin/");
    let sample = admin || f64::from(draw) < ratio * 4_294_967_296.0;
    let mut trace_random = [0u8; 24];
    trace_random.copy_from_slice(&random[8..]);
    let request_id = req
        .header("x-request-id")
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", observe::trace::hex(&random[..8])));
    let mut trace = TraceContext::from_headers(
        req.header("traceparent"),
        req.header("tracestate"),
        trace_random,
        sample,
    );
    trace.sampled |= admin;
    let record = Record {
        request_id,
        trace: Some(trace),
        start_ms: now_ms(host),
        method: req.method.to_owned(),
        path: req.path.to_owned(),
        ..Default::default()
    };
    if let Ok(mut m) = metrics.lock() {
        m.start();
    }
    let (host, config, metrics, spans) =
        (host.clone(), config.clone(), metrics.clone(), spans.clone());
    let track_usage = config.auth.as_ref().is_some_and(|a| a.admin_api());
    Recorder::new(record, move |mut r| {
        r.end_ms = now_ms(&host).max(r.start_ms);
        if r.status == 0 {
            // Ended before any answer: the client left (499, as nginx
            // logs it), never a plain success.
            r.status = 499;
            r.error_type.get_or_insert_with(|| "client_closed".into());
            r.error_code
                .get_or_insert_with(|| "client_disconnected".into());
        }
        if track_usage {
            track(&host, &config, &r);
        }
        let route = observe::route_of(&r.path);
        if let Ok(mut m) = metrics.lock() {
            m.observe(&r, route);
        }
        let format = config.server.log_format.unwrap_or_default();
        if let Some(line) = log::line(&r, config.server.log_level, format) {
            host.log(&line);
        }
        if let Some(otlp) = &config.observability.otlp {
            crate::gateway::export::spans(&host, otlp, &spans, &r);
        }
    })
}

/// Adds a served request to its key's and team's usage, off the
/// response path.
fn track<H: Host + Clone + 'static>(host: &H, config: &Config, r: &Record) {
    let (Some(principal), Some(model)) = (&r.principal, &r.route) else {
        return;
    };
    if r.status >= 400 || principal == "admin" {
        return;
    }
    let add = crate::keys::usage::UsageAdd {
        principal: principal.clone(),
        team: r.team.clone(),
        model: model.clone(),
        input_tokens: r.usage.as_ref().map_or(0, |u| u.input_tokens),
        output_tokens: r.usage.as_ref().map_or(0, |u| u.output_tokens),
        cost_usd: r.cost_usd.unwrap_or(0.0),
        at_ms: r.end_ms,
    };
    let host = host.clone();
    let retention = config.limits.usage_retention;
    host.clone().defer(Box::pin(async move {
        if let Err(e) = crate::keys::usage::record(&host, &add, retention).await {
            let line = serde_json::json!({"level": "warn", "msg": "usage not recorded", "error": e.to_string()});
            host.log(&line.to_string());
        }
    }));
}

/// Finishes the record with the answer's status and error (a WebSocket
/// turn's, or an HTTP response's through [`respond`]).
pub(crate) fn turn<H: Host>(rec: &Recorder, host: &H, status: u16, error: Option<&ApiError>) {
    let now = now_ms(host);
    rec.with(|r| {
        r.status = status;
        r.ttfb_ms = Some(now.saturating_sub(r.start_ms));
        if let Some(e) = error {
            r.error_type = Some(e.payload.kind.clone());
            r.error_code = e.payload.code.clone();
        }
    });
}

/// Finishes the record with the response and names the request in it
/// (`x-request-id`).
pub(crate) fn respond<H: Host>(
    rec: &Recorder,
    host: &H,
    error: Option<&ApiError>,
    resp: &mut HttpResponse,
) {
    turn(rec, host, resp.status, error);
    let id = rec.with(|r| {
        if error.is_none() && resp.status >= 400 && r.error_type.is_none() {
            // An error the pipeline answered itself (no target, …).
            if let Body::Full(b) = &resp.body {
                let v: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
                r.error_type = v["error"]["type"].as_str().map(str::to_owned);
                r.error_code = v["error"]["code"].as_str().map(str::to_owned);
            }
        }
        r.request_id.clone()
    });
    resp.headers.push(("x-request-id".into(), id));
}

/// `GET /metrics`: the Prometheus text, with the breakers read now.
pub(crate) fn metrics_response<H: Host>(metrics: &Arc<Mutex<Metrics>>, host: &H) -> HttpResponse {
    let now = now_ms(host);
    let circuits = host.with_routing(|s| s.circuits(now));
    let text = metrics
        .lock()
        .map(|m| m.render(&circuits))
        .unwrap_or_default();
    HttpResponse {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "text/plain; version=0.0.4; charset=utf-8".into(),
        )],
        body: Body::Full(text.into()),
        detail: None,
    }
}
