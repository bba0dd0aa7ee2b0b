//! Compatibility with the real `balrogclient` 2.0 from PyPI: a Python virtualenv gets it
//! installed once (kept under the target directory), then `tests/compat/balrogclient_flow.py`
//! drives release, locale, read-only and rule updates and a scheduled rule change against a
//! spawned server on each backend. Only the client's Auth0 token fetch is stubbed: it hands the
//! client a shiplog API token (of `ffxbld`, who may change Firefox releases and rules), which
//! the client sends as `Authorization: Bearer` like the Auth0 token it was written for.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use shiplog_domain::PermissionName;
use shiplog_tests::TestServer;

/// Where the virtualenv lives: beside the build output, so `cargo clean` removes it.
fn venv_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("compat-venv-balrogclient-2.0")
}

fn run(command: &mut Command) -> bool {
    command.status().is_ok_and(|s| s.success())
}

/// A Python with balrogclient 2.0 importable, installing it when needed.
fn python_with_balrogclient() -> PathBuf {
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let ready = |python: &Path| {
        run(Command::new(python).args([
            "-c",
            "import importlib.metadata as m, sys; sys.exit(m.version('balrogclient') != '2.0')",
        ]))
    };
    if python.exists() && ready(&python) {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    assert!(
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv)),
        "python3 -m venv failed: install python3 and python3-venv (.ci/run does)"
    );
    assert!(
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "balrogclient==2.0",
        ])),
        "pip could not install balrogclient==2.0 from PyPI"
    );
    assert!(
        ready(&python),
        "balrogclient 2.0 is not importable after installing it"
    );
    python
}

#[test]
fn balrogclient_manages_releases_locales_and_rules_unchanged() {
    let python = python_with_balrogclient();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/balrogclient_flow.py");
    TestServer::each_backend(|server| {
        // The rule the client will update; its mapping must name an existing release.
        let admin = format!("Bearer {}", shiplog_tests::ADMIN_TOKEN);
        let auth = [
            ("Authorization", admin.as_str()),
            ("Content-Type", "application/json"),
        ];
        let blob = json!({"name": "placeholder", "schema_version": 1, "hashFunction": "sha512"});
        server
            .request(
                "POST",
                "/api/releases",
                &auth,
                Some(
                    &json!({"name": "placeholder", "product": "Firefox", "blob": blob.to_string()})
                        .to_string(),
                ),
            )
            .expect(201);
        let rule = server.request(
            "POST",
            "/api/rules",
            &auth,
            Some(&json!({"priority": 100, "backgroundRate": 100, "update_type": "minor", "mapping": "placeholder", "product": "Firefox", "channel": "nightly"}).to_string()),
        );
        rule.expect(200);

        // The release automation's own user: what it needs, for its product only.
        let firefox = json!({"products": ["Firefox"]});
        let ffxbld = server.user_with(
            "ffxbld",
            &[
                (PermissionName::Release, firefox.clone()),
                (PermissionName::ReleaseLocale, firefox.clone()),
                (PermissionName::ReleaseReadOnly, firefox.clone()),
                (
                    PermissionName::Rule,
                    json!({"products": ["Firefox"], "actions": ["modify"]}),
                ),
            ],
        );
        let output = Command::new(&python)
            .arg(&script)
            .arg(server.url("/api"))
            .arg(&rule.text)
            .env("BALROG_TOKEN", &ffxbld)
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("balrogclient flow: ok"),
            "balrogclient flow failed on {}:\n{stdout}\n{}",
            server.backend.name(),
            String::from_utf8_lossy(&output.stderr)
        );

        // The writes are recorded as the client's user.
        let revisions = server
            .get("/api/releases/Firefox-mozilla-central-nightly-20240101/revisions?limit=1")
            .json();
        assert_eq!(revisions["revisions"][0]["changed_by"], "ffxbld");
        assert_eq!(revisions["count"], 8);
        // The scheduled rule change, made against the rule's data_version from the HEAD.
        let pending = server.get("/api/scheduled_changes/rules").json();
        assert_eq!(pending["count"], 1);
        let change = &pending["scheduled_changes"][0];
        assert_eq!(change["scheduled_by"], "ffxbld");
        assert_eq!(change["change_type"], "update");
        assert_eq!(change["rule_id"].to_string(), rule.text.trim());
        assert_eq!(change["data_version"], 2);
        assert_eq!(change["backgroundRate"], 25);
    });
}
