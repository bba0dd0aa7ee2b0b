//! Running load: N connections on one thread, each sending its scenario's requests back to back
//! until a deadline or a shared budget runs out, recording every latency.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Conn, Reply};

/// Latencies (microseconds) and failures seen by one connection, or merged over all.
#[derive(Default)]
pub struct Recorder {
    pub latencies: Vec<u32>,
    pub errors: u64,
}

impl Recorder {
    /// Sends one request, timing it; a transport error or a status outside `expect` counts as
    /// an error.
    pub async fn call(
        &mut self,
        conn: &mut Conn,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
        expect: &[u16],
    ) -> Option<Reply> {
        let start = Instant::now();
        let result = conn.send(method, path, headers, body).await;
        let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.latencies.push(micros);
        match result {
            Ok(reply) if expect.contains(&reply.status) => Some(reply),
            Ok(reply) => {
                if self.errors == 0 {
                    eprintln!(
                        "bench-http: {method} {path} answered {}: {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    );
                }
                self.errors += 1;
                None
            }
            Err(err) => {
                if self.errors == 0 {
                    eprintln!("bench-http: {method} {path} failed: {err}");
                }
                self.errors += 1;
                None
            }
        }
    }
}

/// When a connection stops: at a deadline, or when a shared count of work items is used up.
#[derive(Clone)]
pub enum Budget {
    Until(Instant),
    Items(Arc<AtomicUsize>, usize),
}

impl Budget {
    pub fn seconds(seconds: f64) -> Budget {
        Budget::Until(Instant::now() + Duration::from_secs_f64(seconds))
    }

    pub fn items(count: usize) -> Budget {
        Budget::Items(Arc::new(AtomicUsize::new(0)), count)
    }

    /// The next work item's number, or `None` when the budget is spent.
    pub fn next(&self, done_here: usize) -> Option<usize> {
        match self {
            Budget::Until(deadline) => (Instant::now() < *deadline).then_some(done_here),
            Budget::Items(counter, total) => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                (n < *total).then_some(n)
            }
        }
    }
}

/// What one run produced.
pub struct Outcome {
    pub recorder: Recorder,
    pub elapsed: Duration,
}

/// Runs `connections` copies of `worker` (given its connection number) at once on the current
/// thread and merges what they recorded.
pub async fn run<F, Fut>(connections: usize, worker: F) -> Outcome
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Recorder> + Send + 'static,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..connections).map(|i| tokio::spawn(worker(i))).collect();
    let mut merged = Recorder::default();
    for handle in handles {
        match handle.await {
            Ok(recorder) => {
                merged.latencies.extend(recorder.latencies);
                merged.errors += recorder.errors;
            }
            Err(err) => {
                eprintln!("bench-http: a connection's task failed: {err}");
                merged.errors += 1;
            }
        }
    }
    Outcome {
        recorder: merged,
        elapsed: start.elapsed(),
    }
}
