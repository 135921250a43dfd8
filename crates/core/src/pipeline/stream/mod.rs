//! The SSE body after the first-byte hold: the held events at once, then
//! each upstream chunk's translation as it arrives, then the stored
//! terminal event and `[DONE]`. A failure after output ends the stream
//! with `error` and `response.failed`, and counts against the target.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, LocalBoxStream, StreamExt};

use crate::builder::Outcome;
use crate::config::Config;
use crate::host::Host;
use crate::routing::TargetOutcome;
use crate::sse;
use crate::stored::Saver;
use crate::types::ErrorPayload;

use crate::pipeline::attempt::live::Live;
use crate::pipeline::attempt::{record_target, Target};
use crate::pipeline::clock::unix_secs;
use crate::pipeline::routing_store;

/// What the stream needs after the response has started.
pub(crate) struct StreamJob<H: Host + Clone + 'static> {
    pub host: H,
    pub config: std::sync::Arc<Config>,
    pub target: Target,
    pub saver: Option<Saver>,
    pub deadline: u64,
    /// The request's record, finished when the stream ends (or is
    /// dropped).
    pub rec: crate::observe::Recorder,
    /// The protocol the events are written in.
    pub egress: Egress,
    /// The request's reservation, settled at the stream's end.
    pub admission: crate::pipeline::admit::Admission<H>,
    /// Where a completed answer is cached.
    pub cache: Option<crate::pipeline::cache::CacheWrite>,
    /// Set when a cut after output may continue on another target.
    pub resume: Option<crate::pipeline::resume::Resume>,
}

/// How a stream's events are written for the client: Open Responses SSE,
/// or another front door's encoding, fed each event as a JSON value
/// (never written out as text and parsed back).
pub(crate) enum Egress {
    /// `event: <type>` / `data: <json>` frames, then `[DONE]`.
    Responses,
    /// A front door's encoder.
    Other(Box<dyn EventSink>),
}

/// A front door's stream encoder.
pub(crate) trait EventSink {
    /// Writes what one Open Responses event becomes.
    fn write_event(&mut self, event: &crate::types::StreamEvent, out: &mut String);
    /// What ends the stream.
    fn tail(&self) -> &'static str;
    /// Whether events of this type matter to it (the others are not
    /// turned into JSON values at all).
    fn wants(&self, kind: &str) -> bool;
    /// A finished (non-streamed) response in the front door's shape.
    fn whole(&self, response: &serde_json::Value) -> serde_json::Value;
}

impl Egress {
    pub(crate) fn write(
        &mut self,
        events: impl IntoIterator<Item = crate::types::StreamEvent>,
        end: bool,
    ) -> Bytes {
        match self {
            Egress::Responses => {
                let mut out = Vec::new();
                for e in events {
                    sse::encode(&e, &mut out);
                }
                if end {
                    out.extend_from_slice(sse::DONE);
                }
                Bytes::from(out)
            }
            Egress::Other(sink) => {
                let mut out = String::new();
                for e in events {
                    if !sink.wants(e.type_name()) {
                        continue;
                    }
                    sink.write_event(&e, &mut out);
                }
                if end {
                    out.push_str(sink.tail());
                }
                Bytes::from(out)
            }
        }
    }
}

/// Fills the record in from the finished response: usage, id, how it
/// ended, the cost at the serving target's prices, and, for a stream, the
/// serving attempt's real end (`ended`, ms). Returns the cost.
pub(crate) fn settle_record(
    rec: &crate::observe::Recorder,
    config: &Config,
    target: &Target,
    response: &crate::types::ResponseResource,
    ended: Option<u64>,
) -> Option<f64> {
    rec.with(|r| {
        r.response(response);
        r.response_model = Some(target.model.clone());
        r.cost_usd = crate::observe::cost(
            config,
            &target.listed_by,
            &target.provider,
            &target.model,
            r,
        );
        if let (Some(end), Some(a)) = (ended, r.attempts.last_mut()) {
            a.end_ms = end;
            if let Some(e) = &response.error {
                a.error = Some(e.code.clone());
            }
        }
        r.cost_usd
    })
}

/// The SSE body for a served stream.
pub(crate) fn body<H: Host + Clone + 'static>(
    mut live: Live,
    job: StreamJob<H>,
) -> LocalBoxStream<'static, Bytes> {
    let mut job = job;
    live.cut_is_fault = job.resume.is_some();
    let held = job.egress.write(live.b.drain(), false);
    struct State<H: Host + Clone + 'static> {
        live: Live,
        job: StreamJob<H>,
        done: bool,
        /// Output so far (text and arguments), for the reservation.
        output_bytes: u64,
        prices: Option<crate::config::Prices>,
        /// A continuation on another target, after a cut.
        cont: Option<crate::pipeline::resume::Continuation>,
    }
    impl<H: Host + Clone + 'static> Drop for State<H> {
        /// The client left before the end: say so in the record.
        fn drop(&mut self) {
            if self.done {
                return;
            }
            let now = crate::pipeline::clock::now_ms(&self.job.host);
            // What the stream used is not known: it is charged at what
            // it reserved.
            let reserved = self.job.admission.reserved();
            self.job.admission.settle_later(reserved);
            self.job.rec.with(|r| {
                r.error_type = Some("client_closed".into());
                r.error_code = Some("client_disconnected".into());
                if let Some(a) = r.attempts.last_mut() {
                    a.end_ms = now;
                }
            });
        }
    }
    let prices = job.config.prices(
        &job.target.listed_by,
        &job.target.provider,
        &job.target.model,
    );
    let state = State {
        live,
        job,
        done: false,
        output_bytes: 0,
        prices,
        cont: None,
    };
    let idle: Duration = state.job.config.server.upstream_idle_timeout;
    let rest = stream::unfold(state, move |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if st.live.b.is_finished() {
                st.done = true;
                let j = &st.job;
                // Store before the terminal event: a failed write turns it
                // into `error` + `response.failed`.
                if let Some(saver) = &j.saver {
                    let _ = saver
                        .save(&j.host, &mut st.live.b, unix_secs(&j.host))
                        .await;
                }
                st.live.b.emit_terminal();
                let ended = crate::pipeline::clock::now_ms(&j.host);
                let cost = settle_record(
                    &j.rec,
                    &j.config,
                    &j.target,
                    st.live.b.response(),
                    Some(ended),
                );
                if let Some(w) = &j.cache {
                    w.write(&j.host, st.live.b.response(), &j.target, cost)
                        .await;
                }
                let used = crate::pipeline::admit::used(&j.rec, j.admission.reserved());
                st.job.admission.settle_later(used);
                let out = st.job.egress.write(st.live.b.drain(), true);
                return Some((out, st));
            }
            let j = &st.job;
            if let Some(c) = st.cont.as_mut() {
                // A continuation: its events go onto the client's builder.
                let pumped = c
                    .live
                    .pump(&j.host, &c.target.provider, idle, j.deadline)
                    .await;
                let now = unix_secs(&j.host);
                if let Err(fault) = pumped {
                    let error = ErrorPayload {
                        kind: "server_error".into(),
                        code: Some(fault.code.into()),
                        message: fault.message,
                        param: None,
                    };
                    c.live.b.settle(Outcome::Failed(error), now);
                }
                c.splice.feed(&mut c.live.b, &mut st.live.b, now);
            } else if let Err(fault) = st
                .live
                .pump(&j.host, &j.target.provider, idle, j.deadline)
                .await
            {
                let failure = fault.failure;
                let principal = j.rec.with(|r| r.principal.clone()).unwrap_or_default();
                let request = st.live.b.response().id.clone();
                let caller = crate::routing::Caller {
                    request: &request,
                    principal: &principal,
                };
                let outcome = TargetOutcome::Failure {
                    retry_after: None,
                    status: failure.status(),
                };
                record_target(&j.config, &j.host, &j.target, caller, outcome);
                routing_store::save(&j.host).await;
                if let Some(r) = &j.resume {
                    let cont = r
                        .start(
                            &j.config, &j.host, &st.live.b, &j.target, j.deadline, &j.rec,
                        )
                        .await;
                    if cont.is_some() {
                        st.cont = cont;
                        continue;
                    }
                }
                let error = ErrorPayload {
                    kind: "server_error".into(),
                    code: Some(fault.code.into()),
                    message: fault.message,
                    param: None,
                };
                st.live.b.settle(Outcome::Failed(error), unix_secs(&j.host));
                continue;
            }
            let mut grown = 0;
            let events = st
                .live
                .b
                .drain()
                .inspect(|e| grown += crate::pipeline::admit::delta_len(e));
            let chunk = st.job.egress.write(events, false);
            st.output_bytes += grown;
            if grown > 0 {
                let (bytes, prices) = (st.output_bytes, st.prices);
                if let Err(refused) = st.job.admission.keep_up(bytes, prices).await {
                    let now = unix_secs(&st.job.host);
                    let error = crate::pipeline::admit::outgrown(&refused);
                    st.live.b.settle(Outcome::Failed(error), now);
                }
            }
            if !chunk.is_empty() {
                return Some((chunk, st));
            }
        }
    });
    stream::iter([held]).chain(rest).boxed_local()
}
