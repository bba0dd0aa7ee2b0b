//! SQLite's write queue: one thread of this server runs the ledger's write requests, one after
//! another, in the order they arrive.
//!
//! SQLite writes one transaction at a time, and the store already runs them on its single
//! write connection. Sent through the blocking pool, each write took a pool thread, which then
//! queued on that connection's lock: under a burst, sixteen threads slept on one mutex and
//! every hand-over of the lock was a wake-up and a context switch (a fifth of a write's CPU on
//! the 2-core machine kind). Here a request hands its write to the queue's thread, which stays
//! busy while writes keep coming, and wakes the request's worker with the answer.
//!
//! **Group commit.** When several writes are waiting, the thread takes up to [`MAX_GROUP`] of
//! them and runs them as one transaction (`Store::write_group`), with one commit for all. One
//! that fails is undone alone and answered with its own error: the store then rolls the group
//! back and runs every write of it again, each in a savepoint, so a queued write keeps what it
//! needs to run twice and answers with its last run's outcome. No request is answered before
//! that commit: if it fails, every write of the group is answered with the failure, and none of
//! them was kept.
//!
//! PostgreSQL keeps concurrent writers: there `with_writer` is the blocking pool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use shiplog_storage::{Backend, StorageError, Store};

use crate::blocking::with_store;

/// The most writes one transaction takes: bounds how long the first of them waits for its
/// answer, and how much one failed commit takes with it.
pub const MAX_GROUP: usize = 64;

/// A queued write: made by [`QueuedWrite::run`] (again if its group is rolled back and runs
/// once more), then answered once the commit is known.
type Job = Box<dyn QueuedWrite>;

trait QueuedWrite: Send {
    /// Makes the write, keeping its outcome in place of an earlier run's.
    fn run(&mut self);
    /// Answers the request with the last run's outcome, or with why its group did not commit
    /// (`failure`; `None` when it committed or the write ran on its own).
    fn answer(self: Box<Self>, failure: Option<&str>);
}

/// A request's write, `f` with the store it runs against, and where its answer goes.
struct Write<F, T> {
    store: Store,
    f: F,
    outcome: Option<Result<T, StorageError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StorageError>>,
}

impl<F, T> QueuedWrite for Write<F, T>
where
    F: Fn(&Store) -> Result<T, StorageError> + Send,
    T: Send,
{
    fn run(&mut self) {
        let (f, store) = (&self.f, &self.store);
        self.outcome = Some(
            catch_unwind(AssertUnwindSafe(|| f(store))).unwrap_or_else(|_| {
                Err(StorageError::Corrupt(
                    "a write panicked (see the log)".to_owned(),
                ))
            }),
        );
    }

    fn answer(self: Box<Self>, failure: Option<&str>) {
        let result = match (self.outcome, failure) {
            (None, _) => Err(StorageError::Corrupt(
                "the write was answered before it ran".to_owned(),
            )),
            (Some(Ok(_)), Some(reason)) => Err(StorageError::NotCommitted(reason.to_owned())),
            (Some(result), _) => result,
        };
        // The request may have gone (its client hung up): the write stands all the same.
        let _ = self.reply.send(result);
    }
}

/// The queue and its thread, started on the first write.
#[derive(Default)]
pub struct WriteQueue {
    sender: OnceLock<mpsc::Sender<Job>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl WriteQueue {
    /// The queue, its thread started on first use. The thread groups writes through `store`'s
    /// write connection, which every copy of the server's store shares (`acting_as` included):
    /// only the connection and the identity counter of that store are used, never its actor.
    fn sender(&self, store: &Store) -> Option<&mpsc::Sender<Job>> {
        if let Some(sender) = self.sender.get() {
            return Some(sender);
        }
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = self.sender.get() {
            return Some(sender);
        }
        let (sender, jobs) = mpsc::channel::<Job>();
        let store = store.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-writes".to_owned())
            .spawn(move || run(&store, &jobs));
        match spawned {
            Ok(handle) => {
                *thread = Some(handle);
                Some(self.sender.get_or_init(|| sender))
            }
            Err(err) => {
                log::error!(
                    "cannot start the SQLite write thread, writes use the blocking pool: {err}"
                );
                None
            }
        }
    }
}

/// The queue's thread: ends once every sender is gone (the server's state dropped).
fn run(store: &Store, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            let grouped = store.write_group(|| {
                for job in &mut batch {
                    job.run();
                }
            });
            match grouped {
                Ok(((), committed)) => {
                    let failure = committed.err().map(|err| match err {
                        StorageError::NotCommitted(reason) => reason,
                        other => other.to_string(),
                    });
                    if let Some(reason) = &failure {
                        log::error!(
                            "a group of {} writes was not committed: {reason}",
                            batch.len()
                        );
                    }
                    for job in batch {
                        job.answer(failure.as_deref());
                    }
                    continue;
                }
                // The group got no transaction (no connection, or the write lock not taken in
                // time): none of it stands, and each write tries on its own below.
                Err(err) => log::warn!("a group of {} writes could not start: {err}", batch.len()),
            }
        }
        for mut job in batch {
            job.run();
            job.answer(None);
        }
    }
}

impl std::fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteQueue")
            .field("started", &self.sender.get().is_some())
            .finish()
    }
}

impl Drop for WriteQueue {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the writes already queued are done.
        drop(self.sender.take());
        let thread = self.thread.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(thread) = thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `f`, a write, with `store`: on SQLite on the write queue's thread, on PostgreSQL on the
/// blocking pool. Errors (and a panic, as a storage error) come back as from
/// [`with_store`]. Only for writes that hold the write connection for most of their time: a
/// request that reads much before writing keeps to [`with_store`], so its reads run beside
/// other writes. `f` may run twice, when its group is rolled back for another write's failure
/// and runs again: it must make the same write each time.
pub(crate) async fn with_writer<T, F>(
    queue: &WriteQueue,
    store: &Store,
    f: F,
) -> Result<T, StorageError>
where
    F: Fn(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    if store.backend() != Backend::Sqlite {
        return with_store(store, f).await;
    }
    let Some(sender) = queue.sender(store) else {
        return with_store(store, f).await;
    };
    let (reply, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(Write {
        store: store.clone(),
        f,
        outcome: None,
        reply,
    });
    if let Err(mpsc::SendError(mut job)) = sender.send(job) {
        // The thread is gone (it only ends with the state); run the write as any other.
        actix_web::web::block(move || {
            job.run();
            job.answer(None);
        })
        .await
        .ok();
    }
    let result = answered.await.unwrap_or_else(|_| {
        Err(StorageError::Corrupt(
            "the write was dropped before it ran".to_owned(),
        ))
    });
    if let Err(err) = &result {
        crate::ops::metrics::storage_error(err.kind());
    }
    result
}
