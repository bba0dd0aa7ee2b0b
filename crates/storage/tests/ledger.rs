//! One story per test, run against every backend under test (SQLite always, PostgreSQL when
//! SHIPLOG_TEST_DATABASE_URL is set).

use shiplog_domain::{NewPackage, NewRelease, PackageStatus, ReleaseId};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{
    EventFilter, PackageFilter, Page, ReleaseFilter, StorageError, Store, TimeRange,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

fn release(user: &str, platforms: &[&str], stime: OffsetDateTime) -> NewRelease {
    NewRelease::new(
        user,
        platforms.iter().map(|p| (*p).to_owned()).collect(),
        stime,
    )
    .expect("valid release")
}

fn all() -> Page {
    Page {
        limit: None,
        offset: 0,
        ascending: false,
    }
}

#[test]
fn a_release_round_trips_with_everything_it_holds() {
    each_backend(|store| {
        let mut new = release(
            "alice",
            &["site1", "site2"],
            datetime!(2015-12-17 17:02:04.123456 UTC),
        )
        .with_team(Some("A-Team"));
        new.references = vec!["TICKET-1".into(), "TICKET-2".into()];
        new.notes = vec!["first".into(), "second".into()];
        new.metadata.insert("k".into(), "v".into());
        new.packages = vec![NewPackage::new("web", "1.0"), NewPackage::new("api", "2.0")];
        let id = store.insert_release(&new).expect("insert");

        let got = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(got.id, id);
        assert_eq!(got.user, "alice");
        assert_eq!(got.team.as_deref(), Some("A-Team"));
        assert_eq!(got.platforms, ["site1", "site2"]);
        assert_eq!(got.references, ["TICKET-1", "TICKET-2"]);
        assert_eq!(got.notes, ["first", "second"]);
        assert_eq!(got.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(got.stime, datetime!(2015-12-17 17:02:04.123456 UTC));
        assert_eq!(
            got.packages
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["web", "api"]
        );
        assert!(got
            .packages
            .iter()
            .all(|p| p.status == PackageStatus::NotStarted && !p.rollback));
        assert_eq!(got.status(), Some(PackageStatus::NotStarted));

        assert!(store
            .find_release(ReleaseId::new(), &ReleaseFilter::default())
            .expect("find")
            .is_none());
        let other_user = ReleaseFilter {
            user: Some("bob".into()),
            ..ReleaseFilter::default()
        };
        assert!(
            store.find_release(id, &other_user).expect("find").is_none(),
            "filters apply to a single release too"
        );
    });
}

#[test]
fn packages_move_through_their_lifecycle_and_refuse_bad_moves() {
    each_backend(|store| {
        let id = store
            .insert_release(&release("alice", &["site1"], OffsetDateTime::now_utc()))
            .expect("insert");
        let web = store
            .add_package(id, &NewPackage::new("web", "1.0"))
            .expect("add");
        let api = store
            .add_package(id, &NewPackage::new("api", "1.0"))
            .expect("add");

        assert!(matches!(
            store.stop_package(id, web, true),
            Err(StorageError::Refused(
                shiplog_domain::DomainError::InvalidTransition { .. }
            ))
        ));
        store.start_package(id, web).expect("start");
        store.start_package(id, api).expect("start");
        let release = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(release.status(), Some(PackageStatus::InProgress));

        store.stop_package(id, web, true).expect("stop");
        store.stop_package(id, api, false).expect("stop");
        let package = store.find_package(web).expect("find").expect("exists");
        assert_eq!(package.status, PackageStatus::Successful);
        assert!(package.stime.is_some() && package.ftime.is_some());
        assert_eq!(package.duration, Some(0));
        let release = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(release.status(), Some(PackageStatus::Failed));

        // Errors, in Orlo's order of checks.
        let other = store.insert_release(&release_for("bob")).expect("insert");
        assert!(matches!(
            store.start_package(ReleaseId::new(), web),
            Err(StorageError::ReleaseNotFound)
        ));
        assert!(matches!(
            store.start_package(id, shiplog_domain::PackageId::new()),
            Err(StorageError::PackageNotFound)
        ));
        assert!(matches!(
            store.start_package(other, web),
            Err(StorageError::PackageNotInRelease)
        ));
        assert!(matches!(
            store.add_package(ReleaseId::new(), &NewPackage::new("x", "1")),
            Err(StorageError::ReleaseNotFound)
        ));
        store
            .set_package_results(id, web, "all good")
            .expect("results");
    });
}

/// The status and rollback flag kept on the release row (which the status and rollback filters
/// read) agree with the packages after every change, including the changes that leave them as
/// they were and are not written again.
#[test]
fn the_stored_summary_follows_every_package_change() {
    each_backend(|store| {
        let id = store
            .insert_release(&release("alice", &["site1"], OffsetDateTime::now_utc()))
            .expect("insert");
        let listed = |filter: ReleaseFilter| {
            store
                .list_releases(&filter, &all())
                .expect("list")
                .iter()
                .any(|r| r.id == id)
        };
        let check = |step: &str| {
            let release = store
                .find_release(id, &ReleaseFilter::default())
                .expect("find")
                .expect("exists");
            for status in [
                PackageStatus::NotStarted,
                PackageStatus::InProgress,
                PackageStatus::Successful,
                PackageStatus::Failed,
            ] {
                let by_status = ReleaseFilter {
                    status: Some(status),
                    ..ReleaseFilter::default()
                };
                assert_eq!(
                    listed(by_status),
                    release.status() == Some(status),
                    "{step}: listed under {status:?}"
                );
            }
            let without_rollback = ReleaseFilter {
                package: PackageFilter {
                    rollback: Some(false),
                    ..PackageFilter::default()
                },
                ..ReleaseFilter::default()
            };
            let rollback = release.packages.iter().any(|p| p.rollback);
            let plain = release.packages.iter().any(|p| !p.rollback);
            assert_eq!(
                listed(without_rollback),
                plain && !rollback,
                "{step}: listed as without rollback"
            );
        };
        let web = store
            .add_package(id, &NewPackage::new("web", "1.0"))
            .expect("add");
        check("one package");
        let api = store
            .add_package(id, &NewPackage::new("api", "1.0"))
            .expect("add");
        check("two packages");
        store.start_package(id, web).expect("start");
        check("one started");
        store.start_package(id, api).expect("start");
        check("both started");
        let mut undo = NewPackage::new("db", "0.9");
        undo.rollback = true;
        undo.status = PackageStatus::InProgress;
        let undo = store.add_package(id, &undo).expect("add a rollback");
        check("a rollback added while in progress");
        store.stop_package(id, web, true).expect("stop");
        check("one finished");
        store.stop_package(id, undo, true).expect("stop");
        check("the rollback finished");
        store.stop_package(id, api, true).expect("stop");
        check("all finished");
        store.start_package(id, api).expect("restart");
        check("one restarted");
        store.stop_package(id, api, false).expect("stop");
        check("one failed");
    });
}

fn release_for(user: &str) -> NewRelease {
    release(user, &["site1"], OffsetDateTime::now_utc())
}

#[test]
fn release_start_stop_notes_and_metadata() {
    each_backend(|store| {
        let id = store
            .insert_release(&release(
                "alice",
                &["site1"],
                datetime!(2020-01-01 0:00 UTC),
            ))
            .expect("insert");
        store.stop_release(id).expect("stop");
        let stopped = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert!(stopped.ftime.is_some());
        assert!(
            stopped.duration.expect("duration") > 86_400 * 365,
            "durations keep whole days (Orlo bug B7)"
        );

        store.start_release(id).expect("start");
        store.add_note(id, "one").expect("note");
        store.add_note(id, "two").expect("note");
        let mut first = shiplog_domain::Metadata::new();
        first.insert("a".into(), "1".into());
        first.insert("b".into(), "2".into());
        store.merge_metadata(id, &first).expect("merge");
        let mut second = shiplog_domain::Metadata::new();
        second.insert("b".into(), "3".into());
        store.merge_metadata(id, &second).expect("merge");

        let got = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(got.notes, ["one", "two"]);
        assert_eq!(got.metadata.get("a").map(String::as_str), Some("1"));
        assert_eq!(got.metadata.get("b").map(String::as_str), Some("3"));
        assert!(
            got.stime > datetime!(2020-01-02 0:00 UTC),
            "start resets stime"
        );

        let missing = ReleaseId::new();
        assert!(matches!(
            store.start_release(missing),
            Err(StorageError::ReleaseNotFound)
        ));
        assert!(matches!(
            store.stop_release(missing),
            Err(StorageError::ReleaseNotFound)
        ));
        assert!(matches!(
            store.add_note(missing, "x"),
            Err(StorageError::ReleaseNotFound)
        ));
        assert!(matches!(
            store.merge_metadata(missing, &first),
            Err(StorageError::ReleaseNotFound)
        ));
    });
}

#[test]
fn listings_filter_order_and_page() {
    each_backend(|store| {
        let t0 = datetime!(2021-06-01 12:00 UTC);
        let mut ids = Vec::new();
        for i in 0..5 {
            let user = if i % 2 == 0 { "alice" } else { "bob" };
            let platform = if i < 3 { "eu" } else { "us" };
            let mut new = release(user, &[platform], t0 + Duration::hours(i))
                .with_team(if i == 0 { None } else { Some("core") });
            new.references = vec![format!("REF-{i}")];
            ids.push(store.insert_release(&new).expect("insert"));
        }
        let list = |filter: ReleaseFilter, page: Page| -> Vec<ReleaseId> {
            store
                .list_releases(&filter, &page)
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(
            list(ReleaseFilter::default(), all()),
            [ids[4], ids[3], ids[2], ids[1], ids[0]]
        );
        assert_eq!(
            list(
                ReleaseFilter::default(),
                Page {
                    ascending: true,
                    ..all()
                }
            ),
            ids
        );
        assert_eq!(
            list(
                ReleaseFilter::default(),
                Page {
                    limit: Some(2),
                    offset: 1,
                    ascending: false
                }
            ),
            [ids[3], ids[2]]
        );
        assert_eq!(
            list(
                ReleaseFilter::default(),
                Page {
                    limit: None,
                    offset: 3,
                    ascending: false
                }
            ),
            [ids[1], ids[0]]
        );
        assert_eq!(
            list(
                ReleaseFilter {
                    user: Some("bob".into()),
                    ..Default::default()
                },
                all()
            ),
            [ids[3], ids[1]]
        );
        assert_eq!(
            list(
                ReleaseFilter {
                    platform: Some("us".into()),
                    ..Default::default()
                },
                all()
            ),
            [ids[4], ids[3]]
        );
        assert_eq!(
            list(
                ReleaseFilter {
                    team: Some(None),
                    ..Default::default()
                },
                all()
            ),
            [ids[0]]
        );
        assert_eq!(
            list(
                ReleaseFilter {
                    team: Some(Some("core".into())),
                    user: Some("alice".into()),
                    ..Default::default()
                },
                all()
            ),
            [ids[4], ids[2]]
        );
        assert_eq!(
            list(
                ReleaseFilter {
                    reference: Some("REF-3".into()),
                    ..Default::default()
                },
                all()
            ),
            [ids[3]]
        );
        assert_eq!(
            list(
                ReleaseFilter {
                    reference: Some("%".into()),
                    ..Default::default()
                },
                all()
            ),
            Vec::<ReleaseId>::new()
        );
        let window = TimeRange {
            after: Some(t0),
            before: Some(t0 + Duration::hours(3)),
            ..TimeRange::default()
        };
        assert_eq!(
            list(
                ReleaseFilter {
                    stime: window,
                    ..Default::default()
                },
                all()
            ),
            [ids[2], ids[1]],
            "bounds are strict"
        );
        let exact = TimeRange {
            exact: Some(t0 + Duration::hours(2)),
            ..TimeRange::default()
        };
        assert_eq!(
            list(
                ReleaseFilter {
                    stime: exact,
                    ..Default::default()
                },
                all()
            ),
            [ids[2]]
        );
    });
}

/// Pages filtered by platform or package give the same releases whether the newest releases
/// alone fill them (SQLite reads those first) or not: common, middling and rare values, both
/// orders, offsets, and start times shared by two releases.
#[test]
fn a_counted_page_carries_the_total_of_its_list() {
    each_backend(|store| {
        let t0 = datetime!(2021-06-01 12:00 UTC);
        for i in 0..7 {
            let user = if i < 5 { "alice" } else { "bob" };
            let mut new = release(user, &["eu"], t0 + Duration::hours(i));
            new.packages = vec![NewPackage::new("web", &format!("1.{i}"))];
            store.insert_release(&new).expect("insert");
        }
        let alice = ReleaseFilter {
            user: Some("alice".into()),
            ..Default::default()
        };
        let page = |limit: Option<i64>, offset: i64| Page {
            limit,
            offset,
            ascending: false,
        };
        let counted = |filter: &ReleaseFilter, page: Page| {
            let (releases, total) = store
                .list_releases_counted(filter, &page)
                .expect("counted page");
            assert_eq!(
                releases,
                store.list_releases(filter, &page).expect("page"),
                "{page:?}"
            );
            (releases.len(), total)
        };
        // A full page is counted; a short one, or the whole list, tells its total.
        assert_eq!(counted(&alice, page(Some(2), 0)), (2, 5));
        assert_eq!(counted(&alice, page(Some(2), 4)), (1, 5));
        assert_eq!(counted(&alice, page(None, 1)), (4, 5));
        assert_eq!(counted(&ReleaseFilter::default(), page(Some(7), 0)), (7, 7));
        // Past the end the page is empty and the list still counted; no match at all is 0.
        assert_eq!(counted(&alice, page(Some(2), 9)), (0, 5));
        let nobody = ReleaseFilter {
            user: Some("carol".into()),
            ..Default::default()
        };
        assert_eq!(counted(&nobody, page(Some(2), 0)), (0, 0));
        // Several filters, each value bound in the page and again in its count.
        let alice_web_in_eu = ReleaseFilter {
            user: Some("alice".into()),
            platform: Some("eu".into()),
            package: PackageFilter {
                name: Some("web".into()),
                ..Default::default()
            },
            stime: TimeRange {
                after: Some(t0 + Duration::minutes(30)),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(counted(&alice_web_in_eu, page(Some(2), 1)), (2, 4));
        assert_eq!(counted(&alice_web_in_eu, page(Some(2), 3)), (1, 4));
        assert_eq!(
            store.count_releases(&alice).expect("count"),
            5,
            "the count alone agrees"
        );

        let web = PackageFilter {
            name: Some("web".into()),
            ..Default::default()
        };
        let packages = |page: Page| {
            let (packages, total) = store
                .list_packages_counted(&web, &page)
                .expect("counted packages");
            assert_eq!(
                packages,
                store.list_packages(&web, &page).expect("packages")
            );
            (packages.len(), total)
        };
        assert_eq!(packages(page(Some(3), 0)), (3, 7));
        assert_eq!(packages(page(Some(3), 6)), (1, 7));
        assert_eq!(packages(page(Some(3), 8)), (0, 7));
    });
}

/// A page small enough to read on a server's request thread answers as the full read does,
/// and refuses (`None`) every page that is not: on PostgreSQL all of them; on SQLite those
/// with another filter than one id, user or team, more than a hundred rows asked for, or a
/// total that would have to be counted now.
#[test]
fn a_small_page_reads_as_the_full_page_or_not_at_all() {
    each_backend(|store| {
        let t0 = datetime!(2021-06-01 12:00 UTC);
        let batch: Vec<_> = (0..15)
            .map(|i| {
                release(
                    if i < 12 { "alice" } else { "bob" },
                    &["eu"],
                    t0 + Duration::hours(i),
                )
            })
            .collect();
        store.import_releases(&batch).expect("import");
        let user = |name: &str| ReleaseFilter {
            user: Some(name.into()),
            ..Default::default()
        };
        let page = |limit: Option<i64>, offset: i64| Page {
            limit,
            offset,
            ascending: false,
        };
        let small = |filter: &ReleaseFilter, page: Page| {
            store
                .list_releases_counted_if_small(filter, &page)
                .expect("small read")
        };
        let full = |filter: &ReleaseFilter, page: Page| {
            store
                .list_releases_counted(filter, &page)
                .expect("full read")
        };
        let sqlite = store.backend().name() == "sqlite";
        // A short page tells its own total: nothing to count.
        let bob = page(Some(10), 0);
        assert_eq!(
            small(&user("bob"), bob),
            sqlite.then(|| full(&user("bob"), bob))
        );
        // A full page's total is told once a full read has counted it on the connection
        // the small read gets (the pool's connections each count once).
        let first = page(Some(10), 0);
        let mut told = None;
        for _ in 0..8 {
            let expected = full(&user("alice"), first);
            assert_eq!(expected.1, 12);
            if let Some(answer) = small(&user("alice"), first) {
                assert_eq!(answer, expected);
                told = Some(answer);
                break;
            }
        }
        assert_eq!(told.is_some(), sqlite, "a kept count tells the total");
        let team = ReleaseFilter {
            team: Some(None),
            ..Default::default()
        };
        let everyone = ReleaseFilter::default();
        for (filter, page) in [
            (user("bob"), page(Some(10), 0)),
            (team.clone(), page(Some(100), 0)),
            (everyone.clone(), page(Some(20), 80)),
        ] {
            if let Some(answer) = small(&filter, page) {
                assert!(sqlite);
                assert_eq!(answer, full(&filter, page), "{filter:?} {page:?}");
            }
        }
        // Never small: another condition, no limit, or past a hundred rows.
        let bob_in_eu = ReleaseFilter {
            platform: Some("eu".into()),
            ..user("bob")
        };
        let alice_and_team = ReleaseFilter {
            team: Some(None),
            ..user("alice")
        };
        for (filter, page) in [
            (bob_in_eu, page(Some(10), 0)),
            (alice_and_team, page(Some(10), 0)),
            (user("bob"), page(None, 0)),
            (user("bob"), page(Some(101), 0)),
            (everyone, page(Some(10), 91)),
        ] {
            assert_eq!(small(&filter, page), None, "{filter:?} {page:?}");
        }
    });
}

#[test]
fn filtered_pages_are_the_same_for_common_and_rare_values() {
    each_backend(|store| {
        let t0 = datetime!(2022-03-01 00:00 UTC);
        let batch: Vec<NewRelease> = (0..600_i64)
            .map(|i| {
                let mut platforms = vec!["all".to_owned()];
                if i % 2 == 0 {
                    platforms.push("half".to_owned());
                }
                if i % 40 == 0 {
                    platforms.push("fortieth".to_owned());
                }
                if i < 5 {
                    platforms.push("oldest".to_owned());
                }
                // Two releases a minute: ties on the start time are ordered by id.
                let mut new = NewRelease::new("alice", platforms, t0 + Duration::minutes(i / 2))
                    .expect("valid release");
                if i % 3 == 0 {
                    new.packages = vec![NewPackage::new("third", "1.0")];
                }
                new
            })
            .collect();
        store.import_releases(&batch).expect("import");
        let list = |filter: &ReleaseFilter, page: Page| -> Vec<ReleaseId> {
            store
                .list_releases(filter, &page)
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        let by_platform = |p: &str| ReleaseFilter {
            platform: Some(p.to_owned()),
            ..ReleaseFilter::default()
        };
        let by_package = ReleaseFilter {
            package: PackageFilter {
                name: Some("third".to_owned()),
                ..PackageFilter::default()
            },
            ..ReleaseFilter::default()
        };
        let filters = [
            by_platform("half"),
            by_platform("fortieth"),
            by_platform("oldest"),
            by_platform("nowhere"),
            by_package,
        ];
        for filter in &filters {
            for ascending in [false, true] {
                let every = list(filter, Page { ascending, ..all() });
                for (limit, offset) in [(10, 0), (10, 5), (1, 0), (100, 0), (7, 290)] {
                    let page = Page {
                        limit: Some(limit),
                        offset,
                        ascending,
                    };
                    let expected: Vec<ReleaseId> = every
                        .iter()
                        .skip(usize::try_from(offset).expect("offset"))
                        .take(usize::try_from(limit).expect("limit"))
                        .copied()
                        .collect();
                    assert_eq!(
                        list(filter, page),
                        expected,
                        "{filter:?} limit {limit} offset {offset} ascending {ascending}"
                    );
                }
            }
        }
        assert_eq!(list(&by_platform("half"), all()).len(), 300);
        assert_eq!(list(&by_platform("oldest"), all()).len(), 5);
    });
}

#[test]
fn status_and_package_filters_follow_the_documented_rule() {
    each_backend(|store| {
        use PackageStatus::*;
        let t0 = datetime!(2022-01-01 0:00 UTC);
        let make = |i: i64, statuses: &[PackageStatus], rollback: bool| -> ReleaseId {
            let mut new = release("u", &["p"], t0 + Duration::minutes(i));
            new.packages = statuses
                .iter()
                .enumerate()
                .map(|(n, s)| {
                    let mut pkg = NewPackage::new(&format!("pkg{n}"), "1.0")
                        .with_history(
                            *s,
                            Some(t0),
                            if s.is_finished() {
                                Some(t0 + Duration::seconds(30 * (n as i64 + 1)))
                            } else {
                                None
                            },
                        )
                        .expect("history");
                    pkg.rollback = rollback && n == 0;
                    pkg
                })
                .collect();
            store.insert_release(&new).expect("insert")
        };
        let empty = make(0, &[], false);
        let ok = make(1, &[Successful, Successful], false);
        let failed_and_running = make(2, &[InProgress, Failed], false);
        let running = make(3, &[InProgress, Successful], true);
        let waiting = make(4, &[NotStarted], false);
        let mixed = make(5, &[NotStarted, Successful], false);
        let _ = (empty, mixed);

        let by_status = |s| {
            let filter = ReleaseFilter {
                status: Some(s),
                ..Default::default()
            };
            store
                .list_releases(&filter, &all())
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(by_status(Successful), [ok]);
        assert_eq!(by_status(Failed), [failed_and_running]);
        assert_eq!(
            by_status(InProgress),
            [running],
            "FAILED overrides IN_PROGRESS (Orlo bug B8 fixed)"
        );
        assert_eq!(by_status(NotStarted), [waiting]);

        let with = |package: PackageFilter| {
            let filter = ReleaseFilter {
                package,
                ..Default::default()
            };
            store
                .list_releases(&filter, &all())
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            with(PackageFilter {
                rollback: Some(true),
                ..Default::default()
            }),
            [running]
        );
        assert_eq!(
            with(PackageFilter {
                rollback: Some(false),
                ..Default::default()
            }),
            [mixed, waiting, failed_and_running, ok],
            "rollback=false: releases with packages and no rollback"
        );
        // Several package conditions apply to the same package.
        assert_eq!(
            with(PackageFilter {
                name: Some("pkg1".into()),
                status: Some(Failed),
                ..Default::default()
            }),
            [failed_and_running]
        );
        assert!(with(PackageFilter {
            name: Some("pkg0".into()),
            status: Some(Failed),
            ..Default::default()
        })
        .is_empty());
        let slow = shiplog_storage::IntRange {
            gt: Some(30),
            ..Default::default()
        };
        assert_eq!(
            with(PackageFilter {
                duration: slow,
                ..Default::default()
            }),
            [mixed, running, failed_and_running, ok]
        );

        // LIMIT counts releases, not joined package rows (Orlo bug B11).
        let filter = ReleaseFilter {
            package: PackageFilter {
                version: Some("1.0".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let page = Page {
            limit: Some(2),
            offset: 0,
            ascending: true,
        };
        assert_eq!(store.list_releases(&filter, &page).expect("list").len(), 2);

        let packages = store
            .list_packages(
                &PackageFilter {
                    status: Some(InProgress),
                    ..Default::default()
                },
                &all(),
            )
            .expect("packages");
        assert_eq!(packages.len(), 2);
        assert!(packages.iter().all(|p| p.status == InProgress));
    });
}

#[test]
fn a_failed_import_stores_nothing() {
    each_backend(|store| {
        let good = release("alice", &["site1"], OffsetDateTime::now_utc());
        let mut duplicate = release("bob", &["site1"], OffsetDateTime::now_utc());
        duplicate.id = good.id;
        assert!(store.import_releases(&[good.clone(), duplicate]).is_err());
        assert!(store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("list")
            .is_empty());
        assert_eq!(
            store
                .import_releases(std::slice::from_ref(&good))
                .expect("import"),
            [good.id]
        );
    });
}

/// A release at every list limit (docs/limits.md: 1,000 platforms, references, notes, metadata
/// keys and packages) is written whole: on PostgreSQL that is one statement of about 25,000
/// bound values, under the protocol's 65,535.
#[test]
fn a_release_at_every_list_limit_is_recorded_whole() {
    each_backend(|store| {
        let platforms: Vec<String> = (0..1_000).map(|i| format!("site{i}")).collect();
        let platform_refs: Vec<&str> = platforms.iter().map(String::as_str).collect();
        let mut new =
            release("alice", &platform_refs, OffsetDateTime::now_utc()).with_team(Some("A-Team"));
        new.references = (0..1_000).map(|i| format!("T-{i}")).collect();
        new.notes = (0..1_000).map(|i| format!("note {i}")).collect();
        new.metadata = (0..1_000)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        new.packages = (0..1_000)
            .map(|i| NewPackage::new(&format!("pkg{i}"), "1.0"))
            .collect();
        let id = store.insert_release(&new).expect("insert");
        let got = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(got.platforms, new.platforms);
        assert_eq!(got.references, new.references);
        assert_eq!(got.notes, new.notes);
        assert_eq!(got.metadata, new.metadata);
        assert_eq!(
            got.packages.iter().map(|p| p.id).collect::<Vec<_>>(),
            new.packages.iter().map(|p| p.id).collect::<Vec<_>>()
        );
    });
}

/// A new release the database refuses part of (here a package id that is taken) leaves no row
/// of any table and no event behind; on PostgreSQL it is one statement, on SQLite one
/// transaction.
#[test]
fn a_release_the_database_refuses_leaves_nothing_behind() {
    each_backend(|store| {
        let mut first = release("alice", &["site1"], OffsetDateTime::now_utc());
        first.packages = vec![NewPackage::new("web", "1.0")];
        store.insert_release(&first).expect("first");
        let events_before = store
            .list_events(&EventFilter::default(), 100)
            .expect("events");

        let mut second = release("bob", &["site2", "site3"], OffsetDateTime::now_utc());
        second.notes = vec!["a note".into()];
        second.metadata.insert("k".into(), "v".into());
        let mut taken = NewPackage::new("api", "2.0");
        taken.id = first.packages[0].id;
        second.packages = vec![NewPackage::new("db", "3.0"), taken];
        assert!(store.insert_release(&second).is_err());

        // The same release id again, with other rows.
        let mut again = release("carol", &["site4"], OffsetDateTime::now_utc());
        again.id = first.id;
        again.packages = vec![NewPackage::new("worker", "4.0")];
        assert!(store.insert_release(&again).is_err());

        let listed = store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, first.id);
        assert_eq!(listed[0].platforms, ["site1"]);
        assert_eq!(listed[0].packages.len(), 1);
        assert_eq!(listed[0].packages[0].name, "web");
        assert!(store
            .find_release(second.id, &ReleaseFilter::default())
            .expect("find")
            .is_none());
        let events_after = store
            .list_events(&EventFilter::default(), 100)
            .expect("events");
        assert_eq!(events_after, events_before);

        // And the store goes on writing.
        let third = release("dave", &["site5"], OffsetDateTime::now_utc());
        store.insert_release(&third).expect("third");
        assert_eq!(
            store
                .list_events(&EventFilter::default(), 100)
                .expect("events")
                .len(),
            events_before.len() + 1
        );
    });
}

#[test]
fn an_importer_learns_which_releases_are_here_already() {
    each_backend(|store| {
        let here: Vec<NewRelease> = (0..3)
            .map(|n| release(&format!("u{n}"), &["site"], OffsetDateTime::now_utc()))
            .collect();
        store.import_releases(&here).expect("import");
        let absent = ReleaseId::new();
        let mut asked: Vec<ReleaseId> = here.iter().map(|r| r.id).collect();
        asked.insert(1, absent);
        let mut found = store.existing_release_ids(&asked).expect("lookup");
        found.sort_by_key(ToString::to_string);
        let mut expected: Vec<ReleaseId> = here.iter().map(|r| r.id).collect();
        expected.sort_by_key(ToString::to_string);
        assert_eq!(found, expected);
        assert!(store.existing_release_ids(&[]).expect("lookup").is_empty());
        // More ids than one IN list takes.
        let many: Vec<ReleaseId> = (0..2_500)
            .map(|_| ReleaseId::new())
            .chain([here[0].id])
            .collect();
        assert_eq!(
            store.existing_release_ids(&many).expect("lookup"),
            [here[0].id]
        );
    });
}

#[test]
fn a_streamed_import_commits_every_batch_or_none() {
    #[derive(Debug)]
    enum Stop {
        BadInput,
        Storage(StorageError),
    }
    impl From<StorageError> for Stop {
        fn from(err: StorageError) -> Self {
            Stop::Storage(err)
        }
    }
    each_backend(|store| {
        let batch = |user: &str| -> Vec<NewRelease> {
            (0..3)
                .map(|_| release(user, &["site1"], OffsetDateTime::now_utc()))
                .collect()
        };
        // The producer gives up after two recorded batches: neither stays.
        let abandoned = store.import_streamed(|sink| {
            sink.record(&batch("early"))?;
            sink.record(&batch("early"))?;
            assert_eq!(sink.recorded(), 6);
            Err(Stop::BadInput)
        });
        assert!(matches!(abandoned, Err(Stop::BadInput)), "{abandoned:?}");
        assert!(store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("list")
            .is_empty());

        // A batch the database refuses (a duplicate id) also undoes the batches before it.
        let first = batch("dup");
        let refused = store.import_streamed(|sink| {
            sink.record(&first)?;
            sink.record(&first[..1])?;
            Ok::<(), Stop>(())
        });
        let Err(Stop::Storage(err)) = refused else {
            panic!("a storage error, not {refused:?}");
        };
        assert!(matches!(err, StorageError::Backend(_)), "{err}");
        assert!(store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("list")
            .is_empty());

        let recorded = store
            .import_streamed(|sink| {
                sink.record(&batch("a"))?;
                sink.record(&batch("b"))?;
                Ok::<(), Stop>(())
            })
            .expect("import");
        assert_eq!(recorded, 6);
        let users: Vec<String> = store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("list")
            .into_iter()
            .map(|r| r.user)
            .collect();
        assert_eq!(users.len(), 6);
        assert_eq!(users.iter().filter(|u| *u == "a").count(), 3);
    });
}

/// Writers racing on one release's packages (each adding, starting and finishing its own) lose
/// nothing: every package ends as its writer left it, the stored summary agrees with them, and
/// each change left exactly one event, however often it had to start again (on PostgreSQL a
/// change that loses a race to another writer reads again and retries, see `ledger::change`).
#[test]
fn concurrent_package_updates_lose_nothing() {
    const WRITERS: usize = 12;
    each_backend(|store| {
        let id = store.insert_release(&release_for("alice")).expect("insert");
        let before = store.latest_event_id().expect("latest");
        let packages: Vec<_> = (0..8)
            .map(|i| {
                store
                    .add_package(id, &NewPackage::new(&format!("p{i}"), "1"))
                    .expect("add")
            })
            .collect();
        std::thread::scope(|scope| {
            for package in &packages {
                let store = store.clone();
                scope.spawn(move || {
                    store.start_package(id, *package).expect("start");
                    store.stop_package(id, *package, true).expect("stop");
                });
            }
            for n in 0..WRITERS {
                let store = store.clone();
                scope.spawn(move || {
                    let package = store
                        .add_package(id, &NewPackage::new(&format!("q{n}"), "2"))
                        .expect("add");
                    store.start_package(id, package).expect("start");
                    store.stop_package(id, package, n % 5 != 0).expect("stop");
                });
            }
        });
        let release = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(release.packages.len(), 8 + WRITERS);
        for package in &release.packages {
            let failed = package.name.starts_with('q')
                && package.name[1..].parse::<usize>().expect("n") % 5 == 0;
            let expected = if failed {
                PackageStatus::Failed
            } else {
                PackageStatus::Successful
            };
            assert_eq!(package.status, expected, "{}", package.name);
            assert!(package.stime.is_some() && package.ftime.is_some());
        }
        assert_eq!(release.status(), Some(PackageStatus::Failed));
        let by_status = ReleaseFilter {
            status: Some(PackageStatus::Failed),
            ..ReleaseFilter::default()
        };
        assert!(
            store
                .list_releases(&by_status, &all())
                .expect("list")
                .iter()
                .any(|r| r.id == id),
            "the stored summary follows the packages"
        );
        let events = store
            .list_events(
                &EventFilter {
                    after: before,
                    ..EventFilter::default()
                },
                1_000,
            )
            .expect("events");
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
        assert_eq!(count("package.added"), 8 + WRITERS);
        assert_eq!(count("package.started"), 8 + WRITERS);
        assert_eq!(count("package.finished"), 8 + WRITERS);
        assert_eq!(events.len(), 3 * (8 + WRITERS));
    });
}

#[test]
fn migrations_go_down_and_up_again() {
    for db in TestDb::all() {
        let store = db.store();
        store.insert_release(&release_for("alice")).expect("insert");
        assert!(store.revert_all_migrations().expect("down") > 0);
        assert!(!store.migrate().expect("up").is_empty());
        assert!(store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("list")
            .is_empty());
    }
}

/// Text that looks like JSON or needs escaping, times with and without a fraction, platforms
/// out of alphabetical order: the release reads back exactly, by id, in a page and after a
/// write that reads it inside its transaction (the related rows come back as JSON the
/// database builds, and both backends write JSON differently).
#[test]
fn related_rows_read_back_exactly_however_they_are_read() {
    each_backend(|store| {
        let mut new = release(
            "o'brien \"quoted\"",
            &["zeta", "alpha", "mid dle"],
            datetime!(2015-12-17 17:02:04.000120 UTC),
        )
        .with_team(Some("tëam ☃"));
        new.ftime = Some(datetime!(2015-12-17 17:05:00 UTC));
        new.references = vec!["[1]".into(), "{\"a\": 1}".into()];
        new.notes = vec!["line one\nline two\ttab \\ backslash".into(), "null".into()];
        for (key, value) in [
            ("json", "{\"a\":[1,2]}"),
            ("array", "[1]"),
            ("null", "null"),
        ] {
            new.metadata.insert(key.into(), value.into());
        }
        let mut rolled = NewPackage::new("[1,2]", "true");
        rolled.rollback = true;
        rolled.diff_url = Some("https://example.com/diff?a=1&b=\"2\"".into());
        rolled.status = PackageStatus::Successful;
        rolled.stime = Some(datetime!(2015-12-17 17:02:05.5 UTC));
        rolled.ftime = Some(datetime!(2015-12-17 17:03:00 UTC));
        let mut plain = NewPackage::new("zz", "0");
        plain.status = PackageStatus::Failed;
        plain.stime = Some(datetime!(2015-12-17 17:02:06.999999 UTC));
        let waiting = NewPackage::new("aa", "1");
        new.packages = vec![rolled, plain, waiting];
        let id = store.insert_release(&new).expect("insert");

        let by_id = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(by_id.user, new.user);
        assert_eq!(by_id.team, new.team);
        assert_eq!(by_id.platforms, ["zeta", "alpha", "mid dle"]);
        assert_eq!(by_id.references, new.references);
        assert_eq!(by_id.notes, new.notes);
        assert_eq!(by_id.metadata, new.metadata);
        assert_eq!(by_id.stime, new.stime);
        assert_eq!(by_id.ftime, new.ftime);
        assert_eq!(by_id.duration, Some(175));
        let packages: Vec<_> = by_id
            .packages
            .iter()
            .map(|p| {
                (
                    p.id,
                    p.release_id,
                    p.name.as_str(),
                    p.version.as_str(),
                    p.status,
                    p.rollback,
                    p.diff_url.as_deref(),
                    p.stime,
                    p.ftime,
                    p.duration,
                )
            })
            .collect();
        let expected: Vec<_> = new
            .packages
            .iter()
            .map(|p| {
                (
                    p.id,
                    id,
                    p.name.as_str(),
                    p.version.as_str(),
                    p.status,
                    p.rollback,
                    p.diff_url.as_deref(),
                    p.stime,
                    p.ftime,
                    p.duration(),
                )
            })
            .collect();
        assert_eq!(packages, expected);

        let filtered = ReleaseFilter {
            platform: Some("alpha".into()),
            ..ReleaseFilter::default()
        };
        for page in [
            all(),
            Page {
                limit: Some(5),
                offset: 0,
                ascending: true,
            },
        ] {
            let listed = store.list_releases(&filtered, &page).expect("page");
            assert_eq!(listed, std::slice::from_ref(&by_id));
        }
        // A write that reads the release inside its transaction (for its event) and a read after.
        store.add_note(id, "third ☃").expect("note");
        let after = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("exists");
        assert_eq!(after.notes.last().map(String::as_str), Some("third ☃"));
        assert_eq!(after.notes.len(), 3);
        assert_eq!(after.packages, by_id.packages);
    });
}

/// A page reads each release's platforms, notes and metadata in one statement for all of its
/// releases; whatever the interleaving, each release comes back as a read by id gives it:
/// platforms in their recorded order (not sorted), notes in the order written (those recorded
/// with the release, then those added later), metadata whole, and nothing of another release's.
#[test]
fn a_page_holds_each_release_as_a_read_by_id_does() {
    each_backend(|store| {
        let mut ids = Vec::new();
        for i in 0..5 {
            let platforms = [format!("zeta{i}"), format!("alpha{i}"), format!("mid{i}")];
            let refs: Vec<&str> = platforms.iter().map(String::as_str).collect();
            let mut new = release(&format!("pager{i}"), &refs, OffsetDateTime::now_utc());
            new.notes = (0..i).map(|n| format!("note {n} of {i}")).collect();
            new.metadata = (0..i).map(|n| (format!("k{n}"), format!("v{i}"))).collect();
            let id = store.insert_release(&new).expect("insert");
            if i % 2 == 0 {
                store.add_note(id, "added later").expect("note");
                store.add_note(id, "added last").expect("note");
            }
            ids.push(id);
        }
        let page = store
            .list_releases(&ReleaseFilter::default(), &all())
            .expect("page");
        for id in ids {
            let listed = page.iter().find(|r| r.id == id).expect("listed");
            let by_id = store
                .find_release(id, &ReleaseFilter::default())
                .expect("find")
                .expect("exists");
            assert_eq!(listed, &by_id);
            assert_eq!(listed.platforms[0], format!("zeta{}", &listed.user[5..]));
        }
        let with_notes = page.iter().find(|r| r.user == "pager4").expect("pager4");
        assert_eq!(
            with_notes.notes,
            [
                "note 0 of 4",
                "note 1 of 4",
                "note 2 of 4",
                "note 3 of 4",
                "added later",
                "added last"
            ]
        );
        assert_eq!(with_notes.metadata.len(), 4);
    });
}
