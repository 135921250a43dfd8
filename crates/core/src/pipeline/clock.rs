//! Time helpers over the host's clock and timer.

use std::time::UNIX_EPOCH;

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

pub(crate) use crate::host::within;
