//! Counts for `X-Total-Count` kept under the snapshot they were taken in, so that the same list
//! asked for again with nothing written since is not counted again.
//!
//! Once the release cache (`ledger::cache`) took away a page's related rows, the count of its
//! list was 44 % of the instructions of the bench's page of ten (`GET /releases?user=…&limit=10`:
//! one user's 500 releases among 25,000, about 410 instructions an index entry), and a count
//! grows with the list while its page does not. A dashboard polling a list, and clients paging
//! through one, ask for the same count again and again.
//!
//! **SQLite.** `PRAGMA data_version` tells a connection whether any other connection has
//! committed since it last asked: it moves on with every such commit and never comes back, and
//! inside a read transaction it is the snapshot's. What it does not count is the connection's
//! own writes; `total_changes()`, the rows the connection itself has inserted, updated or
//! deleted since it opened, counts those (a store's pooled connections write only where it has
//! no write connection of its own, an in-memory database, or by hand in tests). So the triple
//! (connection, data version, own changes) names one state of the database, and a count taken
//! under it stays true for every read under the same triple. Connections are told apart by a
//! number each is given when it opens (the SQL function `shiplog_connection()`, registered by
//! [`register`]). Nothing is invalidated: after a write every kept key names an old state no
//! read asks for again, and it is evicted in time.
//!
//! **PostgreSQL.** A statement's snapshot, `pg_current_snapshot()` (the oldest transaction still
//! running, the next transaction number, and those running between), names which transactions
//! it sees as committed, in every table of the database: two statements with the same snapshot
//! see the same rows, unless the transaction they run in has written itself (then
//! `pg_current_xact_id_if_assigned()` is not null, and nothing is kept or told). A page carries
//! its count as a column (`ledger::count`); here each count's latest value is kept with the
//! snapshot it was taken in, and the page's statement is handed that snapshot: when its own is
//! the same, the count's subquery is never run (`CASE` evaluates it only when reached) and the
//! column is null, and the kept value is the total. Another instance's commits, or this one's,
//! change the snapshot, so a kept count is never told after a write it does not include. Every
//! statement reads the snapshot, whichever instance wrote.
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use diesel::sql_types::BigInt;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};
use quick_cache::sync::Cache;

use crate::connection::{AnyConnection, Backend};
use crate::error::{StorageError, StorageResult};
use crate::sql::{ByPosition, FixedQuery, Sql};

/// How many counts a process keeps: each is a statement's text and values, some hundreds of
/// bytes, so this is a few MiB at most.
const KEPT_COUNTS: usize = 8192;

#[diesel::declare_sql_function]
extern "SQL" {
    /// The number this process gave the connection when it opened it.
    fn shiplog_connection() -> BigInt;
}

/// Gives a SQLite connection its number, answered by `shiplog_connection()`.
pub(crate) fn register(conn: &mut SqliteConnection) -> QueryResult<()> {
    static NEXT: AtomicI64 = AtomicI64::new(1);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    shiplog_connection_utils::register_impl(conn, move || number)
}

/// The counts a store keeps; shared by every clone of it.
#[derive(Clone)]
pub(crate) struct CountMemo {
    inner: Arc<Inner>,
}

struct Inner {
    kept: Kept,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What each backend keeps (see the module's documentation).
enum Kept {
    /// SQLite: counts under the connection and data version they were taken in.
    BySnapshot(Cache<Key, i64>),
    /// PostgreSQL: each count's latest value, with the snapshot it was taken in.
    Latest(Cache<Sql, PgKept>),
}

/// A count taken on PostgreSQL, and the snapshot (`pg_current_snapshot()` as text) it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgKept {
    pub snapshot: Arc<str>,
    pub total: i64,
}

/// A count's statement under the state of the database it was taken in.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    snapshot: Snapshot,
    count: Sql,
}

/// One connection's view of the database in its current read transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Snapshot {
    connection: i64,
    data_version: i64,
    own_changes: i64,
}

/// The statement reading the [`Snapshot`] (kept prepared under this type).
struct SnapshotQuery;

/// How often a kept count answered, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountMemoFigures {
    /// Counts answered from memory.
    pub hits: u64,
    /// Counts run as statements (and then kept).
    pub misses: u64,
}

impl CountMemo {
    /// Counts kept as `backend` allows (see the module's documentation).
    pub(crate) fn new(backend: Backend) -> Self {
        let kept = match backend {
            Backend::Sqlite => Kept::BySnapshot(Cache::new(KEPT_COUNTS)),
            Backend::Postgres => Kept::Latest(Cache::new(KEPT_COUNTS)),
        };
        CountMemo {
            inner: Arc::new(Inner {
                kept,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// The number `count` (a `SELECT COUNT(*) AS n`) answers on `conn`. Must run inside a read
    /// transaction that has already read, as a page's does: the snapshot read first is then
    /// the one the count sees.
    pub(crate) fn count(&self, conn: &mut AnyConnection, count: Sql) -> StorageResult<i64> {
        let inner = &*self.inner;
        let Kept::BySnapshot(counts) = &inner.kept else {
            return run(conn, count);
        };
        let snapshot = Snapshot::of(conn)?;
        let key = Key { snapshot, count };
        if let Some(n) = counts.get(&key) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(n);
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        let n = run(conn, key.count.clone())?;
        counts.insert(key, n);
        Ok(n)
    }

    /// The number `count` answers on `conn` if it is kept for this state of the database;
    /// `None` when it would have to be counted (or nothing is kept on this backend). Inside a
    /// read transaction that has already read, as [`CountMemo::count`].
    pub(crate) fn kept(&self, conn: &mut AnyConnection, count: Sql) -> StorageResult<Option<i64>> {
        let inner = &*self.inner;
        let Kept::BySnapshot(counts) = &inner.kept else {
            return Ok(None);
        };
        let key = Key {
            snapshot: Snapshot::of(conn)?,
            count,
        };
        let kept = counts.get(&key);
        if kept.is_some() {
            inner.hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(kept)
    }

    /// PostgreSQL: the latest value kept of `count`, with its snapshot, for a page's statement
    /// to be handed (`filter::CountColumn`); `None` on SQLite or when none is kept.
    pub(crate) fn latest(&self, count: &Sql) -> Option<PgKept> {
        match &self.inner.kept {
            Kept::Latest(counts) => counts.get(count),
            Kept::BySnapshot(_) => None,
        }
    }

    /// PostgreSQL: the total of a page read with its count as a column and handed `handed`
    /// (what [`CountMemo::latest`] gave): `column`, the count the statement took, kept under
    /// `snapshot` when that is known; or, when the statement left the column null because its
    /// snapshot was the one handed, the value handed.
    pub(crate) fn settle(
        &self,
        count: Sql,
        handed: Option<PgKept>,
        column: Option<i64>,
        snapshot: Option<String>,
    ) -> StorageResult<i64> {
        let inner = &*self.inner;
        match (column, handed) {
            (None, Some(handed)) => {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                Ok(handed.total)
            }
            (None, None) => Err(StorageError::Corrupt(
                "a page's count was left out with no count handed to it".to_owned(),
            )),
            (Some(total), _) => {
                inner.misses.fetch_add(1, Ordering::Relaxed);
                if let (Kept::Latest(counts), Some(snapshot)) = (&inner.kept, snapshot) {
                    let snapshot = Arc::from(snapshot);
                    counts.insert(count, PgKept { snapshot, total });
                }
                Ok(total)
            }
        }
    }

    pub(crate) fn figures(&self) -> CountMemoFigures {
        let inner = &*self.inner;
        CountMemoFigures {
            hits: inner.hits.load(Ordering::Relaxed),
            misses: inner.misses.load(Ordering::Relaxed),
        }
    }
}

impl Snapshot {
    fn of(conn: &mut AnyConnection) -> StorageResult<Snapshot> {
        let mut sql = Sql::new(crate::connection::Backend::of(conn));
        sql.push(
            "SELECT shiplog_connection(), data_version, total_changes() FROM pragma_data_version",
        );
        let query = ByPosition::<FixedQuery<SnapshotQuery>, (BigInt, BigInt, BigInt)>::new(
            sql.into_fixed(),
        );
        let (connection, data_version, own_changes): (i64, i64, i64) = query.get_result(conn)?;
        Ok(Snapshot {
            connection,
            data_version,
            own_changes,
        })
    }
}

fn run(conn: &mut AnyConnection, count: Sql) -> StorageResult<i64> {
    let query = ByPosition::<_, BigInt>::new(count.into_query());
    Ok(query.get_result::<i64>(conn)?)
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use shiplog_domain::NewRelease;
    use time::OffsetDateTime;

    use crate::connection::Backend;
    use crate::ledger::count::{releases_count, Counted};
    use crate::ledger::filter::{release_keys_query_counted, CountColumn};
    use crate::ledger::one_statement::insert_release_postgres;
    use crate::ledger::releases::ReleaseKey;
    use crate::query::{Page, ReleaseFilter};
    use crate::testing::TestDb;
    use crate::{PoolOptions, Store};

    fn release(user: &str) -> NewRelease {
        NewRelease::new(user, vec!["site0".to_owned()], OffsetDateTime::now_utc()).expect("release")
    }

    fn of(user: &str) -> ReleaseFilter {
        ReleaseFilter {
            user: Some(user.to_owned()),
            ..ReleaseFilter::default()
        }
    }

    /// A first page of three: shorter than any list these tests count, so its total is
    /// always counted.
    const PAGE: Page = Page {
        limit: Some(3),
        offset: 0,
        ascending: false,
    };

    /// The total a counted page of `user`'s releases tells, checked against a plain count.
    fn total(store: &Store, user: &str) -> i64 {
        let (_, total) = store
            .list_releases_counted(&of(user), &PAGE)
            .expect("counted page");
        assert_eq!(total, store.count_releases(&of(user)).expect("count"));
        total
    }

    #[test]
    fn a_list_counted_again_with_nothing_written_is_told_not_counted() {
        for db in TestDb::all() {
            let store = db.store();
            let batch: Vec<_> = (0..5).map(|_| release("ana")).collect();
            store.import_releases(&batch).expect("import");
            for _ in 0..8 {
                assert_eq!(total(&store, "ana"), 5);
            }
            let figures = store.count_memo();
            match db.backend() {
                // Four pooled connections at most: each counts once, then is told.
                Backend::Sqlite => assert_eq!(
                    (figures.misses <= 4, figures.hits + figures.misses),
                    (true, 8),
                    "{figures:?}"
                ),
                // Each commit anywhere on the server, other tests' too, moves the snapshot on:
                // how many were told depends on them (`a_postgres_page_…` below tells which).
                Backend::Postgres => assert_eq!(
                    (figures.misses >= 1, figures.hits + figures.misses),
                    (true, 8),
                    "{figures:?}"
                ),
            }
        }
    }

    /// Whoever writes — this store's write connection, another store on the same database (a
    /// second process), or a pooled connection by hand — the next count tells the write.
    #[test]
    fn every_write_from_anywhere_is_counted_at_once() {
        for db in TestDb::all() {
            let (ours, theirs) = (db.store(), db.store());
            let batch: Vec<_> = (0..4).map(|_| release("ana")).collect();
            ours.import_releases(&batch).expect("import");
            assert_eq!((total(&ours, "ana"), total(&ours, "ana")), (4, 4));
            ours.insert_release(&release("ana")).expect("ours");
            assert_eq!(total(&ours, "ana"), 5, "{:?}: our write", db.backend());
            theirs.insert_release(&release("ana")).expect("theirs");
            assert_eq!(total(&ours, "ana"), 6, "{:?}: another store", db.backend());
            for left in [5, 4] {
                // A pooled connection of `ours` deletes one by hand; a count follows.
                let mut conn = ours.conn().expect("connection");
                diesel::sql_query(
                    "DELETE FROM releases WHERE id IN \
                     (SELECT id FROM releases WHERE user_name = 'ana' LIMIT 1)",
                )
                .execute(&mut *conn)
                .expect("delete by hand");
                drop(conn);
                assert_eq!(total(&ours, "ana"), left, "{:?}: by hand", db.backend());
            }
            assert_eq!(total(&ours, "bo"), 0);
        }
    }

    /// PostgreSQL: a page's statement handed the snapshot it runs in leaves its count out, and
    /// handed any other takes it; in a transaction that has written, whose snapshot does not
    /// hold its own rows, it takes the count and tells no snapshot to keep it under.
    #[test]
    fn a_postgres_page_leaves_its_count_out_only_in_the_snapshot_it_was_handed() {
        for db in TestDb::all() {
            if db.backend() != Backend::Postgres {
                continue;
            }
            let store = db.store();
            let batch: Vec<_> = (0..5).map(|_| release("ana")).collect();
            store.import_releases(&batch).expect("import");
            let mut conn = store.conn().expect("connection");
            let conn = &mut *conn;
            let page = |conn: &mut crate::connection::AnyConnection, kept: Option<&str>| {
                let count = releases_count(Backend::Postgres, &of("ana"));
                let column = CountColumn {
                    count: &count,
                    kept,
                };
                let rows: Vec<Counted<ReleaseKey>> =
                    release_keys_query_counted(Backend::Postgres, &of("ana"), &PAGE, &column)
                        .into_query()
                        .load(conn)
                        .expect("page");
                assert_eq!(rows.len(), 3);
                (rows[0].total, rows[0].snapshot.clone())
            };
            // A repeatable read transaction keeps one snapshot whoever commits meanwhile.
            diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .execute(conn)
                .expect("begin");
            let (total, snapshot) = page(conn, None);
            let snapshot = snapshot.expect("a snapshot");
            assert_eq!(total, Some(5));
            assert_eq!(page(conn, Some(&snapshot)), (None, Some(snapshot.clone())));
            assert_eq!(page(conn, Some("1:1:")), (Some(5), Some(snapshot.clone())));
            // Its own write leaves the snapshot as it was; the count must see the write.
            insert_release_postgres(conn, &release("ana"), OffsetDateTime::now_utc())
                .expect("insert");
            assert_eq!(page(conn, Some(&snapshot)), (Some(6), None));
            diesel::sql_query("ROLLBACK")
                .execute(conn)
                .expect("rollback");
            assert_eq!(page(conn, None).0, Some(5));
        }
    }

    /// An in-memory database has one connection, which writes too: its own changes count.
    #[test]
    fn a_store_whose_one_connection_writes_counts_its_own_writes() {
        let store = Store::connect("sqlite://:memory:", &PoolOptions::default()).expect("store");
        store.migrate().expect("migrate");
        let batch: Vec<_> = (0..4).map(|_| release("ana")).collect();
        store.import_releases(&batch).expect("import");
        assert_eq!((total(&store, "ana"), total(&store, "ana")), (4, 4));
        assert_eq!(store.count_memo().hits, 1);
        store.insert_release(&release("ana")).expect("insert");
        assert_eq!(total(&store, "ana"), 5);
    }
}
