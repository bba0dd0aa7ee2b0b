//! Adding packages to releases and moving them through their deployment.
//!
//! Every package change takes the same three steps: lock the release and read it whole (one
//! statement on SQLite, whose `BEGIN IMMEDIATE` already serialises writers; the row lock and the
//! read on PostgreSQL), work out the change in memory (the package's new state, the release's
//! derived status, the event and callback that carry them), then write it. On PostgreSQL the
//! write is one statement: the package's row, the release's stored summary when it moved, and
//! the event, as data-modifying CTEs. A package move was twelve round trips when each step read
//! back what the one before had written; it is five (six when the release's status moves).
//!
//! The read comes after the lock in a statement of its own: a statement's snapshot is taken
//! when it starts, so a read in the locking statement could miss a change committed while it
//! waited for the lock.

use diesel::prelude::*;
use shiplog_domain::{
    timestamp, NewPackage, Package, PackageId, PackageStatus, Release, ReleaseId,
};
use time::OffsetDateTime;

use super::filter::packages_query;
use super::one_statement::push_package_insert;
use super::releases::{lock_release, release_tags};
use super::rows::{from_db, to_db, NewPackageRow, PackageRow};
use super::whole::{self, WholeWithSummary};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::{push_event_ctes, Pending};
use crate::query::{PackageFilter, Page};
use crate::schema::packages;
use crate::sql::{Sql, Value};

/// What a release's row keeps of its packages for the status and rollback filters: the status
/// derived from them and whether any rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    status: Option<PackageStatus>,
    has_rollback: bool,
}

impl Summary {
    fn of(release: &Release) -> Summary {
        Summary {
            status: release.status(),
            has_rollback: release.packages.iter().any(|p| p.rollback),
        }
    }
}

/// A release locked for a change of its packages, as it was read after the lock, with the
/// summary its row stores.
struct Locked {
    release: Release,
    stored: Summary,
}

impl Locked {
    /// Locks release `id` until the transaction ends and reads it whole.
    fn take(conn: &mut AnyConnection, id: ReleaseId) -> StorageResult<Locked> {
        let backend = Backend::of(conn);
        if backend == Backend::Postgres {
            lock_release(conn, id)?;
        }
        let row: WholeWithSummary = whole::by_id_with_summary(backend, &id.to_string())
            .into_key_lookup()
            .load::<WholeWithSummary>(conn)?
            .into_iter()
            .next()
            .ok_or(StorageError::ReleaseNotFound)?;
        let status = row
            .stored_status
            .map(|s| {
                s.parse::<PackageStatus>().map_err(|_| {
                    StorageError::Corrupt(format!("release {id} has the status {s:?}"))
                })
            })
            .transpose()?;
        Ok(Locked {
            release: row.whole.into_release()?,
            stored: Summary {
                status,
                has_rollback: row.stored_rollback,
            },
        })
    }
}

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

/// A package change worked out in memory, ready to write.
struct Change<'a> {
    /// The release as the change leaves it.
    release: &'a Release,
    /// The summary its row stores now.
    stored: Summary,
    /// The changed package's place in `release.packages`.
    at: usize,
    /// The statement that writes the package's row: it changes one row, or none when the row is
    /// no longer as it was read (a conflict).
    statement: Sql,
    kind: &'static str,
    actor: Option<&'a str>,
    now: OffsetDateTime,
}

impl Change<'_> {
    /// Writes the package's row, the release's summary when it moved and the change's event;
    /// when the release's status moved, queues its callback.
    fn write(self, conn: &mut AnyConnection) -> StorageResult<()> {
        let summary = Summary::of(self.release);
        let package = &self.release.packages[self.at];
        let event = Pending::new(self.kind, self.actor, package, release_tags(self.release))?;
        if summary.status != self.stored.status {
            // Before the event: on PostgreSQL the event's statement is the transaction's last
            // (see `events::push_event_ctes`). The callback carries the release as it will be.
            crate::callbacks::queue(conn, self.kind, self.release, self.now)?;
        }
        let written = match Backend::of(conn) {
            Backend::Postgres => self.write_one_statement(&summary, event, conn)?,
            Backend::Sqlite => {
                let written = self.statement.into_key_lookup().execute(conn)?;
                if written == 1 && summary != self.stored {
                    summary_update(Backend::Sqlite, self.release.id, &summary)
                        .into_key_lookup()
                        .execute(conn)?;
                }
                crate::events::push(event)?;
                written
            }
        };
        if written == 1 {
            Ok(())
        } else {
            Err(StorageError::Conflict(format!(
                "package {} changed while it was being updated",
                package.id
            )))
        }
    }

    /// The PostgreSQL write: `WITH pkg AS (…), summary AS (…), <event> SELECT count(*) FROM pkg`.
    /// How many package rows it wrote.
    fn write_one_statement(
        &self,
        summary: &Summary,
        event: Pending,
        conn: &mut AnyConnection,
    ) -> StorageResult<usize> {
        #[derive(QueryableByName)]
        struct Written {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut sql = Sql::new(Backend::Postgres);
        sql.push("WITH pkg AS (")
            .append(&self.statement)
            .push(" RETURNING id), ");
        if *summary != self.stored {
            sql.push("summary AS (")
                .append(&summary_update(Backend::Postgres, self.release.id, summary))
                .push("), ");
        }
        push_event_ctes(&mut sql, &event);
        sql.push(" SELECT count(*) AS n FROM pkg");
        let written: Written = sql.into_key_lookup().get_result(conn)?;
        Ok(usize::try_from(written.n).unwrap_or(0))
    }
}

/// `UPDATE releases SET status = …, has_rollback = … WHERE id = …`.
fn summary_update(backend: Backend, id: ReleaseId, summary: &Summary) -> Sql {
    let mut update = Sql::new(backend);
    update
        .push("UPDATE releases SET status = ")
        .bind(Value::OptText(
            summary.status.map(|s| s.as_str().to_owned()),
        ))
        .push(", has_rollback = ")
        .bind(Value::Bool(summary.has_rollback))
        .push(" WHERE id = ")
        .bind(Value::Text(id.to_string()));
    update
}

/// A time as a read of it from the database gives it back (to the microsecond).
fn as_stored(ts: OffsetDateTime) -> OffsetDateTime {
    from_db(to_db(ts))
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
            let Locked {
                release: mut whole,
                stored,
            } = Locked::take(conn, release)?;
            let release_id = release.to_string();
            let at = whole.packages.len();
            let row = NewPackageRow::of(package, &release_id, to_db(now), at);
            let mut statement = Sql::new(Backend::of(conn));
            push_package_insert(&mut statement, std::slice::from_ref(&row));
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
            Change {
                release: &whole,
                stored,
                at,
                statement,
                kind: "package.added",
                actor: self.actor(),
                now,
            }
            .write(conn)?;
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
        let now = OffsetDateTime::now_utc();
        self.write(|conn| {
            let Locked {
                release: whole,
                stored,
            } = Locked::take(conn, release)?;
            let at = position(conn, &whole, package)?;
            let mut statement = Sql::new(Backend::of(conn));
            statement
                .push("UPDATE packages SET results = ")
                .bind(Value::Text(results.to_owned()))
                .push(" WHERE id = ")
                .bind(Value::Text(package.to_string()));
            Change {
                release: &whole,
                stored,
                at,
                statement,
                kind: "package.updated",
                actor: self.actor(),
                now,
            }
            .write(conn)
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
            let Locked {
                release: mut whole,
                stored,
            } = Locked::take(conn, release)?;
            let at = position(conn, &whole, package)?;
            let current = &mut whole.packages[at];
            let from = current.status;
            from.transition(to)?;
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
            // The status guard makes the change conditional on what was read: the release's
            // lock already orders changes of its packages, and the guard keeps any writer that
            // skipped it from being silently overwritten.
            let mut statement = Sql::new(Backend::of(conn));
            statement
                .push("UPDATE packages SET status = ")
                .bind(Value::Text(to.as_str().to_owned()))
                .push(", stime = ")
                .bind(Value::OptTimestamp(stime.map(to_db)))
                .push(", ftime = ")
                .bind(Value::OptTimestamp(ftime.map(to_db)))
                .push(", duration_secs = ")
                .bind(Value::OptBigInt(duration))
                .push(" WHERE id = ")
                .bind(Value::Text(package.to_string()))
                .push(" AND status = ")
                .bind(Value::Text(from.as_str().to_owned()));
            let kind = if to == PackageStatus::InProgress {
                "package.started"
            } else {
                "package.finished"
            };
            Change {
                release: &whole,
                stored,
                at,
                statement,
                kind,
                actor: self.actor(),
                now,
            }
            .write(conn)
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

    /// On PostgreSQL a package change that leaves its release's status as it was is five
    /// statements (`BEGIN`, the release's lock, its read, one write, `COMMIT`), and every kind
    /// of change runs only statements it kept prepared the first time. diesel never keeps an
    /// `UPDATE` of its DSL prepared; these are written as kept statements.
    #[test]
    fn package_changes_are_five_prepared_statements_on_postgresql() {
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
        assert_eq!(ran.len(), 5, "{ran:#?}");
        assert!(ran[1].starts_with("SELECT id FROM releases WHERE id = $1 FOR UPDATE"));
        assert!(ran[3].starts_with("WITH pkg AS (UPDATE packages SET status = "));

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
