//! Delivery metrics over a hand-computed ledger, on every backend under test.

use shiplog_domain::delivery::{
    format_date, Band, Figures, GroupBy, LeadTime, RecoveryTime, Window,
};
use shiplog_domain::{NewPackage, NewRelease, NewTicket, PackageStatus, Ticket};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{DeliveryQuery, Store};
use time::{Duration, OffsetDateTime};

struct Spec<'a> {
    user: &'a str,
    team: &'a str,
    platforms: &'a [&'a str],
    /// `(name, status, rollback)`
    packages: &'a [(&'a str, PackageStatus, bool)],
    ftime: OffsetDateTime,
    duration_s: i64,
    metadata: &'a [(&'a str, &'a str)],
    references: Vec<String>,
}

fn record(store: &Store, spec: Spec<'_>) {
    let stime = spec.ftime - Duration::seconds(spec.duration_s);
    let mut release = NewRelease::new(
        spec.user,
        spec.platforms.iter().map(|p| (*p).to_owned()).collect(),
        stime,
    )
    .expect("valid")
    .with_team(Some(spec.team))
    .finished_at(spec.ftime)
    .expect("ordered");
    for (name, status, rollback) in spec.packages {
        let mut package = NewPackage::new(name, "1.0")
            .with_history(
                *status,
                Some(stime),
                status.is_finished().then_some(spec.ftime),
            )
            .expect("ordered");
        package.rollback = *rollback;
        release.packages.push(package);
    }
    for (key, value) in spec.metadata {
        release
            .metadata
            .insert((*key).to_owned(), (*value).to_owned());
    }
    release.references = spec.references;
    store.insert_release(&release).expect("insert");
}

/// The ledger, with `B` the midnight after the ticket was created and the window `[B, B+7d)`:
///
/// | release | user/team | platforms | packages | ftime | status | notes |
/// | R0 | alice/core | eu | web | B − 1 s | SUCCESSFUL | before the window |
/// | R1 | alice/core | eu | web | B+1d 10:00 | SUCCESSFUL (600 s) | commit_time 08:00 → lead 7,200 s |
/// | R2 | alice/core | eu, us | web | B+1d 12:00 | FAILED (300 s) | recovered by R3 (3,600 s) |
/// | R3 | bob/core | us | web | B+1d 13:00 | SUCCESSFUL (120 s) | unplanned; ticket → lead from the ticket |
/// | R4 | alice/web | eu | api (rollback) | B+3d 09:00 | SUCCESSFUL (60 s) | failed; recovered by R7 (5 days) |
/// | R5 | alice/web | asia | api | B+3d 10:00 | FAILED (900 s) | never recovered |
/// | R6 | alice/web | eu | api | B+4d | IN_PROGRESS | not a deployment |
/// | R8 | alice/core | eu | db | B+7d | SUCCESSFUL | `to` is exclusive |
/// | R7 | alice/web | eu | api | B+8d 09:00 | SUCCESSFUL | after the window |
fn seed(store: &Store) -> (OffsetDateTime, Ticket) {
    use PackageStatus::*;
    let ticket = store.insert_ticket(&NewTicket::default()).expect("ticket");
    let b = ticket.date.replace_time(time::Time::MIDNIGHT) + Duration::days(1);
    let at = |day: i64, hour: i64| b + Duration::days(day) + Duration::hours(hour);
    let spec = |team, platforms, packages, ftime, duration_s| Spec {
        user: "alice",
        team,
        platforms,
        packages,
        ftime,
        duration_s,
        metadata: &[],
        references: vec![],
    };
    record(
        store,
        spec(
            "core",
            &["eu"],
            &[("web", Successful, false)],
            b - Duration::SECOND,
            10,
        ),
    );
    let commit = time::format_description::well_known::Rfc3339;
    let r1_commit = at(1, 8).format(&commit).expect("format");
    record(
        store,
        Spec {
            metadata: &[("commit_time", &r1_commit), ("unplanned", "false")],
            ..spec(
                "core",
                &["eu"],
                &[("web", Successful, false)],
                at(1, 10),
                600,
            )
        },
    );
    record(
        store,
        spec(
            "core",
            &["eu", "us"],
            &[("web", Failed, false)],
            at(1, 12),
            300,
        ),
    );
    let r3_commit = (at(1, 12) + Duration::minutes(30))
        .format(&commit)
        .expect("format");
    record(
        store,
        Spec {
            user: "bob",
            metadata: &[("commit_time", &r3_commit), ("unplanned", "1")],
            references: vec![
                "JIRA-7".to_owned(),
                format!("ticket:{}", ticket.request_id),
                "ticket:999999".to_owned(),
            ],
            ..spec(
                "core",
                &["us"],
                &[("web", Successful, false)],
                at(1, 13),
                120,
            )
        },
    );
    record(
        store,
        spec("web", &["eu"], &[("api", Successful, true)], at(3, 9), 60),
    );
    record(
        store,
        spec("web", &["asia"], &[("api", Failed, false)], at(3, 10), 900),
    );
    record(
        store,
        spec("web", &["eu"], &[("api", InProgress, false)], at(4, 0), 60),
    );
    record(
        store,
        spec("core", &["eu"], &[("db", Successful, false)], at(7, 0), 60),
    );
    record(
        store,
        spec("web", &["eu"], &[("api", Successful, false)], at(8, 9), 60),
    );
    (b, ticket)
}

fn recovery(
    median_s: Option<i64>,
    p90_s: Option<i64>,
    recovered: usize,
    unrecovered: usize,
) -> RecoveryTime {
    RecoveryTime {
        median_s,
        p90_s,
        recovered,
        unrecovered,
    }
}

fn window(b: OffsetDateTime, from_day: i64, days: i64) -> Window {
    Window::new(
        b + Duration::days(from_day),
        b + Duration::days(from_day + days),
    )
    .expect("ordered")
}

#[test]
fn delivery_metrics_follow_the_definitions() {
    for db in TestDb::all() {
        eprintln!("--- on {}", db.backend().name());
        let store = db.store();
        let (b, ticket) = seed(&store);
        let query = DeliveryQuery::new(window(b, 0, 7));
        let report = store.delivery(&query).expect("delivery");
        let f = &report.figures;
        assert_eq!(report.groups, None);
        assert_eq!(f.deployments, 5);
        assert_eq!(f.failed, 3);
        assert_eq!(f.change_failure_rate, Some(0.6));
        assert_eq!(f.rework_rate, Some(0.4), "R3 unplanned, R4 rollback");
        assert!((f.deployment_frequency.per_day - 5.0 / 7.0).abs() < 1e-12);
        assert_eq!(f.deployment_frequency.deploy_days, 2);
        assert!((f.deployment_frequency.deploy_days_per_week - 2.0).abs() < 1e-12);
        assert_eq!(f.deployment_frequency.band, Band::Weekly);
        assert_eq!(f.recovery_time, recovery(Some(3_600), Some(432_000), 2, 1));
        let r3_lead = (b + Duration::days(1) + Duration::hours(13) - ticket.date).whole_seconds();
        assert_eq!(
            f.lead_time,
            LeadTime {
                median_s: Some(7_200),
                p90_s: Some(r3_lead),
                measured: 2,
                without_change_time: 0
            }
        );
        assert_eq!(f.series.len(), 7);
        assert_eq!(f.series[0].date, format_date(b.date()));
        assert_eq!(f.series[0].deployments, 0);
        assert_eq!(f.series[0].median_duration_s, None);
        assert_eq!(
            (
                f.series[1].deployments,
                f.series[1].failed,
                f.series[1].median_duration_s
            ),
            (3, 1, Some(300))
        );
        assert_eq!(
            (
                f.series[3].deployments,
                f.series[3].failed,
                f.series[3].median_duration_s
            ),
            (2, 2, Some(60))
        );
        assert_eq!(f.series.iter().map(|d| d.deployments).sum::<usize>(), 5);

        // Filters apply to recoveries too.
        let team = |name: &str| {
            let mut q = query.clone();
            q.team = Some(name.to_owned());
            store.delivery(&q).expect("delivery").figures
        };
        let core = team("core");
        assert_eq!((core.deployments, core.failed), (3, 1));
        assert_eq!(core.recovery_time, recovery(Some(3_600), Some(3_600), 1, 0));
        let web = team("web");
        assert_eq!((web.deployments, web.failed), (2, 2));
        assert_eq!(
            web.recovery_time,
            recovery(Some(432_000), Some(432_000), 1, 1)
        );
        assert_eq!(
            web.lead_time.measured + web.lead_time.without_change_time,
            0
        );

        let mut by_user = query.clone();
        by_user.user = Some("bob".into());
        let bob = store.delivery(&by_user).expect("delivery").figures;
        assert_eq!(
            (bob.deployments, bob.failed, bob.lead_time.measured),
            (1, 0, 1)
        );

        let mut by_package = query.clone();
        by_package.package = Some("api".into());
        by_package.platform = Some("eu".into());
        let api_eu = store.delivery(&by_package).expect("delivery").figures;
        assert_eq!((api_eu.deployments, api_eu.failed), (1, 1));
        assert_eq!(
            api_eu.recovery_time,
            recovery(Some(432_000), Some(432_000), 1, 0)
        );

        // Grouping: each key as one more filter; R2 (eu and us) counts in both.
        let mut grouped = query.clone();
        grouped.group_by = Some(GroupBy::Platform);
        let groups = store
            .delivery(&grouped)
            .expect("delivery")
            .groups
            .expect("groups");
        let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["asia", "eu", "us"]);
        let figures =
            |key: &str| -> &Figures { &groups.iter().find(|(k, _)| k == key).expect("group").1 };
        assert_eq!(
            (figures("asia").deployments, figures("asia").failed),
            (1, 1)
        );
        assert_eq!(figures("asia").recovery_time, recovery(None, None, 0, 1));
        // In eu, nothing on eu with `web` succeeds after R2: only R4 recovers (by R7).
        assert_eq!((figures("eu").deployments, figures("eu").failed), (3, 2));
        assert_eq!(
            figures("eu").recovery_time,
            recovery(Some(432_000), Some(432_000), 1, 1)
        );
        assert_eq!(
            figures("us").recovery_time,
            recovery(Some(3_600), Some(3_600), 1, 0)
        );

        grouped.group_by = Some(GroupBy::Package);
        let groups = store
            .delivery(&grouped)
            .expect("delivery")
            .groups
            .expect("groups");
        let summary: Vec<(&str, usize, usize)> = groups
            .iter()
            .map(|(k, f)| (k.as_str(), f.deployments, f.failed))
            .collect();
        assert_eq!(summary, [("api", 2, 2), ("web", 3, 1)]);
        grouped.group_by = Some(GroupBy::Team);
        let groups = store
            .delivery(&grouped)
            .expect("delivery")
            .groups
            .expect("groups");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].1, core);
        assert_eq!(groups[1].1, web);

        // Several groupings from one load answer what one call per grouping answers.
        let (overall, several) = store
            .delivery_grouped(
                &query,
                &[GroupBy::Team, GroupBy::Package, GroupBy::Platform],
            )
            .expect("delivery");
        assert_eq!(overall, store.delivery(&query).expect("delivery").figures);
        for (grouping, got) in [GroupBy::Team, GroupBy::Package, GroupBy::Platform]
            .into_iter()
            .zip(&several)
        {
            grouped.group_by = Some(grouping);
            let one = store.delivery(&grouped).expect("delivery").groups;
            assert_eq!(Some(got), one.as_ref(), "{grouping:?}");
        }

        // An empty window: counts of zero, no rates, a series of empty days.
        let empty = store
            .delivery(&DeliveryQuery::new(window(b, 20, 7)))
            .expect("delivery")
            .figures;
        assert_eq!(empty.deployments, 0);
        assert_eq!(empty.change_failure_rate, None);
        assert_eq!(empty.rework_rate, None);
        assert_eq!(empty.recovery_time, recovery(None, None, 0, 0));
        assert_eq!(empty.deployment_frequency.band, Band::Yearly);
        assert_eq!(empty.series.len(), 7);
        assert!(empty.series.iter().all(|d| d.deployments == 0));

        // `to` is exclusive, `from` inclusive: R8 finishes exactly at B+7d.
        let next = store
            .delivery(&DeliveryQuery::new(window(b, 7, 1)))
            .expect("delivery")
            .figures;
        assert_eq!(next.deployments, 1);
    }
}
