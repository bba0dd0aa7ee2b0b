//! Where log lines go: stderr, in batches written by a thread of their own.
//!
//! A busy server writes an access line for every request, and one `write` call a line was a
//! tenth of the CPU of a small request (`GET /ping`, `GET /releases/{id}`; perf profiles of
//! 2026-12-06). Lines are appended to a buffer instead, and the writer thread writes whatever
//! gathered at most [`GATHER`] after the first of them. Warnings and errors are written at once
//! ([`Sink::drain`], called by the logger), and so is everything when the process ends
//! normally: what an operator must see is never held back, and a clean exit loses nothing.
//! A process killed outright may lose the last few milliseconds of info lines.
//!
//! Order is kept: whoever writes holds the output's lock while taking the buffer, so a batch
//! taken earlier is always written before one taken later.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long the writer thread lets lines gather after the first one arrives.
pub const GATHER: Duration = Duration::from_millis(2);

/// Past this many buffered bytes (a stalled stderr, a flood of lines), the line's own writer
/// writes the buffer out itself: memory stays bounded and nothing is dropped.
const MAX_BUFFERED: usize = 1 << 20;

/// Buffered log output.
pub struct Sink {
    pending: Mutex<Vec<u8>>,
    arrived: Condvar,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Sink {
    /// A sink writing to `out`, with its writer thread started. The thread runs for the rest
    /// of the process.
    pub fn start(out: Box<dyn Write + Send>) -> std::io::Result<Arc<Sink>> {
        let sink = Arc::new(Sink {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            arrived: Condvar::new(),
            out: Mutex::new(out),
        });
        let writer = Arc::clone(&sink);
        std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || writer.write_batches())?;
        Ok(sink)
    }

    /// Appends `bytes` (whole lines) to be written within [`GATHER`].
    pub fn append(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let was_empty = pending.is_empty();
        pending.extend_from_slice(bytes);
        let full = pending.len() >= MAX_BUFFERED;
        drop(pending);
        if full {
            self.drain();
        } else if was_empty {
            self.arrived.notify_one();
        }
    }

    /// Writes everything appended so far, now, on the calling thread.
    pub fn drain(&self) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if !batch.is_empty() {
            // Nowhere to report a failure to write the log; the lines are lost either way.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
        }
    }

    fn write_batches(&self) {
        loop {
            {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                while pending.is_empty() {
                    pending = self
                        .arrived
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            std::thread::sleep(GATHER);
            self.drain();
        }
    }
}

/// The sink as the `Write` env_logger writes each formatted record to. env_logger flushes
/// after every record, so `flush` does nothing here: [`Sink::drain`] is the real flush.
pub struct SinkWriter(pub Arc<Sink>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A log output tests can read back (this module's and `logging`'s), and wait on.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Captured(Arc<(Mutex<Vec<u8>>, Condvar)>);

#[cfg(test)]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (bytes, written) = &*self.0;
        bytes.lock().expect("buffer").extend_from_slice(buf);
        written.notify_all();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0 .0.lock().expect("buffer").clone()).expect("text")
    }

    /// The text once `done` holds for it, woken by each write; fails the test after `limit`.
    pub fn text_when(&self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let (bytes, written) = &*self.0;
        let text = |b: &Vec<u8>| String::from_utf8(b.clone()).expect("text");
        let (bytes, timeout) = written
            .wait_timeout_while(bytes.lock().expect("buffer"), limit, |b| !done(&text(b)))
            .expect("buffer");
        assert!(!timeout.timed_out(), "written: {}", text(&bytes));
        text(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_in_order_by_the_writer_thread() {
        let out = Captured::default();
        let sink = Sink::start(Box::new(out.clone())).expect("thread");
        for i in 0..100 {
            sink.append(format!("line {i}\n").as_bytes());
        }
        let written = out.text_when(Duration::from_secs(10), |text| text.lines().count() >= 100);
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(written, expected);
    }

    #[test]
    fn a_drain_writes_everything_at_once_after_what_came_before() {
        let out = Captured::default();
        let sink = Sink::start(Box::new(out.clone())).expect("thread");
        sink.append(b"first\n");
        sink.append(b"second\n");
        sink.drain();
        assert_eq!(out.text(), "first\nsecond\n");
        sink.drain();
        assert_eq!(out.text(), "first\nsecond\n", "nothing twice");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_line_that_filled_it() {
        let out = Captured::default();
        let sink = Sink::start(Box::new(out.clone())).expect("thread");
        let line = vec![b'x'; MAX_BUFFERED];
        sink.append(&line);
        // Written before `append` returned, not by the writer thread later.
        assert_eq!(out.text().len(), MAX_BUFFERED);
    }
}
