//! SQLite's WAL checkpoints, run on a thread of their own beside the write connection.
//!
//! A commit in WAL mode appends the pages it changed to the `-wal` file; a checkpoint copies
//! them back into the database file and `fsync`s both. Left to SQLite, the connection whose
//! commit takes the WAL past 1,000 pages runs the checkpoint inside that commit, and here that
//! is always the write connection: in a `POST /releases` profile the checkpoint was 15 % of the
//! write thread's CPU, and while its `fsync`s ran, every queued write waited behind them.
//!
//! So the write connection nudges this thread after each commit, and the thread, [`GATHER`]
//! later (so that a burst's commits make one checkpoint, not one each), runs a `PASSIVE`
//! checkpoint on a connection of its own. `PASSIVE` never waits for readers or the writer: it
//! copies what it can while writes go on.
//!
//! The write connection keeps an automatic checkpoint, at a higher mark ([`WRITER_MARK`]), as
//! the backstop that bounds the WAL: SQLite starts the WAL over from its beginning only after a
//! checkpoint has copied all of it, and under a steady stream of writes the background one never
//! catches the last commit. When the writer's own checkpoint runs, the background ones have
//! copied most of the pages already. Readers do not pay for the longer WAL: a read looks up
//! only the frames not yet copied back.
//!
//! Measured with `POST /releases` on SQLite (bench-http, 2 cores), against the writer
//! checkpointing by itself at 1,000 pages: 10,200–10,300 → 13,100–14,000 req/s with these
//! values. A mark of 4,000 or 8,000 pages gained half of that, 32,000 no more than 16,000, and
//! gathering for 5, 10 or 50 ms instead of 20 less.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use r2d2::ManageConnection;

use crate::connection::{AnyConnection, Manager, NO_MEMORY_MAP};
use crate::error::StorageError;

/// How long the thread lets commits gather after a nudge before it checkpoints them.
const GATHER: Duration = Duration::from_millis(20);

/// The WAL size, in pages, at which the write connection checkpoints by itself (SQLite's
/// default is 1,000). With 4 KiB pages the WAL file grows to about 64 MiB under a long burst,
/// and past that by what commits while a background checkpoint runs (the writer's own
/// checkpoint does not wait for that one, it tries again at the next commit).
pub(crate) const WRITER_MARK: u32 = 16_000;

/// The write connection's handle on the checkpoint thread.
pub(crate) struct Checkpoints {
    nudges: SyncSender<()>,
    /// How many checkpoints the thread has finished: counted always (one lock a checkpoint),
    /// read only by tests, which wait on it instead of polling the files.
    #[cfg_attr(not(test), allow(dead_code))]
    finished: Arc<(Mutex<u64>, Condvar)>,
}

impl Checkpoints {
    /// Starts the thread for the database `manager` opens. The thread ends when this handle is
    /// dropped, without touching the database again.
    pub(crate) fn start(manager: Manager) -> std::io::Result<Checkpoints> {
        let (nudges, nudged) = mpsc::sync_channel(1);
        let finished = Arc::new((Mutex::new(0), Condvar::new()));
        let counted = Arc::clone(&finished);
        std::thread::Builder::new()
            .name("sqlite-checkpoints".to_owned())
            .spawn(move || run(&manager, &nudged, &counted))?;
        Ok(Checkpoints { nudges, finished })
    }

    /// How many checkpoints the thread has finished so far.
    #[cfg(test)]
    pub(crate) fn finished(&self) -> u64 {
        *self.finished.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the thread has finished more than `seen` checkpoints, or until `timeout`.
    #[cfg(test)]
    pub(crate) fn wait_past(&self, seen: u64, timeout: Duration) {
        let (count, changed) = &*self.finished;
        let guard = count.lock().unwrap_or_else(|p| p.into_inner());
        drop(
            changed
                .wait_timeout_while(guard, timeout, |done| *done <= seen)
                .unwrap_or_else(|p| p.into_inner()),
        );
    }

    /// Tells the thread a transaction committed. Never blocks: a nudge already waiting covers
    /// this commit too, and a thread that is gone has nothing left to do.
    pub(crate) fn nudge(&self) {
        let _ = self.nudges.try_send(());
    }
}

fn run(manager: &Manager, nudged: &Receiver<()>, finished: &(Mutex<u64>, Condvar)) {
    let mut conn: Option<AnyConnection> = None;
    while nudged.recv().is_ok() {
        // Gather the nudges of the next GATHER; a dropped store ends the thread at once.
        let until = Instant::now() + GATHER;
        loop {
            match nudged.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let open = match conn.take() {
            Some(open) => Ok(open),
            None => open_connection(manager),
        };
        match open {
            Ok(AnyConnection::Sqlite(mut inner)) => {
                match inner.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                    Ok(()) => conn = Some(AnyConnection::Sqlite(inner)),
                    // Another process's checkpoint running, say: the next nudge tries again,
                    // on a fresh connection.
                    Err(err) => log::debug!("background checkpoint: {err}"),
                }
            }
            Ok(AnyConnection::Postgresql(_)) => return,
            Err(err) => log::debug!("background checkpoint: no connection: {err}"),
        }
        let (count, changed) = finished;
        *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        changed.notify_all();
    }
}

/// The thread's connection: it copies pages into the database file and never reads through a
/// memory map ([`NO_MEMORY_MAP`]).
fn open_connection(manager: &Manager) -> Result<AnyConnection, StorageError> {
    let mut conn = manager.connect()?;
    if let AnyConnection::Sqlite(inner) = &mut conn {
        inner.batch_execute(NO_MEMORY_MAP)?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use diesel::connection::SimpleConnection;

    use super::WRITER_MARK;
    use crate::connection::{PoolOptions, Store};
    use crate::testing::TestDb;
    use crate::write_connection::tests::memory_map;

    fn database_file(db: &TestDb) -> std::path::PathBuf {
        db.url()
            .strip_prefix("sqlite://")
            .expect("a SQLite URL")
            .into()
    }

    /// A store (with its write connection, so with the checkpoint thread) on `db`, with a
    /// table of blobs to fill.
    fn store_with_blobs(db: &TestDb) -> Store {
        let store = Store::connect(db.url(), &PoolOptions::default()).expect("open");
        store
            .write(|conn| Ok(conn.batch_execute("CREATE TABLE blobs (b BLOB NOT NULL)")?))
            .expect("create");
        store
    }

    /// Commits `count` blobs of nearly a page each (about `count` pages of WAL).
    fn commit_blobs(store: &Store, count: u32) {
        store
            .write(|conn| {
                Ok(conn.batch_execute(&format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                     WHERE i < {count}) INSERT INTO blobs SELECT zeroblob(4000) FROM n"
                ))?)
            })
            .expect("insert");
    }

    #[test]
    fn the_checkpoint_connection_does_not_map_the_database() {
        let db = TestDb::sqlite();
        let store = store_with_blobs(&db);
        let manager = store.write_manager().expect("a SQLite store has a writer");
        let mut conn = super::open_connection(manager).expect("open");
        assert_eq!(memory_map(&mut conn).expect("pragma"), 0);
    }

    #[test]
    fn commits_reach_the_database_file_long_before_the_writers_own_checkpoint() {
        let db = TestDb::sqlite();
        let store = store_with_blobs(&db);
        let file = database_file(&db);
        let size = || std::fs::metadata(&file).map_or(0, |m| m.len());
        let before = size();
        // About 200 pages: far below the writer's mark (and below SQLite's default of 1,000),
        // so only the checkpoint thread copies them into the database file.
        for _ in 0..10 {
            commit_blobs(&store, 20);
        }
        let checkpoints = store.checkpoints().expect("a checkpoint thread");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Read the count before the size: a checkpoint finishing in between still wakes
            // the wait below.
            let seen = checkpoints.finished();
            if size() >= before + 150 * 4096 {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the database file stayed at {} bytes (from {before})",
                size()
            );
            checkpoints.wait_past(seen, left);
        }
    }

    #[test]
    fn a_steady_stream_of_writes_keeps_the_wal_within_the_writers_mark() {
        let db = TestDb::sqlite();
        let store = store_with_blobs(&db);
        let mut wal = database_file(&db).into_os_string();
        wal.push("-wal");
        let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        // Three times the writer's mark in commits of about 100 pages, one right after the
        // other: the background checkpoints never catch the last commit, so only the writer's
        // own checkpoint lets the WAL start over. Without it the file would reach about
        // 190 MiB. With it the WAL can pass the mark by what is committed while a background
        // checkpoint runs (the writer's own checkpoint does not wait for that one; it tries
        // again at the next commit). On the 2-core machine kind, beside the rest of this
        // crate's tests: 70–109 MB in six runs with the platform's VFS, 70–137 MB in six with
        // WAL writes gathered (`shiplog_wal_gather`), whose faster commits fit more into one
        // background checkpoint; 72–83 MB for both with this test alone.
        let page_and_header = 4096 + 24;
        let commits = 3 * WRITER_MARK / 100;
        let mut largest = 0;
        for _ in 0..commits {
            commit_blobs(&store, 100);
            largest = largest.max(wal_size());
        }
        let bound = u64::from(3 * WRITER_MARK) * page_and_header;
        assert!(
            largest <= bound,
            "the WAL reached {largest} bytes, more than the writer's mark allows ({bound})"
        );
    }
}
