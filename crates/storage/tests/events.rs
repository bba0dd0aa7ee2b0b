//! The outbox: every committed write has its event(s), a refused or failed write has none, and
//! the feed reads them back in id order with type patterns and tag filters. Run against every
//! backend under test (SQLite always, PostgreSQL when SHIPLOG_TEST_DATABASE_URL is set).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use shiplog_domain::balrog::{EmergencyShutoff, ReleaseName, RuleChanges, RuleFields, RuleRef};
use shiplog_domain::event::TypePattern;
use shiplog_domain::ticket::{NewComment, NewTicket, TicketChanges, TicketField, TicketUpdate};
use shiplog_domain::{
    NewPackage, NewRelease, PermissionName, PermissionOptions, ReleaseId, UserName,
};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{Event, EventFilter, StorageError, Store};
use time::OffsetDateTime;

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

fn all_events(store: &Store) -> Vec<Event> {
    feed(store, EventFilter::default())
}

fn feed(store: &Store, filter: EventFilter) -> Vec<Event> {
    store.list_events(&filter, 1000).expect("feed")
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn release(user: &str, platforms: &[&str], team: Option<&str>) -> NewRelease {
    let mut new = NewRelease::new(
        user,
        platforms.iter().map(|p| (*p).to_owned()).collect(),
        OffsetDateTime::now_utc(),
    )
    .expect("valid")
    .with_team(team);
    new.recorded_by = Some(user.to_owned());
    new
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn rule_fields(input: Value) -> RuleFields {
    RuleFields::create(&RuleChanges::parse(&object(input)).expect("valid changes")).expect("valid")
}

#[test]
fn a_release_lifecycle_writes_one_event_per_change_with_the_orlo_json() {
    each_backend(|store| {
        let mut new = release("alice", &["eu", "us"], Some("web"));
        new.packages.push(NewPackage::new("api", "1.0"));
        let id = store.insert_release(&new).expect("insert");
        let package = new.packages[0].id;
        let ci = store.acting_as("ci-bot");
        ci.start_package(id, package).expect("start");
        ci.stop_package(id, package, true).expect("stop");
        ci.add_note(id, "went fine").expect("note");
        ci.merge_metadata(id, &[("ticket".to_owned(), "T-1".to_owned())].into())
            .expect("metadata");
        let extra = NewPackage::new("worker", "2.0");
        ci.add_package(id, &extra).expect("add");
        ci.set_package_results(id, extra.id, "ok").expect("results");
        ci.start_release(id).expect("start release");
        ci.stop_release(id).expect("stop release");

        let events = all_events(store);
        assert_eq!(
            kinds(&events),
            [
                "release.created",
                "package.started",
                "package.finished",
                "release.updated",
                "release.updated",
                "package.added",
                "package.updated",
                "release.started",
                "release.finished",
            ]
        );
        assert!(events.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(events[0].actor.as_deref(), Some("alice"));
        assert!(events[1..]
            .iter()
            .all(|e| e.actor.as_deref() == Some("ci-bot")));
        // The data is the object as the Orlo face shows it.
        let created = &events[0].data;
        assert_eq!(created["id"], json!(id.to_string()));
        assert_eq!(created["platforms"], json!(["eu", "us"]));
        assert_eq!(created["status"], json!("NOT_STARTED"));
        assert_eq!(events[2].data["id"], json!(package.to_string()));
        assert_eq!(events[2].data["status"], json!("SUCCESSFUL"));
        let finished = &events[8].data;
        assert_eq!(finished["notes"], json!(["went fine"]));
        assert_eq!(finished["metadata"]["ticket"], json!("T-1"));
        assert!(finished["ftime"].is_string());
        // Serialized as the feed shows it.
        let wire = serde_json::to_value(&events[0]).expect("json");
        assert_eq!(
            wire.as_object().expect("object").keys().collect::<Vec<_>>(),
            ["actor", "data", "id", "timestamp", "type"]
        );
        assert!(wire["timestamp"].as_str().expect("text").ends_with('Z'));

        // Every event of the release carries its platforms and team.
        for tag in [
            EventFilter {
                platform: Some("us".into()),
                ..EventFilter::default()
            },
            EventFilter {
                team: Some("web".into()),
                ..EventFilter::default()
            },
        ] {
            assert_eq!(feed(store, tag).len(), 9);
        }
        let elsewhere = EventFilter {
            platform: Some("asia".into()),
            ..EventFilter::default()
        };
        assert!(feed(store, elsewhere).is_empty());
    });
}

#[test]
fn a_refused_or_failed_write_has_no_event() {
    each_backend(|store| {
        let mut new = release("alice", &["eu"], None);
        new.packages.push(NewPackage::new("api", "1.0"));
        let id = store.insert_release(&new).expect("insert");
        let package = new.packages[0].id;
        let before = all_events(store).len();

        // A refused transition, an unknown release, a duplicate shutoff, a failed import.
        assert!(store.stop_package(id, package, true).is_err());
        assert_eq!(all_events(store).len(), before);
        store.start_package(id, package).expect("start");
        let after_stop = all_events(store).len();
        assert_eq!(after_stop, before + 1);
        assert!(matches!(
            store.start_release(ReleaseId::new()),
            Err(StorageError::ReleaseNotFound)
        ));
        assert!(store.add_note(ReleaseId::new(), "x").is_err());
        let shutoff = EmergencyShutoff::new("Firefox", "release", None).expect("valid");
        store
            .insert_emergency_shutoff(&shutoff, "bob")
            .expect("shutoff");
        assert!(store.insert_emergency_shutoff(&shutoff, "bob").is_err());
        let duplicate = new.clone();
        assert!(store
            .import_releases(&[release("carol", &["eu"], None), duplicate])
            .is_err());
        // A streamed import given up part way records nothing.
        let abandoned: Result<usize, StorageError> = store.import_streamed(|sink| {
            sink.record(&[release("dave", &["eu"], None)])?;
            Err(StorageError::Abandoned)
        });
        assert!(abandoned.is_err());

        assert_eq!(
            kinds(&all_events(store)[after_stop..]),
            ["emergency_shutoff.created"]
        );
        // The event ids that did go in stay increasing after rolled-back attempts.
        let events = all_events(store);
        assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    });
}

#[test]
fn balrog_changes_and_permissions_have_events_with_product_and_channel() {
    each_backend(|store| {
        let name = ReleaseName::parse("Firefox-61.0").expect("name");
        let blob = json!({"name": "Firefox-61.0", "schema_version": 1, "hashFunction": "sha512"});
        store
            .insert_named_release(&name, "Firefox", &blob, "alice")
            .expect("release");
        let rule = store
            .insert_rule(
                &rule_fields(json!({"priority": 100, "backgroundRate": 100,
                    "update_type": "minor", "mapping": "Firefox-61.0",
                    "product": "Firefox", "channel": "release"})),
                "alice",
            )
            .expect("rule");
        let changes = RuleChanges::parse(&object(json!({"backgroundRate": 50}))).expect("changes");
        let updated = store
            .update_rule(&RuleRef::Id(rule.rule_id), 1, &changes, "bob")
            .expect("update");
        store
            .delete_rule(&RuleRef::Id(rule.rule_id), updated.data_version, "bob")
            .expect("delete");
        let shutoff = EmergencyShutoff::new("Thunderbird", "beta", None).expect("valid");
        store
            .insert_emergency_shutoff(&shutoff, "carol")
            .expect("shutoff");
        store
            .delete_emergency_shutoff("Thunderbird", "beta", 1, "carol")
            .expect("lift");
        store
            .delete_named_release("Firefox-61.0", 1, "alice")
            .expect("delete release");
        let user = UserName::parse("erin").expect("user");
        let options = PermissionOptions::parse(
            PermissionName::Rule,
            &json!({"products": ["Firefox", "Fennec"]}),
        )
        .expect("options");
        let now = OffsetDateTime::now_utc();
        store
            .put_permission(&user, PermissionName::Rule, &options, None, "admin", now)
            .expect("grant");
        store
            .delete_permission(&user, PermissionName::Rule, 1, "admin", now)
            .expect("revoke");

        let events = all_events(store);
        assert_eq!(
            kinds(&events),
            [
                "named_release.created",
                "rule.created",
                "rule.updated",
                "rule.deleted",
                "emergency_shutoff.created",
                "emergency_shutoff.deleted",
                "named_release.deleted",
                "permission.changed",
                "permission.changed",
            ]
        );
        assert_eq!(events[0].actor.as_deref(), Some("alice"));
        assert_eq!(events[2].actor.as_deref(), Some("bob"));
        // A named release's event leaves its blob out.
        assert_eq!(events[0].data["name"], json!("Firefox-61.0"));
        assert!(events[0].data.get("data").is_none());
        assert_eq!(events[2].data["backgroundRate"], json!(50));
        assert_eq!(events[3].data["rule_id"], json!(rule.rule_id));
        assert_eq!(events[7].data["change"], json!("granted"));
        assert_eq!(events[8].data["change"], json!("revoked"));
        assert_eq!(
            events[8].data["options"]["products"],
            json!(["Firefox", "Fennec"])
        );

        let by = |product: Option<&str>, channel: Option<&str>| {
            kinds(&feed(
                store,
                EventFilter {
                    product: product.map(str::to_owned),
                    channel: channel.map(str::to_owned),
                    ..EventFilter::default()
                },
            ))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
        };
        assert_eq!(
            by(Some("Firefox"), Some("release")),
            ["rule.created", "rule.updated", "rule.deleted"]
        );
        assert_eq!(
            by(Some("Thunderbird"), None),
            ["emergency_shutoff.created", "emergency_shutoff.deleted"]
        );
        assert_eq!(by(Some("Fennec"), None), ["permission.changed"; 2]);
    });
}

#[test]
fn tickets_and_comments_have_events_and_a_no_op_update_has_none() {
    each_backend(|store| {
        let mut fields = shiplog_domain::ticket::TicketFields::default();
        fields.set(TicketField::Description, "land the thing".into());
        let ticket = store
            .acting_as("lander")
            .insert_ticket(&NewTicket { fields })
            .expect("ticket");
        let mut changes = TicketChanges::default();
        changes.set(TicketField::Status, "Built".into());
        let update = TicketUpdate {
            request_id: ticket.request_id,
            changes: changes.clone(),
            author: "bot".into(),
        };
        store.update_ticket(&update).expect("update");
        store.update_ticket(&update).expect("same again");
        store
            .add_ticket_comment(&NewComment {
                request_id: ticket.request_id,
                author: "qa".into(),
                text: "looks good".into(),
            })
            .expect("comment");
        let events = all_events(store);
        assert_eq!(
            kinds(&events),
            ["ticket.created", "ticket.updated", "comment.created"]
        );
        let actors: Vec<_> = events.iter().map(|e| e.actor.as_deref()).collect();
        assert_eq!(actors, [Some("lander"), Some("bot"), Some("qa")]);
        assert_eq!(events[1].data["status"], json!("Built"));
        assert_eq!(events[2].data["text"], json!("looks good"));
    });
}

#[test]
fn the_feed_pages_by_cursor_and_filters_by_type_pattern() {
    each_backend(|store| {
        let batch: Vec<NewRelease> = (0..5)
            .map(|i| release(&format!("user{i}"), &["eu"], None))
            .collect();
        store.import_releases(&batch).expect("import");
        let ticket = store
            .insert_ticket(&NewTicket {
                fields: Default::default(),
            })
            .expect("ticket");
        assert_eq!(ticket.comments.len(), 0);
        let events = all_events(store);
        assert_eq!(events.len(), 6);
        // Imported releases come out in the order given.
        let users: Vec<_> = events[..5].iter().map(|e| e.data["user"].clone()).collect();
        assert_eq!(
            users,
            (0..5)
                .map(|i| json!(format!("user{i}")))
                .collect::<Vec<_>>()
        );

        let page = store
            .list_events(
                &EventFilter {
                    after: events[1].id,
                    ..EventFilter::default()
                },
                2,
            )
            .expect("page");
        assert_eq!(page, events[2..4].to_vec());
        let rest = EventFilter {
            after: events[1].id,
            types: TypePattern::parse_list("release.*").expect("patterns"),
            ..EventFilter::default()
        };
        assert_eq!(store.count_events(&rest).expect("count"), 3);
        let of = |patterns: &str| {
            feed(
                store,
                EventFilter {
                    types: TypePattern::parse_list(patterns).expect("patterns"),
                    ..EventFilter::default()
                },
            )
            .len()
        };
        assert_eq!(of("release.*"), 5);
        assert_eq!(of("release.created"), 5);
        assert_eq!(of("ticket.*"), 1);
        assert_eq!(of("release.*,ticket.created"), 6);
        assert_eq!(of("*"), 6);
        assert_eq!(of("rel.*"), 0);
        assert_eq!(store.latest_event_id().expect("latest"), events[5].id);
    });
}

/// Concurrent writers and a reader following the cursor: the reader sees every committed event
/// exactly once, in increasing id order, even though writers commit in any order.
#[test]
fn a_cursor_reader_misses_nothing_while_writers_race() {
    each_backend(|store| {
        const WRITERS: usize = 4;
        const EACH: usize = 40;
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let store = store.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut after = 0;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let page = store
                        .list_events(
                            &EventFilter {
                                after,
                                ..EventFilter::default()
                            },
                            100,
                        )
                        .expect("page");
                    if let Some(last) = page.last() {
                        after = last.id;
                    }
                    let empty = page.is_empty();
                    seen.extend(page.into_iter().map(|e| e.id));
                    if finished && empty {
                        return seen;
                    }
                }
            })
        };
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        store
                            .insert_release(&release(&format!("w{w}-{i}"), &["eu"], None))
                            .expect("insert");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        done.store(true, Ordering::SeqCst);
        let seen = reader.join().expect("reader");
        let all: Vec<i64> = all_events(store).iter().map(|e| e.id).collect();
        assert_eq!(all.len(), WRITERS * EACH);
        assert_eq!(seen, all, "the reader saw every event once, in order");
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), seen.len());
    });
}

#[test]
fn a_group_of_writes_keeps_each_write_and_its_events_and_undoes_a_failed_one_alone() {
    // On SQLite the group is one transaction (group commit); on PostgreSQL each write commits
    // on its own. Either way the outcome a caller sees is the same.
    each_backend(|store| {
        let before = all_events(store).len();
        let (results, committed) = store
            .write_group(|| {
                let first = store.insert_release(&release("grace", &["web"], None));
                let missing = store.add_note(ReleaseId::new(), "no such release");
                let second = store.insert_release(&release("linus", &["db"], None));
                let note = second
                    .as_ref()
                    .ok()
                    .map(|id| store.add_note(*id, "after the failure"));
                (first, missing, second, note)
            })
            .expect("the group starts");
        committed.expect("the group commits");
        let (first, missing, second, note) = results;
        let (first, second) = (first.expect("first"), second.expect("second"));
        assert!(matches!(missing, Err(StorageError::ReleaseNotFound)));
        note.expect("a note").expect("noted");
        let events = all_events(store);
        assert_eq!(
            kinds(&events[before..]),
            ["release.created", "release.created", "release.updated"],
            "one event per kept write, in the order written"
        );
        let found = store
            .find_release(second, &Default::default())
            .expect("read")
            .expect("kept");
        assert_eq!(found.notes, ["after the failure"]);
        assert!(store
            .find_release(first, &Default::default())
            .expect("read")
            .is_some());
    });
}

#[test]
fn a_streamed_import_has_one_event_per_release_in_order_whatever_its_batches() {
    each_backend(|store| {
        let before = all_events(store).last().map_or(0, |e| e.id);
        let batch = |n: usize| -> Vec<NewRelease> {
            (0..n).map(|_| release("importer", &["eu"], None)).collect()
        };
        // Batches larger than the storage's chunk of 1,000: on SQLite each chunk's events go
        // in with it rather than waiting for the commit.
        let recorded = store
            .import_streamed(|sink| -> Result<(), StorageError> {
                sink.record(&batch(1_500))?;
                sink.record(&batch(1_000))?;
                Ok(())
            })
            .expect("import");
        assert_eq!(recorded, 2_500);
        store
            .insert_release(&release("after", &["eu"], None))
            .expect("a write after the import");
        let mut all: Vec<Event> = Vec::new();
        loop {
            let after = all.last().map_or(before, |e| e.id);
            let page = feed(
                store,
                EventFilter {
                    after,
                    ..EventFilter::default()
                },
            );
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        assert_eq!(all.len(), 2_501);
        assert!(all.iter().all(|e| e.kind == "release.created"));
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(
            all[2_500].data["user"], "after",
            "the later write's event comes last"
        );
    });
}

/// An import's events go in as multi-row statements of a fixed size plus one-row ones for the
/// rest: with a count that is no multiple of any chunk, every release still has exactly one
/// event, carrying its own data and its own tags (found by them in the feed).
#[test]
fn an_imports_events_carry_each_releases_data_and_tags() {
    each_backend(|store| {
        let before = all_events(store).last().map_or(0, |e| e.id);
        let batch: Vec<NewRelease> = (0..70)
            .map(|i| {
                let platforms = [format!("p{i}"), format!("q{i}")];
                release(
                    &format!("importer{i}"),
                    &[platforms[0].as_str(), platforms[1].as_str()],
                    Some(&format!("team{i}")),
                )
            })
            .collect();
        let ids = store.import_releases(&batch).expect("import");
        let events = feed(
            store,
            EventFilter {
                after: before,
                ..EventFilter::default()
            },
        );
        assert_eq!(events.len(), 70);
        for (i, id) in ids.iter().enumerate() {
            let event = &events[i];
            assert_eq!(event.data["id"], id.to_string(), "event {i}");
            assert_eq!(event.data["user"], format!("importer{i}"));
            for filter in [
                EventFilter {
                    after: before,
                    platform: Some(format!("q{i}")),
                    ..EventFilter::default()
                },
                EventFilter {
                    after: before,
                    team: Some(format!("team{i}")),
                    ..EventFilter::default()
                },
            ] {
                let found = feed(store, filter);
                assert_eq!(found.len(), 1, "release {i}'s tags");
                assert_eq!(found[0].id, event.id);
            }
        }
    });
}
