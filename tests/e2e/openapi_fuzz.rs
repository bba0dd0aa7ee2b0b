//! The API description is the server's contract: schemathesis generates requests from
//! `/openapi.json` (examples, boundary values, random data, invalid data) and checks every
//! answer: no status ≥ 500, and status, media type and body exactly as described.
//!
//! Bounded here (`make test`): at most 50 examples per operation, a fixed seed and a time box
//! of 180 s per backend. `make fuzz-api` runs the same test longer (`SHIPLOG_FUZZ_EXAMPLES`,
//! `SHIPLOG_FUZZ_SECONDS`, `SHIPLOG_FUZZ_SEED`, `SHIPLOG_FUZZ_NUL=true` for NUL bytes in
//! strings, `SHIPLOG_FUZZ_STATEFUL=1` for schemathesis's stateful phase). Reports (JUnit and
//! NDJSON) are kept under `target/fuzz/`.
//!
//! schemathesis is installed once from PyPI into a virtualenv under `target/fuzz/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use shiplog_tests::TestServer;

const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// What every answer is checked for.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz")
}

fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = target_dir().join("schemathesis-4.32.5");
        let ready = dir.join(".installed");
        if std::fs::read_to_string(&ready).ok().as_deref() != Some(SCHEMATHESIS) {
            run(
                Command::new("python3")
                    .args(["-m", "venv", "--clear"])
                    .arg(&dir),
                "create the virtualenv",
            );
            run(
                Command::new(dir.join("bin/python")).args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    SCHEMATHESIS,
                ]),
                "install schemathesis from PyPI",
            );
            std::fs::write(&ready, SCHEMATHESIS).expect("mark the venv ready");
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

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// One schemathesis run over the operations `filter` selects; panics with its report unless
/// every check passed.
fn schemathesis(server: &TestServer, label: &str, filter: &[&str], seconds: u64) {
    let reports = target_dir().join(format!("report-{label}"));
    let mut phases = "examples,coverage,fuzzing".to_owned();
    if setting("SHIPLOG_FUZZ_STATEFUL", "0") == "1" {
        phases.push_str(",stateful");
    }
    let mut cmd = Command::new(venv().join("bin/schemathesis"));
    cmd.arg("run")
        .arg(server.url("/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--phases", &phases])
        .args(["--max-examples", &setting("SHIPLOG_FUZZ_EXAMPLES", "50")])
        .args(["--seed", &setting("SHIPLOG_FUZZ_SEED", "1")])
        .args(["--max-time", &seconds.to_string()])
        .args(["--max-failures", "50"])
        .arg("--continue-on-failure")
        .arg("--no-shrink")
        .args(["--warnings", "off"])
        .args(["--report", "junit,ndjson"])
        .arg("--report-dir")
        .arg(&reports)
        .args([
            "--header",
            &format!("Authorization: Bearer {}", shiplog_tests::ADMIN_TOKEN),
        ])
        // NUL bytes in strings too: the input policy refuses them with a 400 on both backends
        // (PostgreSQL used to answer them with a 500). SHIPLOG_FUZZ_NUL=false leaves them out.
        .args([
            "--generation-allow-x00",
            &setting("SHIPLOG_FUZZ_NUL", "true"),
        ])
        .args(["--generation-database", "none"])
        .args(filter)
        .current_dir(target_dir())
        .env("NO_COLOR", "1");
    let out = cmd.output().expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The closing lines: operations, test cases, failures.
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    println!("schemathesis {label}:\n{}", summary.join("\n"));
    assert!(
        out.status.success(),
        "schemathesis found answers outside the description ({label}; reports in {}):\n{stdout}\n{}",
        reports.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_answer_is_the_one_the_description_gives() {
    let seconds: u64 = setting("SHIPLOG_FUZZ_SECONDS", "180")
        .parse()
        .expect("SHIPLOG_FUZZ_SECONDS is a number of seconds");
    TestServer::each_backend(|server| {
        let backend = format!("{:?}", server.backend).to_lowercase();
        // Revoking tokens goes last and alone: the generated ids soon hit the token every
        // other request is made with.
        schemathesis(
            server,
            &backend,
            &["--exclude-operation-id", "revoke_token"],
            seconds,
        );
        schemathesis(
            server,
            &format!("{backend}-revoke"),
            &["--include-operation-id", "revoke_token"],
            seconds.min(60),
        );
    });
}
