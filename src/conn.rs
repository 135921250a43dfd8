//! Per-connection limits of the native server: how long a client may take
//! to send a request's headers, how long an idle keep-alive connection is
//! kept, how long a response may wait on a client that does not read, how
//! many connections are open at once (WebSockets included), and how many
//! bytes of request bodies are held in memory at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A value behind a lock, read and written whole: the connection's I/O
/// may move to another thread once upgraded to a WebSocket.
#[derive(Debug)]
struct Cell<T>(Mutex<T>);

impl<T: Copy> Cell<T> {
    fn new(v: T) -> Self {
        Cell(Mutex::new(v))
    }
    fn get(&self) -> T {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn set(&self, v: T) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }
}

/// Where a connection is between requests, shared by its I/O and its
/// service.
#[derive(Debug)]
pub struct ConnClock {
    /// Requests being served (their response bodies not yet finished).
    active: Cell<u32>,
    /// Bytes of a next request have arrived.
    head_started: Cell<bool>,
    /// When the current wait began.
    since: Cell<Instant>,
}

impl ConnClock {
    /// A clock for a new connection (idle since now).
    pub fn new() -> Arc<Self> {
        Arc::new(ConnClock {
            active: Cell::new(0),
            head_started: Cell::new(false),
            since: Cell::new(Instant::now()),
        })
    }

    /// A request's headers have arrived: no connection deadline until its
    /// response is done (the guard drops).
    pub fn begin(self: &Arc<Self>) -> ActiveGuard {
        self.active.set(self.active.get() + 1);
        self.head_started.set(false);
        ActiveGuard(self.clone())
    }
}

/// Marks a request in flight; dropping it (the response body finished or
/// was dropped) makes the connection idle again.
#[derive(Debug)]
pub struct ActiveGuard(Arc<ConnClock>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let c = &self.0;
        c.active.set(c.active.get().saturating_sub(1));
        if c.active.get() == 0 {
            c.since.set(Instant::now());
        }
    }
}

/// A connection's I/O with the two deadlines between requests: the rest
/// of a request's headers within `header`, once its first byte has come;
/// the first byte of the next request within `idle`. And one while a
/// response is being written: a client that takes nothing for `stall`
/// loses the connection, which releases the upstream behind the response
/// (its timers run only while the response is polled, and a response is
/// not polled while the client does not read).
pub struct TimedIo<T> {
    inner: T,
    clock: Arc<ConnClock>,
    header: Duration,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    stall: Duration,
    /// Set while writes wait on the client: the timer since they began
    /// to wait.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedIo<T> {
    /// Wraps a connection.
    pub fn new(
        inner: T,
        clock: Arc<ConnClock>,
        header: Duration,
        idle: Duration,
        stall: Duration,
    ) -> Self {
        let sleep = Box::pin(tokio::time::sleep(idle));
        TimedIo {
            inner,
            clock,
            header,
            idle,
            sleep,
            stall,
            stalled: None,
        }
    }

    /// A write or flush came back: ready resets the stall, pending starts
    /// it (or fails once it has run out).
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let stall = self.stall;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took nothing for {stall:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let c = &this.clock;
                if buf.filled().len() > before && c.active.get() == 0 && !c.head_started.get() {
                    c.head_started.set(true);
                    c.since.set(Instant::now());
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let c = &this.clock;
                if c.active.get() > 0 {
                    return Poll::Pending;
                }
                let (limit, what) = if c.head_started.get() {
                    (this.header, "request headers")
                } else {
                    (this.idle, "a request on an idle connection")
                };
                let deadline = c.since.get() + limit;
                if this.sleep.deadline() != deadline {
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no {what} within {limit:?}"),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A count shared by every worker thread, with a ceiling: open
/// connections, or bytes of request bodies held in memory.
#[derive(Debug, Clone)]
pub struct Budget {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// A connection's place under `server.max_connections`, shared by its
/// HTTP task and, once upgraded, its WebSocket task: given back when both
/// are done.
#[derive(Debug)]
pub struct Slot {
    _share: Share,
    open: std::rc::Rc<std::cell::Cell<usize>>,
}

impl Slot {
    /// Holds `share`, counted in `open` (the connections a worker waits
    /// for at shutdown) until dropped.
    pub fn new(share: Share, open: std::rc::Rc<std::cell::Cell<usize>>) -> std::rc::Rc<Self> {
        open.set(open.get() + 1);
        std::rc::Rc::new(Slot {
            _share: share,
            open,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.set(self.open.get().saturating_sub(1));
    }
}

/// A share of a [`Budget`], given back on drop.
#[derive(Debug)]
pub struct Share {
    used: Arc<AtomicUsize>,
    n: usize,
}

impl Budget {
    /// A budget of `max`.
    pub fn new(max: usize) -> Self {
        Budget {
            used: Arc::default(),
            max,
        }
    }

    /// How much is taken now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n`, or nothing when that would pass the ceiling.
    pub fn take(&self, n: usize) -> Option<Share> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(n).filter(|&x| x <= self.max)?;
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Share {
                        used: self.used.clone(),
                        n,
                    })
                }
                Err(now) => cur = now,
            }
        }
    }
}

impl Share {
    /// Takes `n` more from the same budget into this share.
    pub fn grow(&mut self, budget: &Budget, n: usize) -> bool {
        match budget.take(n) {
            Some(mut more) => {
                self.n += more.n;
                more.n = 0;
                true
            }
            None => false,
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.used.fetch_sub(self.n, Ordering::AcqRel);
    }
}
