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

/// A UTC instant as stored: a `TIMESTAMP` without zone, truncated to microseconds.
pub(crate) fn to_db(ts: OffsetDateTime) -> PrimitiveDateTime {
    let ts = timestamp::to_storage_precision(ts);
    PrimitiveDateTime::new(ts.date(), ts.time())
}

pub(crate) fn from_db(ts: PrimitiveDateTime) -> OffsetDateTime {
    ts.assume_utc()
}

/// A time as the database renders it in text: `YYYY-MM-DD HH:MM:SS` with an optional fraction
/// of one to nine digits, and `T` for the space (PostgreSQL's JSON writes it so; diesel stores
/// SQLite's with a space). `None` for anything else.
pub(crate) fn parse_stored_time(text: &str) -> Option<PrimitiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nanosecond = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let n = number(20, b.len())?;
            n * 10u32.pow(u32::try_from(9 - digits.len()).ok()?)
        }
        _ => return None,
    };
    let month = time::Month::try_from(u8::try_from(number(5, 7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(number(0, 4)?).ok()?,
        month,
        u8::try_from(number(8, 10)?).ok()?,
    )
    .ok()?;
    let time = time::Time::from_hms_nano(
        u8::try_from(number(11, 13)?).ok()?,
        u8::try_from(number(14, 16)?).ok()?,
        u8::try_from(number(17, 19)?).ok()?,
        nanosecond,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

pub(crate) fn parse_uuid<T: std::str::FromStr>(text: &str) -> StorageResult<T> {
    text.parse()
        .map_err(|_| StorageError::Corrupt(format!("stored id {text:?} is not a UUID")))
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = releases)]
pub(crate) struct ReleaseRow {
    pub id: String,
    pub user_name: String,
    pub team: Option<String>,
    pub refs: String,
    pub stime: PrimitiveDateTime,
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
    pub stime: PrimitiveDateTime,
    pub ftime: Option<PrimitiveDateTime>,
    pub duration_secs: Option<i64>,
    pub status: Option<&'static str>,
    pub has_rollback: bool,
    pub recorded_by: Option<&'a str>,
    pub callback: Option<&'a str>,
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
    pub stime: Option<PrimitiveDateTime>,
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
    pub created_at: PrimitiveDateTime,
    pub ordinal: i32,
    pub name: &'a str,
    pub version: &'a str,
    pub status: &'static str,
    pub rollback: bool,
    pub diff_url: Option<&'a str>,
    pub stime: Option<PrimitiveDateTime>,
    pub ftime: Option<PrimitiveDateTime>,
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
            created_at,
            ordinal: ordinal_i32(ordinal),
            name: &package.name,
            version: &package.version,
            status: package.status.as_str(),
            rollback: package.rollback,
            diff_url: package.diff_url.as_deref(),
            stime: package.stime.map(to_db),
            ftime: package.ftime.map(to_db),
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
    pub created_at: PrimitiveDateTime,
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::parse_stored_time;

    #[test]
    fn stored_times_parse_in_both_backends_renderings() {
        for (text, expected) in [
            ("2026-12-06 00:36:16", datetime!(2026-12-06 00:36:16)),
            ("2026-12-06T00:36:16", datetime!(2026-12-06 00:36:16)),
            ("2026-12-06 00:36:16.5", datetime!(2026-12-06 00:36:16.5)),
            (
                "2026-12-06T00:36:16.123456",
                datetime!(2026-12-06 00:36:16.123456),
            ),
            (
                "1999-01-31 23:59:59.000001",
                datetime!(1999-01-31 23:59:59.000001),
            ),
            (
                "2026-02-28 12:00:00.123456789",
                datetime!(2026-02-28 12:00:00.123456789),
            ),
        ] {
            assert_eq!(parse_stored_time(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn anything_else_is_not_a_stored_time() {
        for text in [
            "",
            "2026-12-06",
            "2026-12-06 00:36",
            "2026-12-06 00:36:16.",
            "2026-12-06 00:36:16.1234567890",
            "2026-12-06 00:36:16Z",
            "2026-12-06 00:36:16+00:00",
            "2026-13-06 00:36:16",
            "2026-02-30 00:36:16",
            "2026-12-06 24:00:00",
            "2026-12-06 00:36:1x",
            "2026/12/06 00:36:16",
            "+2026-12-06 00:36:16",
            "2026-12-06 00:36:16.-5",
        ] {
            assert_eq!(parse_stored_time(text), None, "{text:?}");
        }
    }

    /// What diesel writes for SQLite reads back through the parser, fraction or not.
    #[test]
    fn diesels_sqlite_rendering_round_trips() {
        use time::macros::format_description;
        let whole = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let fraction =
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
        for at in [
            datetime!(2026-12-06 00:36:16),
            datetime!(2026-12-06 00:36:16.1),
            datetime!(2026-12-06 00:36:16.000_120),
            datetime!(2015-12-17 17:02:04.999_999),
        ] {
            let format = if at.nanosecond() == 0 {
                whole
            } else {
                fraction
            };
            let text = at.format(format).expect("format");
            assert_eq!(parse_stored_time(&text), Some(at), "{text}");
        }
    }
}
