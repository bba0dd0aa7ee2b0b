//! Times as the database stores them, read back and written without `time`'s format
//! machinery.
//!
//! SQLite keeps a `TIMESTAMP` as text. diesel reads it by trying its format descriptions one
//! after another through `time`'s generic parser: a quarter of a microsecond a value, and a
//! page of ten releases with their packages reads some eighty of them (7 % of the page's CPU,
//! 2026-12-06 profile). [`StoredTime`] and [`MaybeStoredTime`] read the one shape diesel
//! writes with a hand-written parser and leave anything else (a time some other tool wrote, a
//! Julian day number) to diesel. PostgreSQL's binary timestamps go through diesel unchanged.
//!
//! Row structs use them as `#[diesel(deserialize_as = …)]` on their `PrimitiveDateTime` fields.
//!
//! Writing, diesel renders a time for SQLite through `time`'s formatter too: about 2,000
//! instructions a value, 7 % of an import's (eleven thousand times for a thousand releases).
//! [`WriteTime`] renders the same text by hand. PostgreSQL's binary timestamps again go
//! through diesel.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::Sqlite;
use time::PrimitiveDateTime;

use crate::connection::{MultiBackend, MultiRawValue};

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

/// `at` as diesel renders a `TIMESTAMP` for SQLite: `YYYY-MM-DD HH:MM:SS`, then, when there is
/// a fraction of a second, `.` and its digits without trailing zeros. `None` for a year outside
/// 0–9999, which diesel writes with a sign.
pub(crate) fn render_stored_time(at: PrimitiveDateTime) -> Option<String> {
    let year = u16::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    // Digits into a fixed buffer, then one `String`: `write!` with padded fields cost as much
    // as `time`'s formatter, and pushing characters one by one half as much.
    let mut out = *b"0000-00-00 00:00:00.000000000";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, u32::from(year));
    put(5, 2, u32::from(u8::from(at.month())));
    put(8, 2, u32::from(at.day()));
    put(11, 2, u32::from(at.hour()));
    put(14, 2, u32::from(at.minute()));
    put(17, 2, u32::from(at.second()));
    let mut len = 19;
    let nanos = at.nanosecond();
    if nanos != 0 {
        put(20, 9, nanos);
        // The fraction without its trailing zeros, as `time`'s `[subsecond]` writes it.
        len = 29;
        while out[len - 1] == b'0' {
            len -= 1;
        }
    }
    std::str::from_utf8(&out[..len]).ok().map(str::to_owned)
}

/// A time bound as a `TIMESTAMP` value: on SQLite rendered by [`render_stored_time`], on
/// PostgreSQL by diesel. Row structs that are written take it for their time fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression)]
#[diesel(sql_type = Timestamp)]
pub(crate) struct WriteTime(pub PrimitiveDateTime);

impl ToSql<Timestamp, Sqlite> for WriteTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match render_stored_time(self.0) {
            Some(text) => {
                out.set_value(text);
                Ok(IsNull::No)
            }
            None => <PrimitiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out),
        }
    }
}

impl ToSql<Timestamp, MultiBackend> for WriteTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        // As the `MultiConnection` derive does for diesel's own types: the connection in use
        // binds it through its backend's `ToSql` above or below.
        out.set_value((Timestamp, self));
        Ok(IsNull::No)
    }
}

impl ToSql<Timestamp, Pg> for WriteTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <PrimitiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

/// A `TIMESTAMP` column's value (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub(crate) struct StoredTime(pub PrimitiveDateTime);

/// A nullable `TIMESTAMP` column's value (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub(crate) struct MaybeStoredTime(pub Option<PrimitiveDateTime>);

fn read(value: MultiRawValue<'_>) -> deserialize::Result<PrimitiveDateTime> {
    match value {
        MultiRawValue::Sqlite(mut value) => match parse_stored_time(value.read_text()) {
            Some(at) => Ok(at),
            None => <PrimitiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value),
        },
        MultiRawValue::Postgresql(value) => {
            <PrimitiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value)
        }
    }
}

impl FromSql<Timestamp, MultiBackend> for StoredTime {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        read(value).map(StoredTime)
    }
}

impl FromSql<Nullable<Timestamp>, MultiBackend> for MaybeStoredTime {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        read(value).map(|at| MaybeStoredTime(Some(at)))
    }

    fn from_nullable_sql(value: Option<MultiRawValue<'_>>) -> deserialize::Result<Self> {
        value.map_or(Ok(MaybeStoredTime(None)), Self::from_sql)
    }
}

impl From<StoredTime> for PrimitiveDateTime {
    fn from(at: StoredTime) -> PrimitiveDateTime {
        at.0
    }
}

impl From<MaybeStoredTime> for Option<PrimitiveDateTime> {
    fn from(at: MaybeStoredTime) -> Option<PrimitiveDateTime> {
        at.0
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::Connection;
    use diesel::sqlite::SqliteConnection;
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    use time::macros::datetime;
    use time::PrimitiveDateTime;

    use super::{parse_stored_time, MaybeStoredTime, StoredTime, WriteTime};
    use crate::connection::AnyConnection;

    #[derive(QueryableByName)]
    struct Read {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        #[diesel(deserialize_as = StoredTime)]
        at: PrimitiveDateTime,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
        #[diesel(deserialize_as = MaybeStoredTime)]
        maybe: Option<PrimitiveDateTime>,
    }

    fn read_back(conn: &mut AnyConnection, stored: &str) -> Result<Read, diesel::result::Error> {
        sql_query(format!("SELECT {stored} AS at, {stored} AS maybe")).get_result(conn)
    }

    /// Through a real SQLite connection: the shape shiplog writes takes the fast path, and every
    /// other form diesel reads (an offset, `Z`, minutes only, a Julian day number) still reads
    /// as diesel reads it; NULL is `None`; a value that is no time is an error, not a panic.
    #[test]
    fn sqlite_values_read_as_diesel_reads_them() {
        let mut conn = AnyConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        for (stored, expected) in [
            ("'2026-12-06 00:36:16'", datetime!(2026-12-06 00:36:16)),
            (
                "'2026-12-06 00:36:16.000120'",
                datetime!(2026-12-06 00:36:16.00012),
            ),
            (
                "'2026-12-06 00:36:16+02:00'",
                datetime!(2026-12-06 00:36:16),
            ),
            ("'2026-12-06T00:36:16Z'", datetime!(2026-12-06 00:36:16)),
            ("'2026-12-06 00:36'", datetime!(2026-12-06 00:36:00)),
            ("2461015.5", datetime!(2025-12-06 00:00:00)),
        ] {
            let read = read_back(&mut conn, stored).expect(stored);
            assert_eq!(read.at, expected, "{stored}");
            assert_eq!(read.maybe, Some(expected), "{stored}");
        }
        let read: Read = sql_query("SELECT '2026-12-06 00:36:16' AS at, NULL AS maybe")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(read.maybe, None);
        assert!(read_back(&mut conn, "'next tuesday'").is_err());
    }

    #[derive(QueryableByName)]
    struct Rendered {
        #[diesel(sql_type = diesel::sql_types::Text)]
        diesels: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        ours: String,
    }

    /// SQLite stores a time as the text bound for it, so [`WriteTime`] must bind exactly what
    /// diesel binds for the same time: whole seconds, fractions with and without trailing
    /// zeros, the ends of the years diesel writes unsigned, and (through diesel) beyond them.
    #[test]
    fn times_are_written_as_diesel_writes_them_on_sqlite() {
        use diesel::sql_types::Timestamp;

        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        for at in [
            datetime!(2026-12-06 00:36:16),
            datetime!(2026-12-06 00:36:16.5),
            datetime!(2026-12-06 00:36:16.000120),
            datetime!(2026-12-06 00:36:16.123456),
            datetime!(2026-12-06 00:36:16.100000001),
            datetime!(2026-12-06 00:36:16.999999999),
            datetime!(0000-01-01 00:00:00.000001),
            datetime!(0001-02-03 04:05:06),
            datetime!(9999-12-31 23:59:59.99),
            datetime!(-0001-12-31 23:59:59),
        ] {
            let rendered: Rendered = sql_query("SELECT ? AS diesels, ? AS ours")
                .bind::<Timestamp, _>(at)
                .bind::<Timestamp, _>(WriteTime(at))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(rendered.ours, rendered.diesels, "{at}");
        }
    }

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
