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

use std::sync::{Mutex, MutexGuard};

use diesel::r2d2::R2D2Connection;
use r2d2::ManageConnection;

use crate::connection::{AnyConnection, Manager};
use crate::error::StorageResult;

/// The write connection, opened on first use and again after it breaks.
pub(crate) struct WriteConnection {
    manager: Manager,
    conn: Mutex<Option<AnyConnection>>,
}

impl WriteConnection {
    pub(crate) fn new(manager: Manager) -> WriteConnection {
        WriteConnection {
            manager,
            conn: Mutex::new(None),
        }
    }

    /// Runs `f` on the write connection, waiting for any write in progress to finish.
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let mut slot = self.lock();
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.manager.connect()?),
        };
        let result = f(conn);
        if conn.is_broken() {
            *slot = None;
        }
        result
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
mod tests {
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;

    use crate::connection::{PoolOptions, Store};
    use crate::error::StorageError;
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
}
