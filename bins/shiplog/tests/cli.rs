//! The real `shiplog` binary: help, migrate, import and serve, as an operator runs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

mod common;

use common::{shiplog, Running};

fn temp_dir() -> PathBuf {
    common::temp_dir("cli")
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
        .env("USER", "ops")
        .output()
        .expect("runs");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&import.stdout).trim(),
        format!(
            "imported 1 releases from {} (recorded_by: cli:ops)",
            file.display()
        )
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
        // The log; this test has no use for it.
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
    let listing = http(&address, "GET /releases HTTP/1.0\r\nHost: x\r\n\r\n");
    server.kill().expect("stops");
    let _ = server.wait();
    assert!(listing.contains(r#""recorded_by":"cli:ops""#), "{listing}");
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
    let migrate = shiplog()
        .args(["migrate", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(migrate.status.success());
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

#[test]
fn rules_test_passes_a_true_file_and_fails_a_wrong_one_with_a_diff() {
    let dir = temp_dir();
    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"rule_id": 7, "priority": 90, "backgroundRate": 50, "update_type": "minor",
             "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0",
             "product": "Firefox", "channel": "release"}]"#,
    )
    .expect("fixture");
    let write = |name: &str, cases: &str| {
        let path = dir.join(name);
        std::fs::write(&path, cases).expect("fixture");
        path.to_str().expect("path").to_owned()
    };
    let good = write(
        "good.json",
        r#"[{"name": "release gets 61", "query": {"product": "Firefox", "version": "60.0", "channel": "release"},
             "expect": {"rule_id": 7, "mapping": "Firefox-61.0"}},
            {"name": "outside the rate", "roll": 70,
             "query": {"product": "Firefox", "version": "60.0", "channel": "release"},
             "expect": {"mapping": "Firefox-60.0"}},
            {"query": {"product": "Firefox", "version": "60.0", "channel": "beta"},
             "expect": {"rule_id": null, "mapping": null, "reason": "no rule matches the query"}},
            {"name": "a bad version is refused", "query": {"product": "Firefox", "version": "sixty"},
             "expect": {"error": "Invalid version"}}]"#,
    );
    let rules_arg = rules.to_str().expect("path");
    let (ok, stdout, stderr) = run(&["rules", "test", &good, "--rules", rules_arg]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("ok    release gets 61"), "{stdout}");
    assert!(stdout.contains("ok    case 3"), "{stdout}");
    assert!(stdout.contains("4 cases: 4 passed, 0 failed"), "{stdout}");

    let bad = write(
        "bad.json",
        r#"{"cases": [
            {"name": "beta gets 61", "query": {"product": "Firefox", "version": "60.0", "channel": "beta"},
             "expect": {"rule_id": 7, "mapping": "Firefox-61.0"}},
            {"name": "still fine", "query": {"product": "Firefox", "version": "60.0", "channel": "release"},
             "expect": {"rule_id": 7}}]}"#,
    );
    let (ok, stdout, stderr) = run(&["rules", "test", &bad, "--rules", rules_arg]);
    assert!(!ok, "a mismatch fails the command");
    assert!(stdout.contains("FAIL  beta gets 61"), "{stdout}");
    assert!(stdout.contains("rule_id: expected 7, got null"), "{stdout}");
    assert!(
        stdout.contains("mapping: expected \"Firefox-61.0\", got null"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    still fine"), "{stdout}");
    assert!(stderr.contains("1 of 2 rule test cases failed"), "{stderr}");

    // Mistakes in the file name the case.
    for (cases, part) in [
        (
            r#"[{"query": {}, "expect": {}}]"#,
            "case 1: expect names nothing",
        ),
        (
            r#"[{"query": {}, "expect": {"rule": 1}}]"#,
            "case 1: unknown field `rule`",
        ),
        (r#"[]"#, "there are no cases"),
        (r#"{"tests": []}"#, "expected a list of cases"),
    ] {
        let path = write("wrong.json", cases);
        let (ok, _, stderr) = run(&["rules", "test", &path, "--rules", rules_arg]);
        assert!(!ok);
        assert!(stderr.contains(part), "{cases}: {stderr}");
    }

    // Against a database: a fresh one has no rules, so the good file fails there.
    let db = format!("sqlite://{}", dir.join("rules.db").display());
    let (ok, _, _) = run(&["migrate", "--database-url", &db]);
    assert!(ok);
    let (ok, stdout, _) = run(&["rules", "test", &good, "--database-url", &db]);
    assert!(!ok);
    assert!(stdout.contains("4 cases: 2 passed, 2 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

/// One raw HTTP/1.0 exchange.
fn http(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// Starts `shiplog serve` on a free port; returns the server, its address and the rest of its
/// stdout (after the address line).
fn serve(db: &str, envs: &[(&str, &str)]) -> (Running, String, BufReader<ChildStdout>) {
    let mut command = common::serve_command(db);
    command.env("RUST_LOG", "info").stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    common::start(command)
}

/// The first start's token block on stdout: the lines between two rules of `=`, and the token
/// alone on its line among them.
fn token_block(stdout: &mut BufReader<ChildStdout>) -> (String, String) {
    let mut block = String::new();
    let mut rules = 0;
    while rules < 2 {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).expect("stdout");
        assert!(read > 0, "stdout ended inside the token block: {block}");
        if line.trim().starts_with("=====") {
            rules += 1;
        }
        block.push_str(&line);
    }
    let token = block
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("shiplog_"))
        .unwrap_or_else(|| panic!("a token line in {block}"))
        .to_owned();
    (block, token)
}

/// Stops the server as an operator does, with SIGTERM (it writes out its last log lines as it
/// exits; `kill -9` may lose the last few milliseconds of them), and answers its log: all of
/// stderr, which ends when the process does.
fn stop(mut server: Running) -> String {
    let mut stderr = server.0.stderr.take().expect("stderr");
    let (sent, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let read = stderr.read_to_string(&mut text).map(|_| text);
        let _ = sent.send(read);
    });
    let status = Command::new("kill")
        .args(["-s", "TERM", &server.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let log = log
        .recv_timeout(Duration::from_secs(30))
        .expect("shiplog exits within 30 s of SIGTERM")
        .expect("log");
    server.0.wait().expect("exit status");
    log
}

#[test]
fn the_first_start_prints_the_admin_token_once_and_never_logs_tokens() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("auth.db").display());
    let (server, _, mut stdout) = serve(&db, &[]);
    let (block, token) = token_block(&mut stdout);
    assert!(
        token.starts_with("shiplog_") && token.len() == 72,
        "{token}"
    );
    assert!(block.contains("shown only now"), "{block}");
    assert!(
        block.contains("shiplog token create --user admin --admin"),
        "says how to make another: {block}"
    );
    let first = stop(server);
    assert!(!first.contains(&token), "the token is not logged: {first}");
    assert!(first.contains("printed on stdout"), "{first}");

    let (server, address2, _) = serve(
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
    let (server, address, _) = serve(
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

/// Runs `shiplog ARGS…` to completion: (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = shiplog().args(args).output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A start that fails says why at once, in one message, with the driver's words and a hint.
fn assert_fails_with(db: &str, cause: &str, hint: &str) {
    let (ok, _, stderr) = run(&["serve", "--listen", "127.0.0.1:0", "--database-url", db]);
    assert!(!ok, "{db} must not start");
    assert!(stderr.contains("cannot open database"), "{db}: {stderr}");
    assert!(
        stderr.contains(cause),
        "{db}: the cause {cause:?} in {stderr}"
    );
    assert!(stderr.contains("hint: "), "{db}: a hint in {stderr}");
    assert!(stderr.contains(hint), "{db}: the hint {hint:?} in {stderr}");
    // No pool retrying until its timeout: a single failure, reported once.
    assert!(!stderr.contains("r2d2"), "{stderr}");
    assert!(!stderr.contains("timed out"), "{stderr}");
    assert_eq!(
        stderr.matches("cannot open database").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_sqlite_database_that_cannot_open_names_its_cause() {
    let dir = temp_dir();
    let missing_folder = dir.join("no-such-folder").join("shiplog.db");
    assert_fails_with(
        &missing_folder.display().to_string(),
        "unable to open database file",
        &format!(
            "the folder {} does not exist",
            dir.join("no-such-folder").display()
        ),
    );
    assert!(!missing_folder.exists());

    let not_a_database = dir.join("notes.txt");
    std::fs::write(
        &not_a_database,
        "Release notes, not a database.\n".repeat(200),
    )
    .expect("fixture");
    assert_fails_with(
        &format!("sqlite://{}", not_a_database.display()),
        "file is not a database",
        "is not a SQLite database",
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `SHIPLOG_TEST_DATABASE_URL` with one part replaced: the user, the port or the database.
fn postgres_url_with(url: &str, part: &str, value: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, host) = match authority.rsplit_once('@') {
        Some((credentials, host)) => (Some(credentials), host),
        None => (None, authority),
    };
    let (hostname, port) = host.rsplit_once(':').unwrap_or((host, "5432"));
    let (database, query) = match tail.split_once('?') {
        Some((database, query)) => (database, format!("?{query}")),
        None => (tail, String::new()),
    };
    let (mut user, password) = match credentials {
        Some(c) => match c.split_once(':') {
            Some((u, p)) => (u.to_owned(), format!(":{p}")),
            None => (c.to_owned(), String::new()),
        },
        None => ("postgres".to_owned(), String::new()),
    };
    let (mut port, mut database) = (port.to_owned(), database.to_owned());
    match part {
        "user" => user = value.to_owned(),
        "port" => port = value.to_owned(),
        "database" => database = value.to_owned(),
        other => panic!("no part {other}"),
    }
    format!("{scheme}://{user}{password}@{hostname}:{port}/{database}{query}")
}

#[test]
fn a_postgres_database_that_cannot_open_names_its_cause() {
    // The PostgreSQL half of `make test` sets this; without a server these cases cannot run.
    let Some(url) = std::env::var("SHIPLOG_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        return;
    };
    let url = url.trim();
    assert_fails_with(
        &postgres_url_with(url, "database", "shiplog_no_such_database"),
        "database \"shiplog_no_such_database\" does not exist",
        "createdb",
    );
    // A port nothing listens on: one the system just handed out and took back.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let refused = postgres_url_with(url, "port", &port.to_string());
    let refused = refused.replace("@localhost:", "@127.0.0.1:");
    assert_fails_with(&refused, "Connection refused", "start PostgreSQL");
    // Trust authentication lets any existing role in, so the authentication case is a role
    // that does not exist (refused the same way a wrong password is).
    let (ok, _, stderr) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &postgres_url_with(url, "user", "shiplog_no_such_role"),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("role \"shiplog_no_such_role\" does not exist")
            || stderr.contains("authentication failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: check the user name and password"),
        "{stderr}"
    );
}

#[test]
fn only_serve_and_migrate_create_a_database() {
    let dir = temp_dir();
    let rules = dir.join("rules.json");
    std::fs::write(&rules, "[]").expect("fixture");
    let releases = dir.join("releases.json");
    std::fs::write(
        &releases,
        r#"[{"user": "a", "platforms": ["p"], "packages": []}]"#,
    )
    .expect("fixture");
    for db in shiplog_storage::testing::TestDb::all() {
        let url = db.url();
        let refusals: [&[&str]; 3] = [
            &["token", "create", "--user", "admin", "--admin"],
            &["rules", "eval", "--product", "Firefox", "--version", "60.0"],
            &["import", "--quiet", releases.to_str().expect("path")],
        ];
        for command in refusals {
            let mut args = command.to_vec();
            args.extend(["--database-url", url]);
            let (ok, stdout, stderr) = run(&args);
            assert!(!ok, "{args:?} must refuse a new database");
            assert!(stdout.is_empty(), "{stdout}");
            assert!(
                stderr.contains("does not create one") || stderr.contains("was never migrated"),
                "{args:?}: {stderr}"
            );
            assert!(stderr.contains("shiplog migrate"), "{stderr}");
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            assert!(!std::path::Path::new(path).exists(), "nothing was created");
            let (_, _, stderr) = run(&["token", "create", "--user", "a", "--database-url", url]);
            assert!(stderr.contains(path), "names the path: {stderr}");
        }
        // Once `migrate` made it, the same commands work.
        let (ok, _, stderr) = run(&["migrate", "--database-url", url]);
        assert!(ok, "{stderr}");
        let (ok, stdout, stderr) = run(&[
            "token",
            "create",
            "--user",
            "admin",
            "--admin",
            "--database-url",
            url,
        ]);
        assert!(ok, "{stderr}");
        assert!(stdout.trim().starts_with("shiplog_"), "{stdout}");
    }
    // The default database is `shiplog.db` in the working folder: from another folder the
    // command says which file it looked for.
    let (ok, _, stderr) = {
        let out = shiplog()
            .current_dir(&dir)
            .args(["rules", "eval", "--product", "Firefox", "--version", "60.0"])
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!ok);
    assert!(
        stderr.contains(&dir.join("shiplog.db").display().to_string()),
        "{stderr}"
    );
    assert!(!dir.join("shiplog.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_start_uses_up_no_token_and_later_starts_say_how_to_make_one() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("busy.db").display());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken = busy.local_addr().expect("address").to_string();
    let (ok, stdout, stderr) = run(&["serve", "--listen", &taken, "--database-url", &db]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("cannot listen on {taken}")),
        "{stderr}"
    );
    assert!(
        !stdout.contains("shiplog_"),
        "no token for a server that never ran: {stdout}"
    );
    drop(busy);

    let (server, _, mut stdout) = serve(&db, &[]);
    let (_, token) = token_block(&mut stdout);
    assert!(token.starts_with("shiplog_"), "{token}");
    drop(server);
    let (server, _, mut stdout) = serve(&db, &[]);
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a line");
    drop(server);
    assert!(
        line.contains("shown on the first start only")
            && line.contains("shiplog token create --user admin --admin"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_command_explains_its_flags_and_the_database_default() {
    for command in [
        &["serve"][..],
        &["migrate"],
        &["import"],
        &["rules", "eval"],
        &["rules", "test"],
        &["token", "create"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let (ok, stdout, _) = run(&args);
        assert!(ok);
        assert!(
            stdout.contains("[default: shiplog.db]"),
            "{command:?}: {stdout}"
        );
        let usage = stdout
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_default();
        assert!(
            usage.contains("[OPTIONS]") && !usage.contains("--database-url"),
            "--database-url is optional in the usage of {command:?}: {usage}"
        );
    }
    let (ok, _, stderr) = run(&["rules", "eval", "--rules", "/dev/null", "--version", "1.0"]);
    assert!(!ok);
    assert!(stderr.contains("--product is required"), "{stderr}");
    assert!(
        !stderr.contains("parameter"),
        "CLI words, not HTTP words: {stderr}"
    );
}

#[test]
fn the_walkthrough_scripts_run_against_a_fresh_server_and_report_errors_plainly() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("walk.db").display());
    let (server, address, mut stdout) = serve(&db, &[]);
    let (_, token) = token_block(&mut stdout);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let walk = |script: &str, token: &str| {
        let out = Command::new("bash")
            .arg(examples.join(script))
            .env("SHIPLOG_URL", format!("http://{address}"))
            .env("SHIPLOG_TOKEN", token)
            .output()
            .expect("bash runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = walk("sqlite-walkthrough.sh", &token);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains(r#"{"frontend":"2.4.0"}"#), "{stdout}");
    let (ok, stdout, stderr) = walk("balrog-walkthrough.sh", &token);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            r#"<patch type="complete" URL="https://dl.example.com/61.0/de/complete.mar""#
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("data_version 2 by admin: backgroundRate 100"),
        "{stdout}"
    );
    for script in ["sqlite-walkthrough.sh", "balrog-walkthrough.sh"] {
        let (ok, _, stderr) = walk(script, "shiplog_not-a-real-token");
        assert!(!ok);
        assert!(stderr.contains("answered 401"), "{script}: {stderr}");
        assert!(
            stderr.contains("The token is not valid"),
            "{script}: {stderr}"
        );
        assert!(!stderr.contains("Traceback"), "{script}: {stderr}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// A domain allow-list that cannot be used stops `serve` before it listens, naming the problem.
#[test]
fn serve_refuses_a_malformed_domain_allowlist() {
    let dir = temp_dir();
    for (content, problem) in [
        ("not json", "is not JSON"),
        (
            r#"{"dl.example.com": "Firefox"}"#,
            "must be a list of product names",
        ),
        (r#"{"dl.example.com": {"(": ["Firefox"]}}"#, "path pattern"),
    ] {
        let file = dir.join("allowlist.json");
        std::fs::write(&file, content).expect("written");
        let out = shiplog()
            .args(["serve", "--listen", "127.0.0.1:0", "--domain-allowlist"])
            .arg(&file)
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.join("db.sqlite").display()))
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{content}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(problem), "{content}: {stderr}");
    }
    let missing = shiplog()
        .args(["serve", "--domain-allowlist", "/nonexistent/allowlist.json"])
        .output()
        .expect("runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn rules_eval_takes_a_pin_and_reads_pins_from_the_database() {
    use serde_json::json;
    use shiplog_domain::balrog::{PinVersion, ReleaseName, RuleChanges, RuleFields};
    for db in shiplog_storage::testing::TestDb::all() {
        let store = db.store();
        for (name, version) in [("Firefox-60.5", "60.5"), ("Firefox-61.0", "61.0")] {
            let blob = json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
                "appVersion": version, "platforms": {"WINNT_x86_64-msvc": {"locales": {
                    "de": {"buildID": "20180601000000"}}}}});
            store
                .insert_named_release(
                    &ReleaseName::parse(name).expect("name"),
                    "Firefox",
                    &blob,
                    "alice",
                )
                .expect("release");
        }
        let changes = json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
            "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release"});
        let changes = RuleChanges::parse(changes.as_object().expect("object")).expect("changes");
        store
            .insert_rule(&RuleFields::create(&changes).expect("fields"), "alice")
            .expect("rule");
        let pin = PinVersion::parse("60.").expect("pin");
        store
            .set_pin("Firefox-60.5", "Firefox", "release", &pin, "alice")
            .expect("pin");
        let eval = |pin: &str| {
            let (ok, stdout, stderr) = run(&[
                "rules",
                "eval",
                "--database-url",
                db.url(),
                "--product",
                "Firefox",
                "--version",
                "60.0",
                "--channel",
                "release",
                "--query",
                "buildTarget=WINNT_x86_64-msvc",
                "--query",
                "locale=de",
                "--query",
                "buildID=20180101000000",
                "--pin",
                pin,
            ]);
            (ok, stdout, stderr)
        };
        let (ok, stdout, stderr) = eval("60.");
        assert!(ok, "{stderr}");
        let data: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(data["mapping"], "Firefox-60.5", "{data}");
        // Nothing registered for 59.: the rule's release (failing open).
        let (ok, stdout, stderr) = eval("59.");
        assert!(ok, "{stderr}");
        let data: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(data["mapping"], "Firefox-61.0", "{data}");
        let (ok, _, stderr) = eval("60");
        assert!(!ok);
        assert!(stderr.contains("pin"), "{stderr}");
    }
}

/// A sticky rule in a rules file: `clientId` decides the side whatever `--roll` says, and a
/// version list mixing operators (as Balrog's databases hold them) evaluates offline.
#[test]
fn rules_eval_rolls_a_sticky_rule_from_the_client_id() {
    let dir = temp_dir();
    let file = dir.join("sticky.json");
    std::fs::write(
        &file,
        r#"[{"rule_id": 3, "priority": 90, "backgroundRate": 50, "update_type": "minor",
             "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.5", "product": "Firefox",
             "version": "<56.0,>=60.0", "stickyBy": "header:X-Client-Id"}]"#,
    )
    .expect("fixture");
    let eval = |extra: &[&str]| -> serde_json::Value {
        let out = shiplog()
            .args(["rules", "eval", "--rules"])
            .arg(&file)
            .args(["--product", "Firefox", "--version", "60.0"])
            .args(extra)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    for client in ["a", "b", "c", "d"] {
        let query = format!("clientId={client}");
        let low = eval(&["--query", &query, "--roll", "0"]);
        let high = eval(&["--query", &query, "--roll", "99"]);
        assert_eq!(low["rule_id"], 3);
        assert_eq!(
            low["mapping"], high["mapping"],
            "{client}: the roll is the client's"
        );
    }
    // Without an identifier the --roll decides, as Balrog's dice would.
    assert_eq!(eval(&["--roll", "0"])["mapping"], "Firefox-61.0");
    assert_eq!(eval(&["--roll", "99"])["mapping"], "Firefox-60.5");
}

/// A special force host that is not an http(s) URL stops `serve` before it listens, named.
#[test]
fn serve_refuses_a_malformed_special_force_host() {
    let dir = temp_dir();
    let out = shiplog()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--special-force-hosts",
            "ftp://dl.example.com",
        ])
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("db.sqlite").display()))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ftp://dl.example.com") && stderr.contains("http:// or https://"),
        "{stderr}"
    );
}
