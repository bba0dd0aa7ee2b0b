//! The real `shiplog` process as an operator runs it, on every backend under test: graceful
//! shutdown on SIGTERM and Ctrl-C, and JSON log lines a collector can parse.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use shiplog_storage::testing::TestDb;

mod common;

const TOKEN: &str = "shiplog_ops_test_000000000000000000000000000000000";

/// A `shiplog serve` process, killed when dropped (also when a test fails half-way).
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(db: &TestDb, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shiplog"))
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
            .args(["--database-url", db.url()])
            .args(extra)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .env("SHIPLOG_BOOTSTRAP_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shiplog starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("address line");
        let address = line
            .trim()
            .strip_prefix("shiplog listening on http://")
            .unwrap_or_else(|| panic!("announces its address: {line:?}"))
            .to_owned();
        Server { child, address }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, failing the test after `limit`.
    fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "shiplog still runs after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut text).expect("stderr");
        }
        text
    }

    /// Waits until a new connection is refused: the listener is closed.
    fn wait_refusing(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&self.address).is_ok() {
            assert!(Instant::now() < deadline, "still accepting connections");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts an import and returns once the server is reading it (it answered the head's
/// `Expect: 100-continue`), with half the body sent: the connection and the other half.
fn import_half_sent(server: &Server) -> (TcpStream, Vec<u8>) {
    let releases: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"platforms":["eu"],"user":"u","team":"t","references":[],"packages":[{{"name":"web","version":"{i}"}}]}}"#
            )
        })
        .collect();
    let body = format!("[{}]", releases.join(","));
    let mut stream = TcpStream::connect(&server.address).expect("connects");
    write!(
        stream,
        "POST /releases/import HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .expect("head");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut interim = String::new();
    reader.read_line(&mut interim).expect("an interim answer");
    assert!(interim.starts_with("HTTP/1.1 100 "), "{interim}");
    let mut blank = String::new();
    reader.read_line(&mut blank).expect("its end");
    assert_eq!(blank, "\r\n");
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(first).expect("first half");
    (stream, rest.to_vec())
}

fn drains_in_flight_request_on(signal: &str) {
    for db in TestDb::all() {
        eprintln!("--- {signal} on {}", db.backend().name());
        let mut server = Server::start(&db, &["--shutdown-timeout", "30"]);
        let (mut stream, rest) = import_half_sent(&server);
        server.signal(signal);
        server.wait_refusing();
        let sent = stream.write_all(&rest);
        let mut answer = String::new();
        let read = stream.read_to_string(&mut answer);
        if sent.is_err() || read.is_err() || !answer.starts_with("HTTP/1.1 200 ") {
            let _ = server.child.kill();
            panic!("{sent:?} {read:?} {answer}\n{}", server.log());
        }
        let status = server.exit_within(Duration::from_secs(30));
        assert!(status.success(), "exit status {status:?}");
        let log = server.log();
        assert!(log.contains(&format!("{signal} received")), "{log}");
        assert!(log.contains("stopped"), "{log}");
        // The import was written whole.
        let stored = db
            .store()
            .count_releases(&shiplog_storage::ReleaseFilter::default())
            .expect("count");
        assert_eq!(stored, 200);
    }
}

#[test]
fn sigterm_drains_a_request_in_flight_refuses_new_connections_and_exits_0() {
    drains_in_flight_request_on("TERM");
}

#[test]
fn ctrl_c_drains_like_sigterm() {
    drains_in_flight_request_on("INT");
}

#[test]
fn the_drain_is_bounded_by_the_shutdown_timeout() {
    let db = TestDb::sqlite();
    let mut server = Server::start(&db, &["--shutdown-timeout", "1"]);
    // A client that never sends the rest of its body.
    let (_stalled, _) = import_half_sent(&server);
    let asked = Instant::now();
    server.signal("TERM");
    let status = server.exit_within(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "waited for the request: {took:?}"
    );
}

#[test]
fn json_log_lines_parse_and_carry_the_request_fields() {
    for db in TestDb::all() {
        eprintln!("--- on {}", db.backend().name());
        let mut server = Server::start(&db, &["--log-format", "json"]);
        for (path, id) in [("/ping", "ops-json-1"), ("/api/rules/424242", "ops-json-2")] {
            let mut stream = TcpStream::connect(&server.address).expect("connects");
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: t\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"
            )
            .expect("request");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("answer");
        }
        server.signal("TERM");
        assert!(server.exit_within(Duration::from_secs(30)).success());
        let log = server.log();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect();
        for line in &lines {
            for key in ["ts", "level", "target", "message"] {
                assert!(line[key].is_string(), "{key} in {line}");
            }
        }
        let access = |id: &str| {
            lines
                .iter()
                .find(|l| l["target"] == "shiplog::access" && l["request_id"] == id)
                .unwrap_or_else(|| panic!("an access line for {id} in {log}"))
                .clone()
        };
        let ping = access("ops-json-1");
        assert_eq!(ping["status"], 200);
        assert_eq!(ping["face"], "orlo");
        assert_eq!(ping["route"], "/ping");
        assert_eq!(ping["method"], "GET");
        assert!(
            ping["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{ping}"
        );
        let missing = access("ops-json-2");
        assert_eq!(missing["status"], 404);
        assert_eq!(missing["face"], "balrog");
        assert_eq!(missing["route"], "/api/rules/{id_or_alias}");
    }
}

fn shiplog(args: &[&str]) -> std::process::Output {
    common::shiplog().args(args).output().expect("shiplog runs")
}

fn temp_dir() -> std::path::PathBuf {
    common::temp_dir("ops")
}

#[test]
fn completions_are_scripts_each_shell_reads() {
    for shell in ["bash", "zsh", "fish"] {
        let out = shiplog(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).expect("text");
        for word in ["serve", "backup", "cors-origin", "shutdown-timeout"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
        // Where the shell is installed, it must at least parse the script.
        let check = match shell {
            "bash" | "zsh" => Command::new(shell).arg("-n").stdin(Stdio::piped()).spawn(),
            _ => Command::new(shell)
                .arg("--no-execute")
                .stdin(Stdio::piped())
                .spawn(),
        };
        if let Ok(mut child) = check {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())
                .expect("script");
            assert!(child.wait().expect("runs").success(), "{shell} parses it");
        } else {
            eprintln!("{shell} is not installed: its script was not parsed");
        }
    }
    let unknown = shiplog(&["completions", "tcsh"]);
    assert!(!unknown.status.success());
}

fn release(i: usize) -> shiplog_domain::NewRelease {
    shiplog_domain::NewRelease::new(
        &format!("writer{i}"),
        vec!["eu".to_owned()],
        time::OffsetDateTime::now_utc(),
    )
    .expect("a valid release")
}

fn integrity(path: &std::path::Path) -> String {
    use diesel::{Connection, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).expect("opens");
    diesel::sql_query("PRAGMA integrity_check")
        .get_result::<Check>(&mut conn)
        .expect("checks")
        .integrity_check
}

#[test]
fn sqlite_backups_are_consistent_while_writes_go_on() {
    let dir = temp_dir();
    let live = dir.join("live.db");
    let url = format!("sqlite://{}", live.display());
    assert!(shiplog(&["migrate", "--database-url", &url])
        .status
        .success());
    let store = shiplog_storage::Store::connect(&url, &shiplog_storage::PoolOptions::default())
        .expect("store");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let batch: Vec<_> = (0..50).map(|i| release(written + i)).collect();
                store.import_releases(&batch).expect("a write");
                written += batch.len();
            }
            written
        })
    };
    let count = |store: &shiplog_storage::Store| {
        store
            .count_releases(&shiplog_storage::ReleaseFilter::default())
            .expect("count")
    };
    let mut seen = Vec::new();
    for n in 0..3 {
        let before = count(&store);
        let file = dir.join(format!("backup-{n}.db"));
        let out = shiplog(&[
            "backup",
            file.to_str().expect("utf-8"),
            "--database-url",
            &url,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = count(&store);
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("backed up "));
        assert_eq!(integrity(&file), "ok");
        assert!(!dir.join(format!("backup-{n}.db.partial")).exists());
        // A whole shiplog database, holding one moment between the two counts: whole imports
        // of 50 only.
        let copy = shiplog_storage::Store::connect(
            &format!("sqlite://{}", file.display()),
            &shiplog_storage::PoolOptions::default(),
        )
        .expect("the copy opens");
        assert!(copy.is_initialized().expect("initialized"));
        let copied = count(&copy);
        assert!(
            (before..=after).contains(&copied),
            "{before} <= {copied} <= {after}"
        );
        assert_eq!(copied % 50, 0, "only whole imports: {copied}");
        seen.push(copied);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().expect("writer");
    assert!(written > 0);
    // Writes went on during the backups.
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

    // A backup never overwrites a file.
    let taken = dir.join("backup-0.db");
    let again = shiplog(&[
        "backup",
        taken.to_str().expect("utf-8"),
        "--database-url",
        &url,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn backup_of_postgres_points_to_pg_dump_and_fails() {
    let out = shiplog(&[
        "backup",
        "never-written.db",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
    ]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("pg_dump"), "{text}");
    assert!(!std::path::Path::new("never-written.db").exists());
}

#[test]
fn a_postgres_host_that_never_answers_fails_within_the_connect_timeout() {
    // Accepts connections (the kernel completes the handshake) and never says a word, like a
    // host behind a firewall that drops the server's packets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let started = Instant::now();
    let out = shiplog(&[
        "migrate",
        "--database-url",
        &format!("postgres://nobody@127.0.0.1:{port}/none"),
    ]);
    let took = started.elapsed();
    assert!(!out.status.success());
    let seconds = u64::from(shiplog_storage::CONNECT_TIMEOUT_SECONDS);
    assert!(took < Duration::from_secs(seconds * 3), "took {took:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("timeout") || text.contains("timed out"),
        "{text}"
    );
    drop(silent);
}
