//! Summaries of the ledger: releases per user, platform and package, and the version of each
//! package that is live (Orlo's `/info`).

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::connection::Store;
use crate::error::StorageResult;
use crate::sql::{Conditions, Sql, Value};

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct MaybeValue {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    value: Option<String>,
}

fn on_platform(out: &mut Conditions, release_column: &str, platform: Option<&str>) {
    if let Some(platform) = platform {
        out.and()
            .push(release_column)
            .push(" IN (SELECT rp.release_id FROM release_platforms rp WHERE rp.platform = ")
            .bind(Value::Text(platform.to_owned()))
            .push(")");
    }
}

impl Store {
    fn key_counts(&self, sql: Sql) -> StorageResult<BTreeMap<String, i64>> {
        let query = sql.into_query();
        self.read(|conn| {
            let rows: Vec<KeyCount> = query.load(conn)?;
            Ok(rows.into_iter().map(|r| (r.key, r.count)).collect())
        })
    }

    /// Releases per user, optionally only one user and only releases to one platform.
    pub fn releases_per_user(
        &self,
        user: Option<&str>,
        platform: Option<&str>,
    ) -> StorageResult<BTreeMap<String, i64>> {
        let mut conditions = Conditions::new(self.backend());
        on_platform(&mut conditions, "r.id", platform);
        if let Some(user) = user {
            conditions
                .and()
                .push("r.user_name = ")
                .bind(Value::Text(user.to_owned()));
        }
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT r.user_name AS key, COUNT(*) AS count FROM releases r");
        conditions.write_where(&mut sql);
        sql.push(" GROUP BY r.user_name");
        self.key_counts(sql)
    }

    /// Releases per platform (platforms with at least one release), optionally one platform.
    pub fn releases_per_platform(
        &self,
        platform: Option<&str>,
    ) -> StorageResult<BTreeMap<String, i64>> {
        let mut conditions = Conditions::new(self.backend());
        if let Some(platform) = platform {
            conditions
                .and()
                .push("rp.platform = ")
                .bind(Value::Text(platform.to_owned()));
        }
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT rp.platform AS key, COUNT(*) AS count FROM release_platforms rp");
        conditions.write_where(&mut sql);
        sql.push(" GROUP BY rp.platform");
        self.key_counts(sql)
    }

    /// Deployments (package rows) per package name, optionally one name and one platform.
    pub fn deployments_per_package(
        &self,
        name: Option<&str>,
        platform: Option<&str>,
    ) -> StorageResult<BTreeMap<String, i64>> {
        let mut conditions = Conditions::new(self.backend());
        on_platform(&mut conditions, "p.release_id", platform);
        if let Some(name) = name {
            conditions
                .and()
                .push("p.name = ")
                .bind(Value::Text(name.to_owned()));
        }
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT p.name AS key, COUNT(*) AS count FROM packages p");
        conditions.write_where(&mut sql);
        sql.push(" GROUP BY p.name");
        self.key_counts(sql)
    }

    /// Every package name ever deployed (to a platform), sorted.
    pub fn package_names(&self, platform: Option<&str>) -> StorageResult<Vec<String>> {
        Ok(self
            .deployments_per_package(None, platform)?
            .into_keys()
            .collect())
    }

    /// For each package name, the version of its most recently started SUCCESSFUL deployment
    /// (so a rollback to an older version counts as current). With `by_release`, only packages
    /// whose whole release is SUCCESSFUL count.
    ///
    /// The names come from a recursive "loose index scan" (one index probe per name, not a pass
    /// over every package), and each version from one backwards probe of the
    /// `(name, status, stime)` index.
    pub fn current_versions(
        &self,
        platform: Option<&str>,
        by_release: bool,
    ) -> StorageResult<BTreeMap<String, String>> {
        let mut conditions = Conditions::new(self.backend());
        conditions.and().push("p.name = names.name");
        conditions.and().push("p.status = 'SUCCESSFUL'");
        conditions.and().push("p.stime IS NOT NULL");
        // Correlated EXISTS rather than IN: the planner must walk the name index newest-first
        // and check each candidate, not enumerate every release on the platform for each name
        // (which SQLite chose after ANALYZE: 3.3 s instead of 7 ms on 100,000 releases).
        if let Some(platform) = platform {
            conditions
                .and()
                .push("EXISTS (SELECT 1 FROM release_platforms rp WHERE rp.release_id = p.release_id AND rp.platform = ")
                .bind(Value::Text(platform.to_owned()))
                .push(")");
        }
        if by_release {
            conditions
                .and()
                .push("EXISTS (SELECT 1 FROM releases r WHERE r.id = p.release_id AND r.status = 'SUCCESSFUL')");
        }
        let mut sql = Sql::new(self.backend());
        sql.push(
            "WITH RECURSIVE names(name) AS (\
             SELECT MIN(name) FROM packages \
             UNION ALL SELECT (SELECT MIN(q.name) FROM packages q WHERE q.name > names.name) \
             FROM names WHERE names.name IS NOT NULL) \
             SELECT names.name AS key, (SELECT p.version FROM packages p WHERE ",
        );
        conditions.write_all(&mut sql);
        sql.push(" ORDER BY p.stime DESC, p.id DESC LIMIT 1) AS value FROM names WHERE names.name IS NOT NULL");
        let query = sql.into_query();
        self.read(|conn| {
            let rows: Vec<MaybeValue> = query.load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|r| Some((r.key, r.value?)))
                .collect())
        })
    }
}
