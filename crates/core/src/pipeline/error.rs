//! Why a turn ended before its answer started: each stage's failure as a
//! value, and the one place where it becomes an HTTP answer
//! ([`StageError::into_response`]).

use crate::error::ApiError;
use crate::host::HttpResponse;
use crate::quota::Refusal;

use super::attempt::GaveUp;
use super::respond::{error_response, served_headers};

/// A turn that ended before its answer started.
pub(crate) enum StageError {
    /// The request itself: its body, its expansion, the caller's rights.
    Request(ApiError),
    /// The plan stage found no target to try.
    NoTarget(ApiError),
    /// The admit stage refused it: a limit or budget has no room.
    Refused(Box<Refusal>),
    /// The admit stage could not reach the counter store, and the
    /// configuration fails closed.
    LimitsUnavailable(ApiError),
    /// The attempt loop gave up; `limits` are the admission's
    /// `x-ratelimit-*` headers.
    GaveUp {
        /// The last error, the attempts made, the last target tried.
        gave_up: Box<GaveUp>,
        /// `x-ratelimit-*` from the admission.
        limits: Vec<(String, String)>,
    },
}

impl From<ApiError> for StageError {
    fn from(e: ApiError) -> Self {
        StageError::Request(e)
    }
}

impl From<crate::error::GatewayError> for StageError {
    fn from(e: crate::error::GatewayError) -> Self {
        StageError::Request(e.into())
    }
}

impl From<crate::error::RequestError> for StageError {
    fn from(e: crate::error::RequestError) -> Self {
        StageError::Request(e.into())
    }
}

impl StageError {
    /// The envelope the client gets.
    pub fn error(&self) -> ApiError {
        match self {
            StageError::Request(e) | StageError::NoTarget(e) | StageError::LimitsUnavailable(e) => {
                e.clone()
            }
            StageError::Refused(r) => super::admit::answer::refusal_error(r),
            StageError::GaveUp { gave_up, .. } => gave_up.error.clone(),
        }
    }

    /// The HTTP answer: the envelope, its status, and the headers each
    /// stage owes the client (who was tried, the limits).
    pub fn into_response(self) -> HttpResponse {
        match self {
            StageError::Request(e) | StageError::LimitsUnavailable(e) => error_response(&e),
            StageError::NoTarget(e) => {
                let mut resp = error_response(&e);
                served_headers(&mut resp, None, 0);
                resp
            }
            StageError::Refused(r) => super::admit::answer::refusal(&r),
            StageError::GaveUp { gave_up, limits } => {
                let mut resp = error_response(&gave_up.error);
                served_headers(&mut resp, gave_up.last.as_ref(), gave_up.attempts);
                resp.headers.extend(limits);
                resp
            }
        }
    }
}
