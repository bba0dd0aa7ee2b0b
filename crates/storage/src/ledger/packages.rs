//! Adding packages to releases and moving them through their deployment.

use diesel::prelude::*;
use shiplog_domain::{timestamp, NewPackage, Package, PackageId, PackageStatus, ReleaseId};
use time::OffsetDateTime;

use super::filter::packages_query;
use super::releases::{load_release, lock_release, refresh_summary, release_tags};
use super::rows::{to_db, NewPackageRow, PackageRow};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::emit;
use crate::query::{PackageFilter, Page};
use crate::schema::packages;
use crate::sql::{Sql, Value};

/// Appends a package event carrying the package as the Orlo face shows it, tagged with its
/// release's platforms and team; when the change moved the release's derived status, queues
/// the release for its callback too.
fn emit_package(
    conn: &mut AnyConnection,
    kind: &'static str,
    release: ReleaseId,
    package: PackageId,
    actor: Option<&str>,
    status_changed: bool,
) -> StorageResult<()> {
    let release = load_release(conn, release)?;
    let found = release
        .packages
        .iter()
        .find(|p| p.id == package)
        .ok_or(StorageError::PackageNotFound)?;
    emit(kind, actor, found, release_tags(&release))?;
    if status_changed {
        crate::callbacks::queue(conn, kind, &release, OffsetDateTime::now_utc())?;
    }
    Ok(())
}

impl Store {
    /// Adds a package to an existing release.
    pub fn add_package(
        &self,
        release: ReleaseId,
        package: &NewPackage,
    ) -> StorageResult<PackageId> {
        let now = OffsetDateTime::now_utc();
        self.write(|conn| {
            lock_release(conn, release)?;
            let existing: i64 = packages::table
                .filter(packages::release_id.eq(release.to_string()))
                .count()
                .get_result(conn)?;
            let ordinal = usize::try_from(existing).unwrap_or(0);
            insert_package(conn, &release.to_string(), package, now, ordinal)?;
            let changed = refresh_summary(conn, release)?;
            emit_package(
                conn,
                "package.added",
                release,
                package.id,
                self.actor(),
                changed,
            )?;
            Ok(package.id)
        })
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
        self.write(|conn| {
            load_in_release(conn, release, package)?;
            let mut update = Sql::new(Backend::of(conn));
            update
                .push("UPDATE packages SET results = ")
                .bind(Value::Text(results.to_owned()))
                .push(" WHERE id = ")
                .bind(Value::Text(package.to_string()));
            update.into_key_lookup().execute(conn)?;
            emit_package(
                conn,
                "package.updated",
                release,
                package,
                self.actor(),
                false,
            )
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
        self.read(|conn| {
            let rows: Vec<PackageRow> = query.load(conn)?;
            rows.into_iter().map(PackageRow::into_domain).collect()
        })
    }

    fn move_package(
        &self,
        release: ReleaseId,
        package: PackageId,
        to: PackageStatus,
    ) -> StorageResult<()> {
        let now = OffsetDateTime::now_utc();
        self.write(|conn| {
            let current = load_in_release(conn, release, package)?;
            current.status.transition(to)?;
            let (stime, ftime, duration) = if to == PackageStatus::InProgress {
                (Some(to_db(now)), None, None)
            } else {
                let started = current.stime.unwrap_or(now);
                (
                    current.stime.map(to_db),
                    Some(to_db(now)),
                    Some(timestamp::seconds_between(started, now)),
                )
            };
            // The status guard makes the change conditional on what we read, so a concurrent
            // writer on another instance cannot be silently overwritten.
            let mut update = Sql::new(Backend::of(conn));
            update
                .push("UPDATE packages SET status = ")
                .bind(Value::Text(to.as_str().to_owned()))
                .push(", stime = ")
                .bind(Value::OptTimestamp(stime))
                .push(", ftime = ")
                .bind(Value::OptTimestamp(ftime))
                .push(", duration_secs = ")
                .bind(Value::OptBigInt(duration))
                .push(" WHERE id = ")
                .bind(Value::Text(package.to_string()))
                .push(" AND status = ")
                .bind(Value::Text(current.status.as_str().to_owned()));
            let updated = update.into_key_lookup().execute(conn)?;
            if updated == 0 {
                return Err(StorageError::Conflict(format!(
                    "package {package} changed while it was being updated"
                )));
            }
            let changed = refresh_summary(conn, release)?;
            let kind = if to == PackageStatus::InProgress {
                "package.started"
            } else {
                "package.finished"
            };
            emit_package(conn, kind, release, package, self.actor(), changed)
        })
    }
}

/// The package, checked in Orlo's order: the release exists, the package exists, it belongs.
fn load_in_release(
    conn: &mut AnyConnection,
    release: ReleaseId,
    package: PackageId,
) -> StorageResult<Package> {
    lock_release(conn, release)?;
    let row: PackageRow = packages::table
        .find(package.to_string())
        .select(PackageRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StorageError::PackageNotFound)?;
    let package = row.into_domain()?;
    if package.release_id != release {
        return Err(StorageError::PackageNotInRelease);
    }
    Ok(package)
}

fn insert_package(
    conn: &mut AnyConnection,
    release_id: &str,
    package: &NewPackage,
    now: OffsetDateTime,
    ordinal: usize,
) -> StorageResult<()> {
    diesel::insert_into(packages::table)
        .values(NewPackageRow::of(package, release_id, to_db(now), ordinal))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;
    use diesel::{QueryableByName, RunQueryDsl};
    use shiplog_domain::{NewPackage, NewRelease};
    use time::OffsetDateTime;

    use crate::connection::{Backend, PoolOptions, Store};
    use crate::testing::TestDb;

    #[derive(QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = Text)]
        statement: String,
    }

    /// diesel never keeps an `UPDATE` of its DSL prepared; the status changes of the Orlo face
    /// write theirs as kept statements, so on PostgreSQL, after a release and a package have
    /// moved once, every statement of those writes is a prepared one on the connection.
    #[test]
    fn status_changes_run_prepared_statements_on_postgresql() {
        let Some(db) = TestDb::all()
            .into_iter()
            .find(|db| db.backend() == Backend::Postgres)
        else {
            return;
        };
        let options = PoolOptions {
            max_size: 1,
            min_idle: 0,
            ..PoolOptions::default()
        };
        drop(db.store()); // migrates
        let store = Store::connect(db.url(), &options).expect("connect");
        let mut new = NewRelease::new("alice", vec!["site".to_owned()], OffsetDateTime::now_utc())
            .expect("release");
        new.callback = Some("https://example.com/hook".to_owned());
        new.packages = vec![NewPackage::new("web", "1.0")];
        let package = new.packages[0].id;
        let id = store.insert_release(&new).expect("insert");
        store.start_release(id).expect("start");
        store.start_package(id, package).expect("start package");
        store.stop_package(id, package, true).expect("stop package");
        store
            .set_package_results(id, package, "ok")
            .expect("results");
        store.stop_release(id).expect("stop");

        let prepared: Vec<String> = store
            .read(|conn| {
                Ok(
                    diesel::sql_query("SELECT statement FROM pg_prepared_statements")
                        .load::<Prepared>(conn)?,
                )
            })
            .expect("prepared statements")
            .into_iter()
            .map(|p| p.statement)
            .collect();
        for expected in [
            "UPDATE releases SET stime = ",
            "UPDATE releases SET ftime = ",
            "UPDATE releases SET status = ",
            "UPDATE packages SET status = ",
            "UPDATE packages SET results = ",
            "SELECT id FROM releases WHERE id = $1 FOR UPDATE",
            "SELECT id FROM webhooks WHERE enabled AND release_id = ",
            "UPDATE webhooks SET lease_until = ",
        ] {
            assert!(
                prepared.iter().any(|s| s.starts_with(expected)),
                "{expected:?} is not among {prepared:#?}"
            );
        }
        let package = store.find_package(package).expect("find").expect("package");
        assert_eq!(package.status, shiplog_domain::PackageStatus::Successful);
    }
}
