//! `shiplog scheduled list|show|signoff|enact` on every backend: what an operator sees and does
//! with a scheduled change from the machine.

use shiplog_domain::balrog::{Condition, EmergencyShutoff};
use shiplog_storage::testing::TestDb;
use shiplog_storage::ScheduledTarget;

mod common;

use common::shiplog;

fn run(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = shiplog()
        .args(args)
        .env("DATABASE_URL", db.url())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        // The exit status too: a failure that printed nothing says how it ended.
        format!("{stderr} [{}; {}]", out.status, db.backend().name()),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn an_operator_lists_shows_signs_and_enacts_a_scheduled_change() {
    for db in TestDb::all() {
        let store = db.store();
        let far = 4_102_444_800_000; // 2100-01-01
        let shutoff = EmergencyShutoff::new("Firefox", "nightly", Some("hold")).expect("valid");
        let (change, _) = store
            .schedule_change(
                &ScheduledTarget::ShutoffInsert(shutoff),
                &Condition::When(far),
                "alice",
                1_000,
            )
            .expect("scheduled");
        let id = change.sc_id.to_string();

        let (ok, out, err) = run(&db, &["scheduled", "list"]);
        assert!(ok, "{err}");
        let listed = json(&out);
        assert_eq!(listed["count"], 1);
        assert_eq!(listed["scheduled_changes"][0]["table"], "emergency_shutoff");
        assert_eq!(listed["scheduled_changes"][0]["when"], far);

        let (ok, out, err) = run(&db, &["scheduled", "show", "emergency_shutoff", &id]);
        assert!(ok, "{err}");
        assert_eq!(json(&out)["comment"], "hold");

        // A user without the role cannot sign.
        let (ok, _, err) = run(
            &db,
            &[
                "scheduled",
                "signoff",
                "emergency_shutoff",
                &id,
                "--user",
                "bob",
                "--role",
                "releng",
            ],
        );
        assert!(!ok);
        assert!(err.contains("does not hold role releng"), "{err}");
        let (ok, _, err) = run(&db, &["scheduled", "show", "rules", &id]);
        assert!(!ok, "the change is not a rule change");
        assert!(err.contains("no scheduled change"), "{err}");

        let (ok, out, err) = run(
            &db,
            &[
                "scheduled",
                "enact",
                "emergency_shutoff",
                &id,
                "--enacted-by",
                "ops",
            ],
        );
        assert!(ok, "{err}");
        assert!(out.contains("enacted scheduled change"), "{out}");
        assert!(store
            .find_emergency_shutoff("Firefox", "nightly")
            .expect("read")
            .is_some());

        let (_, out, _) = run(&db, &["scheduled", "list"]);
        assert_eq!(json(&out)["count"], 0);
        let (_, out, _) = run(
            &db,
            &["scheduled", "list", "--all", "--table", "emergency_shutoff"],
        );
        let all = json(&out);
        assert_eq!(all["scheduled_changes"][0]["complete"], true);
        assert_eq!(all["scheduled_changes"][0]["enacted_by"], "cli:ops");
        let (ok, _, err) = run(&db, &["scheduled", "enact", "emergency_shutoff", &id]);
        assert!(!ok);
        assert!(err.contains("already complete"), "{err}");
    }
}

#[test]
fn release_and_permission_changes_are_listed_and_enacted_from_the_machine() {
    for db in TestDb::all() {
        let store = db.store();
        let far = 4_102_444_800_000; // 2100-01-01
        let blob = serde_json::json!({"name": "Firefox-70.0", "schema_version": 1,
                                      "hashFunction": "sha512"});
        let (release, _) = store
            .schedule_change(
                &ScheduledTarget::ReleaseInsert {
                    name: "Firefox-70.0".into(),
                    product: "Firefox".into(),
                    data: blob.clone(),
                },
                &Condition::When(far),
                "alice",
                1_000,
            )
            .expect("scheduled");
        let (permission, _) = store
            .schedule_change(
                &ScheduledTarget::PermissionInsert {
                    username: shiplog_domain::UserName::parse("dave").expect("user"),
                    permission: shiplog_domain::PermissionName::Rule,
                    options: shiplog_domain::PermissionOptions::default(),
                },
                &Condition::When(far),
                "alice",
                1_000,
            )
            .expect("scheduled");

        let (ok, out, err) = run(&db, &["scheduled", "list", "--table", "releases"]);
        assert!(ok, "{err}");
        let listed = json(&out);
        assert_eq!(listed["count"], 1);
        assert_eq!(listed["scheduled_changes"][0]["data"], blob);
        let (ok, out, err) = run(&db, &["scheduled", "list"]);
        assert!(ok, "{err}");
        assert_eq!(json(&out)["count"], 2, "every table");

        for (table, id) in [
            ("releases", release.sc_id),
            ("permissions", permission.sc_id),
        ] {
            let (ok, out, err) = run(&db, &["scheduled", "enact", table, &id.to_string()]);
            assert!(ok, "{err}");
            assert!(out.contains("enacted scheduled change"), "{out}");
        }
        assert!(store
            .find_named_release("Firefox-70.0")
            .expect("read")
            .is_some());
        let dave = shiplog_domain::UserName::parse("dave").expect("user");
        assert!(store
            .find_permission(&dave, shiplog_domain::PermissionName::Rule)
            .expect("read")
            .is_some());
    }
}
