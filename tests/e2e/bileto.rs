//! The Bileto face at `/v1` over HTTP: every endpoint and error path, on every backend.

use serde_json::{json, Value};
use shiplog_tests::{Reply, TestServer, BOT_TOKEN as TOKEN};

fn tickets_url() -> String {
    format!("/v1/tickets?token={TOKEN}")
}

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

/// The single ticket of a `{"requests": [ticket]}` answer.
#[track_caller]
fn only(reply: &Reply) -> Value {
    let body = reply.json();
    let requests = body["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1, "{}", reply.text);
    requests[0].clone()
}

#[track_caller]
fn create(server: &TestServer, body: Value) -> i64 {
    only(server.post(&tickets_url(), &body).expect(201))["request_id"]
        .as_i64()
        .expect("request_id")
}

/// The request ids of a listing, in the order given.
#[track_caller]
fn ids(reply: &Reply) -> Vec<i64> {
    reply.expect(200);
    let ids: Vec<i64> = reply.json()["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|t| t["request_id"].as_i64().expect("request_id"))
        .collect();
    assert_eq!(
        reply.header("x-total-count"),
        Some(ids.len().to_string().as_str())
    );
    ids
}

#[test]
fn tickets_are_created_updated_and_commented_on() {
    TestServer::each_backend_anonymous(|server| {
        let created = server.post(
                &tickets_url(),
                &json!({
                    "description": "browser desktop tabs prototype",
                    "landers": "oSoMoN",
                    "merge_proposals": "https://code.launchpad.net/~osomon/webbrowser-app/desktop-tabs-prototype/+merge/262358",
                    "status": "Packages built",
                    "siloname": "ubuntu/landing-000",
                    "distribution": "ubuntu",
                    "series": "dual",
                    "qa_signoff": "Ready for QA",
                    "jenkins": "http://ci-train.staging.ubuntu.com",
                    "date": "1999-01-01T00:00:00.000000",
                    "comments": [{"text": "ignored"}],
                    "search": "ignored",
                    "author": "robru",
                }),
            );
        let ticket = only(created.expect(201));
        let id = ticket["request_id"].as_i64().expect("request_id");
        let keys: Vec<&str> = ticket
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "comments",
                "date",
                "description",
                "dest",
                "distribution",
                "download_links",
                "jenkins",
                "landers",
                "merge_proposals",
                "published_versions",
                "qa_signoff",
                "request_id",
                "search",
                "series",
                "siloname",
                "sources",
                "status",
                "sync_request",
                "test_plan"
            ],
            "the keys of Bileto's example"
        );
        assert_eq!(ticket["comments"], json!([]), "creating writes no comment");
        assert_eq!(ticket["dest"], "", "unset fields are empty strings");
        assert_eq!(
            ticket["search"],
            format!("{id}\nbrowser desktop tabs prototype\n\nhttps://code.launchpad.net/~osomon/webbrowser-app/desktop-tabs-prototype/+merge/262358\noSoMoN\nPackages built\nubuntu/landing-000\n\nubuntu\ndual\n\nReady for QA")
        );
        let date = ticket["date"].as_str().expect("date");
        assert!(!date.starts_with("1999"), "date is the server's");
        assert_eq!(date.len(), "2015-07-01T13:11:58.852196".len(), "{date}");

        // A partial update changes what it names and says so in one comment.
        let updated = only(
            server
                .post(
                    &tickets_url(),
                    &json!({"request_id": id, "qa_signoff": "QA Granted", "dest": "ubuntu/stable",
                            "status": "Packages built", "author": "timo-jyrinki"}),
                )
                .expect(200),
        );
        assert_eq!(updated["description"], "browser desktop tabs prototype");
        assert_eq!(updated["qa_signoff"], "QA Granted");
        assert_eq!(updated["date"], date);
        assert!(updated["search"]
            .as_str()
            .is_some_and(|s| s.ends_with("\nubuntu/stable\nQA Granted")));
        let comments = updated["comments"].as_array().expect("comments");
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0]["author"], "timo-jyrinki");
        assert_eq!(comments[0]["request_id"], id);
        assert_eq!(
            comments[0]["text"],
            "qa_signoff changed from 'Ready for QA' to 'QA Granted'\ndest changed from '' to 'ubuntu/stable'"
        );

        // Nothing changed: no comment. No author: the bot's name.
        let same = only(
            server
                .post(
                    &tickets_url(),
                    &json!({"request_id": id.to_string(), "dest": "ubuntu/stable"}),
                )
                .expect(200),
        );
        assert_eq!(same["comments"].as_array().map(Vec::len), Some(1));
        let by_bot = only(
            server
                .post(
                    &tickets_url(),
                    &json!({"request_id": id, "status": "Landed"}),
                )
                .expect(200),
        );
        assert_eq!(by_bot["comments"][1]["author"], "bot");

        let comment = server
            .post(
                &format!("/v1/comment?token={TOKEN}"),
                &json!({"request_id": id, "text": "thanks Timo!", "author": "robru"}),
            )
            .expect(201)
            .json();
        assert_eq!(comment["author"], "robru");
        assert_eq!(comment["text"], "thanks Timo!");
        assert_eq!(comment["request_id"], id);
        assert!(comment["id"].as_i64().is_some() && comment["date"].is_string());
        let bot_comment = server
            .post(
                &format!("/v1/comment?token={TOKEN}"),
                &json!({"request_id": id, "text": "from a bot"}),
            )
            .expect(201)
            .json();
        assert_eq!(bot_comment["author"], "bot");

        let fetched = only(server.get(&format!("/v1/ticket/{id}")).expect(200));
        let texts: Vec<&str> = fetched["comments"]
            .as_array()
            .expect("comments")
            .iter()
            .map(|c| c["text"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(texts.len(), 4, "oldest first");
        assert_eq!(texts[2..], ["thanks Timo!", "from a bot"]);
        assert_eq!(
            fetched["status"], "Landed",
            "a direct lookup shows landed tickets"
        );
        assert_eq!(
            only(server.get(&format!("/v1/ticket/{id}/")).expect(200))["request_id"],
            id
        );
    });
}

#[test]
fn the_listing_filters_by_substring_and_hides_finished_tickets_by_default() {
    TestServer::each_backend_anonymous(|server| {
        let robru = create(
            server,
            json!({"landers": "robru", "status": "Packages built", "qa_signoff": "Ready for QA", "siloname": "ubuntu/landing-001"}),
        );
        let bob = create(
            server,
            json!({"landers": "bobbert", "status": "Preparing packages", "description": "Fix 100% of the_bugs"}),
        );
        let landed = create(server, json!({"landers": "robru", "status": "Landed"}));
        let abandoned = create(server, json!({"landers": "bob", "status": "Abandoned"}));

        assert_eq!(
            ids(&server.get("/v1/tickets")),
            [bob, robru],
            "newest first, active only"
        );
        assert_eq!(ids(&server.get("/v1/tickets/")), [bob, robru]);
        assert_eq!(
            ids(&server.get(&format!("/v1/tickets?token={TOKEN}"))),
            [bob, robru],
            "a token is not a filter"
        );
        assert_eq!(ids(&server.get("/v1/tickets?status=Landed")), [landed]);
        assert_eq!(
            ids(&server.get("/v1/tickets?status=Abandoned")),
            [abandoned]
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?status=")),
            [abandoned, landed, bob, robru],
            "any parameter lifts the default"
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?landers=robru")),
            [landed, robru]
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?active_only&landers=robru")),
            [robru]
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?landers=robru&active_only=")),
            [robru]
        );
        assert_eq!(ids(&server.get("/v1/tickets?active_only")), [bob, robru]);
        assert_eq!(
            ids(&server.get("/v1/tickets?qa_signoff=ready")),
            [robru],
            "case-insensitive substring"
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?landers=BOB&status=packages")),
            [bob],
            "filters combine with AND"
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?landers=bob&landers=bert")),
            [bob],
            "a repeated filter must hold each time"
        );
        assert_eq!(ids(&server.get("/v1/tickets?description=100%25")), [bob]);
        assert_eq!(ids(&server.get("/v1/tickets?description=the_bugs")), [bob]);
        assert!(ids(&server.get("/v1/tickets?description=the%25bugs")).is_empty());
        assert_eq!(
            ids(&server.get("/v1/tickets?search=landing-001%0Aubuntu")).len(),
            0,
            "search slots are newline-separated in the §1.2 order"
        );
        assert_eq!(
            ids(&server.get("/v1/tickets?search=robru%0APackages%20built%0Aubuntu/landing")),
            [robru]
        );
        assert_eq!(
            ids(&server.get(&format!("/v1/tickets?search={landed}%0A"))),
            [landed]
        );
        assert_eq!(
            ids(&server.get(&format!("/v1/tickets?request_id={landed}"))),
            [landed]
        );
        assert!(ids(&server.get("/v1/tickets?landers=nobody")).is_empty());

        for (query, message) in [
            ("bogus=1", "Unknown parameter \"bogus\": filter on request_id, search, active_only or a field (description, test_plan, merge_proposals, sources, landers, siloname, status, qa_signoff, distribution, series, dest, sync_request, published_versions, download_links, jenkins)"),
            ("Status=Landed", "Unknown parameter \"Status\": filter on request_id, search, active_only or a field (description, test_plan, merge_proposals, sources, landers, siloname, status, qa_signoff, distribution, series, dest, sync_request, published_versions, download_links, jenkins)"),
            ("date=2015", "date cannot be filtered on"),
            ("request_id=x", "request_id: must be a positive integer"),
            ("landers=a%00", "landers: must not contain NUL characters"),
        ] {
            assert_error(&server.get(&format!("/v1/tickets?{query}")), 400, message);
        }
    });
}

#[test]
fn views_by_lander_silo_publishability_and_failure() {
    TestServer::each_backend_anonymous(|server| {
        let granted = create(
            server,
            json!({"landers": "bobbert", "siloname": "ubuntu/landing-001", "status": "Packages built", "qa_signoff": "QA Granted"}),
        );
        let waived = create(
            server,
            json!({"landers": "alice", "siloname": "ubuntu/landing-002", "status": "Packages built", "qa_signoff": "Publish without QA"}),
        );
        let waiting = create(
            server,
            json!({"landers": "Bob", "siloname": "stable-phone-overlay/landing-001", "status": "Packages built", "qa_signoff": "Ready for QA"}),
        );
        let landed = create(
            server,
            json!({"landers": "bob", "siloname": "ubuntu/landing-001", "status": "Landed", "qa_signoff": "QA Granted"}),
        );
        let failed = create(
            server,
            json!({"landers": "carol", "status": "Failed to build"}),
        );
        let cant = create(
            server,
            json!({"landers": "carol", "status": "Can't merge (focal/x)"}),
        );
        let error = create(server, json!({"landers": "carol", "status": "Build ERROR"}));

        assert_eq!(
            ids(&server.get("/v1/user/bob")),
            [waiting, granted],
            "substring, active only"
        );
        assert_eq!(ids(&server.get("/v1/user/BOBBERT")), [granted]);
        assert!(ids(&server.get("/v1/user/nobody")).is_empty());
        assert_eq!(ids(&server.get("/v1/silo/001")), [waiting, granted]);
        assert_eq!(ids(&server.get("/v1/silo/ubuntu/landing-001")), [granted]);
        assert_eq!(ids(&server.get("/v1/silo/ubuntu%2Flanding-001")), [granted]);
        assert_eq!(ids(&server.get("/v1/silo/ubuntu/landing-001/")), [granted]);
        assert_eq!(ids(&server.get("/v1/publishable")), [waived, granted]);
        assert_eq!(ids(&server.get("/v1/failures")), [error, cant, failed]);
        let _ = landed;

        assert_error(
            &server.get("/v1/user/a%00"),
            400,
            "lander: must not contain NUL characters",
        );
        assert_error(&server.get("/v1/user"), 404, "404 Not Found");
        assert_error(&server.get("/v1/silo"), 404, "404 Not Found");
    });
}

#[test]
fn metadata_documents_every_field_and_offers_choices() {
    TestServer::each_backend(|server| {
        let meta = server.get("/v1/metadata").expect(200).json();
        let fields = meta["fields"].as_object().expect("fields");
        for name in [
            "request_id",
            "date",
            "search",
            "comments",
            "description",
            "test_plan",
            "merge_proposals",
            "sources",
            "landers",
            "siloname",
            "status",
            "qa_signoff",
            "distribution",
            "series",
            "dest",
            "sync_request",
            "published_versions",
            "download_links",
            "jenkins",
        ] {
            assert!(
                fields[name].as_str().is_some_and(|d| !d.is_empty()),
                "{name} is documented"
            );
        }
        let choices = meta["choices"].as_object().expect("choices");
        let keys: Vec<&str> = choices.keys().map(String::as_str).collect();
        assert_eq!(keys, ["distribution", "qa_signoff", "series", "status"]);
        assert_eq!(
            meta["choices"]["qa_signoff"],
            json!(["Ready for QA", "QA Granted", "Publish without QA"])
        );
        for status in ["Packages built", "Landed", "Abandoned"] {
            assert!(
                choices["status"]
                    .as_array()
                    .is_some_and(|s| s.contains(&json!(status))),
                "{status}"
            );
        }
    });
}

#[test]
fn writes_need_the_token() {
    TestServer::each_backend_anonymous(|server| {
        let id = create(server, json!({"description": "d"}));
        for path in ["/v1/tickets", "/v1/comment"] {
            let body = json!({"request_id": id, "text": "t", "description": "changed"});
            let missing = "Writes need the API token: add ?token=<token> to the URL";
            assert_error(&server.post(path, &body), 401, missing);
            assert_error(&server.post(&format!("{path}?token="), &body), 401, missing);
            assert_error(
                &server.post(&format!("{path}?token=wrong"), &body),
                403,
                "The API token is not valid",
            );
            assert_error(
                &server.post(&format!("{path}?token={TOKEN}x"), &body),
                403,
                "The API token is not valid",
            );
            assert_error(
                &server.post(&format!("{path}?token=jenkins-knows-thiS"), &body),
                403,
                "The API token is not valid",
            );
        }
        let ticket = only(server.get(&format!("/v1/ticket/{id}")).expect(200));
        assert_eq!(ticket["description"], "d", "refused writes change nothing");
        assert_eq!(ticket["comments"], json!([]));
    });
}

#[test]
fn a_token_without_the_ticket_permission_is_refused() {
    TestServer::each_backend_anonymous(|server| {
        let stranger = server.user_with("stranger", &[]);
        for (path, action) in [("/v1/tickets", "create"), ("/v1/comment", "comment")] {
            assert_error(
                &server.post(&format!("{path}?token={stranger}"), &json!({})),
                403,
                &format!(
                    "Permission denied to perform the request. stranger is not allowed to {action} ticket"
                ),
            );
            assert_error(
                &server.post(path, &json!({})),
                401,
                "Writes need the API token: add ?token=<token> to the URL",
            );
        }
        assert!(
            ids(&server.get("/v1/tickets")).is_empty(),
            "reads still work"
        );
    });
}

#[test]
fn bad_writes_are_clear_400s_and_404s_that_store_nothing() {
    TestServer::each_backend_anonymous(|server| {
        let id = create(server, json!({"description": "d"}));
        let url = tickets_url();
        for (content_type, body, message) in [
            ("application/json", "[]", "body: must be a JSON object"),
            (
                "application/json",
                "\"text\"",
                "body: must be a JSON object",
            ),
            (
                "application/json",
                r#"{"status": ["Landed"]}"#,
                "status: must be a string",
            ),
            (
                "application/json",
                r#"{"landers": {"a": 1}}"#,
                "landers: must be a string",
            ),
            (
                "application/json",
                r#"{"author": 5}"#,
                "author: must be a string",
            ),
            (
                "application/json",
                r#"{"landers": "a\u0000b"}"#,
                "landers: must not contain NUL characters",
            ),
            (
                "application/json",
                r#"{"request_id": 1.5}"#,
                "request_id: must be a positive integer",
            ),
            (
                "application/json",
                r#"{"request_id": -3}"#,
                "request_id: must be a positive integer",
            ),
            (
                "application/json",
                r#"{"request_id": "x"}"#,
                "request_id: must be a positive integer",
            ),
        ] {
            assert_error(&server.post_raw(&url, content_type, body), 400, message);
        }
        for (content_type, body) in [
            ("application/json", ""),
            ("application/json", "{not json"),
            ("text/plain", "{\"description\": "),
        ] {
            let reply = server.post_raw(&url, content_type, body);
            reply.expect(400);
            assert_eq!(reply.json()["error"], "invalid_json");
            assert!(
                reply.json()["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Could not parse the body as JSON: ")),
                "{}",
                reply.text
            );
        }
        let unknown = server.post(&url, &json!({"request_id": id, "qa_sigoff": "QA Granted"}));
        unknown.expect(400);
        assert!(unknown.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("body: unknown field \"qa_sigoff\"")));
        assert_error(
            &server.post(&url, &json!({"request_id": id + 1000, "status": "Landed"})),
            404,
            &format!("No ticket has request_id {}", id + 1000),
        );
        // The content type is not checked: scripts may send JSON as text.
        server
            .post_raw(&url, "text/plain", r#"{"description": "plain"}"#)
            .expect(201);

        let comment_url = format!("/v1/comment?token={TOKEN}");
        for (body, message) in [
            (json!({"text": "t"}), "request_id: is required"),
            (json!({"request_id": id}), "text: is required"),
            (json!({"request_id": id, "text": ""}), "text: is required"),
            (
                json!({"request_id": id, "text": ["t"]}),
                "text: must be a string",
            ),
            (
                json!({"request_id": id, "text": "t", "mood": "x"}),
                "body: unknown field \"mood\" (a comment has request_id, text and author)",
            ),
            (json!([id, "t"]), "body: must be a JSON object"),
        ] {
            assert_error(&server.post(&comment_url, &body), 400, message);
        }
        let broken = server.post_raw(&comment_url, "application/json", "{");
        broken.expect(400);
        assert_eq!(broken.json()["error"], "invalid_json");
        assert_error(
            &server.post(&comment_url, &json!({"request_id": id + 1000, "text": "t"})),
            404,
            &format!("No ticket has request_id {}", id + 1000),
        );

        assert_error(
            &server.get(&format!("/v1/ticket/{}", id + 1000)),
            404,
            &format!("No ticket has request_id {}", id + 1000),
        );
        for bad in ["abc", "0", "-1", "1.5"] {
            assert_error(
                &server.get(&format!("/v1/ticket/{bad}")),
                400,
                "request_id: must be a positive integer",
            );
        }
        assert_error(&server.get("/v1/nowhere"), 404, "404 Not Found");
        assert_error(
            &server.request("DELETE", "/v1/tickets", &[], None),
            405,
            "The method is not allowed for the requested URL.",
        );

        let ticket = only(server.get(&format!("/v1/ticket/{id}")).expect(200));
        assert_eq!(ticket["description"], "d");
        assert_eq!(ticket["comments"], json!([]), "failed writes store nothing");
    });
}

#[test]
fn the_v1_face_is_described() {
    TestServer::each_backend(|server| {
        let spec = server.get("/openapi.json").expect(200).json();
        for path in [
            "/v1/tickets",
            "/v1/ticket/{request_id}",
            "/v1/user/{lander}",
            "/v1/silo/{name}",
            "/v1/publishable",
            "/v1/failures",
            "/v1/metadata",
            "/v1/comment",
        ] {
            assert!(spec["paths"][path].is_object(), "{path} is described");
        }
        assert!(spec["paths"]["/v1/tickets"]["post"].is_object());
    });
}
