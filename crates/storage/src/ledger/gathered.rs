//! Releases by id, and first pages of releases, on PostgreSQL, read for many requests at once.
//!
//! A read by id on PostgreSQL was a round trip of its own, and with sixteen clients on the
//! 2-core machine kind the round trips themselves were the limit: the server's backend spent
//! about 70 µs of CPU on each (reading the message, binding, a snapshot, writing the answer,
//! sleeping and waking), and each request crossed to actix's blocking pool and back. Here a
//! request hands what it wants to a queue and waits without holding a thread; one of at most
//! [`THREADS`] threads takes everything waiting, up to [`MOST_WANTED`], and reads it together
//! on one connection:
//!
//! - releases by id: one statement for the revisions of those the release cache
//!   (`ledger::cache`) holds, which it then answers from memory when the revision is the one
//!   kept, and one for the others whole (`releases::releases_by_ids`);
//! - first pages walking one index (`filter::one_index_page`): one statement for every page
//!   of a shape, with their counts (`ledger::page_batch`), and one for the releases the cache
//!   does not hold.
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

use shiplog_domain::{Release, ReleaseId};
use tokio::sync::oneshot;

use super::cache::ReleaseCache;
use super::count_memo::CountMemo;
use super::page_batch::{read_pages, PageWanted};
use super::releases::releases_by_ids;
use crate::connection::{AnyConnection, Pool};
use crate::health::Availability;
use crate::query::{Page, ReleaseFilter};
use crate::Store;

/// The most threads reading at once: two, so that requests gather while one thread waits for
/// its statements' answers and the other takes them.
const THREADS: usize = 2;

/// The most requests one batch answers.
const MOST_WANTED: usize = 64;

/// How long a thread waits with nothing to do before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(1);

/// What a request by id is answered with: `Some` with the release, or with `None` when no
/// release has its id; `None` when the statements failed.
type Answer = Option<Option<Release>>;

/// What a request for a page is answered with: its releases and the total of its list; `None`
/// when the statements failed.
type PageAnswer = Option<(Vec<Release>, i64)>;

/// The queue of a store's gathered reads; shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct GatheredReads {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    availability: Arc<Availability>,
    cache: ReleaseCache,
    counts: CountMemo,
    state: Mutex<State>,
    wake: Condvar,
    /// Requests answered, and the batches that answered them.
    answered: AtomicU64,
    batches: AtomicU64,
}

/// How many reads by id and pages were answered together with others, and in how many
/// batches, for `/metrics`: their ratio is the mean number of requests a batch answered.
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

/// What a request wants, and where its answer goes.
enum Wanted {
    Release {
        id: ReleaseId,
        reply: oneshot::Sender<Answer>,
    },
    Page {
        // Boxed: a page's filter is several times the size of an id.
        page: Box<PageWanted>,
        reply: oneshot::Sender<PageAnswer>,
    },
}

impl GatheredReads {
    pub(crate) fn new(
        pool: Pool,
        availability: Arc<Availability>,
        cache: ReleaseCache,
        counts: CountMemo,
    ) -> Self {
        GatheredReads {
            shared: Arc::new(Shared {
                pool,
                availability,
                cache,
                counts,
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                answered: AtomicU64::new(0),
                batches: AtomicU64::new(0),
            }),
        }
    }

    /// The release `id` (see [`Answer`]).
    async fn release(&self, id: ReleaseId) -> Answer {
        let (reply, answer) = oneshot::channel();
        if !self.enqueue(Wanted::Release { id, reply }) {
            return None;
        }
        answer.await.ok().flatten()
    }

    /// The page `page` (see [`PageAnswer`]).
    async fn page(&self, page: PageWanted) -> PageAnswer {
        let (reply, answer) = oneshot::channel();
        if !self.enqueue(Wanted::Page {
            page: Box::new(page),
            reply,
        }) {
            return None;
        }
        answer.await.ok().flatten()
    }

    /// Queues `wanted`, with a thread to take it: woken if one is idle, started if fewer than
    /// [`THREADS`] run. `false` when none runs and none could start.
    fn enqueue(&self, wanted: Wanted) -> bool {
        let mut state = self.shared.lock();
        state.waiting.push(wanted);
        if state.idle > 0 {
            self.shared.wake.notify_one();
        } else if state.threads < THREADS {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("shiplog-gathered-reads".to_owned())
                .spawn(move || serve(&shared));
            match spawned {
                Ok(_) => state.threads += 1,
                Err(err) => {
                    log::warn!("could not start a thread for gathered reads: {err}");
                    if state.threads == 0 {
                        // No thread would take it: the request reads the usual way.
                        state.waiting.pop();
                        return false;
                    }
                }
            }
        }
        true
    }
}

impl GatheredReads {
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

/// A thread's work: batches of waiting requests until none come for [`IDLE_EXIT`].
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
            let take = state.waiting.len().min(MOST_WANTED);
            state.waiting.drain(..take).collect::<Vec<_>>()
        };
        answer(shared, batch);
    }
}

/// Reads what `batch` wants together, on one connection, and answers each request.
fn answer(shared: &Shared, batch: Vec<Wanted>) {
    let answered = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    let (mut releases, mut pages) = (Vec::new(), Vec::new());
    for wanted in batch {
        match wanted {
            Wanted::Release { id, reply } => releases.push((id, reply)),
            Wanted::Page { page, reply } => pages.push((page, reply)),
        }
    }
    let mut conn = match shared
        .availability
        .get(&shared.pool, shared.pool.connection_timeout())
    {
        Ok(conn) => conn,
        Err(err) => {
            log::debug!("a gathered read found no connection: {err}");
            // Dropping the senders sends every request to the usual read.
            return;
        }
    };
    if !releases.is_empty() {
        answer_releases(shared, &mut conn, releases);
    }
    while let Some((first, _)) = pages.first() {
        let shape = first.shape;
        let (same, rest) = pages.into_iter().partition(|(page, _)| page.shape == shape);
        pages = rest;
        answer_pages(shared, &mut conn, same);
    }
    shared.batches.fetch_add(1, Ordering::Relaxed);
    shared.answered.fetch_add(answered, Ordering::Relaxed);
}

fn answer_releases(
    shared: &Shared,
    conn: &mut AnyConnection,
    wanted: Vec<(ReleaseId, oneshot::Sender<Answer>)>,
) {
    let ids: Vec<ReleaseId> = wanted.iter().map(|(id, _)| *id).collect();
    match releases_by_ids(conn, &shared.cache, &ids) {
        Ok(mut found) => {
            for (i, (id, reply)) in wanted.into_iter().enumerate() {
                // A release asked for again later in the batch is copied; the last takes it.
                let release = if ids[i + 1..].contains(&id) {
                    found.get(&id).cloned()
                } else {
                    found.remove(&id)
                };
                // The request may have gone (its client hung up).
                let _ = reply.send(Some(release));
            }
        }
        Err(err) => {
            log::debug!("a gathered read of {} releases failed: {err}", ids.len());
            for (_, reply) in wanted {
                let _ = reply.send(None);
            }
        }
    }
}

/// Answers requests for pages of one shape, each page read once however many ask for it.
fn answer_pages(
    shared: &Shared,
    conn: &mut AnyConnection,
    wanted: Vec<(Box<PageWanted>, oneshot::Sender<PageAnswer>)>,
) {
    let mut distinct: Vec<&PageWanted> = Vec::new();
    let slots: Vec<usize> = wanted
        .iter()
        .map(
            |(page, _)| match distinct.iter().position(|d| d.same_as(page)) {
                Some(slot) => slot,
                None => {
                    distinct.push(page);
                    distinct.len() - 1
                }
            },
        )
        .collect();
    match read_pages(conn, &shared.cache, &shared.counts, &distinct) {
        Ok(read) => {
            let mut read: Vec<Option<(Vec<Release>, i64)>> = read.into_iter().map(Some).collect();
            for (i, (_, reply)) in wanted.into_iter().enumerate() {
                let slot = slots[i];
                // A page asked for again later in the batch is copied; the last takes it.
                let page = if slots[i + 1..].contains(&slot) {
                    read[slot].clone()
                } else {
                    read[slot].take()
                };
                let _ = reply.send(page);
            }
        }
        Err(err) => {
            log::debug!("a gathered read of {} pages failed: {err}", distinct.len());
            for (_, reply) in wanted {
                let _ = reply.send(None);
            }
        }
    }
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

    /// [`Store::list_releases_counted`], answered without a thread of its own: on PostgreSQL,
    /// a first page walking one index (no filter, or one id, user or team; at most a hundred
    /// rows, offset included) is read in one statement with other requests' pages of its
    /// shape (see `ledger::page_batch`). `None` when it cannot be answered this way (SQLite,
    /// another page, statements that failed), and `list_releases_counted` should answer.
    pub async fn list_releases_counted_gathered(
        &self,
        filter: &ReleaseFilter,
        page: &Page,
    ) -> Option<(Vec<Release>, i64)> {
        let gathered = self.gathered()?;
        gathered.page(PageWanted::of(filter, page)?).await
    }

    /// How many reads by id and first pages PostgreSQL answered together with others, and in
    /// how many batches (see [`Store::find_release_gathered`]); zeros on SQLite.
    pub fn gathered_reads(&self) -> GatheredFigures {
        self.gathered()
            .map(GatheredReads::figures)
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
                    (Wanted::Release { id, reply }, answer)
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
