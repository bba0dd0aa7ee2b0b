//! How many releases or packages a filter matches, for the `X-Total-Count` and `Link` headers
//! of paged listings. Callers count only when a page is full: a page shorter than its limit
//! already tells the total.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::filter::{package_conditions, release_conditions};
use crate::error::StorageResult;
use crate::query::{PackageFilter, ReleaseFilter};
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
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT COUNT(*) AS n FROM releases r");
        release_conditions(self.backend(), filter).write_where(&mut sql);
        self.count(sql)
    }

    /// The number of packages matching `filter`, whatever the page.
    pub fn count_packages(&self, filter: &PackageFilter) -> StorageResult<i64> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT COUNT(*) AS n FROM packages p");
        package_conditions(self.backend(), filter).write_where(&mut sql);
        self.count(sql)
    }

    fn count(&self, sql: Sql) -> StorageResult<i64> {
        let query = sql.into_query();
        self.read(|conn| Ok(query.get_result::<Count>(conn)?.n))
    }
}
