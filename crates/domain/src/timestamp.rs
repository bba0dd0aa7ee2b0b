//! Timestamps as the ledger accepts and prints them.
//!
//! Accepted (everything Orlo's `arrow.get()` took in practice): ISO 8601 / RFC 3339 with `Z` or a
//! `±HH:MM`, `±HHMM` or `±HH` offset; the same without a zone (read as UTC); a space instead of
//! the `T`; optional seconds and fractional seconds; a bare date (midnight UTC); and unix seconds,
//! integer or fractional, as a JSON number or as a string. Everything is kept in UTC.
//!
//! Printed as Orlo prints them: `2015-12-17T17:02:04Z`, truncated to whole seconds.

use serde_json::Value;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::error::DomainError;

/// Parses a timestamp in any accepted form (see the module docs).
pub fn parse(input: &str) -> Result<OffsetDateTime, DomainError> {
    let s = input.trim();
    let bad = || DomainError::InvalidTimestamp(input.to_owned());
    if looks_numeric(s) {
        return parse_unix_seconds(s).ok_or_else(bad);
    }
    parse_iso(s).ok_or_else(bad)
}

/// Reads an optional timestamp from JSON: `null` is `None`, a number is unix seconds, a string is
/// parsed with [`parse`]. Any other JSON type is refused.
pub fn from_json(value: &Value) -> Result<Option<OffsetDateTime>, DomainError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => parse_unix_seconds(&n.to_string())
            .map(Some)
            .ok_or_else(|| DomainError::InvalidTimestamp(n.to_string())),
        Value::String(s) => parse(s).map(Some),
        other => Err(DomainError::InvalidTimestamp(other.to_string())),
    }
}

/// Orlo's output form, `%Y-%m-%dT%H:%M:%SZ` in UTC, truncated to whole seconds.
pub fn format(ts: OffsetDateTime) -> String {
    Seconds(ts).to_string()
}

/// An instant that displays in Orlo's output form (see [`format()`]), for writing it into a
/// response without a `String` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub OffsetDateTime);

impl Seconds {
    /// The text, in a fixed buffer: `None` for a year outside 0–9999, which the fixed layout
    /// cannot hold. Serialisers take it as a `&str` without a `String` of its own.
    pub fn utc_text(self) -> Option<SecondsText> {
        let ts = self.0.to_offset(UtcOffset::UTC);
        let year = u16::try_from(ts.year()).ok().filter(|y| *y <= 9999)?;
        // Digits into a fixed buffer: a page of releases writes hundreds of these, and
        // `write!` with padding goes through the formatter's generic machinery for each field
        // (5 % of a page's CPU in the 2026-12-06 profile).
        let mut out = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut n: u16| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, u16::from(u8::from(ts.month())));
        put(8, 2, u16::from(ts.day()));
        put(11, 2, u16::from(ts.hour()));
        put(14, 2, u16::from(ts.minute()));
        put(17, 2, u16::from(ts.second()));
        Some(SecondsText(out))
    }
}

/// [`Seconds`] as text in a fixed buffer (see [`Seconds::utc_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondsText([u8; 20]);

impl SecondsText {
    /// The text, e.g. `2015-12-17T17:02:04Z`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or("0000-00-00T00:00:00Z")
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.utc_text() {
            Some(text) => f.write_str(text.as_str()),
            None => write_padded(f, self.0.to_offset(UtcOffset::UTC)),
        }
    }
}

/// Serialises `ts` in Orlo's form ([`format()`]), from a fixed buffer when it fits one.
pub fn serialize_seconds<S: serde::Serializer>(
    ts: OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match Seconds(ts).utc_text() {
        Some(text) => serializer.serialize_str(text.as_str()),
        None => serializer.serialize_str(&format(ts)),
    }
}

/// [`Seconds`] for a year outside 0–9999, which the fixed layout cannot hold.
fn write_padded(f: &mut std::fmt::Formatter<'_>, ts: OffsetDateTime) -> std::fmt::Result {
    write!(
        f,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    )
}

/// The same instant in UTC, truncated to microseconds: what both databases can store exactly.
pub fn to_storage_precision(ts: OffsetDateTime) -> OffsetDateTime {
    let ts = ts.to_offset(UtcOffset::UTC);
    let micros = ts.nanosecond() / 1_000 * 1_000;
    ts.replace_nanosecond(micros).unwrap_or(ts)
}

/// Whole seconds from `start` to `end` (negative if `end` is earlier).
pub fn seconds_between(start: OffsetDateTime, end: OffsetDateTime) -> i64 {
    (end - start).whole_seconds()
}

/// Unix seconds written in decimal, kept exact: `1450371724.25` is a quarter second past, not
/// the nearest binary fraction. Exponent forms (`1.4e9`, as JSON may write large floats) go
/// through `f64`.
fn parse_unix_seconds(s: &str) -> Option<OffsetDateTime> {
    if s.contains(['e', 'E']) {
        let seconds: f64 = s.parse().ok()?;
        if !seconds.is_finite() || seconds.abs() > 1e15 {
            return None;
        }
        return OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9).round() as i128).ok();
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos: i128 = 0;
    for (i, d) in fraction.bytes().take(9).enumerate() {
        nanos += i128::from(d - b'0') * 10_i128.pow(8 - i as u32);
    }
    let total = whole.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    OffsetDateTime::from_unix_timestamp_nanos(if negative { -total } else { total }).ok()
}

fn looks_numeric(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit())
}

/// A tiny cursor over ASCII input.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self, count: usize) -> Option<u32> {
        let slice = self.bytes.get(self.pos..self.pos + count)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += count;
        Some(
            slice
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4)?;
    let (month, day) = if c.eat(b'-') {
        let month = c.digits(2)?;
        c.eat(b'-').then_some(())?;
        (month, c.digits(2)?)
    } else {
        (c.digits(2)?, c.digits(2)?)
    };
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    if c.done() {
        return Some(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc());
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let hour = c.digits(2)?;
    c.eat(b':').then_some(())?;
    let minute = c.digits(2)?;
    let mut second = 0;
    let mut nanos = 0;
    if c.eat(b':') {
        second = c.digits(2)?;
        if c.eat(b'.') || c.eat(b',') {
            let start = c.pos;
            let mut scale = 100_000_000;
            while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                nanos += u32::from(d - b'0') * scale;
                scale /= 10;
                c.pos += 1;
            }
            if c.pos == start {
                return None;
            }
        }
    }
    let time = Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    c.eat(b' ');
    let offset = parse_offset(&mut c)?;
    c.done().then(|| {
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(UtcOffset::UTC)
    })
}

fn parse_offset(c: &mut Cursor<'_>) -> Option<UtcOffset> {
    if c.done() || c.eat(b'Z') || c.eat(b'z') {
        return Some(UtcOffset::UTC);
    }
    let sign: i8 = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let hours = i8::try_from(c.digits(2)?).ok()?;
    let minutes = if c.done() {
        0
    } else {
        c.eat(b':');
        i8::try_from(c.digits(2)?).ok()?
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// Bileto's output form, `%Y-%m-%dT%H:%M:%S.%f` in UTC with no zone, always with microseconds.
pub fn format_micros(ts: OffsetDateTime) -> String {
    let ts = ts.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
        ts.microsecond()
    )
}

/// Reads a timestamp field in any accepted form, for serde.
fn deserialize_any<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    let value = <Value as serde::Deserialize>::deserialize(deserializer)?;
    from_json(&value).map_err(serde::de::Error::custom)
}

/// Serde for a timestamp written in Orlo's form ([`format()`]) and read in any accepted form
/// ([`from_json`]): `#[serde(with = "shiplog_domain::timestamp::orlo")]`.
pub mod orlo {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes `2015-12-17T17:02:04Z`.
    pub fn serialize<S: Serializer>(ts: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize_seconds(*ts, serializer)
    }

    /// Reads any accepted form; `null` is refused.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        super::deserialize_any(deserializer)?
            .ok_or_else(|| serde::de::Error::custom("a timestamp is required"))
    }

    /// The same for an optional timestamp: `None` is `null`.
    pub mod option {
        use serde::{Deserializer, Serializer};
        use time::OffsetDateTime;

        /// Writes `2015-12-17T17:02:04Z` or `null`.
        pub fn serialize<S: Serializer>(
            ts: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => super::super::serialize_seconds(*ts, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads any accepted form, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            super::super::deserialize_any(deserializer)
        }
    }
}

/// Serde for a timestamp written in Bileto's form ([`format_micros`]) and read in any accepted
/// form: `#[serde(with = "shiplog_domain::timestamp::bileto")]`.
pub mod bileto {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes `2015-07-01T13:11:58.852196`.
    pub fn serialize<S: Serializer>(ts: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_micros(*ts))
    }

    /// Reads any accepted form (a date without a zone is UTC); `null` is refused.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        super::deserialize_any(deserializer)?
            .ok_or_else(|| serde::de::Error::custom("a timestamp is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const REFERENCE: OffsetDateTime = datetime!(2015-12-17 17:02:04 UTC);

    /// The fixed-buffer rendering writes what the padded `write!` form writes, across the
    /// years, in any offset, and for years the buffer cannot hold.
    #[test]
    fn seconds_display_matches_the_padded_form() {
        struct Padded(OffsetDateTime);
        impl std::fmt::Display for Padded {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write_padded(f, self.0.to_offset(UtcOffset::UTC))
            }
        }
        let offset = UtcOffset::from_hms(5, 30, 0).unwrap();
        let mut at = datetime!(-0002-01-01 00:00:00 UTC);
        while let Some(next) = at.checked_add(time::Duration::seconds(7_777_777)) {
            for ts in [at, at.to_offset(offset)] {
                assert_eq!(Seconds(ts).to_string(), Padded(ts).to_string());
            }
            at = next;
        }
        assert_eq!(
            Seconds(datetime!(2015-12-17 17:02:04.999 UTC)).to_string(),
            "2015-12-17T17:02:04Z"
        );
        assert_eq!(
            Seconds(datetime!(9999-12-31 22:59:59 -01:00)).to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Seconds(datetime!(-0001-06-01 00:00:00 UTC)).to_string(),
            Padded(datetime!(-0001-06-01 00:00:00 UTC)).to_string()
        );
    }

    #[test]
    fn accepts_every_form_orlo_accepts() {
        for form in [
            "2015-12-17T17:02:04Z",
            "2015-12-17T17:02:04z",
            "2015-12-17T17:02:04",
            "2015-12-17 17:02:04",
            "2015-12-17T18:02:04+01:00",
            "2015-12-17T18:02:04+0100",
            "2015-12-17T18:02:04+01",
            "2015-12-17T16:02:04-01:00",
            "2015-12-17T17:02:04.000Z",
            "20151217T17:02:04Z",
            "  2015-12-17T17:02:04Z  ",
            "1450371724",
            "1450371724.0",
        ] {
            assert_eq!(parse(form), Ok(REFERENCE), "{form}");
        }
    }

    #[test]
    fn keeps_fractions_and_reads_bare_dates_and_minutes() {
        assert_eq!(
            parse("2015-12-17T17:02:04.5Z"),
            Ok(datetime!(2015-12-17 17:02:04.5 UTC))
        );
        assert_eq!(
            parse("2015-12-17T17:02:04.123456789"),
            Ok(datetime!(2015-12-17 17:02:04.123456789 UTC))
        );
        assert_eq!(parse("2015-12-17"), Ok(datetime!(2015-12-17 0:00 UTC)));
        assert_eq!(
            parse("2015-12-17T17:02"),
            Ok(datetime!(2015-12-17 17:02 UTC))
        );
        assert_eq!(
            parse("1450371724.25"),
            Ok(datetime!(2015-12-17 17:02:04.25 UTC))
        );
        assert_eq!(parse("0"), Ok(OffsetDateTime::UNIX_EPOCH));
    }

    #[test]
    fn refuses_garbage_and_impossible_dates() {
        for bad in [
            "",
            "yesterday",
            "2015-13-01",
            "2015-02-30",
            "2015-12-17T25:00:00",
            "2015-12-17T17:02:60",
            "2015-12-17T17:02:04+25:00",
            "2015-12-17T17:02:04Q",
            "2015-12-17X17:02:04",
            "2015-12-17T17:02:04.",
            "1.2.3",
            "-",
            ".",
            "99999999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            parse("soon").expect_err("refused").to_string(),
            "A badly formatted datetime string was given: \"soon\""
        );
    }

    #[test]
    fn reads_json_numbers_strings_and_null() {
        assert_eq!(from_json(&Value::Null), Ok(None));
        assert_eq!(
            from_json(&serde_json::json!(1450371724)),
            Ok(Some(REFERENCE))
        );
        assert_eq!(
            from_json(&serde_json::json!(1450371724.0)),
            Ok(Some(REFERENCE))
        );
        assert_eq!(
            from_json(&serde_json::json!("2015-12-17T17:02:04Z")),
            Ok(Some(REFERENCE))
        );
        assert_eq!(
            from_json(&serde_json::json!("1450371724")),
            Ok(Some(REFERENCE))
        );
        assert!(from_json(&serde_json::json!(true)).is_err());
        assert!(from_json(&serde_json::json!([1])).is_err());
        assert!(from_json(&serde_json::json!(1e300)).is_err());
    }

    /// Serialised with `orlo` (from a fixed buffer, or for a year outside 0–9999 through
    /// `format`), a time reads as `format` writes it.
    #[test]
    fn serialises_as_it_formats() {
        #[derive(serde::Serialize)]
        struct At(#[serde(with = "orlo")] OffsetDateTime);
        for ts in [
            datetime!(2015-12-17 17:02:04.999 UTC),
            datetime!(2015-12-17 18:02:04 +1),
            datetime!(0000-01-01 00:00:00 UTC),
            datetime!(9999-12-31 23:59:59 UTC),
            datetime!(-0001-06-01 12:00:00 UTC),
        ] {
            let json = serde_json::to_string(&At(ts)).expect("serialises");
            assert_eq!(json, format!("\"{}\"", format(ts)), "{ts}");
        }
    }

    #[test]
    fn formats_whole_seconds_in_utc() {
        assert_eq!(
            format(datetime!(2015-12-17 17:02:04.999 UTC)),
            "2015-12-17T17:02:04Z"
        );
        assert_eq!(
            format(datetime!(2015-12-17 18:02:04 +1)),
            "2015-12-17T17:02:04Z"
        );
    }

    #[test]
    fn storage_precision_is_microseconds() {
        let ts = datetime!(2015-12-17 17:02:04.123456789 +2);
        assert_eq!(
            to_storage_precision(ts),
            datetime!(2015-12-17 15:02:04.123456 UTC)
        );
    }

    #[test]
    fn durations_are_whole_seconds_and_keep_days() {
        let start = REFERENCE;
        assert_eq!(
            seconds_between(start, start + time::Duration::hours(25)),
            90_000
        );
        assert_eq!(
            seconds_between(start, start + time::Duration::milliseconds(1_999)),
            1
        );
    }
}
