//! Stories of roles, required signoffs and the signoff guard, run against every backend under
//! test (SQLite always, PostgreSQL when SHIPLOG_TEST_DATABASE_URL is set).

use serde_json::{json, Map, Value};
use shiplog_domain::balrog::{
    ChangeTable, PermissionScope, ReleaseName, RequiredSignoffs, RuleChanges, RuleFields, RuleRef,
    RuleScope, SignoffShortfall,
};
use shiplog_domain::{Denied, PermissionName, PermissionOptions, UserName};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{
    BalrogRefusal, RequiredSignoffInput, SignoffTarget, Signoffs, StorageError, Store, Subject,
    Writer,
};
use time::OffsetDateTime;

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

fn allow(_: Subject<'_>) -> Result<(), Denied> {
    Ok(())
}

/// A writer carrying signoffs made with `roles`.
fn signed<'a>(name: &'a str, roles: &'a [String]) -> Writer<'a> {
    Writer {
        name,
        guard: &allow,
        signoffs: Signoffs::Given(roles),
    }
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// Gives `name` a permission (roles go only to users who have one) and `role`.
fn user_with_role(store: &Store, name: &str, role: &str) {
    let user = UserName::parse(name).expect("valid user");
    store
        .put_permission(
            &user,
            PermissionName::Rule,
            &PermissionOptions::default(),
            None,
            "admin",
            OffsetDateTime::now_utc(),
        )
        .expect("grant");
    store.grant_role(name, role, "admin").expect("role");
}

fn product_rs(product: &str, channel: &str, role: &str, n: i64) -> RequiredSignoffInput {
    RequiredSignoffInput {
        product: product.into(),
        channel: Some(channel.into()),
        role: role.into(),
        signoffs_required: n,
    }
}

fn permissions_rs(product: &str, role: &str, n: i64) -> RequiredSignoffInput {
    RequiredSignoffInput {
        product: product.into(),
        channel: None,
        role: role.into(),
        signoffs_required: n,
    }
}

fn required(pairs: &[(&str, i64)]) -> RequiredSignoffs {
    pairs
        .iter()
        .map(|(role, n)| ((*role).to_owned(), *n))
        .collect()
}

#[test]
fn roles_are_granted_listed_and_revoked_with_history() {
    each_backend(|store| {
        assert!(matches!(
            refused(store.grant_role("nobody", "releng", "admin")),
            BalrogRefusal::Invalid(text) if text.contains("without any permissions")
        ));
        user_with_role(store, "alice", "releng");
        let again = store.grant_role("alice", "releng", "admin").expect("again");
        assert!(!again.created, "granting a held role changes nothing");
        assert_eq!(again.data_version, 1);
        store
            .grant_role("alice", "relman", "admin")
            .expect("second");
        assert_eq!(
            store.user_roles("alice").expect("roles"),
            vec!["releng", "relman"]
        );
        assert!(store.user_roles("bob").expect("roles").is_empty());
        let all = store.list_roles(None).expect("all");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].username, "alice");

        assert_eq!(
            refused(store.revoke_role("alice", "releng", 7, "admin")),
            BalrogRefusal::Outdated
        );
        store
            .revoke_role("alice", "releng", 1, "admin")
            .expect("revoke");
        assert!(matches!(
            refused(store.revoke_role("alice", "releng", 1, "admin")),
            BalrogRefusal::RoleNotFound { .. }
        ));
        assert_eq!(store.user_roles("alice").expect("roles"), vec!["relman"]);
        // Revoking the last permission revokes the roles too, as Balrog does.
        let alice = UserName::parse("alice").expect("user");
        store
            .delete_permission(
                &alice,
                PermissionName::Rule,
                1,
                "admin",
                OffsetDateTime::now_utc(),
            )
            .expect("revoke");
        assert!(store.user_roles("alice").expect("roles").is_empty());
        let revisions = store
            .list_revisions(ChangeTable::Roles, "alice/releng", 10, 0)
            .expect("history");
        assert_eq!(revisions.total, 1, "the grant (markers left out)");
        assert_eq!(
            revisions.changes[0].row,
            Some(json!({"username": "alice", "role": "releng", "data_version": 1}))
        );
    });
}

#[test]
fn required_signoffs_need_holders_and_keep_them() {
    each_backend(|store| {
        user_with_role(store, "alice", "releng");
        assert!(matches!(
            refused(store.insert_required_signoff(&product_rs("Firefox", "release", "releng", 2), "admin")),
            BalrogRefusal::Invalid(text) if text == "Cannot require 2 signoffs for Firefox, release - only 1 users hold the releng role"
        ));
        user_with_role(store, "bob", "releng");
        store
            .insert_required_signoff(&product_rs("Firefox", "release", "releng", 2), "admin")
            .expect("two holders now");
        assert!(matches!(
            refused(store.revoke_role("bob", "releng", 1, "admin")),
            BalrogRefusal::Invalid(text) if text.contains("impossible for Required Signoffs")
        ));
        // Nor through revoking bob's last permission: that refusal undoes the revocation.
        let bob = UserName::parse("bob").expect("user");
        assert!(matches!(
            refused(store.delete_permission(
                &bob,
                PermissionName::Rule,
                1,
                "admin",
                OffsetDateTime::now_utc()
            )),
            BalrogRefusal::Invalid(_)
        ));
        assert_eq!(store.user_permissions(&bob).expect("kept").len(), 1);
        assert_eq!(
            refused(
                store.insert_required_signoff(
                    &product_rs("Firefox", "release", "releng", 1),
                    "admin"
                )
            ),
            BalrogRefusal::RequiredSignoffExists("Firefox/release/releng".into())
        );
        let rows = store
            .list_product_required_signoffs(Some("Firefox"), None)
            .expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].signoffs_required, rows[0].data_version), (2, 1));
        assert!(store
            .list_product_required_signoffs(Some("Firefox"), Some("beta"))
            .expect("list")
            .is_empty());
        let revisions = store
            .list_revisions(
                ChangeTable::RequiredSignoffsProduct,
                "Firefox/release/releng",
                10,
                0,
            )
            .expect("history");
        assert_eq!(revisions.total, 1);
    });
}

#[test]
fn what_a_change_needs_is_read_from_the_stored_rows() {
    each_backend(|store| {
        user_with_role(store, "alice", "releng");
        user_with_role(store, "bob", "releng");
        user_with_role(store, "carol", "relman");
        store
            .insert_required_signoff(&product_rs("Firefox", "release", "releng", 2), "admin")
            .expect("rs");
        store
            .insert_required_signoff(&product_rs("Firefox", "beta", "relman", 1), "admin")
            .expect("rs");
        store
            .insert_required_signoff(&permissions_rs("Firefox", "relman", 1), "admin")
            .expect("rs");
        let needs = |target: SignoffTarget<'_>| store.required_signoffs_for(&target).expect("rs");
        let rule = |product, channel| SignoffTarget::Rule {
            old: None,
            new: Some(RuleScope { product, channel }),
        };

        assert_eq!(
            needs(rule(Some("Firefox"), Some("release"))),
            required(&[("releng", 2)])
        );
        assert_eq!(
            needs(rule(Some("Firefox"), None)),
            required(&[("releng", 2), ("relman", 1)])
        );
        assert_eq!(
            needs(rule(Some("Firefox"), Some("rel*"))),
            required(&[("releng", 2)])
        );
        assert_eq!(needs(rule(Some("Firefox"), Some("nightly"))), required(&[]));
        assert_eq!(
            needs(rule(Some("Thunderbird"), Some("release"))),
            required(&[])
        );
        assert_eq!(
            needs(SignoffTarget::Rule {
                old: Some(RuleScope {
                    product: Some("Firefox"),
                    channel: Some("beta")
                }),
                new: Some(RuleScope {
                    product: Some("Thunderbird"),
                    channel: Some("beta")
                }),
            }),
            required(&[("relman", 1)]),
            "moving a rule away needs the signoffs of where it was"
        );

        // A release needs what the rules mapping it need.
        let name = ReleaseName::parse("Firefox-60.0").expect("name");
        store
            .insert_named_release(
                &name,
                "Firefox",
                &json!({"name": "Firefox-60.0", "schema_version": 1, "hashFunction": "sha512"}),
                "alice",
            )
            .expect("release");
        let older = ReleaseName::parse("Firefox-59.0").expect("name");
        store
            .insert_named_release(
                &older,
                "Firefox",
                &json!({"name": "Firefox-59.0", "schema_version": 1, "hashFunction": "sha512"}),
                "alice",
            )
            .expect("release");
        let release = SignoffTarget::Release {
            name: "Firefox-60.0",
        };
        assert_eq!(needs(release), required(&[]));
        let unset = SignoffTarget::ReadOnlyUnset {
            name: "Firefox-60.0",
            product: "Firefox",
        };
        assert_eq!(
            needs(unset),
            required(&[("releng", 2), ("relman", 1)]),
            "unmapped: every requirement of its product"
        );
        store
            .insert_rule(
                &rule_fields(
                    json!({"priority": 1, "backgroundRate": 100, "update_type": "minor",
                    "product": "Firefox", "channel": "beta", "mapping": "Firefox-59.0", "fallbackMapping": "Firefox-60.0"}),
                ),
                "alice",
            )
            .expect("rule");
        assert_eq!(needs(release), required(&[("relman", 1)]));
        assert_eq!(needs(unset), required(&[("relman", 1)]));

        assert_eq!(
            needs(SignoffTarget::ShutoffDelete {
                product: "Firefox",
                channel: "release"
            }),
            required(&[("releng", 2)])
        );

        let firefox = PermissionOptions {
            products: Some(vec!["Firefox".into()]),
            actions: None,
        };
        let fennec = PermissionOptions {
            products: Some(vec!["Fennec".into()]),
            actions: None,
        };
        let unrestricted = PermissionOptions::default();
        let permission = |options| SignoffTarget::Permission {
            old: None,
            new: Some(PermissionScope {
                permission: PermissionName::Release,
                options,
            }),
        };
        assert_eq!(needs(permission(&firefox)), required(&[("relman", 1)]));
        assert_eq!(needs(permission(&fennec)), required(&[]));
        assert_eq!(needs(permission(&unrestricted)), required(&[("relman", 1)]));

        assert_eq!(
            needs(SignoffTarget::ProductRequiredSignoff {
                product: "Firefox",
                channel: "release"
            }),
            required(&[("releng", 2)])
        );
        assert_eq!(
            needs(SignoffTarget::ProductRequiredSignoff {
                product: "Firefox",
                channel: "nightly"
            }),
            required(&[])
        );
        assert_eq!(
            needs(SignoffTarget::PermissionsRequiredSignoff { product: "Firefox" }),
            required(&[("relman", 1)])
        );
    });
}

#[test]
fn guarded_writes_need_their_signoffs_and_a_refusal_writes_nothing() {
    each_backend(|store| {
        user_with_role(store, "alice", "releng");
        user_with_role(store, "bob", "releng");
        store
            .insert_required_signoff(&product_rs("Firefox", "release", "releng", 2), "admin")
            .expect("rs");
        let name = ReleaseName::parse("Firefox-60.0").expect("name");
        store
            .insert_named_release(
                &name,
                "Firefox",
                &json!({"name": "Firefox-60.0", "schema_version": 1, "hashFunction": "sha512"}),
                "alice",
            )
            .expect("release");
        let fields = rule_fields(
            json!({"priority": 1, "backgroundRate": 100, "mapping": "Firefox-60.0",
            "update_type": "minor", "product": "Firefox", "channel": "release"}),
        );
        let before = store
            .list_revisions(ChangeTable::Rules, "1", 10, 0)
            .expect("h");
        assert_eq!(
            refused(store.insert_rule(&fields, Writer::direct("alice"))),
            BalrogRefusal::SignoffRequired(SignoffShortfall::NoSignoffs)
        );
        let one = roles(&["releng"]);
        assert_eq!(
            refused(store.insert_rule(&fields, signed("alice", &one))),
            BalrogRefusal::SignoffRequired(SignoffShortfall::NotEnough("releng".into()))
        );
        assert!(store.list_rules(None).expect("rules").is_empty());
        assert_eq!(
            store
                .list_revisions(ChangeTable::Rules, "1", 10, 0)
                .expect("h"),
            before,
            "nothing written"
        );
        let two = roles(&["releng", "releng"]);
        let rule = store
            .insert_rule(&fields, signed("alice", &two))
            .expect("signed off");
        // Elsewhere the same writer goes through directly.
        let nightly = rule_fields(
            json!({"priority": 2, "backgroundRate": 100, "mapping": "Firefox-60.0",
            "update_type": "minor", "product": "Firefox", "channel": "nightly"}),
        );
        let other = store
            .insert_rule(&nightly, Writer::direct("alice"))
            .expect("unguarded");
        // Moving the unguarded rule into the guarded channel is refused.
        let into_release = RuleChanges::parse(&object(json!({"channel": "release"}))).expect("c");
        assert!(matches!(
            refused(store.update_rule(
                &RuleRef::Id(other.rule_id),
                1,
                &into_release,
                Writer::direct("alice")
            )),
            BalrogRefusal::SignoffRequired(_)
        ));
        assert!(matches!(
            refused(store.delete_rule(&RuleRef::Id(rule.rule_id), 1, Writer::direct("alice"))),
            BalrogRefusal::SignoffRequired(_)
        ));
        store
            .delete_rule(&RuleRef::Id(other.rule_id), 1, Writer::direct("alice"))
            .expect("unguarded delete");

        // Required signoffs guard themselves once they apply.
        assert!(matches!(
            refused(store.delete_required_signoff(
                &product_rs("Firefox", "release", "releng", 2),
                1,
                Writer::direct("alice")
            )),
            BalrogRefusal::SignoffRequired(SignoffShortfall::NoSignoffs)
        ));
        assert!(matches!(
            refused(store.update_required_signoff(
                &product_rs("Firefox", "release", "releng", 1),
                1,
                Writer::direct("alice")
            )),
            BalrogRefusal::SignoffRequired(_)
        ));
        store
            .insert_required_signoff(
                &product_rs("Firefox", "beta", "releng", 1),
                Writer::direct("alice"),
            )
            .expect("an unguarded channel is direct");
        assert_eq!(
            store
                .update_required_signoff(
                    &product_rs("Firefox", "release", "releng", 1),
                    1,
                    signed("alice", &two)
                )
                .expect("signed"),
            2
        );
        let one_signer = roles(&["releng"]);
        store
            .delete_required_signoff(
                &product_rs("Firefox", "release", "releng", 1),
                2,
                signed("alice", &one_signer),
            )
            .expect("signed delete");
        assert!(store
            .list_product_required_signoffs(Some("Firefox"), Some("release"))
            .expect("list")
            .is_empty());
    });
}

#[test]
fn releases_shutoffs_and_permissions_are_guarded_in_their_transactions() {
    each_backend(|store| {
        user_with_role(store, "alice", "releng");
        store
            .insert_required_signoff(&product_rs("Firefox", "release", "releng", 1), "admin")
            .expect("rs");
        store
            .insert_required_signoff(&permissions_rs("Firefox", "releng", 1), "admin")
            .expect("rs");
        let name = ReleaseName::parse("Firefox-60.0").expect("name");
        store
            .insert_named_release(
                &name,
                "Firefox",
                &json!({"name": "Firefox-60.0", "schema_version": 1, "hashFunction": "sha512"}),
                "alice",
            )
            .expect("release");
        let blob = json!({"name": "Firefox-60.0", "schema_version": 1, "hashFunction": "sha512", "detailsUrl": "https://example.com/x"});
        store
            .put_named_release(&name, "Firefox", &blob, Some(1), Writer::direct("alice"))
            .expect("no rule maps it yet");
        store
            .insert_rule(
                &rule_fields(
                    json!({"priority": 1, "backgroundRate": 100, "update_type": "minor",
                    "product": "Firefox", "mapping": "Firefox-60.0"}),
                ),
                "alice",
            )
            .expect("a rule without channel maps it");
        let blob = json!({"name": "Firefox-60.0", "schema_version": 1, "hashFunction": "sha512", "detailsUrl": "https://example.com/y"});
        assert!(matches!(
            refused(store.put_named_release(
                &name,
                "Firefox",
                &blob,
                Some(2),
                Writer::direct("alice")
            )),
            BalrogRefusal::SignoffRequired(_)
        ));
        assert_eq!(
            store
                .find_named_release("Firefox-60.0")
                .expect("find")
                .expect("there")
                .data_version,
            2
        );
        store
            .set_release_read_only("Firefox-60.0", true, 2, Writer::direct("alice"))
            .expect("locking is direct");
        assert!(matches!(
            refused(store.set_release_read_only("Firefox-60.0", false, 3, Writer::direct("alice"))),
            BalrogRefusal::SignoffRequired(_)
        ));
        let one = roles(&["releng"]);
        store
            .set_release_read_only("Firefox-60.0", false, 3, signed("alice", &one))
            .expect("signed unlock");

        let shutoff = shiplog_domain::balrog::EmergencyShutoff {
            product: "Firefox".into(),
            channel: "release".into(),
            comment: None,
            data_version: 1,
        };
        store
            .insert_emergency_shutoff(&shutoff, "alice")
            .expect("creating a shutoff is direct");
        assert!(matches!(
            refused(store.delete_emergency_shutoff(
                "Firefox",
                "release",
                1,
                Writer::direct("alice")
            )),
            BalrogRefusal::SignoffRequired(_)
        ));
        assert!(store
            .find_emergency_shutoff("Firefox", "release")
            .expect("find")
            .is_some());
        store
            .delete_emergency_shutoff("Firefox", "release", 1, signed("alice", &one))
            .expect("signed lift");

        let dave = UserName::parse("dave").expect("user");
        let now = OffsetDateTime::now_utc();
        assert!(matches!(
            refused(store.put_permission(
                &dave,
                PermissionName::Rule,
                &PermissionOptions::default(),
                None,
                Writer::direct("alice"),
                now
            )),
            BalrogRefusal::SignoffRequired(_)
        ));
        let fennec = PermissionOptions {
            products: Some(vec!["Fennec".into()]),
            actions: None,
        };
        store
            .put_permission(
                &dave,
                PermissionName::Rule,
                &fennec,
                None,
                Writer::direct("alice"),
                now,
            )
            .expect("another product's permission is direct");
        let firefox = PermissionOptions {
            products: Some(vec!["Firefox".into()]),
            actions: None,
        };
        assert!(matches!(
            refused(store.update_permission(
                &dave,
                PermissionName::Rule,
                &firefox,
                1,
                Writer::direct("alice"),
                now
            )),
            BalrogRefusal::SignoffRequired(_)
        ));
        store
            .delete_permission(&dave, PermissionName::Rule, 1, Writer::direct("alice"), now)
            .expect("revoking a Fennec permission is direct");
    });
}

#[test]
fn concurrent_revocations_leave_a_required_role_its_holders() {
    each_backend(|store| {
        for round in 0..5 {
            let role = format!("releng{round}");
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            user_with_role(store, &a, &role);
            user_with_role(store, &b, &role);
            store
                .insert_required_signoff(
                    &product_rs("Firefox", &format!("release{round}"), &role, 1),
                    "admin",
                )
                .expect("rs");
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<bool> = std::thread::scope(|scope| {
                let handles: Vec<_> = [&a, &b]
                    .into_iter()
                    .map(|user| {
                        let (barrier, role) = (&barrier, &role);
                        scope.spawn(move || {
                            barrier.wait();
                            store.revoke_role(user, role, 1, "admin").is_ok()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("thread"))
                    .collect()
            });
            assert_eq!(
                results.iter().filter(|ok| **ok).count(),
                1,
                "exactly one revocation wins: {results:?}"
            );
            let holders = store
                .list_roles(None)
                .expect("roles")
                .into_iter()
                .filter(|r| r.role == role)
                .count();
            assert_eq!(holders, 1);
        }
    });
}
