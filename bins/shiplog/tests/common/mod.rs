//! What the binary's tests share: the `shiplog` command with a clean environment, a scratch
//! folder per test, and `shiplog serve` run as a child process that is killed when dropped.

// Each test file is its own crate and uses only part of this.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The binary, with no database URL or source token taken from the caller's environment, and
/// logging warnings only.
pub fn shiplog() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shiplog"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("SHIPLOG_SOURCE_TOKEN")
        .env("RUST_LOG", "warn");
    cmd
}

/// A new, empty folder under the system's temporary folder, named after `name`, unique to this
/// call (tests of one file run in parallel in one process).
pub fn temp_dir(name: &str) -> PathBuf {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "shiplog-{name}-{}-{nanos}-{call}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A spawned server, killed when dropped (also when a test fails half-way).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `shiplog serve` on a free port of 127.0.0.1 with one worker, on `db`, its stdout piped.
pub fn serve_command(db: &str) -> Command {
    let mut command = shiplog();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .args(["--database-url", db])
        .stdout(Stdio::piped());
    command
}

/// Starts `command` (from [`serve_command`]) and reads the line announcing its address; returns
/// the server, its `host:port` and the rest of its stdout.
pub fn start(mut command: Command) -> (Running, String, BufReader<ChildStdout>) {
    let mut server = command.spawn().expect("serves");
    let mut stdout = BufReader::new(server.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("address line");
    let address = line
        .trim()
        .strip_prefix("shiplog listening on http://")
        .unwrap_or_else(|| panic!("announces its address: {line:?}"))
        .to_owned();
    (Running(server), address, stdout)
}

/// Keeps reading a server's stdout, so it never blocks on a full pipe.
pub fn drain(stdout: BufReader<ChildStdout>) {
    std::thread::spawn(move || for _ in stdout.lines() {});
}
