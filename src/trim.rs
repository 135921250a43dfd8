//! Giving memory back after a burst. glibc's malloc keeps freed memory
//! for reuse, so after 10,000 concurrent streams end the process would
//! stay at its peak RSS. A background thread watches the open
//! connections and, once a burst has ended (they fell to half their peak
//! since the last trim, by at least [`MIN_DROP`]), asks malloc to return
//! its free pages to the OS (`malloc_trim`).

use std::time::Duration;

use crate::conn::Budget;

/// How often the connection count is read.
const EVERY: Duration = Duration::from_secs(2);

/// The fewest connections a burst must shed before a trim.
const MIN_DROP: usize = 256;

/// Starts the watcher (glibc only; other allocators need none).
pub fn spawn(connections: Budget) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("latticelm-trim".into())
        .spawn(move || {
            let mut peak = 0usize;
            loop {
                std::thread::sleep(EVERY);
                let now = connections.used();
                peak = peak.max(now);
                if peak - now >= MIN_DROP && now <= peak / 2 {
                    release();
                    peak = now;
                }
            }
        });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release() {
    // SAFETY: malloc_trim takes no pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}
