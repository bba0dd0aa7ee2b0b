//! Governance, part A, over HTTP on every backend: roles, required signoffs and their
//! revisions, the guard that refuses direct changes needing signoffs, and the audit
//! (`/api/history`, `/api/rules?timestamp=`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use shiplog_domain::PermissionName;
use shiplog_tests::{Reply, TestServer, ADMIN_TOKEN};

/// Balrog's answer to a direct change that needs signoffs.
#[track_caller]
fn signoff_required(reply: &Reply) {
    reply.expect(400);
    let body = reply.json();
    assert_eq!(body["title"], "Bad Request", "{body}");
    assert_eq!(body["detail"], "Signoff Required", "{body}");
    assert_eq!(body["exception"], "No Signoffs given", "{body}");
}

fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    i64::try_from(since.as_millis()).expect("fits")
}

/// Waits until the clock has moved past `millis`, so the next change gets a later timestamp.
fn after_millisecond(millis: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while now_millis() <= millis {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        std::thread::yield_now();
    }
}

/// A read that needs a credential (another user's details).
fn admin_get(server: &TestServer, path: &str) -> Reply {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    server.request("GET", path, &[("Authorization", &bearer)], None)
}

fn release(server: &TestServer, name: &str, product: &str) {
    let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
    server
        .post(
            "/api/releases",
            &json!({"name": name, "product": product, "blob": blob.to_string()}),
        )
        .expect(201);
}

fn rule(body: Value) -> Value {
    let mut rule = json!({"priority": 10, "backgroundRate": 100, "update_type": "minor"});
    if let (Some(rule), Value::Object(extra)) = (rule.as_object_mut(), body) {
        rule.extend(extra);
    }
    rule
}

/// A user holding a permission (roles go only to such users) and `role`.
fn signer(server: &TestServer, name: &str, role: &str) {
    server.user_with(name, &[(PermissionName::Rule, Value::Null)]);
    server
        .put(&format!("/api/users/{name}/roles/{role}"), &json!({}))
        .expect(201);
}

fn require_product(server: &TestServer, product: &str, channel: &str, role: &str, n: i64) {
    server
        .post(
            "/api/required_signoffs/product",
            &json!({"product": product, "channel": channel, "role": role, "signoffs_required": n}),
        )
        .expect(201);
}

#[test]
fn roles_are_granted_shown_and_revoked() {
    TestServer::each_backend(|server| {
        // Balrog grants roles only to users with a permission.
        server
            .put("/api/users/nobody/roles/releng", &json!({}))
            .expect(400);
        server.user_with("alice", &[(PermissionName::Rule, Value::Null)]);
        let created = server.put("/api/users/alice/roles/releng", &json!({}));
        created.expect(201);
        assert_eq!(created.json(), json!({"new_data_version": 1}));
        let again = server.put("/api/users/alice/roles/releng", &json!({}));
        again.expect(200);
        assert_eq!(again.json(), json!({"new_data_version": 1}));
        server
            .put("/api/users/alice/roles/bad%20role", &json!({}))
            .expect(400);

        let users = server.get("/api/users").expect(200).json();
        assert_eq!(
            users["alice"],
            json!({"roles": [{"role": "releng", "data_version": 1}]})
        );
        let alice = admin_get(server, "/api/users/alice");
        alice.expect(200);
        let alice = alice.json();
        assert_eq!(alice["roles"], json!({"releng": {"data_version": 1}}));
        assert_eq!(
            server.get("/api/users/alice/roles").expect(200).json(),
            json!({"roles": [{"role": "releng", "data_version": 1}]})
        );

        server.delete("/api/users/alice/roles/releng").expect(400);
        let outdated = server.delete("/api/users/alice/roles/releng?data_version=2");
        outdated.expect(400);
        assert_eq!(outdated.json()["detail"], "OutdatedDataError");

        // The last holder of a role a requirement needs keeps it.
        require_product(server, "Firefox", "release", "releng", 1);
        let needed = server.delete("/api/users/alice/roles/releng?data_version=1");
        needed.expect(400);
        assert!(
            needed.json()["detail"]
                .as_str()
                .is_some_and(|d| d.contains("impossible for Required Signoffs")),
            "{}",
            needed.text
        );
        signer(server, "bob", "releng");
        server
            .delete("/api/users/alice/roles/releng?data_version=1")
            .expect(200);
        server
            .delete("/api/users/alice/roles/releng?data_version=1")
            .expect(404);
        assert_eq!(
            admin_get(server, "/api/users/alice").json()["roles"],
            json!({}),
            "revoked"
        );
        let history = server
            .get("/api/history?table=user_roles&changed_by=admin")
            .expect(200)
            .json();
        // alice: insert (2 records) and delete (1); bob: insert (2).
        assert_eq!(history["count"], 5, "{history}");
    });
}

#[test]
fn required_signoffs_are_listed_created_and_guard_themselves() {
    TestServer::each_backend(|server| {
        signer(server, "alice", "releng");
        let missing = server.post(
            "/api/required_signoffs/product",
            &json!({"product": "Firefox", "role": "releng", "signoffs_required": 1}),
        );
        missing.expect(400);
        let too_many = server.post(
            "/api/required_signoffs/product",
            &json!({"product": "Firefox", "channel": "release", "role": "releng",
                    "signoffs_required": 2}),
        );
        too_many.expect(400);
        assert_eq!(
            too_many.json()["detail"],
            "Cannot require 2 signoffs for Firefox, release - only 1 users hold the releng role"
        );
        let created = server.post(
            "/api/required_signoffs/product",
            &json!({"product": "Firefox", "channel": "release", "role": "releng",
                    "signoffs_required": "1"}),
        );
        created.expect(201);
        assert_eq!(created.json(), json!({"new_data_version": 1}));

        let listed = server.get("/api/required_signoffs/product");
        listed.expect(200);
        assert_eq!(listed.header("X-Total-Count"), Some("1"));
        assert_eq!(
            listed.json(),
            json!({"count": 1, "required_signoffs": [{"product": "Firefox", "channel": "release",
                "role": "releng", "signoffs_required": 1, "data_version": 1}]})
        );
        assert_eq!(
            server
                .get("/api/required_signoffs/product?product=Thunderbird")
                .json()["count"],
            0
        );

        // Once signoffs apply to a product and channel, its requirements change only through
        // scheduled changes: another role, a change, a delete.
        signer(server, "carol", "relman");
        signoff_required(&server.post(
            "/api/required_signoffs/product",
            &json!({"product": "Firefox", "channel": "release", "role": "relman",
                    "signoffs_required": 1}),
        ));
        let again = server.post(
            "/api/required_signoffs/product",
            &json!({"product": "Firefox", "channel": "release", "role": "releng",
                    "signoffs_required": 1}),
        );
        again.expect(400);
        assert_eq!(again.json()["detail"], "Signoff Required");
        signoff_required(&server.delete(
            "/api/required_signoffs/product?product=Firefox&channel=release&role=releng&data_version=1",
        ));
        server
            .delete("/api/required_signoffs/product?product=Firefox&channel=release&role=relman&data_version=1")
            .expect(404);
        require_product(server, "Firefox", "beta", "relman", 1);
        assert_eq!(
            server.get("/api/required_signoffs/product").json()["count"],
            2,
            "refusals wrote nothing"
        );

        let revisions = server.get(
            "/api/required_signoffs/product/revisions?product=Firefox&channel=release&role=releng",
        );
        revisions.expect(200);
        assert_eq!(revisions.header("X-Total-Count"), Some("1"));
        let revisions = revisions.json();
        assert_eq!(revisions["count"], 1);
        let first = &revisions["required_signoffs"][0];
        assert_eq!(first["signoffs_required"], 1);
        assert_eq!(first["changed_by"], "admin");
        assert!(first["change_id"].is_i64() && first["timestamp"].is_i64());
        server
            .get("/api/required_signoffs/product/revisions?product=Firefox&channel=aurora&role=releng")
            .expect(404);

        // The permissions table works alike, keyed by product and role.
        server
            .post(
                "/api/required_signoffs/permissions",
                &json!({"product": "Firefox", "role": "releng", "signoffs_required": 1}),
            )
            .expect(201);
        signoff_required(&server.post(
            "/api/required_signoffs/permissions",
            &json!({"product": "Firefox", "role": "relman", "signoffs_required": 1}),
        ));
        assert_eq!(
            server
                .get("/api/required_signoffs/permissions?product=Firefox")
                .json(),
            json!({"count": 1, "required_signoffs": [{"product": "Firefox", "role": "releng",
                "signoffs_required": 1, "data_version": 1}]})
        );
        signoff_required(&server.delete(
            "/api/required_signoffs/permissions?product=Firefox&role=releng&data_version=1",
        ));
        assert_eq!(
            server
                .get("/api/required_signoffs/permissions/revisions?product=Firefox&role=releng")
                .expect(200)
                .json()["count"],
            1
        );
        let events = server
            .get("/api/v1/events?type=required_signoff.changed")
            .expect(200)
            .json();
        assert!(
            events.to_string().contains("required_signoffs_permissions"),
            "{events}"
        );
    });
}

#[test]
fn direct_changes_on_guarded_channels_are_refused_and_allowed_elsewhere() {
    TestServer::each_backend(|server| {
        for name in ["Firefox-1", "Firefox-2", "Firefox-3", "Firefox-4"] {
            release(server, name, "Firefox");
        }
        // Rules made before the requirement: one on the guarded channel, one without a
        // channel, one on an unguarded channel.
        let on_release = server
            .post(
                "/api/rules",
                &rule(json!({"product": "Firefox", "channel": "release", "mapping": "Firefox-1"})),
            )
            .expect(200)
            .text
            .clone();
        server
            .post(
                "/api/rules",
                &rule(json!({"product": "Firefox", "mapping": "Firefox-2"})),
            )
            .expect(200);
        let nightly = server
            .post(
                "/api/rules",
                &rule(json!({"product": "Firefox", "channel": "nightly", "mapping": "Firefox-3"})),
            )
            .expect(200)
            .text
            .clone();
        signer(server, "alice", "releng");
        require_product(server, "Firefox", "release", "releng", 1);

        // Rules: the guarded channel, no channel, a glob covering it.
        for channel in [json!("release"), Value::Null, json!("rel*")] {
            signoff_required(&server.post(
                "/api/rules",
                &rule(json!({"product": "Firefox", "channel": channel, "mapping": "Firefox-4"})),
            ));
        }
        signoff_required(&server.post(
            &format!("/api/rules/{on_release}"),
            &json!({"priority": 20, "data_version": 1}),
        ));
        signoff_required(&server.delete(&format!("/api/rules/{on_release}?data_version=1")));
        signoff_required(&server.post(
            &format!("/api/rules/{nightly}"),
            &json!({"channel": "release", "data_version": 1}),
        ));
        // Elsewhere the same writer goes straight through.
        server
            .post(
                "/api/rules",
                &rule(json!({"product": "Firefox", "channel": "beta", "mapping": "Firefox-4"})),
            )
            .expect(200);
        server
            .post(
                &format!("/api/rules/{nightly}"),
                &json!({"priority": 30, "data_version": 1}),
            )
            .expect(200);
        assert_eq!(
            server.get(&format!("/api/rules/{on_release}")).json()["priority"],
            10,
            "a refusal writes nothing"
        );

        // Releases mapped by a guarded rule (by a channel, or by no channel at all).
        for name in ["Firefox-1", "Firefox-2"] {
            let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512",
                              "detailsUrl": "https://example.com"});
            signoff_required(&server.put(
                &format!("/api/releases/{name}"),
                &json!({"product": "Firefox", "blob": blob.to_string(), "data_version": 1}),
            ));
            signoff_required(&server.put(
                &format!("/api/releases/{name}/builds/Linux_x86_64-gcc3/de"),
                &json!({"product": "Firefox", "data": json!({"buildID": "1"}).to_string(),
                        "data_version": 1, "schema_version": 1}),
            ));
        }
        server
            .put(
                "/api/releases/Firefox-3/builds/Linux_x86_64-gcc3/de",
                &json!({"product": "Firefox", "data": json!({"buildID": "1"}).to_string(),
                        "data_version": 1, "schema_version": 1}),
            )
            .expect(201);
        let releases = server.get("/api/releases").expect(200).json();
        let required = |name: &str| {
            releases["releases"]
                .as_array()
                .expect("releases")
                .iter()
                .find(|r| r["name"] == name)
                .expect("listed")["required_signoffs"]
                .clone()
        };
        assert_eq!(required("Firefox-1"), json!({"releng": 1}));
        assert_eq!(required("Firefox-2"), json!({"releng": 1}));
        assert_eq!(required("Firefox-3"), json!({}));

        // What unlocking could need, whatever the channel (Firefox-3 is mapped only on nightly).
        assert_eq!(
            server
                .get("/api/releases/Firefox-3/read_only/product/required_signoffs")
                .expect(200)
                .json(),
            json!({"required_signoffs": {"releng": 1}})
        );
        server
            .get("/api/releases/nope/read_only/product/required_signoffs")
            .expect(404);

        // Locking is direct; unlocking needs signoffs.
        server
            .put(
                "/api/releases/Firefox-1/read_only",
                &json!({"read_only": true, "data_version": 1}),
            )
            .expect(201);
        signoff_required(&server.put(
            "/api/releases/Firefox-1/read_only",
            &json!({"read_only": false, "data_version": 2}),
        ));

        // Shutting off is direct; lifting it on a guarded channel needs signoffs.
        for channel in ["release", "nightly"] {
            server
                .post(
                    "/api/emergency_shutoff",
                    &json!({"product": "Firefox", "channel": channel}),
                )
                .expect(201);
        }
        signoff_required(&server.delete("/api/emergency_shutoff/Firefox/release?data_version=1"));
        server
            .delete("/api/emergency_shutoff/Firefox/nightly?data_version=1")
            .expect(200);

        // Permissions covering a product whose permissions need signoffs.
        server
            .post(
                "/api/required_signoffs/permissions",
                &json!({"product": "Firefox", "role": "releng", "signoffs_required": 1}),
            )
            .expect(201);
        let options = |products: &[&str]| json!({"products": products}).to_string();
        signoff_required(&server.put(
            "/api/users/dave/permissions/rule",
            &json!({"options": options(&["Firefox"])}),
        ));
        signoff_required(&server.put(
            "/api/users/dave/permissions/permission",
            &json!({"options": null}),
        ));
        server
            .put(
                "/api/users/dave/permissions/rule",
                &json!({"options": options(&["Fennec"])}),
            )
            .expect(201);
        signoff_required(&server.post(
            "/api/users/dave/permissions/rule",
            &json!({"options": options(&["Fennec", "Firefox"]), "data_version": 1}),
        ));
        server
            .delete("/api/users/dave/permissions/rule?data_version=1")
            .expect(200);
    });
}

#[test]
fn the_audit_lists_filters_and_rebuilds_rules_at_a_time() {
    TestServer::each_backend(|server| {
        release(server, "Firefox-1", "Firefox");
        release(server, "Thunderbird-1", "Thunderbird");
        let id = server
            .post(
                "/api/rules",
                &rule(json!({"product": "Firefox", "channel": "nightly", "mapping": "Firefox-1"})),
            )
            .expect(200)
            .text
            .clone();
        let created = server.get(&format!("/api/rules/{id}/revisions")).json()["rules"][0]
            ["timestamp"]
            .as_i64()
            .expect("timestamp");
        after_millisecond(created);
        server
            .post(
                &format!("/api/rules/{id}"),
                &json!({"priority": 50, "data_version": 1}),
            )
            .expect(200);
        let updated = server.get(&format!("/api/rules/{id}/revisions")).json()["rules"][0]
            ["timestamp"]
            .as_i64()
            .expect("timestamp");
        after_millisecond(updated);
        server
            .post(
                "/api/rules",
                &rule(json!({"product": "Thunderbird", "channel": "beta", "mapping": "Thunderbird-1"})),
            )
            .expect(200);
        server
            .delete(&format!("/api/rules/{id}?data_version=2"))
            .expect(200);
        server.user_with("erin", &[(PermissionName::Rule, Value::Null)]);

        let all = server.get("/api/history?limit=3");
        all.expect(200);
        let total: i64 = all
            .header("X-Total-Count")
            .and_then(|t| t.parse().ok())
            .expect("count");
        assert!(all
            .header("Link")
            .is_some_and(|l| l.contains("rel=\"next\"")));
        let body = all.json();
        assert_eq!(body["count"], total);
        let changes = body["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 3);
        assert!(
            changes[0]["change_id"].as_i64() > changes[1]["change_id"].as_i64(),
            "newest first"
        );
        assert_eq!(
            changes[0]["table"], "permissions",
            "alice's grant is the newest"
        );
        assert_eq!(changes[0]["changed_by"], "test");

        let rules = server.get("/api/history?table=rules").json();
        // Two inserts (marker and row each), an update, a delete.
        assert_eq!(rules["count"], 6, "{rules}");
        let firefox = server
            .get("/api/history?table=rule&product=Firefox&channel=nightly")
            .json();
        assert_eq!(
            firefox["count"], 4,
            "the deletion is filed under its product too"
        );
        assert!(firefox["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .all(|c| c["object_key"] == id.as_str()));
        let by_test = server.get("/api/history?changed_by=test&limit=100").json();
        let by_test = by_test["changes"].as_array().expect("changes");
        assert!(by_test.len() >= 2);
        assert!(by_test.iter().all(|c| c["changed_by"] == "test"));
        assert_eq!(
            server.get("/api/history?changed_by=nobody").json()["count"],
            0
        );
        // Only Firefox: the Thunderbird rule's insert marker may share that millisecond.
        let window = server
            .get(&format!(
                "/api/history?table=rules&product=Firefox&timestamp_from={updated}&timestamp_to={updated}"
            ))
            .json();
        assert_eq!(window["count"], 1, "{window}");
        assert_eq!(window["changes"][0]["row"]["priority"], 50);
        for bad in [
            "timestamp_from=yesterday",
            "timestamp_to=1.5",
            "table=tickets",
            "timestamp_from=10&timestamp_to=5",
            "page=0",
        ] {
            server.get(&format!("/api/history?{bad}")).expect(400);
        }

        // The rules as they were.
        let at = |t: i64| {
            server
                .get(&format!("/api/rules?timestamp={t}"))
                .expect(200)
                .json()
        };
        assert_eq!(at(created - 2)["count"], 0, "before the first rule");
        let then = at(created);
        assert_eq!(then["count"], 1);
        assert_eq!(then["rules"][0]["priority"], 10);
        assert_eq!(at(updated)["rules"][0]["priority"], 50);
        let now = at(now_millis());
        assert_eq!(now["count"], 1, "the Firefox rule is gone: {now}");
        assert_eq!(now["rules"][0]["product"], "Thunderbird");
        assert_eq!(
            server
                .get(&format!(
                    "/api/rules?timestamp={updated}&product=Thunderbird"
                ))
                .json()["count"],
            0
        );
        server.get("/api/rules?timestamp=soon").expect(400);
    });
}
