//! Test support: the real shiplog server on a random port over a fresh database, and a small
//! HTTP client that never treats a 4xx as an exception (the tests check error paths as closely
//! as happy ones).

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use serde_json::Value;
use shiplog_api::{AppState, ServerOptions};
use shiplog_storage::testing::TestDb;
use shiplog_storage::Backend;

/// A running server and the database behind it; both go away on drop.
pub struct TestServer {
    pub base: String,
    pub backend: Backend,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    agent: ureq::Agent,
    _db: TestDb,
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
        let store = db.store();
        let backend = store.backend();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let options = ServerOptions {
                    workers: 2,
                    ..ServerOptions::default()
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
            _db: db,
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

    /// Another store on the server's database, as a second shiplog instance would open it.
    pub fn other_instance(&self) -> shiplog_storage::Store {
        self._db.store()
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

    pub fn delete(&self, path: &str) -> Reply {
        Reply::from(self.agent.delete(self.url(path)).call())
    }

    /// POSTs `body` as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, "application/json", &body.to_string())
    }

    /// POSTs with no body and no content type.
    pub fn post_empty(&self, path: &str) -> Reply {
        Reply::from(self.agent.post(self.url(path)).send_empty())
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Reply {
        Reply::from(
            self.agent
                .post(self.url(path))
                .header("Content-Type", content_type)
                .send(body),
        )
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        Reply::from(
            self.agent
                .put(self.url(path))
                .header("Content-Type", "application/json")
                .send(body.to_string().as_str()),
        )
    }

    /// Any request, with extra headers.
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
