//! How many releases or packages a filter matches, for the `X-Total-Count` and `Link` headers
//! of paged listings. A page and its count are read together (`list_releases_counted`,
//! `list_packages_counted`): on one connection, on SQLite in one snapshot, so the total agrees
//! with the page; and only when the page does not tell the total itself: when it is full, or
//! empty after an offset (`Page::total_after`).
//!
//! On PostgreSQL a page with a limit carries its count as a column ([`Counted`]): a separate
//! `COUNT(*)` was a third round trip of a page of releases, and a statement of its own saw the
//! data as it was when that statement started, not the page's. The column costs a count when
//! the page turns out short as well; such a page's count reads no more rows than the page did.
//! When nothing has been committed since the same count was last taken, the statement skips it
//! and the kept value stands (`count_memo`).
//! On SQLite, where a statement costs no round trip, the count stays a statement of its own,
//! run only when needed.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::count_memo::{CountMemo, PgKept};
use super::filter::{package_conditions, release_conditions};
use crate::connection::{AnyConnection, Backend};
use crate::error::StorageResult;
use crate::query::{PackageFilter, Page, ReleaseFilter};
use crate::sql::Sql;
use crate::Store;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Store {
    /// The number of releases matching `filter`, whatever the page.
    pub fn count_releases(&self, filter: &ReleaseFilter) -> StorageResult<i64> {
        let query = releases_count(self.backend(), filter).into_query();
        self.read(|conn| Ok(query.get_result::<Count>(conn)?.n))
    }

    /// The number of packages matching `filter`, whatever the page.
    pub fn count_packages(&self, filter: &PackageFilter) -> StorageResult<i64> {
        let query = packages_count(self.backend(), filter).into_query();
        self.read(|conn| Ok(query.get_result::<Count>(conn)?.n))
    }
}

/// `SELECT COUNT(*) AS n` of the releases matching `filter`.
pub(crate) fn releases_count(backend: Backend, filter: &ReleaseFilter) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT COUNT(*) AS n FROM releases r");
    release_conditions(backend, filter).write_where(&mut sql);
    sql
}

/// `SELECT COUNT(*) AS n` of the packages matching `filter`.
pub(crate) fn packages_count(backend: Backend, filter: &PackageFilter) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT COUNT(*) AS n FROM packages p");
    package_conditions(backend, filter).write_where(&mut sql);
    sql
}

/// A row of a page read with its count as two more columns (`filter::CountColumn`): `total`,
/// null when the count handed to the statement stands, and the statement's `snapshot`.
pub(crate) struct Counted<T> {
    pub row: T,
    pub total: Option<i64>,
    pub snapshot: Option<String>,
}

// By hand: the derive does not take a type parameter as an embedded row.
impl<T, DB> QueryableByName<DB> for Counted<T>
where
    DB: diesel::backend::Backend,
    T: QueryableByName<DB>,
    Option<i64>: diesel::deserialize::FromSql<Nullable<BigInt>, DB>,
    Option<String>: diesel::deserialize::FromSql<Nullable<Text>, DB>,
{
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, DB>) -> diesel::deserialize::Result<Self> {
        use diesel::row::NamedRow;
        Ok(Counted {
            row: T::build(row)?,
            total: NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, "total")?,
            snapshot: NamedRow::get::<Nullable<Text>, Option<String>>(row, "snapshot")?,
        })
    }
}

/// Whether a page should carry its count as a column: on PostgreSQL, when it has a limit (an
/// unlimited page always tells its total).
pub(crate) fn count_in_page(backend: Backend, page: &Page) -> bool {
    backend == Backend::Postgres && page.limit.is_some()
}

/// A page read with its count as columns, handed `handed` (what `memo` kept of `count`), made
/// into `items` by `finish`, with the total of its list: the column's or the one handed (see
/// `CountMemo::settle`), or for an empty page, which carries none, as [`with_total`] tells or
/// counts it.
pub(crate) fn with_counted_total<R, T>(
    conn: &mut AnyConnection,
    memo: &CountMemo,
    page: &Page,
    (rows, handed): (Vec<Counted<R>>, Option<PgKept>),
    count: Sql,
    finish: impl FnOnce(&mut AnyConnection, Vec<R>) -> StorageResult<Vec<T>>,
) -> StorageResult<(Vec<T>, i64)> {
    let first = rows.first().map(|row| (row.total, row.snapshot.clone()));
    let items = finish(conn, rows.into_iter().map(|counted| counted.row).collect())?;
    match first {
        Some((column, snapshot)) => Ok((items, memo.settle(count, handed, column, snapshot)?)),
        None => with_total(conn, memo, page, items, count),
    }
}

/// `items`, a page read as `page` asked, with the total of its list: told by the page when it
/// can be, otherwise counted by `count` on the same connection, or told by `memo` when it has
/// counted the same in the same snapshot before.
pub(crate) fn with_total<T>(
    conn: &mut AnyConnection,
    memo: &CountMemo,
    page: &Page,
    items: Vec<T>,
    count: Sql,
) -> StorageResult<(Vec<T>, i64)> {
    let total = match page.total_after(items.len()) {
        Some(total) => total,
        None => memo.count(conn, count)?,
    };
    Ok((items, total))
}
