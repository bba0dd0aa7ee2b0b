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
