//! The budget alert: once a budget's spend crosses
//! `limits.budget_alert.threshold`, one warn log line, and a POST to
//! `limits.budget_alert.webhook` when one is set. Fired by the
//! settlement that crossed it, so once per crossing, on any instance.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::config::Config;
use crate::host::{Host, UpstreamRequest};

/// Logs the alert and posts it to the webhook, off the request path.
pub(crate) fn send<H: Host + Clone + 'static>(
    host: &H,
    config: &Config,
    shard: &str,
    budget: f64,
    spent: f64,
    period: &str,
) {
    let alert = &config.limits.budget_alert;
    let body = json!({
        "msg": "budget threshold crossed",
        "scope": shard,
        "budget_usd": budget,
        "spent_usd": spent,
        "threshold": alert.threshold,
        "period": period,
    });
    let mut line = body.clone();
    line["level"] = json!("warn");
    host.log(&line.to_string());
    let Some(url) = alert.webhook.clone() else {
        return;
    };
    let req = UpstreamRequest {
        method: "POST",
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body.to_string()),
        stream: false,
        provider: "budget_alert.webhook".into(),
        timeout: Duration::from_secs(10),
    };
    let h = host.clone();
    host.defer(Box::pin(async move {
        match h.send(req).await {
            Ok(resp) if (200..300).contains(&resp.status) => {}
            Ok(resp) => h.log(&format!(
                r#"{{"level":"warn","msg":"budget alert webhook answered {}"}}"#,
                resp.status
            )),
            Err(e) => h.log(&format!(
                r#"{{"level":"warn","msg":"budget alert webhook failed","error":{}}}"#,
                serde_json::Value::String(e.to_string())
            )),
        }
    }));
}
