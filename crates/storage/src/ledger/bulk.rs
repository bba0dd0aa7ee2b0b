//! Writing whole releases: every table's rows for a batch of releases go in multi-row INSERTs,
//! so an import costs a handful of statements per few thousand rows instead of one per row
//! (a round trip each on PostgreSQL).

use diesel::prelude::*;
use shiplog_domain::{NewRelease, Package, PackageStatus, Release, ReleaseStatus};
use time::OffsetDateTime;

use super::cache::first_revision;
use super::fixed_insert;
use super::releases::ordinal_i32;
use super::rows::{to_db, MetadataRow, NewPackageRow, NewReleaseRow, NoteRow, PlatformRow};
use crate::connection::{on_backend, AnyConnection};
use crate::error::{StorageError, StorageResult};
use crate::events::{emit, Tags};
use crate::schema::{packages, release_metadata, release_notes, release_platforms, releases};
use crate::stored_time::WriteTime;

/// Bound parameters per statement on PostgreSQL: under its limit of 65,535.
const MAX_PARAMS: usize = 30_000;

/// Inserts `rows` into `table` in as few statements as the backend makes worthwhile.
///
/// A single row goes in as a one-row INSERT, which diesel keeps prepared: the common case of
/// `POST /releases`. On SQLite, where a statement costs no round trip but parsing one does,
/// more rows go in multi-row INSERTs of fixed lengths and the few left over one by one, every
/// statement kept prepared (`fixed_insert`). On PostgreSQL, where each statement is a round
/// trip, they go in as few statements as its parameter limit allows. `MultiBackend` has no
/// multi-row INSERT, so every statement runs on the backend's own connection.
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $rows:expr, $columns:expr) => {
        match ($rows.as_slice(), &mut *$conn) {
            ([], _) => {}
            ([row], conn) => {
                on_backend!(conn, c => diesel::insert_into($table).values(row).execute(c)?);
            }
            (rows, AnyConnection::Sqlite(c)) => {
                for row in fixed_insert::insert_in_chunks(c, rows)? {
                    diesel::insert_into($table).values(row).execute(c)?;
                }
            }
            (rows, AnyConnection::Postgresql(c)) => {
                for chunk in rows.chunks((MAX_PARAMS / $columns).max(1)) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
        }
    };
}

/// Inserts the releases with their platforms, notes, metadata and packages.
pub(crate) fn insert_releases(
    conn: &mut AnyConnection,
    batch: &[NewRelease],
    now: OffsetDateTime,
) -> StorageResult<()> {
    let ids: Vec<String> = batch.iter().map(|r| r.id.to_string()).collect();
    let rows = BatchRows::of(batch, &ids, now)?;
    insert_chunked!(conn, releases::table, rows.releases, 12);
    crate::callbacks::register(conn, batch, now)?;
    insert_chunked!(conn, release_platforms::table, rows.platforms, 3);
    insert_chunked!(conn, release_notes::table, rows.notes, 5);
    insert_chunked!(conn, release_metadata::table, rows.metadata, 3);
    insert_chunked!(conn, packages::table, rows.packages, 12);
    for release in batch {
        let (tags, shown) = created_event(release);
        emit(
            "release.created",
            release.recorded_by.as_deref(),
            &shown,
            tags,
        )?;
    }
    Ok(())
}

/// What `release.created` carries for a new release, and its tags.
pub(super) fn created_event(release: &NewRelease) -> (Tags, Release) {
    let shown = as_recorded(release);
    (super::releases::release_tags(&shown), shown)
}

/// Every table's rows for a batch of new releases, as they are written.
pub(super) struct BatchRows<'a> {
    pub releases: Vec<NewReleaseRow<'a>>,
    pub platforms: Vec<PlatformRow<'a>>,
    pub notes: Vec<NoteRow<'a>>,
    pub metadata: Vec<MetadataRow<'a>>,
    pub packages: Vec<NewPackageRow<'a>>,
}

impl<'a> BatchRows<'a> {
    /// The rows of `batch`, whose releases' ids, as text, are `ids` (in the same order).
    pub fn of(
        batch: &'a [NewRelease],
        ids: &'a [String],
        now: OffsetDateTime,
    ) -> StorageResult<BatchRows<'a>> {
        let created_at = to_db(now);
        let mut rows = BatchRows {
            releases: Vec::with_capacity(batch.len()),
            platforms: Vec::new(),
            notes: Vec::new(),
            metadata: Vec::new(),
            packages: Vec::new(),
        };
        for (release, release_id) in batch.iter().zip(ids) {
            let refs = serde_json::to_string(&release.references)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            rows.releases.push(NewReleaseRow {
                id: release_id.clone(),
                user_name: &release.user,
                team: release.team.as_deref(),
                refs,
                stime: WriteTime(to_db(release.stime)),
                ftime: release.ftime.map(|at| WriteTime(to_db(at))),
                duration_secs: release.duration(),
                status: ReleaseStatus::derive(release.packages.iter().map(|p| p.status))
                    .map(PackageStatus::as_str),
                has_rollback: release.packages.iter().any(|p| p.rollback),
                recorded_by: release.recorded_by.as_deref(),
                callback: release.callback.as_deref(),
                revision: first_revision(),
            });
            for (ordinal, platform) in release.platforms.iter().enumerate() {
                rows.platforms.push(PlatformRow {
                    release_id,
                    platform,
                    ordinal: ordinal_i32(ordinal),
                });
            }
            for (ordinal, body) in release.notes.iter().enumerate() {
                rows.notes.push(NoteRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    release_id,
                    created_at: WriteTime(created_at),
                    ordinal: ordinal_i32(ordinal),
                    body,
                });
            }
            for (key, value) in &release.metadata {
                rows.metadata.push(MetadataRow {
                    release_id,
                    key,
                    value,
                });
            }
            for (ordinal, package) in release.packages.iter().enumerate() {
                rows.packages
                    .push(NewPackageRow::of(package, release_id, created_at, ordinal));
            }
        }
        Ok(rows)
    }
}

/// The release as it reads back once recorded (what `release.created` carries), built from
/// what was written rather than read again: an import of thousands reads nothing back.
fn as_recorded(release: &NewRelease) -> Release {
    Release {
        id: release.id,
        user: release.user.clone(),
        team: release.team.clone(),
        platforms: release.platforms.clone(),
        references: release.references.clone(),
        stime: release.stime,
        ftime: release.ftime,
        duration: release.duration(),
        notes: release.notes.clone(),
        metadata: release.metadata.clone(),
        packages: release
            .packages
            .iter()
            .map(|p| Package {
                id: p.id,
                release_id: release.id,
                name: p.name.clone(),
                version: p.version.clone(),
                status: p.status,
                rollback: p.rollback,
                diff_url: p.diff_url.clone(),
                stime: p.stime,
                ftime: p.ftime,
                duration: p.duration(),
            })
            .collect(),
        recorded_by: release.recorded_by.clone(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Connection, InstrumentationEvent};
    use diesel::prelude::*;
    use shiplog_domain::{NewPackage, NewRelease};
    use time::OffsetDateTime;

    use super::insert_releases;
    use crate::connection::{write_transaction, AnyConnection};
    use crate::testing::TestDb;

    /// A release as `POST /releases` usually brings one: a team, a platform, a reference, a
    /// package, a note and a metadata key.
    pub(in crate::ledger) fn release(n: usize) -> NewRelease {
        let mut release = NewRelease::new(
            &format!("user{n}"),
            vec![format!("site{n}")],
            OffsetDateTime::now_utc(),
        )
        .expect("release");
        release.team = Some("team".to_owned());
        release.references = vec![format!("T-{n}")];
        release.packages = vec![NewPackage::new("pkg", &n.to_string())];
        release.notes = vec![format!("note {n}")];
        release.metadata.insert("key".to_owned(), n.to_string());
        release
    }

    /// What the connection sends from now on, as (whether the entry is a statement put in the
    /// cache rather than one run, its SQL without the bound values).
    pub(in crate::ledger) type StatementLog = Arc<Mutex<Vec<(bool, String)>>>;

    /// Starts logging the statements `conn` runs and the ones it caches.
    pub(in crate::ledger) fn log_statements(conn: &mut AnyConnection) -> StatementLog {
        let log: StatementLog = Arc::default();
        let sink = Arc::clone(&log);
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            let entry = match event {
                InstrumentationEvent::StartQuery { query, .. } => {
                    let text = query.to_string();
                    let sql = text.split(" -- binds:").next().unwrap_or_default();
                    (false, sql.to_owned())
                }
                InstrumentationEvent::CacheQuery { sql, .. } => (true, sql.to_owned()),
                _ => return,
            };
            sink.lock().expect("log").push(entry);
        });
        log
    }

    /// On SQLite the statements of an import are all prepared by the first one, whatever the
    /// length of the batch: multi-row INSERTs of a fixed length, then one row at a time.
    #[test]
    fn a_second_import_on_sqlite_runs_only_statements_already_prepared() {
        let db = TestDb::sqlite();
        let store = db.store();
        let mut conn = store.conn().expect("connection");
        let log = log_statements(&mut conn);
        let mut import = |first: usize, count: usize| {
            let batch: Vec<NewRelease> = (first..first + count).map(release).collect();
            write_transaction(&mut conn, |conn| {
                insert_releases(conn, &batch, OffsetDateTime::now_utc())
            })
            .expect("import");
            std::mem::take(&mut *log.lock().expect("log"))
        };
        let prepared: HashSet<String> = import(0, 300)
            .into_iter()
            .filter_map(|(cached, sql)| cached.then_some(sql))
            .collect();
        let ran: Vec<String> = import(300, 290)
            .into_iter()
            .filter_map(|(cached, sql)| (!cached).then_some(sql))
            .filter(|sql| !sql.starts_with("BEGIN") && !sql.starts_with("COMMIT"))
            .collect();
        assert!(ran.len() >= 5, "{ran:#?}");
        let unprepared: Vec<&String> = ran.iter().filter(|sql| !prepared.contains(*sql)).collect();
        assert!(unprepared.is_empty(), "{unprepared:#?}");
        let releases: i64 = crate::schema::releases::table
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(releases, 590);
    }

    /// The statements a second release write runs were all prepared by the first, on both
    /// backends: on PostgreSQL an unprepared statement is parsed and planned by the server on
    /// every write (diesel prepares inserts afresh whose `None` fields could mean DEFAULT).
    #[test]
    fn a_second_release_write_runs_only_statements_already_prepared() {
        for db in TestDb::all() {
            let store = db.store();
            let mut conn = store.conn().expect("connection");
            let log = log_statements(&mut conn);
            let mut write = |n| {
                write_transaction(&mut conn, |conn| {
                    insert_releases(conn, &[release(n)], OffsetDateTime::now_utc())
                })
                .expect("write");
                std::mem::take(&mut *log.lock().expect("log"))
            };
            let prepared: HashSet<String> = write(1)
                .into_iter()
                .filter_map(|(cached, sql)| cached.then_some(sql))
                .collect();
            let ran: Vec<String> = write(2)
                .into_iter()
                .filter_map(|(cached, sql)| (!cached).then_some(sql))
                .filter(|sql| !sql.starts_with("BEGIN") && !sql.starts_with("COMMIT"))
                .collect();
            assert!(ran.len() >= 5, "{:?}: {ran:#?}", db.backend());
            let unprepared: Vec<&String> =
                ran.iter().filter(|sql| !prepared.contains(*sql)).collect();
            assert!(unprepared.is_empty(), "{:?}: {unprepared:#?}", db.backend());
        }
    }
}
