//! The SSE body after the first-byte hold: the held events at once, then
//! each upstream chunk's translation as it arrives, then the stored
//! terminal event and `[DONE]`. A failure after output ends the stream
//! with `error` and `response.failed`, and counts against the target.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, LocalBoxStream, StreamExt};

pub(crate) mod egress;

use crate::builder::Outcome;
use crate::config::Config;
use crate::host::Host;
use crate::routing::TargetOutcome;
use crate::types::ErrorPayload;

use super::attempt::live::Live;
use super::attempt::{record_target, Target};
use super::clock::{now_ms, unix_secs};
use super::finish::{Finish, ServedBy};
use super::routing_store;
use egress::Egress;

/// What the stream needs after the response has started.
pub(crate) struct StreamJob<H: Host + Clone + 'static> {
    pub host: H,
    pub config: std::sync::Arc<Config>,
    pub target: Target,
    /// The caller (breakers count failures per principal).
    pub principal: String,
    pub deadline: u64,
    /// The request's record, finished when the stream ends (or is
    /// dropped).
    pub rec: crate::observe::Recorder,
    /// The protocol the events are written in.
    pub egress: Egress,
    /// Stores, records, caches and settles the response at its end.
    pub finish: Finish<H>,
    /// Set when a cut after output may continue on another target.
    pub resume: Option<super::resume::Resume>,
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
        cont: Option<super::resume::Continuation>,
    }
    impl<H: Host + Clone + 'static> Drop for State<H> {
        /// The client left before the end: say so in the record.
        fn drop(&mut self) {
            if self.done {
                return;
            }
            let now = now_ms(&self.job.host);
            // What the stream used is not known: it is charged at what
            // it reserved.
            self.job.finish.abandon();
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
                let j = &mut st.job;
                // A failed store write has already turned the response
                // into `error` + `response.failed`.
                let by = ServedBy::Upstream(&j.target);
                let _ = j
                    .finish
                    .response(&j.config, &j.host, &j.rec, &mut st.live.b, by, true)
                    .await;
                // Done once finished: a client that leaves while the
                // response is stored or settled is recorded as gone.
                st.done = true;
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
                let request = st.live.b.response().id.clone();
                let caller = crate::routing::Caller {
                    request: &request,
                    principal: &j.principal,
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
                    if let Some(c) = cont {
                        // The cut part is charged at its reservation, and
                        // the continuation, another attempt, is held for
                        // and priced at its own target.
                        match st.job.finish.continuing().await {
                            Ok(()) => {
                                let t = &c.target;
                                st.prices =
                                    st.job.config.prices(&t.listed_by, &t.provider, &t.model);
                                st.job.target = c.target.clone();
                                st.cont = Some(c);
                            }
                            Err(refused) => {
                                // It reached an upstream: charged all the same.
                                st.job.finish.timed_out(1);
                                let error = super::admit::outgrown(&refused);
                                st.live
                                    .b
                                    .settle(Outcome::Failed(error), unix_secs(&st.job.host));
                            }
                        }
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
                .inspect(|e| grown += super::admit::delta_len(e));
            let chunk = st.job.egress.write(events, false);
            st.output_bytes += grown;
            if grown > 0 {
                let (bytes, prices) = (st.output_bytes, st.prices);
                if let Err(refused) = st.job.finish.admission.keep_up(bytes, prices).await {
                    let now = unix_secs(&st.job.host);
                    let error = super::admit::outgrown(&refused);
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
