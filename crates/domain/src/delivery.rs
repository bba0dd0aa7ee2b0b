//! Delivery metrics (the DORA figures) over a time window, computed from the window's
//! deployments: frequency and its band, change failure rate, recovery time, lead time, rework
//! rate and a per-day series.
//!
//! This module owns the definitions, so embedders and the server compute exactly the same
//! figures; storage only finds the deployments (and recoveries that happened after the window).
//!
//! - A **deployment** is a release whose `ftime` lies in the window (`from` inclusive, `to`
//!   exclusive) and whose derived status is SUCCESSFUL or FAILED. It is **failed** if its status
//!   is FAILED or any of its packages is a rollback.
//! - A failed deployment F is **recovered** by the first release S with a strictly later `ftime`
//!   that is SUCCESSFUL, has no rollback package, and shares at least one platform and one
//!   package name with F ([`Deployment::recovers`]).
//! - Percentiles are nearest-rank ([`percentile`]); times are whole seconds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use crate::error::{DomainError, DomainResult};
use crate::ids::ReleaseId;
use crate::status::PackageStatus;
use crate::ticket::TicketId;
use crate::timestamp;

/// The metadata key whose value is a deployment's commit time.
pub const COMMIT_TIME_KEY: &str = "commit_time";
/// The metadata key that marks a deployment as unplanned work.
pub const UNPLANNED_KEY: &str = "unplanned";
/// The reference prefix naming a landing ticket: `ticket:<request_id>`.
pub const TICKET_REFERENCE_PREFIX: &str = "ticket:";

/// Seconds in a day, the unit of `per_day`.
const DAY_SECONDS: i128 = 86_400;
const MICROS: i128 = 1_000_000;

/// A half-open time window `[from, to)` with `from` before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from: OffsetDateTime,
    to: OffsetDateTime,
}

impl Window {
    /// The default span of a window: the last 30 days.
    pub const DEFAULT_DAYS: i64 = 30;

    /// A window from `from` (inclusive) to `to` (exclusive); `from` must be before `to` (an
    /// empty window has no days to divide by).
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> DomainResult<Self> {
        let from = timestamp::to_storage_precision(from);
        let to = timestamp::to_storage_precision(to);
        if from >= to {
            return Err(DomainError::field("from", "must be before `to`"));
        }
        Ok(Window { from, to })
    }

    /// The window the parameters name: `to` defaults to `now`, `from` to 30 days before `to`.
    pub fn from_params(
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> DomainResult<Self> {
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::days(Self::DEFAULT_DAYS));
        Self::new(from, to)
    }

    /// The first instant in the window.
    pub fn from(&self) -> OffsetDateTime {
        self.from
    }

    /// The first instant after the window.
    pub fn to(&self) -> OffsetDateTime {
        self.to
    }

    /// Whether `at` lies in the window.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.from <= at && at < self.to
    }

    fn micros(&self) -> i128 {
        (self.to - self.from).whole_microseconds()
    }

    /// The window's length in days, a real number: `(to − from) ÷ 86,400 s`.
    pub fn days(&self) -> f64 {
        self.micros() as f64 / (DAY_SECONDS * MICROS) as f64
    }

    /// Every UTC date from the date of `from` to the date of the last instant before `to`.
    pub fn dates(&self) -> Vec<Date> {
        let last = utc_date(self.to - Duration::microseconds(1));
        let mut dates = Vec::new();
        let mut date = utc_date(self.from);
        while date <= last {
            dates.push(date);
            match date.next_day() {
                Some(next) => date = next,
                None => break,
            }
        }
        dates
    }
}

fn utc_date(at: OffsetDateTime) -> Date {
    at.to_offset(UtcOffset::UTC).date()
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// What a group of the metrics is keyed by; a release counts in each of its keys' groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The release's team (releases without one are in no group).
    Team,
    /// Each platform the release went to.
    Platform,
    /// Each package name the release contains.
    Package,
}

impl GroupBy {
    /// Parses `team`, `platform` or `package`.
    pub fn parse(name: &str) -> Option<GroupBy> {
        Some(match name {
            "team" => GroupBy::Team,
            "platform" => GroupBy::Platform,
            "package" => GroupBy::Package,
            _ => return None,
        })
    }

    /// The name as a parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Team => "team",
            GroupBy::Platform => "platform",
            GroupBy::Package => "package",
        }
    }

    /// The keys of the groups a deployment belongs to.
    pub fn keys(self, deployment: &Deployment) -> Vec<&str> {
        match self {
            GroupBy::Team => deployment.team.as_deref().into_iter().collect(),
            GroupBy::Platform => deployment.platforms.iter().map(String::as_str).collect(),
            GroupBy::Package => deployment.packages.iter().map(String::as_str).collect(),
        }
    }
}

/// One deployment: a finished release, with what the figures need of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The release.
    pub id: ReleaseId,
    /// When it started.
    pub stime: OffsetDateTime,
    /// When it finished (inside the window for a deployment of the window).
    pub ftime: OffsetDateTime,
    /// The derived release status: SUCCESSFUL or FAILED.
    pub status: PackageStatus,
    /// Whether any of its packages is a rollback.
    pub has_rollback: bool,
    /// Whether its metadata marks it unplanned (see [`is_unplanned`]).
    pub unplanned: bool,
    /// When the change it ships was made (see [`change_time`]), if known.
    pub change_time: Option<OffsetDateTime>,
    /// Its team, if any.
    pub team: Option<String>,
    /// The platforms it went to.
    pub platforms: Vec<String>,
    /// The distinct names of its packages.
    pub packages: Vec<String>,
}

impl Deployment {
    /// FAILED, or containing a rollback.
    pub fn failed(&self) -> bool {
        self.status == PackageStatus::Failed || self.has_rollback
    }

    /// Whether this release recovers the failed deployment `failed`: it finished strictly
    /// later, is SUCCESSFUL without a rollback package, and shares at least one platform and
    /// one package name with it.
    pub fn recovers(&self, failed: &Deployment) -> bool {
        self.ftime > failed.ftime
            && self.status == PackageStatus::Successful
            && !self.has_rollback
            && self.platforms.iter().any(|p| failed.platforms.contains(p))
            && self.packages.iter().any(|p| failed.packages.contains(p))
    }

    /// Whole seconds from start to finish.
    pub fn duration_s(&self) -> i64 {
        timestamp::seconds_between(self.stime, self.ftime)
    }

    fn rework(&self) -> bool {
        self.has_rollback || self.unplanned
    }
}

/// Whether a metadata value says "unplanned": `true`, or `1` (how a JSON `true` is stored,
/// since metadata values are kept as text).
pub fn is_unplanned(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some("true" | "1"))
}

/// The landing tickets a release references as `ticket:<request_id>`, in order, without
/// repeats; other references, and unreadable ids, are ignored.
pub fn ticket_references(references: &[String]) -> Vec<TicketId> {
    let mut ids = Vec::new();
    for reference in references {
        let Some(rest) = reference.trim().strip_prefix(TICKET_REFERENCE_PREFIX) else {
            continue;
        };
        if let Ok(id) = rest.parse::<TicketId>() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// A deployment's change time: the earliest of its metadata `commit_time` (any timestamp form
/// the ledger accepts; an unreadable one is ignored) and the creation times of the landing
/// tickets it references.
pub fn change_time(
    commit_time: Option<&str>,
    ticket_times: impl IntoIterator<Item = OffsetDateTime>,
) -> Option<OffsetDateTime> {
    commit_time
        .and_then(|text| timestamp::parse(text).ok())
        .into_iter()
        .chain(ticket_times)
        .min()
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of ascending `sorted`: the value at rank
/// ⌈p/100 · n⌉. `None` when there are no values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = usize::try_from(p.clamp(1, 100)).unwrap_or(100);
    let rank = (p * n).div_ceil(100);
    sorted.get(rank.max(1) - 1).copied()
}

/// How often a team deploys, in DORA's bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// Deploy days on at least 3 days a week.
    Daily,
    /// At least one a week.
    Weekly,
    /// At least 7 in 30 days' worth of weeks (about once a month).
    Monthly,
    /// Less often.
    Yearly,
}

impl Band {
    /// The band of `deploy_days` in `window`, compared exactly (no rounding): `daily` if
    /// deploy days per week ≥ 3, `weekly` if ≥ 1, `monthly` if ≥ 7/30, else `yearly`.
    pub fn of(deploy_days: usize, window: &Window) -> Band {
        // deploy_days ÷ (days ÷ 7) ≥ t  ⟺  deploy_days · 7 · day ≥ t · window, in µs.
        let week_micros =
            i128::try_from(deploy_days).unwrap_or(i128::MAX) * 7 * DAY_SECONDS * MICROS;
        let window_micros = window.micros();
        if week_micros >= 3 * window_micros {
            Band::Daily
        } else if week_micros >= window_micros {
            Band::Weekly
        } else if week_micros * 30 >= 7 * window_micros {
            Band::Monthly
        } else {
            Band::Yearly
        }
    }
}

/// Deployments per day and how many days had one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frequency {
    /// Deployments ÷ days in the window.
    pub per_day: f64,
    /// Distinct UTC dates with a deployment.
    pub deploy_days: usize,
    /// Deploy days ÷ (days ÷ 7).
    pub deploy_days_per_week: f64,
    /// The DORA band of `deploy_days_per_week`.
    pub band: Band,
}

/// Time to recover from failed deployments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryTime {
    /// Median recovery in whole seconds (null when nothing recovered).
    pub median_s: Option<i64>,
    /// 90th percentile.
    pub p90_s: Option<i64>,
    /// Failed deployments with a recovery.
    pub recovered: usize,
    /// Failed deployments without one (yet).
    pub unrecovered: usize,
}

/// Time from change to deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadTime {
    /// Median lead time in whole seconds (null when none was measured).
    pub median_s: Option<i64>,
    /// 90th percentile.
    pub p90_s: Option<i64>,
    /// Deployments, not failed, with a change time.
    pub measured: usize,
    /// Deployments, not failed, without one.
    pub without_change_time: usize,
}

/// One UTC date of the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Deployments that finished that day.
    pub deployments: usize,
    /// Of which failed.
    pub failed: usize,
    /// Median of their durations (ftime − stime), whole seconds; null when none.
    pub median_duration_s: Option<i64>,
}

/// Every figure for one set of deployments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// How many deployments.
    pub deployments: usize,
    /// Deployment frequency.
    pub deployment_frequency: Frequency,
    /// Failed ÷ deployments (null when there are none).
    pub change_failure_rate: Option<f64>,
    /// Failed deployments.
    pub failed: usize,
    /// Time to recover.
    pub recovery_time: RecoveryTime,
    /// Lead time for changes.
    pub lead_time: LeadTime,
    /// Deployments with a rollback package or marked unplanned ÷ deployments (null when none).
    pub rework_rate: Option<f64>,
    /// One entry per UTC date of the window.
    pub series: Vec<SeriesDay>,
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn summary(mut values: Vec<i64>) -> (Option<i64>, Option<i64>) {
    values.sort_unstable();
    (percentile(&values, 50), percentile(&values, 90))
}

/// The first recovery of each failed deployment among `deployments` themselves (in any order):
/// the `ftime` of the earliest release that [`Deployment::recovers`] it. Failed deployments
/// with no recovery among them are absent.
pub fn recoveries_within(deployments: &[&Deployment]) -> HashMap<ReleaseId, OffsetDateTime> {
    let mut ordered: Vec<&Deployment> = deployments.to_vec();
    ordered.sort_by_key(|d| d.ftime);
    let mut found = HashMap::new();
    for (index, failed) in ordered.iter().enumerate() {
        if !failed.failed() {
            continue;
        }
        // Equal finish times come next in order but are not strictly later; `recovers` skips them.
        if let Some(recovery) = ordered[index + 1..].iter().find(|s| s.recovers(failed)) {
            found.insert(failed.id, recovery.ftime);
        }
    }
    found
}

/// Every figure for `deployments` (the window's, already filtered), given the recovery time
/// found for each failed one (`recovered_at`: the recovering release's `ftime`).
pub fn figures(
    window: &Window,
    deployments: &[&Deployment],
    recovered_at: &HashMap<ReleaseId, OffsetDateTime>,
) -> Figures {
    let total = deployments.len();
    let failed: Vec<&&Deployment> = deployments.iter().filter(|d| d.failed()).collect();
    let deploy_days: BTreeSet<Date> = deployments.iter().map(|d| utc_date(d.ftime)).collect();
    let days = window.days();

    let recoveries: Vec<i64> = failed
        .iter()
        .filter_map(|f| {
            recovered_at
                .get(&f.id)
                .map(|at| timestamp::seconds_between(f.ftime, *at))
        })
        .collect();
    let recovered = recoveries.len();
    let (recovery_median, recovery_p90) = summary(recoveries);

    let healthy = deployments.iter().filter(|d| !d.failed());
    let leads: Vec<i64> = healthy
        .clone()
        .filter_map(|d| {
            d.change_time
                .map(|c| timestamp::seconds_between(c, d.ftime))
        })
        .collect();
    let measured = leads.len();
    let without_change_time = healthy.count() - measured;
    let (lead_median, lead_p90) = summary(leads);

    let mut by_date: BTreeMap<Date, Vec<&Deployment>> = BTreeMap::new();
    for d in deployments {
        by_date.entry(utc_date(d.ftime)).or_default().push(d);
    }
    let series = window
        .dates()
        .into_iter()
        .map(|date| {
            let day = by_date.remove(&date).unwrap_or_default();
            let (median_duration_s, _) = summary(day.iter().map(|d| d.duration_s()).collect());
            SeriesDay {
                date: format_date(date),
                deployments: day.len(),
                failed: day.iter().filter(|d| d.failed()).count(),
                median_duration_s,
            }
        })
        .collect();

    Figures {
        deployments: total,
        deployment_frequency: Frequency {
            per_day: total as f64 / days,
            deploy_days: deploy_days.len(),
            deploy_days_per_week: deploy_days.len() as f64 / (days / 7.0),
            band: Band::of(deploy_days.len(), window),
        },
        change_failure_rate: ratio(failed.len(), total),
        failed: failed.len(),
        recovery_time: RecoveryTime {
            median_s: recovery_median,
            p90_s: recovery_p90,
            recovered,
            unrecovered: failed.len() - recovered,
        },
        lead_time: LeadTime {
            median_s: lead_median,
            p90_s: lead_p90,
            measured,
            without_change_time,
        },
        rework_rate: ratio(deployments.iter().filter(|d| d.rework()).count(), total),
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const FROM: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn window(days: i64) -> Window {
        Window::new(FROM, FROM + Duration::days(days)).expect("ordered")
    }

    fn deployment(at: OffsetDateTime, status: PackageStatus) -> Deployment {
        Deployment {
            id: ReleaseId::new(),
            stime: at - Duration::seconds(60),
            ftime: at,
            status,
            has_rollback: false,
            unplanned: false,
            change_time: None,
            team: None,
            platforms: vec!["eu".into()],
            packages: vec!["web".into()],
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        // n = 4: median rank ⌈2⌉ = 2, p90 rank ⌈3.6⌉ = 4.
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 90), Some(4));
        // n = 10: p90 rank 9.
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 100), Some(10));
    }

    #[test]
    fn windows_refuse_inverted_or_empty_ranges_and_list_their_dates() {
        assert!(Window::new(FROM, FROM).is_err());
        assert!(Window::new(FROM, FROM - Duration::SECOND).is_err());
        let w = Window::new(FROM + Duration::hours(12), FROM + Duration::days(2)).expect("ok");
        assert!((w.days() - 1.5).abs() < 1e-12);
        // `to` at midnight: its own date is not in the series.
        let dates: Vec<String> = w.dates().into_iter().map(format_date).collect();
        assert_eq!(dates, ["2026-01-01", "2026-01-02"]);
        let w = Window::new(FROM, FROM + Duration::days(1) + Duration::SECOND).expect("ok");
        assert_eq!(w.dates().len(), 2);
        assert!(w.contains(FROM) && !w.contains(FROM + Duration::days(1) + Duration::SECOND));
        let defaulted = Window::from_params(None, None, FROM).expect("ok");
        assert_eq!(defaulted.from(), FROM - Duration::days(30));
        assert_eq!(defaulted.to(), FROM);
    }

    #[test]
    fn bands_compare_exactly() {
        let w = window(30);
        assert_eq!(Band::of(0, &w), Band::Yearly);
        // 1 day in 30: exactly 7/30 per week.
        assert_eq!(Band::of(1, &w), Band::Monthly);
        let w = window(28);
        assert_eq!(Band::of(3, &w), Band::Monthly);
        assert_eq!(Band::of(4, &w), Band::Weekly);
        assert_eq!(Band::of(11, &w), Band::Weekly);
        assert_eq!(Band::of(12, &w), Band::Daily);
        let w = window(31);
        assert_eq!(Band::of(1, &w), Band::Yearly);
    }

    #[test]
    fn unplanned_tickets_and_change_times() {
        assert!(is_unplanned(Some("true")) && is_unplanned(Some("1")));
        assert!(!is_unplanned(Some("false")) && !is_unplanned(Some("0")) && !is_unplanned(None));
        let refs = vec![
            "ticket:12".to_owned(),
            "JIRA-1".to_owned(),
            "ticket:x".to_owned(),
            "ticket:12".to_owned(),
            "ticket:3".to_owned(),
        ];
        let ids: Vec<i64> = ticket_references(&refs)
            .into_iter()
            .map(TicketId::get)
            .collect();
        assert_eq!(ids, [12, 3]);
        let ticket = datetime!(2026-01-01 08:00 UTC);
        assert_eq!(
            change_time(Some("2026-01-01T09:00:00Z"), [ticket]),
            Some(ticket)
        );
        assert_eq!(
            change_time(Some("2026-01-01T07:00:00+00:00"), [ticket]),
            Some(datetime!(2026-01-01 07:00 UTC))
        );
        assert_eq!(change_time(Some("soon"), []), None);
        assert_eq!(change_time(None, [ticket]), Some(ticket));
    }

    #[test]
    fn recovery_is_the_first_later_clean_success_sharing_a_platform_and_a_package() {
        use PackageStatus::*;
        let t = datetime!(2026-01-02 10:00 UTC);
        let failed = deployment(t, Failed);
        let same_time = deployment(t, Successful);
        let mut other_platform = deployment(t + Duration::minutes(1), Successful);
        other_platform.platforms = vec!["us".into()];
        let mut rollback = deployment(t + Duration::minutes(2), Successful);
        rollback.has_rollback = true;
        let fix = deployment(t + Duration::minutes(5), Successful);
        let later = deployment(t + Duration::minutes(9), Successful);
        let all = [
            &later,
            &fix,
            &rollback,
            &other_platform,
            &same_time,
            &failed,
        ];
        let found = recoveries_within(&all);
        assert_eq!(found.get(&failed.id), Some(&fix.ftime));
        // The rollback is itself a failed deployment, recovered by the fix too.
        assert_eq!(found.get(&rollback.id), Some(&fix.ftime));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn figures_follow_the_definitions() {
        use PackageStatus::*;
        let w = window(7);
        let day1 = datetime!(2026-01-01 10:00 UTC);
        let day3 = datetime!(2026-01-03 10:00 UTC);
        let mut a = deployment(day1, Successful);
        a.change_time = Some(day1 - Duration::hours(2));
        let b = deployment(day1 + Duration::hours(1), Failed);
        let mut c = deployment(day3, Successful);
        c.change_time = Some(day3 - Duration::hours(1));
        c.unplanned = true;
        c.stime = day3 - Duration::seconds(300);
        let mut d = deployment(day3 + Duration::hours(1), Successful);
        d.has_rollback = true;
        let all = [&a, &b, &c, &d];
        let mut recovered = recoveries_within(&all);
        assert_eq!(recovered.len(), 1, "b is recovered by c; d by nothing");
        // A recovery recorded for a release that is not a failed deployment here changes nothing.
        recovered.insert(ReleaseId::new(), day3);
        let f = figures(&w, &all, &recovered);
        assert_eq!(f.deployments, 4);
        assert_eq!(f.failed, 2);
        assert_eq!(f.change_failure_rate, Some(0.5));
        assert_eq!(f.rework_rate, Some(0.5));
        assert!((f.deployment_frequency.per_day - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(f.deployment_frequency.deploy_days, 2);
        assert!((f.deployment_frequency.deploy_days_per_week - 2.0).abs() < 1e-12);
        assert_eq!(f.deployment_frequency.band, Band::Weekly);
        let gap = timestamp::seconds_between(b.ftime, c.ftime);
        assert_eq!(
            f.recovery_time,
            RecoveryTime {
                median_s: Some(gap),
                p90_s: Some(gap),
                recovered: 1,
                unrecovered: 1
            }
        );
        assert_eq!(
            f.lead_time,
            LeadTime {
                median_s: Some(3_600),
                p90_s: Some(7_200),
                measured: 2,
                without_change_time: 0
            }
        );
        assert_eq!(f.series.len(), 7);
        assert_eq!(
            f.series[0],
            SeriesDay {
                date: "2026-01-01".into(),
                deployments: 2,
                failed: 1,
                median_duration_s: Some(60)
            }
        );
        assert_eq!(f.series[1].median_duration_s, None);
        assert_eq!(
            f.series[2].median_duration_s,
            Some(60),
            "60 and 300: rank 1"
        );
    }

    #[test]
    fn an_empty_window_has_no_rates() {
        let f = figures(&window(30), &[], &HashMap::new());
        assert_eq!(f.deployments, 0);
        assert_eq!(f.change_failure_rate, None);
        assert_eq!(f.rework_rate, None);
        assert_eq!(f.recovery_time.median_s, None);
        assert_eq!(f.deployment_frequency.band, Band::Yearly);
        assert_eq!(f.deployment_frequency.per_day, 0.0);
        assert_eq!(f.series.len(), 30);
    }

    #[test]
    fn groups_key_by_team_platform_or_package() {
        let mut d = deployment(FROM, PackageStatus::Successful);
        d.platforms = vec!["eu".into(), "us".into()];
        assert_eq!(GroupBy::Team.keys(&d), Vec::<&str>::new());
        assert_eq!(GroupBy::Platform.keys(&d), ["eu", "us"]);
        assert_eq!(GroupBy::Package.keys(&d), ["web"]);
        assert_eq!(GroupBy::parse("team"), Some(GroupBy::Team));
        assert_eq!(GroupBy::parse("user"), None);
    }
}
