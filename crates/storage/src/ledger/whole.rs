//! Reading releases whole: each release row with its platforms, notes, metadata and packages,
//! in one statement, the related rows gathered into JSON by the database.
//!
//! `GET /releases/{id}` took one query per table: five statements, five round trips on
//! PostgreSQL (which did not share a snapshot) and a read transaction around them on SQLite.
//! One statement sees one state of the database on both backends without a transaction.
//!
//! Reads first select the ids and revisions of the releases they want, and read whole
//! ([`by_ids`]) only those `ledger::cache` does not hold at that revision: a page of
//! unchanged releases reads no related rows at all. Before the cache, SQLite read a page whole
//! in one statement and PostgreSQL as release rows plus one `UNION ALL` of the related rows;
//! [`by_ids`] serves both now, for the misses alone.
//!
//! The related rows carry their sort keys (ordinal, recording time) and are ordered here: an
//! `ORDER BY` inside each aggregate made SQLite sort four times per release.

use std::borrow::Cow;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Queryable, QueryableByName};
use serde::Deserialize;
use shiplog_domain::{Metadata, Package, Release, ReleaseId};
use time::PrimitiveDateTime;

use super::filter::RELEASE_COLUMNS;
use super::rows::{from_db, parse_uuid, ReleaseRow, ReleaseSql};
use crate::connection::Backend;
use crate::error::{StorageError, StorageResult};
use crate::sql::{DynamicQuery, FixedQuery, Sql, Value};
use crate::stored_time::parse_stored_time;

/// A package of the packages aliased `p` as the cells of a JSON array, in [`PackageCells`]
/// order: `concat!`ed into the statements that read packages as JSON.
macro_rules! package_cells {
    () => {
        "p.created_at, p.ordinal, p.id, p.name, p.version, p.status, p.rollback, p.diff_url, \
         p.stime, p.ftime, p.duration_secs"
    };
}

/// The related rows of the release aliased `r`, one JSON text column each (`platforms`,
/// `notes`, `metadata`, `packages`; SQL NULL or an empty array when there are none).
fn related_columns(backend: Backend) -> &'static str {
    match backend {
        // No ORDER BY inside the aggregates: in SQLite each one took a sort of its own, the
        // dearest part of the statement. The rows carry their sort keys instead, and
        // `into_release` orders them.
        Backend::Sqlite => {
            concat!(
                ", (SELECT json_group_array(json_array(rp.ordinal, rp.platform)) \
               FROM release_platforms rp WHERE rp.release_id = r.id) AS platforms, \
             (SELECT json_group_array(json_array(n.created_at, n.ordinal, n.body)) \
               FROM release_notes n WHERE n.release_id = r.id) AS notes, \
             (SELECT json_group_object(m.\"key\", m.\"value\") \
               FROM release_metadata m WHERE m.release_id = r.id) AS metadata, \
             (SELECT json_group_array(json_array(",
                package_cells!(),
                ")) FROM packages p WHERE p.release_id = r.id) AS packages"
            )
        }
        Backend::Postgres => {
            concat!(
                ", (SELECT json_agg(json_build_array(rp.ordinal, rp.platform))::text \
               FROM release_platforms rp WHERE rp.release_id = r.id) AS platforms, \
             (SELECT json_agg(json_build_array(n.created_at, n.ordinal, n.body))::text \
               FROM release_notes n WHERE n.release_id = r.id) AS notes, \
             (SELECT json_object_agg(m.\"key\", m.\"value\")::text \
               FROM release_metadata m WHERE m.release_id = r.id) AS metadata, \
             (SELECT json_agg(json_build_array(",
                package_cells!(),
                "))::text FROM packages p WHERE p.release_id = r.id) AS packages"
            )
        }
    }
}

/// The releases with the ids `ids`, whole, each with the revision its row stores (read by
/// position as [`WholeWithRevision`]), in no particular order: what `ledger::cache` does not
/// hold. Kept prepared on both backends: a lookup by key, whose `IN` list is padded to a few
/// lengths (see `sql`).
pub(crate) fn by_ids(backend: Backend, ids: &[String]) -> DynamicQuery {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ")
        .push(RELEASE_COLUMNS)
        .push(related_columns(backend))
        .push(", r.revision FROM releases r WHERE r.id IN ")
        .bind_list(ids.iter().map(|id| Value::Text(id.clone())));
    sql.into_key_lookup()
}

/// The release with id `id`, whole, with the summary (`status`, `has_rollback`) and the revision
/// its row stores: for a change of it (`change`).
pub(crate) fn by_id_with_summary(backend: Backend, id: &str) -> FixedQuery<ByIdWithSummary> {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ")
        .push(RELEASE_COLUMNS)
        .push(related_columns(backend))
        .push(", r.status AS stored_status, r.has_rollback AS stored_rollback, r.revision")
        .push(" FROM releases r WHERE r.id = ")
        .bind(Value::Text(id.to_owned()));
    sql.into_fixed()
}

/// The key [`by_id_with_summary`]'s statement is kept prepared under.
pub(crate) struct ByIdWithSummary;

/// A row of [`by_ids`], read by position (see `sql::ByPosition`); read by name in a test.
#[derive(Queryable, QueryableByName)]
pub(crate) struct WholeWithRevision {
    #[diesel(embed)]
    pub whole: WholeRow,
    #[diesel(sql_type = BigInt)]
    pub revision: i64,
}

/// The SQL types of a [`WholeWithRevision`]: [`WholeSql`], then the revision.
pub(crate) type WholeWithRevisionSql = (WholeSql, BigInt);

/// A row of [`by_id_with_summary`], read by position (see `sql::ByPosition`).
#[derive(Queryable)]
pub(crate) struct WholeWithSummary {
    pub whole: WholeRow,
    pub stored_status: Option<String>,
    pub stored_rollback: bool,
    pub revision: i64,
}

/// The SQL types of a [`WholeWithSummary`]: [`WholeSql`], then the summary's columns in
/// [`by_id_with_summary`]'s order.
pub(crate) type WholeWithSummarySql = (WholeSql, Nullable<Text>, Bool, BigInt);

/// The SQL types of a [`WholeRow`] read by position: the release's columns, then the four
/// related columns in [`related_columns`] order.
pub(crate) type WholeSql = (
    ReleaseSql,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<Text>,
);

/// A release row with its related rows as JSON, read by position (see `sql::ByPosition`)
/// from [`by_ids`] and [`by_id_with_summary`]; read by name in a test, which holds the two
/// ways equal.
#[derive(Queryable, QueryableByName)]
pub(crate) struct WholeRow {
    #[diesel(embed)]
    release: ReleaseRow,
    #[diesel(sql_type = Nullable<Text>)]
    platforms: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    notes: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    metadata: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    packages: Option<String>,
}

/// A package as its JSON array holds it: when it was recorded and its place among the
/// packages recorded then (its sort key), id, name, version, status, rollback, diff URL, start,
/// finish, duration. The cells that are only read on the way to the package (the key, the id,
/// the status, the times) borrow from the JSON text when it holds them unescaped, as it always
/// does for those: a page of ten releases made some 120 short strings fewer.
#[derive(Deserialize)]
struct PackageCells<'a>(
    #[serde(borrow)] Cow<'a, str>,
    i64,
    #[serde(borrow)] Cow<'a, str>,
    String,
    String,
    #[serde(borrow)] Cow<'a, str>,
    Flag,
    Option<String>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    Option<i64>,
);

impl PackageCells<'_> {
    fn into_package(self, release_id: ReleaseId) -> StorageResult<Package> {
        let PackageCells(
            _,
            _,
            pid,
            name,
            version,
            status,
            rollback,
            diff_url,
            stime,
            ftime,
            duration,
        ) = self;
        Ok(Package {
            id: parse_uuid(&pid)?,
            release_id,
            status: status.parse().map_err(|_| {
                StorageError::Corrupt(format!("package {pid} has status {status:?}"))
            })?,
            name,
            version,
            rollback: rollback.is_set(),
            diff_url,
            stime: optional_time(stime.as_deref(), &format_args!("package {pid}"))?.map(from_db),
            ftime: optional_time(ftime.as_deref(), &format_args!("package {pid}"))?.map(from_db),
            duration,
        })
    }
}

/// A boolean as the JSON of either backend writes it: `true`/`false` on PostgreSQL, `1`/`0` on
/// SQLite, which stores booleans as integers. Read by a visitor of its own: serde's untagged
/// enums buffer every value first, which was 1 to 1.6 % of a by-id read on SQLite.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Flag, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a boolean, or an integer for one")
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Flag, E> {
                Ok(Flag(value))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Flag, E> {
                Ok(Flag(value != 0))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Flag, E> {
                Ok(Flag(value != 0))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Flag {
    fn is_set(&self) -> bool {
        self.0
    }
}

/// `text` parsed as JSON of type `T`; SQL NULL (no related rows) is `T`'s default.
fn json<'a, T: Deserialize<'a> + Default>(
    text: Option<&'a str>,
    release: &str,
    what: &str,
) -> StorageResult<T> {
    match text {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StorageError::Corrupt(format!("release {release} {what}: {e}"))),
    }
}

/// A stored time read back from JSON; `owner` names what holds it, for the error.
fn stored_time(text: &str, owner: &dyn std::fmt::Display) -> StorageResult<PrimitiveDateTime> {
    parse_stored_time(text)
        .ok_or_else(|| StorageError::Corrupt(format!("{owner} has the time {text:?}")))
}

fn optional_time(
    text: Option<&str>,
    owner: &dyn std::fmt::Display,
) -> StorageResult<Option<PrimitiveDateTime>> {
    text.map(|t| stored_time(t, owner)).transpose()
}

/// `items` in the order of their keys (`key` may fail on a malformed stored time).
fn in_order<T, K: Ord>(
    items: Vec<T>,
    key: impl Fn(&T) -> StorageResult<K>,
) -> StorageResult<Vec<T>> {
    let mut keyed = items
        .into_iter()
        .map(|item| Ok((key(&item)?, item)))
        .collect::<StorageResult<Vec<(K, T)>>>()?;
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, item)| item).collect())
}

impl WholeRow {
    pub(crate) fn into_release(self) -> StorageResult<Release> {
        let row = self.release;
        let id = row.id.as_str();
        let release_id = parse_uuid(id)?;
        let platforms: Vec<(i64, String)> = json(self.platforms.as_deref(), id, "platforms")?;
        let platforms = in_order(platforms, |(ordinal, platform)| {
            Ok((*ordinal, platform.clone()))
        })?;
        let notes: Vec<(String, i64, String)> = json(self.notes.as_deref(), id, "notes")?;
        let notes = in_order(notes, |(at, ordinal, _)| {
            Ok((stored_time(at, &format_args!("release {id}"))?, *ordinal))
        })?;
        let metadata: Metadata = json(self.metadata.as_deref(), id, "metadata")?;
        let cells: Vec<PackageCells<'_>> = json(self.packages.as_deref(), id, "packages")?;
        let cells = in_order(cells, |cells| {
            Ok((
                stored_time(&cells.0, &format_args!("release {id}"))?,
                cells.1,
            ))
        })?;
        let packages = cells
            .into_iter()
            .map(|cells| cells.into_package(release_id))
            .collect::<StorageResult<Vec<Package>>>()?;
        let references: Vec<String> = serde_json::from_str(&row.refs).map_err(|_| {
            StorageError::Corrupt(format!("release {id} has references {:?}", row.refs))
        })?;
        Ok(Release {
            id: release_id,
            platforms: platforms.into_iter().map(|(_, p)| p).collect(),
            notes: notes.into_iter().map(|(_, _, body)| body).collect(),
            metadata,
            packages,
            references,
            stime: from_db(row.stime),
            ftime: row.ftime.map(from_db),
            duration: row.duration_secs,
            recorded_by: row.recorded_by,
            user: row.user_name,
            team: row.team,
        })
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use shiplog_domain::{NewPackage, NewRelease, PackageStatus};
    use time::OffsetDateTime;

    use super::{
        by_id_with_summary, by_ids, Flag, WholeRow, WholeWithRevision, WholeWithRevisionSql,
        WholeWithSummary, WholeWithSummarySql,
    };
    use crate::sql::ByPosition;
    use crate::testing::TestDb;

    /// A release with every column and every related table filled, some of it NULL.
    fn everything() -> NewRelease {
        let mut release = NewRelease::new(
            "ana",
            vec!["site1".to_owned(), "site0".to_owned()],
            OffsetDateTime::now_utc(),
        )
        .expect("release");
        release.team = Some("team \"q\"".to_owned());
        release.references = vec!["T-1".to_owned(), "T-2".to_owned()];
        release.notes = vec!["first".to_owned(), "second".to_owned()];
        release.metadata.insert("k".to_owned(), "v".to_owned());
        release.ftime = Some(release.stime);
        release.recorded_by = Some("admin".to_owned());
        let mut failed = NewPackage::new("pkg2", "2.0");
        failed.status = PackageStatus::Failed;
        failed.rollback = true;
        failed.diff_url = Some("https://example.com/d".to_owned());
        failed.stime = Some(release.stime);
        release.packages = vec![NewPackage::new("pkg1", "1.0"), failed];
        release
    }

    /// Read by position (as the ledger reads), a whole row holds what it holds read by name:
    /// the select lists keep the columns in `WholeSql`'s order, on both backends, for the
    /// lookups by id (with the summary or the revision).
    #[test]
    fn a_whole_row_reads_the_same_by_position_as_by_name() {
        for db in TestDb::all() {
            let store = db.store();
            let id = store.insert_release(&everything()).expect("insert");
            let bare = store
                .insert_release(&NewRelease::new("bo", vec![], OffsetDateTime::now_utc()).unwrap())
                .expect("insert a bare release");
            let mut conn = store.conn().expect("connection");
            let backend = db.backend();
            let read = |rows: Vec<WholeRow>| -> Vec<_> {
                rows.into_iter()
                    .map(|row| row.into_release().expect("release"))
                    .collect()
            };
            let ids = [id.to_string(), bare.to_string()];
            let by_name: Vec<WholeWithRevision> =
                by_ids(backend, &ids).load(&mut *conn).expect("by name");
            let by_position: Vec<WholeWithRevision> =
                ByPosition::<_, WholeWithRevisionSql>::new(by_ids(backend, &ids))
                    .load(&mut *conn)
                    .expect("by position");
            let revisions = |rows: &[WholeWithRevision]| -> Vec<i64> {
                rows.iter().map(|row| row.revision).collect()
            };
            assert_eq!(revisions(&by_position), revisions(&by_name));
            let whole = |rows: Vec<WholeWithRevision>| -> Vec<WholeRow> {
                rows.into_iter().map(|row| row.whole).collect()
            };
            let (mut by_name, mut by_position) = (read(whole(by_name)), read(whole(by_position)));
            by_name.sort_by_key(|release| release.id != id);
            by_position.sort_by_key(|release| release.id != id);
            assert_eq!(by_name.len(), 2);
            assert_eq!(by_name[0].packages.len(), 2);
            assert_eq!(by_position, by_name, "{backend:?}");
            let by_name = &by_name[..1];
            let summary: Vec<WholeWithSummary> = ByPosition::<_, WholeWithSummarySql>::new(
                by_id_with_summary(backend, &id.to_string()),
            )
            .load(&mut *conn)
            .expect("with summary");
            let [summary] = <[WholeWithSummary; 1]>::try_from(summary)
                .ok()
                .expect("one row");
            assert_eq!(
                (summary.stored_status.as_deref(), summary.stored_rollback),
                (Some("FAILED"), true),
                "{backend:?}"
            );
            assert!(summary.revision >= 0);
            assert_eq!(read(vec![summary.whole]), by_name, "{backend:?}");
        }
    }

    /// The cells read without a copy when the JSON holds them plain are read all the same when
    /// it escapes them.
    #[test]
    fn package_cells_read_the_same_escaped_or_plain() {
        let release_id = shiplog_domain::ReleaseId::new();
        let plain = r#"["2026-12-07 10:00:00",0,"01a24fcc-9c08-7545-a367-26038c40ab40","pkg","1.0","FAILED",1,null,"2026-12-07 10:00:00.5","2026-12-07T10:00:01",1]"#;
        let escaped = plain
            .replace(r#""01a24fcc"#, r#""\u00301a24fcc"#)
            .replace(r#""FAILED""#, r#""\u0046AILED""#)
            .replace(
                r#""2026-12-07 10:00:00.5""#,
                r#""\u0032026-12-07 10:00:00.5""#,
            )
            .replace(r#""2026-12-07T10"#, r#""2026-12-07\u005410"#);
        assert_ne!(plain, escaped);
        let read = |text: &str| {
            serde_json::from_str::<super::PackageCells<'_>>(text)
                .expect(text)
                .into_package(release_id)
                .expect(text)
        };
        let package = read(plain);
        assert_eq!(package.status, PackageStatus::Failed);
        assert!(package.rollback);
        assert!(package.stime.is_some() && package.ftime.is_some());
        assert_eq!(read(&escaped), package);
    }

    #[test]
    fn flags_read_as_either_backend_writes_them() {
        for (json, set) in [
            ("true", true),
            ("false", false),
            ("1", true),
            ("0", false),
            ("-1", true),
        ] {
            let flag: Flag = serde_json::from_str(json).expect(json);
            assert_eq!(flag.is_set(), set, "{json}");
        }
        for bad in ["\"1\"", "null", "1.5", "[]"] {
            assert!(serde_json::from_str::<Flag>(bad).is_err(), "{bad}");
        }
    }
}
