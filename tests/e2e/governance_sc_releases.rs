//! Scheduled changes of releases and permissions end to end on every backend: a release that a
//! guarded rule maps is refused directly and changed through a scheduled change (signoffs, the
//! scheduler, history); a release insert and delete through scheduled changes; edits with
//! sc_data_version conflicts, revert to an earlier revision, and a bad blob (schema, name,
//! domain allow-list) refused with nothing stored; unlocking a read-only release; and
//! permission grants, changes and revocations guarded by `required_signoffs/permissions`.

use std::time::Duration;

use serde_json::{json, Value};
use shiplog_api::scheduler::SchedulerSettings;
use shiplog_api::AppState;
use shiplog_domain::event::TypePattern;
use shiplog_domain::PermissionName;
use shiplog_storage::{EventFilter, RequiredSignoffInput};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A time far ahead, for changes the scheduler must leave alone.
const FAR: i64 = 4_102_444_800_000;

/// A scheduler that looks every 50 ms, so tests see enactments promptly.
fn fast(state: AppState) -> AppState {
    state.with_scheduler(SchedulerSettings {
        run: true,
        interval: Duration::from_millis(50),
    })
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("fits")
}

fn as_alice(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

fn as_user(server: &TestServer, token: &str, method: &str, path: &str, body: &Value) -> Reply {
    let bearer = format!("Bearer {token}");
    server.request(
        method,
        path,
        &[("Authorization", &bearer), JSON],
        Some(&body.to_string()),
    )
}

#[track_caller]
fn problem(reply: &Reply, status: u16, detail: &str) -> Value {
    reply.expect(status);
    let body = reply.json();
    assert_eq!(body["detail"], detail, "{}", reply.text);
    body
}

fn blob(name: &str, details: &str) -> Value {
    json!({"name": name, "schema_version": 1, "hashFunction": "sha512",
           "detailsUrl": format!("https://example.com/{details}")})
}

fn create_release(server: &TestServer, name: &str) {
    as_alice(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": "Firefox", "blob": blob(name, "v1").to_string()}),
    )
    .expect(201);
}

/// A rule for Firefox on `channel` mapping `release`; its id.
fn create_rule(server: &TestServer, channel: &str, release: &str) -> i64 {
    let reply = as_alice(
        server,
        "POST",
        "/api/rules",
        &json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
                "mapping": release, "product": "Firefox", "channel": channel}),
    );
    reply.expect(200);
    reply.text.trim().parse().expect("rule id")
}

fn require_product(server: &TestServer, channel: &str, role: &str, count: i64) {
    server
        .store()
        .insert_required_signoff(
            &RequiredSignoffInput {
                product: "Firefox".into(),
                channel: Some(channel.into()),
                role: role.into(),
                signoffs_required: count,
            },
            "test",
        )
        .expect("required signoff");
}

fn require_permissions(server: &TestServer, role: &str, count: i64) {
    server
        .store()
        .insert_required_signoff(
            &RequiredSignoffInput {
                product: "Firefox".into(),
                channel: None,
                role: role.into(),
                signoffs_required: count,
            },
            "test",
        )
        .expect("required signoff");
}

/// A user holding `role` (and `permission` on Firefox, as Balrog grants roles only to users
/// with a permission); their token.
fn role_holder(server: &TestServer, name: &str, role: &str, permission: PermissionName) -> String {
    let token = server.user_with(name, &[(permission, json!({"products": ["Firefox"]}))]);
    server
        .store()
        .grant_role(name, role, "test")
        .expect("role granted");
    token
}

fn scheduled(server: &TestServer, table: &str, sc_id: i64) -> Value {
    let reply = server.get(&format!("/api/scheduled_changes/{table}/{sc_id}"));
    reply.expect(200);
    reply.json()["scheduled_change"].clone()
}

fn schedule(server: &TestServer, table: &str, body: &Value) -> i64 {
    let reply = as_alice(
        server,
        "POST",
        &format!("/api/scheduled_changes/{table}"),
        body,
    );
    reply.expect(200);
    reply.json()["sc_id"].as_i64().expect("sc_id")
}

fn enact(server: &TestServer, table: &str, sc_id: i64) -> Reply {
    as_alice(
        server,
        "POST",
        &format!("/api/scheduled_changes/{table}/{sc_id}/enact"),
        &json!({}),
    )
}

fn pending_count(server: &TestServer, table: &str) -> i64 {
    server
        .get(&format!("/api/scheduled_changes/{table}"))
        .expect(200)
        .json()["count"]
        .as_i64()
        .expect("count")
}

#[test]
fn a_release_a_guarded_rule_maps_changes_only_through_a_signed_scheduled_change() {
    TestServer::each_backend_with(fast, |server| {
        create_release(server, "Firefox-60.0");
        create_rule(server, "release", "Firefox-60.0");
        let carol = role_holder(server, "carol", "releng", PermissionName::Release);
        let dave = role_holder(server, "dave", "releng", PermissionName::Release);
        require_product(server, "release", "releng", 2);

        // The direct change is refused with Balrog's answer; nothing is written.
        let new_blob = blob("Firefox-60.0", "v2");
        let refused = problem(
            &as_alice(
                server,
                "PUT",
                "/api/releases/Firefox-60.0",
                &json!({"product": "Firefox", "blob": new_blob.to_string(), "data_version": 1}),
            ),
            400,
            "Signoff Required",
        );
        assert_eq!(refused["exception"], "No Signoffs given");

        let when = now_ms() + 1_500;
        let sc_id = schedule(
            server,
            "releases",
            &json!({"change_type": "update", "name": "Firefox-60.0", "product": "Firefox",
                    "data": new_blob, "data_version": 1, "when": when}),
        );
        let shown = scheduled(server, "releases", sc_id);
        assert_eq!(shown["name"], "Firefox-60.0");
        assert_eq!(shown["product"], "Firefox");
        assert_eq!(shown["data"], new_blob);
        assert_eq!(shown["read_only"], false);
        assert_eq!(shown["data_version"], 1);
        assert_eq!(shown["change_type"], "update");
        assert_eq!(shown["when"], when);
        assert_eq!(shown["required_signoffs"], json!({"releng": 2}));
        assert_eq!(shown["signoffs"], json!({}));
        assert!(shown.get("telemetry_uptake").is_none(), "rules only");

        // The release is spoken for now: direct writes and a second change are refused.
        problem(
            &as_alice(
                server,
                "PUT",
                "/api/releases/Firefox-60.0",
                &json!({"product": "Firefox", "blob": new_blob.to_string(), "data_version": 1}),
            ),
            400,
            "UpdateMergeError",
        );
        problem(
            &server.request(
                "DELETE",
                "/api/releases/Firefox-60.0?data_version=1",
                &[AUTH],
                None,
            ),
            400,
            "ChangeScheduledError",
        );
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/releases",
                &json!({"change_type": "update", "name": "Firefox-60.0", "product": "Firefox",
                        "data": blob("Firefox-60.0", "v3"), "data_version": 1, "when": FAR}),
            ),
            400,
            "ChangeScheduledError",
        );

        // Not without its signoffs, not even by hand.
        problem(&enact(server, "releases", sc_id), 400, "Signoff Required");
        let sign = |token: &str| {
            as_user(
                server,
                token,
                "POST",
                &format!("/api/scheduled_changes/releases/{sc_id}/signoffs"),
                &json!({"role": "releng"}),
            )
        };
        sign(&carol).expect(200);
        let refused = problem(&enact(server, "releases", sc_id), 400, "Signoff Required");
        assert_eq!(
            refused["exception"],
            "Not enough signoffs for role 'releng'"
        );
        // A signoff can be withdrawn and given again.
        as_user(
            server,
            &carol,
            "DELETE",
            &format!("/api/scheduled_changes/releases/{sc_id}/signoffs"),
            &json!({}),
        )
        .expect(200);
        assert_eq!(scheduled(server, "releases", sc_id)["signoffs"], json!({}));
        sign(&carol).expect(200);
        let signed = sign(&dave);
        signed.expect(200);
        assert_eq!(
            signed.json()["signoffs"],
            json!({"carol": "releng", "dave": "releng"})
        );

        // The scheduler enacts it once `when` has come.
        let enacted = server.wait_for(Duration::from_secs(15), "the scheduler to enact", || {
            let reply = server.get("/api/releases/Firefox-60.0");
            (reply.json()["detailsUrl"] == "https://example.com/v2").then_some(reply)
        });
        assert_eq!(enacted.header("x-data-version"), Some("2"));
        assert!(now_ms() >= when, "not enacted before its time");
        let done = scheduled(server, "releases", sc_id);
        assert_eq!(done["complete"], true);
        assert_eq!(done["enacted_by"], "shiplog-scheduler");
        assert_eq!(pending_count(server, "releases"), 0);
        let all = server.get("/api/scheduled_changes/releases?all=1").json();
        assert_eq!(all["count"], 1);

        // History: the release's new version by whoever scheduled it; the change's own
        // records (created, then enacted by the scheduler).
        let history = server
            .get("/api/history?table=releases&product=Firefox")
            .expect(200)
            .json();
        assert_eq!(history["changes"][0]["object_key"], "Firefox-60.0");
        assert_eq!(history["changes"][0]["data_version"], 2);
        assert_eq!(history["changes"][0]["changed_by"], "alice");
        let sc_history = server
            .get("/api/history?table=scheduled_changes")
            .expect(200)
            .json();
        let keys: Vec<&str> = sc_history["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter_map(|c| c["object_key"].as_str())
            .collect();
        assert!(
            keys.contains(&format!("releases/{sc_id}").as_str()),
            "{keys:?}"
        );
        let revisions = server
            .get(&format!(
                "/api/scheduled_changes/releases/{sc_id}/revisions"
            ))
            .json();
        assert_eq!(revisions["count"], 2);
        assert_eq!(revisions["revisions"][0]["complete"], true);
        assert_eq!(revisions["revisions"][0]["changed_by"], "shiplog-scheduler");
        // The direct change is still refused: the rule still guards the release.
        problem(
            &as_alice(
                server,
                "PUT",
                "/api/releases/Firefox-60.0",
                &json!({"product": "Firefox", "blob": blob("Firefox-60.0", "v4").to_string(),
                        "data_version": 2}),
            ),
            400,
            "Signoff Required",
        );
        problem(
            &enact(server, "releases", sc_id),
            400,
            "Scheduled change is already complete",
        );

        // Its events: created (with signoff.required) and enacted, tagged with the product,
        // without the blob; the release's own event in the enacting transaction.
        let events = |kind: &str| {
            server
                .store()
                .list_events(
                    &EventFilter {
                        types: vec![TypePattern::Exact(kind.into())],
                        product: Some("Firefox".into()),
                        ..EventFilter::default()
                    },
                    100,
                )
                .expect("events")
        };
        for kind in [
            "scheduled_change.created",
            "signoff.required",
            "scheduled_change.enacted",
        ] {
            let found = events(kind);
            assert_eq!(found.len(), 1, "{kind}");
            assert_eq!(found[0].data["table"], "releases");
            assert_eq!(found[0].data["sc_id"], sc_id);
            assert!(found[0].data.get("data").is_none(), "no blob in {kind}");
        }
        assert!(events("named_release.updated")
            .iter()
            .any(|e| e.data["data_version"] == 2));
    });
}

#[test]
fn releases_are_created_and_deleted_through_scheduled_changes() {
    TestServer::each_backend_with(fast, |server| {
        // An insert, enacted by hand (nothing guards it).
        let sc_id = schedule(
            server,
            "releases",
            &json!({"change_type": "insert", "name": "Firefox-70.0", "product": "Firefox",
                    "data": blob("Firefox-70.0", "v1"), "when": FAR}),
        );
        let shown = scheduled(server, "releases", sc_id);
        assert_eq!(shown["required_signoffs"], json!({}));
        assert_eq!(shown["data_version"], Value::Null);
        server.get("/api/releases/Firefox-70.0").expect(404);
        enact(server, "releases", sc_id).expect(200);
        let created = server.get("/api/releases/Firefox-70.0");
        created.expect(200);
        assert_eq!(created.header("x-data-version"), Some("1"));
        assert_eq!(created.json()["detailsUrl"], "https://example.com/v1");
        // Inserting a release that exists is refused when scheduling.
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/releases",
                &json!({"change_type": "insert", "name": "Firefox-70.0", "product": "Firefox",
                        "data": blob("Firefox-70.0", "v1"), "when": FAR}),
            ),
            400,
            "Release: Firefox-70.0 already exists",
        );

        // A delete the scheduler enacts.
        let when = now_ms() + 300;
        let sc_id = schedule(
            server,
            "releases",
            &json!({"change_type": "delete", "name": "Firefox-70.0", "data_version": 1,
                    "when": when}),
        );
        let shown = scheduled(server, "releases", sc_id);
        assert_eq!(shown["change_type"], "delete");
        assert_eq!(shown["product"], "Firefox");
        server.wait_for(Duration::from_secs(15), "the scheduled delete", || {
            (server.get("/api/releases/Firefox-70.0").status == 404).then_some(())
        });
        assert_eq!(scheduled(server, "releases", sc_id)["complete"], true);
        let history = server.get("/api/history?table=releases").json();
        assert_eq!(history["changes"][0]["object_key"], "Firefox-70.0");
        assert_eq!(history["changes"][0]["row"], Value::Null, "a delete marker");

        // A release a rule maps cannot be scheduled for deletion; nor can an outdated one.
        create_release(server, "Firefox-71.0");
        let rule_id = create_rule(server, "beta", "Firefox-71.0");
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/releases",
                &json!({"change_type": "delete", "name": "Firefox-71.0", "data_version": 1,
                        "when": FAR}),
            ),
            400,
            "ValueError",
        );
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/releases",
                &json!({"change_type": "update", "name": "Firefox-71.0", "product": "Firefox",
                        "data": blob("Firefox-71.0", "v2"), "data_version": 7, "when": FAR}),
            ),
            400,
            "OutdatedDataError",
        );
        // A delete scheduled while nothing mapped the release, enacted after a rule came to
        // map it, is marked failed with the reason.
        as_alice(
            server,
            "DELETE",
            &format!("/api/rules/{rule_id}?data_version=1"),
            &json!({}),
        )
        .expect(200);
        let sc_id = schedule(
            server,
            "releases",
            &json!({"change_type": "delete", "name": "Firefox-71.0", "data_version": 1,
                    "when": FAR}),
        );
        create_rule(server, "beta", "Firefox-71.0");
        let failed = problem(
            &enact(server, "releases", sc_id),
            400,
            "Scheduled change could not be enacted",
        );
        assert!(
            failed["exception"]
                .as_str()
                .is_some_and(|e| e.contains("has rules pointing to it")),
            "{failed}"
        );
        let done = scheduled(server, "releases", sc_id);
        assert_eq!(done["complete"], true);
        assert!(done["failure"].as_str().is_some());
        server.get("/api/releases/Firefox-71.0").expect(200);
    });
}

#[test]
fn release_changes_are_edited_reverted_and_deleted_and_bad_input_stores_nothing() {
    TestServer::each_backend(|server| {
        create_release(server, "Firefox-80.0");
        let first = blob("Firefox-80.0", "first");
        let sc_id = schedule(
            server,
            "releases",
            &json!({"change_type": "update", "name": "Firefox-80.0", "product": "Firefox",
                    "data": first, "data_version": 1, "when": FAR}),
        );
        let path = format!("/api/scheduled_changes/releases/{sc_id}");

        // An edit at the current sc_data_version; a second one at the old one is outdated.
        let second = blob("Firefox-80.0", "second");
        let edited = as_alice(
            server,
            "POST",
            &path,
            &json!({"sc_data_version": 1, "data": second, "name": "Other", "product": "Fennec"}),
        );
        edited.expect(200);
        assert_eq!(edited.json()["new_data_version"], 2);
        let shown = scheduled(server, "releases", sc_id);
        assert_eq!(shown["data"], second);
        assert_eq!(shown["name"], "Firefox-80.0", "an update keeps its name");
        assert_eq!(shown["product"], "Firefox", "and its product");
        problem(
            &as_alice(
                server,
                "POST",
                &path,
                &json!({"sc_data_version": 1, "data": blob("Firefox-80.0", "third")}),
            ),
            400,
            "OutdatedDataError",
        );
        // A bad blob in an edit is refused and changes nothing.
        problem(
            &as_alice(
                server,
                "POST",
                &path,
                &json!({"sc_data_version": 2, "data": {"name": "Firefox-80.0",
                        "schema_version": 1, "hashFunction": "sha512",
                        "extra": 1}}),
            ),
            400,
            "Couldn't schedule release change",
        );
        assert_eq!(scheduled(server, "releases", sc_id)["sc_data_version"], 2);

        // Revert to the first revision: a new revision with the first blob.
        let revisions = server.get(&format!("{path}/revisions")).expect(200).json();
        assert_eq!(revisions["count"], 2);
        let oldest = revisions["revisions"][1]["change_id"]
            .as_i64()
            .expect("change_id");
        let reverted = as_alice(
            server,
            "POST",
            &format!("{path}/revisions"),
            &json!({"change_id": oldest}),
        );
        reverted.expect(200);
        assert_eq!(reverted.text, "Excellent!");
        let shown = scheduled(server, "releases", sc_id);
        assert_eq!(shown["data"], first);
        assert_eq!(shown["sc_data_version"], 3);
        assert_eq!(server.get(&format!("{path}/revisions")).json()["count"], 3);
        // A revert needs a change_id of this change.
        problem(
            &as_alice(server, "POST", &format!("{path}/revisions"), &json!({})),
            400,
            "No change_id passed in the request body",
        );
        problem(
            &as_alice(
                server,
                "POST",
                &format!("{path}/revisions"),
                &json!({"change_id": 999_999}),
            ),
            400,
            "Invalid change_id : 999999 passed in the request body",
        );
        create_release(server, "Firefox-81.0");
        let other = schedule(
            server,
            "releases",
            &json!({"change_type": "delete", "name": "Firefox-81.0", "data_version": 1,
                    "when": FAR}),
        );
        let other_change = server
            .get(&format!(
                "/api/scheduled_changes/releases/{other}/revisions"
            ))
            .json()["revisions"][0]["change_id"]
            .as_i64()
            .expect("change_id");
        problem(
            &as_alice(
                server,
                "POST",
                &format!("{path}/revisions"),
                &json!({"change_id": other_change}),
            ),
            400,
            "Bad sc_id passed in the request",
        );
        // Listed by release name.
        let listed = server
            .get("/api/scheduled_changes/releases?name=Firefox-81.0")
            .expect(200)
            .json();
        assert_eq!(listed["count"], 1);
        assert_eq!(listed["scheduled_changes"][0]["sc_id"], other);
        assert_eq!(pending_count(server, "releases"), 2);
        // Emergency shutoffs take no revert (Balrog offers none).
        server
            .request(
                "POST",
                "/api/scheduled_changes/emergency_shutoff/1/revisions",
                &[AUTH, JSON],
                Some(&json!({"change_id": 1}).to_string()),
            )
            .expect(404);

        // Deleting the change needs its current sc_data_version.
        problem(
            &server.request("DELETE", &format!("{path}?data_version=1"), &[AUTH], None),
            400,
            "OutdatedDataError",
        );
        server
            .request("DELETE", &format!("{path}?data_version=3"), &[AUTH], None)
            .expect(200);
        server.get(&path).expect(404);
        // With the change gone the release takes direct changes again.
        as_alice(
            server,
            "PUT",
            "/api/releases/Firefox-80.0",
            &json!({"product": "Firefox", "blob": blob("Firefox-80.0", "direct").to_string(),
                    "data_version": 1}),
        )
        .expect(200);

        // Bad input is a clear 400 and stores nothing.
        let before = pending_count(server, "releases");
        let bad = |body: Value, detail: &str| {
            problem(
                &as_alice(server, "POST", "/api/scheduled_changes/releases", &body),
                400,
                detail,
            );
        };
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "data": {"name": "Firefox-90.0", "schema_version": 1,
                            "hashFunction": "sha512", "extra": 1},
                   "when": FAR}),
            "Couldn't schedule release change",
        );
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "data": blob("Firefox-91.0", "v1"), "when": FAR}),
            "Couldn't schedule release change",
        );
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "when": FAR}),
            "Missing field",
        );
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "data": "[1, 2]", "when": FAR}),
            "'data' must be a JSON object (the blob)",
        );
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "data": blob("Firefox-90.0", "v1"), "when": 1}),
            "Changes may not be scheduled in the past",
        );
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "data": blob("Firefox-90.0", "v1")}),
            "'when' is a required property",
        );
        bad(
            json!({"change_type": "replace", "name": "Firefox-90.0", "when": FAR}),
            "change_type: must be one of insert, update, delete",
        );
        bad(
            json!({"change_type": "update", "name": "Firefox-80.0", "product": "Firefox",
                   "data": blob("Firefox-80.0", "v9"), "when": FAR}),
            "Missing field: data_version is required for this change",
        );
        bad(
            json!({"change_type": "insert", "name": "Firefox-90.0", "product": "Firefox",
                   "data": blob("Firefox-90.0", "v1"), "when": FAR, "sc_id": 4}),
            "sc_id cannot be set when scheduling a new change",
        );
        assert_eq!(pending_count(server, "releases"), before);
        server.get("/api/releases/Firefox-90.0").expect(404);
    });
}

#[test]
fn unlocking_a_read_only_release_is_scheduled_with_its_products_signoffs() {
    TestServer::each_backend(|server| {
        create_release(server, "Firefox-65.0");
        create_rule(server, "nightly", "Firefox-65.0");
        let carol = role_holder(server, "carol", "releng", PermissionName::Release);
        require_product(server, "release", "releng", 1);
        as_alice(
            server,
            "PUT",
            "/api/releases/Firefox-65.0/read_only",
            &json!({"read_only": true, "data_version": 1}),
        )
        .expect(201);
        // A change that keeps the release locked is refused when scheduling.
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/releases",
                &json!({"change_type": "update", "name": "Firefox-65.0", "product": "Firefox",
                        "data": blob("Firefox-65.0", "v2"), "data_version": 2, "when": FAR}),
            ),
            403,
            "Couldn't update release. Release is marked read only",
        );
        // Only the flag: the blob and product are the release's own.
        let sc_id = schedule(
            server,
            "releases",
            &json!({"change_type": "update", "name": "Firefox-65.0", "read_only": false,
                    "data_version": 2, "when": FAR}),
        );
        let shown = scheduled(server, "releases", sc_id);
        assert_eq!(shown["read_only"], false);
        assert_eq!(shown["product"], "Firefox");
        assert_eq!(shown["data"], blob("Firefox-65.0", "v1"));
        assert_eq!(shown["required_signoffs"], json!({"releng": 1}));
        problem(&enact(server, "releases", sc_id), 400, "Signoff Required");
        as_user(
            server,
            &carol,
            "POST",
            &format!("/api/scheduled_changes/releases/{sc_id}/signoffs"),
            &json!({"role": "releng"}),
        )
        .expect(200);
        enact(server, "releases", sc_id).expect(200);
        let flag = server.get("/api/releases/Firefox-65.0/read_only").json();
        assert_eq!(flag["read_only"], false);
        assert_eq!(
            server
                .get("/api/releases/Firefox-65.0")
                .header("x-data-version"),
            Some("3")
        );
    });
}

#[test]
fn permission_changes_on_guarded_products_go_through_scheduled_changes() {
    TestServer::each_backend_with(fast, |server| {
        let carol = role_holder(server, "carol", "releng", PermissionName::Rule);
        require_permissions(server, "releng", 1);
        let options = json!({"products": ["Firefox"]});

        // Directly: refused with Balrog's answer, nothing granted.
        problem(
            &as_alice(
                server,
                "PUT",
                "/api/users/dave/permissions/rule",
                &json!({"options": options.to_string()}),
            ),
            400,
            "Signoff Required",
        );
        server.get("/api/users/dave/permissions/rule").expect(404);

        // A grant, signed off and enacted by the scheduler.
        let when = now_ms() + 300;
        let sc_id = schedule(
            server,
            "permissions",
            &json!({"change_type": "insert", "username": "dave", "permission": "rule",
                    "options": options, "when": when}),
        );
        let shown = scheduled(server, "permissions", sc_id);
        assert_eq!(shown["username"], "dave");
        assert_eq!(shown["permission"], "rule");
        assert_eq!(shown["options"], options);
        assert_eq!(shown["required_signoffs"], json!({"releng": 1}));
        problem(
            &enact(server, "permissions", sc_id),
            400,
            "Signoff Required",
        );
        as_user(
            server,
            &carol,
            "POST",
            &format!("/api/scheduled_changes/permissions/{sc_id}/signoffs"),
            &json!({"role": "releng"}),
        )
        .expect(200);
        let granted = server.wait_for(Duration::from_secs(15), "the grant", || {
            let reply = server.get("/api/users/dave/permissions/rule");
            (reply.status == 200).then_some(reply.json())
        });
        assert_eq!(granted["options"], options);
        assert_eq!(granted["data_version"], 1);
        let created = server
            .store()
            .list_events(
                &EventFilter {
                    types: vec![TypePattern::Exact("scheduled_change.created".into())],
                    product: Some("Firefox".into()),
                    ..EventFilter::default()
                },
                100,
            )
            .expect("events");
        assert_eq!(created.len(), 1, "tagged with the products of its options");
        assert_eq!(created[0].data["table"], "permissions");
        let history = server.get("/api/history?table=permissions").json();
        assert_eq!(history["changes"][0]["object_key"], "dave/rule");
        assert_eq!(history["changes"][0]["changed_by"], "alice");

        // A change of options: the direct one is refused while it is pending; edited, then
        // reverted to what was scheduled first.
        let sc_id = schedule(
            server,
            "permissions",
            &json!({"change_type": "update", "username": "dave", "permission": "rule",
                    "options": {"products": ["Firefox", "Fennec"]}, "data_version": 1,
                    "when": FAR}),
        );
        problem(
            &as_alice(
                server,
                "POST",
                "/api/users/dave/permissions/rule",
                &json!({"options": null, "data_version": 1}),
            ),
            400,
            "UpdateMergeError",
        );
        problem(
            &server.request(
                "DELETE",
                "/api/users/dave/permissions/rule?data_version=1",
                &[AUTH],
                None,
            ),
            400,
            "ChangeScheduledError",
        );
        let path = format!("/api/scheduled_changes/permissions/{sc_id}");
        as_alice(
            server,
            "POST",
            &path,
            &json!({"sc_data_version": 1, "options": {"products": ["Fennec"]},
                    "username": "mallory"}),
        )
        .expect(200);
        let edited = scheduled(server, "permissions", sc_id);
        assert_eq!(edited["options"], json!({"products": ["Fennec"]}));
        assert_eq!(edited["username"], "dave", "an update keeps its row");
        let oldest = server.get(&format!("{path}/revisions")).json()["revisions"][1]["change_id"]
            .as_i64()
            .expect("change_id");
        as_alice(
            server,
            "POST",
            &format!("{path}/revisions"),
            &json!({"change_id": oldest}),
        )
        .expect(200);
        assert_eq!(
            scheduled(server, "permissions", sc_id)["options"],
            json!({"products": ["Firefox", "Fennec"]})
        );
        server
            .request("DELETE", &format!("{path}?data_version=3"), &[AUTH], None)
            .expect(200);

        // A revocation, signed and enacted by hand.
        let sc_id = schedule(
            server,
            "permissions",
            &json!({"change_type": "delete", "username": "dave", "permission": "rule",
                    "data_version": 1, "when": FAR}),
        );
        let shown = scheduled(server, "permissions", sc_id);
        assert_eq!(shown["options"], options, "the options it takes away");
        assert_eq!(shown["required_signoffs"], json!({"releng": 1}));
        as_user(
            server,
            &carol,
            "POST",
            &format!("/api/scheduled_changes/permissions/{sc_id}/signoffs"),
            &json!({"role": "releng"}),
        )
        .expect(200);
        enact(server, "permissions", sc_id).expect(200);
        server.get("/api/users/dave/permissions/rule").expect(404);

        // Products nobody guards need no signoffs.
        let sc_id = schedule(
            server,
            "permissions",
            &json!({"change_type": "insert", "username": "erin", "permission": "release",
                    "options": {"products": ["Thunderbird"]}, "when": FAR}),
        );
        assert_eq!(
            scheduled(server, "permissions", sc_id)["required_signoffs"],
            json!({})
        );
        enact(server, "permissions", sc_id).expect(200);
        server
            .get("/api/users/erin/permissions/release")
            .expect(200);

        // Bad input: a clear 400, nothing stored.
        let before = pending_count(server, "permissions");
        let bad = |body: Value| {
            as_alice(server, "POST", "/api/scheduled_changes/permissions", &body).expect(400);
        };
        bad(
            json!({"change_type": "insert", "username": "frank", "permission": "rulez",
                   "when": FAR}),
        );
        bad(
            json!({"change_type": "insert", "username": "frank", "permission": "rule",
                   "options": {"colour": "blue"}, "when": FAR}),
        );
        bad(
            json!({"change_type": "insert", "username": "", "permission": "rule",
                   "when": FAR}),
        );
        bad(
            json!({"change_type": "insert", "username": "erin", "permission": "release",
                   "when": FAR}),
        );
        bad(
            json!({"change_type": "update", "username": "erin", "permission": "release",
                   "options": null, "data_version": 5, "when": FAR}),
        );
        assert_eq!(pending_count(server, "permissions"), before);
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/permissions",
                &json!({"change_type": "delete", "username": "nobody", "permission": "rule",
                        "data_version": 1, "when": FAR}),
            ),
            404,
            "Requested permission does not exist",
        );
    });
}

#[test]
fn a_scheduled_blob_is_held_to_the_domain_allowlist_like_a_direct_write() {
    let allowlist = || {
        shiplog_domain::balrog::DomainAllowlist::from_json(&json!({"dl.example.com": ["Firefox"]}))
            .expect("a valid list")
    };
    let app_blob = |name: &str, url: &str| {
        json!({"name": name, "schema_version": 4, "hashFunction": "sha512", "appVersion": "61.0",
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
                "completes": [{"from": "*", "filesize": 41, "hashValue": "c61",
                               "fileUrl": url}]}}}}})
    };
    TestServer::each_backend_with(
        move |state| state.with_allowlist(allowlist()),
        |server| {
            let forbidden = as_alice(
                server,
                "POST",
                "/api/scheduled_changes/releases",
                &json!({"change_type": "insert", "name": "Firefox-61.0", "product": "Firefox",
                        "data": app_blob("Firefox-61.0", "https://evil.example/x.mar"),
                        "when": FAR}),
            );
            let body = problem(&forbidden, 400, "Blob contains forbidden domain(s)");
            assert!(
                body["exception"]
                    .as_str()
                    .is_some_and(|e| e.contains("https://evil.example/x.mar")),
                "{body}"
            );
            assert_eq!(pending_count(server, "releases"), 0, "nothing stored");
            // The same host is fine for the product it is allowed for, and an edit bringing a
            // forbidden one is refused.
            let sc_id = schedule(
                server,
                "releases",
                &json!({"change_type": "insert", "name": "Firefox-61.0", "product": "Firefox",
                        "data": app_blob("Firefox-61.0", "https://dl.example.com/61.mar"),
                        "when": FAR}),
            );
            problem(
                &as_alice(
                    server,
                    "POST",
                    &format!("/api/scheduled_changes/releases/{sc_id}"),
                    &json!({"sc_data_version": 1,
                            "data": app_blob("Firefox-61.0", "https://evil.example/y.mar")}),
                ),
                400,
                "Blob contains forbidden domain(s)",
            );
            assert_eq!(scheduled(server, "releases", sc_id)["sc_data_version"], 1);
        },
    );
}
