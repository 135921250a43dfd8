//! Time helpers over the host's clock and timer.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, UNIX_EPOCH};

use futures::future::{select, Either};

use crate::host::Host;

/// Seconds since the epoch.
pub(crate) fn unix_secs<H: Host>(host: &H) -> u64 {
    host.now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms<H: Host>(host: &H) -> u64 {
    host.now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `f`'s output, or `None` when `limit` passes first.
pub(crate) async fn within<H: Host, F: Future>(
    host: &H,
    limit: Duration,
    f: F,
) -> Option<F::Output> {
    let f = pin!(f);
    let timer = pin!(host.sleep(limit));
    match select(f, timer).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}
