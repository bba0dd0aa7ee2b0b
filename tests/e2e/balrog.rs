//! The Balrog admin face at `/api` over real HTTP, on every backend: each endpoint, its error
//! paths, optimistic locking, the 3-way merge, read-only releases, history and revert.

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

fn delete(server: &TestServer, path: &str) -> Reply {
    server.request("DELETE", path, &[AUTH], None)
}

fn head(server: &TestServer, path: &str) -> Reply {
    server.request("HEAD", path, &[], None)
}

/// Asserts a problem+json answer with this status and detail.
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
    assert_eq!(body["type"], "about:blank", "{}", reply.text);
    assert_eq!(body["status"], status, "{}", reply.text);
    assert!(body["title"].is_string(), "{}", reply.text);
    assert_eq!(body["detail"], detail, "{}", reply.text);
    body
}

#[track_caller]
fn outdated(reply: &Reply, method: &str) {
    let body = problem(reply, 400, "OutdatedDataError");
    assert_eq!(
        body["exception"],
        format!("Couldn't perform the request {method}. Outdated Data Version. old_data_version doesn't match current data_version")
    );
}

fn blob(name: &str) -> Value {
    json!({"name": name, "schema_version": 1, "hashFunction": "sha512"})
}

fn create_release(server: &TestServer, name: &str, product: &str) {
    let reply = write(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": product, "blob": blob(name).to_string()}),
    );
    reply.expect(201);
    assert_eq!(reply.json(), json!({"new_data_version": 1}));
}

fn create_rule(server: &TestServer, rule: &Value) -> i64 {
    let reply = write(server, "POST", "/api/rules", rule);
    reply.expect(200);
    assert!(reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    reply.text.parse().expect("a rule id as text")
}

fn data_version(reply: &Reply) -> i64 {
    reply
        .header("X-Data-Version")
        .and_then(|v| v.parse().ok())
        .expect("an X-Data-Version header")
}

#[test]
fn rules_are_created_read_changed_and_deleted() {
    TestServer::each_backend(|server| {
        create_release(server, "Firefox-60.0-build1", "Firefox");
        create_release(server, "Firefox-61.0-build1", "Firefox");

        // Validation, before anything is stored.
        let base = json!({"priority": 90, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0-build1"});
        let without = |key: &str| {
            let mut rule = base.clone();
            rule.as_object_mut().expect("object").remove(key);
            rule
        };
        let with = |key: &str, value: Value| {
            let mut rule = base.clone();
            rule[key] = value;
            rule
        };
        problem(
            &write(server, "POST", "/api/rules", &without("priority")),
            400,
            "priority: is a required property",
        );
        problem(
            &write(server, "POST", "/api/rules", &without("backgroundRate")),
            400,
            "backgroundRate: is a required property",
        );
        problem(
            &write(server, "POST", "/api/rules", &without("update_type")),
            400,
            "update_type: is a required property",
        );
        problem(
            &write(server, "POST", "/api/rules", &without("mapping")),
            400,
            "mapping: mapping value cannot be set to null/empty",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("backgroundRate", json!(101)),
            ),
            400,
            "backgroundRate: should be an integer between 0 and 100",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("update_type", json!("huge")),
            ),
            400,
            "update_type: must be 'minor' or 'major'",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("mapping", json!("nope")),
            ),
            400,
            "Invalid mapping value. No release name found in DB",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("fallbackMapping", json!("nope")),
            ),
            400,
            "Invalid fallbackMapping value. No release name found in DB",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("alias", json!("9lives")),
            ),
            400,
            "alias: must start with a letter and contain only letters, digits and '-'",
        );
        let bad_version = problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("version", json!("latest")),
            ),
            400,
            "version: couldn't parse the version \"latest\"",
        );
        assert!(bad_version["exception"].is_null());
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("buildID", json!("2018*")),
            ),
            400,
            "buildID: \"2018*\" must be an integer, optionally after <, <=, > or >=",
        );
        problem(
            &server.request("POST", "/api/rules", &[JSON], Some(&base.to_string())),
            401,
            "Login Required",
        );
        problem(
            &server.request(
                "POST",
                "/api/rules",
                &[("Authorization", "Basic eDp5"), JSON],
                Some(&base.to_string()),
            ),
            401,
            "Login Required",
        );
        problem(
            &server.request("POST", "/api/rules", &[AUTH, JSON], Some("[1]")),
            400,
            "The request body must be a JSON object",
        );

        let release_rule = create_rule(
            server,
            &json!({
                "priority": "90", "backgroundRate": 100, "update_type": "minor",
                "mapping": " Firefox-60.0-build1 ", "product": "Firefox", "channel": "release",
                "alias": "firefox-release", "locale": "de, fr", "version": "<61.0", "comment": "",
                "csrf_token": "ignored",
            }),
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules",
                &with("alias", json!("firefox-release")),
            ),
            400,
            "Rule with alias exists.",
        );
        // A form body works like a JSON one.
        let form = server.request(
            "POST",
            "/api/rules",
            &[AUTH, ("Content-Type", "application/x-www-form-urlencoded")],
            Some("priority=80&backgroundRate=50&update_type=major&mapping=Firefox-61.0-build1&fallbackMapping=Firefox-60.0-build1&product=Firefox"),
        );
        form.expect(200);
        let beta_rule: i64 = form.text.parse().expect("rule id");
        let other_rule = create_rule(
            server,
            &json!({"priority": 90, "backgroundRate": 0, "update_type": "minor", "mapping": "Firefox-61.0-build1", "product": "Thunderbird", "version": "60.0"}),
        );

        let listed = server.get("/api/rules");
        listed.expect(200);
        assert_eq!(listed.header("X-Total-Count"), Some("3"));
        let body = listed.json();
        assert_eq!(body["count"], 3);
        let ids: Vec<i64> = body["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| r["rule_id"].as_i64().expect("id"))
            .collect();
        assert_eq!(
            ids,
            [beta_rule, other_rule, release_rule],
            "priority ascending, then version"
        );
        let firefox = server.get("/api/rules?product=Firefox").json();
        assert_eq!(firefox["count"], 2);

        let by_alias = server.get("/api/rules/firefox-release");
        by_alias.expect(200);
        assert_eq!(data_version(&by_alias), 1);
        assert!(by_alias.header("X-CSRF-Token").is_some());
        let rule = by_alias.json();
        assert_eq!(rule["rule_id"], release_rule);
        assert_eq!(rule["mapping"], "Firefox-60.0-build1");
        assert_eq!(rule["locale"], "de,fr");
        assert_eq!(rule["comment"], Value::Null);
        assert_eq!(rule["priority"], 90);
        assert_eq!(rule["fallbackMapping"], Value::Null);
        assert_eq!(rule["data_version"], 1);
        assert_eq!(
            server.get(&format!("/api/rules/{release_rule}")).json(),
            rule
        );
        let headed = head(server, &format!("/api/rules/{release_rule}"));
        headed.expect(200);
        assert_eq!(data_version(&headed), 1);
        assert!(headed.text.is_empty());
        let missing = problem(
            &server.get("/api/rules/9999"),
            404,
            "Requested rule wasn't found",
        );
        assert_eq!(missing["exception"], "Requested rule does not exist");
        problem(
            &server.get("/api/rules/not-an-alias"),
            404,
            "Requested rule wasn't found",
        );
        head(server, "/api/rules/9999").expect(404);

        // Updates need the current data_version.
        let path = format!("/api/rules/{release_rule}");
        problem(
            &write(server, "POST", &path, &json!({"priority": 5})),
            400,
            "'data_version' is a required property",
        );
        let changed = write(
            server,
            "POST",
            &path,
            &json!({"data_version": 1, "backgroundRate": 25, "channel": "  "}),
        );
        changed.expect(200);
        assert_eq!(changed.json(), json!({"new_data_version": 2}));
        outdated(
            &write(
                server,
                "POST",
                &path,
                &json!({"data_version": 1, "priority": 5}),
            ),
            "POST",
        );
        outdated(
            &write(
                server,
                "PUT",
                &path,
                &json!({"data_version": 1, "priority": 5}),
            ),
            "PUT",
        );
        let put = write(
            server,
            "PUT",
            "/api/rules/firefox-release",
            &json!({"data_version": "2", "priority": 95}),
        );
        assert_eq!(put.json(), json!({"new_data_version": 3}));
        problem(
            &write(
                server,
                "POST",
                &path,
                &json!({"data_version": 3, "mapping": null}),
            ),
            400,
            "mapping: mapping value cannot be set to null/empty",
        );
        problem(
            &write(
                server,
                "POST",
                &path,
                &json!({"data_version": 3, "mapping": "gone"}),
            ),
            400,
            "Invalid mapping value. No release name found in DB",
        );
        problem(
            &write(
                server,
                "POST",
                &path,
                &json!({"data_version": 3, "backgroundRate": -1}),
            ),
            400,
            "backgroundRate: should be an integer between 0 and 100",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules/9999",
                &json!({"data_version": 1}),
            ),
            404,
            "Requested rule wasn't found",
        );
        problem(
            &server.request("POST", &path, &[JSON], Some("{\"data_version\": 3}")),
            401,
            "Login Required",
        );
        let now = server.get(&path).json();
        assert_eq!(now["backgroundRate"], 25);
        assert_eq!(now["channel"], Value::Null);
        assert_eq!(now["priority"], 95);
        assert_eq!(now["data_version"], 3);

        // Deletes take the data_version as a query argument.
        problem(
            &delete(server, &path),
            400,
            "Missing query parameter 'data_version'",
        );
        outdated(&delete(server, &format!("{path}?data_version=1")), "DELETE");
        problem(
            &server.request("DELETE", &format!("{path}?data_version=3"), &[], None),
            401,
            "Login Required",
        );
        let deleted = delete(server, &format!("{path}?data_version=3"));
        deleted.expect(200);
        assert!(deleted.text.is_empty());
        problem(&server.get(&path), 404, "Requested rule wasn't found");
        problem(
            &delete(server, &format!("{path}?data_version=3")),
            404,
            "Requested rule wasn't found",
        );

        let products = server.get("/api/rules/columns/product");
        products.expect(200);
        assert_eq!(
            products.json(),
            json!({"count": 2, "product": ["Firefox", "Thunderbird"]})
        );
        assert_eq!(products.header("X-Total-Count"), Some("2"));
        assert_eq!(
            server.get("/api/rules/columns/backgroundRate").json(),
            json!({"count": 2, "backgroundRate": [0, 50]})
        );
        let unknown = problem(
            &server.get("/api/rules/columns/nope"),
            404,
            "Rule column was not found",
        );
        assert_eq!(unknown["exception"], "Requested column does not exist");
    });
}

#[test]
fn named_releases_merge_lock_and_refuse_deletion_while_mapped() {
    TestServer::each_backend(|server| {
        create_release(server, "Firefox-nightly", "Firefox");
        let exists = problem(
            &write(
                server,
                "POST",
                "/api/releases",
                &json!({"name": "Firefox-nightly", "product": "Firefox", "blob": blob("Firefox-nightly").to_string()}),
            ),
            400,
            "Release: Firefox-nightly already exists",
        );
        assert_eq!(exists["exception"], "Database already contains the release");
        problem(
            &write(
                server,
                "POST",
                "/api/releases",
                &json!({"name": "x", "product": "Firefox", "blob": blob("y").to_string()}),
            ),
            400,
            "Couldn't create release",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases",
                &json!({"name": "x", "product": "Firefox", "blob": "{not json"}),
            ),
            400,
            "blob: Not a valid json. Error: key must be a string at line 1 column 2.",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases",
                &json!({"name": "x", "blob": blob("x")}),
            ),
            400,
            "'product' is a required property",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases",
                &json!({"product": "Firefox", "blob": blob("x")}),
            ),
            400,
            "'name' is a required property",
        );

        // The blob, keys sorted; pretty on request; HEAD for the version.
        let got = server.get("/api/releases/Firefox-nightly");
        got.expect(200);
        assert_eq!(
            got.text,
            r#"{"hashFunction":"sha512","name":"Firefox-nightly","schema_version":1}"#
        );
        assert_eq!(data_version(&got), 1);
        let pretty = server.get("/api/releases/Firefox-nightly?pretty=1");
        assert!(
            pretty.text.contains("\n    \"name\": \"Firefox-nightly\""),
            "{}",
            pretty.text
        );
        assert_eq!(
            data_version(&head(server, "/api/releases/Firefox-nightly")),
            1
        );
        problem(
            &server.get("/api/releases/nope"),
            404,
            "Release name: nope not found",
        );
        head(server, "/api/releases/nope").expect(404);

        // Two locale uploads made against the same version both land (3-way merge).
        let locale = |platform: &str, locale: &str, build: &str, version: i64| {
            write(
                server,
                "PUT",
                &format!("/api/releases/Firefox-nightly/builds/{platform}/{locale}"),
                &json!({"product": "Firefox", "data": json!({"buildID": build, "extv": "62.0a1"}).to_string(), "schema_version": 1, "hashFunction": "sha512", "data_version": version}),
            )
        };
        let de = locale("WINNT_x86-msvc", "de", "20180101000000", 1);
        de.expect(201);
        assert_eq!(de.json(), json!({"new_data_version": 2}));
        let fr = locale("WINNT_x86-msvc", "fr", "20180101000000", 1);
        fr.expect(201);
        assert_eq!(fr.json(), json!({"new_data_version": 3}));
        let again = locale("WINNT_x86-msvc", "fr", "20180102000000", 3);
        again.expect(200);
        assert_eq!(again.json(), json!({"new_data_version": 4}));
        // The same locale changed differently since version 2: a real conflict.
        let conflict = locale("WINNT_x86-msvc", "fr", "20180103000000", 2);
        let body = problem(&conflict, 400, "OutdatedDataError");
        assert!(
            body["exception"]
                .as_str()
                .is_some_and(|e| e.contains("platforms.WINNT_x86-msvc.locales.fr")),
            "{body}"
        );
        outdated(&locale("WINNT_x86-msvc", "it", "1", 99), "PUT");
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Firefox-nightly/builds/WINNT_x86-msvc/it",
                &json!({"product": "Firefox", "data": "{}", "schema_version": 1}),
            ),
            400,
            "Release exists, data_version must be provided",
        );
        problem(
            &write(server, "PUT", "/api/releases/Firefox-nightly/builds/WINNT_x86-msvc/it", &json!({"product": "Fennec", "data": "{}", "schema_version": 1, "data_version": 4})),
            400,
            "Product name 'Fennec' doesn't match the one on the release object ('Firefox') for release 'Firefox-nightly'",
        );
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Firefox-nightly/builds/WINNT_x86-msvc/it",
                &json!({"product": "Firefox", "data": "{}", "data_version": 4}),
            ),
            400,
            "schema_version is required",
        );
        let entry = server.get("/api/releases/Firefox-nightly/builds/WINNT_x86-msvc/de");
        entry.expect(200);
        assert_eq!(
            entry.json(),
            json!({"extv": "62.0a1", "buildID": "20180101000000"})
        );
        assert_eq!(data_version(&entry), 4);
        assert_eq!(
            data_version(&head(
                server,
                "/api/releases/Firefox-nightly/builds/WINNT_x86-msvc/de"
            )),
            4
        );
        problem(
            &server.get("/api/releases/Firefox-nightly/builds/WINNT_x86-msvc/xx"),
            404,
            "Couldn't find locale identified by: Firefox-nightly, WINNT_x86-msvc, xx",
        );
        problem(
            &server.get("/api/releases/nope/builds/a/b"),
            404,
            "Couldn't find locale identified by: nope, a, b",
        );
        // A locale upload for a release that does not exist creates it.
        let created = write(
            server,
            "PUT",
            "/api/releases/Firefox-new/builds/Linux_x86_64-gcc3/en-US",
            &json!({"product": "Firefox", "data": "{\"buildID\": \"1\"}", "schema_version": 9, "hashFunction": "sha512", "alias": "[\"Linux_x86_64-gcc3-asan\"]"}),
        );
        created.expect(201);
        let new_blob = server.get("/api/releases/Firefox-new").json();
        assert_eq!(new_blob["schema_version"], 9);
        assert_eq!(
            new_blob["platforms"]["Linux_x86_64-gcc3-asan"],
            json!({"alias": "Linux_x86_64-gcc3"})
        );

        // POST merges top-level keys; PUT replaces; both create what is missing.
        let merged = write(
            server,
            "POST",
            "/api/releases/Firefox-nightly",
            &json!({"product": "Firefox", "data": "{\"detailsUrl\": \"https://example.com\"}", "data_version": 4, "schema_version": 1, "hashFunction": "sha512", "copyTo": "[\"Firefox-nightly-copy\"]"}),
        );
        merged.expect(200);
        assert_eq!(merged.json(), json!({"new_data_version": 5}));
        let nightly = server.get("/api/releases/Firefox-nightly").json();
        assert_eq!(nightly["detailsUrl"], "https://example.com");
        assert_eq!(
            nightly["platforms"]["WINNT_x86-msvc"]["locales"]["fr"]["buildID"],
            "20180102000000"
        );
        assert_eq!(
            server.get("/api/releases/Firefox-nightly-copy").json()["detailsUrl"],
            "https://example.com"
        );
        problem(
            &write(server, "POST", "/api/releases/Firefox-nightly", &json!({"product": "Firefox", "data": "{}", "data_version": 5, "hashFunction": "sha1", "schema_version": 1})),
            400,
            "hashFunction 'sha1' doesn't match the one on the release object ('sha512') for release 'Firefox-nightly'",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases/Firefox-nightly",
                &json!({"product": "Firefox", "data_version": 5}),
            ),
            400,
            "'data' is a required property",
        );
        let posted_new = write(
            server,
            "POST",
            "/api/releases/Fennec-1",
            &json!({"product": "Fennec", "data": "{\"schema_version\": 4, \"hashFunction\": \"sha512\"}"}),
        );
        posted_new.expect(201);
        assert_eq!(posted_new.json(), json!({"new_data_version": 2}));
        let put_new = write(
            server,
            "PUT",
            "/api/releases/Fennec-2",
            &json!({"product": "Fennec", "blob": blob("Fennec-2")}),
        );
        put_new.expect(201);
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Fennec-2",
                &json!({"product": "Fennec", "blob": blob("Fennec-2")}),
            ),
            400,
            "data_version field is missing",
        );
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Fennec-2",
                &json!({"product": "Fennec", "blob": blob("other"), "data_version": 1}),
            ),
            400,
            "Couldn't update release",
        );
        let replaced = write(
            server,
            "PUT",
            "/api/releases/Fennec-2",
            &json!({"product": "Fennec", "blob": {"name": "Fennec-2", "schema_version": 2, "hashFunction": "sha512"}, "data_version": 1}),
        );
        replaced.expect(200);
        assert_eq!(replaced.json(), json!({"new_data_version": 2}));

        // Read-only: what it blocks, and setting it twice is a no-op.
        assert_eq!(
            server.get("/api/releases/Fennec-2/read_only").json(),
            json!({"read_only": false})
        );
        problem(
            &server.get("/api/releases/nope/read_only"),
            404,
            "Release: nope not found",
        );
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Fennec-2/read_only",
                &json!({"read_only": true}),
            ),
            400,
            "'data_version' is a required property",
        );
        outdated(
            &write(
                server,
                "PUT",
                "/api/releases/Fennec-2/read_only",
                &json!({"read_only": true, "data_version": 1}),
            ),
            "PUT",
        );
        let locked = write(
            server,
            "PUT",
            "/api/releases/Fennec-2/read_only",
            &json!({"read_only": true, "data_version": 2}),
        );
        locked.expect(201);
        assert_eq!(locked.json(), json!({"new_data_version": 3}));
        let again = write(
            server,
            "PUT",
            "/api/releases/Fennec-2/read_only",
            &json!({"read_only": true, "data_version": 3}),
        );
        assert_eq!(again.json(), json!({"new_data_version": 3}));
        assert_eq!(
            server.get("/api/releases/Fennec-2/read_only").json(),
            json!({"read_only": true})
        );
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Fennec-2",
                &json!({"product": "Fennec", "blob": blob("Fennec-2"), "data_version": 3}),
            ),
            403,
            "Couldn't update release. Release is marked read only",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases/Fennec-2",
                &json!({"product": "Fennec", "data": "{}", "schema_version": 1, "data_version": 3}),
            ),
            403,
            "Couldn't update release. Release is marked read only",
        );
        problem(
            &write(
                server,
                "PUT",
                "/api/releases/Fennec-2/builds/p/l",
                &json!({"product": "Fennec", "data": "{}", "schema_version": 1, "data_version": 3}),
            ),
            403,
            "Couldn't update release. Release is marked read only",
        );
        problem(
            &delete(server, "/api/releases/Fennec-2?data_version=3"),
            403,
            "Couldn't delete Fennec-2. Release is marked read only",
        );
        let rule = create_rule(
            server,
            &json!({"priority": 1, "backgroundRate": 100, "update_type": "minor", "mapping": "Fennec-2", "fallbackMapping": "Fennec-1"}),
        );
        let unlocked = write(
            server,
            "PUT",
            "/api/releases/Fennec-2/read_only",
            &json!({"read_only": false, "data_version": 3}),
        );
        assert_eq!(unlocked.json(), json!({"new_data_version": 4}));

        // Deletion is refused while a rule maps to the release.
        let in_use = problem(
            &delete(server, "/api/releases/Fennec-1?data_version=2"),
            400,
            "ValueError",
        );
        assert_eq!(
            in_use["exception"],
            "Bad input: Release Fennec-1 has rules pointing to it. Hence it cannot be deleted."
        );

        let listed = server.get("/api/releases");
        listed.expect(200);
        assert_eq!(listed.header("X-Total-Count"), Some("5"));
        let releases = listed.json()["releases"].clone();
        assert_eq!(
            releases[0],
            json!({"name": "Fennec-1", "product": "Fennec", "data_version": 2, "read_only": false, "rule_ids": [rule], "required_signoffs": {}})
        );
        assert_eq!(releases[1]["rule_ids"], json!([rule]));
        assert_eq!(
            server.get("/api/releases?product=Fennec").json()["releases"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert_eq!(
            server
                .get("/api/releases?name_prefix=Firefox-nightly&names_only=1")
                .json(),
            json!({"names": ["Firefox-nightly", "Firefox-nightly-copy"]})
        );
        assert_eq!(
            server.get("/api/releases/columns/product").json(),
            json!({"count": 2, "product": ["Fennec", "Firefox"]})
        );
        problem(
            &server.get("/api/releases/columns/data"),
            404,
            "Requested column does not exist",
        );

        let rule_path = format!("/api/rules/{rule}?data_version=1");
        delete(server, &rule_path).expect(200);
        problem(
            &delete(server, "/api/releases/Fennec-1"),
            400,
            "Missing query parameter 'data_version'",
        );
        outdated(
            &delete(server, "/api/releases/Fennec-1?data_version=1"),
            "DELETE",
        );
        delete(server, "/api/releases/Fennec-1?data_version=2").expect(200);
        problem(
            &server.get("/api/releases/Fennec-1"),
            404,
            "Release name: Fennec-1 not found",
        );
        problem(
            &delete(server, "/api/releases/Fennec-1?data_version=2"),
            404,
            "Release: Fennec-1 not found",
        );
        problem(
            &server.request("DELETE", "/api/releases/Fennec-2?data_version=4", &[], None),
            401,
            "Login Required",
        );

        // A Balrog release is a ledger release too, by the acting user.
        let ledger = server.get("/releases?user=alice&limit=-1").json();
        assert_eq!(ledger["releases"].as_array().map(Vec::len), Some(4));
    });
}

#[test]
fn history_lists_views_diffs_and_reverts() {
    TestServer::each_backend(|server| {
        create_release(server, "a", "Firefox");
        create_release(server, "b", "Firefox");
        let rule = create_rule(
            server,
            &json!({"priority": 10, "backgroundRate": 10, "update_type": "minor", "mapping": "a"}),
        );
        let path = format!("/api/rules/{rule}");
        for (version, rate) in [(1, 20), (2, 30), (3, 40)] {
            write(
                server,
                "POST",
                &path,
                &json!({"data_version": version, "backgroundRate": rate, "mapping": "b"}),
            )
            .expect(200);
        }
        let revisions = server.get(&format!("{path}/revisions?page=1&limit=2"));
        revisions.expect(200);
        assert_eq!(revisions.header("X-Total-Count"), Some("4"));
        assert!(revisions
            .header("Link")
            .is_some_and(|l| l.contains("rel=\"next\"") && l.contains("page=2&limit=2")));
        let body = revisions.json();
        assert_eq!(body["count"], 4);
        let listed = body["rules"].as_array().expect("rules");
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["data_version"], 4);
        assert_eq!(listed[0]["backgroundRate"], 40);
        assert_eq!(listed[0]["changed_by"], "alice");
        assert!(
            listed[0]["timestamp"].as_i64().is_some() && listed[0]["change_id"].as_i64().is_some()
        );
        let oldest = server
            .get(&format!("{path}/revisions?page=2&limit=2"))
            .json()["rules"][1]
            .clone();
        assert_eq!(oldest["data_version"], 1);
        assert_eq!(oldest["mapping"], "a");
        problem(
            &server.get(&format!("{path}/revisions?page=0")),
            400,
            "page must be an integer between 1 and 9223372036854775",
        );
        problem(
            &server.get("/api/rules/9999/revisions"),
            404,
            "Requested rule does not exist",
        );
        problem(
            &server.get("/api/rules/some-alias/revisions"),
            404,
            "Requested rule does not exist",
        );

        let oldest_change = oldest["change_id"].as_i64().expect("change id");
        problem(
            &write(server, "POST", &format!("{path}/revisions"), &json!({})),
            400,
            "No change_id passed in the request body",
        );
        problem(
            &write(
                server,
                "POST",
                &format!("{path}/revisions"),
                &json!({"change_id": 99999}),
            ),
            400,
            "Invalid change_id : 99999 passed in the request body",
        );
        let other = create_rule(
            server,
            &json!({"priority": 1, "backgroundRate": 1, "update_type": "minor", "mapping": "a"}),
        );
        problem(
            &write(
                server,
                "POST",
                &format!("/api/rules/{other}/revisions"),
                &json!({"change_id": oldest_change}),
            ),
            400,
            "Bad rule_id passed in the request",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/rules/9999/revisions",
                &json!({"change_id": oldest_change}),
            ),
            404,
            "bad rule_id",
        );
        let reverted = write(
            server,
            "POST",
            &format!("{path}/revisions"),
            &json!({"change_id": oldest_change}),
        );
        reverted.expect(200);
        assert_eq!(reverted.text, "Excellent!");
        let now = server.get(&path).json();
        assert_eq!(
            (
                now["backgroundRate"].clone(),
                now["mapping"].clone(),
                now["data_version"].clone()
            ),
            (json!(10), json!("a"), json!(5))
        );

        // One field of one record, and its diff against the previous revision.
        assert_eq!(
            server
                .get(&format!(
                    "/api/history/view/rule/{oldest_change}/backgroundRate"
                ))
                .text,
            "10"
        );
        assert_eq!(
            server
                .get(&format!("/api/history/view/rules/{oldest_change}/mig64"))
                .text,
            "NULL"
        );
        let diff = server.get(&format!(
            "/api/history/diff/rule/{}/backgroundRate",
            listed[0]["change_id"]
        ));
        diff.expect(200);
        assert_eq!(
            diff.text,
            "--- Data Version 3\n+++ Data Version 4\n@@ -1 +1 @@\n-30\n+40"
        );
        problem(
            &server.get("/api/history/view/nope/1/backgroundRate"),
            400,
            "Bad table",
        );
        problem(
            &server.get("/api/history/view/rule/x/backgroundRate"),
            400,
            "Bad change_id",
        );
        problem(
            &server.get("/api/history/view/rule/99999/backgroundRate"),
            400,
            "Bad change_id",
        );
        problem(
            &server.get(&format!("/api/history/view/rule/{oldest_change}/nope")),
            400,
            "Bad field",
        );
        problem(
            &server.get(&format!("/api/history/view/release/{oldest_change}/data")),
            400,
            "Bad change_id",
        );

        // Releases: revisions without blobs, the blob through the history view, revert.
        write(server, "PUT", "/api/releases/a", &json!({"product": "Firefox", "blob": {"name": "a", "schema_version": 2, "hashFunction": "sha512"}, "data_version": 1})).expect(200);
        write(
            server,
            "PUT",
            "/api/releases/a/read_only",
            &json!({"read_only": true, "data_version": 2}),
        )
        .expect(201);
        let revisions = server.get("/api/releases/a/revisions");
        revisions.expect(200);
        let body = revisions.json();
        assert_eq!(body["count"], 3);
        let newest = body["revisions"][0].clone();
        assert_eq!(newest["read_only"], "True");
        assert_eq!(newest["product"], "Firefox");
        assert_eq!(newest["_different"], json!(["read_only"]));
        assert!(newest["_time_ago"]
            .as_str()
            .is_some_and(|t| t.ends_with("ago")));
        assert!(newest.get("data").is_none());
        assert_eq!(body["revisions"][1]["_different"], json!(["data"]));
        assert_eq!(body["revisions"][2]["read_only"], "False");
        let first_change = body["revisions"][2]["change_id"]
            .as_i64()
            .expect("change id");
        let second_change = body["revisions"][1]["change_id"]
            .as_i64()
            .expect("change id");
        assert_eq!(
            server
                .get(&format!("/api/history/view/release/{first_change}/data"))
                .text,
            "{\n  \"hashFunction\": \"sha512\",\n  \"name\": \"a\",\n  \"schema_version\": 1\n}"
        );
        assert_eq!(
            server.get(&format!("/api/history/diff/release/{second_change}/data")).text,
            "--- Data Version 1\n+++ Data Version 2\n@@ -1,5 +1,5 @@\n {\n   \"hashFunction\": \"sha512\",\n   \"name\": \"a\",\n-  \"schema_version\": 1\n+  \"schema_version\": 2\n }"
        );
        assert_eq!(
            server
                .get(&format!("/api/history/diff/release/{first_change}/product"))
                .text,
            "--- Data Version \n+++ Data Version 1\n@@ -0,0 +1 @@\n+Firefox"
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases/a/revisions",
                &json!({"change_id": first_change}),
            ),
            403,
            "Couldn't update release. Release is marked read only",
        );
        write(
            server,
            "PUT",
            "/api/releases/a/read_only",
            &json!({"read_only": false, "data_version": 3}),
        )
        .expect(201);
        let reverted = write(
            server,
            "POST",
            "/api/releases/a/revisions",
            &json!({"change_id": first_change}),
        );
        assert_eq!(reverted.text, "Excellent!");
        assert_eq!(server.get("/api/releases/a").json(), blob("a"));
        assert_eq!(data_version(&head(server, "/api/releases/a")), 5);
        problem(
            &write(
                server,
                "POST",
                "/api/releases/b/revisions",
                &json!({"change_id": first_change}),
            ),
            400,
            "Bad name passed in the request",
        );
        problem(
            &write(
                server,
                "POST",
                "/api/releases/nope/revisions",
                &json!({"change_id": first_change}),
            ),
            404,
            "bad release",
        );
        problem(
            &server.get("/api/releases/nope/revisions"),
            404,
            "Requested release does not exist",
        );
    });
}

#[test]
fn csrf_tokens_unknown_routes_and_the_description() {
    TestServer::each_backend(|server| {
        let token = server.get("/api/csrf_token");
        token.expect(200);
        assert!(token.text.is_empty());
        assert!(token.header("X-CSRF-Token").is_some_and(|t| t.len() >= 32));
        problem(
            &server.get("/api/nope"),
            404,
            "The requested URL was not found on the server.",
        );
        problem(
            &server.get("/api"),
            404,
            "The requested URL was not found on the server.",
        );
        let patch = server.request("PATCH", "/api/rules/1", &[AUTH], None);
        problem(
            &patch,
            405,
            "The method is not allowed for the requested URL.",
        );
        assert!(patch.header("allow").is_some_and(|a| a.contains("PUT")));
        // Writes ignore a csrf_token, and a trailing slash is accepted as everywhere.
        create_release(server, "r", "Firefox");
        server.get("/api/releases/r/").expect(200);
        let spec = server.get("/openapi.json").json();
        for path in [
            "/api/rules",
            "/api/rules/{id_or_alias}",
            "/api/rules/{rule_id}/revisions",
            "/api/releases/{name}/builds/{platform}/{locale}",
            "/api/releases/{name}/read_only",
            "/api/history/diff/{table}/{change_id}/{field}",
            "/api/csrf_token",
        ] {
            assert!(spec["paths"][path].is_object(), "{path} is described");
        }
        assert_eq!(spec["paths"]["/api/rules"]["get"]["tags"][0], "balrog");
    });
}
