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
