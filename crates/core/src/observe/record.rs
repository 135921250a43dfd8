//! What one request did, filled in by each stage of the pipeline and
//! emitted once, when the last holder lets go of it: after the response
//! for a plain one, after the stream's end (or the client's leaving) for
//! a stream.

use std::cell::RefCell;
use std::rc::Rc;

use super::trace::TraceContext;
use crate::types::{ResponseResource, Usage};

/// One request. Holds no prompt, output, header or credential.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// `x-request-id`: the caller's, or one the gateway made.
    pub request_id: String,
    /// The trace it belongs to.
    pub trace: Option<TraceContext>,
    /// Milliseconds since the epoch, at arrival.
    pub start_ms: u64,
    /// At the end of the response body.
    pub end_ms: u64,
    /// `POST`, `GET`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The caller (`key:<name>`, `oidc:…`, `anonymous`), once known.
    pub principal: Option<String>,
    /// The requested model.
    pub model: Option<String>,
    /// The configured model it resolved to (its prices and limits), or
    /// `provider/model` for an unlisted route: the name usage is
    /// counted under (see [`crate::routing::usage_name`]).
    pub route: Option<String>,
    /// The model's routing strategy.
    pub strategy: Option<&'static str>,
    /// Whether the client streamed.
    pub stream: bool,
    /// Each upstream request, in order.
    pub attempts: Vec<Attempt>,
    /// The HTTP status sent.
    pub status: u16,
    /// The error the client saw (a stream may fail after a 200).
    pub error_type: Option<String>,
    /// Its code.
    pub error_code: Option<String>,
    /// Milliseconds from arrival to the response's first byte.
    pub ttfb_ms: Option<u64>,
    /// Token usage, when the upstream reported it.
    pub usage: Option<Usage>,
    /// USD, from the serving target's prices.
    pub cost_usd: Option<f64>,
    /// The response's id.
    pub response_id: Option<String>,
    /// The upstream model that answered.
    pub response_model: Option<String>,
    /// Why the response ended (`completed`, `max_output_tokens`, …).
    pub finish_reason: Option<String>,
    /// The caller's team, once known.
    pub team: Option<String>,
    /// What the limit stage did, when limits or budgets apply.
    pub limits: Option<LimitsRecord>,
    /// What an admin request changed.
    pub audit: Option<AuditRecord>,
    /// What the response cache did, when it applied.
    pub cache: Option<CacheRecord>,
    /// A stream cut after output that another target continued.
    pub continuation: Option<ContinuationRecord>,
}

/// What was carried, for the record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContinuationRecord {
    /// The target that continued.
    pub provider: String,
    /// Its upstream model.
    pub model: String,
    /// Characters of the partial answer handed over.
    pub carried_chars: usize,
    /// `prefill` or `best_effort`.
    pub mode: &'static str,
}

/// The response cache's part in a request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheRecord {
    /// Served from the cache.
    pub hit: bool,
    /// A hit's tokens, which no upstream was paid for.
    pub saved_tokens: u64,
    /// A hit's original cost.
    pub saved_usd: Option<f64>,
}

/// An admin action, for the request's span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRecord {
    /// `key.create`, `team.update`, …
    pub action: String,
    /// The record's id.
    pub record: String,
    /// The fields an update changed.
    pub changed: Vec<String>,
}

/// The limit stage's part of a request's record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitsRecord {
    /// Tokens reserved at admission (input estimate plus output).
    pub reserved_tokens: u64,
    /// USD reserved at admission (the worst case over the plan).
    pub reserved_usd: f64,
    /// Tokens settled when the request ended.
    pub settled_tokens: Option<u64>,
    /// USD settled when the request ended.
    pub settled_usd: Option<f64>,
    /// Why it was refused (`requests`, `tokens`, `concurrent`, `budget`).
    pub refused: Option<String>,
    /// The counter store could not be reached (served open, or 503).
    pub store_error: bool,
    /// Each budget's remaining USD after settling, by its shard.
    pub budgets: Vec<(String, f64)>,
}

/// One upstream request.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// The configured provider name.
    pub provider: String,
    /// Its protocol (`openai`, `anthropic`, …).
    pub protocol: &'static str,
    /// The upstream model id.
    pub model: String,
    /// The span id its `traceparent` named.
    pub span_id: [u8; 8],
    /// Milliseconds since the epoch, when it was sent.
    pub start_ms: u64,
    /// When its first output arrived (its whole answer, when not
    /// streaming).
    pub first_ms: Option<u64>,
    /// When it ended: its whole answer, the end of its stream, or its
    /// failure.
    pub end_ms: u64,
    /// The upstream's status, if it answered.
    pub status: Option<u16>,
    /// Why it failed, if it did (the error code).
    pub error: Option<String>,
}

impl Record {
    /// Fills in what a finished response says: its usage, id, model and
    /// how it ended.
    pub fn response(&mut self, r: &ResponseResource) {
        self.usage = r.usage;
        self.response_id = Some(r.id.clone());
        self.finish_reason = Some(match &r.incomplete_details {
            Some(d) => d.reason.clone(),
            None => r.status.as_str().to_owned(),
        });
        if let Some(e) = &r.error {
            self.error_type.get_or_insert_with(|| "server_error".into());
            self.error_code.get_or_insert_with(|| e.code.clone());
        }
    }
}

/// A shared handle on a request's [`Record`]; the record is emitted when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Recorder(Rc<Inner>);

/// What receives the finished record.
type Emit = Box<dyn FnOnce(Record)>;

struct Inner {
    record: RefCell<Record>,
    emit: RefCell<Option<Emit>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(emit) = self.emit.get_mut().take() {
            emit(std::mem::take(self.record.get_mut()));
        }
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recorder")
            .field(&self.0.record.borrow())
            .finish()
    }
}

impl Recorder {
    /// A recorder that hands the record to `emit` at the end.
    pub fn new(record: Record, emit: impl FnOnce(Record) + 'static) -> Recorder {
        Recorder(Rc::new(Inner {
            record: RefCell::new(record),
            emit: RefCell::new(Some(Box::new(emit))),
        }))
    }

    /// A recorder that emits nowhere (tests, internal calls).
    pub fn detached() -> Recorder {
        Recorder(Rc::new(Inner {
            record: RefCell::new(Record::default()),
            emit: RefCell::new(None),
        }))
    }

    /// Updates the record.
    pub fn with<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        f(&mut self.0.record.borrow_mut())
    }

    /// The trace context, if any.
    pub fn trace(&self) -> Option<TraceContext> {
        self.0.record.borrow().trace.clone()
    }
}
