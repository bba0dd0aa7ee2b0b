//! `GET /api/v1/events` and `GET /api/v1/events/stream` over HTTP on every backend: the feed
//! after a cursor with filters, `Link` paging and refused parameters; the stream, and a client
//! that disconnects and resumes with `Last-Event-ID` seeing every event exactly once.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use shiplog_tests::TestServer;

/// The newest event id now: tests look only at what they cause after it.
fn cursor(server: &TestServer) -> i64 {
    server.store().latest_event_id().expect("latest id")
}

fn create_release(server: &TestServer, user: &str, platforms: &[&str], team: &str) -> String {
    let reply = server.post(
        "/releases",
        &json!({"user": user, "platforms": platforms, "team": team}),
    );
    reply.expect(200);
    reply.json()["id"].as_str().expect("id").to_owned()
}

fn feed(server: &TestServer, query: &str) -> Vec<Value> {
    let reply = server.get(&format!("/api/v1/events?{query}"));
    reply.expect(200);
    let body = reply.json();
    assert_eq!(body["status"], "success");
    body["data"].as_array().expect("a list").clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect()
}

#[test]
fn the_feed_follows_a_cursor_with_filters_and_links() {
    TestServer::each_backend(|server| {
        let start = cursor(server);
        let id = create_release(server, "alice", &["eu", "us"], "web");
        let added = server.post(
            &format!("/releases/{id}/packages"),
            &json!({"name": "api", "version": "1.0"}),
        );
        added.expect(200);
        let package = added.json()["id"].as_str().expect("package id").to_owned();
        server
            .post_empty(&format!("/releases/{id}/packages/{package}/start"))
            .expect(204);
        server
            .post(
                &format!("/releases/{id}/packages/{package}/stop"),
                &json!({"success": true}),
            )
            .expect(204);
        server
            .post_empty(&format!("/releases/{id}/stop"))
            .expect(204);
        create_release(server, "bob", &["asia"], "ops");

        let events = feed(server, &format!("after={start}"));
        assert_eq!(
            types(&events),
            [
                "release.created",
                "package.added",
                "package.started",
                "package.finished",
                "release.finished",
                "release.created",
            ]
        );
        for event in &events {
            assert_eq!(event["actor"], "admin", "{event}");
            assert!(event["id"].as_i64().expect("id") > start);
        }
        assert_eq!(events[0]["data"]["id"], json!(id));
        assert_eq!(events[1]["data"]["id"], json!(package));
        assert_eq!(events[4]["data"]["status"], "SUCCESSFUL");
        assert_eq!(events[4]["data"]["recorded_by"], "admin");

        let only = |query: &str| types(&feed(server, &format!("after={start}&{query}"))).len();
        assert_eq!(only("type=package.*"), 3);
        assert_eq!(only("type=release.created,release.finished"), 3);
        assert_eq!(only("platform=us"), 5);
        assert_eq!(only("team=ops"), 1);
        assert_eq!(only("platform=us&type=release.*"), 2);
        assert_eq!(only("product=Firefox"), 0);

        // Pages of two, walked by following `Link`.
        let first = server.get(&format!("/api/v1/events?after={start}&limit=2"));
        first.expect(200);
        assert_eq!(first.header("X-Total-Count"), Some("6"));
        let mut seen = first.json()["data"].as_array().expect("list").clone();
        let mut link = first.header("Link").map(str::to_owned);
        while let Some(next) = link {
            let target = next
                .trim_start_matches('<')
                .split_once('>')
                .expect("a link target")
                .0
                .to_owned();
            assert!(next.ends_with("rel=\"next\""), "{next}");
            let page = server.get(&target);
            page.expect(200);
            seen.extend(
                page.json()["data"]
                    .as_array()
                    .expect("list")
                    .iter()
                    .cloned(),
            );
            link = page.header("Link").map(str::to_owned);
        }
        assert_eq!(seen, events);
    });
}

#[test]
fn bad_feed_parameters_are_400_in_the_envelope() {
    TestServer::each_backend(|server| {
        for query in [
            "after=-3",
            "after=soon",
            "limit=0",
            "limit=5000",
            "type=release",
            "type=release.%25",
            "colour=red",
            "team=",
            "after=1&after=2",
        ] {
            let reply = server.get(&format!("/api/v1/events?{query}"));
            reply.expect(400);
            let body = reply.json();
            assert_eq!(body["status"], "failure", "{query}");
            assert_eq!(body["errors"][0]["code"], "bad-request", "{query}");
        }
        let reply = server.request(
            "GET",
            "/api/v1/events/stream",
            &[("Last-Event-ID", "yesterday")],
            None,
        );
        reply.expect(400);
        assert_eq!(reply.json()["errors"][0]["code"], "bad-request");
        server.get("/api/v1/events/stream?limit=3").expect(400);
    });
}

/// A stream reader on its own thread: sends each (id, type, event) it reads, until the server
/// ends the stream or the receiver is dropped.
fn open_stream(
    server: &TestServer,
    query: &str,
    last_event_id: Option<i64>,
) -> mpsc::Receiver<(i64, String, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(server.url(&format!("/api/v1/events/stream?{query}")));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.call().expect("the stream opens");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(response.into_body().into_reader());
        let (mut id, mut kind) = (None, None);
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.strip_prefix("id: ") {
                id = rest.parse::<i64>().ok();
            } else if let Some(rest) = line.strip_prefix("event: ") {
                kind = Some(rest.to_owned());
            } else if let Some(rest) = line.strip_prefix("data: ") {
                let data: Value = serde_json::from_str(rest).expect("data is JSON");
                let frame = (
                    id.take().expect("id first"),
                    kind.take().expect("event"),
                    data,
                );
                if sender.send(frame).is_err() {
                    return;
                }
            }
        }
    });
    receiver
}

fn next(stream: &mpsc::Receiver<(i64, String, Value)>) -> (i64, String, Value) {
    stream
        .recv_timeout(Duration::from_secs(20))
        .expect("an event arrives")
}

#[test]
fn a_stream_client_resumes_with_last_event_id_and_sees_each_event_once() {
    TestServer::each_backend(|server| {
        let start = cursor(server);
        let stream = open_stream(server, &format!("after={start}&type=release.*"), None);
        let mut ids = Vec::new();
        for user in ["u1", "u2", "u3"] {
            create_release(server, user, &["eu"], "web");
        }
        for user in ["u1", "u2", "u3"] {
            let (id, kind, event) = next(&stream);
            assert_eq!(kind, "release.created");
            assert_eq!(event["id"], json!(id));
            assert_eq!(event["type"], "release.created");
            assert_eq!(event["data"]["user"], user);
            ids.push(id);
        }
        let last_seen = *ids.last().expect("three ids");
        drop(stream);

        // Written while nobody listens, plus events the filter leaves out.
        for user in ["u4", "u5"] {
            let id = create_release(server, user, &["eu"], "web");
            server
                .post_empty(&format!("/releases/{id}/stop"))
                .expect(204);
        }
        let resumed = open_stream(server, "type=release.*", Some(last_seen));
        for expected in ["u4", "u4", "u5", "u5"] {
            let (id, _, event) = next(&resumed);
            assert_eq!(event["data"]["user"], expected);
            ids.push(id);
        }
        // Nothing more: every id once, in order, exactly the feed's.
        assert!(resumed.recv_timeout(Duration::from_millis(800)).is_err());
        let feed_ids: Vec<i64> = feed(server, &format!("after={start}&type=release.*"))
            .iter()
            .map(|e| e["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(ids, feed_ids);

        // Without a cursor the stream starts with the next event written.
        let fresh = open_stream(server, "", None);
        create_release(server, "u6", &["eu"], "web");
        let (_, kind, event) = next(&fresh);
        assert_eq!(
            (kind.as_str(), &event["data"]["user"]),
            ("release.created", &json!("u6"))
        );
    });
}
