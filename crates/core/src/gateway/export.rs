//! Span export over OTLP/HTTP, off the request path: each finished
//! request's spans join a queue, and a deferred task posts them. A host
//! that batches (native) waits up to a second, or for 512 spans; the
//! others post each request's spans after its response. An export never
//! delays or fails a response: a failure is logged and the spans are
//! dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::OtlpConfig;
use crate::host::{Host, UpstreamRequest};
use crate::observe::{otlp, Record};

/// Most spans held before a batch is sent at once.
const MAX_BATCH: usize = 512;
/// Most spans held at all: past it (a collector that cannot keep up)
/// new spans are dropped.
const MAX_QUEUE: usize = 8192;
/// How long a batch waits for more spans.
const LINGER: Duration = Duration::from_secs(1);

/// Spans waiting to be exported.
#[derive(Debug, Default)]
pub(crate) struct SpanQueue {
    spans: Vec<Vec<u8>>,
    /// A flush is already scheduled.
    scheduled: bool,
}

/// Queues a finished request's spans and schedules their export.
pub(crate) fn spans<H: Host + Clone + 'static>(
    host: &H,
    otlp: &OtlpConfig,
    queue: &Arc<Mutex<SpanQueue>>,
    r: &Record,
) {
    let spans = otlp::spans(r);
    if spans.is_empty() {
        return;
    }
    let Ok(mut q) = queue.lock() else { return };
    if q.spans.len() + spans.len() > MAX_QUEUE {
        return;
    }
    q.spans.extend(spans);
    let full = q.spans.len() >= MAX_BATCH;
    if q.scheduled && !full {
        return;
    }
    q.scheduled = true;
    drop(q);
    let (host2, otlp, queue) = (host.clone(), otlp.clone(), queue.clone());
    let linger = H::BATCH_SPANS && !full;
    host.defer(Box::pin(async move {
        if linger {
            host2.sleep(LINGER).await;
        }
        let batch = match queue.lock() {
            Ok(mut q) => {
                q.scheduled = false;
                std::mem::take(&mut q.spans)
            }
            Err(_) => return,
        };
        if !batch.is_empty() {
            post(&host2, &otlp, &batch).await;
        }
    }));
}

async fn post<H: Host>(host: &H, otlp: &OtlpConfig, batch: &[Vec<u8>]) {
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/x-protobuf".to_owned(),
    )];
    for (k, v) in &otlp.headers {
        headers.push((k.to_ascii_lowercase(), v.clone()));
    }
    let req = UpstreamRequest {
        method: "POST",
        url: otlp.traces_url(),
        headers,
        body: otlp::export_request(batch, &otlp.service_name).into(),
        stream: false,
        provider: "otlp".into(),
        timeout: Duration::from_secs(10),
    };
    let failed = match host.send(req).await {
        Ok(resp) if (200..300).contains(&resp.status) => None,
        Ok(resp) => Some(format!("the collector answered {}", resp.status)),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = failed {
        let line = serde_json::json!({"level": "warn", "msg": "otlp export failed",
            "spans": batch.len(), "error": why});
        host.log(&line.to_string());
    }
}
