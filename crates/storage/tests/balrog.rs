//! Stories of the Balrog admin model, run against every backend under test (SQLite always,
//! PostgreSQL when SHIPLOG_TEST_DATABASE_URL is set).

use serde_json::{json, Map, Value};
use shiplog_domain::balrog::{
    BlobEdit, ChangeTable, ReleaseName, RuleChanges, RuleField, RuleFields, RuleRef,
};
use shiplog_domain::NewPackage;
use shiplog_storage::testing::TestDb;
use shiplog_storage::{
    BalrogRefusal, Page, ReleaseEdit, ReleaseFilter, Signoffs, StorageError, Store,
};

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn name(text: &str) -> ReleaseName {
    ReleaseName::parse(text).expect("valid name")
}

fn blob(release: &str) -> Value {
    json!({"name": release, "schema_version": 1, "hashFunction": "sha512"})
}

fn release(store: &Store, release: &str) {
    store
        .insert_named_release(&name(release), "Firefox", &blob(release), "alice")
        .expect("insert release");
}

fn rule_fields(input: Value) -> RuleFields {
    RuleFields::create(&RuleChanges::parse(&object(input)).expect("valid changes")).expect("valid")
}

fn changes(input: Value) -> RuleChanges {
    RuleChanges::parse(&object(input)).expect("valid changes")
}

#[track_caller]
fn refused(result: Result<impl std::fmt::Debug, StorageError>) -> BalrogRefusal {
    match result {
        Err(StorageError::Balrog(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn locale_edit(platform: &str, locale: &str, build: &str, data_version: i64) -> ReleaseEdit {
    ReleaseEdit {
        product: "Firefox".into(),
        data_version: Some(data_version),
        schema_version: 1,
        hash_function: None,
        edit: BlobEdit::SetLocale {
            platform: platform.into(),
            locale: locale.into(),
            data: json!({"buildID": build}),
            aliases: vec![],
        },
        copy_to: vec![],
    }
}

#[test]
fn rules_are_created_listed_updated_and_deleted_with_their_versions() {
    each_backend(|store| {
        release(store, "Firefox-60.0");
        release(store, "Firefox-61.0");

        let unknown = rule_fields(
            json!({"priority": 1, "backgroundRate": 100, "update_type": "minor", "mapping": "nope"}),
        );
        assert_eq!(
            refused(store.insert_rule(&unknown, "alice")),
            BalrogRefusal::UnknownMapping {
                field: RuleField::Mapping,
                name: "nope".into()
            }
        );
        let bad_fallback = rule_fields(
            json!({"priority": 1, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0", "fallbackMapping": "nope"}),
        );
        assert!(matches!(
            refused(store.insert_rule(&bad_fallback, "alice")),
            BalrogRefusal::UnknownMapping {
                field: RuleField::FallbackMapping,
                ..
            }
        ));

        let release_rule = store
            .insert_rule(
                &rule_fields(json!({"priority": 90, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0", "product": "Firefox", "channel": "release", "alias": "firefox-release", "version": "<60.0"})),
                "alice",
            )
            .expect("insert");
        assert_eq!(release_rule.data_version, 1);
        let beta_rule = store
            .insert_rule(
                &rule_fields(json!({"priority": 80, "backgroundRate": 50, "update_type": "minor", "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0", "product": "Firefox"})),
                "bob",
            )
            .expect("insert");
        let other_product = store
            .insert_rule(
                &rule_fields(json!({"priority": 90, "backgroundRate": 100, "update_type": "major", "mapping": "Firefox-61.0", "product": "Thunderbird"})),
                "bob",
            )
            .expect("insert");
        assert!(
            other_product.rule_id > beta_rule.rule_id && beta_rule.rule_id > release_rule.rule_id
        );

        let taken = rule_fields(
            json!({"priority": 1, "backgroundRate": 1, "update_type": "minor", "mapping": "Firefox-60.0", "alias": "firefox-release"}),
        );
        assert_eq!(
            refused(store.insert_rule(&taken, "alice")),
            BalrogRefusal::AliasTaken("firefox-release".into())
        );

        // Balrog's order: priority ascending, then version (unset first), then mapping.
        let ids: Vec<i64> = store
            .list_rules(None)
            .expect("list")
            .iter()
            .map(|r| r.rule_id)
            .collect();
        assert_eq!(
            ids,
            [
                beta_rule.rule_id,
                other_product.rule_id,
                release_rule.rule_id
            ]
        );
        let firefox: Vec<i64> = store
            .list_rules(Some("Firefox"))
            .expect("list")
            .iter()
            .map(|r| r.rule_id)
            .collect();
        assert_eq!(firefox, [beta_rule.rule_id, release_rule.rule_id]);

        let by_alias = store
            .find_rule(&RuleRef::Alias("firefox-release".into()))
            .expect("find")
            .expect("exists");
        assert_eq!(by_alias, release_rule);
        assert!(store.find_rule(&RuleRef::Id(9999)).expect("find").is_none());

        let updated = store
            .update_rule(
                &RuleRef::Alias("firefox-release".into()),
                1,
                &changes(json!({"backgroundRate": 25, "channel": "", "mapping": "Firefox-61.0"})),
                "carol",
            )
            .expect("update");
        assert_eq!(updated.data_version, 2);
        assert_eq!(updated.fields.background_rate, 25);
        assert_eq!(updated.fields.channel, None);
        assert_eq!(updated.fields.priority, 90);
        assert_eq!(
            refused(store.update_rule(
                &RuleRef::Id(release_rule.rule_id),
                1,
                &changes(json!({"priority": 5})),
                "carol"
            )),
            BalrogRefusal::Outdated
        );
        assert!(matches!(
            refused(store.update_rule(
                &RuleRef::Id(release_rule.rule_id),
                2,
                &changes(json!({"mapping": "gone"})),
                "carol"
            )),
            BalrogRefusal::UnknownMapping { .. }
        ));
        assert_eq!(
            refused(store.update_rule(
                &RuleRef::Id(beta_rule.rule_id),
                1,
                &changes(json!({"alias": "firefox-release"})),
                "carol"
            )),
            BalrogRefusal::AliasTaken("firefox-release".into())
        );
        assert!(matches!(
            refused(store.update_rule(
                &RuleRef::Id(9999),
                1,
                &changes(json!({"priority": 5})),
                "carol"
            )),
            BalrogRefusal::RuleNotFound(_)
        ));

        assert_eq!(
            refused(store.delete_rule(&RuleRef::Id(beta_rule.rule_id), 7, "carol")),
            BalrogRefusal::Outdated
        );
        store
            .delete_rule(&RuleRef::Id(beta_rule.rule_id), 1, "carol")
            .expect("delete");
        assert!(store
            .find_rule(&RuleRef::Id(beta_rule.rule_id))
            .expect("find")
            .is_none());
        assert!(matches!(
            refused(store.delete_rule(&RuleRef::Id(beta_rule.rule_id), 1, "carol")),
            BalrogRefusal::RuleNotFound(_)
        ));

        let products = store
            .rule_column_values("product")
            .expect("column")
            .expect("known");
        assert_eq!(products, [json!("Firefox"), json!("Thunderbird")]);
        let priorities = store
            .rule_column_values("priority")
            .expect("column")
            .expect("known");
        assert_eq!(priorities, [json!(90)]);
        assert_eq!(
            store
                .rule_column_values("update_type")
                .expect("column")
                .expect("known"),
            [json!("major"), json!("minor")]
        );
        assert!(store.rule_column_values("nope").expect("column").is_none());
    });
}

#[test]
fn rule_history_records_every_change_and_reverts_forward() {
    each_backend(|store| {
        release(store, "a");
        release(store, "b");
        let rule = store
            .insert_rule(&rule_fields(json!({"priority": 1, "backgroundRate": 10, "update_type": "minor", "mapping": "a"})), "alice")
            .expect("insert");
        let key = rule.rule_id.to_string();
        store
            .update_rule(
                &RuleRef::Id(rule.rule_id),
                1,
                &changes(json!({"backgroundRate": 20, "mapping": "b"})),
                "bob",
            )
            .expect("update");
        store
            .update_rule(
                &RuleRef::Id(rule.rule_id),
                2,
                &changes(json!({"backgroundRate": 30})),
                "carol",
            )
            .expect("update");

        let revisions = store
            .list_revisions(ChangeTable::Rules, &key, 10, 0)
            .expect("revisions");
        assert_eq!(revisions.total, 3, "the insert marker is not a revision");
        let versions: Vec<Option<i64>> = revisions.changes.iter().map(|c| c.data_version).collect();
        assert_eq!(versions, [Some(3), Some(2), Some(1)], "newest first");
        assert_eq!(revisions.changes[0].changed_by, "carol");
        assert_eq!(
            revisions.changes[2].field("backgroundRate"),
            Some(json!(10))
        );
        let page = store
            .list_revisions(ChangeTable::Rules, &key, 2, 2)
            .expect("page");
        assert_eq!((page.total, page.changes.len()), (3, 1));

        let first = revisions.changes[2].clone();
        let marker = store
            .find_change(ChangeTable::Rules, first.change_id - 1)
            .expect("find")
            .expect("the insert marker");
        assert!(!marker.has_row());
        assert_eq!(
            store
                .previous_change(&revisions.changes[0])
                .expect("prev")
                .map(|c| c.change_id),
            Some(revisions.changes[1].change_id)
        );
        assert_eq!(store.previous_change(&first).expect("prev"), None);

        let reverted = store
            .revert_rule(rule.rule_id, first.change_id, "dave")
            .expect("revert");
        assert_eq!(reverted.data_version, 4);
        assert_eq!(reverted.fields.background_rate, 10);
        assert_eq!(reverted.fields.mapping.as_deref(), Some("a"));
        assert_eq!(
            refused(store.revert_rule(rule.rule_id, 99_999, "dave")),
            BalrogRefusal::ChangeNotFound(99_999)
        );
        assert_eq!(
            refused(store.revert_rule(rule.rule_id, marker.change_id, "dave")),
            BalrogRefusal::ChangeNotFound(marker.change_id)
        );
        let other = store
            .insert_rule(&rule_fields(json!({"priority": 1, "backgroundRate": 10, "update_type": "minor", "mapping": "a"})), "alice")
            .expect("insert");
        assert_eq!(
            refused(store.revert_rule(other.rule_id, first.change_id, "dave")),
            BalrogRefusal::ChangeOfOtherObject("rule_id")
        );

        store
            .delete_rule(&RuleRef::Id(rule.rule_id), 4, "erin")
            .expect("delete");
        let after = store
            .list_revisions(ChangeTable::Rules, &key, 10, 0)
            .expect("revisions");
        assert_eq!(after.total, 4, "the delete marker is not a revision");
    });
}

#[test]
fn named_releases_edit_merge_lock_and_delete() {
    each_backend(|store| {
        let created = store
            .insert_named_release(
                &name("Firefox-mozilla-central-nightly-latest"),
                "Firefox",
                &blob("Firefox-mozilla-central-nightly-latest"),
                "alice",
            )
            .expect("insert");
        assert_eq!(created.data_version, 1);
        assert_eq!(
            refused(store.insert_named_release(
                &name("Firefox-mozilla-central-nightly-latest"),
                "Firefox",
                &blob("Firefox-mozilla-central-nightly-latest"),
                "alice"
            )),
            BalrogRefusal::ReleaseExists("Firefox-mozilla-central-nightly-latest".into())
        );
        assert!(matches!(
            store.insert_named_release(&name("x"), "Firefox", &blob("y"), "alice"),
            Err(StorageError::Refused(_))
        ));
        let nightly = name("Firefox-mozilla-central-nightly-latest");

        // Two locale uploads based on the same version both land.
        let de = store
            .edit_named_release(&nightly, &locale_edit("WINNT", "de", "1", 1), "build")
            .expect("de");
        assert_eq!((de.data_version, de.created), (2, true));
        let fr = store
            .edit_named_release(&nightly, &locale_edit("WINNT", "fr", "1", 1), "build")
            .expect("fr");
        assert_eq!((fr.data_version, fr.created), (3, true));
        let again = store
            .edit_named_release(&nightly, &locale_edit("WINNT", "fr", "2", 3), "build")
            .expect("fr again");
        assert_eq!((again.data_version, again.created), (4, false));
        let found = store
            .find_named_release(nightly.as_str())
            .expect("find")
            .expect("exists");
        assert_eq!(
            found.data["platforms"]["WINNT"]["locales"]["de"]["buildID"],
            "1"
        );
        assert_eq!(
            found.data["platforms"]["WINNT"]["locales"]["fr"]["buildID"],
            "2"
        );

        // A real conflict, a version that never existed, and a missing one are refused.
        assert!(matches!(
            refused(store.edit_named_release(
                &nightly,
                &locale_edit("WINNT", "fr", "3", 2),
                "build"
            )),
            BalrogRefusal::MergeConflict(_)
        ));
        assert_eq!(
            refused(store.edit_named_release(
                &nightly,
                &locale_edit("WINNT", "it", "1", 9),
                "build"
            )),
            BalrogRefusal::Outdated
        );
        let mut unversioned = locale_edit("WINNT", "it", "1", 1);
        unversioned.data_version = None;
        assert!(matches!(
            refused(store.edit_named_release(&nightly, &unversioned, "build")),
            BalrogRefusal::DataVersionMissing(_)
        ));
        let mut other_product = locale_edit("WINNT", "it", "1", 4);
        other_product.product = "Fennec".into();
        assert!(matches!(
            refused(store.edit_named_release(&nightly, &other_product, "build")),
            BalrogRefusal::ProductMismatch { .. }
        ));
        let mut other_hash = locale_edit("WINNT", "it", "1", 4);
        other_hash.hash_function = Some("sha1".into());
        assert!(matches!(
            refused(store.edit_named_release(&nightly, &other_hash, "build")),
            BalrogRefusal::HashFunctionMismatch { .. }
        ));

        // A partial edit creates missing releases, here one named in copyTo too.
        let mut top_level = locale_edit("WINNT", "it", "1", 4);
        top_level.edit =
            BlobEdit::MergeTopLevel(object(json!({"detailsUrl": "https://example.com"})));
        top_level.copy_to = vec![name("Firefox-copy")];
        // The copy is created from scratch and a release blob needs its hashFunction.
        top_level.hash_function = Some("sha512".into());
        let merged = store
            .edit_named_release(&nightly, &top_level, "build")
            .expect("merge");
        assert_eq!((merged.data_version, merged.created), (5, false));
        let copy = store
            .find_named_release("Firefox-copy")
            .expect("find")
            .expect("created");
        assert_eq!(copy.data_version, 2, "created, then edited");
        assert_eq!(copy.data["detailsUrl"], "https://example.com");
        assert_eq!(copy.data["schema_version"], 1);

        // PUT replaces, creating when missing.
        let put = store
            .put_named_release(
                &name("Fennec-1"),
                "Fennec",
                &blob("Fennec-1"),
                None,
                "alice",
            )
            .expect("put");
        assert_eq!((put.data_version, put.created), (1, true));
        assert!(matches!(
            refused(store.put_named_release(
                &name("Fennec-1"),
                "Fennec",
                &blob("Fennec-1"),
                None,
                "alice"
            )),
            BalrogRefusal::DataVersionMissing(_)
        ));
        let replaced = store
            .put_named_release(
                &name("Fennec-1"),
                "Fennec",
                &json!({"name": "Fennec-1", "schema_version": 2, "hashFunction": "sha512"}),
                Some(1),
                "alice",
            )
            .expect("replace");
        assert_eq!((replaced.data_version, replaced.created), (2, false));

        // Read-only blocks edits and deletion, not rules.
        assert_eq!(
            refused(store.set_release_read_only("Fennec-1", true, 1, "rm")),
            BalrogRefusal::Outdated
        );
        assert_eq!(
            store
                .set_release_read_only("Fennec-1", true, 2, "rm")
                .expect("lock"),
            3
        );
        assert_eq!(
            store
                .set_release_read_only("Fennec-1", true, 3, "rm")
                .expect("no-op"),
            3
        );
        assert!(matches!(
            refused(store.put_named_release(
                &name("Fennec-1"),
                "Fennec",
                &blob("Fennec-1"),
                Some(3),
                "alice"
            )),
            BalrogRefusal::ReadOnly(_)
        ));
        assert!(matches!(
            refused(store.delete_named_release("Fennec-1", 3, "alice")),
            BalrogRefusal::ReadOnly(_)
        ));
        let rule = store
            .insert_rule(&rule_fields(json!({"priority": 1, "backgroundRate": 100, "update_type": "minor", "mapping": "Fennec-1"})), "alice")
            .expect("a rule may map to a read-only release");
        assert_eq!(
            store
                .set_release_read_only("Fennec-1", false, 3, "rm")
                .expect("unlock"),
            4
        );
        assert_eq!(
            refused(store.delete_named_release("Fennec-1", 4, "alice")),
            BalrogRefusal::ReleaseInUse {
                name: "Fennec-1".into(),
                rule_ids: vec![rule.rule_id]
            }
        );

        let listed = store.list_named_releases(None, None).expect("list");
        let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Fennec-1",
                "Firefox-copy",
                "Firefox-mozilla-central-nightly-latest"
            ]
        );
        assert_eq!(listed[0].rule_ids, [rule.rule_id]);
        assert!(listed[1].rule_ids.is_empty());
        assert_eq!(
            store
                .list_named_releases(Some("Fennec"), None)
                .expect("list")
                .len(),
            1
        );
        let prefixed = store
            .list_named_releases(None, Some("Firefox-m"))
            .expect("list");
        assert_eq!(prefixed.len(), 1);
        assert!(
            store
                .list_named_releases(None, Some("firefox"))
                .expect("list")
                .is_empty(),
            "prefixes are case-sensitive"
        );
        assert_eq!(
            store
                .release_column_values("product")
                .expect("column")
                .expect("known"),
            [json!("Fennec"), json!("Firefox")]
        );

        store
            .delete_rule(&RuleRef::Id(rule.rule_id), 1, "alice")
            .expect("delete rule");
        assert_eq!(
            refused(store.delete_named_release("Fennec-1", 3, "alice")),
            BalrogRefusal::Outdated
        );
        store
            .delete_named_release("Fennec-1", 4, "alice")
            .expect("delete");
        assert!(store
            .find_named_release("Fennec-1")
            .expect("find")
            .is_none());
        assert!(matches!(
            refused(store.delete_named_release("Fennec-1", 4, "alice")),
            BalrogRefusal::ReleaseNotFound(_)
        ));
    });
}

#[test]
fn release_history_reverts_and_named_releases_stay_ledger_releases() {
    each_backend(|store| {
        release(store, "r");
        let r = name("r");
        store
            .put_named_release(
                &r,
                "Firefox",
                &json!({"name": "r", "schema_version": 2, "hashFunction": "sha512"}),
                Some(1),
                "bob",
            )
            .expect("put");
        let revisions = store
            .list_revisions(ChangeTable::Releases, "r", 10, 0)
            .expect("revisions");
        assert_eq!(revisions.total, 2);
        let first = revisions.changes[1].clone();
        assert_eq!(first.field("data"), Some(blob("r")));
        assert_eq!(first.field("read_only"), Some(json!(false)));
        assert_eq!(
            store
                .revert_named_release("r", first.change_id, "carol")
                .expect("revert"),
            3
        );
        let now = store
            .find_named_release("r")
            .expect("find")
            .expect("exists");
        assert_eq!(now.data, blob("r"));
        assert_eq!(
            refused(store.revert_named_release("r", 99_999, "carol")),
            BalrogRefusal::ChangeNotFound(99_999)
        );
        release(store, "other");
        let other_change = store
            .list_revisions(ChangeTable::Releases, "other", 1, 0)
            .expect("revisions")
            .changes[0]
            .change_id;
        assert_eq!(
            refused(store.revert_named_release("r", other_change, "carol")),
            BalrogRefusal::ChangeOfOtherObject("name")
        );
        assert!(matches!(
            refused(store.revert_named_release("gone", first.change_id, "carol")),
            BalrogRefusal::ReleaseNotFound(_)
        ));

        // The ledger sees the named release as a release of the acting user.
        let in_ledger = store
            .find_release(now.id, &ReleaseFilter::default())
            .expect("find")
            .expect("the same release");
        assert_eq!(in_ledger.user, "alice");
        assert!(in_ledger.platforms.is_empty() && in_ledger.packages.is_empty());

        // Once the ledger recorded packages, deleting through Balrog keeps the ledger record.
        store
            .add_package(now.id, &NewPackage::new("web", "1.0"))
            .expect("package");
        store.delete_named_release("r", 3, "dave").expect("delete");
        assert!(store.find_named_release("r").expect("find").is_none());
        let kept = store
            .find_release(now.id, &ReleaseFilter::default())
            .expect("find")
            .expect("kept");
        assert_eq!(kept.packages.len(), 1);
        let other = store
            .find_named_release("other")
            .expect("find")
            .expect("exists");
        store
            .delete_named_release("other", 1, "dave")
            .expect("delete");
        assert!(store
            .find_release(other.id, &ReleaseFilter::default())
            .expect("find")
            .is_none());
        assert_eq!(
            store
                .list_releases(&ReleaseFilter::default(), &Page::default())
                .expect("list")
                .len(),
            1
        );
        // A name can be used again; its old history does not serve as a merge ancestor.
        release(store, "r");
        assert_eq!(
            refused(store.edit_named_release(&r, &locale_edit("p", "de", "1", 0), "x")),
            BalrogRefusal::Outdated
        );
    });
}

#[test]
fn concurrent_writers_lose_no_update() {
    const WRITERS: usize = 6;
    const EACH: usize = 5;
    each_backend(|store| {
        release(store, "nightly");
        release(store, "target");
        let rule = store
            .insert_rule(&rule_fields(json!({"priority": 0, "backgroundRate": 0, "update_type": "minor", "mapping": "target"})), "alice")
            .expect("insert");
        std::thread::scope(|scope| {
            for writer in 0..WRITERS {
                let store = store.clone();
                scope.spawn(move || {
                    for n in 0..EACH {
                        // Every locale upload is based on the first version: all must merge.
                        let edit = locale_edit("WINNT", &format!("l{writer}-{n}"), "1", 1);
                        store
                            .edit_named_release(&name("nightly"), &edit, "build")
                            .expect("merged");
                        // Read-modify-write with the version read; retry when outdated.
                        loop {
                            let current = store
                                .find_rule(&RuleRef::Id(rule.rule_id))
                                .expect("find")
                                .expect("exists");
                            let next = json!({"priority": current.fields.priority + 1});
                            match store.update_rule(
                                &RuleRef::Id(rule.rule_id),
                                current.data_version,
                                &changes(next),
                                "w",
                            ) {
                                Ok(_) => break,
                                Err(StorageError::Balrog(BalrogRefusal::Outdated)) => continue,
                                Err(other) => panic!("unexpected {other}"),
                            }
                        }
                    }
                });
            }
        });
        let total = i64::try_from(WRITERS * EACH).expect("small");
        let nightly = store
            .find_named_release("nightly")
            .expect("find")
            .expect("exists");
        assert_eq!(nightly.data_version, 1 + total);
        assert_eq!(
            nightly.data["platforms"]["WINNT"]["locales"]
                .as_object()
                .expect("locales")
                .len(),
            WRITERS * EACH
        );
        let rule = store
            .find_rule(&RuleRef::Id(rule.rule_id))
            .expect("find")
            .expect("exists");
        assert_eq!(rule.fields.priority, total);
        assert_eq!(rule.data_version, 1 + total);
        let history = store
            .list_revisions(ChangeTable::Rules, &rule.rule_id.to_string(), 1, 0)
            .expect("revisions");
        assert_eq!(history.total, 1 + total);
    });
}

#[test]
fn a_writers_guard_sees_what_is_stored_and_a_refusal_writes_nothing() {
    use shiplog_domain::{Action, Denied, PermissionName};
    use shiplog_storage::{Subject, Writer};

    each_backend(|store| {
        release(store, "Guarded-1");
        let rule = store
            .insert_rule(
                &rule_fields(
                    json!({"priority": 1, "backgroundRate": 100, "update_type": "minor",
                                    "mapping": "Guarded-1", "product": "Thunderbird"}),
                ),
                "alice",
            )
            .expect("rule");
        // Only Firefox may be touched: the guard is shown the rule as stored (Thunderbird).
        let seen = std::sync::Mutex::new(Vec::new());
        let only_firefox = |subject: Subject<'_>| -> Result<(), Denied> {
            let product = match subject {
                Subject::Rule(rule) => rule.fields.product.clone(),
                Subject::Release(release) => Some(release.product.clone()),
                Subject::NewRelease { product, .. } | Subject::Pin { product, .. } => {
                    Some(product.to_owned())
                }
            };
            seen.lock().expect("lock").push(product.clone());
            if product.as_deref() == Some("Firefox") {
                Ok(())
            } else {
                Err(Denied {
                    user: "bob".into(),
                    thing: PermissionName::Rule,
                    action: Action::Modify,
                    product,
                })
            }
        };
        let bob = Writer {
            name: "bob",
            guard: &only_firefox,
            signoffs: Signoffs::DIRECT,
        };
        let refused = store.update_rule(
            &RuleRef::Id(rule.rule_id),
            1,
            &changes(json!({"product": "Firefox", "priority": 5})),
            bob,
        );
        assert!(
            matches!(&refused, Err(StorageError::Denied(d)) if d.product.as_deref() == Some("Thunderbird")),
            "{refused:?}"
        );
        let unchanged = store
            .find_rule(&RuleRef::Id(rule.rule_id))
            .expect("read")
            .expect("rule");
        assert_eq!(unchanged.data_version, 1, "nothing was written");
        assert_eq!(unchanged.fields.priority, 1);
        assert!(matches!(
            store.delete_rule(&RuleRef::Id(rule.rule_id), 1, bob),
            Err(StorageError::Denied(_))
        ));
        // Releases: a product moved to Thunderbird by someone else is refused at write time.
        store
            .put_named_release(
                &name("Guarded-1"),
                "Thunderbird",
                &blob("Guarded-1"),
                Some(1),
                "alice",
            )
            .expect("moved");
        let edit = store.put_named_release(
            &name("Guarded-1"),
            "Firefox",
            &blob("Guarded-1"),
            Some(2),
            bob,
        );
        assert!(matches!(edit, Err(StorageError::Denied(_))), "{edit:?}");
        let stored = store
            .find_named_release("Guarded-1")
            .expect("read")
            .expect("release");
        assert_eq!(
            (stored.product.as_str(), stored.data_version),
            ("Thunderbird", 2)
        );
        // A creation is shown as one.
        store
            .put_named_release(&name("Guarded-2"), "Firefox", &blob("Guarded-2"), None, bob)
            .expect("bob may create Firefox releases");
        assert!(seen.lock().expect("lock").iter().all(|p| p.is_some()));
    });
}
