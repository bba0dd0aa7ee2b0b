//! Info and statistics queries, on every backend under test.

use shiplog_domain::{NewPackage, NewRelease, PackageStatus};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{DateUnit, ReleaseCounts, ReleaseFilter, StatsSubject, Store, TimeRange};
use time::macros::datetime;
use time::OffsetDateTime;

/// Five releases:
/// 1. alice/core on eu, 2015-12-17 10:00: web 1.0 SUCCESSFUL, api 1.0 SUCCESSFUL  → successful
/// 2. bob/core on eu+us, 2015-12-18 11:00: web 1.1 FAILED                          → failed
/// 3. alice/(none) on us, 2016-01-04 12:00: web 0.9 SUCCESSFUL rollback            → rollback successful
/// 4. bob/web on us, 2016-01-05 13:00: api 2.0 IN_PROGRESS                         → not counted
/// 5. carol/web on eu, 2016-01-06 14:00: no packages                               → not counted
fn seed(store: &Store) {
    use PackageStatus::*;
    let pkg = |name: &str, version: &str, status: PackageStatus, at: OffsetDateTime| {
        NewPackage::new(name, version)
            .with_history(
                status,
                Some(at),
                status
                    .is_finished()
                    .then_some(at + time::Duration::seconds(10)),
            )
            .expect("history")
    };
    let rel = |user: &str,
               team: Option<&str>,
               platforms: &[&str],
               at: OffsetDateTime,
               packages: Vec<NewPackage>| {
        let mut r = NewRelease::new(
            user,
            platforms.iter().map(|p| (*p).to_owned()).collect(),
            at,
        )
        .expect("valid")
        .with_team(team);
        r.packages = packages;
        store.insert_release(&r).expect("insert");
    };
    let t1 = datetime!(2015-12-17 10:00 UTC);
    rel(
        "alice",
        Some("core"),
        &["eu"],
        t1,
        vec![
            pkg("web", "1.0", Successful, t1),
            pkg("api", "1.0", Successful, t1),
        ],
    );
    let t2 = datetime!(2015-12-18 11:00 UTC);
    rel(
        "bob",
        Some("core"),
        &["eu", "us"],
        t2,
        vec![pkg("web", "1.1", Failed, t2)],
    );
    let t3 = datetime!(2016-01-04 12:00 UTC);
    let mut rollback = pkg("web", "0.9", Successful, t3);
    rollback.rollback = true;
    rel("alice", None, &["us"], t3, vec![rollback]);
    let t4 = datetime!(2016-01-05 13:00 UTC);
    rel(
        "bob",
        Some("web"),
        &["us"],
        t4,
        vec![pkg("api", "2.0", InProgress, t4)],
    );
    rel(
        "carol",
        Some("web"),
        &["eu"],
        datetime!(2016-01-06 14:00 UTC),
        vec![],
    );
}

fn counts(ns: i64, nf: i64, rs: i64, rf: i64) -> ReleaseCounts {
    ReleaseCounts {
        normal_successful: ns,
        normal_failed: nf,
        rollback_successful: rs,
        rollback_failed: rf,
    }
}

#[test]
fn info_counts_and_current_versions() {
    for db in TestDb::all() {
        let store = db.store();
        seed(&store);
        let users = store.releases_per_user(None, None).expect("users");
        assert_eq!(
            users.into_iter().collect::<Vec<_>>(),
            [("alice".into(), 2), ("bob".into(), 2), ("carol".into(), 1)]
        );
        assert_eq!(
            store
                .releases_per_user(Some("bob"), Some("us"))
                .expect("users")
                .get("bob"),
            Some(&2)
        );
        assert!(store
            .releases_per_user(Some("nobody"), None)
            .expect("users")
            .is_empty());
        let platforms = store.releases_per_platform(None).expect("platforms");
        assert_eq!(platforms.get("eu"), Some(&3));
        assert_eq!(platforms.get("us"), Some(&3));
        assert_eq!(
            store.releases_per_platform(Some("us")).expect("one").len(),
            1
        );
        let packages = store.deployments_per_package(None, None).expect("packages");
        assert_eq!(packages.get("web"), Some(&3));
        assert_eq!(packages.get("api"), Some(&2));
        assert_eq!(
            store.package_names(Some("eu")).expect("names"),
            ["api", "web"]
        );

        let versions = store.current_versions(None, false).expect("versions");
        assert_eq!(
            versions.get("web").map(String::as_str),
            Some("0.9"),
            "a rollback to an older version is current"
        );
        assert_eq!(versions.get("api").map(String::as_str), Some("1.0"));
        let on_eu = store.current_versions(Some("eu"), false).expect("versions");
        assert_eq!(on_eu.get("web").map(String::as_str), Some("1.0"));
        let by_release = store.current_versions(Some("us"), true).expect("versions");
        assert_eq!(by_release.get("web").map(String::as_str), Some("0.9"));
        assert_eq!(by_release.get("api"), None);
    }
}

#[test]
fn stats_overall_by_subject_and_in_a_window() {
    for db in TestDb::all() {
        let store = db.store();
        seed(&store);
        let all = ReleaseFilter::default();
        assert_eq!(
            store.release_counts(&all).expect("global"),
            counts(1, 1, 1, 0)
        );
        let window = ReleaseFilter {
            stime: TimeRange {
                after: Some(datetime!(2015-12-18 11:00 UTC) - time::Duration::SECOND),
                ..TimeRange::default()
            },
            ..ReleaseFilter::default()
        };
        assert_eq!(
            store.release_counts(&window).expect("window"),
            counts(0, 1, 1, 0)
        );

        let users = store
            .release_counts_by(StatsSubject::User, None, &all)
            .expect("users");
        assert_eq!(users["alice"], counts(1, 0, 1, 0));
        assert_eq!(users["bob"], counts(0, 1, 0, 0));
        assert_eq!(
            users["carol"],
            counts(0, 0, 0, 0),
            "every subject that ever appeared"
        );
        let teams = store
            .release_counts_by(StatsSubject::Team, None, &all)
            .expect("teams");
        assert_eq!(
            teams.keys().collect::<Vec<_>>(),
            ["core", "web"],
            "no key for releases without a team"
        );
        assert_eq!(teams["core"], counts(1, 1, 0, 0));
        let platforms = store
            .release_counts_by(StatsSubject::Platform, None, &all)
            .expect("platforms");
        assert_eq!(platforms["eu"], counts(1, 1, 0, 0));
        assert_eq!(platforms["us"], counts(0, 1, 1, 0));
        let packages = store
            .release_counts_by(StatsSubject::Package, None, &all)
            .expect("packages");
        assert_eq!(packages["web"], counts(1, 1, 1, 0));
        assert_eq!(packages["api"], counts(1, 0, 0, 0));
        let one = store
            .release_counts_by(StatsSubject::User, Some("nobody"), &all)
            .expect("one");
        assert_eq!(
            one.into_iter().collect::<Vec<_>>(),
            [("nobody".to_owned(), counts(0, 0, 0, 0))]
        );
        let filtered = ReleaseFilter {
            platform: Some("us".into()),
            ..ReleaseFilter::default()
        };
        assert_eq!(
            store.release_counts(&filtered).expect("filtered"),
            counts(0, 1, 1, 0)
        );
    }
}

#[test]
fn stats_by_date_in_every_unit() {
    for db in TestDb::all() {
        let store = db.store();
        seed(&store);
        let all = ReleaseFilter::default();
        let paths = |unit, by_package| {
            let mut buckets = store
                .release_counts_by_date(unit, by_package, &all)
                .expect("by date");
            buckets.sort_by(|a, b| {
                (&a.path, &a.package, a.rollback).cmp(&(&b.path, &b.package, b.rollback))
            });
            buckets
                .into_iter()
                .map(|b| (b.path, b.package, b.rollback, b.successful, b.failed))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(DateUnit::Year, false),
            [
                (vec![2015], None, false, 1, 1),
                (vec![2016], None, true, 1, 0)
            ]
        );
        assert_eq!(
            paths(DateUnit::Month, false),
            [
                (vec![2015, 12], None, false, 1, 1),
                (vec![2016, 1], None, true, 1, 0)
            ]
        );
        // 2015-12-17 is ISO 2015-W51 Thursday; 2015-12-18 W51 Friday; 2016-01-04 is ISO 2016-W01 Monday.
        assert_eq!(
            paths(DateUnit::Week, false),
            [
                (vec![2015, 51], None, false, 1, 1),
                (vec![2016, 1], None, true, 1, 0)
            ]
        );
        assert_eq!(
            paths(DateUnit::Iso, false),
            [
                (vec![2015, 51, 4], None, false, 1, 0),
                (vec![2015, 51, 5], None, false, 0, 1),
                (vec![2016, 1, 1], None, true, 1, 0)
            ]
        );
        assert_eq!(
            paths(DateUnit::Hour, false),
            [
                (vec![2015, 12, 17, 10], None, false, 1, 0),
                (vec![2015, 12, 18, 11], None, false, 0, 1),
                (vec![2016, 1, 4, 12], None, true, 1, 0)
            ]
        );
        let day = paths(DateUnit::Day, true);
        assert_eq!(
            day,
            [
                (vec![2015, 12, 17], Some("api".into()), false, 1, 0),
                (vec![2015, 12, 17], Some("web".into()), false, 1, 0),
                (vec![2015, 12, 18], Some("web".into()), false, 0, 1),
                (vec![2016, 1, 4], Some("web".into()), true, 1, 0),
            ]
        );
    }
}
