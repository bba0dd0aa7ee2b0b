//! Stories of scheduled release and permission changes in storage, run against every backend
//! under test (SQLite always, PostgreSQL when SHIPLOG_TEST_DATABASE_URL is set): what a change
//! needs signed off, the refusal without it, the scheduler's turn enacting it exactly once, a
//! change that can no longer apply marked failed, and refusals that store nothing.

use serde_json::{json, Value};
use shiplog_domain::balrog::{
    ChangeTable, Condition, Outcome, ReleaseName, RuleChanges, RuleFields, ScTable,
};
use shiplog_domain::{PermissionName, PermissionOptions, UserName};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{
    BalrogRefusal, Enactment, RequiredSignoffInput, ScheduledTarget, StorageError, Store,
};
use time::OffsetDateTime;

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

#[track_caller]
fn refused(result: Result<impl std::fmt::Debug, StorageError>) -> BalrogRefusal {
    match result {
        Err(StorageError::Balrog(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("valid user")
}

fn products(list: &[&str]) -> PermissionOptions {
    PermissionOptions::parse(PermissionName::Rule, &json!({ "products": list })).expect("options")
}

/// Gives `name` a permission (roles go only to users who have one) and `role`.
fn user_with_role(store: &Store, name: &str, role: &str) {
    store
        .put_permission(
            &user(name),
            PermissionName::Release,
            &PermissionOptions::default(),
            None,
            "admin",
            OffsetDateTime::now_utc(),
        )
        .expect("grant");
    store.grant_role(name, role, "admin").expect("role");
}

fn blob(name: &str, details: &str) -> Value {
    json!({"name": name, "schema_version": 1, "hashFunction": "sha512",
           "detailsUrl": format!("https://example.com/{details}")})
}

const NOW: i64 = 1_000_000;
const DUE: Condition = Condition::When(NOW);

#[test]
fn a_release_change_needs_the_signoffs_of_the_rules_mapping_it_and_is_enacted_once() {
    each_backend(|store| {
        user_with_role(store, "carol", "releng");
        store
            .insert_required_signoff(
                &RequiredSignoffInput {
                    product: "Firefox".into(),
                    channel: Some("release".into()),
                    role: "releng".into(),
                    signoffs_required: 1,
                },
                "admin",
            )
            .expect("rs");
        let name = ReleaseName::parse("Firefox-60.0").expect("name");
        store
            .insert_named_release(&name, "Firefox", &blob("Firefox-60.0", "v1"), "alice")
            .expect("release");
        let fields: RuleFields = RuleFields::create(
            &RuleChanges::parse(
                json!({"priority": 1, "backgroundRate": 100, "update_type": "minor",
                       "product": "Firefox", "channel": "release", "mapping": "Firefox-60.0"})
                .as_object()
                .expect("object"),
            )
            .expect("changes"),
        )
        .expect("fields");
        store.insert_rule(&fields, "alice").expect("rule");

        // Refused as the direct write would be: an outdated data_version stores nothing.
        let update = |data: Value, data_version: i64| ScheduledTarget::ReleaseUpdate {
            name: "Firefox-60.0".into(),
            product: "Firefox".into(),
            data,
            read_only: false,
            data_version,
        };
        let outdated = update(blob("Firefox-60.0", "v2"), 9);
        assert_eq!(
            refused(store.schedule_change(&outdated, &DUE, "alice", NOW)),
            BalrogRefusal::Outdated
        );
        let wrong_name = update(blob("Firefox-61.0", "v2"), 1);
        assert!(store
            .schedule_change(&wrong_name, &DUE, "alice", NOW)
            .is_err());
        assert!(store
            .list_scheduled_changes(ScTable::Releases, true, None)
            .expect("list")
            .is_empty());

        let target = update(blob("Firefox-60.0", "v2"), 1);
        let (change, required) = store
            .schedule_change(&target, &DUE, "alice", NOW)
            .expect("scheduled");
        assert_eq!(required.iter().collect::<Vec<_>>(), [("releng", 1)]);
        assert_eq!(change.object_key.as_deref(), Some("Firefox-60.0"));
        // Due but unsigned: the scheduler leaves it, by hand it is refused.
        assert!(store
            .enact_due("shiplog-scheduler", NOW, 10)
            .expect("turn")
            .is_empty());
        assert!(matches!(
            refused(store.enact_scheduled_change(ScTable::Releases, change.sc_id, "alice", NOW)),
            BalrogRefusal::SignoffRequired(_)
        ));
        store
            .sign_off(ScTable::Releases, change.sc_id, "carol", "releng", NOW)
            .expect("signed");
        let done = store.enact_due("shiplog-scheduler", NOW, 10).expect("turn");
        assert!(matches!(done.as_slice(), [Enactment::Enacted(_)]));
        assert!(store
            .enact_due("shiplog-scheduler", NOW, 10)
            .expect("turn")
            .is_empty());
        let release = store
            .find_named_release("Firefox-60.0")
            .expect("read")
            .expect("release");
        assert_eq!(release.data, blob("Firefox-60.0", "v2"));
        assert_eq!(release.data_version, 2);
        let revisions = store
            .list_revisions(ChangeTable::Releases, "Firefox-60.0", 10, 0)
            .expect("revisions");
        assert_eq!(revisions.changes[0].changed_by, "alice");
    });
}

#[test]
fn permission_changes_are_enacted_or_marked_failed_when_their_target_moved_on() {
    each_backend(|store| {
        let dave = user("dave");
        let insert = ScheduledTarget::PermissionInsert {
            username: dave.clone(),
            permission: PermissionName::Rule,
            options: products(&["Firefox"]),
        };
        let (change, required) = store
            .schedule_change(&insert, &DUE, "alice", NOW)
            .expect("scheduled");
        assert!(required.is_empty(), "no required_signoffs/permissions rows");
        assert!(matches!(
            store
                .enact_scheduled_change(ScTable::Permissions, change.sc_id, "alice", NOW)
                .expect("enacted"),
            Enactment::Enacted(_)
        ));
        let held = store
            .find_permission(&dave, PermissionName::Rule)
            .expect("read")
            .expect("granted");
        assert_eq!(held.options, products(&["Firefox"]));
        // Inserting it again is refused while it is held.
        assert!(matches!(
            refused(store.schedule_change(&insert, &DUE, "alice", NOW)),
            BalrogRefusal::Invalid(_)
        ));

        let delete = ScheduledTarget::PermissionDelete {
            username: dave.clone(),
            permission: PermissionName::Rule,
            data_version: 1,
        };
        let (change, _) = store
            .schedule_change(&delete, &Condition::When(NOW + 1), "alice", NOW)
            .expect("scheduled");
        // While it is pending, the permission takes no direct change, even from a trusted
        // writer: what was scheduled is what is enacted.
        assert!(store
            .update_permission(
                &dave,
                PermissionName::Rule,
                &products(&["Fennec"]),
                1,
                "admin",
                OffsetDateTime::now_utc(),
            )
            .is_err());
        let enacted = store
            .enact_scheduled_change(ScTable::Permissions, change.sc_id, "alice", NOW)
            .expect("enacted");
        assert!(matches!(enacted, Enactment::Enacted(_)));
        assert!(store
            .find_permission(&dave, PermissionName::Rule)
            .expect("read")
            .is_none());

        // A grant scheduled for a user, enacted after someone granted it directly: failed.
        let erin = user("erin");
        let grant = ScheduledTarget::PermissionInsert {
            username: erin.clone(),
            permission: PermissionName::Release,
            options: PermissionOptions::default(),
        };
        let (change, _) = store
            .schedule_change(&grant, &DUE, "alice", NOW)
            .expect("scheduled");
        store
            .put_permission(
                &erin,
                PermissionName::Release,
                &PermissionOptions::default(),
                None,
                "admin",
                OffsetDateTime::now_utc(),
            )
            .expect("granted directly: an insert's row is not the pending change's yet");
        match store
            .enact_scheduled_change(ScTable::Permissions, change.sc_id, "alice", NOW)
            .expect("answered")
        {
            Enactment::Failed(done) => {
                assert!(done.complete);
                assert!(matches!(done.outcome, Some(Outcome::Failed { .. })));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    });
}
