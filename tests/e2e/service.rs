//! Service-wide conventions: meta endpoints, trailing slashes, the API description.

use serde_json::json;
use shiplog_tests::TestServer;

#[test]
fn meta_endpoints_answer_as_orlo_does() {
    TestServer::each_backend(|server| {
        assert_eq!(
            server.get("/").expect(200).json(),
            json!({"message": "Orlo server, see http://orlo.readthedocs.org/"})
        );
        assert_eq!(
            server.get("/ping").expect(200).json(),
            json!({"message": "pong"})
        );
        assert_eq!(
            server.get("/ping/").expect(200).json(),
            json!({"message": "pong"})
        );
        assert_eq!(
            server.get("/version").expect(200).json(),
            json!({"version": "0.4.3"})
        );
        assert_eq!(
            server.get("/internal/version").expect(200).json(),
            json!({"version": "0.4.3"})
        );
    });
}

#[test]
fn the_api_is_described_and_browsable_offline() {
    TestServer::each_backend(|server| {
        let spec = server.get("/openapi.json").expect(200).json();
        assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
        for path in [
            "/releases",
            "/releases/{release_id}",
            "/releases/{release_id}/packages/{package_id}/stop",
            "/packages",
            "/ping",
        ] {
            assert!(spec["paths"][path].is_object(), "{path} is described");
        }
        let page = server.get("/docs/");
        page.expect(200);
        assert!(page.text.contains("swagger"), "the docs page is Swagger UI");
        let script = server.get("/docs/swagger-ui-bundle.js");
        script.expect(200);
        assert!(
            script.text.len() > 100_000,
            "assets are served from the binary"
        );
    });
}

#[test]
fn oversized_bodies_get_a_json_413_and_change_nothing() {
    TestServer::each_backend(|server| {
        let huge = format!(
            "{{\"user\": \"u\", \"platforms\": [\"p\"], \"note\": \"{}\"}}",
            "x".repeat(17 * 1024 * 1024)
        );
        let reply = server.post_raw("/releases", "application/json", &huge);
        reply.expect(413);
        assert_eq!(reply.json()["code"], 413);
        assert!(reply.json()["message"].is_string());
        server.get("/releases").expect(404);
    });
}

#[test]
fn wrong_methods_are_405_with_allow_and_docs_redirects() {
    TestServer::each_backend(|server| {
        let reply = server.request("PUT", "/releases", &[], None);
        reply.expect(405);
        assert_eq!(reply.json()["code"], 405);
        let allow = reply.header("allow").expect("an Allow header").to_owned();
        assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
        let one = server.request(
            "DELETE",
            "/releases/00000000-0000-4000-8000-000000000000",
            &[],
            None,
        );
        one.expect(405);
        assert_eq!(one.header("allow"), Some("GET"));
        server
            .request("DELETE", "/no/such/thing", &[], None)
            .expect(404);
        let balrog = server.request("PATCH", "/api/rules", &[], None);
        balrog.expect(405);
        assert_eq!(
            balrog.json()["status"],
            405,
            "problem+json under /api: {}",
            balrog.text
        );
        let docs = server.get("/docs");
        docs.expect(200);
        assert!(docs.text.contains("swagger"), "/docs redirects to the page");
    });
}
