//! Conditional reads, on every backend: `ETag` and `If-None-Match` → 304 on update checks,
//! `/api/v1/evaluate` and Balrog's rule and release reads; tags that move with any write to
//! rules or releases (also another instance's), and that tell apart the answers the background
//! rate's dice choose between.

use std::collections::HashMap;

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");
const UPDATE: &str = "/update/3/Firefox/60.0/20180501000000/WINNT_x86_64-msvc/de/release/Windows_NT%2010.0/default/default/update.xml";
const EVALUATE: &str = "/api/v1/evaluate?product=Firefox&version=60.0&buildID=20180501000000&buildTarget=WINNT_x86_64-msvc&locale=de&channel=release&osVersion=Windows_NT%2010.0";

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

/// Firefox-61.0 for `de` on 64-bit Windows, and a rule serving it to release at `rate`.
fn setup(server: &TestServer, rate: u8) -> i64 {
    let blob = json!({"name": "Firefox-61.0", "schema_version": 4, "hashFunction": "sha512",
        "appVersion": "61.0", "displayVersion": "61.0",
        "fileUrls": {"*": {"completes": {"*": "https://dl.example.com/61.0/%LOCALE%.complete.mar"}}},
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
            "completes": [{"from": "*", "filesize": 41, "hashValue": "c61"}]}}}}});
    write(
        server,
        "POST",
        "/api/releases",
        &json!({"name": "Firefox-61.0", "product": "Firefox", "blob": blob.to_string()}),
    )
    .expect(201);
    let reply = write(
        server,
        "POST",
        "/api/rules",
        &json!({"priority": 100, "backgroundRate": rate, "update_type": "minor",
            "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release"}),
    );
    reply.expect(200);
    reply.text.parse().expect("a rule id")
}

fn get(server: &TestServer, path: &str, tag: Option<&str>) -> Reply {
    match tag {
        Some(tag) => server.request("GET", path, &[("If-None-Match", tag)], None),
        None => server.request("GET", path, &[], None),
    }
}

/// A 200 with a weak tag: returns the tag.
#[track_caller]
fn tagged(reply: &Reply) -> String {
    reply.expect(200);
    let tag = reply.header("etag").expect("an ETag").to_owned();
    assert!(tag.starts_with("W/\""), "a weak tag: {tag}");
    tag
}

#[track_caller]
fn not_modified(reply: &Reply, tag: &str) {
    reply.expect(304);
    assert_eq!(reply.text, "");
    assert_eq!(reply.header("etag"), Some(tag));
}

#[test]
fn update_checks_answer_304_until_the_rules_change() {
    TestServer::each_backend(|server| {
        let rule_id = setup(server, 100);
        let first = get(server, UPDATE, None);
        let tag = tagged(&first);
        assert!(first.text.contains("Firefox-61.0") || first.text.contains("61.0"));
        assert_eq!(first.header("cache-control"), Some("public, max-age=90"));
        let again = get(server, UPDATE, Some(&tag));
        not_modified(&again, &tag);
        assert_eq!(again.header("cache-control"), Some("public, max-age=90"));
        assert_eq!(again.header("rule-id"), Some(rule_id.to_string().as_str()));
        // A tag from elsewhere, or a list holding ours, behave as HTTP says.
        tagged(&get(server, UPDATE, Some("W/\"something-else\"")));
        not_modified(&get(server, UPDATE, Some(&format!("\"x\", {tag}"))), &tag);
        // Any write to the rules moves the tag, and the full answer comes back.
        write(
            server,
            "POST",
            "/api/rules",
            &json!({"priority": 5, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Thunderbird"}),
        )
        .expect(200);
        let after = get(server, UPDATE, Some(&tag));
        let moved = tagged(&after);
        assert_ne!(moved, tag);
        assert!(after.text.contains("<update "), "{}", after.text);
    });
}

#[test]
fn evaluate_answers_304_and_tags_the_decision() {
    TestServer::each_backend(|server| {
        setup(server, 100);
        let first = get(server, EVALUATE, None);
        let tag = tagged(&first);
        assert_eq!(first.json()["data"]["mapping"], "Firefox-61.0");
        assert_eq!(first.header("cache-control"), Some("private, no-cache"));
        not_modified(&get(server, EVALUATE, Some(&tag)), &tag);
        // The same rule set deciding otherwise (no rule for beta) is another tag.
        let beta = EVALUATE.replace("channel=release", "channel=beta");
        let other = get(server, &beta, None);
        assert_eq!(other.json()["data"]["rule_id"], Value::Null);
        assert_ne!(tagged(&other), tag);
    });
}

#[test]
fn the_dice_never_share_a_tag_between_two_answers() {
    TestServer::each_backend(|server| {
        setup(server, 50);
        let mut bodies: HashMap<String, String> = HashMap::new();
        for _ in 0..40 {
            let reply = get(server, UPDATE, None);
            let tag = tagged(&reply);
            let body = bodies
                .entry(tag.clone())
                .or_insert_with(|| reply.text.clone());
            assert_eq!(*body, reply.text, "one tag, two answers: {tag}");
        }
        // With 40 rolls at 50%, both answers show up (a chance of 2 in 10^12 that they don't).
        assert_eq!(bodies.len(), 2, "{bodies:?}");
    });
}

#[test]
fn balrog_rule_and_release_reads_answer_304_until_any_write() {
    TestServer::each_backend(|server| {
        let rule_id = setup(server, 100);
        let paths = [
            "/api/rules".to_owned(),
            format!("/api/rules/{rule_id}"),
            "/api/releases/Firefox-61.0".to_owned(),
        ];
        let tags: Vec<String> = paths
            .iter()
            .map(|path| {
                let reply = get(server, path, None);
                assert_eq!(reply.header("cache-control"), Some("private, no-cache"));
                tagged(&reply)
            })
            .collect();
        for (path, tag) in paths.iter().zip(&tags) {
            not_modified(&get(server, path, Some(tag)), tag);
        }
        // `*` is a 304 for what exists, and changes nothing for what does not.
        not_modified(&get(server, &paths[1], Some("*")), &tags[1]);
        get(server, "/api/rules/424242", Some("*")).expect(404);

        // Another instance's write to the same database moves every tag at once.
        let other = server.other_instance();
        other
            .insert_emergency_shutoff(
                &shiplog_domain::balrog::EmergencyShutoff::new("Firefox", "beta", None)
                    .expect("valid"),
                "bob",
            )
            .expect("shutoff on the other instance");
        for (path, tag) in paths.iter().zip(&tags) {
            let fresh = get(server, path, Some(tag));
            assert_ne!(tagged(&fresh), *tag, "{path}");
        }
    });
}
