//! Row shapes and their conversion to and from domain types. Private to the storage crate.
//!
//! Every `Insertable` row in the crate says `treat_none_as_default_value = false`. By default
//! diesel writes each field as "this value, or DEFAULT when `None`", and on PostgreSQL it then
//! refuses to keep the INSERT prepared, even for rows with no optional field: the server
//! parsed and planned it again on every write. None of these columns has a default other than
//! NULL, so `None` means the same either way.

use diesel::prelude::*;
use shiplog_domain::{timestamp, NewPackage, Package, PackageStatus};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::releases::ordinal_i32;
use crate::error::{StorageError, StorageResult};
use crate::schema::{packages, release_metadata, release_notes, release_platforms, releases};
use crate::stored_time::{MaybeStoredTime, StoredTime, WriteTime};

/// A UTC instant as stored: a `TIMESTAMP` without zone, truncated to microseconds.
pub(crate) fn to_db(ts: OffsetDateTime) -> PrimitiveDateTime {
    let ts = timestamp::to_storage_precision(ts);
    PrimitiveDateTime::new(ts.date(), ts.time())
}

pub(crate) fn from_db(ts: PrimitiveDateTime) -> OffsetDateTime {
    ts.assume_utc()
}

pub(crate) fn parse_uuid<T: std::str::FromStr>(text: &str) -> StorageResult<T> {
    text.parse()
        .map_err(|_| StorageError::Corrupt(format!("stored id {text:?} is not a UUID")))
}

/// The SQL types of a [`ReleaseRow`] read by position (`filter::RELEASE_COLUMNS`).
pub(crate) type ReleaseSql = (
    diesel::sql_types::Text,
    diesel::sql_types::Text,
    diesel::sql_types::Nullable<diesel::sql_types::Text>,
    diesel::sql_types::Text,
    diesel::sql_types::Timestamp,
    diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
    diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
    diesel::sql_types::Nullable<diesel::sql_types::Text>,
);

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = releases)]
pub(crate) struct ReleaseRow {
    pub id: String,
    pub user_name: String,
    pub team: Option<String>,
    pub refs: String,
    #[diesel(deserialize_as = StoredTime)]
    pub stime: PrimitiveDateTime,
    #[diesel(deserialize_as = MaybeStoredTime)]
    pub ftime: Option<PrimitiveDateTime>,
    pub duration_secs: Option<i64>,
    pub recorded_by: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = releases, treat_none_as_default_value = false)]
pub(crate) struct NewReleaseRow<'a> {
    pub id: String,
    pub user_name: &'a str,
    pub team: Option<&'a str>,
    pub refs: String,
    pub stime: WriteTime,
    pub ftime: Option<WriteTime>,
    pub duration_secs: Option<i64>,
    pub status: Option<&'static str>,
    pub has_rollback: bool,
    pub recorded_by: Option<&'a str>,
    pub callback: Option<&'a str>,
    /// Where the release's revision starts (`cache::first_revision`).
    pub revision: i64,
}

/// A release's id with one keyed text of its (a metadata entry; a platform or a package name
/// with an empty key), from a query over one of its related tables.
#[derive(QueryableByName)]
pub(crate) struct ReleaseEntry {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub release_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub value: String,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = packages)]
pub(crate) struct PackageRow {
    pub id: String,
    pub release_id: String,
    pub name: String,
    pub version: String,
    pub status: String,
    pub rollback: bool,
    pub diff_url: Option<String>,
    #[diesel(deserialize_as = MaybeStoredTime)]
    pub stime: Option<PrimitiveDateTime>,
    #[diesel(deserialize_as = MaybeStoredTime)]
    pub ftime: Option<PrimitiveDateTime>,
    pub duration_secs: Option<i64>,
}

impl PackageRow {
    pub fn into_domain(self) -> StorageResult<Package> {
        let status: PackageStatus = self.status.parse().map_err(|_| {
            StorageError::Corrupt(format!("package {} has status {:?}", self.id, self.status))
        })?;
        Ok(Package {
            id: parse_uuid(&self.id)?,
            release_id: parse_uuid(&self.release_id)?,
            name: self.name,
            version: self.version,
            status,
            rollback: self.rollback,
            diff_url: self.diff_url,
            stime: self.stime.map(from_db),
            ftime: self.ftime.map(from_db),
            duration: self.duration_secs,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = packages, treat_none_as_default_value = false)]
pub(crate) struct NewPackageRow<'a> {
    pub id: String,
    pub release_id: &'a str,
    pub created_at: WriteTime,
    pub ordinal: i32,
    pub name: &'a str,
    pub version: &'a str,
    pub status: &'static str,
    pub rollback: bool,
    pub diff_url: Option<&'a str>,
    pub stime: Option<WriteTime>,
    pub ftime: Option<WriteTime>,
    pub duration_secs: Option<i64>,
}

impl<'a> NewPackageRow<'a> {
    /// The row of `package`, the `ordinal`-th (from 0) of release `release_id`, recorded at
    /// `created_at`.
    pub fn of(
        package: &'a NewPackage,
        release_id: &'a str,
        created_at: PrimitiveDateTime,
        ordinal: usize,
    ) -> NewPackageRow<'a> {
        NewPackageRow {
            id: package.id.to_string(),
            release_id,
            created_at: WriteTime(created_at),
            ordinal: ordinal_i32(ordinal),
            name: &package.name,
            version: &package.version,
            status: package.status.as_str(),
            rollback: package.rollback,
            diff_url: package.diff_url.as_deref(),
            stime: package.stime.map(|at| WriteTime(to_db(at))),
            ftime: package.ftime.map(|at| WriteTime(to_db(at))),
            duration_secs: package.duration(),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = release_platforms, treat_none_as_default_value = false)]
pub(crate) struct PlatformRow<'a> {
    pub release_id: &'a str,
    pub platform: &'a str,
    pub ordinal: i32,
}

#[derive(Insertable)]
#[diesel(table_name = release_notes, treat_none_as_default_value = false)]
pub(crate) struct NoteRow<'a> {
    pub id: String,
    pub release_id: &'a str,
    pub created_at: WriteTime,
    pub ordinal: i32,
    pub body: &'a str,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = release_metadata, treat_none_as_default_value = false)]
pub(crate) struct MetadataRow<'a> {
    pub release_id: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}
