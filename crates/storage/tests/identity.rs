//! Stories of users, tokens and permissions, run against every backend under test (SQLite
//! always, PostgreSQL when SHIPLOG_TEST_DATABASE_URL is set).

use serde_json::json;
use shiplog_domain::balrog::ChangeTable;
use shiplog_domain::{Action, PermissionName, PermissionOptions, UserName};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{BalrogRefusal, Secret, StorageError, Store, TokenCheck};
use time::{Duration, OffsetDateTime};

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("valid user")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn the_first_start_makes_one_admin() {
    each_backend(|store| {
        assert!(!store.has_users().expect("count"));
        let issued = store
            .bootstrap_admin(None, now())
            .expect("bootstrap")
            .expect("made on an empty database");
        assert_eq!(issued.info.user, "admin");
        assert!(store.has_users().expect("count"));
        assert!(
            store.bootstrap_admin(None, now()).expect("again").is_none(),
            "a second start makes nothing"
        );
        let TokenCheck::Valid(identity) = store.authenticate(&issued.secret, now()).expect("check")
        else {
            panic!("the bootstrap token works");
        };
        assert_eq!(identity.user, "admin");
        assert!(identity.grants.is_unrestricted_admin());
        assert!(identity.is_api_token);
    });
}

#[test]
fn tokens_are_checked_revoked_and_expire() {
    each_backend(|store| {
        let alice = user("alice");
        let api = store
            .create_api_token(&alice, false, "test", now())
            .expect("token");
        let TokenCheck::Valid(identity) = store.authenticate(&api.secret, now()).expect("check")
        else {
            panic!("a new token is valid");
        };
        assert!(identity.grants.is_empty());
        let stranger = Secret::generate().expect("random");
        assert_eq!(
            store.authenticate(&stranger, now()).expect("check"),
            TokenCheck::Unknown
        );

        let start = now();
        let access = store
            .issue_access_token(&identity, start, Duration::minutes(10))
            .expect("access token");
        assert_ne!(access.secret, api.secret);
        let at = |minutes| start + Duration::minutes(minutes);
        let TokenCheck::Valid(through_access) =
            store.authenticate(&access.secret, at(9)).expect("check")
        else {
            panic!("valid before it expires");
        };
        assert_eq!(through_access.user, "alice");
        assert!(!through_access.is_api_token);
        assert_eq!(through_access.api_token_id, api.info.id);
        assert_eq!(
            store.authenticate(&access.secret, at(10)).expect("check"),
            TokenCheck::Expired
        );

        // Revoking the API token revokes what was exchanged for it, at once.
        let fresh = store
            .issue_access_token(&identity, now(), Duration::minutes(10))
            .expect("access token");
        let revoked = store
            .revoke_api_token(api.info.id, now())
            .expect("revoke")
            .expect("exists");
        assert!(revoked.revoked_at.is_some());
        assert_eq!(
            store.authenticate(&api.secret, now()).expect("check"),
            TokenCheck::Revoked
        );
        assert_eq!(
            store.authenticate(&fresh.secret, now()).expect("check"),
            TokenCheck::Revoked
        );
        assert!(store
            .revoke_api_token(9999, now())
            .expect("revoke")
            .is_none());
        assert!(
            store
                .revoke_api_token(fresh.info.id, now())
                .expect("revoke")
                .is_none(),
            "access tokens are not listed or revoked by id"
        );
        let listed = store.list_api_tokens().expect("list");
        assert_eq!(listed.len(), 1, "only API tokens are listed");
        assert_eq!(listed[0].user, "alice");
        assert!(listed[0].revoked_at.is_some());
    });
}

#[test]
fn permissions_are_versioned_with_history() {
    each_backend(|store| {
        let bob = user("bob");
        let name = PermissionName::Rule;
        let firefox =
            PermissionOptions::parse(name, &json!({"products": ["Firefox"]})).expect("valid");
        let created = store
            .put_permission(&bob, name, &firefox, None, "admin", now())
            .expect("grant");
        assert!(created.created);
        assert_eq!(created.data_version, 1);
        assert!(
            store.user_exists(&bob).expect("exists"),
            "granting makes the user"
        );

        let missing = store.put_permission(&bob, name, &firefox, None, "admin", now());
        assert!(matches!(
            missing,
            Err(StorageError::Balrog(BalrogRefusal::DataVersionMissing(_)))
        ));
        let everything = PermissionOptions::default();
        let updated = store
            .put_permission(&bob, name, &everything, Some(1), "admin", now())
            .expect("update");
        assert_eq!((updated.created, updated.data_version), (false, 2));
        let stale = store.update_permission(&bob, name, &firefox, 1, "admin", now());
        assert!(matches!(
            stale,
            Err(StorageError::Balrog(BalrogRefusal::Outdated))
        ));
        assert_eq!(
            store
                .update_permission(&bob, name, &firefox, 2, "carol", now())
                .expect("post"),
            3
        );
        let held = store.user_permissions(&bob).expect("list");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].options, firefox);
        assert_eq!(held[0].data_version, 3);

        let absent =
            store.update_permission(&bob, PermissionName::Admin, &everything, 1, "a", now());
        assert!(matches!(
            absent,
            Err(StorageError::Balrog(BalrogRefusal::PermissionNotFound(_)))
        ));
        assert!(matches!(
            store.delete_permission(&bob, name, 2, "admin", now()),
            Err(StorageError::Balrog(BalrogRefusal::Outdated))
        ));
        store
            .delete_permission(&bob, name, 3, "admin", now())
            .expect("delete");
        assert!(store.find_permission(&bob, name).expect("find").is_none());

        // insert (marker + row), two updates, delete marker: the revisions are the three rows.
        let revisions = store
            .list_revisions(ChangeTable::Permissions, "bob/rule", 10, 0)
            .expect("history");
        assert_eq!(revisions.total, 3);
        assert_eq!(revisions.changes[0].changed_by, "carol");
        assert_eq!(
            revisions.changes[0].row,
            Some(
                json!({"username": "bob", "permission": "rule", "options": {"products": ["Firefox"]}, "data_version": 3})
            )
        );
    });
}

#[test]
fn permissions_count_from_the_next_authentication() {
    each_backend(|store| {
        let dora = user("dora");
        let token = store
            .create_api_token(&dora, false, "test", now())
            .expect("token");
        let grants = |store: &Store| match store.authenticate(&token.secret, now()).expect("check")
        {
            TokenCheck::Valid(identity) => identity.grants,
            other => panic!("{other:?}"),
        };
        assert!(!grants(store).allows(PermissionName::Ledger, Action::Create, None));
        store
            .put_permission(
                &dora,
                PermissionName::Ledger,
                &PermissionOptions::default(),
                None,
                "admin",
                now(),
            )
            .expect("grant");
        assert!(grants(store).allows(PermissionName::Ledger, Action::Create, None));
        // --admin on an existing user adds the permission.
        store
            .create_api_token(&dora, true, "cli", now())
            .expect("admin token");
        assert!(grants(store).is_unrestricted_admin());
    });
}

/// The identity counter (what servers' credential caches are checked against) moves with every
/// change to users, tokens and permissions, from any store on the database; changes through a
/// store are also counted in the process, without a query.
#[test]
fn every_identity_change_moves_the_counter() {
    for db in TestDb::all() {
        let store = db.store();
        let other = db.store();
        eprintln!("story on {}", store.backend().name());
        let alice = user("alice");
        let start = store.identity_version().expect("counter");
        let local = store.local_identity_changes();

        let api = store
            .create_api_token(&alice, false, "test", now())
            .expect("token");
        let after_token = store.identity_version().expect("counter");
        assert!(after_token > start, "a new user and token");
        assert_eq!(store.local_identity_changes(), local + 1);
        assert_eq!(other.local_identity_changes(), 0, "counted per process");

        let checked = store
            .authenticate_versioned(&api.secret, now())
            .expect("check");
        assert_eq!(checked.identity_version, after_token);
        assert_eq!(checked.expires_at, None, "API tokens do not expire");
        assert!(matches!(checked.check, TokenCheck::Valid(_)));

        // A change through another store (another instance) moves the shared counter.
        other
            .put_permission(
                &alice,
                PermissionName::Ledger,
                &PermissionOptions::default(),
                None,
                "test",
                now(),
            )
            .expect("grant");
        let after_grant = store.identity_version().expect("counter");
        assert!(after_grant > after_token);
        assert_eq!(store.local_identity_changes(), local + 1);
        assert_eq!(other.local_identity_changes(), 1);

        let held = other
            .find_permission(&alice, PermissionName::Ledger)
            .expect("read")
            .expect("held");
        other
            .delete_permission(
                &alice,
                PermissionName::Ledger,
                held.data_version,
                "test",
                now(),
            )
            .expect("take away");
        let after_delete = store.identity_version().expect("counter");
        assert!(after_delete > after_grant);

        store
            .revoke_api_token(api.info.id, now())
            .expect("revoke")
            .expect("exists");
        assert!(store.identity_version().expect("counter") > after_delete);
        assert_eq!(store.local_identity_changes(), local + 2);

        // Reads and refused writes count nothing.
        let before = store.identity_version().expect("counter");
        store.authenticate(&api.secret, now()).expect("check");
        assert!(store
            .delete_permission(&alice, PermissionName::Ledger, 1, "test", now())
            .is_err());
        assert_eq!(store.identity_version().expect("counter"), before);
        assert_eq!(store.local_identity_changes(), local + 2);
    }
}
