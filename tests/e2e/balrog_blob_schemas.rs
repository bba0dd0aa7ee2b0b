//! Blob schemas on the Balrog face, on every backend: a blob that breaks its `schema_version`'s
//! schema is refused with a 400 naming each problem's JSON path and nothing is written, whether
//! it comes whole (POST / PUT) or is what a partial edit (POST /releases/{name}, a locale PUT)
//! would leave behind.

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer};

const AUTH: (&str, &str) = ("Authorization", shiplog_tests::ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn write(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
}

/// Asserts Balrog's 400 for an invalid blob, with `detail`, and that the problems listed under
/// `data` (and in `exception`) include `problem`.
fn refused(reply: &Reply, detail: &str, problem: &str) {
    reply.expect(400);
    let body = reply.json();
    assert_eq!(body["detail"], detail, "{}", reply.text);
    let listed = body["data"].as_array().expect("a list of problems");
    assert!(
        listed.iter().any(|p| p.as_str() == Some(problem)),
        "wanted {problem:?} in {}",
        reply.text
    );
    assert!(
        body["exception"]
            .as_str()
            .is_some_and(|e| e.contains(problem)),
        "{}",
        reply.text
    );
}

/// The release's blob and data_version, or `None` when it does not exist.
fn stored(server: &TestServer, name: &str) -> Option<(Value, String)> {
    let reply = server.get(&format!("/api/releases/{name}"));
    if reply.status == 404 {
        return None;
    }
    reply.expect(200);
    let version = reply.header("X-Data-Version").expect("X-Data-Version");
    Some((reply.json(), version.to_owned()))
}

fn app_release(name: &str) -> Value {
    json!({"name": name, "schema_version": 9, "hashFunction": "sha512", "appVersion": "60.0",
        "displayVersion": "60.0",
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180501000000",
            "completes": [{"from": "*", "filesize": 40, "hashValue": "c",
                "fileUrl": "https://dl.example.com/de.mar"}]}}}}})
}

#[test]
fn whole_blobs_breaking_their_schema_are_refused_and_nothing_is_written() {
    TestServer::each_backend(|server| {
        let mut wrong_type = app_release("Firefox-bad");
        wrong_type["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"][0]["filesize"] =
            json!("forty");
        let cases = [
            (
                "Firefox",
                wrong_type,
                "platforms.WINNT_x86_64-msvc.locales.de.completes[0].filesize: expected a number or a string of digits",
            ),
            (
                "Firefox",
                json!({"name": "Firefox-bad", "schema_version": 50, "displayVersion": "1",
                    "detailsUrl": "https://support.example.com/", "extra": true}),
                "extra: unknown key (not allowed by this schema_version)",
            ),
            (
                "GMP",
                json!({"name": "Firefox-bad", "schema_version": 1000, "hashFunction": "sha512",
                    "vendors": {"gmp-x": {"platforms": {}}}}),
                "vendors.gmp-x: 'version' is a required property",
            ),
            (
                "Firefox",
                json!({"name": "Firefox-bad", "schema_version": 4000, "products": "GMP"}),
                "products: expected an array",
            ),
            (
                "SystemAddons",
                json!({"name": "Firefox-bad", "schema_version": 5000, "addons": {"a@b": {
                    "version": "1", "platforms": {"default": {"filesize": 1, "hashValue": "h",
                        "fileUrl": "no url"}}}}}),
                "addons.a@b.platforms.default.fileUrl: expected an absolute URL",
            ),
            (
                "Guardian",
                json!({"name": "Firefox-bad", "schema_version": 10000, "version": "1",
                    "hashFunction": "sha512", "platforms": {}}),
                "blob: 'product' is a required property",
            ),
            (
                "Firefox",
                json!({"name": "Firefox-bad", "schema_version": 77}),
                "schema_version: must be one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 1000, 4000, 5000, 10000",
            ),
        ];
        for (product, blob, problem) in cases {
            let created = write(
                server,
                "POST",
                "/api/releases",
                &json!({"name": "Firefox-bad", "product": product, "blob": blob.to_string()}),
            );
            refused(&created, "Couldn't create release", problem);
            let put = write(
                server,
                "PUT",
                "/api/releases/Firefox-bad",
                &json!({"product": product, "blob": blob.to_string()}),
            );
            refused(&put, "Couldn't update release", problem);
            assert_eq!(stored(server, "Firefox-bad"), None, "{blob}");
        }
        // Nothing was recorded either: the release has no history at all.
        let history = server.get("/api/releases/Firefox-bad/revisions");
        assert!(
            history.status == 404 || history.json()["revisions"] == json!([]),
            "{}",
            history.text
        );

        // A valid blob is written; replacing it with an invalid one leaves it as it was.
        write(
            server,
            "POST",
            "/api/releases",
            &json!({"name": "Firefox-60.0", "product": "Firefox",
                "blob": app_release("Firefox-60.0").to_string()}),
        )
        .expect(201);
        let before = stored(server, "Firefox-60.0").expect("stored");
        let mut bad = app_release("Firefox-60.0");
        bad["showPrompt"] = json!(true); // v8 and older only
        refused(
            &write(
                server,
                "PUT",
                "/api/releases/Firefox-60.0",
                &json!({"product": "Firefox", "blob": bad.to_string(), "data_version": 1}),
            ),
            "Couldn't update release",
            "showPrompt: unknown key (not allowed by this schema_version)",
        );
        assert_eq!(stored(server, "Firefox-60.0"), Some(before));
    });
}

#[test]
fn partial_edits_leaving_an_invalid_blob_are_refused_and_nothing_is_written() {
    TestServer::each_backend(|server| {
        write(
            server,
            "POST",
            "/api/releases",
            &json!({"name": "Firefox-60.0", "product": "Firefox",
                "blob": app_release("Firefox-60.0").to_string()}),
        )
        .expect(201);
        let before = stored(server, "Firefox-60.0").expect("stored");

        // A locale whose complete update lacks its hash.
        refused(
            &write(
                server,
                "PUT",
                "/api/releases/Firefox-60.0/builds/WINNT_x86_64-msvc/fr",
                &json!({"product": "Firefox", "data_version": 1, "schema_version": 9,
                    "data": json!({"buildID": "20180501000000",
                        "completes": [{"from": "*", "filesize": 40}]}).to_string()}),
            ),
            "Couldn't update release",
            "platforms.WINNT_x86_64-msvc.locales.fr.completes[0]: 'hashValue' is a required property",
        );
        // A top-level key the schema does not have, merged into the blob.
        refused(
            &write(
                server,
                "POST",
                "/api/releases/Firefox-60.0",
                &json!({"product": "Firefox", "data_version": 1, "schema_version": 9,
                    "data": json!({"detailsUrl": "https://x.example/"}).to_string()}),
            ),
            "Couldn't update release",
            "detailsUrl: unknown key (not allowed by this schema_version)",
        );
        assert_eq!(stored(server, "Firefox-60.0"), Some(before));

        // A locale upload that would create a release without its required hashFunction
        // creates nothing.
        refused(
            &write(
                server,
                "PUT",
                "/api/releases/Firefox-61.0/builds/WINNT_x86_64-msvc/de",
                &json!({"product": "Firefox", "schema_version": 9,
                    "data": json!({"buildID": "1"}).to_string()}),
            ),
            "Couldn't update release",
            "blob: 'hashFunction' is a required property",
        );
        assert_eq!(stored(server, "Firefox-61.0"), None);

        // A valid edit still goes through.
        write(
            server,
            "PUT",
            "/api/releases/Firefox-60.0/builds/WINNT_x86_64-msvc/fr",
            &json!({"product": "Firefox", "data_version": 1, "schema_version": 9,
                "data": json!({"buildID": "20180501000000", "completes": [{"from": "*",
                    "filesize": 40, "hashValue": "f", "fileUrl": "https://dl.example.com/fr.mar"}]})
                    .to_string()}),
        )
        .expect(201);
    });
}
