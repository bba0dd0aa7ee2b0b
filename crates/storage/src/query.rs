//! What a listing asks for: filters over releases and packages, and the page to return.
//!
//! These are plain values built by the HTTP faces from their query strings; the ledger module
//! turns them into SQL. Every filter combines with the others by AND.

use shiplog_domain::{PackageId, PackageStatus, ReleaseId};
use time::OffsetDateTime;

/// Bounds on a time column. All comparisons are strict, as Orlo's are; `exact` matches the whole
/// second it names when it has no fraction, so `stime=2015-12-17T17:02:04Z` finds a release that
/// started at 17:02:04.3.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeRange {
    pub exact: Option<OffsetDateTime>,
    pub before: Option<OffsetDateTime>,
    pub after: Option<OffsetDateTime>,
    /// Inclusive lower bound (the statistics' `stime`).
    pub not_before: Option<OffsetDateTime>,
    /// Inclusive upper bound (the statistics' `ftime`).
    pub not_after: Option<OffsetDateTime>,
    /// `Some(true)`: only rows where the time is unset; `Some(false)`: only rows where it is set.
    pub is_null: Option<bool>,
}

impl TimeRange {
    pub fn is_empty(&self) -> bool {
        self == &TimeRange::default()
    }
}

/// Strict bounds on a whole-seconds column (durations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntRange {
    pub exact: Option<i64>,
    pub lt: Option<i64>,
    pub gt: Option<i64>,
}

impl IntRange {
    pub fn is_empty(&self) -> bool {
        self == &IntRange::default()
    }
}

/// Filters on package columns. In a release filter they all apply to the *same* package row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageFilter {
    pub id: Option<PackageId>,
    pub release_id: Option<ReleaseId>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub status: Option<PackageStatus>,
    pub rollback: Option<bool>,
    /// `Some(None)` asks for packages with no diff URL.
    pub diff_url: Option<Option<String>>,
    pub stime: TimeRange,
    pub ftime: TimeRange,
    pub duration: IntRange,
}

impl PackageFilter {
    pub fn is_empty(&self) -> bool {
        self == &PackageFilter::default()
    }
}

/// Filters on releases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReleaseFilter {
    pub id: Option<ReleaseId>,
    pub user: Option<String>,
    /// `Some(None)` asks for releases with no team.
    pub team: Option<Option<String>>,
    /// The release went to this platform (among others).
    pub platform: Option<String>,
    /// A substring of one of the release's references.
    pub reference: Option<String>,
    pub stime: TimeRange,
    pub ftime: TimeRange,
    pub duration: IntRange,
    /// The derived release status (see `shiplog_domain::ReleaseStatus`).
    pub status: Option<PackageStatus>,
    /// The release has a package matching all of these. With `rollback: Some(false)` the release
    /// must also have no rollback package at all (Orlo's reading of `package_rollback=false`).
    pub package: PackageFilter,
}

/// Which slice of a listing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// `None`: no limit.
    pub limit: Option<i64>,
    pub offset: i64,
    /// Oldest first instead of newest first.
    pub ascending: bool,
}

impl Page {
    /// The list's total when this page, holding `shown` items, tells it without counting: a
    /// page shorter than its limit (or an unlimited one) ends the list. A full page, or an
    /// empty one after an offset (past the end, or not), says nothing: the list is counted.
    pub fn total_after(&self, shown: usize) -> Option<i64> {
        let shown = i64::try_from(shown).unwrap_or(i64::MAX);
        match self.limit {
            Some(limit) if shown >= limit => None,
            _ if shown == 0 && self.offset > 0 => None,
            _ => Some(self.offset.saturating_add(shown)),
        }
    }
}

impl Default for Page {
    /// Orlo's default: the newest 100.
    fn default() -> Self {
        Page {
            limit: Some(100),
            offset: 0,
            ascending: false,
        }
    }
}

/// What release statistics are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsSubject {
    User,
    Team,
    Platform,
    /// Package name; a release counts once per package name it contains, under the release's
    /// own status.
    Package,
}

/// Releases counted by outcome: successful (every package succeeded) or failed (any package
/// failed), split by whether the release contains a rollback. Releases still in progress or not
/// started are counted nowhere, as in Orlo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleaseCounts {
    pub normal_successful: i64,
    pub normal_failed: i64,
    pub rollback_successful: i64,
    pub rollback_failed: i64,
}

/// The calendar unit of a by-date breakdown; each bucket is keyed by a path of integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateUnit {
    /// `[year]`
    Year,
    /// `[year, month]`
    Month,
    /// `[ISO year, ISO week]`
    Week,
    /// `[year, month, day]`
    Day,
    /// `[year, month, day, hour]`
    Hour,
    /// `[ISO year, ISO week, ISO weekday]`
    Iso,
}

impl DateUnit {
    /// Parses Orlo's unit names.
    pub fn parse(name: &str) -> Option<DateUnit> {
        Some(match name {
            "year" => DateUnit::Year,
            "month" => DateUnit::Month,
            "week" => DateUnit::Week,
            "day" => DateUnit::Day,
            "hour" => DateUnit::Hour,
            "iso" => DateUnit::Iso,
            _ => return None,
        })
    }

    /// How many integers key a bucket.
    pub fn depth(self) -> usize {
        match self {
            DateUnit::Year => 1,
            DateUnit::Month | DateUnit::Week => 2,
            DateUnit::Day | DateUnit::Iso => 3,
            DateUnit::Hour => 4,
        }
    }
}

/// One bucket of a by-date breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateBucket {
    /// The date path (`depth()` integers, see [`DateUnit`]).
    pub path: Vec<i64>,
    /// The package name, for the package breakdown.
    pub package: Option<String>,
    pub rollback: bool,
    pub successful: i64,
    pub failed: i64,
}

#[cfg(test)]
mod tests {
    use super::Page;

    fn page(limit: Option<i64>, offset: i64) -> Page {
        Page {
            limit,
            offset,
            ascending: false,
        }
    }

    #[test]
    fn a_page_tells_its_total_only_when_it_ends_the_list() {
        // Shorter than its limit: the list ends here.
        assert_eq!(page(Some(10), 0).total_after(3), Some(3));
        assert_eq!(page(Some(10), 20).total_after(3), Some(23));
        assert_eq!(page(None, 5).total_after(7), Some(12));
        // Nothing at all from the start: an empty list.
        assert_eq!(page(Some(10), 0).total_after(0), Some(0));
        assert_eq!(page(None, 0).total_after(0), Some(0));
        // A full page, a page of none asked for, or nothing after an offset: count.
        assert_eq!(page(Some(10), 0).total_after(10), None);
        assert_eq!(page(Some(0), 0).total_after(0), None);
        assert_eq!(page(Some(10), 30).total_after(0), None);
        assert_eq!(page(None, 30).total_after(0), None);
    }
}
