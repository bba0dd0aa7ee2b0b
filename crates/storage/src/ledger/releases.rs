//! Recording and reading releases.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use shiplog_domain::{Metadata, NewRelease, Release, ReleaseId};
use time::OffsetDateTime;

use super::bulk::insert_releases;
use super::cache::ReleaseCache;
use super::change::{Change, RowWrite, Subject};
use super::count::{count_in_page, releases_count, with_counted_total, with_total, Counted};
use super::filter::{
    bounded_page, newest_first_probe, one_index_page, release_keys_query,
    release_keys_query_counted, CountColumn, KEY_COLUMNS,
};
use super::one_statement::insert_release_postgres;
use super::rows::{from_db, parse_uuid, to_db};
use super::whole::{self, WholeWithRevision, WholeWithRevisionSql};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::Tags;
use crate::query::{Page, ReleaseFilter};
use crate::schema::releases;
use crate::sql::{ByPosition, DynamicQuery, FixedQuery, Sql, Value};

/// Releases written per round of multi-row inserts during an import (bounds memory and lets
/// progress be reported).
const IMPORT_CHUNK: usize = 1_000;

/// How many ids go into one `IN (…)` list when reading releases whole.
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
            let cache = self.releases();
            let id_text = id.to_string();
            // A release the cache does not hold at all is read whole at once: one statement
            // (one round trip on PostgreSQL) rather than its key first. No snapshot needed
            // either way: a release read whole carries its own revision.
            if !cache.holds(id) {
                return self.read(|conn| {
                    Ok(read_whole(conn, cache, std::slice::from_ref(&id_text))?
                        .into_values()
                        .next())
                });
            }
            let key = key_by_id(self.backend(), &id_text);
            return self.read(|conn| {
                let keys: Vec<ReleaseKey> = ByPosition::<_, KeySql>::new(key).load(conn)?;
                Ok(whole_releases(conn, cache, keys)?.into_iter().next())
            });
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
    /// everything it holds: the ids and revisions of the page in one statement, then the
    /// releases from `ledger::cache`, or whole for those it does not hold (`whole::by_ids`),
    /// read as `Store::read_related` reads. On SQLite a page filtered by platform or package is
    /// first read from the newest releases alone, and again from all of them when that does
    /// not fill it (see `newest_first_probe`).
    pub fn list_releases(
        &self,
        filter: &ReleaseFilter,
        page: &Page,
    ) -> StorageResult<Vec<Release>> {
        let read = PageRead::new(self.backend(), filter, page);
        self.read_related(|conn| read.run(conn, self.releases()))
    }

    /// A page of releases as [`Store::list_releases`] reads it, with the number of releases
    /// matching `filter` in all, both from one snapshot (see `ledger::count`).
    pub fn list_releases_counted(
        &self,
        filter: &ReleaseFilter,
        page: &Page,
    ) -> StorageResult<(Vec<Release>, i64)> {
        let count = releases_count(self.backend(), filter);
        let cache = self.releases();
        let memo = self.counts();
        if count_in_page(self.backend(), page) {
            let handed = memo.latest(&count);
            let column = CountColumn {
                count: &count,
                kept: handed.as_ref().map(|kept| &*kept.snapshot),
            };
            let query = release_keys_query_counted(self.backend(), filter, page, &column);
            let query = if one_index_page(filter, page) {
                query.into_key_lookup()
            } else {
                query.into_query()
            };
            return self.read_related(|conn| {
                let rows: Vec<Counted<ReleaseKey>> = query.load(conn)?;
                let rows = (rows, handed.clone());
                with_counted_total(conn, memo, page, rows, count, |conn, keys| {
                    whole_releases(conn, cache, keys)
                })
            });
        }
        let read = PageRead::new(self.backend(), filter, page);
        self.read_related(|conn| {
            let releases = read.run(conn, cache)?;
            with_total(conn, memo, page, releases, count)
        })
    }

    /// [`Store::list_releases_counted`] when it is known to be small work, `None` otherwise: on
    /// SQLite, a page that walks one index in its order for at most a hundred rows
    /// (`filter::bounded_page`), whose total the page itself tells or a count kept for this
    /// state of the database does (`ledger::count_memo`). For a server to run on the thread
    /// that took the request, as it runs a read by id. A `None` cost little: the page's keys
    /// at most.
    pub fn list_releases_counted_if_small(
        &self,
        filter: &ReleaseFilter,
        page: &Page,
    ) -> StorageResult<Option<(Vec<Release>, i64)>> {
        if !bounded_page(self.backend(), filter, page) {
            return Ok(None);
        }
        let read = PageRead::new(self.backend(), filter, page);
        let count = releases_count(self.backend(), filter);
        let (cache, memo) = (self.releases(), self.counts());
        self.read_snapshot(|conn| {
            let keys = read.keys(conn)?;
            let total = match page.total_after(keys.len()) {
                Some(total) => total,
                None => match memo.kept(conn, count)? {
                    Some(total) => total,
                    None => return Ok(None),
                },
            };
            Ok(Some((whole_releases(conn, cache, keys)?, total)))
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
    /// The page's keys read from the newest releases first, when worth trying
    /// (`newest_first_probe`, SQLite only).
    probe: Option<DynamicQuery>,
    query: DynamicQuery,
    limit: Option<i64>,
}

impl PageRead {
    fn new(backend: Backend, filter: &ReleaseFilter, page: &Page) -> PageRead {
        PageRead {
            probe: newest_first_probe(backend, filter, page).map(Sql::into_query),
            query: release_keys_query(backend, filter, page).into_query(),
            limit: page.limit,
        }
    }

    fn run(self, conn: &mut AnyConnection, cache: &ReleaseCache) -> StorageResult<Vec<Release>> {
        let keys = self.keys(conn)?;
        whole_releases(conn, cache, keys)
    }

    fn keys(self, conn: &mut AnyConnection) -> StorageResult<Vec<ReleaseKey>> {
        if let Some(probe) = self.probe {
            let keys: Vec<ReleaseKey> = probe.load(conn)?;
            if self.limit == i64::try_from(keys.len()).ok() {
                return Ok(keys);
            }
        }
        Ok(self.query.load(conn)?)
    }
}

/// A release a read wants: its id and the revision its row stores ([`KEY_COLUMNS`]).
#[derive(Queryable, QueryableByName)]
pub(crate) struct ReleaseKey {
    #[diesel(sql_type = Text)]
    pub(super) id: String,
    #[diesel(sql_type = BigInt)]
    pub(super) revision: i64,
}

/// The SQL types of a [`ReleaseKey`] read by position.
type KeySql = (Text, BigInt);

/// The key of the release with id `id` (kept prepared under [`KeyById`]).
fn key_by_id(backend: Backend, id: &str) -> FixedQuery<KeyById> {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ")
        .push(KEY_COLUMNS)
        .push(" FROM releases r WHERE r.id = ")
        .bind(Value::Text(id.to_owned()));
    sql.into_fixed()
}

/// The key [`key_by_id`]'s statement is kept prepared under.
struct KeyById;

/// The releases `keys` names, in their order: from `cache` those it holds at the revision
/// the key names, the others read whole ([`whole::by_ids`]) and put there. A release gone
/// between the keys' statement and its own (PostgreSQL reads them in two snapshots) is left
/// out.
fn whole_releases(
    conn: &mut AnyConnection,
    cache: &ReleaseCache,
    keys: Vec<ReleaseKey>,
) -> StorageResult<Vec<Release>> {
    Ok(keyed_releases(conn, cache, vec![keys])?
        .pop()
        .unwrap_or_default())
}

/// [`whole_releases`] for several lists of keys at once, with one read of the releases none of
/// them finds in `cache` (`ledger::page_batch` reads many pages together).
pub(super) fn keyed_releases(
    conn: &mut AnyConnection,
    cache: &ReleaseCache,
    lists: Vec<Vec<ReleaseKey>>,
) -> StorageResult<Vec<Vec<Release>>> {
    let mut found = Vec::with_capacity(lists.len());
    let mut missing = Vec::new();
    // How many places want each release read whole: all but the last get a copy.
    let mut uses: HashMap<ReleaseId, usize> = HashMap::new();
    for keys in lists {
        let mut list = Vec::with_capacity(keys.len());
        for key in keys {
            let id: ReleaseId = parse_uuid(&key.id)?;
            match cache.get(id, key.revision) {
                Some(release) => list.push(Ok(release)),
                None => {
                    list.push(Err(id));
                    let wanted = uses.entry(id).or_default();
                    if *wanted == 0 {
                        missing.push(key.id);
                    }
                    *wanted += 1;
                }
            }
        }
        found.push(list);
    }
    let mut read = if missing.is_empty() {
        HashMap::new()
    } else {
        read_whole(conn, cache, &missing)?
    };
    Ok(found
        .into_iter()
        .map(|list| {
            list.into_iter()
                .filter_map(|slot| match slot {
                    Ok(release) => Some(release),
                    // A release on two pages of the batch is read once and copied.
                    Err(id) => match uses.get_mut(&id) {
                        Some(left) if *left > 1 => {
                            *left -= 1;
                            read.get(&id).cloned()
                        }
                        _ => read.remove(&id),
                    },
                })
                .collect()
        })
        .collect())
}

/// The releases with the ids `ids` that exist, by id: those `cache` holds at their stored
/// revision from it after one statement reading their revisions, the others read whole
/// ([`read_whole`]) and put there. Two statements at most however many ids (`ledger::gathered`
/// reads many requests' releases at once).
pub(super) fn releases_by_ids(
    conn: &mut AnyConnection,
    cache: &ReleaseCache,
    ids: &[ReleaseId],
) -> StorageResult<HashMap<ReleaseId, Release>> {
    let (mut held, mut missing) = (Vec::new(), Vec::new());
    for &id in ids {
        let text = id.to_string();
        if cache.holds(id) {
            held.push(text);
        } else {
            missing.push(text);
        }
    }
    let mut found = HashMap::with_capacity(ids.len());
    if !held.is_empty() {
        let mut sql = Sql::new(Backend::of(conn));
        sql.push("SELECT ")
            .push(KEY_COLUMNS)
            .push(" FROM releases r WHERE r.id IN ")
            .bind_list(held.into_iter().map(Value::Text));
        let keys: Vec<ReleaseKey> =
            ByPosition::<_, KeySql>::new(sql.into_key_lookup()).load(conn)?;
        for key in keys {
            let id: ReleaseId = parse_uuid(&key.id)?;
            match cache.get(id, key.revision) {
                Some(release) => {
                    found.insert(id, release);
                }
                None => missing.push(key.id),
            }
        }
    }
    if !missing.is_empty() {
        found.extend(read_whole(conn, cache, &missing)?);
    }
    Ok(found)
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

/// The releases with the ids `ids` that exist, read whole ([`whole::by_ids`], in chunks) and
/// put in `cache` at the revision each was read at.
fn read_whole(
    conn: &mut AnyConnection,
    cache: &ReleaseCache,
    ids: &[String],
) -> StorageResult<HashMap<ReleaseId, Release>> {
    let backend = Backend::of(conn);
    let mut read = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ID_CHUNK) {
        let rows: Vec<WholeWithRevision> =
            ByPosition::<_, WholeWithRevisionSql>::new(whole::by_ids(backend, chunk)).load(conn)?;
        for row in rows {
            let release = row.whole.into_release()?;
            cache.put(row.revision, &release);
            read.insert(release.id, release);
        }
    }
    Ok(read)
}

/// One release with everything it holds, read inside a transaction (for tests: the writes read
/// through `change`).
#[cfg(test)]
pub(crate) fn load_release(conn: &mut AnyConnection, id: ReleaseId) -> StorageResult<Release> {
    let query = whole::by_ids(Backend::of(conn), &[id.to_string()]);
    let rows: Vec<WholeWithRevision> =
        ByPosition::<_, WholeWithRevisionSql>::new(query).load(conn)?;
    rows.into_iter()
        .next()
        .ok_or(StorageError::ReleaseNotFound)?
        .whole
        .into_release()
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
