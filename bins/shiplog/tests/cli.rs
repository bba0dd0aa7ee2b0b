//! The real `shiplog` binary: help, migrate, import and serve, as an operator runs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn shiplog() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shiplog"));
    cmd.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    cmd
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("shiplog-cli-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn help_explains_every_command() {
    let out = shiplog().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "import", "release ledger"] {
        assert!(text.contains(word), "help mentions {word}: {text}");
    }
    let serve = shiplog().args(["serve", "--help"]).output().expect("runs");
    let text = String::from_utf8_lossy(&serve.stdout);
    for flag in [
        "--listen",
        "SHIPLOG_LISTEN",
        "--database-url",
        "DATABASE_URL",
    ] {
        assert!(text.contains(flag), "serve help mentions {flag}");
    }
}

#[test]
fn migrate_import_then_serve() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("ledger.db").display());
    let migrate = shiplog()
        .args(["migrate", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let file = dir.join("releases.json");
    std::fs::write(&file, r#"[{"user": "alice", "platforms": ["eu"], "packages": [{"name": "web", "version": "2.1", "status": "SUCCESSFUL"}]}]"#)
        .expect("fixture");
    let import = shiplog()
        .args(["import", "--quiet", "--database-url", &db])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&import.stdout).trim(),
        format!("imported 1 releases from {}", file.display())
    );

    let bad = shiplog()
        .args(["migrate", "--database-url", "mysql://nope/db"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported database URL"));

    let mut server = shiplog()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--database-url",
            &db,
        ])
        .stdout(Stdio::piped())
        // The first start logs the new admin token; this test has no use for it.
        .stderr(Stdio::null())
        .spawn()
        .expect("serves");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let address = line
        .trim()
        .strip_prefix("shiplog listening on http://")
        .expect("announces its address")
        .to_owned();
    let mut stream = TcpStream::connect(&address).expect("connects");
    stream
        .write_all(b"GET /info/packages/versions HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    server.kill().expect("stops");
    let _ = server.wait();
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    assert!(response.ends_with(r#"{"web":"2.1"}"#), "{response}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rules_eval_answers_offline_from_a_file_and_from_the_database() {
    let dir = temp_dir();
    let file = dir.join("rules.json");
    std::fs::write(
        &file,
        r#"{"rules": [
            {"rule_id": 7, "priority": 90, "backgroundRate": 50, "update_type": "minor",
             "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0",
             "product": "Firefox", "channel": "release*"},
            {"priority": 10, "backgroundRate": 100, "update_type": "minor",
             "mapping": "Firefox-60.0", "product": "Firefox"}
        ], "emergency_shutoffs": [{"product": "Firefox", "channel": "beta"}]}"#,
    )
    .expect("fixture");
    let eval = |extra: &[&str]| {
        let mut args = vec!["rules", "eval", "--rules", file.to_str().expect("path")];
        args.extend_from_slice(extra);
        let out = shiplog().args(&args).output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = eval(&[
        "--product",
        "Firefox",
        "--version",
        "60.0",
        "--channel",
        "release-cck-x",
        "--roll",
        "10",
    ]);
    assert!(ok, "{stderr}");
    let data: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(data["rule_id"], 7);
    assert_eq!(data["mapping"], "Firefox-61.0");
    let (_, stdout, _) = eval(&[
        "--query",
        "product=Firefox",
        "--query",
        "version=60.0",
        "--query",
        "channel=release",
        "--roll",
        "90",
    ]);
    let data: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        data["mapping"], "Firefox-60.0",
        "the dice sent it to the fallback"
    );
    let (_, stdout, _) = eval(&[
        "--product",
        "Firefox",
        "--version",
        "60.0",
        "--channel",
        "beta",
    ]);
    let data: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(data["rule_id"], serde_json::Value::Null);
    assert!(data["reason"]
        .as_str()
        .is_some_and(|r| r.contains("shut off")));
    let (ok, _, stderr) = eval(&["--product", "Firefox", "--version", "sixty"]);
    assert!(!ok);
    assert!(stderr.contains("Invalid version"), "{stderr}");

    // Against a database: a fresh one has no rules.
    let db = format!("sqlite://{}", dir.join("rules.db").display());
    let out = shiplog()
        .args([
            "rules",
            "eval",
            "--database-url",
            &db,
            "--product",
            "Firefox",
            "--version",
            "60.0",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(data["reason"], "no rule matches the query");
}

/// One raw HTTP/1.0 exchange.
fn http(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// A spawned server, killed when dropped (also when a test fails half-way).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(db: &str, envs: &[(&str, &str)]) -> (Running, String) {
    let mut command = shiplog();
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--database-url",
            db,
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut server = command.spawn().expect("serves");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let address = line
        .trim()
        .strip_prefix("shiplog listening on http://")
        .expect("announces its address")
        .to_owned();
    (Running(server), address)
}

fn stop(mut server: Running) -> String {
    server.0.kill().expect("stops");
    let mut log = String::new();
    server
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    log
}

#[test]
fn the_first_start_prints_the_admin_token_once_and_never_logs_tokens() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("auth.db").display());
    let (server, _) = serve(&db, &[]);
    let first = stop(server);
    let token = first
        .lines()
        .find_map(|l| l.split("store it safely): ").nth(1))
        .unwrap_or_else(|| panic!("the bootstrap token is printed: {first}"))
        .trim()
        .to_owned();
    assert!(
        token.starts_with("shiplog_") && token.len() == 72,
        "{token}"
    );

    let (server, address2) = serve(
        &db,
        &[(
            "SHIPLOG_BOOTSTRAP_TOKEN",
            "ignored-because-users-exist-0000000",
        )],
    );
    let created = http(
        &address2,
        &format!(
            "POST /v1/tickets?token={token} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        ),
    );
    assert!(created.contains(" 201 "), "{created}");
    let release = http(
        &address2,
        &format!(
            "POST /releases HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n{{\"user\":\"a\",\"platforms\":[\"eu\"]}}"
        ),
    );
    assert!(release.contains(" 200 "), "{release}");
    let orlo = http(
        &address2,
        &format!("GET /token HTTP/1.0\r\nHost: x\r\nX-Auth-Token: {token}\r\n\r\n"),
    );
    assert!(orlo.contains(" 200 "), "{orlo}");
    let second = stop(server);
    assert!(second.contains("POST /v1/tickets?token=*** "), "{second}");
    assert!(!second.contains(&token), "no token in the log: {second}");
    assert!(
        !second.contains("shiplog_"),
        "no access token either: {second}"
    );
    assert!(
        second.contains("SHIPLOG_BOOTSTRAP_TOKEN is not used"),
        "{second}"
    );

    // `token create` prints the secret alone on stdout; the user may then log in with it.
    let out = shiplog()
        .args(["token", "create", "--user", "ci-bot", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        printed.starts_with("shiplog_") && printed.len() == 72,
        "{printed}"
    );
    let bad = shiplog()
        .args(["token", "create", "--user", "no one", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_chosen_bootstrap_token_is_never_printed_and_auth_off_is_loud() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("auth.db").display());
    let chosen = "my-automation-knows-this-token-0123456789";
    let (server, address) = serve(
        &db,
        &[("SHIPLOG_BOOTSTRAP_TOKEN", chosen), ("SHIPLOG_AUTH", "off")],
    );
    let login = http(
        &address,
        &format!("POST /api/v1/login HTTP/1.0\r\nHost: x\r\nAuthorization: token {chosen}\r\nContent-Length: 0\r\n\r\n"),
    );
    assert!(
        login.contains(" 200 ") && login.contains("access_token"),
        "{login}"
    );
    let log = stop(server);
    assert!(!log.contains(chosen), "{log}");
    assert!(log.contains("AUTH IS OFF"), "{log}");
    let short = shiplog()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!("sqlite://{}", dir.join("other.db").display()))
        .env("SHIPLOG_BOOTSTRAP_TOKEN", "short")
        .output()
        .expect("runs");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("SHIPLOG_BOOTSTRAP_TOKEN must be"));
    let _ = std::fs::remove_dir_all(dir);
}
