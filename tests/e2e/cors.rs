//! CORS: off by default; with `--cors-origin`, preflights from a listed origin are answered
//! before any face's method or credential checks, answers carry the headers a page needs, and
//! other origins get nothing (their preflights a 400).

use shiplog_api::{AuthMode, AuthSettings, ServerOptions};
use shiplog_tests::{Reply, TestServer};

const ADMIN_UI: &str = "https://admin.example.com";

fn with_origin() -> ServerOptions {
    ServerOptions {
        cors_origins: vec![ADMIN_UI.to_owned(), "http://localhost:9000".to_owned()],
        ..ServerOptions::default()
    }
}

fn auth_all(state: shiplog_api::AppState) -> shiplog_api::AppState {
    state.with_auth(AuthSettings {
        mode: AuthMode::All,
        ..AuthSettings::default()
    })
}

fn preflight(server: &TestServer, path: &str, origin: &str, method: &str) -> Reply {
    server.request(
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type, x-csrf-token, if-match",
            ),
        ],
        None,
    )
}

fn listed(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn preflights_from_a_listed_origin_are_answered_on_every_face_even_under_auth_all() {
    TestServer::each_backend_with_options(&with_origin(), auth_all, |server| {
        for (path, method) in [
            ("/api/rules/1", "PUT"),
            ("/api/v1/login", "POST"),
            ("/releases", "POST"),
            ("/v1/tickets", "POST"),
            ("/api/releases/Firefox-60.0", "DELETE"),
        ] {
            let answer = preflight(server, path, ADMIN_UI, method);
            answer.expect(200);
            assert_eq!(
                answer.header("access-control-allow-origin"),
                Some(ADMIN_UI),
                "{path}"
            );
            let methods = listed(answer.header("access-control-allow-methods"));
            for m in ["get", "post", "put", "delete", "patch"] {
                assert!(methods.contains(&m.to_owned()), "{m} in {methods:?}");
            }
            let headers = listed(answer.header("access-control-allow-headers"));
            for h in ["authorization", "content-type", "x-csrf-token", "if-match"] {
                assert!(headers.contains(&h.to_owned()), "{h} in {headers:?}");
            }
            assert_eq!(answer.header("access-control-max-age"), Some("3600"));
            assert_eq!(answer.header("access-control-allow-credentials"), None);
        }
        // The second origin too.
        preflight(server, "/api/rules", "http://localhost:9000", "POST").expect(200);
    });
}

#[test]
fn answers_to_a_listed_origin_carry_the_headers_a_page_reads() {
    TestServer::each_backend_with_options(
        &with_origin(),
        |state| state,
        |server| {
            let answer = server.request("GET", "/api/rules", &[("Origin", ADMIN_UI)], None);
            answer.expect(200);
            assert_eq!(answer.header("access-control-allow-origin"), Some(ADMIN_UI));
            let exposed = listed(answer.header("access-control-expose-headers"));
            for h in [
                "etag",
                "x-data-version",
                "x-csrf-token",
                "x-total-count",
                "retry-after",
            ] {
                assert!(exposed.contains(&h.to_owned()), "{h} in {exposed:?}");
            }
            assert!(listed(answer.header("vary")).contains(&"origin".to_owned()));
            // Errors too, in the face's own body.
            let missing = server.request("GET", "/api/rules/424242", &[("Origin", ADMIN_UI)], None);
            missing.expect(404);
            assert_eq!(
                missing.header("access-control-allow-origin"),
                Some(ADMIN_UI)
            );
        },
    );
}

#[test]
fn other_origins_get_no_cors_headers_and_their_preflights_are_refused() {
    TestServer::each_backend_with_options(
        &with_origin(),
        |state| state,
        |server| {
            let evil = "https://evil.example.net";
            let answer = server.request("GET", "/api/rules", &[("Origin", evil)], None);
            answer.expect(200);
            assert_eq!(answer.header("access-control-allow-origin"), None);
            let refused = preflight(server, "/api/rules/1", evil, "PUT");
            refused.expect(400);
            assert_eq!(refused.header("access-control-allow-origin"), None);
            // A method the faces never answer is not allowed either.
            let answer = preflight(server, "/api/rules/1", ADMIN_UI, "TRACE");
            assert_eq!(answer.header("access-control-allow-origin"), None);
        },
    );
}

#[test]
fn cors_is_off_by_default() {
    TestServer::each_backend(|server| {
        let answer = server.request("GET", "/api/rules", &[("Origin", ADMIN_UI)], None);
        answer.expect(200);
        assert_eq!(answer.header("access-control-allow-origin"), None);
        let pre = preflight(server, "/api/rules/1", ADMIN_UI, "PUT");
        assert_eq!(pre.header("access-control-allow-origin"), None);
        assert_eq!(pre.header("access-control-allow-methods"), None);
    });
}
