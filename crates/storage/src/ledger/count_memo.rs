//! Counts for `X-Total-Count` kept on SQLite, each under the connection and the snapshot it was
//! taken in, so that the same list asked for again with nothing written since is not counted
//! again.
//!
//! Once the release cache (`ledger::cache`) took away a page's related rows, the count of its
//! list was 44 % of the instructions of the bench's page of ten (`GET /releases?user=…&limit=10`:
//! one user's 500 releases among 25,000, about 410 instructions an index entry), and a count
//! grows with the list while its page does not. A dashboard polling a list, and clients paging
//! through one, ask for the same count again and again.
//!
//! SQLite's `PRAGMA data_version` tells a connection whether any other connection has committed
//! since it last asked: it moves on with every such commit and never comes back, and inside a
//! read transaction it is the snapshot's. What it does not count is the connection's own
//! writes; `total_changes()`, the rows the connection itself has inserted, updated or deleted
//! since it opened, counts those (a store's pooled connections write only where it has no
//! write connection of its own, an in-memory database, or by hand in tests). So the triple
//! (connection, data version, own changes) names one state of the database, and a count taken
//! under it stays true for every read under the same triple. Connections are told apart by a
//! number each is given when it opens (the SQL function `shiplog_connection()`, registered by
//! [`register`]).
//!
//! Nothing is invalidated: after a write every kept key names an old state no read asks for
//! again, and it is evicted in time. PostgreSQL reads its count with its page (`ledger::count`)
//! and keeps none.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use diesel::sql_types::BigInt;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};
use quick_cache::sync::Cache;

use crate::connection::AnyConnection;
use crate::error::StorageResult;
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
    inner: Option<Arc<Inner>>,
}

struct Inner {
    counts: Cache<Key, i64>,
    hits: AtomicU64,
    misses: AtomicU64,
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
    /// Counts kept when `keeps` (a SQLite store), none otherwise.
    pub(crate) fn new(keeps: bool) -> Self {
        let inner = keeps.then(|| {
            Arc::new(Inner {
                counts: Cache::new(KEPT_COUNTS),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
        });
        CountMemo { inner }
    }

    /// The number `count` (a `SELECT COUNT(*) AS n`) answers on `conn`. Must run inside a read
    /// transaction that has already read, as a page's does: the snapshot read first is then
    /// the one the count sees.
    pub(crate) fn count(&self, conn: &mut AnyConnection, count: Sql) -> StorageResult<i64> {
        let Some(inner) = &self.inner else {
            return run(conn, count);
        };
        let snapshot = Snapshot::of(conn)?;
        let key = Key { snapshot, count };
        if let Some(n) = inner.counts.get(&key) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(n);
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        let n = run(conn, key.count.clone())?;
        inner.counts.insert(key, n);
        Ok(n)
    }

    /// The number `count` answers on `conn` if it is kept for this state of the database;
    /// `None` when it would have to be counted (or nothing is kept on this backend). Inside a
    /// read transaction that has already read, as [`CountMemo::count`].
    pub(crate) fn kept(&self, conn: &mut AnyConnection, count: Sql) -> StorageResult<Option<i64>> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let key = Key {
            snapshot: Snapshot::of(conn)?,
            count,
        };
        let kept = inner.counts.get(&key);
        if kept.is_some() {
            inner.hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(kept)
    }

    pub(crate) fn figures(&self) -> CountMemoFigures {
        match &self.inner {
            None => CountMemoFigures::default(),
            Some(inner) => CountMemoFigures {
                hits: inner.hits.load(Ordering::Relaxed),
                misses: inner.misses.load(Ordering::Relaxed),
            },
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
                // The count comes with the page as a column: nothing kept.
                Backend::Postgres => assert_eq!((figures.hits, figures.misses), (0, 0)),
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
