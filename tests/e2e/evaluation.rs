//! Rule evaluation over real HTTP, on every backend: `/api/v1/evaluate` in the envelope, Balrog's
//! `/update/…/update.xml`, emergency shutoffs at `/api/emergency_shutoff`, the JSON and XML
//! answers agreeing on every query, and a change written by another instance on the same
//! database taken up without a restart.

use std::time::Duration;

use serde_json::{json, Value};
use shiplog_domain::balrog::{RuleChanges, RuleFields};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

fn release(server: &TestServer, name: &str, blob: &Value) {
    write(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": "Firefox", "blob": blob.to_string()}),
    )
    .expect(201);
}

fn rule(server: &TestServer, body: Value) -> i64 {
    let reply = write(server, "POST", "/api/rules", &body);
    reply.expect(200);
    reply.text.parse().expect("a rule id")
}

/// Firefox 61.0 with a complete for everyone and a partial from 60.0's build; 60.0 itself; a
/// desupport notice.
fn setup(server: &TestServer) {
    release(
        server,
        "Firefox-60.0",
        &json!({"name": "Firefox-60.0", "schema_version": 4, "hashFunction": "sha512",
            "appVersion": "60.0", "displayVersion": "60.0",
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180501000000",
                "completes": [{"from": "*", "filesize": 40, "hashValue": "c60", "fileUrl": "https://dl.example.com/60.0/de.complete.mar"}]}}}}}),
    );
    release(
        server,
        "Firefox-61.0",
        &json!({"name": "Firefox-61.0", "schema_version": 4, "hashFunction": "sha512",
            "appVersion": "61.0", "displayVersion": "61.0",
            "detailsUrl": "https://www.example.com/%LOCALE%/firefox/61.0/",
            "fileUrls": {"*": {"completes": {"*": "https://dl.example.com/61.0/%LOCALE%.complete.mar"},
                               "partials": {"Firefox-60.0": "https://dl.example.com/61.0/%LOCALE%.partial.mar"}}},
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
                "completes": [{"from": "*", "filesize": 41, "hashValue": "c61"}],
                "partials": [{"from": "Firefox-60.0", "filesize": 8, "hashValue": "p61"}]}}}}}),
    );
    release(
        server,
        "Desupport",
        &json!({"name": "Desupport", "schema_version": 50,
            "detailsUrl": "https://www.example.com/%LOCALE%/unsupported/%OS%",
            "displayVersion": "61.0"}),
    );
}

fn evaluate(server: &TestServer, query: &str) -> Value {
    let reply = server.get(&format!("/api/v1/evaluate?{query}"));
    reply.expect(200);
    let body = reply.json();
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");
    body["data"].clone()
}

#[track_caller]
fn bad_request(server: &TestServer, query: &str, message_part: &str) {
    let reply = server.get(&format!("/api/v1/evaluate?{query}"));
    reply.expect(400);
    let body = reply.json();
    assert_eq!(body["status"], "failure", "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["errors"][0]["code"], "bad-request", "{body}");
    let message = body["errors"][0]["message"].as_str().expect("a message");
    assert!(message.contains(message_part), "{message}");
}

const DE_WIN: &str = "product=Firefox&buildTarget=WINNT_x86_64-msvc&locale=de&headerArchitecture=Intel&osVersion=Windows_NT%2010.0";

#[test]
fn json_evaluation_reports_the_winner_the_release_and_why() {
    TestServer::each_backend(|server| {
        setup(server);
        let low = rule(
            server,
            json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-60.0", "product": "Firefox", "channel": "release*"}),
        );
        let high = rule(
            server,
            json!({"priority": 90, "backgroundRate": 0, "update_type": "minor",
                "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0",
                "product": "Firefox", "channel": "release", "version": "<61.0"}),
        );

        // Rate 0: always the fallback; force=1 serves the main mapping.
        let data = evaluate(
            server,
            &format!("{DE_WIN}&version=59.0&buildID=20170101000000&channel=release"),
        );
        assert_eq!(data["rule_id"], high);
        assert_eq!(data["rule_data_version"], 1);
        assert_eq!(data["mapping"], "Firefox-60.0");
        assert!(data["reason"]
            .as_str()
            .is_some_and(|r| r.contains("fallback")));
        assert_eq!(data["release"]["name"], "Firefox-60.0");
        assert_eq!(data["release"]["product"], "Firefox");
        assert_eq!(data["release"]["data"]["appVersion"], "60.0");
        let forced = evaluate(
            server,
            &format!("{DE_WIN}&version=59.0&buildID=20170101000000&channel=release&force=1"),
        );
        assert_eq!(forced["mapping"], "Firefox-61.0");

        // The -cck- channel falls back to release; 61.0 is past the high rule's version.
        let partner = evaluate(
            server,
            &format!("{DE_WIN}&version=61.0&buildID=20170101000000&channel=release-cck-yahoo"),
        );
        assert_eq!(partner["rule_id"], low);
        assert_eq!(
            partner["mapping"],
            Value::Null,
            "60.0 is older than the client"
        );
        assert!(partner["release"].is_null());

        // No rule for another product or channel.
        let none = evaluate(server, "product=Thunderbird&version=60.0&channel=release");
        assert_eq!(
            none,
            json!({"rule_id": null, "rule_data_version": null, "mapping": null,
                "reason": "no rule matches the query", "release": null})
        );

        // An absent headerArchitecture matches only rules without one.
        rule(
            server,
            json!({"priority": 95, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "headerArchitecture": "Intel"}),
        );
        let without_arch = evaluate(
            server,
            "product=Firefox&version=59.0&channel=release&buildTarget=WINNT_x86_64-msvc&locale=de&force=1",
        );
        assert_eq!(without_arch["rule_id"], high);

        // Bad input: a 400 in the envelope.
        bad_request(server, "product=Firefox&version=sixty", "Invalid version");
        bad_request(server, "product=Firefox&version=60.0&memory=lots", "memory");
        bad_request(server, "version=60.0", "product");
        bad_request(server, "product=Firefox", "version");
        bad_request(
            server,
            "product=Firefox&version=60.0&buildid=1",
            "Unknown parameter",
        );
        bad_request(server, "product=Firefox&version=60.0&jaws=maybe", "jaws");
        // A loose product takes any version text.
        let vpn = evaluate(server, "product=FirefoxVPN&version=2.0.0-beta");
        assert_eq!(vpn["rule_id"], Value::Null);

        // Unknown /api/v1 routes: 404 in the envelope.
        let reply = server.get("/api/v1/nothing-here");
        reply.expect(404);
        assert_eq!(
            reply.json(),
            json!({"status": "failure", "data": null,
                "errors": [{"code": "not-found", "message": "Requested resource not found."}]})
        );
    });
}

fn batch(server: &TestServer, body: &Value) -> Reply {
    server.request(
        "POST",
        "/api/v1/evaluate/batch",
        &[JSON],
        Some(&body.to_string()),
    )
}

#[test]
fn a_batch_answers_each_query_as_the_single_endpoint_does() {
    TestServer::each_backend(|server| {
        setup(server);
        let high = rule(
            server,
            json!({"priority": 90, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release",
                "version": "<61.0"}),
        );
        let queries = [
            format!("{DE_WIN}&version=60.0&buildID=20180501000000&channel=release"),
            "product=Thunderbird&version=60.0&channel=release".to_owned(),
            format!("{DE_WIN}&version=61.0&channel=release&memory=4096&jaws=0"),
        ];
        let objects: Vec<Value> = queries
            .iter()
            .map(|q| {
                let mut object = serde_json::Map::new();
                for pair in q.split('&') {
                    let (key, value) = pair.split_once('=').expect("key=value");
                    let value = value.replace("%20", " ");
                    // Numbers and booleans are taken as their text.
                    let value = match key {
                        "memory" => json!(value.parse::<i64>().expect("a number")),
                        "jaws" => json!(value == "1"),
                        _ => json!(value),
                    };
                    object.insert(key.to_owned(), value);
                }
                Value::Object(object)
            })
            .collect();
        let mut with_bad = objects.clone();
        with_bad.push(json!({"product": "Firefox", "version": "sixty"}));
        with_bad.push(json!({"product": "Firefox", "version": "60.0", "buildid": "1"}));
        with_bad.push(json!(["not", "an", "object"]));
        let reply = batch(server, &json!({"queries": with_bad}));
        reply.expect(200);
        let body = reply.json();
        assert_eq!(body["status"], "success", "{body}");
        let results = body["data"]["results"].as_array().expect("results");
        assert_eq!(results.len(), 6);
        // Each readable query gets exactly what GET /api/v1/evaluate answers.
        for (query, item) in queries.iter().zip(results) {
            assert_eq!(item["error"], Value::Null, "{item}");
            assert_eq!(item["result"], evaluate(server, query), "{query}");
        }
        assert_eq!(results[0]["result"]["rule_id"], high);
        assert_eq!(results[0]["result"]["release"]["name"], "Firefox-61.0");
        assert_eq!(results[1]["result"]["reason"], "no rule matches the query");
        // Unreadable queries are errors in their own slots.
        for (item, part) in
            results[3..]
                .iter()
                .zip(["Invalid version", "Unknown parameter", "JSON object"])
        {
            assert_eq!(item["result"], Value::Null, "{item}");
            let error = item["error"].as_str().expect("an error");
            assert!(error.contains(part), "{error}");
        }

        // Names only, when blobs are not wanted.
        let names = batch(server, &json!({"queries": [objects[0]], "releases": false}));
        names.expect(200);
        let release = &names.json()["data"]["results"][0]["result"]["release"];
        assert_eq!(release["name"], "Firefox-61.0");
        assert_eq!(release["data"], Value::Null);

        // The batch as a whole: JSON, known keys, 1 to 1,000 queries.
        for (body, part) in [
            ("{".to_owned(), "Unable to parse"),
            (json!({"queries": []}).to_string(), "must not be empty"),
            (
                json!({"queries": [objects[0]], "mode": 1}).to_string(),
                "unknown field",
            ),
            (
                json!({"queries": vec![objects[0].clone(); 1001]}).to_string(),
                "at most 1000",
            ),
        ] {
            let reply = server.request("POST", "/api/v1/evaluate/batch", &[JSON], Some(&body));
            reply.expect(400);
            let failure = reply.json();
            assert_eq!(failure["status"], "failure", "{failure}");
            let message = failure["errors"][0]["message"].as_str().expect("a message");
            assert!(message.contains(part), "{message}");
        }
        // A GET is a 405 in the envelope.
        server.get("/api/v1/evaluate/batch").expect(405);
    });
}

fn xml(server: &TestServer, path: &str) -> Reply {
    let reply = server.get(path);
    reply.expect(200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/xml"),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.header("cache-control"),
        Some("public, max-age=90"),
        "{}",
        reply.text
    );
    reply
}

const EMPTY: &str = "<?xml version=\"1.0\"?>\n<updates>\n</updates>";

#[test]
fn the_update_protocol_answers_balrogs_xml() {
    TestServer::each_backend(|server| {
        setup(server);
        let id = rule(
            server,
            json!({"priority": 90, "backgroundRate": 100, "update_type": "major",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release"}),
        );
        // On 60.0's own build: complete and partial.
        let reply = xml(
            server,
            "/update/6/Firefox/60.0/20180501000000/WINNT_x86_64-msvc/de/release/Windows_NT%2010.0/ISET:SSE3,MEM:8192/default/default/update.xml",
        );
        assert_eq!(reply.header("Rule-ID"), Some(id.to_string().as_str()));
        assert_eq!(reply.header("Rule-Data-Version"), Some("1"));
        assert_eq!(
            reply.text,
            "<?xml version=\"1.0\"?>\n<updates>\n    <update type=\"major\" displayVersion=\"61.0\" appVersion=\"61.0\" buildID=\"20180620000000\" detailsURL=\"https://www.example.com/de/firefox/61.0/\">\n        <patch type=\"complete\" URL=\"https://dl.example.com/61.0/de.complete.mar\" hashFunction=\"sha512\" hashValue=\"c61\" size=\"41\"/>\n        <patch type=\"partial\" URL=\"https://dl.example.com/61.0/de.partial.mar\" hashFunction=\"sha512\" hashValue=\"p61\" size=\"8\"/>\n    </update>\n</updates>"
        );
        // Another build of 60.0: the complete only (version 2 URL form).
        let reply = xml(
            server,
            "/update/2/Firefox/60.0/20180401000000/WINNT_x86_64-msvc/de/release/Windows_NT%2010.0/update.xml",
        );
        assert!(reply.text.contains("type=\"complete\""), "{}", reply.text);
        assert!(!reply.text.contains("type=\"partial\""), "{}", reply.text);

        // Already up to date: the empty document, with the rule still named.
        let reply = xml(
            server,
            "/update/1/Firefox/61.0/20180620000000/WINNT_x86_64-msvc/de/release/update.xml",
        );
        assert_eq!(reply.text, EMPTY);
        assert_eq!(reply.header("Rule-ID"), Some(id.to_string().as_str()));
        // No rule: Rule-ID unknown.
        let reply = xml(
            server,
            "/update/1/Thunderbird/60.0/1/WINNT_x86_64-msvc/de/release/update.xml",
        );
        assert_eq!(reply.text, EMPTY);
        assert_eq!(reply.header("Rule-ID"), Some("unknown"));
        assert_eq!(reply.header("Rule-Data-Version"), Some("unknown"));
        // Unknown forms and paths: the empty document with 200, never a 404.
        for path in [
            "/update/9/Firefox/60.0/1/WINNT/de/release/update.xml",
            "/update/1/Firefox/60.0/update.xml",
            "/update",
            "/update/whatever",
        ] {
            let reply = server.get(path);
            reply.expect(200);
            assert_eq!(reply.text, EMPTY, "{path}");
        }
        // A version that cannot be compared: 400, as Balrog answers BadDataError.
        let reply = server.get("/update/1/Firefox/sixty/1/WINNT_x86_64-msvc/de/release/update.xml");
        reply.expect(400);
        assert!(reply.text.contains("sixty"), "{}", reply.text);

        // Desupport: always served.
        rule(
            server,
            json!({"priority": 200, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Desupport", "product": "Firefox", "channel": "release",
                "osVersion": "Windows_NT 5.1"}),
        );
        let reply = xml(
            server,
            "/update/3/Firefox/52.0/1/WINNT_x86_64-msvc/de/release/Windows_NT%205.1.2600/default/default/update.xml",
        );
        assert_eq!(
            reply.text,
            "<?xml version=\"1.0\"?>\n<updates>\n\n    <update type=\"minor\" unsupported=\"true\" detailsURL=\"https://www.example.com/de/unsupported/WINNT\" displayVersion=\"61.0\">\n</update>\n</updates>"
        );
    });
}

/// The v3 URL and the JSON query for the same client.
fn both_forms(
    version: &str,
    build: &str,
    channel: &str,
    os: &str,
    force: &str,
) -> (String, String) {
    let os_url = os.replace(' ', "%20");
    (
        format!("/update/3/Firefox/{version}/{build}/WINNT_x86_64-msvc/de/{channel}/{os_url}/default/1.0/update.xml{force}"),
        format!(
            "product=Firefox&version={version}&buildID={build}&buildTarget=WINNT_x86_64-msvc&locale=de&channel={channel}&osVersion={os_url}&distribution=default&distVersion=1.0&headerArchitecture=Intel{}",
            force.replace('?', "&")
        ),
    )
}

#[test]
fn json_and_xml_agree_on_every_query() {
    TestServer::each_backend(|server| {
        setup(server);
        rule(
            server,
            json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release*",
                "version": ">=60.0"}),
        );
        rule(
            server,
            json!({"priority": 100, "backgroundRate": 0, "update_type": "minor",
                "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0",
                "product": "Firefox", "channel": "beta"}),
        );
        rule(
            server,
            json!({"priority": 150, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Desupport", "product": "Firefox", "osVersion": "Windows_NT 5"}),
        );
        rule(
            server,
            json!({"priority": 300, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "nightly",
                "distVersion": "2.0"}),
        );
        let mut served = 0;
        for version in ["59.0", "60.0", "61.0"] {
            for build in ["20180401000000", "20180501000000", "20180620000000"] {
                for channel in ["release", "release-cck-x", "beta", "aurora", "nightly"] {
                    for os in ["Windows_NT 10.0", "Windows_NT 5.1"] {
                        for force in ["", "?force=1", "?force=-1"] {
                            let (url, query) = both_forms(version, build, channel, os, force);
                            let reply = xml(server, &url);
                            let data = evaluate(server, &query);
                            let rule_id = data["rule_id"]
                                .as_i64()
                                .map_or("unknown".to_owned(), |id| id.to_string());
                            assert_eq!(reply.header("Rule-ID"), Some(rule_id.as_str()), "{url}");
                            assert_eq!(
                                data["mapping"].is_null(),
                                reply.text == EMPTY,
                                "{url}: {data} vs {}",
                                reply.text
                            );
                            if !data["mapping"].is_null() {
                                served += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(served > 20, "the grid serves something: {served}");
    });
}

#[test]
fn emergency_shutoffs_stop_updates_and_keep_history() {
    TestServer::each_backend(|server| {
        setup(server);
        let id = rule(
            server,
            json!({"priority": 90, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release"}),
        );
        let query = format!("{DE_WIN}&version=60.0&buildID=1&channel=release-cck-yahoo");
        assert_eq!(evaluate(server, &query)["rule_id"], id);

        // Writes need a credential, and the emergency_shutoff permission.
        let body = json!({"product": "Firefox", "channel": "release"}).to_string();
        server
            .request("POST", "/api/emergency_shutoff", &[JSON], Some(&body))
            .expect(401);
        let bot = format!("Bearer {}", shiplog_tests::BOT_TOKEN);
        server
            .request(
                "POST",
                "/api/emergency_shutoff",
                &[("Authorization", bot.as_str()), JSON],
                Some(&body),
            )
            .expect(403);
        let reply = write(
            server,
            "POST",
            "/api/emergency_shutoff",
            &json!({"product": "Firefox", "channel": "release", "comment": "bad build"}),
        );
        reply.expect(201);
        assert_eq!(
            reply.json(),
            json!({"product": "Firefox", "channel": "release", "comment": "bad build", "data_version": 1})
        );
        let again = write(
            server,
            "POST",
            "/api/emergency_shutoff",
            &json!({"product": "Firefox", "channel": "release"}),
        );
        again.expect(400);
        assert_eq!(
            again.json()["exception"],
            "Emergency shutoff for product/channel already exists."
        );
        write(
            server,
            "POST",
            "/api/emergency_shutoff",
            &json!({"product": "Firefox"}),
        )
        .expect(400);

        // The shutoff covers the -cck- channel; no rule is reported, on both faces.
        let data = evaluate(server, &query);
        assert_eq!(data["rule_id"], Value::Null);
        assert_eq!(data["mapping"], Value::Null);
        assert!(data["reason"]
            .as_str()
            .is_some_and(|r| r.contains("shut off")));
        let reply = xml(
            server,
            "/update/1/Firefox/60.0/1/WINNT_x86_64-msvc/de/release/update.xml",
        );
        assert_eq!(reply.text, EMPTY);
        assert_eq!(reply.header("Rule-ID"), Some("unknown"));

        let list = server.get("/api/emergency_shutoff").expect(200).json();
        assert_eq!(list["count"], 1);
        assert_eq!(list["shutoffs"][0]["channel"], "release");
        let one = server.get("/api/emergency_shutoff/Firefox/release");
        one.expect(200);
        assert_eq!(one.header("X-Data-Version"), Some("1"));
        let missing = server.get("/api/emergency_shutoff/Firefox/beta");
        missing.expect(404);
        assert_eq!(
            missing.json()["detail"],
            "Requested emergency shutoff wasn't found"
        );

        // Lifting it needs the current data_version.
        let delete = |query: &str| {
            server.request(
                "DELETE",
                &format!("/api/emergency_shutoff/Firefox/release{query}"),
                &[AUTH],
                None,
            )
        };
        delete("").expect(400);
        let outdated = delete("?data_version=2");
        outdated.expect(400);
        assert_eq!(outdated.json()["detail"], "OutdatedDataError");
        delete("?data_version=1").expect(200);
        let gone = delete("?data_version=1");
        gone.expect(404);
        assert_eq!(gone.json()["detail"], "Shutoff wasn't found");
        assert_eq!(evaluate(server, &query)["rule_id"], id);

        // History: the shutoff as it was put in place, by whom.
        let history = server
            .other_instance()
            .list_revisions(
                shiplog_domain::balrog::ChangeTable::EmergencyShutoffs,
                "Firefox/release",
                10,
                0,
            )
            .expect("revisions");
        assert_eq!(history.total, 1);
        assert_eq!(history.changes[0].changed_by, "alice");
        assert_eq!(
            history.changes[0].field("comment"),
            Some(json!("bad build"))
        );
    });
}

fn rule_fields(input: Value) -> RuleFields {
    let Value::Object(map) = input else {
        panic!("an object");
    };
    RuleFields::create(&RuleChanges::parse(&map).expect("valid")).expect("valid")
}

#[test]
fn a_change_by_another_instance_is_served_without_a_restart() {
    TestServer::each_backend(|server| {
        setup(server);
        let query = format!("{DE_WIN}&version=60.0&buildID=20180401000000&channel=release");
        assert_eq!(evaluate(server, &query)["rule_id"], Value::Null);

        // A local write is served at once.
        let local = rule(
            server,
            json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-60.0", "product": "Firefox"}),
        );
        assert_eq!(evaluate(server, &query)["rule_id"], local);

        // Another instance writes straight to the same database.
        let other = server.other_instance();
        let remote = other
            .insert_rule(
                &rule_fields(json!({"priority": 500, "backgroundRate": 100,
                    "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox",
                    "channel": "release"})),
                "bob",
            )
            .expect("insert on the other instance");
        let seen = server.wait_for(Duration::from_secs(10), "the other instance's rule", || {
            let data = evaluate(server, &query);
            (data["rule_id"] == remote.rule_id).then_some(data)
        });
        assert_eq!(seen["mapping"], "Firefox-61.0");

        // A shutoff put in place elsewhere is noticed the same way.
        other
            .insert_emergency_shutoff(
                &shiplog_domain::balrog::EmergencyShutoff::new("Firefox", "release", None)
                    .expect("valid"),
                "bob",
            )
            .expect("shutoff on the other instance");
        server.wait_for(
            Duration::from_secs(10),
            "the other instance's shutoff",
            || evaluate(server, &query)["rule_id"].is_null().then_some(()),
        );
    });
}
