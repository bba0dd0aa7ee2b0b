//! How many releases or packages a filter matches, for the `X-Total-Count` and `Link` headers
//! of paged listings. A page and its count are read together (`list_releases_counted`,
//! `list_packages_counted`): on one connection, on SQLite in one snapshot, so the total agrees
//! with the page; and only when the page does not tell the total itself: when it is full, or
//! empty after an offset (`Page::total_after`).

use diesel::prelude::*;
use diesel::sql_types::BigInt;

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

/// `items`, a page read as `page` asked, with the total of its list: told by the page when it
/// can be, otherwise counted by `count` on the same connection.
pub(crate) fn with_total<T>(
    conn: &mut AnyConnection,
    page: &Page,
    items: Vec<T>,
    count: Sql,
) -> StorageResult<(Vec<T>, i64)> {
    let total = match page.total_after(items.len()) {
        Some(total) => total,
        None => count.into_query().get_result::<Count>(conn)?.n,
    };
    Ok((items, total))
}
