//! Test support: the real shiplog server on a random port over a fresh database, and a small
//! HTTP client that never treats a 4xx as an exception (the tests check error paths as closely
//! as happy ones).
//!
//! Every server runs with authentication on (`--auth writes`, the default) and starts with
//! three users whose tokens the tests know: `admin` (made by the same bootstrap as a first
//! start, with [`ADMIN_TOKEN`] as `SHIPLOG_BOOTSTRAP_TOKEN`), `alice` (also an admin) and `bot`
//! (only the `ticket` permission, as a Bileto bot would have). Unless a test says otherwise, the
//! client's writes (`post`, `put`, `delete`, …) carry the admin's token; [`TestServer::request`]
//! sends exactly the headers it is given, for tests about credentials.

pub mod webdriver;

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use serde_json::Value;
use shiplog_api::{AppState, ServerOptions};
use shiplog_domain::{PermissionName, PermissionOptions, UserName};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{Backend, Secret, Store};
use time::OffsetDateTime;

/// The bootstrap admin's token.
pub const ADMIN_TOKEN: &str = "shiplog_test_admin_00000000000000000000000000000000";
/// `alice`: an admin, who Balrog tests write as.
pub const ALICE_TOKEN: &str = "shiplog_test_alice_00000000000000000000000000000000";
pub const ALICE_BEARER: &str = "Bearer shiplog_test_alice_00000000000000000000000000000000";
/// `bot`: holds only `ticket` (Bileto's `?token=`).
pub const BOT_TOKEN: &str = "shiplog_test_bot_0000000000000000000000000000000000";

fn secret(text: &str) -> Secret {
    Secret::parse(text).expect("a well-formed test token")
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("a valid user name")
}

/// The users every test server starts with (see the module documentation).
fn seed_users(store: &Store) {
    let now = OffsetDateTime::now_utc();
    store
        .bootstrap_admin(Some(secret(ADMIN_TOKEN)), now)
        .expect("bootstrap")
        .expect("a fresh database has no users");
    store
        .add_api_token(&user("alice"), secret(ALICE_TOKEN), true, "test", now)
        .expect("alice");
    let bot = user("bot");
    store
        .add_api_token(&bot, secret(BOT_TOKEN), false, "test", now)
        .expect("bot");
    store
        .put_permission(
            &bot,
            PermissionName::Ticket,
            &PermissionOptions::default(),
            None,
            "test",
            now,
        )
        .expect("bot's permission");
}

/// A running server and the database behind it; both go away on drop.
pub struct TestServer {
    pub base: String,
    pub backend: Backend,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    agent: ureq::Agent,
    /// Sent as `Authorization: Bearer` with writes that carry no credential of their own.
    default_token: Option<String>,
    store: Store,
    /// The database, dropped with the server that made it (`None` for a second instance).
    db: Option<TestDb>,
}

impl TestServer {
    /// Starts the real HTTP service (the one `shiplog serve` starts) over `db`.
    pub fn start(db: TestDb) -> TestServer {
        TestServer::start_with(db, |state| state)
    }

    /// Like [`TestServer::start`], with settings the binary would take from its configuration
    /// (e.g. `|state| state.with_bileto_token("t")`).
    pub fn start_with(
        db: TestDb,
        configure: impl FnOnce(AppState) -> AppState + Send + 'static,
    ) -> TestServer {
        TestServer::start_with_options(db, ServerOptions::default(), configure)
    }

    /// Like [`TestServer::start_with`], also with the server's options (`workers` is always 2).
    pub fn start_with_options(
        db: TestDb,
        options: ServerOptions,
        configure: impl FnOnce(AppState) -> AppState + Send + 'static,
    ) -> TestServer {
        let store = db.store();
        seed_users(&store);
        TestServer::serve(store, Some(db), options, configure)
    }

    /// A second server on this server's database, as a second shiplog instance runs: a store
    /// of its own (its own pool and caches) behind its own HTTP service, taking the same
    /// credentials. The database stays the first server's.
    pub fn second_instance(&self) -> TestServer {
        TestServer::serve(
            self.other_instance(),
            None,
            ServerOptions::default(),
            |state| state,
        )
    }

    fn serve(
        store: Store,
        db: Option<TestDb>,
        options: ServerOptions,
        configure: impl FnOnce(AppState) -> AppState + Send + 'static,
    ) -> TestServer {
        let kept = store.clone();
        let backend = store.backend();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let options = ServerOptions {
                    workers: 2,
                    ..options
                };
                let server = shiplog_api::run(listener, configure(AppState::new(store)), options)
                    .expect("server starts");
                tx.send(server.handle()).expect("test is waiting");
                server.await.expect("server runs");
            });
        });
        let handle = rx.recv().expect("server handle");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        TestServer {
            base,
            backend,
            handle,
            thread: Some(thread),
            agent,
            default_token: Some(ADMIN_TOKEN.to_owned()),
            store: kept,
            db,
        }
    }

    /// The database's URL, for tests that look at the bytes stored.
    pub fn database_url(&self) -> &str {
        self.db().url()
    }

    /// The store behind the server, for tests that look at what is stored.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes `name` a user with `permission` (options as Balrog's JSON object, or null) and a
    /// new API token, and returns the token.
    pub fn user_with(&self, name: &str, grants: &[(PermissionName, Value)]) -> String {
        let now = OffsetDateTime::now_utc();
        let name = user(name);
        let issued = self
            .store
            .create_api_token(&name, false, "test", now)
            .expect("token");
        for (permission, options) in grants {
            let options = PermissionOptions::parse(*permission, options).expect("valid options");
            self.store
                .put_permission(&name, *permission, &options, None, "test", now)
                .expect("permission");
        }
        issued.secret.expose().to_owned()
    }

    /// One server per backend whose client sends no credential unless told to (for faces whose
    /// tests pass their own, like Bileto's `?token=`).
    pub fn each_backend_anonymous(test: impl Fn(&TestServer)) {
        for db in TestDb::all() {
            let mut server = TestServer::start(db);
            server.default_token = None;
            eprintln!("--- on {}", server.backend.name());
            test(&server);
        }
    }

    /// One server per backend under test (SQLite always; PostgreSQL when
    /// SHIPLOG_TEST_DATABASE_URL is set).
    pub fn each_backend(test: impl Fn(&TestServer)) {
        for db in TestDb::all() {
            let server = TestServer::start(db);
            eprintln!("--- on {}", server.backend.name());
            test(&server);
        }
    }

    /// [`TestServer::each_backend`] with configured settings (see [`TestServer::start_with`]).
    pub fn each_backend_with(
        configure: impl Fn(AppState) -> AppState + Clone + Send + 'static,
        test: impl Fn(&TestServer),
    ) {
        for db in TestDb::all() {
            let server = TestServer::start_with(db, configure.clone());
            eprintln!("--- on {}", server.backend.name());
            test(&server);
        }
    }

    /// [`TestServer::each_backend_with`] with server options too.
    pub fn each_backend_with_options(
        options: &ServerOptions,
        configure: impl Fn(AppState) -> AppState + Clone + Send + 'static,
        test: impl Fn(&TestServer),
    ) {
        for db in TestDb::all() {
            let server = TestServer::start_with_options(db, options.clone(), configure.clone());
            eprintln!("--- on {}", server.backend.name());
            test(&server);
        }
    }

    /// Another store on the server's database, as a second shiplog instance would open it.
    pub fn other_instance(&self) -> shiplog_storage::Store {
        self.db().store()
    }

    fn db(&self) -> &TestDb {
        self.db
            .as_ref()
            .expect("the first server's database (a second instance has none of its own)")
    }

    /// Repeats `probe` until it returns `Some`, or fails the test after `limit`: for changes
    /// the server takes up on its own schedule (no fixed sleeps).
    #[track_caller]
    pub fn wait_for<T>(
        &self,
        limit: std::time::Duration,
        what: &str,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(value) = probe() {
                return value;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::yield_now();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> Reply {
        Reply::from(self.agent.get(self.url(path)).call())
    }

    /// The `Authorization` value a write without a credential of its own carries.
    fn auth(&self) -> Option<String> {
        self.default_token.as_ref().map(|t| format!("Bearer {t}"))
    }

    pub fn delete(&self, path: &str) -> Reply {
        let mut request = self.agent.delete(self.url(path));
        if let Some(auth) = self.auth() {
            request = request.header("Authorization", auth);
        }
        Reply::from(request.call())
    }

    /// POSTs `body` as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, "application/json", &body.to_string())
    }

    /// POSTs with no body and no content type.
    pub fn post_empty(&self, path: &str) -> Reply {
        let mut request = self.agent.post(self.url(path));
        if let Some(auth) = self.auth() {
            request = request.header("Authorization", auth);
        }
        Reply::from(request.send_empty())
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Content-Type", content_type);
        if let Some(auth) = self.auth() {
            request = request.header("Authorization", auth);
        }
        Reply::from(request.send(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        let mut request = self
            .agent
            .put(self.url(path))
            .header("Content-Type", "application/json");
        if let Some(auth) = self.auth() {
            request = request.header("Authorization", auth);
        }
        Reply::from(request.send(body.to_string().as_str()))
    }

    /// Any request, with exactly these headers (no default credential).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body.unwrap_or_default().to_owned())
            .expect("valid request");
        Reply::from(self.agent.run(request))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Reply {
    fn from(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = result.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = response
            .body_mut()
            .read_to_string()
            .expect("a readable body");
        Reply {
            status,
            headers,
            text,
        }
    }

    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
}
