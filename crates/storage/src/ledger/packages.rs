//! Adding packages to releases and moving them through their deployment. Each is a change of
//! its release (`change`): worked out here from the release as read, written there.

use diesel::prelude::*;
use shiplog_domain::{
    timestamp, NewPackage, Package, PackageId, PackageStatus, Release, ReleaseId,
};
use time::OffsetDateTime;

use super::change::{Change, Read, RowWrite, Subject, Summary};
use super::count::{count_in_page, packages_count, with_counted_total, with_total, Counted};
use super::filter::{packages_query, packages_query_counted, CountColumn};
use super::one_statement::{push_package_values, PACKAGES_INTO};
use super::rows::{from_db, to_db, NewPackageRow, PackageRow};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::query::{PackageFilter, Page};
use crate::schema::packages;
use crate::sql::{DynamicQuery, Sql, Value};

/// Where package `id` is among `release`'s packages, checked in Orlo's order: after the release,
/// that the package exists at all, then that it is this release's.
fn position(conn: &mut AnyConnection, release: &Release, id: PackageId) -> StorageResult<usize> {
    if let Some(at) = release.packages.iter().position(|p| p.id == id) {
        return Ok(at);
    }
    let elsewhere = packages::table
        .find(id.to_string())
        .select(packages::id)
        .first::<String>(conn)
        .optional()?;
    Err(match elsewhere {
        Some(_) => StorageError::PackageNotInRelease,
        None => StorageError::PackageNotFound,
    })
}

/// The packages `query` selects.
fn load_packages(conn: &mut AnyConnection, query: DynamicQuery) -> StorageResult<Vec<Package>> {
    let rows: Vec<PackageRow> = query.load(conn)?;
    rows.into_iter().map(PackageRow::into_domain).collect()
}

/// A time as a read of it from the database gives it back (to the microsecond).
fn as_stored(ts: OffsetDateTime) -> OffsetDateTime {
    from_db(to_db(ts))
}

/// A change of a package of `release`, which now reads as `release`: its event carries the
/// package, and the release goes to its callback when its derived status moved.
fn package_change(
    release: Release,
    stored: Summary,
    package: PackageId,
    write: RowWrite,
    kind: &'static str,
) -> Change {
    let callback = Summary::of(&release).status != stored.status;
    Change {
        assignments: None,
        release,
        rows: vec![write],
        kind,
        subject: Subject::Package(package),
        callback,
    }
}

impl Store {
    /// Adds a package to an existing release.
    pub fn add_package(
        &self,
        release: ReleaseId,
        package: &NewPackage,
    ) -> StorageResult<PackageId> {
        let now = OffsetDateTime::now_utc();
        let release_id = release.to_string();
        self.change_release(release, |conn, read| {
            let Read {
                release: mut whole,
                stored,
                ..
            } = read;
            let row = NewPackageRow::of(package, &release_id, to_db(now), whole.packages.len());
            let mut values = Sql::new(Backend::of(conn));
            push_package_values(&mut values, &row);
            whole.packages.push(Package {
                id: package.id,
                release_id: release,
                name: package.name.clone(),
                version: package.version.clone(),
                status: package.status,
                rollback: package.rollback,
                diff_url: package.diff_url.clone(),
                stime: package.stime.map(as_stored),
                ftime: package.ftime.map(as_stored),
                duration: package.duration(),
            });
            Ok(package_change(
                whole,
                stored,
                package.id,
                RowWrite::Insert {
                    into: PACKAGES_INTO,
                    rows: vec![values],
                    on_conflict: "",
                },
                "package.added",
            ))
        })?;
        Ok(package.id)
    }

    /// Starts (or restarts) a package's deployment now.
    pub fn start_package(&self, release: ReleaseId, package: PackageId) -> StorageResult<()> {
        self.move_package(release, package, PackageStatus::InProgress)
    }

    /// Finishes a package's deployment now, successfully or not.
    pub fn stop_package(
        &self,
        release: ReleaseId,
        package: PackageId,
        success: bool,
    ) -> StorageResult<()> {
        let to = if success {
            PackageStatus::Successful
        } else {
            PackageStatus::Failed
        };
        self.move_package(release, package, to)
    }

    /// Stores the free-text results of a package's deployment (replacing earlier results).
    pub fn set_package_results(
        &self,
        release: ReleaseId,
        package: PackageId,
        results: &str,
    ) -> StorageResult<()> {
        self.change_release(release, |conn, read| {
            let Read {
                release: whole,
                stored,
                ..
            } = read;
            position(conn, &whole, package)?;
            let mut set = Sql::new(Backend::of(conn));
            set.push("results = ").bind(Value::Text(results.to_owned()));
            Ok(package_change(
                whole,
                stored,
                package,
                RowWrite::UpdatePackage { id: package, set },
                "package.updated",
            ))
        })
    }

    /// One package by id.
    pub fn find_package(&self, id: PackageId) -> StorageResult<Option<Package>> {
        let filter = PackageFilter {
            id: Some(id),
            ..PackageFilter::default()
        };
        Ok(self
            .list_packages(&filter, &Page::default())?
            .into_iter()
            .next())
    }

    /// Packages matching the filter, by start time, newest first unless the page says otherwise.
    pub fn list_packages(
        &self,
        filter: &PackageFilter,
        page: &Page,
    ) -> StorageResult<Vec<Package>> {
        let query = packages_query(self.backend(), filter, page).into_query();
        self.read(|conn| load_packages(conn, query))
    }

    /// A page of packages as [`Store::list_packages`] reads it, with the number of packages
    /// matching `filter` in all, both from one snapshot (see `ledger::count`).
    pub fn list_packages_counted(
        &self,
        filter: &PackageFilter,
        page: &Page,
    ) -> StorageResult<(Vec<Package>, i64)> {
        let count = packages_count(self.backend(), filter);
        let memo = self.counts();
        if count_in_page(self.backend(), page) {
            let handed = memo.latest(&count);
            let column = CountColumn {
                count: &count,
                kept: handed.as_ref().map(|kept| &*kept.snapshot),
            };
            let query = packages_query_counted(self.backend(), filter, page, &column).into_query();
            return self.read_related(|conn| {
                let rows: Vec<Counted<PackageRow>> = query.load(conn)?;
                let rows = (rows, handed.clone());
                with_counted_total(conn, memo, page, rows, count, |_, rows| {
                    rows.into_iter().map(PackageRow::into_domain).collect()
                })
            });
        }
        let query = packages_query(self.backend(), filter, page).into_query();
        self.read_related(|conn| {
            let packages = load_packages(conn, query)?;
            with_total(conn, memo, page, packages, count)
        })
    }

    fn move_package(
        &self,
        release: ReleaseId,
        package: PackageId,
        to: PackageStatus,
    ) -> StorageResult<()> {
        let now = OffsetDateTime::now_utc();
        self.change_release(release, |conn, read| {
            let Read {
                release: mut whole,
                stored,
                ..
            } = read;
            let at = position(conn, &whole, package)?;
            let current = &mut whole.packages[at];
            current.status.transition(to)?;
            let (stime, ftime, duration) = if to == PackageStatus::InProgress {
                (Some(now), None, None)
            } else {
                let started = current.stime.unwrap_or(now);
                (
                    current.stime,
                    Some(now),
                    Some(timestamp::seconds_between(started, now)),
                )
            };
            current.status = to;
            current.stime = stime.map(as_stored);
            current.ftime = ftime.map(as_stored);
            current.duration = duration;
            let mut set = Sql::new(Backend::of(conn));
            set.push("status = ")
                .bind(Value::Text(to.as_str().to_owned()))
                .push(", stime = ")
                .bind(Value::opt_timestamp(stime.map(to_db)))
                .push(", ftime = ")
                .bind(Value::opt_timestamp(ftime.map(to_db)))
                .push(", duration_secs = ")
                .bind(Value::OptBigInt(duration));
            let kind = if to == PackageStatus::InProgress {
                "package.started"
            } else {
                "package.finished"
            };
            Ok(package_change(
                whole,
                stored,
                package,
                RowWrite::UpdatePackage { id: package, set },
                kind,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use shiplog_domain::{NewPackage, NewRelease, PackageStatus};
    use time::OffsetDateTime;

    use crate::connection::{Backend, PoolOptions, Store};
    use crate::ledger::bulk::tests::log_statements;
    use crate::testing::TestDb;

    /// On PostgreSQL a package change is two statements, outside any transaction: the release's
    /// read and one write (see `change`); and every kind of change runs only statements it kept
    /// prepared the first time. diesel never keeps an `UPDATE` of its DSL prepared; these are
    /// written as kept statements.
    #[test]
    fn package_changes_are_two_prepared_statements_on_postgresql() {
        let Some(db) = TestDb::all()
            .into_iter()
            .find(|db| db.backend() == Backend::Postgres)
        else {
            return;
        };
        drop(db.store()); // migrates
                          // One connection, so the store's writes run on the one whose statements are logged.
        let options = PoolOptions {
            max_size: 1,
            min_idle: 0,
            ..PoolOptions::default()
        };
        let store = Store::connect(db.url(), &options).expect("connect");
        let log = log_statements(&mut store.conn().expect("connection"));
        // A release's life: each kind of change once, the status moving on some and not others.
        let life = |n: usize| {
            let mut new =
                NewRelease::new("alice", vec![format!("site{n}")], OffsetDateTime::now_utc())
                    .expect("release");
            new.callback = Some("https://example.com/hook".to_owned());
            new.packages = vec![NewPackage::new("web", "1.0")];
            let first = new.packages[0].id;
            let id = store.insert_release(&new).expect("insert");
            store.start_release(id).expect("start");
            let second = store
                .add_package(id, &NewPackage::new("api", "2.0"))
                .expect("add");
            store.start_package(id, first).expect("start first");
            let from = log.lock().expect("log").len();
            store.start_package(id, second).expect("start second");
            let unchanged = log.lock().expect("log")[from..].to_vec();
            store.stop_package(id, first, true).expect("stop first");
            store.stop_package(id, second, false).expect("stop second");
            store.set_package_results(id, first, "ok").expect("results");
            store.stop_release(id).expect("stop");
            let whole = store
                .find_release(id, &crate::ReleaseFilter::default())
                .expect("read")
                .expect("release");
            assert_eq!(whole.status(), Some(PackageStatus::Failed));
            unchanged
        };

        let unchanged = life(1);
        let prepared: HashSet<String> = std::mem::take(&mut *log.lock().expect("log"))
            .into_iter()
            .filter_map(|(cached, sql)| cached.then_some(sql))
            .collect();
        // The pool's liveness check (`SELECT 1`) is not the write's.
        let ran: Vec<String> = unchanged
            .into_iter()
            .filter_map(|(cached, sql)| (!cached).then_some(sql))
            .filter(|sql| sql != "SELECT 1")
            .collect();
        assert_eq!(ran.len(), 2, "{ran:#?}");
        assert!(ran[0].starts_with("SELECT r.id, "), "{ran:#?}");
        assert!(
            ran[1].starts_with("WITH r AS (UPDATE releases SET revision = revision + 1, ")
                && ran[1].contains("w0 AS (UPDATE packages SET status = "),
            "{ran:#?}"
        );

        life(2);
        let unprepared: Vec<String> = std::mem::take(&mut *log.lock().expect("log"))
            .into_iter()
            .filter_map(|(cached, sql)| (!cached).then_some(sql))
            .filter(|sql| !sql.starts_with("BEGIN") && !sql.starts_with("COMMIT"))
            .filter(|sql| sql != "SELECT 1" && !prepared.contains(sql))
            .collect();
        // The release's read for `find_release` is by key too; nothing else may be new.
        assert!(unprepared.is_empty(), "{unprepared:#?}");
    }
}
