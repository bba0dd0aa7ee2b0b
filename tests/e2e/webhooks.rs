//! Webhooks end to end on every backend: a receiver on a random local port checks live
//! Standard Webhooks signatures; retries after 500s with one `webhook-id`, `Retry-After`
//! honoured, 410 disables; the administration endpoints refuse bad input and non-admins; old
//! events and deliveries are pruned but not events a subscription still has to take; and on
//! PostgreSQL two servers on one database deliver every event exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shiplog_api::retention::{Retention, RetentionSettings};
use shiplog_api::webhooks::signature::sign;
use shiplog_api::webhooks::WebhookSettings;
use shiplog_api::AppState;
use shiplog_storage::Backend;
use shiplog_tests::{TestServer, ADMIN_TOKEN, BOT_TOKEN};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: BTreeMap<String, String>,
    body: String,
}

/// An HTTP endpoint on a random port that records every request and answers each with what
/// `answer(n)` says (n counts from 0): a status and extra headers.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(
        answer: impl Fn(usize) -> (u16, Vec<(&'static str, String)>) + Send + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut headers = BTreeMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let n = {
                    let mut all = seen.lock().expect("lock");
                    all.push(Received {
                        at: Instant::now(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    all.len() - 1
                };
                let (status, extra) = answer(n);
                let mut reply =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n");
                for (k, v) in extra {
                    reply.push_str(&format!("{k}: {v}\r\n"));
                }
                reply.push_str("\r\nok");
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    fn wait_for(&self, server: &TestServer, count: usize) -> Vec<Received> {
        server.wait_for(
            Duration::from_secs(60),
            &format!("{count} requests"),
            || {
                let got = self.received();
                (got.len() >= count).then_some(got)
            },
        )
    }
}

fn fast(state: AppState) -> AppState {
    state.with_webhooks(WebhookSettings {
        retry_schedule: vec![Duration::from_millis(200); 3],
        poll: Duration::from_millis(20),
        ..WebhookSettings::default()
    })
}

fn subscribe(server: &TestServer, url: &str, events: Value, filters: Value) -> (i64, String) {
    let reply = server.post(
        "/api/v1/webhooks",
        &json!({"url": url, "events": events, "filters": filters, "description": "test"}),
    );
    reply.expect(201);
    let data = reply.json()["data"].clone();
    (
        data["id"].as_i64().expect("id"),
        data["secret"].as_str().expect("secret").to_owned(),
    )
}

fn release(server: &TestServer, user: &str, platform: &str) -> String {
    let reply = server.post("/releases", &json!({"user": user, "platforms": [platform]}));
    reply.expect(200);
    reply.json()["id"].as_str().expect("id").to_owned()
}

fn verify(request: &Received, secret: &str) {
    let id = &request.headers["webhook-id"];
    let timestamp: i64 = request.headers["webhook-timestamp"]
        .parse()
        .expect("seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - timestamp).abs() < 120, "a fresh timestamp");
    let expected = sign(secret, id, timestamp, &request.body).expect("signs");
    assert_eq!(request.headers["webhook-signature"], expected);
    assert_eq!(request.headers["content-type"], "application/json");
}

#[test]
fn deliveries_are_signed_filtered_and_listed() {
    TestServer::each_backend_with(fast, |server| {
        let receiver = Receiver::start(|_| (204, Vec::new()));
        let (hook, secret) = subscribe(
            server,
            &receiver.url,
            json!(["release.*"]),
            json!({"platform": "eu"}),
        );
        assert!(secret.starts_with("whsec_"));
        let wanted = release(server, "alice", "eu");
        release(server, "bob", "us");
        let got = receiver.wait_for(server, 1);
        verify(&got[0], &secret);
        let body: Value = serde_json::from_str(&got[0].body).expect("JSON");
        assert_eq!(body["type"], "release.created");
        assert_eq!(body["data"]["id"], json!(wanted));
        assert!(body["timestamp"].as_str().expect("text").ends_with('Z'));
        assert_eq!(
            body.as_object().expect("object").keys().collect::<Vec<_>>(),
            ["data", "timestamp", "type"]
        );

        // A test message, and the attempts listed.
        let test = server.post_empty(&format!("/api/v1/webhooks/{hook}/test"));
        test.expect(202);
        let got = receiver.wait_for(server, 2);
        verify(&got[1], &secret);
        assert_eq!(
            serde_json::from_str::<Value>(&got[1].body).expect("JSON")["type"],
            "webhook.test"
        );
        let attempts = server.wait_for(Duration::from_secs(10), "two attempts", || {
            let reply = server.request(
                "GET",
                &format!("/api/v1/webhooks/{hook}/deliveries"),
                &[(
                    "Authorization",
                    "Bearer shiplog_test_admin_00000000000000000000000000000000",
                )],
                None,
            );
            let data = reply.json()["data"].as_array().cloned().unwrap_or_default();
            (data.len() == 2).then_some(data)
        });
        assert!(attempts
            .iter()
            .all(|a| a["status"] == 204 && a["state"] == "delivered"));
        assert_eq!(attempts[1]["type"], "release.created");
        // The release on `us` never arrives: a later release on `eu` does, and a subscription's
        // events are fanned out in event order, so the `us` one was passed over before it.
        let sentinel = release(server, "carol", "eu");
        let got = receiver.wait_for(server, 3);
        assert_eq!(got.len(), 3, "nothing but the sentinel arrived");
        let bodies: Vec<Value> = got
            .iter()
            .map(|r| serde_json::from_str(&r.body).expect("JSON"))
            .collect();
        assert_eq!(bodies[2]["data"]["id"], json!(sentinel));
        assert!(bodies.iter().all(|b| b["data"]["user"] != "bob"));

        // Never a secret in a listing.
        let listed = server.request(
            "GET",
            "/api/v1/webhooks",
            &[(
                "Authorization",
                "Bearer shiplog_test_admin_00000000000000000000000000000000",
            )],
            None,
        );
        listed.expect(200);
        assert!(!listed.text.contains(&secret));
        assert_eq!(
            listed.json()["data"][0]["filters"],
            json!({"platform": "eu"})
        );
    });
}

#[test]
fn https_endpoints_are_reached_over_tls_and_a_failed_handshake_is_a_failed_attempt() {
    TestServer::each_backend_with(fast, |server| {
        // A plain-HTTP receiver behind an https:// URL: shiplog speaks TLS to it, the handshake
        // fails, and the attempt is recorded as failed with the TLS error, then retried.
        let receiver = Receiver::start(|_| (204, Vec::new()));
        let url = receiver.url.replacen("http://", "https://", 1);
        let (hook, _) = subscribe(server, &url, json!(["webhook.test"]), json!({}));
        server
            .post_empty(&format!("/api/v1/webhooks/{hook}/test"))
            .expect(202);
        let attempts = server.wait_for(Duration::from_secs(10), "a failed attempt", || {
            let reply = server.request(
                "GET",
                &format!("/api/v1/webhooks/{hook}/deliveries"),
                &[(
                    "Authorization",
                    "Bearer shiplog_test_admin_00000000000000000000000000000000",
                )],
                None,
            );
            let data = reply.json()["data"].as_array().cloned().unwrap_or_default();
            (!data.is_empty() && !data[0]["error"].is_null()).then_some(data)
        });
        let error = attempts[0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // The TLS provider made the attempt (without one, ureq refuses https:// up front).
        assert!(
            error.contains("native-tls"),
            "a failed TLS handshake, not a missing TLS stack: {error}"
        );
        assert_ne!(attempts[0]["state"], "delivered");
    });
}

#[test]
fn failures_are_retried_with_one_webhook_id_and_retry_after_is_honoured() {
    TestServer::each_backend_with(fast, |server| {
        // 500, then 503 asking for 1 s, then success.
        let receiver = Receiver::start(|n| match n {
            0 => (500, Vec::new()),
            1 => (503, vec![("retry-after", "1".to_owned())]),
            _ => (200, Vec::new()),
        });
        let (hook, secret) = subscribe(server, &receiver.url, json!(["*"]), json!({}));
        release(server, "alice", "eu");
        let got = receiver.wait_for(server, 3);
        let ids: BTreeSet<_> = got
            .iter()
            .map(|r| r.headers["webhook-id"].clone())
            .collect();
        assert_eq!(ids.len(), 1, "one webhook-id across retries");
        got.iter().for_each(|r| verify(r, &secret));
        // The schedule says 200 ms; Retry-After said a second.
        assert!(got[2].at - got[1].at >= Duration::from_millis(900));
        assert!(got[1].at - got[0].at < Duration::from_millis(900));
        let statuses: Vec<Value> = server.wait_for(Duration::from_secs(5), "3 attempts", || {
            let reply = server.request(
                "GET",
                &format!("/api/v1/webhooks/{hook}/deliveries"),
                &[(
                    "Authorization",
                    "Bearer shiplog_test_admin_00000000000000000000000000000000",
                )],
                None,
            );
            let data = reply.json()["data"].as_array().cloned().unwrap_or_default();
            (data.len() == 3).then(|| data.iter().map(|a| a["status"].clone()).collect())
        });
        assert_eq!(statuses, [json!(200), json!(503), json!(500)]);
    });
}

#[test]
fn a_410_disables_the_subscription_until_it_is_enabled_again() {
    TestServer::each_backend_with(fast, |server| {
        let receiver = Receiver::start(|n| {
            if n == 0 {
                (410, Vec::new())
            } else {
                (200, Vec::new())
            }
        });
        let (hook, _) = subscribe(server, &receiver.url, json!(["release.created"]), json!({}));
        release(server, "alice", "eu");
        receiver.wait_for(server, 1);
        let auth = [(
            "Authorization",
            "Bearer shiplog_test_admin_00000000000000000000000000000000",
        )];
        let disabled = server.wait_for(Duration::from_secs(10), "disabled", || {
            let data = server
                .request("GET", &format!("/api/v1/webhooks/{hook}"), &auth, None)
                .json()["data"]
                .clone();
            (data["enabled"] == false).then_some(data)
        });
        assert_eq!(disabled["disabled_reason"], "gone");
        release(server, "bob", "eu");
        let enabling =
            shiplog_domain::timestamp::to_storage_precision(time::OffsetDateTime::now_utc());
        let enabled = server.request(
            "PATCH",
            &format!("/api/v1/webhooks/{hook}"),
            &[auth[0], ("Content-Type", "application/json")],
            Some(r#"{"enabled": true}"#),
        );
        enabled.expect(200);
        assert_eq!(enabled.json()["data"]["disabled_reason"], Value::Null);
        // The event written while it was disabled is delivered once it is enabled again, and
        // nothing went to the endpoint while it was disabled: every attempt but the 410 is
        // dated after the subscription was enabled again.
        let got = receiver.wait_for(server, 2);
        assert_eq!(got.len(), 2);
        let body: Value = serde_json::from_str(&got[1].body).expect("JSON");
        assert_eq!(body["data"]["user"], "bob");
        // The attempt is recorded once its answer came, just after the receiver saw it.
        let attempts = server.wait_for(Duration::from_secs(10), "bob's attempt recorded", || {
            let attempts = server.store().list_attempts(hook, 1000).expect("attempts");
            (attempts.len() >= 2).then_some(attempts)
        });
        assert_eq!(attempts.len(), 2, "the 410 and one delivery: {attempts:?}");
        assert_eq!(attempts[1].status, Some(410));
        assert!(
            attempts[0].attempted_at >= enabling,
            "no attempt while disabled: {attempts:?}"
        );
    });
}

#[test]
fn bad_subscriptions_and_non_admins_are_refused() {
    TestServer::each_backend_with(fast, |server| {
        for (body, needle) in [
            (
                json!({"url": "http://169.254.169.254/latest", "events": ["*"]}),
                "link-local",
            ),
            (
                json!({"url": "ftp://example.com/", "events": ["*"]}),
                "http",
            ),
            (
                json!({"url": "http://127.0.0.1:9/", "events": []}),
                "events",
            ),
            (
                json!({"url": "http://127.0.0.1:9/", "events": ["release"]}),
                "events",
            ),
            (
                json!({"url": "http://127.0.0.1:9/", "events": ["*"], "filters": {"colour": "x"}}),
                "colour",
            ),
            (
                json!({"url": "http://127.0.0.1:9/", "events": ["*"], "secret": "mine"}),
                "secret",
            ),
            (json!({"events": ["*"]}), "url"),
        ] {
            let reply = server.post("/api/v1/webhooks", &body);
            reply.expect(400);
            assert_eq!(reply.json()["status"], "failure");
            assert!(reply.text.contains(needle), "{body}: {}", reply.text);
        }
        let reply = server.request(
            "POST",
            "/api/v1/webhooks",
            &[
                ("Authorization", &format!("Bearer {BOT_TOKEN}")),
                ("Content-Type", "application/json"),
            ],
            Some(r#"{"url": "http://127.0.0.1:9/", "events": ["*"]}"#),
        );
        reply.expect(403);
        server
            .request("GET", "/api/v1/webhooks", &[], None)
            .expect(401);
        let auth = [(
            "Authorization",
            "Bearer shiplog_test_admin_00000000000000000000000000000000",
        )];
        server
            .request("GET", "/api/v1/webhooks/999", &auth, None)
            .expect(404);
        server
            .request("GET", "/api/v1/webhooks/x", &auth, None)
            .expect(400);
        server
            .request("DELETE", "/api/v1/webhooks/999", &auth, None)
            .expect(404);
        server
            .request(
                "POST",
                "/api/v1/webhooks/999/deliveries/1/redeliver",
                &auth,
                None,
            )
            .expect(404);
    });
}

#[test]
fn two_instances_on_postgresql_deliver_every_event_exactly_once() {
    TestServer::each_backend_with(fast, |server| {
        if server.backend != Backend::Postgres {
            return;
        }
        const EVENTS: usize = 1000;
        let receiver = Receiver::start(|_| (200, Vec::new()));
        // Two subscriptions, so both instances have work at once.
        let (first, _) = subscribe(server, &receiver.url, json!(["release.created"]), json!({}));
        let (second, _) = subscribe(server, &receiver.url, json!(["release.created"]), json!({}));
        let other = start_second_instance(server);
        let releases: Vec<Value> = (0..EVENTS)
            .map(|i| json!({"user": format!("u{i}"), "platforms": ["eu"], "packages": []}))
            .collect();
        let started = Instant::now();
        server
            .post("/releases/import", &Value::Array(releases))
            .expect(200);
        let got = receiver.wait_for(server, 2 * EVENTS);
        let elapsed = started.elapsed();
        // Once every delivery is recorded as delivered no worker sends it again; each was
        // attempted exactly once, and the receiver saw exactly one message per delivery.
        for hook in [first, second] {
            let attempts =
                server.wait_for(Duration::from_secs(30), "all recorded delivered", || {
                    let attempts = server.store().list_attempts(hook, 1000).expect("attempts");
                    (attempts.len() == EVENTS && attempts.iter().all(|a| a.state == "delivered"))
                        .then_some(attempts)
                });
            let deliveries: BTreeSet<i64> = attempts.iter().map(|a| a.delivery_id).collect();
            assert_eq!(deliveries.len(), EVENTS, "no delivery attempted twice");
        }
        let got_all = receiver.received();
        assert_eq!(got_all.len(), 2 * EVENTS, "no attempt made twice");
        let ids: BTreeSet<_> = got
            .iter()
            .map(|r| r.headers["webhook-id"].clone())
            .collect();
        assert_eq!(ids.len(), 2 * EVENTS);
        for hook in [first, second] {
            assert_eq!(
                ids.iter()
                    .filter(|id| id.starts_with(&format!("msg_{hook}_")))
                    .count(),
                EVENTS
            );
        }
        let mut by_instance: BTreeMap<String, usize> = BTreeMap::new();
        for hook in [first, second] {
            for attempt in server.store().list_attempts(hook, 1000).expect("attempts") {
                *by_instance.entry(attempt.instance).or_default() += 1;
            }
        }
        eprintln!(
            "two instances delivered {} messages in {:.2?}; attempts by instance: {by_instance:?}",
            2 * EVENTS,
            elapsed
        );
        drop(other);
    });
}

/// A second server on the same database, with its own delivery worker.
struct SecondInstance {
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SecondInstance {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start_second_instance(server: &TestServer) -> SecondInstance {
    let store = server.other_instance();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = shiplog_api::run(listener, fast(AppState::new(store)), Default::default())
                .expect("second instance starts");
            tx.send(server.handle()).expect("waiting");
            server.await.expect("runs");
        });
    });
    SecondInstance {
        handle: rx.recv().expect("handle"),
        thread: Some(thread),
    }
}

fn users(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["data"]["user"].as_str().expect("a release event"))
        .collect()
}

fn feed(server: &TestServer) -> Vec<Value> {
    let reply = server.get("/api/v1/events?type=release.*");
    reply.expect(200);
    reply.json()["data"].as_array().expect("a list").clone()
}

#[test]
fn retention_prunes_old_events_and_deliveries_but_not_what_a_subscription_still_needs() {
    let short = |state: AppState| {
        fast(state).with_retention(RetentionSettings {
            keep: Retention(Some(Duration::from_secs(1))),
            every: Duration::from_millis(100),
        })
    };
    TestServer::each_backend_with(short, |server| {
        let auth = [
            ("Authorization", format!("Bearer {ADMIN_TOKEN}")),
            ("Content-Type", "application/json".to_owned()),
        ];
        let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
        release(server, "old", "eu");
        // A subscription disabled before it took anything: its events must wait for it.
        let (paused, _) = subscribe(server, "http://127.0.0.1:9/hook", json!(["*"]), json!({}));
        server
            .request(
                "PATCH",
                &format!("/api/v1/webhooks/{paused}"),
                &auth,
                Some(r#"{"enabled": false}"#),
            )
            .expect(200);
        release(server, "held", "eu");
        let receiver = Receiver::start(|_| (204, Vec::new()));
        let (live, _) = subscribe(server, &receiver.url, json!(["release.*"]), json!({}));
        release(server, "sent", "eu");
        assert_eq!(receiver.wait_for(server, 1).len(), 1);

        // The delivered message was queued after every event above; once its record is gone,
        // a prune ran when all of them were past retention.
        let deliveries = format!("/api/v1/webhooks/{live}/deliveries");
        let attempts = || {
            let reply = server.request("GET", &deliveries, &auth, None);
            reply.expect(200);
            reply.json()["data"].as_array().expect("a list").len()
        };
        server.wait_for(Duration::from_secs(30), "the attempt recorded", || {
            (attempts() == 1).then_some(())
        });
        server.wait_for(Duration::from_secs(30), "the delivery pruned", || {
            (attempts() == 0).then_some(())
        });
        assert_eq!(users(&feed(server)), ["held", "sent"]);

        // Without the paused subscription nothing holds them.
        server
            .request("DELETE", &format!("/api/v1/webhooks/{paused}"), &auth, None)
            .expect(200);
        server.wait_for(Duration::from_secs(30), "the outbox pruned", || {
            feed(server).is_empty().then_some(())
        });
        assert_eq!(receiver.received().len(), 1);
    });
}

// --- Release callbacks ------------------------------------------------------------------------

fn admin_get(server: &TestServer, path: &str) -> Value {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let reply = server.request("GET", path, &[("Authorization", &auth)], None);
    reply.expect(200);
    reply.json()
}

fn callback_secret(server: &TestServer) -> String {
    let secret = admin_get(server, "/api/v1/callbacks/secret")["data"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

fn release_with_callback(server: &TestServer, user: &str, callback: &str) -> String {
    let reply = server.post(
        "/releases",
        &json!({"user": user, "platforms": ["eu"], "callback": callback, "colour": "ignored"}),
    );
    reply.expect(200);
    reply.json()["id"].as_str().expect("id").to_owned()
}

#[test]
fn callbacks_carry_the_release_signed_on_every_status_change_and_its_finish() {
    TestServer::each_backend_with(fast, |server| {
        let secret = callback_secret(server);
        assert_eq!(callback_secret(server), secret, "one secret, kept");
        let receiver = Receiver::start(|_| (204, Vec::new()));
        let id = release_with_callback(server, "carol", &receiver.url);
        let package = server
            .post(
                &format!("/releases/{id}/packages"),
                &json!({"name": "web", "version": "1.0"}),
            )
            .expect(200)
            .json()["id"]
            .as_str()
            .expect("package id")
            .to_owned();
        server
            .post_empty(&format!("/releases/{id}/start"))
            .expect(204);
        server
            .post_empty(&format!("/releases/{id}/packages/{package}/start"))
            .expect(204);
        // A note changes no status: no callback.
        server
            .post(
                &format!("/releases/{id}/notes"),
                &json!({"text": "halfway"}),
            )
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

        let got = receiver.wait_for(server, 5);
        let statuses: Vec<String> = got
            .iter()
            .map(|request| {
                verify(request, &secret);
                let body: Value = serde_json::from_str(&request.body).expect("JSON");
                assert_eq!(body["id"], id.as_str());
                assert_eq!(body["user"], "carol");
                body["status"].as_str().expect("status").to_owned()
            })
            .collect();
        // Package added (no status → NOT_STARTED), release started, package started, package
        // finished, release finished.
        assert_eq!(
            statuses,
            [
                "NOT_STARTED",
                "NOT_STARTED",
                "IN_PROGRESS",
                "SUCCESSFUL",
                "SUCCESSFUL"
            ]
        );
        let last: Value = serde_json::from_str(&got[4].body).expect("JSON");
        assert!(
            last["ftime"].is_string(),
            "the finish carries ftime: {last}"
        );
        assert_eq!(last["notes"], json!(["halfway"]));
        let ids: BTreeSet<&String> = got.iter().map(|r| &r.headers["webhook-id"]).collect();
        assert_eq!(ids.len(), 5, "one message per change");

        // The callback is no subscription of anyone's.
        assert_eq!(admin_get(server, "/api/v1/webhooks")["data"], json!([]));
        assert_eq!(receiver.received().len(), 5);
    });
}

#[test]
fn a_failed_callback_is_retried_under_the_same_webhook_id() {
    TestServer::each_backend_with(fast, |server| {
        let secret = callback_secret(server);
        let receiver = Receiver::start(|n| (if n == 0 { 500 } else { 204 }, Vec::new()));
        let id = release_with_callback(server, "dave", &receiver.url);
        server
            .post_empty(&format!("/releases/{id}/stop"))
            .expect(204);
        let got = receiver.wait_for(server, 2);
        assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
        assert_eq!(got[0].body, got[1].body);
        for request in &got {
            verify(request, &secret);
        }
        // Delivered: nothing more comes, however long the worker keeps turning.
        let marker = Receiver::start(|_| (204, Vec::new()));
        let other = release_with_callback(server, "erin", &marker.url);
        server
            .post_empty(&format!("/releases/{other}/stop"))
            .expect(204);
        marker.wait_for(server, 1);
        assert_eq!(receiver.received().len(), 2);
    });
}

#[test]
fn a_bad_callback_is_refused_in_orlos_format_with_nothing_written() {
    let deny = |state: AppState| {
        state.with_webhooks(WebhookSettings {
            deny: shiplog_api::webhooks::destination::parse_cidrs("10.0.0.0/8").expect("cidr"),
            ..WebhookSettings::default()
        })
    };
    TestServer::each_backend_with(deny, |server| {
        let before = server.store().latest_event_id().expect("latest");
        for (callback, needle) in [
            ("ftp://example.com/hook", "http"),
            ("http://169.254.169.254/latest", "link-local"),
            ("http://user:secret@127.0.0.1/hook", "credentials"),
            ("http://10.1.2.3/hook", "denied range"),
            ("not a url", "URL"),
        ] {
            let reply = server.post(
                "/releases",
                &json!({"user": "mallory", "platforms": ["eu"], "callback": callback}),
            );
            reply.expect(400);
            let body = reply.json();
            assert_eq!(body["code"], 400, "{}", reply.text);
            assert!(body["error"].is_string(), "{}", reply.text);
            let message = body["message"].as_str().expect("message");
            assert!(
                message.starts_with("callback: ") && message.contains(needle),
                "{callback}: {message}"
            );
            let import = server.post(
                "/releases/import",
                &json!([{"user": "mallory", "platforms": ["eu"], "packages": []},
                        {"user": "mallory", "platforms": ["eu"], "packages": [], "callback": callback}]),
            );
            import.expect(400);
            let message = import.json()["message"]
                .as_str()
                .expect("message")
                .to_owned();
            assert!(
                message.starts_with("release 1: callback: ") && message.contains(needle),
                "{callback}: {message}"
            );
        }
        server.get("/releases?user=mallory").expect(404);
        assert_eq!(server.store().latest_event_id().expect("latest"), before);
        // An import with a good callback is kept, and its changes call back.
        let receiver = Receiver::start(|_| (204, Vec::new()));
        let import = server.post(
            "/releases/import",
            &json!([{"user": "oscar", "platforms": ["eu"], "packages": [], "callback": receiver.url}]),
        );
        import.expect(200);
        let id = import.json()["releases"][0]
            .as_str()
            .expect("id")
            .to_owned();
        server
            .post_empty(&format!("/releases/{id}/start"))
            .expect(204);
        let got = receiver.wait_for(server, 1);
        let body: Value = serde_json::from_str(&got[0].body).expect("JSON");
        assert_eq!(body["id"], id.as_str());
    });
}
