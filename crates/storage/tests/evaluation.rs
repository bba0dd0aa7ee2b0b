//! Stories of what rule evaluation reads, on every backend under test: emergency shutoffs with
//! their history, the rule-set counter every Balrog write bumps (seen from a second store on the
//! same database), a snapshot that compiles into a working rule set, and pins.

use serde_json::{json, Map, Value};
use shiplog_domain::balrog::{
    ChangeTable, EmergencyShutoff, FixedRoll, PinVersion, PinnableRelease, Query, Reason,
    ReleaseName, RuleChanges, RuleFields, RuleRef, RuleSet,
};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{BalrogRefusal, PinOutcome, ReplaceOutcome, StorageError, Store};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn rule_fields(input: Value) -> RuleFields {
    RuleFields::create(&RuleChanges::parse(&object(input)).expect("valid changes")).expect("valid")
}

#[track_caller]
fn refused(result: Result<impl std::fmt::Debug, StorageError>) -> BalrogRefusal {
    match result {
        Err(StorageError::Balrog(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn app_blob(name: &str, version: &str) -> Value {
    json!({"name": name, "schema_version": 4, "hashFunction": "sha512", "appVersion": version,
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"en-US": {"buildID": "20180101000000"}}}}})
}

#[test]
fn shutoffs_the_counter_and_the_snapshot_on_every_backend() {
    for db in TestDb::all() {
        let store = db.store();
        // A second pool on the same database: another serving instance.
        let other = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store, &other);
    }
}

fn story(store: &Store, other: &Store) {
    let start = other.ruleset_version().expect("counter");

    // A release and a rule each move the counter, as seen by the other instance.
    store
        .insert_named_release(
            &ReleaseName::parse("Firefox-61.0").expect("name"),
            "Firefox",
            &app_blob("Firefox-61.0", "61.0"),
            "alice",
        )
        .expect("release");
    let after_release = other.ruleset_version().expect("counter");
    assert!(after_release > start);
    let rule = store
        .insert_rule(
            &rule_fields(
                json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release*"}),
            ),
            "alice",
        )
        .expect("rule");
    let after_rule = other.ruleset_version().expect("counter");
    assert!(after_rule > after_release);

    // Shutoffs: insert, refuse a duplicate, list, find.
    let shutoff = EmergencyShutoff::new("Firefox", "release", Some("bad update")).expect("valid");
    let stored = store
        .insert_emergency_shutoff(&shutoff, "bob")
        .expect("insert");
    assert_eq!(stored.data_version, 1);
    assert_eq!(
        refused(store.insert_emergency_shutoff(&shutoff, "bob")),
        BalrogRefusal::ShutoffExists {
            product: "Firefox".into(),
            channel: "release".into()
        }
    );
    let after_shutoff = other.ruleset_version().expect("counter");
    assert!(after_shutoff > after_rule);
    assert_eq!(
        store.list_emergency_shutoffs().expect("list"),
        vec![stored.clone()]
    );
    assert_eq!(
        other
            .find_emergency_shutoff("Firefox", "release")
            .expect("find"),
        Some(stored.clone())
    );
    assert_eq!(
        store
            .find_emergency_shutoff("Firefox", "beta")
            .expect("find"),
        None
    );

    // The snapshot compiles; the shutoff covers release and its -cck- partners.
    let snapshot = other.load_evaluation_snapshot().expect("snapshot");
    assert_eq!(snapshot.version, after_shutoff);
    assert_eq!(snapshot.rules.len(), 1);
    assert_eq!(snapshot.releases.len(), 1);
    let set =
        RuleSet::compile(&snapshot.rules, &snapshot.shutoffs, snapshot.releases).expect("compiles");
    let query = |channel| Query {
        channel: Some(channel),
        build_target: Some("WINNT_x86_64-msvc"),
        locale: Some("en-US"),
        build_id: Some("20170101000000"),
        ..Query::new("Firefox", "60.0")
    };
    let reason = |set: &RuleSet, channel| {
        set.evaluate(&query(channel), &mut FixedRoll(0))
            .expect("evaluates")
            .reason
    };
    assert_eq!(reason(&set, "release-cck-yahoo"), Reason::Shutoff);
    let served = set
        .evaluate(&query("releasetest"), &mut FixedRoll(0))
        .expect("evaluates");
    assert_eq!(served.reason, Reason::Served);
    assert_eq!(served.rule.map(|r| r.rule_id), Some(rule.rule_id));
    assert_eq!(served.mapping(), Some("Firefox-61.0"));

    // Deleting needs the current data_version; the record goes to history.
    assert_eq!(
        refused(store.delete_emergency_shutoff("Firefox", "release", 7, "bob")),
        BalrogRefusal::Outdated
    );
    assert_eq!(
        refused(store.delete_emergency_shutoff("Firefox", "beta", 1, "bob")),
        BalrogRefusal::ShutoffNotFound {
            product: "Firefox".into(),
            channel: "beta".into()
        }
    );
    store
        .delete_emergency_shutoff("Firefox", "release", 1, "bob")
        .expect("delete");
    let revisions = store
        .list_revisions(ChangeTable::EmergencyShutoffs, "Firefox/release", 10, 0)
        .expect("revisions");
    assert_eq!(revisions.total, 1, "markers are left out");
    assert_eq!(revisions.changes[0].changed_by, "bob");
    assert_eq!(
        revisions.changes[0].field("comment"),
        Some(json!("bad update"))
    );
    let after_delete = other.ruleset_version().expect("counter");
    assert!(after_delete > after_shutoff);

    // With the shutoff lifted, a fresh snapshot serves the release channel again; a rule
    // update is seen too.
    store
        .update_rule(
            &RuleRef::Id(rule.rule_id),
            1,
            &RuleChanges::parse(&object(json!({"channel": "beta"}))).expect("changes"),
            "alice",
        )
        .expect("update");
    let snapshot = other.load_evaluation_snapshot().expect("snapshot");
    assert!(snapshot.version > after_delete);
    let set =
        RuleSet::compile(&snapshot.rules, &snapshot.shutoffs, snapshot.releases).expect("compiles");
    assert_eq!(reason(&set, "release"), Reason::NoMatchingRule);
    assert_eq!(reason(&set, "beta"), Reason::Served);
}

#[test]
fn pins_move_the_counter_reach_the_snapshot_and_keep_their_release() {
    for db in TestDb::all() {
        let store = db.store();
        let other = db.store();
        eprintln!("pins on {}", store.backend().name());
        pins_story(&store, &other);
    }
}

fn pins_story(store: &Store, other: &Store) {
    let name = |n: &str| ReleaseName::parse(n).expect("name");
    for (release, version) in [("Firefox-60.4", "60.4"), ("Firefox-60.5", "60.5")] {
        store
            .insert_named_release(
                &name(release),
                "Firefox",
                &app_blob(release, version),
                "alice",
            )
            .expect("release");
    }
    let pin = PinVersion::parse("60.").expect("pin");
    assert_eq!(
        refused(store.set_pin("Firefox-99", "Firefox", "release", &pin, "alice")),
        BalrogRefusal::ReleaseNotFound("Firefox-99".into())
    );
    let before = other.ruleset_version().expect("counter");
    assert_eq!(
        store
            .set_pin("Firefox-60.5", "Firefox", "release", &pin, "alice")
            .expect("pin"),
        PinOutcome::Set(1)
    );
    let after = other.ruleset_version().expect("counter");
    assert!(after > before, "a pin write moves the counter");
    // An older release does not replace a newer one: nothing is written.
    assert_eq!(
        store
            .set_pin("Firefox-60.4", "Firefox", "release", &pin, "alice")
            .expect("pin"),
        PinOutcome::ExistingPinIsNewer
    );
    assert_eq!(other.ruleset_version().expect("counter"), after);
    let snapshot = other.load_evaluation_snapshot().expect("snapshot");
    assert_eq!(
        snapshot.pins,
        vec![PinnableRelease {
            product: "Firefox".into(),
            channel: "release".into(),
            version: "60.".into(),
            mapping: "Firefox-60.5".into(),
            data_version: 1,
        }]
    );
    assert_eq!(store.list_pins().expect("pins"), snapshot.pins);
    let revisions = store
        .list_revisions(ChangeTable::PinnableReleases, "Firefox/release/60.", 10, 0)
        .expect("history");
    assert_eq!(
        revisions.total, 1,
        "one full record (and its insert marker)"
    );
    // The pinned release cannot go while the pin serves it.
    assert_eq!(
        refused(store.delete_named_release_now("Firefox-60.5", "alice")),
        BalrogRefusal::ReleasePinned {
            name: "Firefox-60.5".into(),
            pins: vec!["Firefox/release/60.".into()],
        }
    );
    // The v2 whole-blob write: exact versions, no merge.
    let blob = app_blob("Firefox-60.5", "60.5.1");
    assert_eq!(
        refused(store.replace_named_release(&name("Firefox-60.5"), None, &blob, Some(2), "alice")),
        BalrogRefusal::Outdated
    );
    assert_eq!(
        store
            .replace_named_release(&name("Firefox-60.5"), None, &blob, Some(1), "alice")
            .expect("replaced"),
        ReplaceOutcome::Replaced(2)
    );
    assert_eq!(
        store
            .replace_named_release(&name("Firefox-60.5"), Some("Firefox"), &blob, None, "alice")
            .expect("unchanged"),
        ReplaceOutcome::Unchanged
    );
    store
        .delete_named_release_now("Firefox-60.4", "alice")
        .expect("an unpinned release goes");
}
