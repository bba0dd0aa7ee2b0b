//! Releases by id on PostgreSQL, read for many requests at once.
//!
//! A read by id on PostgreSQL was a round trip of its own, and with sixteen clients on the
//! 2-core machine kind the round trips themselves were the limit: the server's backend spent
//! about 70 µs of CPU on each (reading the message, binding, a snapshot, writing the answer,
//! sleeping and waking), and each request crossed to actix's blocking pool and back. Here a
//! request hands its id to a queue and waits without holding a thread; one of at most
//! [`THREADS`] threads takes every id waiting, up to [`MOST_IDS`], and reads them together:
//! one statement for the revisions of those the release cache (`ledger::cache`) holds, which
//! it then answers from memory when the revision is the one kept, and one for the others
//! whole (`releases::releases_by_ids`). Then it answers each request.
//!
//! **Consistency.** The statements are sent only after every request they answer was queued,
//! so each request sees every write committed before it arrived, from this instance or
//! another, as a statement of its own would.
//!
//! **Failure.** When a statement cannot run (the database restarting, the pool exhausted),
//! every request of the batch is told to read the usual way, which reports the error as any
//! read does; nothing is retried here.
//!
//! Threads start when a request finds none idle and leave after [`IDLE_EXIT`] with nothing to
//! do, letting go of the pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use std::collections::HashMap;

use shiplog_domain::{Release, ReleaseId};
use tokio::sync::oneshot;

use super::cache::ReleaseCache;
use super::releases::releases_by_ids;
use crate::connection::Pool;
use crate::error::StorageResult;
use crate::health::Availability;
use crate::Store;

/// The most threads reading revisions at once: two, so that one collects ids while the other
/// waits for its answer.
const THREADS: usize = 2;

/// The most ids one statement reads.
const MOST_IDS: usize = 64;

/// How long a thread waits with nothing to do before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(1);

/// What a request is answered with: `Some` with the release, or with `None` when no release
/// has its id; `None` when the statements failed.
type Answer = Option<Option<Release>>;

/// The queue of a store's gathered reads; shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct GatheredKeys {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    availability: Arc<Availability>,
    cache: ReleaseCache,
    state: Mutex<State>,
    wake: Condvar,
    /// Requests answered, and the batches that answered them.
    answered: AtomicU64,
    batches: AtomicU64,
}

/// How many reads by id were answered together with others, and in how many batches (of one
/// or two statements each), for `/metrics`: their ratio is the mean number of requests a batch
/// answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatheredFigures {
    /// Requests answered.
    pub reads: u64,
    /// Batches read.
    pub batches: u64,
}

#[derive(Default)]
struct State {
    waiting: Vec<Wanted>,
    /// Threads running, idle or not.
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
}

/// A request's id, and where its answer goes.
struct Wanted {
    id: ReleaseId,
    reply: oneshot::Sender<Answer>,
}

impl GatheredKeys {
    pub(crate) fn new(pool: Pool, availability: Arc<Availability>, cache: ReleaseCache) -> Self {
        GatheredKeys {
            shared: Arc::new(Shared {
                pool,
                availability,
                cache,
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                answered: AtomicU64::new(0),
                batches: AtomicU64::new(0),
            }),
        }
    }

    /// The release `id` (see [`Answer`]).
    async fn release(&self, id: ReleaseId) -> Answer {
        self.enqueue(id)?.await.ok().flatten()
    }

    /// Queues `id`, with a thread to take it: woken if one is idle, started if fewer than
    /// [`THREADS`] run. `None` when none runs and none could start.
    fn enqueue(&self, id: ReleaseId) -> Option<oneshot::Receiver<Answer>> {
        let (reply, answer) = oneshot::channel();
        let mut state = self.shared.lock();
        state.waiting.push(Wanted { id, reply });
        if state.idle > 0 {
            self.shared.wake.notify_one();
        } else if state.threads < THREADS {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("shiplog-gathered-keys".to_owned())
                .spawn(move || serve(&shared));
            match spawned {
                Ok(_) => state.threads += 1,
                Err(err) => {
                    log::warn!("could not start a thread for gathered reads: {err}");
                    if state.threads == 0 {
                        // No thread would take it: the request reads the usual way.
                        state.waiting.pop();
                        return None;
                    }
                }
            }
        }
        Some(answer)
    }
}

impl GatheredKeys {
    pub(crate) fn figures(&self) -> GatheredFigures {
        GatheredFigures {
            reads: self.shared.answered.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a queue and two counters, consistent after every statement.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A thread's work: batches of waiting ids until none come for [`IDLE_EXIT`].
fn serve(shared: &Shared) {
    // However the thread ends, it is counted out, so that another can start.
    struct Leaving<'a>(&'a Shared);
    impl Drop for Leaving<'_> {
        fn drop(&mut self) {
            self.0.lock().threads -= 1;
            // Idle threads wake, find nothing and wait again; a test waits on this.
            self.0.wake.notify_all();
        }
    }
    let _leaving = Leaving(shared);
    loop {
        let batch = {
            let mut state = shared.lock();
            while state.waiting.is_empty() {
                state.idle += 1;
                let (next, wait) = shared
                    .wake
                    .wait_timeout(state, IDLE_EXIT)
                    .unwrap_or_else(PoisonError::into_inner);
                state = next;
                state.idle -= 1;
                if wait.timed_out() && state.waiting.is_empty() {
                    return;
                }
            }
            let take = state.waiting.len().min(MOST_IDS);
            state.waiting.drain(..take).collect::<Vec<_>>()
        };
        answer(shared, batch);
    }
}

/// Reads the releases of `batch` together and answers each request.
fn answer(shared: &Shared, batch: Vec<Wanted>) {
    let ids: Vec<ReleaseId> = batch.iter().map(|wanted| wanted.id).collect();
    match read(shared, &ids) {
        Ok(mut found) => {
            shared.batches.fetch_add(1, Ordering::Relaxed);
            let answered = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            shared.answered.fetch_add(answered, Ordering::Relaxed);
            for (i, wanted) in batch.into_iter().enumerate() {
                // A release asked for again later in the batch is copied; the last takes it.
                let release = if ids[i + 1..].contains(&wanted.id) {
                    found.get(&wanted.id).cloned()
                } else {
                    found.remove(&wanted.id)
                };
                // The request may have gone (its client hung up).
                let _ = wanted.reply.send(Some(release));
            }
        }
        Err(err) => {
            log::debug!("a gathered read of {} releases failed: {err}", batch.len());
            for wanted in batch {
                let _ = wanted.reply.send(None);
            }
        }
    }
}

fn read(shared: &Shared, ids: &[ReleaseId]) -> StorageResult<HashMap<ReleaseId, Release>> {
    let mut conn = shared
        .availability
        .get(&shared.pool, shared.pool.connection_timeout())?;
    releases_by_ids(&mut conn, &shared.cache, ids)
}

impl Store {
    /// [`Store::find_release`] with no filter, answered without a thread of its own: on
    /// PostgreSQL the release is read together with those other requests want at the same
    /// moment (see `ledger::gathered`). `Some` with the release, or with `None` when no
    /// release has that id; `None` when it cannot be answered this way (SQLite, statements
    /// that failed), and `find_release` should answer instead.
    pub async fn find_release_gathered(&self, id: ReleaseId) -> Option<Option<Release>> {
        self.gathered()?.release(id).await
    }

    /// How many reads by id PostgreSQL answered together with others, and in how many
    /// batches (see [`Store::find_release_gathered`]); zeros on SQLite.
    pub fn gathered_reads(&self) -> GatheredFigures {
        self.gathered()
            .map(GatheredKeys::figures)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use shiplog_domain::{NewRelease, Release, ReleaseId};
    use time::OffsetDateTime;
    use tokio::sync::oneshot;

    use super::{answer, Answer, Wanted, IDLE_EXIT};
    use crate::connection::Backend;
    use crate::query::ReleaseFilter;
    use crate::testing::TestDb;
    use crate::Store;

    fn release(user: &str) -> NewRelease {
        NewRelease::new(user, vec!["site0".to_owned()], OffsetDateTime::now_utc()).expect("release")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    /// Each PostgreSQL test database, with `n` releases imported.
    fn postgres_dbs(n: usize) -> Vec<(TestDb, Vec<NewRelease>)> {
        TestDb::all()
            .into_iter()
            .filter(|db| db.backend() == Backend::Postgres)
            .map(|db| {
                let batch: Vec<_> = (0..n).map(|_| release("ana")).collect();
                db.store().import_releases(&batch).expect("import");
                (db, batch)
            })
            .collect()
    }

    fn stored(store: &Store, id: ReleaseId) -> Release {
        store
            .find_release(id, &ReleaseFilter::default())
            .expect("read")
            .expect("stored")
    }

    /// One batch answers every request in it: a release kept, releases not kept, one asked
    /// twice, and an id no release has.
    #[test]
    fn one_batch_answers_every_request_in_it() {
        for (db, batch) in postgres_dbs(3) {
            let store = db.store();
            stored(&store, batch[0].id);
            let mut ids: Vec<ReleaseId> = batch.iter().map(|r| r.id).collect();
            ids.push(ids[1]);
            ids.push(uuid::Uuid::now_v7().to_string().parse().expect("an id"));
            let (wanted, answers): (Vec<_>, Vec<oneshot::Receiver<Answer>>) = ids
                .iter()
                .map(|&id| {
                    let (reply, answer) = oneshot::channel();
                    (Wanted { id, reply }, answer)
                })
                .unzip();
            answer(&store.gathered().expect("gathers").shared, wanted);

            let mut answers: Vec<Answer> = answers
                .into_iter()
                .map(|mut answer| answer.try_recv().expect("answered"))
                .collect();
            assert_eq!(answers.pop(), Some(Some(None)));
            for (id, answer) in ids.iter().zip(answers) {
                assert_eq!(answer, Some(Some(stored(&store, *id))));
            }
            let figures = store.gathered_reads();
            assert_eq!((figures.reads, figures.batches), (5, 1));
            // Those read whole are kept from now on.
            assert_eq!(store.release_cache().releases, 3);
        }
    }

    /// Many reads at once, between writes through another store (another instance): each is
    /// answered with the release as stored when it asked, never as this process kept it
    /// before the write.
    #[test]
    fn reads_at_once_see_every_write_made_before_them() {
        let runtime = runtime();
        for (db, batch) in postgres_dbs(8) {
            let (ours, theirs) = (db.store(), db.store());
            for new in &batch[..4] {
                stored(&ours, new.id);
            }
            for (round, changed) in batch.iter().enumerate().take(4) {
                theirs.add_note(changed.id, "later").expect("a note");
                let asked: Vec<_> = batch.iter().cycle().take(32).map(|r| r.id).collect();
                let answers = runtime.block_on(async {
                    let tasks: Vec<_> = asked
                        .iter()
                        .map(|&id| {
                            let ours = ours.clone();
                            tokio::spawn(async move { ours.find_release_gathered(id).await })
                        })
                        .collect();
                    let mut answers = Vec::new();
                    for task in tasks {
                        answers.push(task.await.expect("task"));
                    }
                    answers
                });
                for (id, answer) in asked.iter().zip(answers) {
                    assert_eq!(answer, Some(Some(stored(&theirs, *id))), "round {round}");
                }
            }
            // A release deleted by hand is gone, though this process keeps it.
            let gone = batch[7].id;
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("DELETE FROM releases WHERE id = '{gone}'")),
                &mut *ours.conn().expect("connection"),
            )
            .expect("delete");
            assert_eq!(
                runtime.block_on(ours.find_release_gathered(gone)),
                Some(None)
            );

            let figures = ours.gathered_reads();
            assert_eq!(figures.reads, 4 * 32 + 1, "{figures:?}");
            assert!(
                figures.batches >= 5 && figures.batches <= figures.reads,
                "{figures:?}"
            );
        }
    }

    /// SQLite reads on the worker already: nothing is gathered there.
    #[test]
    fn a_sqlite_store_gathers_nothing() {
        let runtime = runtime();
        for db in TestDb::all() {
            let store = db.store();
            let new = release("ana");
            store.insert_release(&new).expect("insert");
            let gathered = runtime.block_on(store.find_release_gathered(new.id));
            match db.backend() {
                Backend::Sqlite => assert_eq!(gathered, None),
                Backend::Postgres => assert_eq!(gathered, Some(Some(stored(&store, new.id)))),
            }
        }
    }

    /// The threads leave once nothing comes for a while, letting go of the pool.
    #[test]
    fn idle_threads_leave() {
        let runtime = runtime();
        for (db, batch) in postgres_dbs(1) {
            let store = db.store();
            assert!(runtime
                .block_on(store.find_release_gathered(batch[0].id))
                .is_some());
            let shared = &store.gathered().expect("gathers").shared;
            // A leaving thread wakes the others' condition variable.
            let (state, waited) = shared
                .wake
                .wait_timeout_while(shared.lock(), IDLE_EXIT * 10, |state| state.threads > 0)
                .expect("state");
            assert!(!waited.timed_out(), "{} threads stayed", state.threads);
        }
    }
}
