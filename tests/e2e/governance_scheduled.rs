//! Scheduled changes end to end on every backend: schedule → enact refused without signoffs →
//! two signoffs by role holders → the scheduler enacts it on time → history shows it;
//! sc_data_version conflicts and deletes; a shutoff lift that needs signoffs, auto-signed by
//! its scheduler; a change that can no longer apply marked failed with its reason; and on
//! PostgreSQL two servers enacting 50 due changes, each exactly once, with the delay after
//! `when` measured.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use shiplog_api::scheduler::SchedulerSettings;
use shiplog_api::AppState;
use shiplog_domain::event::TypePattern;
use shiplog_domain::PermissionName;
use shiplog_storage::{Backend, EventFilter, RequiredSignoffInput};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

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
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{}",
        reply.text
    );
    let body = reply.json();
    assert_eq!(body["detail"], detail, "{}", reply.text);
    body
}

fn create_release(server: &TestServer, name: &str, product: &str) {
    let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
    as_alice(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": product, "blob": blob.to_string()}),
    )
    .expect(201);
}

/// Firefox-60.0 and Firefox-61.0, each serving a complete update to Windows `de` clients.
fn create_served_releases(server: &TestServer) {
    for version in ["60.0", "61.0"] {
        let name = format!("Firefox-{version}");
        let blob = json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
            "appVersion": version, "displayVersion": version,
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180501000000",
                "completes": [{"from": "*", "filesize": 40, "hashValue": "c",
                               "fileUrl": format!("https://dl.example.com/{version}/de.mar")}]}}}}});
        as_alice(
            server,
            "POST",
            "/api/releases",
            &json!({"name": name, "product": "Firefox", "blob": blob.to_string()}),
        )
        .expect(201);
    }
}

/// A rule for Firefox on `channel`, mapping Firefox-60.0; its id.
fn create_rule(server: &TestServer, channel: &str) -> i64 {
    let reply = as_alice(
        server,
        "POST",
        "/api/rules",
        &json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-60.0", "product": "Firefox", "channel": channel}),
    );
    reply.expect(200);
    reply.text.trim().parse().expect("rule id")
}

/// Firefox on `channel` needs `count` signoffs by `role` holders.
fn require(server: &TestServer, channel: &str, role: &str, count: i64) {
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

/// A user holding `role` and `permission` on Firefox (Balrog grants roles only to users with a
/// permission); their token.
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

#[test]
fn a_scheduled_rule_change_waits_for_two_signoffs_then_the_scheduler_enacts_it() {
    TestServer::each_backend_with(fast, |server| {
        create_release(server, "Firefox-60.0", "Firefox");
        let rule_id = create_rule(server, "release");
        let carol = role_holder(server, "carol", "releng", PermissionName::Rule);
        let dave = role_holder(server, "dave", "releng", PermissionName::Rule);
        let erin = role_holder(server, "erin", "qa", PermissionName::Rule);
        require(server, "release", "releng", 2);
        let when = now_ms() + 2_000;
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/rules",
            &json!({"change_type": "update", "rule_id": rule_id, "data_version": 1,
                    "backgroundRate": 50, "when": when}),
        );
        reply.expect(200);
        let created = reply.json();
        let sc_id = created["sc_id"].as_i64().expect("sc_id");
        assert_eq!(created["signoffs"], json!({}), "alice holds no role");
        let shown = scheduled(server, "rules", sc_id);
        assert_eq!(shown["required_signoffs"], json!({"releng": 2}));
        assert_eq!(shown["change_type"], "update");
        assert_eq!(shown["rule_id"], rule_id);
        assert_eq!(shown["backgroundRate"], 50);
        assert_eq!(shown["data_version"], 1);
        assert_eq!(shown["sc_data_version"], 1);
        assert_eq!(shown["when"], when);
        assert_eq!(shown["scheduled_by"], "alice");
        assert_eq!(shown["complete"], false);
        assert_eq!(shown["telemetry_uptake"], Value::Null);

        // Not before its signoffs, not even by hand.
        let refused = problem(
            &as_alice(
                server,
                "POST",
                &format!("/api/scheduled_changes/rules/{sc_id}/enact"),
                &json!({}),
            ),
            400,
            "Signoff Required",
        );
        assert_eq!(refused["exception"], "No Signoffs given");
        // The row is spoken for: a direct delete or update is refused.
        problem(
            &server.request(
                "DELETE",
                &format!("/api/rules/{rule_id}?data_version=1"),
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
                &format!("/api/rules/{rule_id}"),
                &json!({"data_version": 1, "priority": 90}),
            ),
            400,
            "UpdateMergeError",
        );
        // A second pending change for the same rule is refused.
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/rules",
                &json!({"change_type": "delete", "rule_id": rule_id, "data_version": 1,
                        "when": when}),
            ),
            400,
            "ChangeScheduledError",
        );

        let sign = |token: &str, role: &str| {
            as_user(
                server,
                token,
                "POST",
                &format!("/api/scheduled_changes/rules/{sc_id}/signoffs"),
                &json!({"role": role}),
            )
        };
        problem(&sign(&erin, "releng"), 403, "Forbidden");
        sign(&carol, "releng").expect(200);
        problem(&sign(&carol, "releng"), 400, "Cannot sign off twice");
        let refused = problem(
            &as_alice(
                server,
                "POST",
                &format!("/api/scheduled_changes/rules/{sc_id}/enact"),
                &json!({}),
            ),
            400,
            "Signoff Required",
        );
        assert_eq!(
            refused["exception"],
            "Not enough signoffs for role 'releng'"
        );
        let signed = sign(&dave, "releng");
        signed.expect(200);
        assert_eq!(
            signed.json()["signoffs"],
            json!({"carol": "releng", "dave": "releng"})
        );

        // The scheduler enacts it once `when` has come.
        let rule = server.wait_for(Duration::from_secs(15), "the scheduler to enact", || {
            let rule = server.get(&format!("/api/rules/{rule_id}")).json();
            (rule["backgroundRate"] == 50).then_some(rule)
        });
        let seen_at = now_ms();
        assert!(seen_at >= when, "not enacted before its time");
        assert_eq!(rule["data_version"], 2);
        let done = scheduled(server, "rules", sc_id);
        assert_eq!(done["complete"], true);
        assert_eq!(done["enacted_by"], "shiplog-scheduler");
        let enacted_at = done["enacted_at"].as_i64().expect("enacted_at");
        assert!(enacted_at >= when);
        eprintln!("enacted {} ms after when", enacted_at - when);
        assert_eq!(done["failure"], Value::Null);
        // Pending listing no longer has it; all=1 does.
        let pending = server.get("/api/scheduled_changes/rules").json();
        assert_eq!(pending["count"], 0);
        let all = server
            .get(&format!(
                "/api/scheduled_changes/rules?all=1&rule_id={rule_id}"
            ))
            .json();
        assert_eq!(all["count"], 1);
        // History: the rule's new version, made by the one who scheduled it; the change's own
        // revisions, created then enacted.
        let revisions = server
            .get(&format!("/api/rules/{rule_id}/revisions"))
            .json();
        assert_eq!(revisions["rules"][0]["data_version"], 2);
        assert_eq!(revisions["rules"][0]["backgroundRate"], 50);
        assert_eq!(revisions["rules"][0]["changed_by"], "alice");
        let sc_revisions = server
            .get(&format!("/api/scheduled_changes/rules/{sc_id}/revisions"))
            .json();
        assert_eq!(sc_revisions["count"], 2);
        assert_eq!(sc_revisions["revisions"][0]["complete"], true);
        assert_eq!(
            sc_revisions["revisions"][0]["changed_by"],
            "shiplog-scheduler"
        );
        // Enacting it again is a clean 400, an unknown id a 404.
        problem(
            &as_alice(
                server,
                "POST",
                &format!("/api/scheduled_changes/rules/{sc_id}/enact"),
                &json!({}),
            ),
            400,
            "Scheduled change is already complete",
        );
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/rules/999999/enact",
                &json!({}),
            ),
            404,
            "Scheduled change does not exist",
        );
        // The events of the transaction: created + signoff.required, then enacted.
        let events = server
            .store()
            .list_events(
                &EventFilter {
                    types: vec![TypePattern::Family("scheduled_change".into())],
                    ..EventFilter::default()
                },
                100,
            )
            .expect("events");
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["scheduled_change.created", "scheduled_change.enacted"]
        );
        let required = server
            .store()
            .list_events(
                &EventFilter {
                    types: vec![TypePattern::Exact("signoff.required".into())],
                    ..EventFilter::default()
                },
                100,
            )
            .expect("events");
        assert_eq!(required.len(), 1);
        assert_eq!(required[0].data["required_signoffs"], json!({"releng": 2}));
    });
}

#[test]
fn conditions_sc_data_version_conflicts_and_deleting_a_scheduled_change() {
    TestServer::each_backend_with(fast, |server| {
        let far = now_ms() + 3_600_000;
        let schedule = |body: Value| {
            as_alice(
                server,
                "POST",
                "/api/scheduled_changes/emergency_shutoff",
                &body,
            )
        };
        problem(
            &schedule(json!({"change_type": "insert", "product": "Firefox",
                             "channel": "nightly", "when": now_ms() - 1000})),
            400,
            "Changes may not be scheduled in the past",
        );
        problem(
            &as_alice(
                server,
                "POST",
                "/api/scheduled_changes/rules",
                &json!({"change_type": "delete", "rule_id": 1, "data_version": 1, "when": far,
                        "telemetry_product": "Firefox", "telemetry_channel": "release",
                        "telemetry_uptake": 10}),
            ),
            400,
            "Invalid combination of conditions",
        );
        problem(
            &schedule(json!({"change_type": "update", "product": "Firefox",
                             "channel": "nightly", "when": far})),
            400,
            "Invalid change_type 'update' for emergency_shutoff",
        );
        // Checked as the direct write: lifting a shutoff that is not there.
        problem(
            &schedule(json!({"change_type": "delete", "product": "Firefox",
                             "channel": "nightly", "data_version": 1, "when": far})),
            404,
            "Shutoff wasn't found",
        );
        let reply = schedule(json!({"change_type": "insert", "product": "Firefox",
                                    "channel": "nightly", "comment": "hold", "when": far}));
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        problem(
            &schedule(json!({"change_type": "insert", "product": "Firefox",
                             "channel": "nightly", "when": far})),
            400,
            "ChangeScheduledError",
        );
        let path = format!("/api/scheduled_changes/emergency_shutoff/{sc_id}");
        let edited = as_alice(
            server,
            "POST",
            &path,
            &json!({"sc_data_version": 1, "comment": "hold for QA", "when": far + 1}),
        );
        edited.expect(200);
        assert_eq!(edited.json()["new_data_version"], 2);
        let shown = scheduled(server, "emergency_shutoff", sc_id);
        assert_eq!(shown["comment"], "hold for QA");
        assert_eq!(shown["when"], far + 1);
        assert_eq!(shown["sc_data_version"], 2);
        let stale = problem(
            &as_alice(
                server,
                "POST",
                &path,
                &json!({"sc_data_version": 1, "comment": "x"}),
            ),
            400,
            "OutdatedDataError",
        );
        assert!(stale["exception"]
            .as_str()
            .expect("exception")
            .contains("Outdated Data Version"));
        problem(
            &as_alice(server, "POST", &path, &json!({"comment": "x"})),
            400,
            "'sc_data_version' is a required property",
        );
        problem(
            &server.request("DELETE", &format!("{path}?data_version=1"), &[AUTH], None),
            400,
            "OutdatedDataError",
        );
        server
            .request("DELETE", &format!("{path}?data_version=2"), &[AUTH], None)
            .expect(200);
        problem(&server.get(&path), 404, "Scheduled change does not exist");
        // The row is free again.
        schedule(json!({"change_type": "insert", "product": "Firefox",
                        "channel": "nightly", "when": far}))
        .expect(200);
        // Telemetry conditions are kept and shown, and never due.
        create_release(server, "Firefox-60.0", "Firefox");
        let rule_id = create_rule(server, "beta");
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/rules",
            &json!({"change_type": "delete", "rule_id": rule_id, "data_version": 1,
                    "telemetry_product": "Firefox", "telemetry_channel": "beta",
                    "telemetry_uptake": 25}),
        );
        reply.expect(200);
        let shown = scheduled(server, "rules", reply.json()["sc_id"].as_i64().expect("id"));
        assert_eq!(shown["telemetry_uptake"], 25);
        assert_eq!(shown["when"], Value::Null);
        // Unknown tables and ids.
        problem(
            &server.get("/api/scheduled_changes/nothing"),
            404,
            "The requested URL was not found on the server.",
        );
        // Writes need a credential.
        server
            .request(
                "POST",
                "/api/scheduled_changes/emergency_shutoff",
                &[JSON],
                Some(&json!({"change_type": "insert"}).to_string()),
            )
            .expect(401);
    });
}

#[test]
fn lifting_a_guarded_shutoff_needs_signoffs_and_its_scheduler_signs_when_unambiguous() {
    TestServer::each_backend_with(fast, |server| {
        let frank = role_holder(server, "frank", "relman", PermissionName::EmergencyShutoff);
        require(server, "release", "relman", 1);
        as_alice(
            server,
            "POST",
            "/api/emergency_shutoff",
            &json!({"product": "Firefox", "channel": "release"}),
        )
        .expect(201);
        let when = now_ms() + 500;
        let reply = as_user(
            server,
            &frank,
            "POST",
            "/api/scheduled_changes/emergency_shutoff",
            &json!({"change_type": "delete", "product": "Firefox", "channel": "release",
                    "data_version": 1, "when": when}),
        );
        reply.expect(200);
        // Frank holds exactly one of the roles the change needs: signed for him.
        assert_eq!(reply.json()["signoffs"], json!({"frank": "relman"}));
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        assert_eq!(
            scheduled(server, "emergency_shutoff", sc_id)["required_signoffs"],
            json!({"relman": 1})
        );
        server.wait_for(Duration::from_secs(15), "the shutoff lifted", || {
            (server.get("/api/emergency_shutoff/Firefox/release").status == 404).then_some(())
        });
        assert_eq!(
            scheduled(server, "emergency_shutoff", sc_id)["complete"],
            true
        );
    });
}

#[test]
fn a_change_that_can_no_longer_apply_is_marked_failed_with_its_reason() {
    TestServer::each_backend_with(fast, |server| {
        // By hand: the shutoff was put in place directly meanwhile.
        let far = now_ms() + 3_600_000;
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/emergency_shutoff",
            &json!({"change_type": "insert", "product": "Thunderbird", "channel": "release",
                    "when": far}),
        );
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        as_alice(
            server,
            "POST",
            "/api/emergency_shutoff",
            &json!({"product": "Thunderbird", "channel": "release"}),
        )
        .expect(201);
        let failed = problem(
            &as_alice(
                server,
                "POST",
                &format!("/api/scheduled_changes/emergency_shutoff/{sc_id}/enact"),
                &json!({}),
            ),
            400,
            "Scheduled change could not be enacted",
        );
        assert!(failed["exception"]
            .as_str()
            .expect("reason")
            .contains("Thunderbird/release exists"));
        let shown = scheduled(server, "emergency_shutoff", sc_id);
        assert_eq!(shown["complete"], true);
        assert_eq!(shown["enacted_at"], Value::Null);
        assert!(shown["failure"]
            .as_str()
            .expect("failure")
            .contains("exists"));

        // By the scheduler: the alias was taken by a direct write before it was due.
        create_release(server, "Firefox-60.0", "Firefox");
        let when = now_ms() + 1_000;
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/rules",
            &json!({"change_type": "insert", "priority": 10, "backgroundRate": 100,
                    "update_type": "minor", "mapping": "Firefox-60.0", "alias": "golive",
                    "when": when}),
        );
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        as_alice(
            server,
            "POST",
            "/api/rules",
            &json!({"priority": 20, "backgroundRate": 100, "update_type": "minor",
                    "mapping": "Firefox-60.0", "alias": "golive"}),
        )
        .expect(200);
        let shown = server.wait_for(Duration::from_secs(15), "the failure recorded", || {
            let shown = scheduled(server, "rules", sc_id);
            (shown["complete"] == true).then_some(shown)
        });
        assert!(shown["failure"]
            .as_str()
            .expect("failure")
            .contains("golive"));
        assert!(shown["failed_at"].as_i64().expect("failed_at") >= when);
        let failed_events = server
            .store()
            .list_events(
                &EventFilter {
                    types: vec![TypePattern::Exact("scheduled_change.failed".into())],
                    ..EventFilter::default()
                },
                100,
            )
            .expect("events");
        assert_eq!(failed_events.len(), 2);
    });
}

/// A second server on the same database, with its own scheduler.
struct SecondInstance {
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SecondInstance {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start_second_instance(server: &TestServer) -> SecondInstance {
    let store = server.other_instance();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = shiplog_api::run(listener, fast(AppState::new(store)), Default::default())
                .expect("second instance starts");
            tx.send(server.handle()).expect("waiting");
            server.await.expect("runs");
        });
    });
    SecondInstance {
        handle: rx.recv().expect("handle"),
        thread: Some(thread),
    }
}

fn percentile(sorted: &[i64], p: usize) -> i64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[test]
fn two_instances_enact_fifty_due_changes_each_exactly_once() {
    TestServer::each_backend_with(fast, |server| {
        const CHANGES: usize = 50;
        let other = (server.backend == Backend::Postgres).then(|| start_second_instance(server));
        let when = now_ms() + 3_000;
        let ids: Vec<i64> = (0..CHANGES)
            .map(|i| {
                let reply = as_alice(
                    server,
                    "POST",
                    "/api/scheduled_changes/emergency_shutoff",
                    &json!({"change_type": "insert", "product": format!("P{i}"),
                            "channel": "release", "when": when}),
                );
                reply.expect(200);
                reply.json()["sc_id"].as_i64().expect("sc_id")
            })
            .collect();
        assert!(now_ms() < when, "scheduled before they were due");
        let done = server.wait_for(Duration::from_secs(30), "all 50 enacted", || {
            let all = server
                .get("/api/scheduled_changes/emergency_shutoff?all=1")
                .json();
            let changes = all["scheduled_changes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (changes.len() == CHANGES && changes.iter().all(|c| c["complete"] == true))
                .then_some(changes)
        });
        let shutoffs = server.get("/api/emergency_shutoff").json();
        assert_eq!(shutoffs["count"], CHANGES);
        // Exactly once: one enacted event and two revisions (created, enacted) per change, and
        // one shutoff history insert each.
        let enacted = server
            .store()
            .list_events(
                &EventFilter {
                    types: vec![TypePattern::Exact("scheduled_change.enacted".into())],
                    ..EventFilter::default()
                },
                1000,
            )
            .expect("events");
        assert_eq!(enacted.len(), CHANGES);
        let distinct: BTreeSet<i64> = enacted
            .iter()
            .map(|e| e.data["sc_id"].as_i64().expect("sc_id"))
            .collect();
        assert_eq!(distinct, ids.iter().copied().collect());
        let created = server
            .store()
            .list_events(
                &EventFilter {
                    types: vec![TypePattern::Exact("emergency_shutoff.created".into())],
                    ..EventFilter::default()
                },
                1000,
            )
            .expect("events");
        assert_eq!(created.len(), CHANGES);
        for id in &ids {
            let revisions = server
                .get(&format!(
                    "/api/scheduled_changes/emergency_shutoff/{id}/revisions"
                ))
                .json();
            assert_eq!(revisions["count"], 2, "change {id}");
        }
        let mut delays: Vec<i64> = done
            .iter()
            .map(|c| c["enacted_at"].as_i64().expect("enacted_at") - when)
            .collect();
        delays.sort_unstable();
        assert!(delays[0] >= 0, "none before its time");
        eprintln!(
            "{} on {}: enact delay after `when` over {CHANGES} changes: p50 {} ms, max {} ms \
             (scheduler interval 50 ms)",
            if other.is_some() {
                "two instances"
            } else {
                "one instance"
            },
            server.backend.name(),
            percentile(&delays, 50),
            delays[CHANGES - 1]
        );
        drop(other);
    });
}

#[test]
fn required_signoff_changes_go_through_scheduled_changes_with_their_own_signoffs() {
    TestServer::each_backend_with(fast, |server| {
        let carol = role_holder(server, "carol", "releng", PermissionName::Rule);
        role_holder(server, "gina", "relman", PermissionName::Rule);
        require(server, "release", "releng", 1);
        // Directly, a second row for a guarded channel is refused (part A's guard) …
        let direct = as_alice(
            server,
            "POST",
            "/api/required_signoffs/product",
            &json!({"product": "Firefox", "channel": "release", "role": "relman",
                    "signoffs_required": 1}),
        );
        problem(&direct, 400, "Signoff Required");
        // … so it is scheduled, checked as the direct write would be first.
        let path = "/api/scheduled_changes/required_signoffs/product";
        problem(
            &as_alice(
                server,
                "POST",
                path,
                &json!({"change_type": "insert", "product": "Firefox", "channel": "release",
                        "role": "relman", "signoffs_required": 2, "when": now_ms() + 60_000}),
            ),
            400,
            "Cannot require 2 signoffs for Firefox, release - only 1 users hold the relman role",
        );
        let when = now_ms() + 800;
        let reply = as_alice(
            server,
            "POST",
            path,
            &json!({"change_type": "insert", "product": "Firefox", "channel": "release",
                    "role": "relman", "signoffs_required": 1, "when": when}),
        );
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        let shown = scheduled(server, "required_signoffs/product", sc_id);
        assert_eq!(shown["required_signoffs"], json!({"releng": 1}));
        assert_eq!(shown["role"], "relman");
        assert_eq!(shown["signoffs_required"], 1);
        // The dry run left nothing behind.
        let rows = server.get("/api/required_signoffs/product").json();
        assert_eq!(rows["count"], 1);
        // Due but unsigned: the scheduler waits.
        server.wait_for(Duration::from_secs(10), "the change to be due", || {
            (now_ms() > when + 200).then_some(())
        });
        assert_eq!(
            scheduled(server, "required_signoffs/product", sc_id)["complete"],
            false
        );
        as_user(
            server,
            &carol,
            "POST",
            &format!("{path}/{sc_id}/signoffs"),
            &json!({"role": "releng"}),
        )
        .expect(200);
        server.wait_for(Duration::from_secs(15), "the new row", || {
            let rows = server.get("/api/required_signoffs/product").json();
            (rows["count"] == 2).then_some(())
        });
        let done = scheduled(server, "required_signoffs/product", sc_id);
        assert_eq!(done["complete"], true);
        assert_eq!(done["enacted_by"], "shiplog-scheduler");
        // A permissions requirement, scheduled for a product nothing guards yet.
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/required_signoffs/permissions",
            &json!({"change_type": "insert", "product": "Thunderbird", "role": "releng",
                    "signoffs_required": 1, "when": now_ms() + 60_000}),
        );
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        let shown = scheduled(server, "required_signoffs/permissions", sc_id);
        assert_eq!(shown["required_signoffs"], json!({}));
        as_alice(
            server,
            "POST",
            &format!("/api/scheduled_changes/required_signoffs/permissions/{sc_id}/enact"),
            &json!({}),
        )
        .expect(200);
        let rows = server.get("/api/required_signoffs/permissions").json();
        assert_eq!(rows["count"], 1);
    });
}

#[test]
fn a_preview_lists_the_queries_a_pending_change_would_answer_differently() {
    TestServer::each_backend_with(fast, |server| {
        create_served_releases(server);
        let rule_id = create_rule(server, "release");
        let far = now_ms() + 3_600_000;
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/rules",
            &json!({"change_type": "update", "rule_id": rule_id, "data_version": 1,
                    "mapping": "Firefox-61.0", "when": far}),
        );
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        let queries = json!({"queries": [
            {"product": "Firefox", "version": "59.0", "channel": "release",
             "buildTarget": "WINNT_x86_64-msvc", "locale": "de", "buildID": "20170101000000",
             "osVersion": "Windows_NT 10.0", "headerArchitecture": "Intel"},
            {"product": "Thunderbird", "version": "60.0", "channel": "release"},
            {"product": "Firefox", "version": "sixty"},
        ]});
        let preview =
            |path: &str| server.request("POST", path, &[JSON], Some(&queries.to_string()));
        let reply = preview(&format!("/api/v1/scheduled_changes/rules/{sc_id}/preview"));
        reply.expect(200);
        let data = reply.json()["data"].clone();
        assert_eq!(data["queries"], 3);
        assert_eq!(data["unchanged"], 1, "{data}");
        assert_eq!(data["errors"][0]["index"], 2, "{data}");
        let changed = &data["changed"][0];
        assert_eq!(changed["index"], 0);
        assert_eq!(changed["before"]["mapping"], "Firefox-60.0");
        assert_eq!(changed["after"]["mapping"], "Firefox-61.0");
        assert_eq!(changed["after"]["rule_id"], rule_id);
        assert_eq!(changed["after"]["release"]["data"], Value::Null);
        // Nothing was enacted.
        assert_eq!(
            server.get(&format!("/api/rules/{rule_id}")).json()["mapping"],
            "Firefox-60.0"
        );

        // A shutoff put in place stops the Firefox answer.
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/emergency_shutoff",
            &json!({"change_type": "insert", "product": "Firefox", "channel": "release",
                    "when": far}),
        );
        let shutoff = reply.json()["sc_id"].as_i64().expect("sc_id");
        let data = preview(&format!(
            "/api/v1/scheduled_changes/emergency_shutoff/{shutoff}/preview"
        ))
        .json()["data"]
            .clone();
        assert_eq!(data["changed"].as_array().map(Vec::len), Some(1), "{data}");
        assert_eq!(data["changed"][0]["after"]["rule_id"], Value::Null);
        assert_eq!(data["changed"][0]["after"]["release"], Value::Null);
        // Unknown changes, and bodies without queries.
        preview("/api/v1/scheduled_changes/rules/999999/preview").expect(404);
        server
            .request(
                "POST",
                &format!("/api/v1/scheduled_changes/rules/{sc_id}/preview"),
                &[JSON],
                Some(&json!({"queries": []}).to_string()),
            )
            .expect(400);
    });
}

/// `GET …/preview` compares the update queries this server answered lately for the change's
/// product: nothing to send, and only distinct queries, without the sticky client ids.
#[test]
fn a_preview_without_queries_uses_the_update_queries_served_lately() {
    TestServer::each_backend_with(fast, |server| {
        create_served_releases(server);
        let rule_id = create_rule(server, "release");
        let reply = as_alice(
            server,
            "POST",
            "/api/scheduled_changes/rules",
            &json!({"change_type": "update", "rule_id": rule_id, "data_version": 1,
                    "mapping": "Firefox-61.0", "when": now_ms() + 3_600_000}),
        );
        reply.expect(200);
        let sc_id = reply.json()["sc_id"].as_i64().expect("sc_id");
        let path = format!("/api/v1/scheduled_changes/rules/{sc_id}/preview");

        // Nothing served yet: nothing to compare.
        let data = server.get(&path).expect(200).json()["data"].clone();
        assert_eq!(data["queries"], 0, "{data}");
        assert_eq!(data["changed"], json!([]));

        // Clients ask: twice the same Windows client, a Linux client on beta (the rule does
        // not match it), and a product no rule names (not kept).
        let windows = "/update/3/Firefox/59.0/20170101000000/WINNT_x86_64-msvc/de/release/\
                       Windows_NT%2010.0/default/default/update.xml";
        let beta = "/update/3/Firefox/59.0/20170101000000/Linux_x86_64-gcc3/de/beta/\
                    Linux/default/default/update.xml";
        let other = "/update/3/Made-Up/1.0/20170101000000/Linux_x86_64-gcc3/de/release/\
                     Linux/default/default/update.xml";
        for path in [windows, windows, beta, other] {
            server.get(path).expect(200);
        }
        let offered = server.get(windows);
        assert!(
            offered.text.contains("appVersion=\"60.0\""),
            "the Windows client is offered 60.0 now: {}",
            offered.text
        );
        let data = server.get(&path).expect(200).json()["data"].clone();
        assert_eq!(data["queries"], 2, "distinct Firefox queries: {data}");
        assert_eq!(data["unchanged"], 1, "{data}");
        let changed = &data["changed"][0];
        assert_eq!(changed["query"]["product"], "Firefox");
        assert_eq!(changed["query"]["buildTarget"], "WINNT_x86_64-msvc");
        assert_eq!(changed["query"]["channel"], "release");
        assert_eq!(changed["before"]["mapping"], "Firefox-60.0");
        assert_eq!(changed["after"]["mapping"], "Firefox-61.0");

        // Errors as the POST form answers them.
        server
            .get("/api/v1/scheduled_changes/rules/999999/preview")
            .expect(404);
        server
            .get("/api/v1/scheduled_changes/nonsense/1/preview")
            .expect(404);
        // Once enacted, there is nothing left to preview.
        as_alice(
            server,
            "POST",
            &format!("/api/scheduled_changes/rules/{sc_id}/enact"),
            &json!({}),
        )
        .expect(200);
        assert_eq!(server.get(&path).expect(400).json()["status"], "failure");
    });
}
