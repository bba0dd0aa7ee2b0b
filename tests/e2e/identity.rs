//! Tokens, login, auth modes and the users API over HTTP, on every backend.

use std::sync::{Arc, Mutex};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use shiplog_api::{AuthMode, AuthSettings};
use shiplog_domain::balrog::ChangeTable;
use shiplog_domain::PermissionName;
use shiplog_storage::Backend;
use shiplog_tests::{Reply, TestServer, ADMIN_TOKEN, ALICE_BEARER, BOT_TOKEN};
use time::{Duration, OffsetDateTime};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn with(server: &TestServer, method: &str, path: &str, auth: &str, body: Option<Value>) -> Reply {
    let body = body.map(|b| b.to_string());
    server.request(
        method,
        path,
        &[
            ("Authorization", auth),
            ("Content-Type", "application/json"),
        ],
        body.as_deref(),
    )
}

fn new_token(server: &TestServer, user: &str) -> (i64, String) {
    let reply = with(
        server,
        "POST",
        "/api/v1/tokens",
        &bearer(ADMIN_TOKEN),
        Some(json!({"user": user})),
    );
    let body = reply.expect(201).json();
    assert_eq!(body["status"], "success");
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["data"]["user"], user);
    (
        body["data"]["id"].as_i64().expect("id"),
        body["data"]["token"].as_str().expect("token").to_owned(),
    )
}

fn new_release(server: &TestServer, auth: &str) -> Reply {
    with(
        server,
        "POST",
        "/releases",
        auth,
        Some(json!({"user": "alice", "platforms": ["eu"]})),
    )
}

#[track_caller]
fn unauthorized(reply: &Reply, message: &str) {
    reply.expect(401);
    assert_eq!(reply.json()["message"], message, "{}", reply.text);
}

/// Everything the database holds that could hold a token, as text.
fn stored_text(server: &TestServer) -> String {
    match server.backend {
        Backend::Sqlite => {
            let path = server
                .database_url()
                .strip_prefix("sqlite://")
                .expect("a sqlite URL")
                .to_owned();
            let mut text = String::new();
            for file in [path.clone(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            assert!(text.len() > 1000, "read the database files");
            text
        }
        Backend::Postgres => {
            #[derive(QueryableByName)]
            struct Dump {
                #[diesel(sql_type = diesel::sql_types::Text)]
                dump: String,
            }
            let mut conn = PgConnection::establish(server.database_url()).expect("connect");
            let dumps: Vec<Dump> = diesel::sql_query(
                "SELECT coalesce(string_agg(x, ' '), '') AS dump FROM (
                   SELECT t::text AS x FROM tokens t UNION ALL SELECT u::text FROM users u
                   UNION ALL SELECT p::text FROM permissions p
                   UNION ALL SELECT c::text FROM changes c) s",
            )
            .load(&mut conn)
            .expect("dump");
            dumps.into_iter().map(|d| d.dump).collect()
        }
    }
}

#[test]
fn api_tokens_are_shown_once_hashed_at_rest_and_revoked_at_once() {
    TestServer::each_backend(|server| {
        let (id, token) = new_token(server, "deployer");
        assert!(token.len() >= 32 + 8, "256 random bits, hex, with a prefix");
        // No permission yet: identified, but refused.
        new_release(server, &bearer(&token)).expect(403);
        server
            .put(
                "/api/users/deployer/permissions/ledger",
                &json!({"options": null}),
            )
            .expect(201);
        new_release(server, &bearer(&token)).expect(200);

        let listed = with(server, "GET", "/api/v1/tokens", &bearer(ADMIN_TOKEN), None);
        listed.expect(200);
        assert!(!listed.text.contains(&token), "listings never show secrets");
        assert_eq!(listed.header("x-total-count"), Some("4"));
        let mine = listed.json()["data"]
            .as_array()
            .expect("list")
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .expect("listed");
        assert_eq!(mine["user"], "deployer");
        assert_eq!(mine["revoked_at"], Value::Null);

        let login = server.request(
            "POST",
            "/api/v1/login",
            &[("Authorization", &format!("token {token}"))],
            None,
        );
        let access = login.expect(200).json()["access_token"]
            .as_str()
            .expect("access token")
            .to_owned();

        let stored = stored_text(server);
        assert!(
            !stored.contains(&token),
            "no API token text in the database"
        );
        assert!(
            !stored.contains(&access),
            "no access token text in the database"
        );
        assert!(!stored.contains(ADMIN_TOKEN));

        let revoked = with(
            server,
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            &bearer(ADMIN_TOKEN),
            None,
        );
        assert!(revoked.expect(200).json()["data"]["revoked_at"].is_string());
        unauthorized(
            &new_release(server, &bearer(&token)),
            "The token has been revoked",
        );
        unauthorized(
            &new_release(server, &bearer(&access)),
            "The token has been revoked",
        );
        let unknown = with(
            server,
            "DELETE",
            "/api/v1/tokens/99999",
            &bearer(ADMIN_TOKEN),
            None,
        );
        assert_eq!(
            unknown.expect(404).json()["errors"][0]["code"],
            "unknown-token"
        );
        let bad = with(
            server,
            "POST",
            "/api/v1/tokens",
            &bearer(ADMIN_TOKEN),
            Some(json!({"user": "no spaces"})),
        );
        assert_eq!(bad.expect(400).json()["errors"][0]["code"], "bad-request");
        let bad = server.request(
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &bearer(ADMIN_TOKEN))],
            Some("{"),
        );
        assert_eq!(bad.expect(400).json()["errors"][0]["code"], "bad-json");
    });
}

/// A server keeps the credentials it checked in memory; changes made elsewhere (another
/// instance, the CLI) reach it through the database's identity counter, within the refresh
/// interval (250 ms by default), not at the next restart.
#[test]
fn changes_made_by_another_instance_reach_a_server_that_cached_the_token() {
    TestServer::each_backend(|server| {
        let (id, token) = new_token(server, "releaser");
        server
            .put(
                "/api/users/releaser/permissions/ledger",
                &json!({"options": null}),
            )
            .expect(201);
        // Checked (and kept) by the server.
        new_release(server, &bearer(&token)).expect(200);
        new_release(server, &bearer(&token)).expect(200);

        // Another instance takes the permission away: refused here soon after.
        let other = server.other_instance();
        let user = shiplog_domain::UserName::parse("releaser").expect("name");
        let current = other
            .find_permission(&user, PermissionName::Ledger)
            .expect("read")
            .expect("held");
        let started = std::time::Instant::now();
        other
            .delete_permission(
                &user,
                PermissionName::Ledger,
                current.data_version,
                "elsewhere",
                OffsetDateTime::now_utc(),
            )
            .expect("taken away elsewhere");
        server.wait_for(std::time::Duration::from_secs(10), "the 403", || {
            (new_release(server, &bearer(&token)).status == 403).then_some(())
        });
        let taken = started.elapsed();

        // And revokes the token: 401 soon after.
        other
            .revoke_api_token(id, OffsetDateTime::now_utc())
            .expect("revoke")
            .expect("exists");
        server.wait_for(std::time::Duration::from_secs(10), "the 401", || {
            (new_release(server, &bearer(&token)).status == 401).then_some(())
        });
        unauthorized(
            &new_release(server, &bearer(&token)),
            "The token has been revoked",
        );
        eprintln!("a permission taken away elsewhere was refused here after {taken:?}");
    });
}

#[test]
fn login_exchanges_an_api_token_for_a_short_lived_one_that_expires() {
    let clock = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
    let time = clock.clone();
    let settings = move |state: shiplog_api::AppState| {
        let time = time.clone();
        state.with_auth(AuthSettings {
            access_token_lifetime: Duration::minutes(5),
            clock: Arc::new(move || *time.lock().expect("clock")),
            ..AuthSettings::default()
        })
    };
    TestServer::each_backend_with(settings, |server| {
        let login = server.request(
            "POST",
            "/api/v1/login",
            &[("Authorization", &format!("token {ADMIN_TOKEN}"))],
            Some(""),
        );
        let answer = login.expect(200).json();
        assert_eq!(answer["token_type"], "bearer");
        assert_eq!(answer["expires_in"], 300);
        assert!(
            answer.get("status").is_none(),
            "sent raw, as OrderlyWeb does"
        );
        let access = answer["access_token"].as_str().expect("token").to_owned();
        new_release(server, &bearer(&access)).expect(200);
        // Orlo's header takes it too.
        server
            .request(
                "POST",
                "/releases",
                &[
                    ("X-Auth-Token", &access),
                    ("Content-Type", "application/json"),
                ],
                Some(r#"{"user": "u", "platforms": ["p"]}"#),
            )
            .expect(200);

        let refused = server.request(
            "POST",
            "/api/v1/login",
            &[("Authorization", &format!("token {access}"))],
            None,
        );
        assert_eq!(
            refused.expect(401).json()["errors"][0]["code"],
            "api-token-invalid"
        );
        for auth in [
            None,
            Some("token nonsense-that-is-long-enough-to-be-a-token-0000"),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("Authorization", a)).into_iter().collect();
            let reply = server.request("POST", "/api/v1/login", &headers, None);
            let body = reply.expect(401).json();
            assert_eq!(body["status"], "failure");
            assert_eq!(body["errors"][0]["code"], "api-token-invalid");
        }

        *clock.lock().expect("clock") += Duration::minutes(5);
        unauthorized(
            &new_release(server, &bearer(&access)),
            "Token has expired. Please request a new one.",
        );
        let expired = with(server, "GET", "/api/v1/tokens", &bearer(&access), None);
        let body = expired.expect(401).json();
        assert_eq!(body["errors"][0]["code"], "bearer-token-invalid");
        assert_eq!(
            body["errors"][0]["message"],
            "Token has expired. Please request a new one."
        );
        // The API token itself does not expire.
        new_release(server, &bearer(ADMIN_TOKEN)).expect(200);
    });
}

#[test]
fn malformed_and_unknown_credentials_are_401s_in_each_faces_body() {
    TestServer::each_backend(|server| {
        let unknown = format!("Bearer shiplog_{}", "f".repeat(64));
        for auth in [
            "Digest abc",
            "Bearer",
            "Basic !!!",
            unknown.as_str(),
            "Bearer short",
        ] {
            let orlo = new_release(server, auth);
            orlo.expect(401);
            assert_eq!(orlo.json()["error"], "not_authorized");
            let balrog = with(server, "POST", "/api/rules", auth, Some(json!({})));
            balrog.expect(401);
            assert_eq!(balrog.json()["detail"], "Login Required");
            assert_eq!(balrog.header("www-authenticate"), Some("Bearer"));
            let native = with(server, "GET", "/api/v1/tokens", auth, None);
            assert_eq!(
                native.expect(401).json()["errors"][0]["code"],
                "bearer-token-invalid"
            );
        }
        // Basic must name the token's own user.
        let basic = |user: &str| format!("Basic {}", base64(&format!("{user}:{ADMIN_TOKEN}")));
        new_release(server, &basic("admin")).expect(200);
        unauthorized(
            &new_release(server, &basic("alice")),
            "The token does not belong to the user named",
        );
    });
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn mode(mode: AuthMode) -> impl Fn(shiplog_api::AppState) -> shiplog_api::AppState + Clone + Send {
    move |state| {
        state.with_auth(AuthSettings {
            mode,
            ..AuthSettings::default()
        })
    }
}

#[test]
fn auth_all_refuses_anonymous_reads_in_each_faces_body() {
    TestServer::each_backend_with(mode(AuthMode::All), |server| {
        let orlo = server.get("/releases");
        assert_eq!(orlo.expect(401).json()["error"], "not_authorized");
        let balrog = server.get("/api/rules");
        assert_eq!(balrog.expect(401).json()["detail"], "Login Required");
        let bileto = server.get("/v1/tickets");
        assert_eq!(bileto.expect(401).json()["error"], "missing_token");
        let native = server.get("/api/v1/tokens");
        assert_eq!(
            native.expect(401).json()["errors"][0]["code"],
            "bearer-token-invalid"
        );
        for open in ["/ping", "/openapi.json"] {
            server.get(open).expect(200);
        }
        let admin = bearer(ADMIN_TOKEN);
        server
            .request("GET", "/api/rules", &[("Authorization", &admin)], None)
            .expect(200);
        server
            .get(&format!("/v1/tickets?token={BOT_TOKEN}"))
            .expect(200);
        // Writes still go through the permission check.
        new_release(server, &bearer(BOT_TOKEN)).expect(403);
        new_release(server, &admin).expect(200);
    });
}

#[test]
fn auth_off_lets_anyone_write_as_anonymous() {
    TestServer::each_backend_with(mode(AuthMode::Off), |server| {
        let anonymous = |method: &str, path: &str, body: Value| {
            server.request(
                method,
                path,
                &[("Content-Type", "application/json")],
                Some(&body.to_string()),
            )
        };
        anonymous(
            "POST",
            "/releases",
            json!({"user": "u", "platforms": ["p"]}),
        )
        .expect(200);
        let blob = json!({"name": "R1", "schema_version": 1, "hashFunction": "sha512"});
        anonymous(
            "POST",
            "/api/releases",
            json!({"name": "R1", "product": "Firefox", "blob": blob.to_string()}),
        )
        .expect(201);
        let revisions = server.get("/api/releases/R1/revisions").json();
        assert_eq!(revisions["revisions"][0]["changed_by"], "anonymous");
        anonymous("POST", "/v1/tickets", json!({"description": "d"})).expect(201);
        // A credential still names its user, and a bad one is still refused.
        let blob = json!({"name": "R2", "schema_version": 1, "hashFunction": "sha512"});
        with(
            server,
            "POST",
            "/api/releases",
            &bearer(BOT_TOKEN),
            Some(json!({"name": "R2", "product": "Firefox", "blob": blob.to_string()})),
        )
        .expect(201);
        let revisions = server.get("/api/releases/R2/revisions").json();
        assert_eq!(revisions["revisions"][0]["changed_by"], "bot");
        new_release(server, "Bearer nonsense").expect(401);
    });
}

#[test]
fn users_and_permissions_read_and_write_like_balrog() {
    TestServer::each_backend(|server| {
        let users = server.get("/api/users").expect(200).json();
        assert_eq!(
            users,
            json!({"admin": {"roles": []}, "alice": {"roles": []}, "bot": {"roles": []}})
        );
        let alice = [("Authorization", ALICE_BEARER)];
        let current = server.request("GET", "/api/users/current", &alice, None);
        let current = current.expect(200).json();
        assert_eq!(current["username"], "alice");
        assert_eq!(
            current["permissions"],
            json!({"admin": {"data_version": 1, "options": null}})
        );
        // Balrog shows one user's roles as an object keyed by role (none yet).
        assert_eq!(current["roles"], json!({}));
        server.get("/api/users/current").expect(401);
        let bot = bearer(BOT_TOKEN);
        server
            .request("GET", "/api/users/alice", &[("Authorization", &bot)], None)
            .expect(403);
        server
            .request("GET", "/api/users/bot", &[("Authorization", &bot)], None)
            .expect(200);
        server
            .request("GET", "/api/users/nobody", &alice, None)
            .expect(404);

        let put = |path: &str, body: Value| {
            server.request(
                "PUT",
                path,
                &[alice[0], ("Content-Type", "application/json")],
                Some(&body.to_string()),
            )
        };
        let path = "/api/users/carol/permissions/release";
        let options = json!({"products": ["Firefox"], "actions": ["create"]}).to_string();
        let created = put(path, json!({"options": options}));
        assert_eq!(created.expect(201).json(), json!({"new_data_version": 1}));
        let one = server.get(path);
        assert_eq!(one.expect(200).header("x-data-version"), Some("1"));
        assert_eq!(
            one.json(),
            json!({"data_version": 1, "options": {"products": ["Firefox"], "actions": ["create"]}})
        );
        assert_eq!(
            server
                .get("/api/users/carol/permissions")
                .expect(200)
                .json(),
            json!({"release": {"data_version": 1, "options": {"products": ["Firefox"], "actions": ["create"]}}})
        );
        assert_eq!(
            server
                .get("/api/users/nobody/permissions")
                .expect(200)
                .json(),
            json!({})
        );
        server.get("/api/users/carol/permissions/rule").expect(404);

        let problem = |reply: Reply, status: u16, detail: &str| {
            reply.expect(status);
            assert_eq!(reply.json()["detail"], detail, "{}", reply.text);
        };
        problem(
            put(path, json!({"options": null})),
            400,
            "data_version field is missing",
        );
        problem(
            put(path, json!({"options": null, "data_version": 7})),
            400,
            "OutdatedDataError",
        );
        problem(
            put(
                path,
                json!({"options": json!({"colour": 1}).to_string(), "data_version": 1}),
            ),
            400,
            "options: Invalid option 'colour' for permission 'release'",
        );
        problem(
            put(
                path,
                json!({"options": json!({"actions": ["enact"]}).to_string(), "data_version": 1}),
            ),
            400,
            "options: Invalid action 'enact' for permission 'release'",
        );
        problem(
            put("/api/users/carol/permissions/superuser", json!({})),
            400,
            "'superuser' is not one of ['admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission', 'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket', 'webhook', 'pinnable_release']",
        );
        problem(put("/api/users/no%20one/permissions/rule", json!({})), 400, "username: \"no one\" is not a valid user name: use 1 to 100 letters, digits and . _ @ + -");
        let not_json = put(path, json!({"options": "{not json"}));
        not_json.expect(400);
        assert!(not_json.json()["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("options: Not a valid json.")));
        let changed = put(path, json!({"options": null, "data_version": 1}));
        assert_eq!(changed.expect(200).json(), json!({"new_data_version": 2}));

        let post = server.request(
            "POST",
            "/api/users/carol/permissions/rule",
            &[alice[0], ("Content-Type", "application/json")],
            Some(r#"{"options": null, "data_version": 1}"#),
        );
        problem(post, 404, "Requested permission does not exist");
        let delete =
            |query: &str| server.request("DELETE", &format!("{path}{query}"), &alice, None);
        problem(delete(""), 400, "Missing query parameter 'data_version'");
        problem(delete("?data_version=1"), 400, "OutdatedDataError");
        delete("?data_version=2").expect(200);
        server.get(path).expect(404);

        let history = server
            .store()
            .list_revisions(ChangeTable::Permissions, "carol/release", 10, 0)
            .expect("history");
        assert_eq!(history.total, 2);
        assert!(history.changes.iter().all(|c| c.changed_by == "alice"));
        let viewed = server.get(&format!(
            "/api/history/view/permission/{}/changed_by",
            history.changes[0].change_id
        ));
        assert_eq!(viewed.expect(200).text, "alice");
        // Another user's page needs `permission` with `view`.
        let viewer = server.user_with(
            "viewer",
            &[(PermissionName::Permission, json!({"actions": ["view"]}))],
        );
        server
            .request(
                "GET",
                "/api/users/alice",
                &[("Authorization", &bearer(&viewer))],
                None,
            )
            .expect(200);
    });
}
