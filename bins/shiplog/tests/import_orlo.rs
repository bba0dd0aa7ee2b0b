//! `shiplog import orlo --from URL` as an operator runs it: a second shiplog serves as the
//! source (it speaks Orlo's API), every release and package arrives with its id, a second run
//! copies nothing twice, and sources that cannot be read are reported plainly.

use std::process::{Output, Stdio};

use shiplog_storage::{Page, PoolOptions, ReleaseFilter, Store};

mod common;

use common::{shiplog, Running};

fn run(args: &[&str]) -> Output {
    shiplog().args(args).output().expect("runs")
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server on `db`; its base URL.
fn serve(db: &str) -> (Running, String) {
    let mut command = common::serve_command(db);
    command.stderr(Stdio::null());
    let (server, address, stdout) = common::start(command);
    common::drain(stdout);
    (server, format!("http://{address}"))
}

const LEDGER: &str = r#"[
  {"user": "alice", "team": "core", "platforms": ["eu", "us"], "stime": "2026-01-05T10:00:00Z", "ftime": "2026-01-05T10:01:00Z",
   "references": ["ticket:7"], "notes": ["first"], "metadata": {"commit": "abc"},
   "packages": [{"name": "web", "version": "1", "status": "FAILED", "stime": "2026-01-05T10:00:00Z", "ftime": "2026-01-05T10:01:00Z"},
                {"name": "api", "version": "2", "status": "SUCCESSFUL", "rollback": true, "diff_url": "https://git.example/d/1"}]},
  {"user": "bob", "platforms": ["eu"], "stime": "2026-01-05T10:30:00Z",
   "packages": [{"name": "web", "version": "2", "status": "IN_PROGRESS"}]},
  {"user": "carol", "platforms": ["us"], "stime": "2026-01-06T09:00:00Z", "ftime": "2026-01-06T09:05:00Z",
   "packages": []}
]"#;

fn releases(url: &str) -> Vec<serde_json::Value> {
    let store = Store::connect(url, &PoolOptions::default()).expect("opens");
    let page = Page {
        limit: None,
        offset: 0,
        ascending: true,
    };
    store
        .list_releases(&ReleaseFilter::default(), &page)
        .expect("lists")
        .iter()
        .map(|r| {
            // Everything but who recorded it here.
            let mut json = serde_json::to_value(r).expect("serializes");
            json.as_object_mut().map(|o| o.remove("recorded_by"));
            json
        })
        .collect()
}

#[test]
fn a_running_ledger_is_copied_with_its_ids_once() {
    let dir = common::temp_dir("import-orlo");
    let source_db = format!("sqlite://{}", dir.join("source.db").display());
    let target_db = format!("sqlite://{}", dir.join("target.db").display());
    let ledger = dir.join("ledger.json");
    std::fs::write(&ledger, LEDGER).expect("fixture");
    ok(&run(&["migrate", "--database-url", &source_db]));
    ok(&run(&["migrate", "--database-url", &target_db]));
    let file = ledger.to_str().expect("path");
    ok(&run(&[
        "import",
        file,
        "--quiet",
        "--database-url",
        &source_db,
    ]));
    let (_source, base) = serve(&source_db);

    // Two releases a page: the copy pages through the source.
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "orlo",
            "--from",
            &base,
            "--database-url",
            &target_db,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let first = ok(&copy(&["--page-size", "2", "--recorded-by", "migration"]));
    assert!(
        first.contains("copied 3 releases (3 packages)")
            && first.contains("0 were here already; 0 refused"),
        "{first}"
    );
    let copied = releases(&target_db);
    assert_eq!(
        copied,
        releases(&source_db),
        "ids, packages, times and status"
    );
    assert_eq!(copied[0]["packages"][1]["rollback"], true);
    assert_eq!(copied[0]["status"], "FAILED");

    // Again: nothing twice.
    let again = ok(&copy(&[]));
    assert!(
        again.contains("copied 0 releases (0 packages)") && again.contains("3 were here already"),
        "{again}"
    );
    assert_eq!(releases(&target_db).len(), 3);

    // A source that cannot be read is named, and nothing is written.
    for (from, part) in [
        ("ftp://example.com", "expected an http:// or https:// URL"),
        ("http://127.0.0.1:9", "GET http://127.0.0.1:9/releases"),
        // Not an Orlo: its 404 is not an empty listing.
        (
            &format!("{base}/nothing-here") as &str,
            "/nothing-here/releases?asc=true&limit=100&offset=0: 404",
        ),
    ] {
        let out = run(&[
            "import",
            "orlo",
            "--from",
            from,
            "--database-url",
            &target_db,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{from}");
        assert!(stderr.contains(part), "{from}: {stderr}");
    }
    assert_eq!(
        releases(&target_db).len(),
        3,
        "nothing written by the failures"
    );
    // The command names a file or a source.
    let out = run(&["import", "--database-url", &target_db]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("<FILE>"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
