//! Every error path of the lifecycle answers Orlo's 4xx with a JSON body, never a 500.

use serde_json::json;
use shiplog_tests::{Reply, TestServer};

#[track_caller]
fn assert_error(reply: &Reply, status: u16, message: &str) {
    reply.expect(status);
    let body = reply.json();
    assert_eq!(body["message"], message, "{}", reply.text);
    assert_eq!(body["code"], status);
    assert!(
        body["title"].is_string() && body["error"].is_string(),
        "{}",
        reply.text
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

const NIL: &str = "00000000-0000-4000-8000-000000000000";

#[test]
fn creating_a_release_needs_a_json_document_with_user_and_platforms() {
    TestServer::each_backend(|server| {
        assert_error(
            &server.post_empty("/releases"),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post_raw(
                "/releases",
                "text/plain",
                r#"{"user":"u","platforms":["p"]}"#,
            ),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post("/releases", &json!({})),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post("/releases", &json!([])),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post_raw("/releases", "application/json", "{not json"),
            400,
            "Could not parse JSON document",
        );
        assert_error(
            &server.post("/releases", &json!({"user": "u"})),
            400,
            "JSON doc missing platforms field",
        );
        assert_error(
            &server.post("/releases", &json!({"platforms": ["p"]})),
            400,
            "JSON doc missing user field",
        );
        assert_error(
            &server.post("/releases", &json!({"platforms": ["p"], "user": null})),
            400,
            "JSON doc missing user field",
        );
        assert_error(
            &server.post("/releases", &json!({"platforms": ["p"], "user": ""})),
            400,
            "JSON doc missing user field",
        );
        assert_error(
            &server.post("/releases", &json!({"platforms": [{}], "user": "u"})),
            400,
            "platforms must be a list of strings",
        );
        assert_error(
            &server.post(
                "/releases",
                &json!({"platforms": ["p"], "user": "u", "metadata": {"k": null}}),
            ),
            400,
            "metadata value for \"k\" must be a string, number or boolean",
        );
        // A failed create leaves nothing behind, and the server keeps answering (Orlo's B18).
        assert_error(&server.get("/releases"), 404, "No releases found");
        server
            .post(
                "/releases",
                &json!({"platforms": ["p"], "user": "u", "unknown": 1}),
            )
            .expect(200);
    });
}

#[test]
fn unknown_and_malformed_ids() {
    TestServer::each_backend(|server| {
        let id = server
            .post("/releases", &json!({"user": "u", "platforms": ["p"]}))
            .expect(200)
            .json()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let pkg = server
            .post(
                &format!("/releases/{id}/packages"),
                &json!({"name": "n", "version": "1"}),
            )
            .expect(200)
            .json()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let other = server
            .post("/releases", &json!({"user": "u", "platforms": ["p"]}))
            .expect(200)
            .json()["id"]
            .as_str()
            .expect("id")
            .to_owned();

        let get_missing = server.get(&format!("/releases/{NIL}"));
        assert_error(&get_missing, 404, "No releases found");
        assert_eq!(get_missing.json()["releases"], json!([]));
        assert_error(
            &server.get("/releases/not-a-uuid"),
            400,
            "Release ID given is not a valid UUID",
        );
        assert_error(
            &server.get("/packages/not-a-uuid"),
            400,
            "Package ID given is not a valid UUID",
        );
        let pkg_missing = server.get(&format!("/packages/{NIL}"));
        assert_error(&pkg_missing, 404, "No packages found");
        assert_eq!(pkg_missing.json()["packages"], json!([]));

        for action in ["start", "stop"] {
            assert_error(
                &server.post_empty(&format!("/releases/{NIL}/{action}")),
                400,
                "Release does not exist",
            );
            assert_error(
                &server.post_empty(&format!("/releases/bogus/{action}")),
                400,
                "Release ID given is not a valid UUID",
            );
        }
        assert_error(
            &server.post(&format!("/releases/{NIL}/notes"), &json!({"text": "x"})),
            400,
            "Release does not exist",
        );
        assert_error(
            &server.post(&format!("/releases/{NIL}/metadata"), &json!({"a": "b"})),
            400,
            "Release does not exist",
        );
        assert_error(
            &server.post(
                &format!("/releases/{NIL}/packages"),
                &json!({"name": "n", "version": "1"}),
            ),
            400,
            "Release does not exist",
        );
        assert_error(
            &server.post(
                "/releases/x/packages",
                &json!({"name": "n", "version": "1"}),
            ),
            400,
            "Release ID given is not a valid UUID",
        );

        let start = |release: &str, package: &str| {
            server.post_empty(&format!("/releases/{release}/packages/{package}/start"))
        };
        assert_error(&start(NIL, &pkg), 400, "Release does not exist");
        assert_error(&start(&id, NIL), 400, "Package does not exist");
        assert_error(
            &start(&other, &pkg),
            400,
            "This package does not belong to this release",
        );
        assert_error(
            &start(&id, "nope"),
            400,
            "Package ID given is not a valid UUID",
        );
        server
            .post(
                &format!("/releases/{id}/packages/{pkg}/results"),
                &json!({"content": "x"}),
            )
            .expect(204);
        assert_error(
            &server.post(
                &format!("/releases/{id}/packages/{NIL}/results"),
                &json!({"content": "x"}),
            ),
            400,
            "Package does not exist",
        );
    });
}

#[test]
fn package_and_action_bodies_are_checked() {
    TestServer::each_backend(|server| {
        let id = server
            .post("/releases", &json!({"user": "u", "platforms": ["p"]}))
            .json()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let add = |body: serde_json::Value| server.post(&format!("/releases/{id}/packages"), &body);
        assert_error(
            &add(json!({"name": "n"})),
            400,
            "Missing name / version in request body.",
        );
        assert_error(
            &add(json!({"version": "1"})),
            400,
            "Missing name / version in request body.",
        );
        assert_error(
            &add(json!({"name": null, "version": "1"})),
            400,
            "Missing name / version in request body.",
        );
        assert_error(
            &server.post_empty(&format!("/releases/{id}/packages")),
            400,
            "Missing application/json header",
        );
        assert_error(
            &add(json!({"name": "n", "version": "1", "rollback": "maybe"})),
            400,
            "rollback must be a boolean",
        );

        let pkg = add(json!({"name": "n", "version": "1"})).expect(200).json()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let stop = format!("/releases/{id}/packages/{pkg}/stop");
        assert_error(
            &server.post(&stop, &json!({"success": true})),
            400,
            "Can not stop a package which has not been started",
        );
        server
            .post_empty(&format!("/releases/{id}/packages/{pkg}/start"))
            .expect(204);
        assert_error(
            &server.post_empty(&stop),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post(&stop, &json!({})),
            400,
            "Missing application/json header",
        );

        assert_error(
            &server.post(&format!("/releases/{id}/notes"), &json!({"text": ""})),
            400,
            "Must include text in posted document",
        );
        assert_error(
            &server.post(&format!("/releases/{id}/notes"), &json!({"other": "x"})),
            400,
            "Must include text in posted document",
        );
        assert_error(
            &server.post_empty(&format!("/releases/{id}/notes")),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post(&format!("/releases/{id}/metadata"), &json!({})),
            400,
            "Missing application/json header",
        );
        assert_error(
            &server.post(&format!("/releases/{id}/metadata"), &json!({"k": [1]})),
            400,
            "metadata value for \"k\" must be a string, number or boolean",
        );
        assert_error(
            &server.post(&format!("/releases/{id}/metadata"), &json!(["k"])),
            400,
            "The JSON document must be an object",
        );

        let release = server.get(&format!("/releases/{id}")).expect(200).json();
        assert_eq!(
            release["releases"][0]["notes"],
            json!([]),
            "refused writes changed nothing"
        );
        assert_eq!(release["releases"][0]["metadata"], json!({}));
    });
}

#[test]
fn unknown_routes_are_json_404s() {
    TestServer::each_backend(|server| {
        let reply = server.get("/no/such/route");
        assert_error(&reply, 404, "404 Not Found");
        assert_eq!(reply.json()["url"], server.url("/no/such/route"));
    });
}
