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
//! On SQLite, where a statement costs no round trip, the count stays a statement of its own,
//! run only when needed.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::count_memo::CountMemo;
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

/// A row of a page read with its count as one more column, `total`
/// (`filter::releases_query_counted`, `filter::packages_query_counted`).
pub(crate) struct Counted<T> {
    pub row: T,
    pub total: i64,
}

// By hand: the derive does not take a type parameter as an embedded row.
impl<T, DB> QueryableByName<DB> for Counted<T>
where
    DB: diesel::backend::Backend,
    T: QueryableByName<DB>,
    i64: diesel::deserialize::FromSql<BigInt, DB>,
{
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, DB>) -> diesel::deserialize::Result<Self> {
        Ok(Counted {
            row: T::build(row)?,
            total: diesel::row::NamedRow::get::<BigInt, i64>(row, "total")?,
        })
    }
}

/// Whether a page should carry its count as a column: on PostgreSQL, when it has a limit (an
/// unlimited page always tells its total).
pub(crate) fn count_in_page(backend: Backend, page: &Page) -> bool {
    backend == Backend::Postgres && page.limit.is_some()
}

/// A page read with its count as a column, made into `items` by `finish`, with the total of its
/// list: the column's, or for an empty page, which carries none, as [`with_total`] tells or
/// counts it.
pub(crate) fn with_counted_total<R, T>(
    conn: &mut AnyConnection,
    memo: &CountMemo,
    page: &Page,
    rows: Vec<Counted<R>>,
    count: Sql,
    finish: impl FnOnce(&mut AnyConnection, Vec<R>) -> StorageResult<Vec<T>>,
) -> StorageResult<(Vec<T>, i64)> {
    let total = rows.first().map(|row| row.total);
    let items = finish(conn, rows.into_iter().map(|counted| counted.row).collect())?;
    match total {
        Some(total) => Ok((items, total)),
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
