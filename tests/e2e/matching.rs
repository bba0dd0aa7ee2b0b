//! Balrog's matching details over HTTP, on every backend: the version syntax the admin API
//! takes and refuses, how `/update` answers version lists and globs (the `60.0.*` "dot-0"
//! case), the `-sysaddon` fallback channel, and special force hosts.

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

/// Firefox 61.0 for Windows/de, its complete on `complete_url`.
fn release(server: &TestServer, name: &str, complete_url: &str) {
    let blob = json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
        "appVersion": "61.0", "displayVersion": "61.0",
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
            "completes": [{"from": "*", "filesize": 41, "hashValue": "c61", "fileUrl": complete_url}]}}}}});
    write(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": "Firefox", "blob": blob.to_string()}),
    )
    .expect(201);
}

fn rule(server: &TestServer, columns: Value) -> Reply {
    let mut body = json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
        "product": "Firefox", "mapping": "Firefox-61.0"});
    for (key, value) in columns.as_object().expect("columns") {
        body[key] = value.clone();
    }
    write(server, "POST", "/api/rules", &body)
}

/// The `Rule-ID` `/update` answers for a Windows/de client at `version` on `channel`
/// (`unknown` when nothing matched), and the body.
fn update(server: &TestServer, version: &str, channel: &str, query: &str) -> (String, String) {
    let reply = server.get(&format!(
        "/update/3/Firefox/{version}/20180501000000/WINNT_x86_64-msvc/de/{channel}/Windows_NT%2010.0/default/default/update.xml{query}"
    ));
    reply.expect(200);
    (
        reply.header("rule-id").unwrap_or("").to_owned(),
        reply.text.clone(),
    )
}

#[test]
fn the_admin_api_takes_and_refuses_version_values_as_balrogs_validator_does() {
    TestServer::each_backend(|server| {
        release(server, "Firefox-61.0", "https://dl.example.com/61.mar");
        // jsonschema_validators.version_validator: operators and globs only alone.
        for bad in [
            ">=60.0,61.0",
            "60.*,61.0",
            "=60.0",
            ">=60.*",
            "4.*",
            "60.0b1",
            "60.0,",
        ] {
            let reply = rule(server, json!({"version": bad}));
            reply.expect(400);
            assert!(
                reply.json()["detail"].as_str().is_some(),
                "{bad}: {}",
                reply.text
            );
        }
        assert_eq!(
            server.get("/api/rules").json()["count"],
            0,
            "nothing written"
        );
        for good in ["60.0.*", "<61.0", "59.0,60.0", "60.*"] {
            rule(server, json!({"version": good})).expect(200);
        }
        // A change to a refused value is refused too, and leaves the rule as it was.
        let reply = write(
            server,
            "PUT",
            "/api/rules/1",
            &json!({"version": "<56.0,>=60.0", "data_version": 1}),
        );
        reply.expect(400);
        assert_eq!(server.get("/api/rules/1").json()["version"], "60.0.*");
    });
}

#[test]
fn update_answers_follow_balrogs_glob_and_list_matching() {
    TestServer::each_backend(|server| {
        release(server, "Firefox-61.0", "https://dl.example.com/61.mar");
        let id = |reply: Reply| reply.expect(200).text.clone();
        let dot_zero = id(rule(server, json!({"version": "60.0.*", "priority": 300})));
        let list = id(rule(
            server,
            json!({"version": "58.0,59.0.1", "priority": 200}),
        ));
        let major = id(rule(server, json!({"version": "57.*", "priority": 100})));
        // "dot-0": 60.0 is StrictVersion (60, 0, 0), which equals GlobVersion 60.0.*.
        assert_eq!(update(server, "60.0", "release", "").0, dot_zero);
        assert_eq!(update(server, "60.0.2", "release", "").0, dot_zero);
        // A nightly of the glob's own minor version matches in neither direction.
        assert_eq!(update(server, "60.0a1", "release", "").0, "unknown");
        assert_eq!(update(server, "59.0.1", "release", "").0, list);
        assert_eq!(update(server, "59.0", "release", "").0, "unknown");
        // GlobVersion("57.*") == StrictVersion("57.0a1") by its text.
        let (rule_id, xml) = update(server, "57.0a1", "release", "");
        assert_eq!(rule_id, major);
        assert!(xml.contains("appVersion=\"61.0\""), "{xml}");
    });
}

#[test]
fn sysaddon_partner_channels_reach_the_sysaddon_rules() {
    TestServer::each_backend(|server| {
        release(server, "Firefox-61.0", "https://dl.example.com/61.mar");
        let plain = rule(server, json!({"channel": "release", "priority": 100}))
            .expect(200)
            .text
            .clone();
        let sysaddon = rule(
            server,
            json!({"channel": "release-sysaddon", "priority": 50}),
        )
        .expect(200)
        .text
        .clone();
        assert_eq!(update(server, "60.0", "release-cck-ubuntu", "").0, plain);
        // getFallbackChannel keeps the suffix: release-cck-ubuntu-sysaddon → release-sysaddon.
        assert_eq!(
            update(server, "60.0", "release-cck-ubuntu-sysaddon", "").0,
            sysaddon
        );
        assert_eq!(update(server, "60.0", "release-sysaddon", "").0, sysaddon);
        // The native evaluation agrees.
        let evaluated = server
            .get("/api/v1/evaluate?product=Firefox&version=60.0&channel=release-cck-x-sysaddon&buildTarget=WINNT_x86_64-msvc&locale=de&buildID=20180501000000")
            .json();
        assert_eq!(evaluated["data"]["rule_id"].to_string(), sysaddon);
    });
}

#[test]
fn force_is_passed_on_to_downloads_on_special_force_hosts() {
    let hosts = || {
        shiplog_domain::balrog::SpecialForceHosts::parse("https://bouncer.example.com")
            .expect("valid")
    };
    TestServer::each_backend_with(
        move |state| state.with_special_force_hosts(hosts()),
        |server| {
            release(
                server,
                "Firefox-61.0",
                "https://bouncer.example.com/?product=firefox-61.0-complete&os=win64",
            );
            release(server, "Firefox-61.0-cdn", "https://cdn.example.com/61.mar");
            rule(server, json!({"channel": "release"})).expect(200);
            rule(
                server,
                json!({"channel": "beta", "mapping": "Firefox-61.0-cdn", "backgroundRate": 0,
                       "fallbackMapping": "Firefox-61.0"}),
            )
            .expect(200);
            let (_, forced) = update(server, "60.0", "release", "?force=1");
            assert!(
                forced.contains(
                    "URL=\"https://bouncer.example.com/?product=firefox-61.0-complete&amp;os=win64&amp;force=1\""
                ),
                "{forced}"
            );
            let (_, plain) = update(server, "60.0", "release", "");
            assert!(!plain.contains("force="), "{plain}");
            // force=-1 sends the client to the fallback, whose URL carries it on too.
            let (_, fallback) = update(server, "60.0", "beta", "?force=-1");
            assert!(fallback.contains("&amp;force=-1\""), "{fallback}");
            // Another host is left as the blob names it.
            let (_, cdn) = update(server, "60.0", "beta", "?force=1");
            assert!(
                cdn.contains("URL=\"https://cdn.example.com/61.mar\""),
                "{cdn}"
            );
        },
    );
}
