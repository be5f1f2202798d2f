//! A graceful stop in front of hive-router 0.2.19. Its HTTP server (ntex 3) stops at once on
//! SIGINT (Ctrl-C, which a terminal sends to `cargo run`'s whole process group), and on
//! SIGTERM it closes a connection whose request is still being answered as soon as it
//! notices the shutdown (the client sees the connection end without a response).
//!
//! So the router handles both signals itself: they are blocked in every thread (each
//! inherits the mask of the thread that starts the runtime, blocked first) and a thread of
//! its own waits for them. On either it stops taking requests (503 `UNAVAILABLE`, readiness
//! false; `/health` still answers), waits until every request in flight has its response
//! (at most `ROUTER_DRAIN_TIMEOUT_SECONDS`, default 10), and only then lets ntex stop as on
//! SIGTERM, with no request left to cut. With `ROUTER_SHUTDOWN_DELAY_SECONDS` (default 0) it
//! first only answers its readiness probe with 503 for that long, still serving requests,
//! so that a load balancer or Kubernetes takes it out of rotation before it refuses any.
//! The `mall_access` plugin counts the requests
//! ([`DRAIN`]). Not covered: an operation sent over an already open WebSocket (hive-router
//! runs those without the HTTP hooks); ntex closes such sockets when it stops.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The router process's requests in flight, and whether it is stopping.
pub static DRAIN: Drain = Drain {
    unready: AtomicBool::new(false),
    draining: AtomicBool::new(false),
    in_flight: AtomicUsize::new(0),
};

/// See the module documentation.
pub struct Drain {
    /// Stopping: readiness answers 503 (requests are still served until `draining`).
    unready: AtomicBool,
    draining: AtomicBool,
    in_flight: AtomicUsize,
}

/// One request in flight; it counts until dropped.
pub struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        DRAIN.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drain {
    /// A request arrives: counted while the router takes requests, `None` once it stops.
    pub fn enter(&'static self) -> Option<InFlight> {
        // Counted first, checked second: the stopping thread sets the flag first and reads
        // the count second, so it never misses a request that was let in.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight;
        (!self.draining.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Whether the router is stopping (its readiness probe answers 503).
    pub fn unready(&self) -> bool {
        self.unready.load(Ordering::SeqCst)
    }

    /// Whether the router refuses requests because it is stopping.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Stops taking requests and waits until those in flight are answered or `timeout`
    /// passes; the number still in flight then.
    fn drain(&self, timeout: Duration) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        let started = Instant::now();
        while self.in_flight() > 0 && started.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.in_flight()
    }
}

/// Blocks SIGINT and SIGTERM in this thread (call it before the runtime starts any other)
/// and starts the thread that drains on either, then hands SIGTERM to ntex.
pub fn install() {
    use nix::sys::signal::{SigSet, Signal, kill};
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGINT);
    stop.add(Signal::SIGTERM);
    if let Err(error) = stop.thread_block() {
        eprintln!("warning: the router will stop without draining: {error}");
        return;
    }
    let seconds = |name: &str, default: u64| {
        Duration::from_secs(
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default),
        )
    };
    let timeout = seconds("ROUTER_DRAIN_TIMEOUT_SECONDS", 10);
    let delay = seconds("ROUTER_SHUTDOWN_DELAY_SECONDS", 0);
    std::thread::spawn(move || {
        let Ok(signal) = stop.wait() else {
            return;
        };
        DRAIN.unready.store(true, Ordering::SeqCst);
        std::thread::sleep(delay);
        let left = DRAIN.drain(timeout);
        eprintln!(
            "router: {signal:?} received; stopped taking requests, {left} still in flight after draining"
        );
        // Only this thread unblocks SIGTERM, so the signal is delivered here and ntex's
        // handler starts its own (graceful) stop: idle connections close.
        let mut terminate = SigSet::empty();
        terminate.add(Signal::SIGTERM);
        let _ = terminate.thread_unblock();
        let _ = kill(nix::unistd::Pid::this(), Signal::SIGTERM);
    });
}
