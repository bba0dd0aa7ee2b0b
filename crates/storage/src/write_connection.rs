//! SQLite's single writer: one dedicated connection that every write transaction of this process
//! runs on, one at a time.
//!
//! SQLite lets one transaction write at a time. When several pooled connections race for that
//! lock, the losers sleep in SQLite's busy handler (1, 2, 5, 10 … 100 ms steps) and a burst of
//! writers turns into p99 latencies of hundreds of milliseconds. Waiting on a mutex in front of
//! one connection instead hands the lock over the moment the previous transaction ends, and that
//! connection keeps its prepared statements and page cache warm (its own commits do not make it
//! drop them, as another connection's would).
//!
//! The mutex is the standard one on purpose: it wakes one waiter per release and lets a running
//! thread take a free lock at once. A strict first-come-first-served queue (a condition variable
//! waking every waiter) was tried first: on a loaded 2-core machine each hand-over then waited
//! for the one thread in line to be scheduled, and `POST /releases` fell to a fifth of its
//! busy-handler rate.
//!
//! `BEGIN IMMEDIATE` and the busy timeout still apply, for writers in other processes on the
//! same file. PostgreSQL keeps concurrent writers and does not use this.
//!
//! **Group commit.** A thread that has several writes to make at once (the API's write queue,
//! draining a burst) runs them in [`WriteConnection::group`]: one `BEGIN IMMEDIATE`, the writes
//! one after the other, one `COMMIT` for all. While the group runs, the connection lives in a
//! thread-local of the grouping thread, so the writes it makes find it there; every other thread
//! waits on the lock as before.
//!
//! **Savepoints only after a failure.** A failed write must be undone alone, and a savepoint
//! around each write would do that, but SQLite copies every page a savepoint's write first
//! changes into the statement journal, so that the savepoint can be undone: 18 % of the write
//! thread's time in a `POST /releases` profile, for writes that almost never fail. So a group
//! first runs its writes bare. When one of them fails, the rest of that pass is skipped, the
//! whole transaction is rolled back, and the group runs again from the start with each write in
//! a savepoint of its own. A group's body must therefore be able to run twice; the second run's
//! results are the ones that count.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::R2D2Connection;
use diesel::Connection;
use r2d2::ManageConnection;

use crate::checkpoints::{Checkpoints, WRITER_MARK};
use crate::connection::{AnyConnection, Manager, NO_MEMORY_MAP};
use crate::error::{StorageError, StorageResult};

/// Whether `conn` is back in its group's transaction and nowhere deeper, with a transaction
/// manager that is not in error. (`is_broken` cannot tell: to r2d2, any open transaction is a
/// broken connection.)
fn at_group_level(conn: &mut AnyConnection) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManagerStatus};
    let status = match conn {
        AnyConnection::Sqlite(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner)
        }
        AnyConnection::Postgresql(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner)
        }
    };
    match status {
        TransactionManagerStatus::Valid(valid) => {
            valid.transaction_depth().map(std::num::NonZeroU32::get) == Some(1)
        }
        TransactionManagerStatus::InError => false,
    }
}

/// The connection of the group this thread is running, and which writer it belongs to.
struct Grouped {
    writer: usize,
    conn: AnyConnection,
    /// Each write runs in a savepoint of its own (the second run of a group); else bare.
    savepoints: bool,
    /// A bare write failed, perhaps after changing something: the pass is rolled back and the
    /// group runs again with savepoints, so the rest of this pass is skipped.
    spoiled: bool,
    /// A write of the group broke the connection: the rest of the group fails.
    broken: bool,
}

thread_local! {
    static GROUP: RefCell<Option<Grouped>> = const { RefCell::new(None) };
    /// Set while a write of a bare pass runs, until its transaction takes it (see
    /// [`take_bare`]).
    static BARE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the write transaction beginning now on this thread is a write of a group's bare
/// pass, which opens no savepoint and leaves a failure to the group (see the module
/// documentation). Only the write's own transaction asks: the flag is cleared by asking, so a
/// transaction nested inside it opens a savepoint as usual.
pub(crate) fn take_bare() -> bool {
    BARE.replace(false)
}

/// The write connection, opened on first use and again after it breaks.
pub(crate) struct WriteConnection {
    manager: Manager,
    conn: Mutex<Option<AnyConnection>>,
    /// The thread that checkpoints the WAL after commits; `None` if it could not start, and
    /// then the write connection checkpoints by itself, as SQLite does by default.
    checkpoints: Option<Checkpoints>,
}

impl WriteConnection {
    pub(crate) fn new(manager: Manager) -> WriteConnection {
        let checkpoints = Checkpoints::start(manager.clone())
            .inspect_err(|err| log::warn!("no background checkpoints: {err}"))
            .ok();
        WriteConnection {
            manager,
            conn: Mutex::new(None),
            checkpoints,
        }
    }

    /// What opens this writer's connections, for tests of how they are set up.
    #[cfg(test)]
    pub(crate) fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The checkpoint thread's handle, if it started.
    #[cfg(test)]
    pub(crate) fn checkpoints(&self) -> Option<&Checkpoints> {
        self.checkpoints.as_ref()
    }

    /// Hands the WAL's checkpoint to the background thread after a commit.
    fn committed(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.nudge();
        }
    }

    /// A new write connection. Its temporary files are kept in memory: above all the
    /// statement journal, where SQLite copies each page a savepoint's write first changes, so
    /// that the savepoint can be undone alone. Every write of a group has a savepoint, and
    /// past 64 KiB that journal went to a temporary file: half of the write thread's time was
    /// `pwrite` calls into it. It lives only until its savepoint is released. With the
    /// checkpoint thread running, its own automatic checkpoint waits for a larger WAL (see
    /// `checkpoints`). It reads the database through its page cache, not a memory map
    /// ([`NO_MEMORY_MAP`]).
    fn open(&self) -> StorageResult<AnyConnection> {
        let mut conn = self.manager.connect()?;
        if let AnyConnection::Sqlite(inner) = &mut conn {
            inner.batch_execute("PRAGMA temp_store = MEMORY")?;
            inner.batch_execute(NO_MEMORY_MAP)?;
            if self.checkpoints.is_some() {
                inner.batch_execute(&format!("PRAGMA wal_autocheckpoint = {WRITER_MARK}"))?;
            }
        }
        Ok(conn)
    }

    /// Tells this writer's groups apart from another store's on the same thread.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Runs `f` on the write connection, waiting for any write in progress to finish; inside a
    /// [`WriteConnection::group`] on this thread, on the group's open transaction.
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let id = self.id();
        let grouped = GROUP.with(|g| g.borrow_mut().take_if(|g| g.writer == id));
        if let Some(mut group) = grouped {
            let result = if group.broken {
                Err(StorageError::NotCommitted(
                    "an earlier write of its group broke the connection".to_owned(),
                ))
            } else if group.spoiled {
                Err(StorageError::NotCommitted(
                    "an earlier write of its group failed; the group runs again".to_owned(),
                ))
            } else {
                BARE.set(!group.savepoints);
                let result = catch_unwind(AssertUnwindSafe(|| f(&mut group.conn)));
                BARE.set(false);
                match result {
                    Ok(result) => {
                        group.spoiled = !group.savepoints && result.is_err();
                        result
                    }
                    Err(panic) => {
                        // The write may have left its savepoint open: keep none of the group.
                        group.broken = true;
                        GROUP.with(|g| *g.borrow_mut() = Some(group));
                        resume_unwind(panic)
                    }
                }
            };
            group.broken |= !at_group_level(&mut group.conn);
            GROUP.with(|g| *g.borrow_mut() = Some(group));
            return result;
        }
        let mut slot = self.lock();
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.open()?),
        };
        let result = f(conn);
        if conn.is_broken() {
            *slot = None;
        }
        drop(slot);
        if result.is_ok() {
            self.committed();
        }
        result
    }

    /// Whether this thread is running a group of this writer's (see [`WriteConnection::group`]).
    pub(crate) fn grouping(&self) -> bool {
        let id = self.id();
        GROUP.with(|g| g.borrow().as_ref().is_some_and(|g| g.writer == id))
    }

    /// Runs `body` with every write this thread makes through this writer meanwhile in one
    /// transaction (see the module documentation), then commits it. Returns what `body` returned
    /// and whether the commit succeeded: when it did not, none of the group's writes stand.
    ///
    /// `body` runs a second time, from the start and with a savepoint around each write, when a
    /// write of its first run fails; the value returned is the second run's. An error instead of
    /// a value means the group never got a transaction to run in (no connection, no write lock):
    /// nothing of it stands, though `body` may have run once.
    pub(crate) fn group<R>(
        &self,
        mut body: impl FnMut() -> R,
    ) -> StorageResult<(R, StorageResult<()>)> {
        let mut slot = self.lock();
        let mut savepoints = false;
        loop {
            let mut conn = match slot.take() {
                Some(conn) => conn,
                None => self.open()?,
            };
            let begun = match &mut conn {
                AnyConnection::Sqlite(inner) => {
                    diesel::connection::AnsiTransactionManager::begin_transaction_sql(
                        inner,
                        "BEGIN IMMEDIATE",
                    )
                }
                AnyConnection::Postgresql(inner) => {
                    diesel::connection::AnsiTransactionManager::begin_transaction(inner)
                }
            };
            if let Err(err) = begun {
                if !conn.is_broken() {
                    *slot = Some(conn);
                }
                return Err(err.into());
            }
            GROUP.with(|g| {
                *g.borrow_mut() = Some(Grouped {
                    writer: self.id(),
                    conn,
                    savepoints,
                    spoiled: false,
                    broken: false,
                })
            });
            let value = catch_unwind(AssertUnwindSafe(&mut body));
            let Some(Grouped {
                mut conn,
                spoiled,
                broken,
                ..
            }) = GROUP.with(|g| g.borrow_mut().take())
            else {
                // Only `run` takes the group out, and it always puts it back.
                return Err(StorageError::Corrupt(
                    "the write group lost its connection".to_owned(),
                ));
            };
            if spoiled && !broken && value.is_ok() {
                // A bare write failed: undo the whole pass and run the group again, each write
                // in a savepoint. A connection that cannot roll back is closed, which does.
                let undone =
                    <AnyConnection as Connection>::TransactionManager::rollback_transaction(
                        &mut conn,
                    );
                if undone.is_ok() && !conn.is_broken() {
                    *slot = Some(conn);
                }
                savepoints = true;
                continue;
            }
            let committed = if value.is_ok() && !broken {
                <AnyConnection as Connection>::TransactionManager::commit_transaction(&mut conn)
                    .map_err(|err| StorageError::NotCommitted(err.to_string()))
            } else {
                Err(StorageError::NotCommitted(
                    "a write of its group broke the connection or panicked".to_owned(),
                ))
            };
            // After a failure the transaction may still be open, at any depth: closing the
            // connection rolls it all back, and the next write opens a fresh one.
            if committed.is_ok() && !conn.is_broken() {
                *slot = Some(conn);
            }
            drop(slot);
            if committed.is_ok() {
                self.committed();
            }
            return match value {
                Ok(value) => Ok((value, committed)),
                Err(panic) => resume_unwind(panic),
            };
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<AnyConnection>> {
        self.conn.lock().unwrap_or_else(|poisoned| {
            // A write panicked while it held the connection, perhaps inside a transaction:
            // drop that connection (closing it rolls back) and start again with a fresh one.
            let mut slot = poisoned.into_inner();
            *slot = None;
            self.conn.clear_poison();
            slot
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;

    use crate::connection::{AnyConnection, PoolOptions, Store};
    use crate::error::{StorageError, StorageResult};
    use crate::testing::TestDb;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn store_without_busy_wait(db: &TestDb) -> Store {
        // With no busy timeout, two pooled connections writing at once would fail with
        // SQLITE_BUSY: only the writer's queue keeps these writes from colliding.
        let store = Store::connect(
            db.url(),
            &PoolOptions {
                max_size: 8,
                sqlite_busy_timeout: Duration::ZERO,
                ..PoolOptions::default()
            },
        )
        .expect("open");
        store
            .write(|conn| {
                conn.batch_execute(
                    "CREATE TABLE counter (n BIGINT NOT NULL); INSERT INTO counter VALUES (0);",
                )?;
                Ok(())
            })
            .expect("create");
        store
    }

    fn count(store: &Store) -> i64 {
        store
            .read(|conn| {
                let rows: Vec<Count> = diesel::sql_query("SELECT n FROM counter").load(conn)?;
                Ok(rows.first().map_or(-1, |c| c.n))
            })
            .expect("read")
    }

    #[derive(diesel::QueryableByName)]
    struct MemoryMap {
        #[diesel(sql_type = BigInt)]
        mmap_size: i64,
    }

    /// The connection's `mmap_size`: 0 when it reads the database through its page cache.
    pub(crate) fn memory_map(conn: &mut AnyConnection) -> StorageResult<i64> {
        let rows: Vec<MemoryMap> = diesel::sql_query("PRAGMA mmap_size").load(conn)?;
        Ok(rows.first().map_or(-1, |row| row.mmap_size))
    }

    #[test]
    fn the_write_connection_reads_without_the_memory_map_that_readers_use() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        assert_eq!(store.write(memory_map).expect("writer"), 0);
        assert_eq!(
            store.read(memory_map).expect("reader"),
            256 * 1024 * 1024,
            "a pooled reader maps the database"
        );
    }

    #[test]
    fn concurrent_writers_queue_instead_of_failing_busy() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        store
                            .write(|conn| {
                                // Read, then write: a lost update would show in the total.
                                let rows: Vec<Count> =
                                    diesel::sql_query("SELECT n FROM counter").load(conn)?;
                                let next = rows.first().map_or(0, |c| c.n) + 1;
                                conn.batch_execute(&format!("UPDATE counter SET n = {next}"))?;
                                Ok(())
                            })
                            .expect("a queued write succeeds");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("writer thread");
        }
        assert_eq!(count(&store), 400);
    }

    #[test]
    fn a_failed_or_panicking_write_leaves_the_writer_usable() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        let failed: Result<(), StorageError> = store.write(|conn| {
            conn.batch_execute("UPDATE counter SET n = 99")?;
            Err(StorageError::ReleaseNotFound)
        });
        assert!(matches!(failed, Err(StorageError::ReleaseNotFound)));
        assert_eq!(count(&store), 0, "the failed write was rolled back");

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = store.write(|conn| -> Result<(), StorageError> {
                conn.batch_execute("UPDATE counter SET n = 98")?;
                panic!("a bug in a write");
            });
        }));
        assert!(panicked.is_err());
        store
            .write(|conn| {
                conn.batch_execute("UPDATE counter SET n = n + 1")?;
                Ok(())
            })
            .expect("the next write gets a fresh connection");
        assert_eq!(count(&store), 1, "the panicking write never committed");
    }
    fn add(store: &Store, n: i64) -> Result<(), StorageError> {
        store.write(|conn| {
            conn.batch_execute(&format!("UPDATE counter SET n = n + {n}"))?;
            Ok(())
        })
    }

    #[test]
    fn a_group_whose_writes_all_succeed_runs_once() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        let mut runs = 0;
        let (results, committed) = store
            .write_group(|| {
                runs += 1;
                (add(&store, 1), add(&store, 2))
            })
            .expect("the group starts");
        committed.expect("the group commits");
        results.0.expect("first write");
        results.1.expect("second write");
        assert_eq!(runs, 1, "no write failed, so nothing ran twice");
        assert_eq!(count(&store), 3);
    }

    #[test]
    fn a_group_commits_its_writes_once_and_undoes_a_failed_one_alone() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        let mut runs = 0;
        let (results, committed) = store
            .write_group(|| {
                runs += 1;
                let first = add(&store, 1);
                let failed = store.write(|conn| {
                    conn.batch_execute("UPDATE counter SET n = n + 100")?;
                    Err::<(), _>(StorageError::ReleaseNotFound)
                });
                // Inside the group a pooled reader does not see the open transaction yet.
                let seen = count(&store);
                let last = add(&store, 10);
                (first, failed, seen, last)
            })
            .expect("the group starts");
        committed.expect("the group commits");
        let (first, failed, seen, last) = results;
        first.expect("first write");
        assert!(matches!(failed, Err(StorageError::ReleaseNotFound)));
        last.expect("last write");
        assert_eq!(seen, 0, "nothing is visible before the commit");
        assert_eq!(
            runs, 2,
            "the failure rolled the bare run back, and the group ran again with savepoints"
        );
        assert_eq!(count(&store), 11, "the failed write alone was undone");
        add(&store, 1).expect("the writer is usable after a group");
        assert_eq!(count(&store), 12);
    }

    #[test]
    fn a_panic_in_a_group_keeps_none_of_it_and_the_writer_recovers() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        let (after, committed) = store
            .write_group(|| {
                add(&store, 1).expect("first write");
                let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = store.write(|conn| -> Result<(), StorageError> {
                        conn.batch_execute("UPDATE counter SET n = n + 5")?;
                        panic!("a bug in a write");
                    });
                }));
                assert!(panicked.is_err());
                add(&store, 2)
            })
            .expect("the group starts");
        assert!(
            matches!(after, Err(StorageError::NotCommitted(_))),
            "{after:?}"
        );
        assert!(matches!(committed, Err(StorageError::NotCommitted(_))));
        assert_eq!(count(&store), 0, "none of the group was kept");
        add(&store, 3).expect("the next write gets a fresh connection");
        assert_eq!(count(&store), 3);
    }

    #[test]
    fn other_threads_wait_for_a_group_and_then_write() {
        let db = TestDb::sqlite();
        let store = store_without_busy_wait(&db);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let other = store.clone();
        let (thread, committed) = store
            .write_group(|| {
                add(&store, 1).expect("grouped write");
                // (A clone a run: a group's body may run twice, though this one does not.)
                let (other, started_tx) = (other.clone(), started_tx.clone());
                let thread = std::thread::spawn(move || {
                    started_tx.send(()).expect("test waits");
                    add(&other, 10)
                });
                started_rx.recv().expect("the other writer started");
                // The other writer queues on the lock (no busy error even without a busy
                // timeout), and writes once the group has committed.
                add(&store, 2).expect("grouped write");
                thread
            })
            .expect("the group starts");
        committed.expect("commits");
        thread
            .join()
            .expect("other writer")
            .expect("the other write waited for the group, then succeeded");
        assert_eq!(count(&store), 13);
    }
}
