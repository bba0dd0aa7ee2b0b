//! The domain crate reads what the real server answers: each face's JSON for a release, a
//! Balrog rule, an emergency shutoff and a Bileto ticket deserializes into the domain type and
//! serializes back to exactly the server's JSON, on every backend.

use serde_json::{json, Value};
use shiplog_domain::balrog::{EmergencyShutoff, Rule};
use shiplog_domain::{PackageStatus, Release, Ticket};
use shiplog_tests::{TestServer, ALICE_BEARER, BOT_TOKEN};

/// Reads `wire` as `T` and checks that writing it back gives `wire` again.
#[track_caller]
fn round_trip<T>(wire: &Value) -> T
where
    T: shiplog_domain::serde::de::DeserializeOwned + shiplog_domain::serde::Serialize,
{
    let typed: T = serde_json::from_value(wire.clone()).expect("the domain type reads it");
    assert_eq!(serde_json::to_value(&typed).expect("writes"), *wire);
    typed
}

#[test]
fn an_orlo_release_reads_into_the_domain_release_and_back() {
    TestServer::each_backend(|server| {
        let created = server.post(
            "/releases",
            &json!({"user": "alice", "platforms": ["site1"], "team": "web", "note": "n",
                    "references": ["JIRA-1"], "metadata": {"build": 42}}),
        );
        let id = created.expect(200).json()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let package = server
            .post(
                &format!("/releases/{id}/packages"),
                &json!({"name": "web", "version": "1.0.1", "diff_url": "http://d"}),
            )
            .expect(200)
            .json()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        server
            .post_empty(&format!("/releases/{id}/packages/{package}/start"))
            .expect(204);
        let answer = server.get(&format!("/releases/{id}")).expect(200).json();
        let release: Release = round_trip(&answer["releases"][0]);
        assert_eq!(release.id.to_string(), id);
        assert_eq!(release.status(), Some(PackageStatus::InProgress));
        assert!(release.packages[0].stime.is_some());
    });
}

#[test]
fn balrog_rules_and_shutoffs_read_into_the_domain_types_and_back() {
    TestServer::each_backend(|server| {
        let auth = [
            ("Authorization", ALICE_BEARER),
            ("Content-Type", "application/json"),
        ];
        let blob = json!({"name": "Firefox-61.0", "schema_version": 1, "hashFunction": "sha512"});
        server
            .request(
                "POST",
                "/api/releases",
                &auth,
                Some(
                    &json!({"name": "Firefox-61.0", "product": "Firefox", "blob": blob.to_string()})
                        .to_string(),
                ),
            )
            .expect(201);
        let rule = json!({"priority": 90, "backgroundRate": 50, "update_type": "minor",
            "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release*",
            "version": ">=56.0", "alias": "firefox-release", "jaws": false});
        let reply = server.request("POST", "/api/rules", &auth, Some(&rule.to_string()));
        let rule_id: i64 = reply.expect(200).text.parse().expect("a rule id");
        let answer = server
            .get(&format!("/api/rules/{rule_id}"))
            .expect(200)
            .json();
        let rule: Rule = round_trip(&answer);
        assert_eq!(rule.rule_id, rule_id);
        assert_eq!(rule.fields.channel.as_deref(), Some("release*"));

        let shutoff = json!({"product": "Firefox", "channel": "beta", "comment": "bad build"});
        server
            .request(
                "POST",
                "/api/emergency_shutoff",
                &auth,
                Some(&shutoff.to_string()),
            )
            .expect(201);
        let answer = server
            .get("/api/emergency_shutoff/Firefox/beta")
            .expect(200)
            .json();
        let shutoff: EmergencyShutoff = round_trip(&answer);
        assert_eq!(shutoff.key(), "Firefox/beta");
    });
}

#[test]
fn a_bileto_ticket_reads_into_the_domain_ticket_and_back() {
    TestServer::each_backend_anonymous(|server| {
        let url = format!("/v1/tickets?token={BOT_TOKEN}");
        let created = server
            .post(
                &url,
                &json!({"description": "tabs prototype", "landers": "osomon",
                        "status": "Packages built", "author": "robru"}),
            )
            .expect(201)
            .json();
        let id = created["requests"][0]["request_id"]
            .as_i64()
            .expect("request_id");
        server
            .post(
                &format!("/v1/comment?token={BOT_TOKEN}"),
                &json!({"request_id": id, "author": "timo", "text": "Ready for QA"}),
            )
            .expect(201);
        let answer = server.get(&format!("/v1/ticket/{id}")).expect(200).json();
        let ticket: Ticket = round_trip(&answer["requests"][0]);
        assert_eq!(ticket.request_id.get(), id);
        assert_eq!(ticket.comments[0].author, "timo");
    });
}
