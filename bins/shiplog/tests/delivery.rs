//! `shiplog delivery` as an operator runs it: import a small ledger, then read the metrics as
//! JSON and as tables, and see bad options refused.

use std::path::PathBuf;
use std::process::Output;

mod common;

use common::shiplog;

fn temp_dir() -> PathBuf {
    common::temp_dir("delivery-cli")
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two deployments on 2026-01-05 (one failed, recovered 30 minutes later by the other) and
/// one on 2026-01-06 to another platform.
const LEDGER: &str = r#"[
  {"user": "alice", "team": "core", "platforms": ["eu"], "stime": "2026-01-05T10:00:00Z", "ftime": "2026-01-05T10:01:00Z",
   "packages": [{"name": "web", "version": "1", "status": "FAILED", "stime": "2026-01-05T10:00:00Z", "ftime": "2026-01-05T10:01:00Z"}]},
  {"user": "alice", "team": "core", "platforms": ["eu"], "stime": "2026-01-05T10:30:00Z", "ftime": "2026-01-05T10:31:00Z",
   "metadata": {"commit_time": "2026-01-05T09:31:00Z"},
   "packages": [{"name": "web", "version": "2", "status": "SUCCESSFUL", "stime": "2026-01-05T10:30:00Z", "ftime": "2026-01-05T10:31:00Z"}]},
  {"user": "bob", "team": "ops", "platforms": ["us"], "stime": "2026-01-06T08:00:00Z", "ftime": "2026-01-06T08:02:00Z",
   "packages": [{"name": "api", "version": "1", "status": "SUCCESSFUL", "stime": "2026-01-06T08:00:00Z", "ftime": "2026-01-06T08:02:00Z"}]}
]"#;

#[test]
fn delivery_prints_json_and_tables() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("ledger.db").display());
    let file = dir.join("ledger.json");
    std::fs::write(&file, LEDGER).expect("fixture");
    // Only serve and migrate create a database.
    ok(&shiplog()
        .args(["migrate", "--database-url", &db])
        .output()
        .expect("runs"));
    ok(&shiplog()
        .args(["import", "--quiet", "--database-url", &db])
        .arg(&file)
        .output()
        .expect("runs"));

    let window = ["--from", "2026-01-05", "--to", "2026-01-07"];
    let json = ok(&shiplog()
        .arg("delivery")
        .args(window)
        .args(["--group-by", "team", "--json", "--database-url", &db])
        .output()
        .expect("runs"));
    let data: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(data["from"], "2026-01-05T00:00:00Z");
    assert_eq!(data["deployments"], 3);
    assert_eq!(data["failed"], 1);
    assert_eq!(data["recovery_time"]["median_s"], 1_800);
    assert_eq!(data["lead_time"]["median_s"], 3_600);
    assert_eq!(data["lead_time"]["without_change_time"], 1);
    assert_eq!(data["deployment_frequency"]["band"], "daily");
    assert_eq!(data["groups"][0]["key"], "core");
    assert_eq!(data["groups"][1]["deployments"], 1);

    let table = ok(&shiplog()
        .arg("delivery")
        .args(window)
        .args(["--group-by", "team", "--database-url", &db])
        .output()
        .expect("runs"));
    for line in [
        "delivery from 2026-01-05T00:00:00Z to 2026-01-07T00:00:00Z (2.00 days)",
        "change failure rate  33.3% (1 failed)",
        "recovery time        median 30m 00s, p90 30m 00s (1 recovered, 0 unrecovered)",
        "2026-01-05            2       1",
    ] {
        assert!(table.contains(line), "{line:?} in:\n{table}");
    }
    assert!(table.lines().any(|l| l.starts_with("ops ")), "{table}");

    let bad = shiplog()
        .args(["delivery", "--group-by", "user", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'group_by'"));
    let _ = std::fs::remove_dir_all(dir);
}
