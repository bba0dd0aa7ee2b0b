//! Delivery statistics: releases counted by outcome and rollback, overall, per subject and per
//! calendar bucket — all aggregated in SQL.
//!
//! Every query starts from one per-release aggregate over its packages (how many, how many
//! succeeded, how many failed, any rollback) restricted by the release filter; a release with no
//! packages has no status and is not counted.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::filter::release_conditions;
use crate::connection::{Backend, Store};
use crate::error::StorageResult;
use crate::query::{DateBucket, DateUnit, ReleaseCounts, ReleaseFilter, StatsSubject};
use crate::sql::{Conditions, Sql, Value};

#[derive(QueryableByName)]
struct CountsRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    normal_successful: i64,
    #[diesel(sql_type = BigInt)]
    normal_failed: i64,
    #[diesel(sql_type = BigInt)]
    rollback_successful: i64,
    #[diesel(sql_type = BigInt)]
    rollback_failed: i64,
}

#[derive(QueryableByName)]
struct DateRow {
    #[diesel(sql_type = BigInt)]
    k1: i64,
    #[diesel(sql_type = BigInt)]
    k2: i64,
    #[diesel(sql_type = BigInt)]
    k3: i64,
    #[diesel(sql_type = BigInt)]
    k4: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    rb: i64,
    #[diesel(sql_type = BigInt)]
    successful: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
}

/// `(SELECT … ) a`: one row per release matching the filter that has packages.
fn per_release(sql: &mut Sql, filter: &ReleaseFilter) {
    sql.push(
        "(SELECT r.id AS id, r.user_name AS user_name, r.team AS team, r.stime AS stime, \
         COUNT(*) AS n, \
         SUM(CASE WHEN p.status = 'SUCCESSFUL' THEN 1 ELSE 0 END) AS ok, \
         SUM(CASE WHEN p.status = 'FAILED' THEN 1 ELSE 0 END) AS bad, \
         MAX(CASE WHEN p.rollback THEN 1 ELSE 0 END) AS rb \
         FROM releases r JOIN packages p ON p.release_id = r.id",
    );
    release_conditions(sql.backend(), filter).write_where(sql);
    sql.push(" GROUP BY r.id, r.user_name, r.team, r.stime) a");
}

const SUCCESSFUL: &str = "(a.bad = 0 AND a.ok = a.n)";
const FAILED: &str = "(a.bad > 0)";

/// The SQL for one calendar component of `column`, as a BIGINT.
fn date_part(backend: Backend, part: &str, column: &str) -> String {
    match backend {
        Backend::Postgres => {
            let field = match part {
                "Y" => "YEAR",
                "m" => "MONTH",
                "d" => "DAY",
                "H" => "HOUR",
                "G" => "ISOYEAR",
                "V" => "WEEK",
                _ => "ISODOW",
            };
            format!("CAST(EXTRACT({field} FROM {column}) AS BIGINT)")
        }
        Backend::Sqlite => format!("CAST(strftime('%{part}', {column}) AS INTEGER)"),
    }
}

fn date_parts(unit: DateUnit) -> &'static [&'static str] {
    match unit {
        DateUnit::Year => &["Y"],
        DateUnit::Month => &["Y", "m"],
        DateUnit::Week => &["G", "V"],
        DateUnit::Day => &["Y", "m", "d"],
        DateUnit::Hour => &["Y", "m", "d", "H"],
        DateUnit::Iso => &["G", "V", "u"],
    }
}

impl Store {
    /// Release outcomes overall, for the releases matching `filter`.
    pub fn release_counts(&self, filter: &ReleaseFilter) -> StorageResult<ReleaseCounts> {
        let rows = self.counts_query(filter, None, None)?;
        Ok(rows.into_values().next().unwrap_or_default())
    }

    /// Release outcomes per subject (user, team, platform or package name). With `only`, just
    /// that subject (all zeros if it never appeared); without, every subject that ever appeared,
    /// including those with no release in the filter's range.
    pub fn release_counts_by(
        &self,
        subject: StatsSubject,
        only: Option<&str>,
        filter: &ReleaseFilter,
    ) -> StorageResult<BTreeMap<String, ReleaseCounts>> {
        let mut counts = self.counts_query(filter, Some(subject), only)?;
        match only {
            Some(name) => {
                counts.entry(name.to_owned()).or_default();
            }
            None => {
                for name in self.subjects(subject)? {
                    counts.entry(name).or_default();
                }
            }
        }
        Ok(counts)
    }

    fn subjects(&self, subject: StatsSubject) -> StorageResult<Vec<String>> {
        let text = match subject {
            StatsSubject::User => "SELECT DISTINCT user_name AS key FROM releases",
            StatsSubject::Team => {
                "SELECT DISTINCT team AS key FROM releases WHERE team IS NOT NULL"
            }
            StatsSubject::Platform => "SELECT DISTINCT platform AS key FROM release_platforms",
            StatsSubject::Package => "SELECT DISTINCT name AS key FROM packages",
        };
        #[derive(QueryableByName)]
        struct Key {
            #[diesel(sql_type = Text)]
            key: String,
        }
        let mut sql = Sql::new(self.backend());
        sql.push(text);
        let query = sql.into_query();
        self.read(|conn| {
            Ok(query
                .load::<Key>(conn)?
                .into_iter()
                .map(|k| k.key)
                .collect())
        })
    }

    fn counts_query(
        &self,
        filter: &ReleaseFilter,
        subject: Option<StatsSubject>,
        only: Option<&str>,
    ) -> StorageResult<BTreeMap<String, ReleaseCounts>> {
        let key = match subject {
            None => "CAST('' AS TEXT)",
            Some(StatsSubject::User) => "a.user_name",
            Some(StatsSubject::Team) => "a.team",
            Some(StatsSubject::Platform) => "rp.platform",
            Some(StatsSubject::Package) => "pk.name",
        };
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT ").push(key).push(" AS key");
        for (rollback, outcome, alias) in [
            ("0", SUCCESSFUL, "normal_successful"),
            ("0", FAILED, "normal_failed"),
            ("1", SUCCESSFUL, "rollback_successful"),
            ("1", FAILED, "rollback_failed"),
        ] {
            sql.push(", COALESCE(SUM(CASE WHEN a.rb = ")
                .push(rollback)
                .push(" AND ")
                .push(outcome)
                .push(" THEN 1 ELSE 0 END), 0) AS ")
                .push(alias);
        }
        sql.push(" FROM ");
        per_release(&mut sql, filter);
        match subject {
            Some(StatsSubject::Platform) => {
                sql.push(" JOIN release_platforms rp ON rp.release_id = a.id");
            }
            Some(StatsSubject::Package) => {
                sql.push(" JOIN (SELECT DISTINCT release_id, name FROM packages) pk ON pk.release_id = a.id");
            }
            _ => {}
        }
        let mut conditions = Conditions::new(self.backend());
        if subject == Some(StatsSubject::Team) {
            conditions.and().push("a.team IS NOT NULL");
        }
        if let Some(name) = only {
            conditions
                .and()
                .push(key)
                .push(" = ")
                .bind(Value::Text(name.to_owned()));
        }
        conditions.write_where(&mut sql);
        if subject.is_some() {
            sql.push(" GROUP BY ").push(key);
        }
        let query = sql.into_query();
        self.read(|conn| {
            let rows: Vec<CountsRow> = query.load(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    let counts = ReleaseCounts {
                        normal_successful: r.normal_successful,
                        normal_failed: r.normal_failed,
                        rollback_successful: r.rollback_successful,
                        rollback_failed: r.rollback_failed,
                    };
                    (r.key, counts)
                })
                .collect())
        })
    }

    /// Release outcomes per calendar bucket of the release start time (or, with `by_package`,
    /// per bucket of each package's start time and package name, still under the release's
    /// outcome). Only buckets with a successful or failed release appear; packages that never
    /// started are skipped.
    pub fn release_counts_by_date(
        &self,
        unit: DateUnit,
        by_package: bool,
        filter: &ReleaseFilter,
    ) -> StorageResult<Vec<DateBucket>> {
        let backend = self.backend();
        let column = if by_package { "pp.stime" } else { "a.stime" };
        let parts = date_parts(unit);
        let mut sql = Sql::new(backend);
        sql.push("SELECT ");
        for i in 0..4 {
            let expr = parts.get(i).map_or_else(
                || "CAST(0 AS BIGINT)".to_owned(),
                |p| date_part(backend, p, column),
            );
            sql.push(&expr).push(&format!(" AS k{}, ", i + 1));
        }
        sql.push(if by_package {
            "pp.name AS name, "
        } else {
            "CAST('' AS TEXT) AS name, "
        });
        sql.push("CAST(a.rb AS BIGINT) AS rb, ");
        sql.push("COALESCE(SUM(CASE WHEN ")
            .push(SUCCESSFUL)
            .push(" THEN 1 ELSE 0 END), 0) AS successful, ");
        sql.push("COALESCE(SUM(CASE WHEN ")
            .push(FAILED)
            .push(" THEN 1 ELSE 0 END), 0) AS failed FROM ");
        per_release(&mut sql, filter);
        if by_package {
            sql.push(" JOIN packages pp ON pp.release_id = a.id WHERE pp.stime IS NOT NULL");
        }
        sql.push(" GROUP BY k1, k2, k3, k4, ");
        sql.push(if by_package { "pp.name, " } else { "" });
        sql.push("a.rb");
        let query = sql.into_query();
        let depth = unit.depth();
        self.read(|conn| {
            let rows: Vec<DateRow> = query.load(conn)?;
            Ok(rows
                .into_iter()
                .filter(|r| r.successful > 0 || r.failed > 0)
                .map(|r| DateBucket {
                    path: [r.k1, r.k2, r.k3, r.k4][..depth].to_vec(),
                    package: by_package.then_some(r.name),
                    rollback: r.rb != 0,
                    successful: r.successful,
                    failed: r.failed,
                })
                .collect())
        })
    }
}
