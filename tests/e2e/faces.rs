//! Each face answers in its own error body under its own mount — unknown paths, wrong methods,
//! oversized bodies — and every list endpoint sends `X-Total-Count` and a `Link` that walks it.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use shiplog_api::AuthMode;
use shiplog_tests::{Reply, TestServer, ADMIN_TOKEN};

const BEARER: &str = "Bearer shiplog_test_admin_00000000000000000000000000000000";

/// Which error body a reply has.
#[derive(Debug, PartialEq)]
enum Body {
    Orlo,
    Problem,
    Envelope,
    Text,
}

fn body_of(reply: &Reply) -> Body {
    let Ok(value) = serde_json::from_str::<Value>(&reply.text) else {
        return Body::Text;
    };
    if value["status"] == "failure" && value["errors"].is_array() {
        Body::Envelope
    } else if value["status"].is_number() && value["title"].is_string() {
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        Body::Problem
    } else if value["code"].is_number() && value["message"].is_string() {
        Body::Orlo
    } else {
        panic!("no known error body: {}", reply.text)
    }
}

/// One path under each mount that exists with other methods, and the body that mount speaks.
const MOUNTS: [(&str, &str, Body); 4] = [
    ("/releases", "/releases/import", Body::Orlo),
    ("/api/rules", "/api/rules", Body::Problem),
    ("/api/v1/tokens", "/api/v1/tokens", Body::Envelope),
    ("/v1/tickets", "/v1/tickets", Body::Orlo),
];

#[test]
fn unknown_paths_and_wrong_methods_answer_in_the_mounts_body() {
    TestServer::each_backend(|server| {
        for (list, _, body) in MOUNTS {
            let missing = server.get(&format!("{list}/no/such/thing/here"));
            missing.expect(404);
            assert_eq!(body_of(&missing), body, "404 under {list}");
            let wrong = server.request("PATCH", list, &[("Authorization", BEARER)], None);
            wrong.expect(405);
            assert_eq!(body_of(&wrong), body, "405 under {list}");
            assert!(
                wrong.header("allow").is_some_and(|a| a.contains("GET")),
                "{list}"
            );
        }
        // The update protocol answers Balrog's empty document for unknown forms.
        let update = server.get("/update/9/x/update.xml");
        update.expect(200);
        assert!(update.text.contains("<updates>"), "{}", update.text);
    });
}

#[test]
fn oversized_bodies_are_413_in_the_mounts_body_and_bulk_endpoints_take_more() {
    TestServer::each_backend(|server| {
        // 2 MiB: over the 1 MiB limit of an ordinary write, under the 16 MiB of bulk ones.
        let padding = "x".repeat(2 * 1024 * 1024);
        let ordinary = [
            (
                "/releases",
                json!({"user": "u", "platforms": ["p"], "note": padding}),
                Body::Orlo,
            ),
            (
                "/api/rules",
                json!({"priority": 1, "backgroundRate": 100, "update_type": "minor", "comment": padding}),
                Body::Problem,
            ),
            ("/api/v1/tokens", json!({"user": padding}), Body::Envelope),
            ("/v1/tickets", json!({"description": padding}), Body::Orlo),
        ];
        for (path, value, body) in ordinary {
            let reply = server.request(
                "POST",
                path,
                &[
                    ("Authorization", BEARER),
                    ("Content-Type", "application/json"),
                ],
                Some(&value.to_string()),
            );
            reply.expect(413);
            assert_eq!(body_of(&reply), body, "413 under {path}");
        }
        server.get("/releases").expect(404);
        assert_eq!(server.get("/api/rules").json()["count"], 0);
        // A release blob of 2 MiB is a bulk write: accepted.
        let blob = json!({"name": "Big", "schema_version": 1, "hashFunction": "sha512", "detailsUrl": padding});
        server
            .put(
                "/api/releases/Big",
                &json!({"product": "Firefox", "blob": blob.to_string()}),
            )
            .expect(201);
        // An import of 2 MiB too (in notes of 60,000 characters: one note may hold 65,536).
        let notes: Vec<&str> = (0..35).map(|_| &padding[..60_000]).collect();
        let import = json!([{
            "platforms": ["p"], "user": "u", "notes": notes,
            "packages": [{"name": "a", "version": "1", "status": "SUCCESSFUL"}]
        }]);
        server.post("/releases/import", &import).expect(200);
    });
}

/// Follows `rel="next"` links from `first` and returns every item seen, failing on a repeat.
fn walk(server: &TestServer, first: &str, items: impl Fn(&Value) -> Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        assert!(pages < 100, "the walk ends");
        let reply = server.get(&path);
        reply.expect(200);
        let total: usize = reply
            .header("x-total-count")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("X-Total-Count on {path}"));
        let link = reply
            .header("link")
            .unwrap_or_else(|| panic!("Link on {path}"))
            .to_owned();
        for rel in ["first", "last"] {
            assert!(link.contains(&format!("rel=\"{rel}\"")), "{rel} in {link}");
        }
        for item in items(&reply.json()) {
            assert!(!seen.contains(&item), "{item} seen twice");
            seen.push(item);
        }
        assert!(seen.len() <= total);
        next = link.split(", ").find_map(|part| {
            part.strip_suffix("; rel=\"next\"")
                .and_then(|url| url.strip_prefix('<'))
                .and_then(|url| url.strip_suffix('>'))
                .map(str::to_owned)
        });
    }
    seen
}

#[test]
fn every_list_sends_its_total_and_links_that_walk_it_once() {
    TestServer::each_backend(|server| {
        let batch: Vec<Value> = (0..7)
            .map(|n| {
                json!({
                    "platforms": ["web"], "user": if n % 2 == 0 { "even" } else { "odd" },
                    "stime": format!("2024-01-0{}T10:00:00Z", n + 1),
                    "packages": [{"name": format!("pkg{n}"), "version": "1", "status": "SUCCESSFUL",
                                  "stime": format!("2024-01-0{}T10:00:00Z", n + 1)}]
                })
            })
            .collect();
        server
            .post("/releases/import", &Value::Array(batch))
            .expect(200);
        let ids = |body: &Value, key: &str| -> Vec<String> {
            body[key]
                .as_array()
                .expect("a list")
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let releases = walk(server, "/releases?limit=3", |b| ids(b, "releases"));
        assert_eq!(releases.len(), 7);
        let even = walk(server, "/releases?user=even&limit=2&asc=true", |b| {
            ids(b, "releases")
        });
        assert_eq!(even.len(), 4, "filters survive in the links");
        let packages = walk(server, "/packages?limit=2", |b| ids(b, "packages"));
        assert_eq!(packages.len(), 7);
        // An unpaged list still counts.
        let all = server.get("/releases?limit=-1");
        assert_eq!(all.header("x-total-count"), Some("7"));
        let users = server.get("/info/users");
        assert_eq!(users.header("x-total-count"), Some("2"));

        // Balrog: a rule's revisions, paged by page/limit.
        let blob = json!({"name": "R1", "schema_version": 1, "hashFunction": "sha512"});
        server
            .put(
                "/api/releases/R1",
                &json!({"product": "Firefox", "blob": blob.to_string()}),
            )
            .expect(201);
        let created = server.post(
            "/api/rules",
            &json!({"priority": 1, "backgroundRate": 0, "update_type": "minor", "mapping": "R1", "product": "Firefox"}),
        );
        created.expect(200);
        let rule = created.text.trim().to_owned();
        for rate in 1..=4 {
            let current = server.get(&format!("/api/rules/{rule}")).json();
            server
                .post(
                    &format!("/api/rules/{rule}"),
                    &json!({"backgroundRate": rate, "data_version": current["data_version"]}),
                )
                .expect(200);
        }
        let revisions = walk(
            server,
            &format!("/api/rules/{rule}/revisions?limit=2"),
            |b| {
                // Balrog lists a rule's revisions under `rules`.
                b["rules"]
                    .as_array()
                    .expect("revisions")
                    .iter()
                    .map(|r| r["change_id"].to_string())
                    .collect()
            },
        );
        assert_eq!(revisions.len(), 5);
        for list in ["/api/rules", "/api/releases", "/api/users", "/v1/tickets"] {
            let reply = server.get(list);
            assert!(reply.header("x-total-count").is_some(), "{list}");
        }
        let tokens = server.request("GET", "/api/v1/tokens", &[("Authorization", BEARER)], None);
        assert!(tokens.header("x-total-count").is_some());
    });
}

#[test]
fn orlo_token_is_given_without_a_credential_when_auth_is_off() {
    TestServer::each_backend_with(
        |state| {
            let mut auth = state.auth.clone();
            auth.mode = AuthMode::Off;
            state.with_auth(auth)
        },
        |server| {
            let reply = server.request("GET", "/token", &[], None);
            reply.expect(200);
            let token = reply.json()["token"].as_str().expect("a token").to_owned();
            // The token is accepted back, as Orlo clients send it.
            server
                .request(
                    "POST",
                    "/releases",
                    &[
                        ("X-Auth-Token", &token),
                        ("Content-Type", "application/json"),
                    ],
                    Some(&json!({"user": "u", "platforms": ["p"]}).to_string()),
                )
                .expect(200);
            // With a credential, the token is the caller's.
            let named = server.request(
                "GET",
                "/token",
                &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
                None,
            );
            named.expect(200);
        },
    );
    TestServer::each_backend(|server| {
        server.request("GET", "/token", &[], None).expect(401);
    });
}

#[test]
fn browsers_at_the_root_are_sent_to_the_dashboard_and_clients_keep_orlos_answer() {
    TestServer::each_backend(|server| {
        // The client follows redirects: `/` → `/ui/`, the dashboard's overview.
        let page = server.request("GET", "/", &[("Accept", "text/html,*/*")], None);
        page.expect(200);
        assert!(page.text.contains("Deployment frequency"), "{}", page.text);
        assert_eq!(
            server.get("/").json(),
            json!({"message": "Orlo server, see http://orlo.readthedocs.org/"})
        );
        let spec = server.get("/openapi.json").json();
        let paths: BTreeSet<&str> = spec["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        for path in [
            "/api/rules",
            "/api/v1/evaluate",
            "/v1/tickets",
            "/releases",
            "/update/{form}/{segments}",
        ] {
            assert!(paths.contains(path), "{path} is described at its full path");
        }
    });
}
