//! The server's background threads (webhook delivery, the scheduler, the event pruner): started
//! with the server, woken the moment it stops, and joined before [`Running`] completes.
//!
//! They used to sleep between turns and notice a stopped server only at their next wake-up (a
//! second for the scheduler, an hour for the pruner). In a process that exits right after its
//! server stops — a test binary, an embedding, `shiplog serve` on SIGTERM — such a thread could
//! still be inside the database driver while the process tore down libpq's and OpenSSL's state
//! under it, and crash the exit. Now a stop wakes every thread at once, and the server's future
//! completes only after each one has finished its current turn and returned.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle};

/// The stop flag the threads wait on.
#[derive(Default)]
struct Flag {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Flag {
    fn lock(&self) -> MutexGuard<'_, bool> {
        // The flag is a plain bool: a panic elsewhere cannot leave it half-written.
        self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a background thread is given: a sleep that ends early when the server stops.
#[derive(Clone)]
pub struct StopSignal(Arc<Flag>);

impl StopSignal {
    /// Waits `period`, or less if the server stops meanwhile. Whether the server has stopped.
    pub fn sleep(&self, period: Duration) -> bool {
        // A period too long for the clock (`--scheduler-interval 100000000d`) waits for the
        // stop alone, as a sleep that never ends on its own would.
        let deadline = Instant::now().checked_add(period);
        let mut stopped = self.0.lock();
        while !*stopped {
            stopped = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.0
                        .wake
                        .wait_timeout(stopped, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.0.wake.wait(stopped).unwrap_or_else(|p| p.into_inner()),
            };
        }
        true
    }

    /// Whether the server has stopped.
    pub fn is_stopped(&self) -> bool {
        *self.0.lock()
    }
}

/// The background threads of one server.
#[derive(Default)]
pub(crate) struct Background {
    flag: Arc<Flag>,
    threads: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts `body` on a thread named `name`; a thread that cannot start is logged, and the
    /// server runs without it.
    pub(crate) fn spawn(&mut self, name: &str, body: impl FnOnce(StopSignal) + Send + 'static) {
        let signal = StopSignal(Arc::clone(&self.flag));
        match std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(signal))
        {
            Ok(thread) => self.threads.push(thread),
            Err(err) => log::error!("cannot start the {name} thread: {err}"),
        }
    }

    /// Wakes every thread and waits for each to return.
    fn stop(self) {
        *self.flag.lock() = true;
        self.flag.wake.notify_all();
        for thread in self.threads {
            let name = thread.thread().name().unwrap_or("background").to_owned();
            if thread.join().is_err() {
                log::error!("the {name} thread panicked");
            }
        }
    }
}

/// A started server: [`Running::handle`] stops it, and awaiting it runs it until then and then
/// ends its background threads.
pub struct Running {
    server: Server,
    background: Background,
}

impl Running {
    pub(crate) fn new(server: Server, background: Background) -> Running {
        Running { server, background }
    }

    /// The handle that stops (or pauses) the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }
}

impl IntoFuture for Running {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        let Running { server, background } = self;
        Box::pin(async move {
            let served = server.await;
            // Joining blocks for at most one turn of each thread (a scheduler enactment, a
            // webhook attempt bounded by its timeout); a blocking-pool hop lets the runtime go
            // on meanwhile, though nothing else is left to run on it.
            let joined = actix_web::rt::task::spawn_blocking(move || background.stop()).await;
            if joined.is_err() {
                log::error!("stopping the background threads failed");
            }
            served
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_wakes_a_sleeping_thread_and_is_joined() {
        let mut background = Background::default();
        let (ready, started_up) = std::sync::mpsc::channel();
        let ready_forever = ready.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        background.spawn("sleeper", move |stop| {
            ready.send(()).expect("test waits");
            // Far longer than the test may take: only the stop can end this sleep.
            let stopped = stop.sleep(Duration::from_secs(3600));
            tx.send(stopped).expect("test waits");
        });
        let (tx_forever, rx_forever) = std::sync::mpsc::channel();
        background.spawn("sleeper-forever", move |stop| {
            ready_forever.send(()).expect("test waits");
            // Longer than the clock can add: waits for the stop alone, without a panic.
            tx_forever
                .send(stop.sleep(Duration::MAX))
                .expect("test waits");
        });
        // Stop once both threads run, so the stop meets them asleep (or about to be).
        for _ in 0..2 {
            started_up.recv().expect("a sleeper started");
        }
        let started = Instant::now();
        background.stop();
        assert!(rx.recv().expect("the thread reported"));
        assert!(rx_forever.recv().expect("the other thread reported"));
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn sleep_without_a_stop_runs_its_period() {
        let background = Background::default();
        let signal = StopSignal(Arc::clone(&background.flag));
        let started = Instant::now();
        // The clock is what is under test here (a sleep nothing stops ends at its deadline,
        // never before), not something to wait for: the bound is a floor, so it cannot flake.
        assert!(!signal.sleep(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(!signal.is_stopped());
        background.stop();
        assert!(signal.is_stopped());
        assert!(signal.sleep(Duration::from_secs(3600)));
    }
}
