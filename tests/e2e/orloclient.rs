//! Compatibility with the real `orloclient` 0.4.5 from PyPI, library and CLI.
//!
//! The client has no way to send a token; it authenticates through the netrc file `requests`
//! reads (`NETRC`), which turns into HTTP Basic with the API token as password.
//!
//! The client is installed once from PyPI into a virtualenv under the target directory's
//! `compat/` (`CARGO_TARGET_DIR` is honoured; a machine with python3 and venv is enough). arrow
//! is pinned to the 0.10 line the client was written against: arrow 1.x refuses the `null`
//! times every Orlo server sends for unstarted packages (`arrow.get(None)`), which breaks the
//! client against Orlo itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use shiplog_tests::TestServer;

/// What the venv holds. orloclient imports `six` without declaring it.
const REQUIREMENTS: [&str; 3] = ["orloclient==0.4.5", "arrow==0.10.0", "six"];

fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        // Beside the build output, wherever CARGO_TARGET_DIR puts it.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let dir = target.join("compat/orloclient-0.4.5");
        let python = dir.join("bin/python");
        let ready = dir.join(".installed");
        let wanted = REQUIREMENTS.join(" ");
        if std::fs::read_to_string(&ready).ok().as_deref() != Some(wanted.as_str()) {
            run(
                Command::new("python3")
                    .args(["-m", "venv", "--clear"])
                    .arg(&dir),
                "create the virtualenv",
            );
            run(
                Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet"])
                    .args(REQUIREMENTS),
                "install orloclient from PyPI",
            );
            std::fs::write(&ready, &wanted).expect("mark the venv ready");
        }
        dir
    })
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot {what}: {e} (is python3 with venv installed?)"));
    assert!(
        out.status.success(),
        "cannot {what}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn orloclient_drives_a_full_release() {
    let python = venv().join("bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/orloclient_flow.py");
    TestServer::each_backend(|server| {
        // orloclient sends no credentials of its own, but `requests` (which it uses) adds HTTP
        // Basic from a netrc file for the host: the token goes in as the password.
        let netrc = std::env::temp_dir().join(format!(
            "shiplog-orloclient-{}.netrc",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(
            &netrc,
            format!(
                "machine 127.0.0.1 login admin password {}\n",
                shiplog_tests::ADMIN_TOKEN
            ),
        )
        .expect("write the netrc");
        let out = Command::new(&python)
            .arg(&script)
            .arg(&server.base)
            .env("NETRC", &netrc)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "orloclient flow failed on {}:\n{}\n{}",
            server.backend.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(&netrc);
    });
}
