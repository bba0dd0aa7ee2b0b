//! Sticky rollouts (a shiplog extension), on every backend: the `stickyBy` rule field written,
//! refused, kept in history; the same client identifier gets the same `/update` answer every
//! time (from a query parameter or a header); 10,000 identifiers split by the background rate
//! within 2 points; without an identifier the roll stays Balrog's random one.

use std::collections::HashSet;

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

/// Firefox 61.0 for Windows/de whose complete is `https://dl.example.com/{name}.mar`, so an
/// answer shows which release it serves.
fn release(server: &TestServer, name: &str) {
    let blob = json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
        "appVersion": "61.0", "displayVersion": "61.0",
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
            "completes": [{"from": "*", "filesize": 41, "hashValue": "c61",
                "fileUrl": format!("https://dl.example.com/{name}.mar")}]}}}}});
    write(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": "Firefox", "blob": blob.to_string()}),
    )
    .expect(201);
}

/// A 30 % rollout of `main` on `channel`, the rest on `fallback`, sticky by `sticky_by`.
fn rollout(server: &TestServer, channel: &str, sticky_by: Value) -> i64 {
    release(server, &format!("main-{channel}"));
    release(server, &format!("fallback-{channel}"));
    let reply = write(
        server,
        "POST",
        "/api/rules",
        &json!({"priority": 100, "backgroundRate": 30, "update_type": "minor",
            "product": "Firefox", "channel": channel, "mapping": format!("main-{channel}"),
            "fallbackMapping": format!("fallback-{channel}"), "stickyBy": sticky_by}),
    );
    reply.expect(200);
    reply.text.parse().expect("a rule id")
}

const UPDATE: &str = "/update/3/Firefox/60.0/20180501000000/WINNT_x86_64-msvc/de";

/// Which release `/update` served: `main`, `fallback`, or the whole body when neither.
fn served(reply: &Reply) -> String {
    reply.expect(200);
    for side in ["main", "fallback"] {
        if reply
            .text
            .contains(&format!("https://dl.example.com/{side}-"))
        {
            return side.to_owned();
        }
    }
    reply.text.clone()
}

fn update(server: &TestServer, channel: &str, query: &str, headers: &[(&str, &str)]) -> Reply {
    server.request(
        "GET",
        &format!("{UPDATE}/{channel}/Windows_NT%2010.0/default/default/update.xml{query}"),
        headers,
        None,
    )
}

#[test]
fn sticky_by_is_a_checked_rule_field_with_history() {
    TestServer::each_backend(|server| {
        release(server, "main-beta");
        for bad in ["clientId", "cookie:id", "query:", "header:X:Y", "query:a b"] {
            let reply = write(
                server,
                "POST",
                "/api/rules",
                &json!({"priority": 1, "backgroundRate": 50, "update_type": "minor",
                    "mapping": "main-beta", "stickyBy": bad}),
            );
            reply.expect(400);
            assert!(
                reply.json()["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("stickyBy"),
                "{bad}: {}",
                reply.text
            );
        }
        assert_eq!(
            server.get("/api/rules").json()["count"],
            0,
            "nothing written"
        );
        let id = rollout(server, "release", json!("query:clientId"));
        let path = format!("/api/rules/{id}");
        assert_eq!(server.get(&path).json()["stickyBy"], "query:clientId");
        write(
            server,
            "PUT",
            &path,
            &json!({"stickyBy": "header:X-Client-Id", "data_version": 1}),
        )
        .expect(200);
        // Back to Balrog's roll: the field leaves the rule's JSON, as Balrog shapes it.
        write(
            server,
            "PUT",
            &path,
            &json!({"stickyBy": null, "data_version": 2}),
        )
        .expect(200);
        let rule = server.get(&path).json();
        assert!(rule.get("stickyBy").is_none(), "{rule}");
        let revisions = server.get(&format!("{path}/revisions"));
        revisions.expect(200);
        let sources: Vec<Value> = revisions.json()["rules"]
            .as_array()
            .expect("revisions")
            .iter()
            .map(|r| r.get("stickyBy").cloned().unwrap_or(Value::Null))
            .collect();
        assert_eq!(
            sources,
            [
                json!(null),
                json!("header:X-Client-Id"),
                json!("query:clientId")
            ],
            "newest first"
        );
    });
}

#[test]
fn the_same_client_gets_the_same_answer_every_time() {
    TestServer::each_backend(|server| {
        rollout(server, "release", json!("query:clientId"));
        rollout(server, "beta", json!("header:X-Client-Id"));
        for client in ["client-1", "client-2", "client-3"] {
            let query = format!("?clientId={client}");
            let first = served(&update(server, "release", &query, &[]));
            assert!(first == "main" || first == "fallback", "{first}");
            for _ in 0..1_000 {
                assert_eq!(served(&update(server, "release", &query, &[])), first);
            }
            // The native evaluation agrees with the update protocol.
            let evaluated = server
                .get(&format!("/api/v1/evaluate?product=Firefox&version=60.0&buildID=20180501000000&buildTarget=WINNT_x86_64-msvc&locale=de&channel=release&clientId={client}"))
                .json();
            assert_eq!(
                evaluated["data"]["mapping"],
                format!("{first}-release"),
                "{evaluated}"
            );
        }
        // By header: the answer says it varies with that header, for caches.
        let header = [("X-Client-Id", "client-1")];
        let reply = update(server, "beta", "", &header);
        let first = served(&reply);
        assert_eq!(reply.header("vary"), Some("X-Client-Id"));
        for _ in 0..1_000 {
            assert_eq!(served(&update(server, "beta", "", &header)), first);
        }
    });
}

#[test]
fn ten_thousand_clients_split_by_the_rate_within_two_points() {
    TestServer::each_backend(|server| {
        rollout(server, "release", json!("query:clientId"));
        let mut main = 0;
        for chunk in 0..10 {
            let queries: Vec<Value> = (0..1_000)
                .map(|n| {
                    json!({"product": "Firefox", "version": "60.0", "buildID": "20180501000000",
                        "buildTarget": "WINNT_x86_64-msvc", "locale": "de", "channel": "release",
                        "clientId": format!("installation-{}", chunk * 1_000 + n)})
                })
                .collect();
            let reply = server.request(
                "POST",
                "/api/v1/evaluate/batch",
                &[JSON],
                Some(&json!({"queries": queries, "releases": false}).to_string()),
            );
            reply.expect(200);
            let body = reply.json();
            let results = body["data"]["results"].as_array().expect("results");
            assert_eq!(results.len(), 1_000);
            main += results
                .iter()
                .filter(|r| r["result"]["mapping"] == "main-release")
                .count();
        }
        assert!(
            (2_800..=3_200).contains(&main),
            "{main} of 10,000 clients on the 30 % side"
        );
        // /update puts a client where the evaluation does.
        for n in 0..50 {
            let id = format!("installation-{n}");
            let evaluated = server
                .get(&format!("/api/v1/evaluate?product=Firefox&version=60.0&buildID=20180501000000&buildTarget=WINNT_x86_64-msvc&locale=de&channel=release&clientId={id}"))
                .json();
            let side = served(&update(server, "release", &format!("?clientId={id}"), &[]));
            assert_eq!(evaluated["data"]["mapping"], format!("{side}-release"));
        }
    });
}

#[test]
fn without_an_identifier_the_roll_stays_random() {
    TestServer::each_backend(|server| {
        rollout(server, "release", json!("query:clientId"));
        rollout(server, "beta", Value::Null);
        // 30 % / 70 %: 400 checks all landing on one side has a chance below 1e-60.
        for (channel, query) in [
            ("release", ""),
            ("release", "?clientId="),
            ("release", "?otherId=client-1"),
            ("beta", "?clientId=client-1"),
        ] {
            let sides: HashSet<String> = (0..400)
                .map(|_| served(&update(server, channel, query, &[])))
                .collect();
            assert_eq!(
                sides,
                HashSet::from(["main".to_owned(), "fallback".to_owned()]),
                "{channel}{query}"
            );
        }
        let reply = update(server, "release", "", &[]);
        assert_eq!(reply.header("vary"), None);
    });
}
