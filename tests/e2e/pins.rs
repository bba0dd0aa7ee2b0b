//! Update pins over real HTTP, on every backend: Balrog's v2 whole-release endpoints
//! (`/api/v2/releases/{name}`), pinnable releases (`…/pinnable`, `/api/v2/pins/…`), and pinned
//! clients (`?pin=` on `/update/…` and `/api/v1/evaluate`) served the pinned release instead of
//! the newer one a rule maps them to.

use serde_json::{json, Value};
use shiplog_domain::PermissionName;
use shiplog_tests::{Reply, TestServer};

/// An app release blob of `version` for German Windows builds, downloads on dl.example.com.
fn app_blob(name: &str, version: &str, build_id: &str) -> Value {
    json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
        "appVersion": version, "displayVersion": version,
        "platforms": {"WINNT_x86_64-msvc": {"locales": {
            "de": {"buildID": build_id,
                "completes": [{"from": "*", "filesize": 41, "hashValue": format!("h{version}"),
                    "fileUrl": format!("https://dl.example.com/{version}/de.complete.mar")}]},
            "en-US": {"buildID": build_id,
                "completes": [{"from": "*", "filesize": 42, "hashValue": format!("e{version}"),
                    "fileUrl": format!("https://dl.example.com/{version}/en-US.complete.mar")}]}}}}})
}

fn put_v2(server: &TestServer, name: &str, body: &Value) -> Reply {
    server.put(&format!("/api/v2/releases/{name}"), body)
}

fn create(server: &TestServer, name: &str, version: &str, build_id: &str) {
    let reply = put_v2(
        server,
        name,
        &json!({"blob": app_blob(name, version, build_id), "product": "Firefox"}),
    );
    reply.expect(200);
    assert_eq!(reply.json(), json!({".": 1}));
}

fn pin(server: &TestServer, release: &str, channel: &str, version: &str) -> Reply {
    server.put(
        &format!("/api/v2/releases/{release}/pinnable"),
        &json!({"product": "Firefox", "channel": channel, "version": version}),
    )
}

#[track_caller]
fn problem(reply: &Reply, status: u16, detail_part: &str) -> Value {
    reply.expect(status);
    let body = reply.json();
    assert_eq!(body["status"], status, "{body}");
    let text = format!(
        "{} {}",
        body["detail"].as_str().unwrap_or(""),
        body["exception"].as_str().unwrap_or("")
    );
    assert!(text.contains(detail_part), "{detail_part:?} in {body}");
    body
}

#[test]
fn v2_releases_are_created_read_replaced_and_deleted_whole() {
    TestServer::each_backend(|server| {
        create(server, "Firefox-60.5", "60.5", "20180601000000");

        let got = server.get("/api/v2/releases/Firefox-60.5");
        got.expect(200);
        let body = got.json();
        assert_eq!(
            body["blob"],
            app_blob("Firefox-60.5", "60.5", "20180601000000")
        );
        // One data_version, reported at the base and at every locale, as Balrog's split
        // store reports per-asset versions.
        assert_eq!(
            body["data_versions"],
            json!({".": 1, "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": 1, "en-US": 1}}}})
        );
        assert_eq!(body["sc_blob"], json!({}));
        assert_eq!(body["sc_data_versions"], json!({}));
        // The same release through v1.
        server.get("/api/releases/Firefox-60.5").expect(200);

        let newer = app_blob("Firefox-60.5", "60.5", "20180602000000");
        let replaced = put_v2(
            server,
            "Firefox-60.5",
            &json!({"blob": newer, "old_data_versions": {".": 1}}),
        );
        replaced.expect(200);
        assert_eq!(replaced.json(), json!({".": 2}));
        // The same blob again writes nothing and needs no version.
        let same = put_v2(server, "Firefox-60.5", &json!({"blob": newer}));
        same.expect(200);
        assert_eq!(same.json(), json!({}));

        // A stale version, or none, is refused and changes nothing.
        let other = app_blob("Firefox-60.5", "60.5", "20180603000000");
        problem(
            &put_v2(
                server,
                "Firefox-60.5",
                &json!({"blob": other, "old_data_versions": {".": 1}}),
            ),
            400,
            "OutdatedDataError",
        );
        problem(
            &put_v2(server, "Firefox-60.5", &json!({"blob": other})),
            400,
            "old_data_versions['.'] is required",
        );
        let read = server.get("/api/v2/releases/Firefox-60.5").json();
        assert_eq!(read["data_versions"]["."], 2);
        assert_eq!(read["blob"], newer);

        // Its history: created, then replaced once.
        let history = server.get("/api/history?table=releases").json();
        let versions: Vec<&Value> = history["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["object_key"] == "Firefox-60.5")
            .map(|c| &c["data_version"])
            .collect();
        assert_eq!(versions, [&json!(2), &json!(1), &Value::Null], "{history}");

        server.delete("/api/v2/releases/Firefox-60.5").expect(200);
        problem(
            &server.get("/api/v2/releases/Firefox-60.5"),
            404,
            "Release does not exist",
        );
        problem(
            &server.delete("/api/v2/releases/Firefox-60.5"),
            404,
            "Release does not exist",
        );
    });
}

#[test]
fn v2_release_writes_validate_first_and_write_nothing_when_refused() {
    TestServer::each_backend(|server| {
        let name = "Firefox-61.0";
        let good = app_blob(name, "61.0", "20180620000000");
        // Body shape.
        problem(
            &put_v2(server, name, &json!({"product": "Firefox"})),
            400,
            "'blob' is a required property",
        );
        problem(
            &put_v2(server, name, &json!({"blob": "text", "product": "Firefox"})),
            400,
            "blob: is not of type 'object'",
        );
        problem(
            &put_v2(server, name, &json!({"blob": good})),
            400,
            "product is required to create a release",
        );
        problem(
            &put_v2(
                server,
                name,
                &json!({"blob": good, "product": "Firefox", "old_data_versions": [1]}),
            ),
            400,
            "old_data_versions",
        );
        problem(
            &put_v2(
                server,
                name,
                &json!({"blob": good, "product": "Firefox", "when": 1991639932000_i64}),
            ),
            400,
            "'when' is not supported",
        );
        // A blob that breaks its schema: the problem names its path.
        let mut bad = good.clone();
        bad["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"][0]["filesize"] =
            json!("big");
        let body = problem(
            &put_v2(server, name, &json!({"blob": bad, "product": "Firefox"})),
            400,
            "Couldn't update release",
        );
        let problems = body["data"].to_string();
        assert!(
            problems.contains("platforms.WINNT_x86_64-msvc.locales.de.completes"),
            "{body}"
        );
        // A blob named for another release.
        problem(
            &put_v2(
                server,
                name,
                &json!({"blob": app_blob("Other", "61.0", "1"), "product": "Firefox"}),
            ),
            400,
            "Couldn't update release",
        );
        // Nothing was written by any of them.
        problem(
            &server.get(&format!("/api/v2/releases/{name}")),
            404,
            "Release does not exist",
        );
        // No credential: 401.
        let anonymous = server.request(
            "PUT",
            &format!("/api/v2/releases/{name}"),
            &[("Content-Type", "application/json")],
            Some(&json!({"blob": good, "product": "Firefox"}).to_string()),
        );
        problem(&anonymous, 401, "Login Required");

        // A read-only release cannot be replaced; a rule's release cannot be deleted.
        create(server, name, "61.0", "20180620000000");
        server
            .put(
                &format!("/api/releases/{name}/read_only"),
                &json!({"read_only": true, "data_version": 1}),
            )
            .expect(201);
        let newer = app_blob(name, "61.0", "20180621000000");
        problem(
            &put_v2(
                server,
                name,
                &json!({"blob": newer, "old_data_versions": {".": 2}}),
            ),
            403,
            "read only",
        );
        server
            .put(
                &format!("/api/releases/{name}/read_only"),
                &json!({"read_only": false, "data_version": 2}),
            )
            .expect(201);
        server
            .post(
                "/api/rules",
                &json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
                    "mapping": name, "product": "Firefox", "channel": "release"}),
            )
            .expect(200);
        problem(
            &server.delete(&format!("/api/v2/releases/{name}")),
            400,
            "has rules pointing to it",
        );
        server.get(&format!("/api/v2/releases/{name}")).expect(200);
    });
}

#[test]
fn v2_release_changes_on_a_guarded_channel_need_signoffs() {
    TestServer::each_backend(|server| {
        let name = "Firefox-61.0";
        create(server, name, "61.0", "20180620000000");
        server
            .post(
                "/api/rules",
                &json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
                    "mapping": name, "product": "Firefox", "channel": "release"}),
            )
            .expect(200);
        server.user_with("signer", &[(PermissionName::Rule, Value::Null)]);
        server
            .put("/api/users/signer/roles/releng", &json!({}))
            .expect(201);
        server
            .post(
                "/api/required_signoffs/product",
                &json!({"product": "Firefox", "channel": "release", "role": "releng",
                    "signoffs_required": 1}),
            )
            .expect(201);
        let newer = app_blob(name, "61.0", "20180621000000");
        problem(
            &put_v2(
                server,
                name,
                &json!({"blob": newer, "old_data_versions": {".": 1}}),
            ),
            400,
            "Signoff Required",
        );
        assert_eq!(
            server.get(&format!("/api/v2/releases/{name}")).json()["data_versions"]["."],
            1
        );
    });
}

fn allowlist() -> shiplog_domain::balrog::DomainAllowlist {
    shiplog_domain::balrog::DomainAllowlist::from_json(&json!({"dl.example.com": ["Firefox"]}))
        .expect("a valid list")
}

#[test]
fn v2_release_writes_refuse_forbidden_download_urls() {
    TestServer::each_backend_with(
        |state| state.with_allowlist(allowlist()),
        |server| {
            let mut blob = app_blob("Firefox-61.0", "61.0", "20180620000000");
            blob["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"][0]["fileUrl"] =
                json!("https://evil.example.net/de.mar");
            problem(
                &put_v2(
                    server,
                    "Firefox-61.0",
                    &json!({"blob": blob, "product": "Firefox"}),
                ),
                400,
                "https://evil.example.net/de.mar",
            );
            server.get("/api/v2/releases/Firefox-61.0").expect(404);
            // Without a product in the body the stored one is what the URLs are checked for.
            create(server, "Firefox-61.0", "61.0", "20180620000000");
            problem(
                &put_v2(
                    server,
                    "Firefox-61.0",
                    &json!({"blob": blob, "old_data_versions": {".": 1}}),
                ),
                400,
                "Blob contains forbidden domain(s)",
            );
            assert_eq!(
                server.get("/api/v2/releases/Firefox-61.0").json()["data_versions"]["."],
                1
            );
        },
    );
}

#[test]
fn pins_are_set_read_kept_at_the_newest_release_and_recorded() {
    TestServer::each_backend(|server| {
        create(server, "Firefox-60.4", "60.4", "20180501000000");
        create(server, "Firefox-60.5", "60.5", "20180601000000");

        problem(
            &server.get("/api/v2/pins/Firefox/release/60."),
            404,
            "Pin does not exist",
        );
        let set = pin(server, "Firefox-60.4", "release", "60.");
        set.expect(200);
        assert_eq!(set.json(), json!({".": 1}));
        let read = server.get("/api/v2/pins/Firefox/release/60.");
        read.expect(200);
        assert_eq!(
            read.json(),
            json!({"product": "Firefox", "channel": "release", "version": "60.",
                "mapping": "Firefox-60.4", "data_version": 1})
        );
        // Moved on to a newer release; never back to an older one.
        let moved = pin(server, "Firefox-60.5", "release", "60.");
        assert_eq!(moved.json(), json!({".": 2}));
        let back = pin(server, "Firefox-60.4", "release", "60.");
        back.expect(200);
        assert_eq!(
            back.json(),
            json!({"pin_not_set": true, "reason": "existing_pin_is_newer"})
        );
        assert_eq!(
            server.get("/api/v2/pins/Firefox/release/60.").json()["mapping"],
            "Firefox-60.5"
        );
        // Another pin, and another channel, are their own.
        assert_eq!(
            pin(server, "Firefox-60.4", "release", "60.4.").json(),
            json!({".": 1})
        );
        assert_eq!(
            pin(server, "Firefox-60.4", "esr", "60.").json(),
            json!({".": 1})
        );

        // Refusals, each writing nothing.
        problem(
            &pin(server, "Firefox-99.0", "release", "99."),
            404,
            "Release does not exist",
        );
        for bad in ["60", "60.1.2.", "sixty.", ""] {
            problem(&pin(server, "Firefox-60.5", "beta", bad), 400, "version");
        }
        problem(
            &server.put(
                "/api/v2/releases/Firefox-60.5/pinnable",
                &json!({"product": "Firefox", "version": "60."}),
            ),
            400,
            "'channel' is a required property",
        );
        problem(
            &server.put(
                "/api/v2/releases/Firefox-60.5/pinnable",
                &json!({"product": "Firefox", "channel": "beta", "version": "60.",
                    "when": 1991639932000_i64}),
            ),
            400,
            "'when' is not supported",
        );
        server.get("/api/v2/pins/Firefox/beta/60.").expect(404);

        // A pinned release cannot be deleted, through either API.
        let v2 = problem(
            &server.delete("/api/v2/releases/Firefox-60.5"),
            400,
            "is pinnable",
        );
        assert_eq!(v2["pins"], json!(["Firefox/release/60."]), "{v2}");
        problem(
            &server.delete("/api/releases/Firefox-60.4?data_version=1"),
            400,
            "is pinnable",
        );

        // History: every pin write, under its product/channel/version key.
        let history = server
            .get("/api/history?table=pinnable_releases&limit=100")
            .json();
        let keys: Vec<(String, Value)> = history["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| {
                (
                    c["object_key"].as_str().unwrap_or("").to_owned(),
                    c["data_version"].clone(),
                )
            })
            .collect();
        let key = |k: &str, v: Value| (k.to_owned(), v);
        assert_eq!(
            keys,
            [
                key("Firefox/esr/60.", json!(1)),
                key("Firefox/esr/60.", Value::Null),
                key("Firefox/release/60.4.", json!(1)),
                key("Firefox/release/60.4.", Value::Null),
                key("Firefox/release/60.", json!(2)),
                key("Firefox/release/60.", json!(1)),
                key("Firefox/release/60.", Value::Null),
            ],
            "{history}"
        );
        // And their events.
        let events = server.get("/api/v1/events?type=pinnable_release.*").json();
        let types: Vec<&str> = events["data"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        assert_eq!(
            types,
            [
                "pinnable_release.created",
                "pinnable_release.updated",
                "pinnable_release.created",
                "pinnable_release.created"
            ],
            "{events}"
        );
    });
}

/// Firefox 60.4 and 60.5 pinnable, 61.0 the release every Firefox query on release is mapped to.
fn serving_setup(server: &TestServer) {
    create(server, "Firefox-60.4", "60.4", "20180501000000");
    create(server, "Firefox-60.5", "60.5", "20180601000000");
    create(server, "Firefox-61.0", "61.0", "20180620000000");
    server
        .post(
            "/api/rules",
            &json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
                "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release"}),
        )
        .expect(200);
    pin(server, "Firefox-60.5", "release", "60.").expect(200);
}

/// The update.xml a German Windows Firefox `version` on `channel` gets (form 6), with `query`.
fn update(server: &TestServer, version: &str, channel: &str, query: &str) -> Reply {
    server.get(&format!(
        "/update/6/Firefox/{version}/20180101000000/WINNT_x86_64-msvc/de/{channel}/Windows_NT%2010.0/SSE3/default/default/update.xml{query}"
    ))
}

#[track_caller]
fn served(reply: &Reply, version: Option<&str>) {
    reply.expect(200);
    match version {
        Some(version) => {
            assert!(
                reply.text.contains(&format!("appVersion=\"{version}\"")),
                "{version} in {}",
                reply.text
            );
            assert!(
                reply
                    .text
                    .contains(&format!("https://dl.example.com/{version}/de.complete.mar")),
                "{}",
                reply.text
            );
        }
        None => assert!(!reply.text.contains("<update "), "{}", reply.text),
    }
}

#[test]
fn pinned_clients_are_served_the_pinned_release_and_others_fail_open() {
    TestServer::each_backend(|server| {
        serving_setup(server);
        // No pin: the rule's release.
        served(&update(server, "60.0", "release", ""), Some("61.0"));
        // Pinned at 60.: held at the pinned 60.5, under the rule that matched.
        let pinned = update(server, "60.0", "release", "?pin=60.");
        served(&pinned, Some("60.5"));
        assert!(pinned.header("Rule-ID").is_some_and(|id| id != "unknown"));
        // Partner builds use their base channel's pins.
        served(
            &update(server, "60.0", "release-cck-acme", "?pin=60."),
            Some("60.5"),
        );
        // A pin the served release does not pass changes nothing.
        served(&update(server, "60.0", "release", "?pin=61."), Some("61.0"));
        // A pin with nothing registered fails open: the client is kept up to date.
        served(&update(server, "59.0", "release", "?pin=59."), Some("61.0"));
        // A client past the pinned release gets nothing, not the newer release.
        served(&update(server, "60.6", "release", "?pin=60."), None);

        // A new pin is served at once (the rule set is refreshed by the write).
        pin(server, "Firefox-60.4", "release", "60.4.").expect(200);
        served(
            &update(server, "60.0", "release", "?pin=60.4."),
            Some("60.4"),
        );

        // A malformed pin fails only a query that would be served past it.
        let bad = update(server, "60.0", "release", "?pin=60");
        bad.expect(400);
        assert!(bad.text.contains("Version Pin String"), "{}", bad.text);
        served(&update(server, "62.0", "release", "?pin=60"), None);

        // Form 2 does not take a pin, as Balrog's spec does not.
        let form2 = server.get(
            "/update/2/Firefox/60.0/20180101000000/WINNT_x86_64-msvc/de/release/Windows_NT%2010.0/update.xml?pin=60.",
        );
        form2.expect(400);
        assert!(form2.text.contains("pin"), "{}", form2.text);
    });
}

#[test]
fn pin_writes_by_another_instance_reach_serving() {
    TestServer::each_backend(|server| {
        serving_setup(server);
        served(
            &update(server, "60.0", "release", "?pin=60.4."),
            Some("61.0"),
        );
        // Another instance on the same database registers the pin.
        let other = server.other_instance();
        other
            .set_pin(
                "Firefox-60.4",
                "Firefox",
                "release",
                &shiplog_domain::balrog::PinVersion::parse("60.4.").expect("pin"),
                "bob",
            )
            .expect("pin set");
        server.wait_for(
            std::time::Duration::from_secs(30),
            "the other instance's pin to be served",
            || {
                let reply = update(server, "60.0", "release", "?pin=60.4.");
                reply.text.contains("appVersion=\"60.4\"").then_some(())
            },
        );
    });
}

#[test]
fn the_evaluation_endpoint_takes_a_pin() {
    TestServer::each_backend(|server| {
        serving_setup(server);
        let base = "/api/v1/evaluate?product=Firefox&version=60.0&buildID=20180101000000\
                    &buildTarget=WINNT_x86_64-msvc&locale=de&channel=release";
        let pinned = server.get(&format!("{base}&pin=60."));
        pinned.expect(200);
        let data = &pinned.json()["data"];
        assert_eq!(data["mapping"], "Firefox-60.5", "{data}");
        assert_eq!(data["release"]["data"]["appVersion"], "60.5");
        assert!(
            data["reason"].as_str().is_some_and(|r| r.contains("pin")),
            "{data}"
        );
        assert!(data["rule_id"].is_i64());
        let open = server.get(&format!("{base}&pin=59."));
        assert_eq!(open.json()["data"]["mapping"], "Firefox-61.0");
        let bad = server.get(&format!("{base}&pin=60"));
        bad.expect(400);
        let body = bad.json();
        assert_eq!(body["errors"][0]["code"], "bad-request", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("'pin'")),
            "{body}"
        );
    });
}

#[test]
fn the_dashboard_evaluation_form_takes_a_pin() {
    TestServer::each_backend(|server| {
        serving_setup(server);
        let base = "/ui/evaluate?product=Firefox&version=60.0&buildID=20180101000000\
                    &buildTarget=WINNT_x86_64-msvc&locale=de&channel=release";
        let pinned = server.get(&format!("{base}&pin=60."));
        pinned.expect(200);
        assert!(pinned.text.contains("id=\"f-pin\""), "{}", pinned.text);
        assert!(pinned.text.contains("Firefox-60.5"), "{}", pinned.text);
        let plain = server.get(base);
        plain.expect(200);
        assert!(plain.text.contains("Firefox-61.0"), "{}", plain.text);
        server.get(&format!("{base}&pin=60")).expect(400);
    });
}
