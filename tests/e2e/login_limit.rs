//! Failed credential attempts, limited per client address on every backend: past the limit,
//! credentials from that address get 429 with `Retry-After` in each face's error body (the
//! login exchange and every token check alike), requests without one go on, good credentials
//! never count, and the block lifts once the window has passed.

use std::time::Duration;

use shiplog_api::{AttemptLimit, AuthSettings};
use shiplog_tests::{Reply, TestServer, ADMIN_TOKEN, BOT_TOKEN};

const WRONG: &str = "token shiplog_wrong_000000000000000000000000000000000000";

fn limited(
    max: u32,
    window: Duration,
) -> impl Fn(shiplog_api::AppState) -> shiplog_api::AppState + Clone + Send {
    move |state| {
        state.with_auth(AuthSettings {
            failed_attempts: Some(AttemptLimit { max, window }),
            ..AuthSettings::default()
        })
    }
}

fn login(server: &TestServer, auth: &str) -> Reply {
    server.request("POST", "/api/v1/login", &[("Authorization", auth)], None)
}

#[track_caller]
fn retry_after(reply: &Reply, window: Duration) -> u64 {
    reply.expect(429);
    let seconds: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!((1..=window.as_secs()).contains(&seconds), "{seconds}");
    seconds
}

#[test]
fn failed_logins_past_the_limit_get_429_in_every_face_body() {
    let window = Duration::from_secs(600);
    TestServer::each_backend_with(limited(3, window), |server| {
        for _ in 0..3 {
            let refused = login(server, WRONG);
            assert_eq!(refused.expect(401).json()["status"], "failure");
        }
        let blocked = login(server, WRONG);
        retry_after(&blocked, window);
        let body = blocked.json();
        assert_eq!(body["status"], "failure");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Too many failed credential attempts")),
            "{body}"
        );
        // Every credential from the address is refused unchecked now, on every face, in its own
        // body: Balrog's problem+json, Orlo's object, Bileto's ?token=.
        let balrog = server.request(
            "GET",
            "/api/rules",
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            None,
        );
        retry_after(&balrog, window);
        assert_eq!(balrog.json()["status"], 429);
        let orlo = server.request(
            "POST",
            "/releases",
            &[("X-Auth-Token", ADMIN_TOKEN)],
            Some("{}"),
        );
        retry_after(&orlo, window);
        assert!(orlo.json()["message"].is_string(), "{}", orlo.text);
        let bileto = server.request("GET", &format!("/v1/tickets?token={BOT_TOKEN}"), &[], None);
        retry_after(&bileto, window);
        // Requests without a credential go on as before.
        server.request("GET", "/api/rules", &[], None).expect(200);
        server.request("GET", "/ping", &[], None).expect(200);
        server.request("GET", "/livez", &[], None).expect(200);
    });
}

#[test]
fn good_credentials_never_count() {
    TestServer::each_backend_with(limited(2, Duration::from_secs(600)), |server| {
        for _ in 0..10 {
            login(server, &format!("token {ADMIN_TOKEN}")).expect(200);
            server
                .request(
                    "GET",
                    "/api/v1/tokens",
                    &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
                    None,
                )
                .expect(200);
        }
        // One failure is under the limit; good credentials still work after it.
        login(server, WRONG).expect(401);
        login(server, &format!("token {ADMIN_TOKEN}")).expect(200);
    });
}

#[test]
fn failed_token_checks_on_any_face_count_and_the_block_lifts_after_the_window() {
    let window = Duration::from_secs(1);
    TestServer::each_backend_with(limited(2, window), |server| {
        // Bad tokens on writes (Orlo) and a malformed header (Balrog) count like failed logins.
        server
            .request("POST", "/releases", &[("Authorization", WRONG)], Some("{}"))
            .expect(401);
        server
            .request(
                "POST",
                "/api/rules",
                &[
                    ("Authorization", "Bearer"),
                    ("Content-Type", "application/json"),
                ],
                Some("{}"),
            )
            .expect(401);
        retry_after(&login(server, &format!("token {ADMIN_TOKEN}")), window);
        // Once the oldest failure is a window old, credentials are checked again.
        let reply = server.wait_for(Duration::from_secs(10), "the block to lift", || {
            let reply = login(server, &format!("token {ADMIN_TOKEN}"));
            (reply.status != 429).then_some(reply)
        });
        reply.expect(200);
    });
}
