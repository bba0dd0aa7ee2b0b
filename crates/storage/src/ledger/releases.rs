//! Recording and reading releases.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::Text;
use shiplog_domain::{Metadata, NewRelease, Package, Release, ReleaseId};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::bulk::insert_releases;
use super::change::{Change, RowWrite, Subject};
use super::count::{count_in_page, releases_count, with_counted_total, with_total, Counted};
use super::filter::{newest_first_probe, releases_query, releases_query_counted};
use super::one_statement::insert_release_postgres;
use super::rows::{from_db, parse_uuid, to_db, ReleaseRow};
use super::whole::{self, WholeRow, WholeSql};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::Tags;
use crate::query::{Page, ReleaseFilter};
use crate::schema::releases;
use crate::sql::{ByPosition, DynamicQuery, Sql, Value};
use crate::stored_time::MaybeStoredTime;

/// Releases written per round of multi-row inserts during an import (bounds memory and lets
/// progress be reported).
const IMPORT_CHUNK: usize = 1_000;

/// How many ids go into one `IN (…)` list when loading a page's related rows.
const ID_CHUNK: usize = 500;

impl Store {
    /// Records a new release with its platforms, notes, metadata and packages, in one transaction
    /// (on PostgreSQL, without a callback, one statement: see `ledger::one_statement`).
    pub fn insert_release(&self, release: &NewRelease) -> StorageResult<ReleaseId> {
        if self.backend() == Backend::Postgres && release.callback.is_none() {
            let mut conn = self.conn()?;
            insert_release_postgres(&mut conn, release, OffsetDateTime::now_utc())?;
            return Ok(release.id);
        }
        self.write(|conn| {
            insert_releases(
                conn,
                std::slice::from_ref(release),
                OffsetDateTime::now_utc(),
            )
        })?;
        Ok(release.id)
    }

    /// Records many releases in one transaction: all of them or none.
    pub fn import_releases(&self, batch: &[NewRelease]) -> StorageResult<Vec<ReleaseId>> {
        self.import_releases_with_progress(batch, |_| {})
    }

    /// Like [`Store::import_releases`], calling `progress` with the count recorded so far.
    pub fn import_releases_with_progress(
        &self,
        batch: &[NewRelease],
        mut progress: impl FnMut(usize),
    ) -> StorageResult<Vec<ReleaseId>> {
        let now = OffsetDateTime::now_utc();
        let ids = self.write(|conn| {
            let mut done = 0;
            for chunk in batch.chunks(IMPORT_CHUNK) {
                insert_releases(conn, chunk, now)?;
                done += chunk.len();
                progress(done);
            }
            Ok(batch.iter().map(|r| r.id).collect())
        })?;
        if batch.len() >= IMPORT_CHUNK {
            // A bulk import can change the data's shape enough to mislead the planner, and on
            // PostgreSQL leaves pages that indexes alone cannot answer for yet.
            if let Err(err) = self.settle_after_import(batch.len()) {
                log::warn!("settling the tables after an import failed: {err}");
            }
        }
        Ok(ids)
    }

    /// Records the releases `produce` hands to the [`ImportSink`] batch by batch, all in one
    /// transaction: memory holds one batch at a time however long the import, and an error from
    /// `produce` (or from recording) rolls everything back. Returns how many were recorded.
    pub fn import_streamed<E: From<StorageError>>(
        &self,
        produce: impl FnOnce(&mut ImportSink<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let now = OffsetDateTime::now_utc();
        let mut failure = None;
        let written = self.write(|conn| {
            let mut sink = ImportSink {
                conn,
                now,
                recorded: 0,
            };
            match produce(&mut sink) {
                Ok(()) => Ok(sink.recorded),
                Err(err) => {
                    failure = Some(err);
                    Err(StorageError::Abandoned)
                }
            }
        });
        let recorded = match (written, failure) {
            (_, Some(err)) => return Err(err),
            (result, None) => result?,
        };
        if recorded >= IMPORT_CHUNK {
            if let Err(err) = self.settle_after_import(recorded) {
                log::warn!("settling the tables after an import failed: {err}");
            }
        }
        Ok(recorded)
    }

    /// Which of `ids` are recorded already: an importer copying from another ledger skips
    /// them, so running it again copies nothing twice.
    pub fn existing_release_ids(&self, ids: &[ReleaseId]) -> StorageResult<Vec<ReleaseId>> {
        let wanted: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(|conn| {
            let mut found = Vec::new();
            // Bounded IN lists: SQLite allows 32,766 parameters, PostgreSQL 65,535.
            for chunk in wanted.chunks(1_000) {
                let rows: Vec<String> = releases::table
                    .filter(releases::id.eq_any(chunk))
                    .select(releases::id)
                    .load(conn)?;
                for row in rows {
                    found.push(parse_uuid::<ReleaseId>(&row)?);
                }
            }
            Ok(found)
        })
    }

    /// One release with everything it holds, if it exists and matches the filter.
    pub fn find_release(
        &self,
        id: ReleaseId,
        filter: &ReleaseFilter,
    ) -> StorageResult<Option<Release>> {
        if *filter == ReleaseFilter::default() {
            let query = whole::by_id(self.backend(), &id.to_string());
            return self.read(|conn| Ok(load_whole(conn, query)?.into_iter().next()));
        }
        let filter = ReleaseFilter {
            id: Some(id),
            ..filter.clone()
        };
        let page = Page {
            limit: Some(1),
            offset: 0,
            ascending: false,
        };
        Ok(self.list_releases(&filter, &page)?.into_iter().next())
    }

    /// Releases matching the filter, newest first unless the page says otherwise, each with
    /// everything it holds, read as `Store::read_related` reads: on SQLite one statement, on
    /// PostgreSQL one for the releases and one for all they hold. On SQLite a page filtered by
    /// platform or package is first read from the newest releases alone, and again from all of
    /// them when that does not fill it (see `newest_first_probe`).
    pub fn list_releases(
        &self,
        filter: &ReleaseFilter,
        page: &Page,
    ) -> StorageResult<Vec<Release>> {
        let read = PageRead::new(self.backend(), filter, page);
        self.read_related(|conn| read.run(conn))
    }

    /// A page of releases as [`Store::list_releases`] reads it, with the number of releases
    /// matching `filter` in all, both from one snapshot (see `ledger::count`).
    pub fn list_releases_counted(
        &self,
        filter: &ReleaseFilter,
        page: &Page,
    ) -> StorageResult<(Vec<Release>, i64)> {
        let count = releases_count(self.backend(), filter);
        if count_in_page(self.backend(), page) {
            let query = releases_query_counted(self.backend(), filter, page, &count).into_query();
            return self.read_related(|conn| {
                let rows: Vec<Counted<ReleaseRow>> = query.load(conn)?;
                with_counted_total(conn, page, rows, count, hydrate)
            });
        }
        let read = PageRead::new(self.backend(), filter, page);
        self.read_related(|conn| {
            let releases = read.run(conn)?;
            with_total(conn, page, releases, count)
        })
    }

    /// Marks a release as (re)started now. The finish time and duration are left as they are.
    pub fn start_release(&self, id: ReleaseId) -> StorageResult<()> {
        let now = to_db(OffsetDateTime::now_utc());
        self.change_release(id, |conn, read| {
            let mut release = read.release;
            release.stime = from_db(now);
            let mut assignments = Sql::new(Backend::of(conn));
            assignments.push(", stime = ").bind(Value::timestamp(now));
            Ok(release_change(release, assignments, "release.started"))
        })
    }

    /// Marks a release as finished now and fixes its duration.
    pub fn stop_release(&self, id: ReleaseId) -> StorageResult<()> {
        let now = OffsetDateTime::now_utc();
        self.change_release(id, |conn, read| {
            let mut release = read.release;
            let duration = shiplog_domain::timestamp::seconds_between(release.stime, now);
            release.ftime = Some(from_db(to_db(now)));
            release.duration = Some(duration);
            let mut assignments = Sql::new(Backend::of(conn));
            assignments
                .push(", ftime = ")
                .bind(Value::timestamp(to_db(now)))
                .push(", duration_secs = ")
                .bind(Value::BigInt(duration));
            Ok(release_change(release, assignments, "release.finished"))
        })
    }

    /// Appends a note to a release.
    pub fn add_note(&self, id: ReleaseId, text: &str) -> StorageResult<()> {
        let now = to_db(OffsetDateTime::now_utc());
        let release_id = id.to_string();
        self.change_release(id, |conn, read| {
            let mut release = read.release;
            release.notes.push(text.to_owned());
            // The note's sort key (recorded now, first of its moment) puts it last.
            let mut row = Sql::new(Backend::of(conn));
            row.bind(Value::Text(uuid::Uuid::now_v7().to_string()))
                .push(", ")
                .bind(Value::Text(release_id.clone()))
                .push(", ")
                .bind(Value::timestamp(now))
                .push(", 0, ")
                .bind(Value::Text(text.to_owned()));
            let write = RowWrite::Insert {
                into: "release_notes (id, release_id, created_at, ordinal, body)",
                rows: vec![row],
                on_conflict: "",
            };
            Ok(updated(release, vec![write]))
        })
    }

    /// Merges metadata into a release: each key given replaces the stored value of that key.
    pub fn merge_metadata(&self, id: ReleaseId, metadata: &Metadata) -> StorageResult<()> {
        let release_id = id.to_string();
        self.change_release(id, |conn, read| {
            let mut release = read.release;
            let mut rows = Vec::with_capacity(metadata.len());
            for (key, value) in metadata {
                release.metadata.insert(key.clone(), value.clone());
                let mut row = Sql::new(Backend::of(conn));
                row.bind(Value::Text(release_id.clone()))
                    .push(", ")
                    .bind(Value::Text(key.clone()))
                    .push(", ")
                    .bind(Value::Text(value.clone()));
                rows.push(row);
            }
            // Nothing given is still a change (an event), with no row to write.
            let writes = if rows.is_empty() {
                Vec::new()
            } else {
                vec![RowWrite::Insert {
                    into: "release_metadata (release_id, key, value)",
                    rows,
                    on_conflict:
                        " ON CONFLICT (release_id, key) DO UPDATE SET value = excluded.value",
                }]
            };
            Ok(updated(release, writes))
        })
    }
}

/// The statements of a page of releases, built before a connection is taken.
struct PageRead {
    /// The page read from the newest releases first, when worth trying (`newest_first_probe`,
    /// SQLite only).
    probe: Option<DynamicQuery>,
    query: DynamicQuery,
    limit: Option<i64>,
    /// How a query's releases are read: on SQLite whole, in one statement
    /// (`whole::page_sqlite`); on PostgreSQL as release rows, then `hydrate`d.
    load: fn(&mut AnyConnection, DynamicQuery) -> StorageResult<Vec<Release>>,
}

impl PageRead {
    fn new(backend: Backend, filter: &ReleaseFilter, page: &Page) -> PageRead {
        let whole = backend == Backend::Sqlite;
        let finish = |sql: Sql| {
            if whole {
                whole::page_sqlite(&sql, page.ascending).into_query()
            } else {
                sql.into_query()
            }
        };
        PageRead {
            probe: newest_first_probe(backend, filter, page).map(finish),
            query: finish(releases_query(backend, filter, page)),
            limit: page.limit,
            load: if whole { load_whole } else { load_hydrated },
        }
    }

    fn run(self, conn: &mut AnyConnection) -> StorageResult<Vec<Release>> {
        if let Some(probe) = self.probe {
            let releases = (self.load)(conn, probe)?;
            if self.limit == i64::try_from(releases.len()).ok() {
                return Ok(releases);
            }
        }
        (self.load)(conn, self.query)
    }
}

/// A note or metadata written to `release`, which now reads as `release`: `release.updated`
/// carries it; its status did not move, so it does not go to its callback.
fn updated(release: Release, rows: Vec<RowWrite>) -> Change {
    Change {
        release,
        assignments: None,
        rows,
        kind: "release.updated",
        subject: Subject::Release,
        callback: false,
    }
}

/// Where a streamed import puts its releases: straight into the open transaction.
pub struct ImportSink<'a> {
    conn: &'a mut AnyConnection,
    now: OffsetDateTime,
    recorded: usize,
}

impl ImportSink<'_> {
    /// Records a batch (a thousand or so releases keeps the statements few and memory small).
    pub fn record(&mut self, batch: &[NewRelease]) -> StorageResult<()> {
        for chunk in batch.chunks(IMPORT_CHUNK) {
            insert_releases(self.conn, chunk, self.now)?;
            // Each release's event goes in with its batch, not at the commit: memory stays
            // flat however long the import (SQLite; see `events::flush_so_far`).
            crate::events::flush_so_far(self.conn)?;
        }
        self.recorded += batch.len();
        Ok(())
    }

    /// How many releases are recorded so far (not yet committed).
    pub fn recorded(&self) -> usize {
        self.recorded
    }
}

/// A start or stop of `release`, which now reads as `release`: its event carries the release,
/// and so does its callback.
fn release_change(release: Release, assignments: Sql, kind: &'static str) -> Change {
    Change {
        release,
        assignments: Some(assignments),
        rows: Vec::new(),
        kind,
        subject: Subject::Release,
        callback: true,
    }
}

/// One release with everything it holds, read inside a transaction (for tests: the writes read
/// through `change`).
#[cfg(test)]
pub(crate) fn load_release(conn: &mut AnyConnection, id: ReleaseId) -> StorageResult<Release> {
    let query = whole::by_id(Backend::of(conn), &id.to_string());
    load_whole(conn, query)?
        .into_iter()
        .next()
        .ok_or(StorageError::ReleaseNotFound)
}

/// The releases a query of `whole` selects, assembled.
fn load_whole<Q>(conn: &mut AnyConnection, query: Q) -> StorageResult<Vec<Release>>
where
    ByPosition<Q, WholeSql>: for<'q> LoadQuery<'q, AnyConnection, WholeRow>,
{
    let rows: Vec<WholeRow> = ByPosition::<Q, WholeSql>::new(query).load(conn)?;
    rows.into_iter().map(WholeRow::into_release).collect()
}

/// The release rows `query` selects, with everything they hold (`hydrate`).
fn load_hydrated(conn: &mut AnyConnection, query: DynamicQuery) -> StorageResult<Vec<Release>> {
    let rows: Vec<ReleaseRow> = query.load(conn)?;
    hydrate(conn, rows)
}

/// The filterable facts of a release's events: its platforms and team.
pub(crate) fn release_tags(release: &Release) -> Tags {
    Tags::new()
        .with_all("platform", release.platforms.iter().map(String::as_str))
        .with_opt("team", release.team.as_deref())
}

pub(crate) fn ordinal_i32(ordinal: usize) -> i32 {
    i32::try_from(ordinal).unwrap_or(i32::MAX)
}

const SIDE_PLATFORM: i32 = 0;
const SIDE_NOTE: i32 = 1;
const SIDE_METADATA: i32 = 2;
const SIDE_PACKAGE: i32 = 3;

/// A row of [`side_rows`]: a platform (`name`, `ordinal`), a note (`value`, `created_at`,
/// `ordinal`), a metadata entry (`name`, `value`) or a package (`value`, its cells as JSON,
/// with `created_at` and `ordinal`) of release `release_id`, told apart by `kind`.
#[derive(QueryableByName)]
struct SideRow {
    #[diesel(sql_type = Text)]
    release_id: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    ordinal: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    #[diesel(deserialize_as = MaybeStoredTime)]
    created_at: Option<PrimitiveDateTime>,
}

/// The platforms, notes, metadata and packages of the releases in `ids`, as one `UNION ALL` of
/// four key lookups (each by its table's index on `release_id`), in no particular order. The
/// literal kinds 0 to 3 are [`SIDE_PLATFORM`], [`SIDE_NOTE`], [`SIDE_METADATA`] and
/// [`SIDE_PACKAGE`]. A package's columns travel as one JSON array, so that every row has the
/// same shape.
fn side_rows(backend: Backend, ids: &[String]) -> DynamicQuery {
    let mut sql = Sql::new(backend);
    let ids = || ids.iter().map(|id| Value::Text(id.clone()));
    sql.push(
        "SELECT release_id, 0 AS kind, platform AS name, CAST('' AS TEXT) AS value, ordinal, \
         CAST(NULL AS TIMESTAMP) AS created_at FROM release_platforms WHERE release_id IN ",
    )
    .bind_list(ids())
    .push(
        " UNION ALL SELECT release_id, 1, CAST('' AS TEXT), body, ordinal, created_at \
         FROM release_notes WHERE release_id IN ",
    )
    .bind_list(ids())
    .push(
        " UNION ALL SELECT release_id, 2, \"key\", \"value\", 0, CAST(NULL AS TIMESTAMP) \
         FROM release_metadata WHERE release_id IN ",
    )
    .bind_list(ids())
    .push(" UNION ALL SELECT p.release_id, 3, CAST('' AS TEXT), ")
    .push(whole::package_json(backend))
    .push(", p.ordinal, p.created_at FROM packages p WHERE p.release_id IN ")
    .bind_list(ids());
    sql.into_key_lookup()
}

/// Loads everything the given releases hold, one statement per chunk of ids ([`side_rows`]),
/// and assembles them: PostgreSQL's pages (SQLite reads a page whole, see `PageRead`).
fn hydrate(conn: &mut AnyConnection, rows: Vec<ReleaseRow>) -> StorageResult<Vec<Release>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = Backend::of(conn);
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut platforms: HashMap<String, Vec<String>> = HashMap::new();
    let mut notes: HashMap<String, Vec<String>> = HashMap::new();
    let mut metadata: HashMap<String, Metadata> = HashMap::new();
    let mut packages_by_release: HashMap<String, Vec<Package>> = HashMap::new();
    for chunk in ids.chunks(ID_CHUNK) {
        // Platforms, notes, metadata and packages in one statement (one round trip on
        // PostgreSQL instead of four); ordered here: they are few, and an ORDER BY over the
        // union would sort them all again.
        let mut ordered_platforms: HashMap<String, Vec<(i32, String)>> = HashMap::new();
        let mut ordered_notes: HashMap<String, Vec<(PrimitiveDateTime, i32, String)>> =
            HashMap::new();
        let mut ordered_packages: HashMap<String, Vec<(PrimitiveDateTime, i32, String)>> =
            HashMap::new();
        for row in side_rows(backend, chunk).load::<SideRow>(conn)? {
            match (row.kind, row.created_at) {
                (SIDE_PLATFORM, _) => ordered_platforms
                    .entry(row.release_id)
                    .or_default()
                    .push((row.ordinal, row.name)),
                (SIDE_NOTE, Some(at)) => ordered_notes.entry(row.release_id).or_default().push((
                    at,
                    row.ordinal,
                    row.value,
                )),
                (SIDE_METADATA, _) => {
                    metadata
                        .entry(row.release_id)
                        .or_default()
                        .insert(row.name, row.value);
                }
                (SIDE_PACKAGE, Some(at)) => ordered_packages
                    .entry(row.release_id)
                    .or_default()
                    .push((at, row.ordinal, row.value)),
                (kind, _) => {
                    return Err(StorageError::Corrupt(format!(
                        "release {} has a related row of kind {kind}",
                        row.release_id
                    )))
                }
            }
        }
        for (release_id, mut rows) in ordered_platforms {
            rows.sort_unstable();
            platforms.insert(release_id, rows.into_iter().map(|(_, p)| p).collect());
        }
        for (release_id, mut rows) in ordered_notes {
            rows.sort_unstable_by_key(|(at, ordinal, _)| (*at, *ordinal));
            notes.insert(release_id, rows.into_iter().map(|(_, _, n)| n).collect());
        }
        for (release_id, mut rows) in ordered_packages {
            rows.sort_unstable_by_key(|(at, ordinal, _)| (*at, *ordinal));
            let id = parse_uuid(&release_id)?;
            let packages = rows
                .iter()
                .map(|(_, _, cells)| whole::package_from_json(cells, id))
                .collect::<StorageResult<Vec<Package>>>()?;
            packages_by_release.insert(release_id, packages);
        }
    }
    rows.into_iter()
        .map(|row| {
            let references: Vec<String> = serde_json::from_str(&row.refs).map_err(|_| {
                StorageError::Corrupt(format!("release {} has references {:?}", row.id, row.refs))
            })?;
            Ok(Release {
                id: parse_uuid(&row.id)?,
                platforms: platforms.remove(&row.id).unwrap_or_default(),
                notes: notes.remove(&row.id).unwrap_or_default(),
                metadata: metadata.remove(&row.id).unwrap_or_default(),
                packages: packages_by_release.remove(&row.id).unwrap_or_default(),
                user: row.user_name,
                team: row.team,
                references,
                stime: from_db(row.stime),
                ftime: row.ftime.map(from_db),
                duration: row.duration_secs,
                recorded_by: row.recorded_by,
            })
        })
        .collect()
}
