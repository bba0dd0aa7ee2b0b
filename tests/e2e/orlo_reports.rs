//! /info, /stats, import and token over HTTP.

use serde_json::{json, Value};
use shiplog_tests::TestServer;

/// Imports a small history: the same fixture as the storage statistics test.
fn import_fixture(server: &TestServer) -> Vec<String> {
    let doc = json!([
        {"user": "alice", "team": "core", "platforms": ["eu"], "stime": "2015-12-17T10:00:00Z", "ftime": 1450346420,
         "references": ["T-1"], "notes": ["imported"], "metadata": {"k": "v"},
         "packages": [
            {"name": "web", "version": "1.0", "status": "SUCCESSFUL", "stime": "2015-12-17T10:00:00Z", "ftime": "2015-12-17T10:00:10Z"},
            {"name": "api", "version": "1.0", "status": "SUCCESSFUL", "stime": 1450346400, "ftime": 1450346410}]},
        {"user": "bob", "team": "core", "platforms": ["eu", "us"], "stime": "2015-12-18 11:00:00",
         "packages": [{"name": "web", "version": "1.1", "status": "FAILED", "ftime": "2015-12-18T11:00:10+00:00"}]},
        {"user": "alice", "platforms": ["us"], "stime": "1451908800",
         "packages": [{"name": "web", "version": "0.9", "status": "SUCCESSFUL", "rollback": true, "ftime": 1451908810}]},
        {"user": "bob", "team": "web", "platforms": ["us"], "stime": "2016-01-05T13:00:00Z",
         "packages": [{"name": "api", "version": "2.0", "status": "IN_PROGRESS"}]},
        {"user": "carol", "team": "web", "platforms": ["eu"], "stime": "2016-01-06T14:00:00Z", "packages": []}
    ]);
    let reply = server.post("/releases/import", &doc);
    reply.expect(200);
    reply.json()["releases"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect()
}

fn stats(ns: i64, nf: i64, rs: i64, rf: i64) -> Value {
    json!({"releases": {"normal": {"successful": ns, "failed": nf}, "rollback": {"successful": rs, "failed": rf},
                        "total": {"successful": ns + rs, "failed": nf + rf}}})
}

#[test]
fn import_is_atomic_and_keeps_input_order() {
    TestServer::each_backend(|server| {
        assert_eq!(
            server.get("/releases/import").expect(200).json(),
            json!({"message": "This is the orlo import url"})
        );
        let ids = import_fixture(server);
        assert_eq!(ids.len(), 5);
        let first = server
            .get(&format!("/releases/{}", ids[0]))
            .expect(200)
            .json();
        let r = &first["releases"][0];
        assert_eq!(r["stime"], "2015-12-17T10:00:00Z");
        assert_eq!(r["ftime"], "2015-12-17T10:00:20Z");
        assert_eq!(r["duration"], 20);
        assert_eq!(r["status"], "SUCCESSFUL");
        assert_eq!(r["recorded_by"], "admin");
        assert_eq!(r["references"], json!(["T-1"]));
        assert_eq!(r["notes"], json!(["imported"]));
        let third = server
            .get(&format!("/releases/{}", ids[2]))
            .expect(200)
            .json();
        assert_eq!(
            third["releases"][0]["stime"], "2016-01-04T12:00:00Z",
            "a unix-time string"
        );
        assert_eq!(third["releases"][0]["references"], json!([]));
        assert_eq!(
            third["releases"][0]["packages"][0]["stime"], "2016-01-04T12:00:00Z",
            "package starts with its release"
        );

        let bad = json!([
            {"user": "dave", "platforms": ["eu"], "packages": []},
            {"user": "erin", "platforms": ["eu"], "packages": [{"name": "x", "version": "1", "status": "DONE"}]}
        ]);
        let reply = server.post("/releases/import", &bad);
        reply.expect(400);
        assert!(reply.json()["message"]
            .as_str()
            .expect("message")
            .starts_with("release 1: packages[0].status: Invalid package status"));
        server.get("/releases?user=dave").expect(404);
        for (body, message) in [
            (json!([]), "Missing application/json header"),
            (
                json!({"user": "x"}),
                "The import document must be a JSON list of releases",
            ),
            (
                json!([{"user": "x", "platforms": ["p"]}]),
                "release 0: packages: is required (a list, possibly empty)",
            ),
        ] {
            let reply = server.post("/releases/import", &body);
            reply.expect(400);
            assert_eq!(reply.json()["message"], message);
        }
        let listing = server.get("/releases?limit=-1").expect(200).json();
        assert_eq!(listing["releases"].as_array().map(Vec::len), Some(5));
    });
}

#[test]
fn info_answers_who_where_and_what_is_live() {
    TestServer::each_backend(|server| {
        assert_eq!(
            server.get("/info/users").expect(200).json(),
            json!({}),
            "empty ledger"
        );
        import_fixture(server);
        let root = server.get("/info").expect(200).json();
        assert_eq!(root["message"], "/info endpoint");
        assert_eq!(root["urls"].as_array().map(Vec::len), Some(9));
        assert_eq!(
            server.get("/info/users").expect(200).json(),
            json!({"alice": {"releases": 2}, "bob": {"releases": 2}, "carol": {"releases": 1}})
        );
        assert_eq!(
            server.get("/info/users?platform=us").expect(200).json(),
            json!({"alice": {"releases": 1}, "bob": {"releases": 2}})
        );
        assert_eq!(
            server.get("/info/users/bob").expect(200).json(),
            json!({"bob": {"releases": 2}})
        );
        assert_eq!(
            server.get("/info/users/nobody").expect(200).json(),
            json!({})
        );
        assert_eq!(
            server.get("/info/platforms").expect(200).json(),
            json!({"eu": {"releases": 3}, "us": {"releases": 3}})
        );
        assert_eq!(
            server.get("/info/platforms/us").expect(200).json(),
            json!({"us": {"releases": 3}}),
            "a real count (Orlo's B12)"
        );
        assert_eq!(
            server.get("/info/platforms/mars").expect(200).json(),
            json!({})
        );
        assert_eq!(
            server.get("/info/packages").expect(200).json(),
            json!({"api": {"releases": 2}, "web": {"releases": 3}})
        );
        assert_eq!(
            server
                .get("/info/packages/web?platform=eu")
                .expect(200)
                .json(),
            json!({"web": {"releases": 2}})
        );
        assert_eq!(
            server.get("/info/packages/list").expect(200).json(),
            json!({"packages": ["api", "web"]})
        );
        assert_eq!(
            server.get("/info/packages/versions").expect(200).json(),
            json!({"api": "1.0", "web": "0.9"})
        );
        assert_eq!(
            server
                .get("/info/packages/versions?platform=eu")
                .expect(200)
                .json(),
            json!({"api": "1.0", "web": "1.0"})
        );
        assert_eq!(
            server
                .get("/info/packages/versions?platform=us&by_release=true")
                .expect(200)
                .json(),
            json!({"web": "0.9"})
        );
        server
            .get("/info/packages/versions?by_release=perhaps")
            .expect(400);
        server.get("/info/users?platfrom=us").expect(400);
    });
}

#[test]
fn stats_count_outcomes_overall_per_subject_and_by_date() {
    TestServer::each_backend(|server| {
        assert_eq!(
            server.get("/stats").expect(200).json(),
            json!({"global": stats(0, 0, 0, 0)})
        );
        import_fixture(server);
        assert_eq!(
            server.get("/stats").expect(200).json(),
            json!({"global": stats(1, 1, 1, 0)})
        );
        assert_eq!(
            server
                .get("/stats?stime=2015-12-18T11:00:00Z")
                .expect(200)
                .json(),
            json!({"global": stats(0, 1, 1, 0)}),
            "stime is an inclusive bound on the release start"
        );
        assert_eq!(
            server
                .get("/stats?ftime=2015-12-18T11:00:00Z")
                .expect(200)
                .json(),
            json!({"global": stats(1, 1, 0, 0)})
        );
        assert_eq!(
            server.get("/stats?platform=us").expect(200).json(),
            json!({"global": stats(0, 1, 1, 0)})
        );
        let bad = server.get("/stats?stime=whenever");
        bad.expect(400);
        assert_eq!(
            bad.json()["message"],
            "A badly formatted datetime string was given"
        );

        let users = server.get("/stats/user").expect(200).json();
        assert_eq!(users["alice"], stats(1, 0, 1, 0));
        assert_eq!(users["carol"], stats(0, 0, 0, 0));
        assert_eq!(
            server.get("/stats/user/bob").expect(200).json(),
            json!({"bob": stats(0, 1, 0, 0)})
        );
        assert_eq!(
            server.get("/stats/user/nobody").expect(200).json(),
            json!({"nobody": stats(0, 0, 0, 0)})
        );
        let teams = server.get("/stats/team").expect(200).json();
        assert_eq!(
            teams,
            json!({"core": stats(1, 1, 0, 0), "web": stats(0, 0, 0, 0)}),
            "no 500 with mixed null teams (B10)"
        );
        assert_eq!(
            server.get("/stats/platform/us").expect(200).json(),
            json!({"us": stats(0, 1, 1, 0)})
        );
        assert_eq!(
            server.get("/stats/package/web").expect(200).json(),
            json!({"web": stats(1, 1, 1, 0)})
        );
        assert_eq!(
            server
                .get("/stats/package?stime=2016-01-01")
                .expect(200)
                .json()["api"],
            stats(0, 0, 0, 0)
        );
        server.get("/stats/galaxy").expect(404);

        assert_eq!(
            server.get("/stats/by_date/release").expect(200).json(),
            json!({"2015": {"12": {"normal": {"successful": 1, "failed": 1}}}, "2016": {"1": {"rollback": {"successful": 1}}}})
        );
        assert_eq!(
            server.get("/stats/by_date").expect(200).json(),
            server.get("/stats/by_date/release").json()
        );
        assert_eq!(
            server
                .get("/stats/by_date/release?unit=year&summarize_by_unit=true")
                .expect(200)
                .json(),
            json!({"2015": {"normal": {"successful": 1, "failed": 1}}, "2016": {"rollback": {"successful": 1}}})
        );
        assert_eq!(
            server
                .get("/stats/by_date/release?unit=month&summarize_by_unit=false")
                .expect(200)
                .json()["2015"]["12"],
            json!({"normal": {"successful": 1, "failed": 1}}),
            "summarize_by_unit=false does not summarise (B14)"
        );
        assert_eq!(
            server
                .get("/stats/by_date/release?unit=week")
                .expect(200)
                .json(),
            json!({"2015": {"51": {"normal": {"successful": 1, "failed": 1}}}, "2016": {"1": {"rollback": {"successful": 1}}}})
        );
        assert_eq!(
            server
                .get("/stats/by_date/release?unit=day&user=alice")
                .expect(200)
                .json(),
            json!({"2015": {"12": {"17": {"normal": {"successful": 1}}}}, "2016": {"1": {"4": {"rollback": {"successful": 1}}}}})
        );
        assert_eq!(
            server
                .get("/stats/by_date/release?unit=hour&stime_after=2016-01-01")
                .expect(200)
                .json(),
            json!({"2016": {"1": {"4": {"12": {"rollback": {"successful": 1}}}}}})
        );
        assert_eq!(
            server
                .get("/stats/by_date/release?unit=iso&platform=eu")
                .expect(200)
                .json(),
            json!({"2015": {"51": {"4": {"normal": {"successful": 1}}, "5": {"normal": {"failed": 1}}}}})
        );
        assert_eq!(
            server
                .get("/stats/by_date/package?unit=day&platform=eu")
                .expect(200)
                .json(),
            json!({"2015": {"12": {
                "17": {"web": {"normal": {"successful": 1}}, "api": {"normal": {"successful": 1}}},
                "18": {"web": {"normal": {"failed": 1}}}}}})
        );
        let bad_unit = server.get("/stats/by_date/release?unit=fortnight");
        bad_unit.expect(400);
        assert_eq!(
            bad_unit.json()["message"],
            "Invalid unit \"fortnight\" specified for release breakdown"
        );
        server.get("/stats/by_date/ticket").expect(400);
        server.get("/stats/by_date/release?limit=3").expect(400);
    });
}

#[test]
fn token_exchanges_a_credential_for_an_orlo_token() {
    TestServer::each_backend(|server| {
        let basic = format!(
            "Basic {}",
            base64_encode(&format!("admin:{}", shiplog_tests::ADMIN_TOKEN))
        );
        let token = server
            .request("GET", "/token", &[("Authorization", &basic)], None)
            .expect(200)
            .json();
        let secret = token["token"].as_str().expect("a token");
        assert!(secret.len() >= 32);
        assert_ne!(secret, shiplog_tests::ADMIN_TOKEN);
        assert_eq!(token["duration"], 3600);
        // Orlo's clients send it back as X-Auth-Token.
        server
            .request(
                "POST",
                "/releases",
                &[
                    ("X-Auth-Token", secret),
                    ("Content-Type", "application/json"),
                ],
                Some(r#"{"user": "alice", "platforms": ["eu"]}"#),
            )
            .expect(200);
        let anonymous = server.get("/token");
        anonymous.expect(401);
        assert_eq!(anonymous.json()["error"], "not_authorized");
    });
}

/// Standard base64 (for HTTP Basic), without pulling a crate into the tests.
fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
