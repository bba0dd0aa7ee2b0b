//! Every blob kind over the update protocols, on every backend: GMP (with mirrors), system
//! add-ons and superblobs as `update.xml`, Guardian as `/json/{1,2}/…/update.json` (with its
//! 404 when nothing is served), the `esrpre` form of `/update/3`, a blob lacking what its
//! answer needs answered 400, and the download-domain allow-list on writes and when serving.

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

fn release(server: &TestServer, product: &str, blob: &Value) {
    let name = blob["name"].as_str().expect("a name");
    write(
        server,
        "POST",
        "/api/releases",
        &json!({"name": name, "product": product, "blob": blob.to_string()}),
    )
    .expect(201);
}

fn rule(server: &TestServer, product: &str, mapping: &str) -> i64 {
    let reply = write(
        server,
        "POST",
        "/api/rules",
        &json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
                "product": product, "mapping": mapping}),
    );
    reply.expect(200);
    reply.text.parse().expect("a rule id")
}

fn setup(server: &TestServer) {
    release(
        server,
        "GMP",
        &json!({"name": "GMP-1", "schema_version": 1000, "hashFunction": "sha512",
        "vendors": {
            "gmp-widevine": {"version": "4.10", "platforms": {
                "WINNT_x86_64-msvc": {"fileUrl": "https://cdn.example/wv.zip", "filesize": 42,
                    "hashValue": "w1", "mirrorUrls": ["https://mirror.example/wv.zip"]}}},
            "gmp-openh264": {"version": "1.8", "platforms": {
                "default": {"fileUrl": "https://cdn.example/h264.zip", "filesize": 7, "hashValue": "h1"}}}
        }}),
    );
    release(
        server,
        "SystemAddons",
        &json!({"name": "Addons-1", "schema_version": 5000, "hashFunction": "sha512",
            "addons": {"pip@mozilla.org": {"version": "1.0", "platforms": {
                "WINNT_x86_64-msvc": {"fileUrl": "https://cdn.example/pip.xpi", "filesize": 9, "hashValue": "p1"}}}}}),
    );
    release(
        server,
        "Firefox",
        &json!({"name": "Super-1", "schema_version": 4000, "products": ["GMP", "SystemAddons"]}),
    );
    release(
        server,
        "Guardian",
        &json!({"name": "Guardian-2.1", "product": "Guardian", "schema_version": 10000, "version": "2.1.0",
            "required": true, "hashFunction": "sha512",
            "platforms": {"WINNT_x86_64": {"fileUrl": "https://cdn.example/g.msi", "hashValue": "g1"}}}),
    );
    rule(server, "GMP", "GMP-1");
    rule(server, "SystemAddons", "Addons-1");
    rule(server, "Firefox", "Super-1");
    rule(server, "Guardian", "Guardian-2.1");
}

fn update_xml(server: &TestServer, product: &str, build_target: &str) -> String {
    let reply = server.get(&format!(
        "/update/3/{product}/60.0/20180501000000/{build_target}/de/release/Windows_NT%2010.0/default/default/update.xml"
    ));
    reply.expect(200);
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    reply.text.clone()
}

const GMP_LINES: &str = concat!(
    "        <addon id=\"gmp-openh264\" URL=\"https://cdn.example/h264.zip\" hashFunction=\"sha512\" hashValue=\"h1\" size=\"7\" version=\"1.8\"/>\n",
    "        <addon id=\"gmp-widevine\" URL=\"https://cdn.example/wv.zip\" hashFunction=\"sha512\" hashValue=\"w1\" size=\"42\" version=\"4.10\">\n",
    "            <mirror URL=\"https://mirror.example/wv.zip\"/>\n",
    "        </addon>",
);
const ADDON_LINE: &str = "        <addon id=\"pip@mozilla.org\" URL=\"https://cdn.example/pip.xpi\" hashFunction=\"sha512\" hashValue=\"p1\" size=\"9\" version=\"1.0\"/>";

#[test]
fn add_on_blobs_answer_balrogs_addons_xml() {
    TestServer::each_backend(|server| {
        setup(server);
        assert_eq!(
            update_xml(server, "GMP", "WINNT_x86_64-msvc"),
            format!("<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n{GMP_LINES}\n    </addons>\n</updates>")
        );
        assert_eq!(
            update_xml(server, "SystemAddons", "WINNT_x86_64-msvc"),
            format!("<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n{ADDON_LINE}\n    </addons>\n</updates>")
        );
        // Nothing for this platform: no <addons> block, which tells the client to keep its own.
        assert_eq!(
            update_xml(server, "SystemAddons", "Linux_x86_64-gcc3"),
            "<?xml version=\"1.0\"?>\n<updates>\n\n\n</updates>"
        );
        // The superblob answers with each product's add-ons, in the order it names them.
        assert_eq!(
            update_xml(server, "Firefox", "WINNT_x86_64-msvc"),
            format!("<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n{GMP_LINES}\n{ADDON_LINE}\n    </addons>\n</updates>")
        );
        // Guardian blobs are JSON-only: the XML protocol serves nothing for them.
        assert_eq!(
            update_xml(server, "Guardian", "WINNT_x86_64"),
            "<?xml version=\"1.0\"?>\n<updates>\n</updates>"
        );
    });
}

#[test]
fn a_blob_missing_what_its_answer_needs_is_a_400() {
    TestServer::each_backend(|server| {
        // Writes refuse such a blob (see balrog_blob_schemas.rs); one stored before blobs were
        // validated (straight into the database) still has to be answered sensibly.
        let blob = json!({"name": "GMP-broken", "schema_version": 1000, "hashFunction": "sha512",
            "vendors": {"gmp-x": {"version": "1", "platforms": {"default": {"filesize": 1, "hashValue": "x"}}}}});
        write(
            server,
            "POST",
            "/api/releases",
            &json!({"name": "GMP-broken", "product": "GMP", "blob": blob.to_string()}),
        )
        .expect(400);
        server
            .other_instance()
            .insert_named_release(
                &shiplog_domain::balrog::ReleaseName::parse("GMP-broken").expect("name"),
                "GMP",
                &blob,
                "test",
            )
            .expect("stored");
        rule(server, "GMP", "GMP-broken");
        let reply = server.get(
            "/update/3/GMP/60.0/1/WINNT_x86_64-msvc/de/release/Windows_NT%2010.0/default/default/update.xml",
        );
        reply.expect(400);
        assert_eq!(reply.header("content-type"), Some("text/plain"));
        assert!(reply.text.contains("GMP-broken"), "{}", reply.text);
        assert!(reply.text.contains("fileUrl"), "{}", reply.text);
    });
}

#[test]
fn the_esrpre_form_reads_the_version_without_its_suffix() {
    TestServer::each_backend(|server| {
        release(
            server,
            "Firefox",
            &json!({"name": "Firefox-45.1.0esr", "schema_version": 4, "hashFunction": "sha512",
                "appVersion": "45.1.0", "displayVersion": "45.1.0esr",
                "platforms": {"WINNT_x86-msvc": {"locales": {"de": {"buildID": "20160601000000",
                    "completes": [{"from": "*", "filesize": 40, "hashValue": "c", "fileUrl": "https://dl.example.com/esr.mar"}]}}}}}),
        );
        let id = write(
            server,
            "POST",
            "/api/rules",
            &json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
                    "product": "Firefox", "version": "<45.1.0", "mapping": "Firefox-45.1.0esr"}),
        );
        id.expect(200);
        let reply = server.get(
            "/update/3/Firefox/45.0esrpre/20160101000000/WINNT_x86-msvc/de/esr/Windows_NT%2010.0/default/default/update.xml",
        );
        reply.expect(200);
        assert!(
            reply.text.contains("appVersion=\"45.1.0\""),
            "45.0esrpre reads as 45.0, older than 45.1.0: {}",
            reply.text
        );
        assert_eq!(reply.header("rule-id"), Some(id.text.as_str()));
    });
}

#[test]
fn guardian_clients_get_json_or_a_bare_404() {
    TestServer::each_backend(|server| {
        setup(server);
        for path in [
            "/json/1/Guardian/2.0.0/WINNT_x86_64/release/update.json",
            "/json/2/Guardian/2.0.0/WINNT_x86_64/release/Windows%2010/update.json",
        ] {
            let reply = server.get(path);
            reply.expect(200);
            assert_eq!(reply.header("content-type"), Some("application/json"));
            assert!(reply.header("rule-id").is_some());
            assert_eq!(reply.header("rule-data-version"), Some("1"));
            assert_eq!(
                reply.json(),
                json!({"version": "2.1.0", "url": "https://cdn.example/g.msi", "required": true,
                       "hashFunction": "sha512", "hashValue": "g1"})
            );
        }
        for path in [
            // Up to date, an unknown platform, no rule, a blob that is not JSON, no such form.
            "/json/1/Guardian/2.1.0/WINNT_x86_64/release/update.json",
            "/json/1/Guardian/2.0.0/Darwin/release/update.json",
            "/json/1/Nothing/2.0.0/WINNT_x86_64/release/update.json",
            "/json/1/GMP/2.0.0/WINNT_x86_64-msvc/release/update.json",
            "/json/3/Guardian/2.0.0/WINNT_x86_64/release/update.json",
            "/json/whatever",
        ] {
            let reply = server.get(path);
            reply.expect(404);
            assert_eq!(reply.text, "", "{path}");
        }
        server
            .request(
                "POST",
                "/json/1/Guardian/2.0.0/WINNT_x86_64/release/update.json",
                &[],
                None,
            )
            .expect(405);
    });
}

fn allowlist() -> shiplog_domain::balrog::DomainAllowlist {
    shiplog_domain::balrog::DomainAllowlist::from_json(&json!({
        "dl.example.com": ["Firefox"],
        "cdn.example": {"/gmp/.*": ["GMP"]}
    }))
    .expect("a valid list")
}

fn app_blob(name: &str, complete_url: &str) -> Value {
    json!({"name": name, "schema_version": 4, "hashFunction": "sha512", "appVersion": "61.0",
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
            "completes": [{"from": "*", "filesize": 41, "hashValue": "c61", "fileUrl": complete_url}]}}}}})
}

#[test]
fn writes_bringing_a_forbidden_download_url_are_refused_and_change_nothing() {
    TestServer::each_backend_with(
        |state| state.with_allowlist(allowlist()),
        |server| {
            let refused = |reply: Reply, url: &str| {
                reply.expect(400);
                let body = reply.json();
                assert_eq!(
                    body["detail"], "Blob contains forbidden domain(s)",
                    "{body}"
                );
                assert!(
                    body["exception"].as_str().unwrap_or("").contains(url),
                    "names {url}: {body}"
                );
            };
            let create = |name: &str, product: &str, url: &str| {
                write(
                    server,
                    "POST",
                    "/api/releases",
                    &json!({"name": name, "product": product,
                            "blob": app_blob(name, url).to_string()}),
                )
            };
            // A sub-domain, a port, another product's host: all forbidden for Firefox.
            for url in [
                "https://evil.example/x.mar",
                "https://x.dl.example.com/x.mar",
                "https://dl.example.com:8443/x.mar",
                "https://cdn.example/gmp/x.mar",
            ] {
                refused(create("Firefox-61.0", "Firefox", url), url);
            }
            server.get("/api/releases/Firefox-61.0").expect(404);
            create("Firefox-61.0", "Firefox", "https://dl.example.com/61.mar").expect(201);
            // Whole-blob replace, top-level merge and locale upload are checked the same way.
            let put = write(
                server,
                "PUT",
                "/api/releases/Firefox-61.0",
                &json!({"name": "Firefox-61.0", "product": "Firefox", "data_version": 1,
                        "blob": app_blob("Firefox-61.0", "https://evil.example/put.mar").to_string()}),
            );
            refused(put, "https://evil.example/put.mar");
            let merge = write(
                server,
                "POST",
                "/api/releases/Firefox-61.0",
                &json!({"product": "Firefox", "data_version": 1, "schema_version": 4,
                        "data": json!({"fileUrls": {"*": {"completes": {"*": "https://evil.example/merge.mar"}}}}).to_string()}),
            );
            refused(merge, "https://evil.example/merge.mar");
            let locale = write(
                server,
                "PUT",
                "/api/releases/Firefox-61.0/builds/WINNT_x86_64-msvc/fr",
                &json!({"product": "Firefox", "data_version": 1, "schema_version": 4,
                        "data": json!({"buildID": "1", "completes": [{"from": "*", "filesize": 1,
                            "hashValue": "h", "fileUrl": "https://evil.example/fr.mar"}]}).to_string()}),
            );
            refused(locale, "https://evil.example/fr.mar");
            let stored = server.get("/api/releases/Firefox-61.0");
            stored.expect(200);
            assert_eq!(stored.header("x-data-version"), Some("1"));
            assert_eq!(
                stored.json(),
                app_blob("Firefox-61.0", "https://dl.example.com/61.mar")
            );
            // An allowed locale upload goes through.
            write(
                server,
                "PUT",
                "/api/releases/Firefox-61.0/builds/WINNT_x86_64-msvc/fr",
                &json!({"product": "Firefox", "data_version": 1, "schema_version": 4,
                        "data": json!({"buildID": "1", "completes": [{"from": "*", "filesize": 1,
                            "hashValue": "h", "fileUrl": "https://dl.example.com/fr.mar"}]}).to_string()}),
            )
            .expect(201);
        },
    );
}

#[test]
fn serving_leaves_out_download_urls_the_allow_list_does_not_allow() {
    TestServer::each_backend_with(
        |state| state.with_allowlist(allowlist()),
        |server| {
            // Stored before the allow-list existed (straight into the database): served, but
            // never with a URL the list refuses.
            let store = server.other_instance();
            let mut blob = app_blob("Firefox-61.0", "https://old-cdn.example/61.mar");
            blob["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"]
                .as_array_mut()
                .expect("completes")
                .push(json!({"from": "*", "filesize": 41, "hashValue": "ok", "fileUrl": "https://dl.example.com/61.mar"}));
            store
                .insert_named_release(
                    &shiplog_domain::balrog::ReleaseName::parse("Firefox-61.0").expect("name"),
                    "Firefox",
                    &blob,
                    "test",
                )
                .expect("stored");
            store
                .insert_named_release(
                    &shiplog_domain::balrog::ReleaseName::parse("Guardian-2.1").expect("name"),
                    "Guardian",
                    &json!({"name": "Guardian-2.1", "schema_version": 10000, "version": "2.1.0",
                        "required": false, "hashFunction": "sha512",
                        "platforms": {"WINNT_x86_64": {"fileUrl": "https://evil.example/g.msi", "hashValue": "g"}}}),
                    "test",
                )
                .expect("stored");
            rule(server, "Firefox", "Firefox-61.0");
            rule(server, "Guardian", "Guardian-2.1");
            let xml = server.get(
                "/update/3/Firefox/60.0/1/WINNT_x86_64-msvc/de/release/OS/default/default/update.xml",
            );
            xml.expect(200);
            assert!(!xml.text.contains("old-cdn.example"), "{}", xml.text);
            assert!(
                xml.text.contains("URL=\"https://dl.example.com/61.mar\""),
                "the next complete is served: {}",
                xml.text
            );
            let json = server.get("/json/1/Guardian/2.0.0/WINNT_x86_64/release/update.json");
            json.expect(200);
            assert_eq!(json.json(), json!({}));
        },
    );
}
