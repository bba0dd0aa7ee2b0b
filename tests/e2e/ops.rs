//! What operators rely on: the probes (also under `--auth all`), request ids, metrics that
//! count and parse, and a clean, fast 503 while PostgreSQL is stopped (on a private PostgreSQL
//! instance this test starts and stops itself).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use shiplog_api::{AuthMode, AuthSettings};
use shiplog_storage::testing::TestDb;
use shiplog_tests::{Reply, TestServer};

fn auth_all(state: shiplog_api::AppState) -> shiplog_api::AppState {
    state.with_auth(AuthSettings {
        mode: AuthMode::All,
        ..AuthSettings::default()
    })
}

#[test]
fn probes_answer_and_stay_open_under_auth_all() {
    TestServer::each_backend_with(auth_all, |server| {
        for path in ["/livez", "/__lbheartbeat__"] {
            server.request("GET", path, &[], None).expect(200);
        }
        let ready = server.request("GET", "/readyz", &[], None);
        ready.expect(200);
        assert_eq!(ready.json()["status"], "ready");
        let heartbeat = server.request("GET", "/__heartbeat__", &[], None);
        heartbeat.expect(200);
        assert_eq!(heartbeat.json()["checks"]["database"], "ok");
        let version = server.request("GET", "/__version__", &[], None);
        version.expect(200);
        assert_eq!(version.json()["version"], env!("CARGO_PKG_VERSION"));
        assert!(version.json()["commit"].is_string());
        // The faces themselves stay closed.
        server.request("GET", "/releases", &[], None).expect(401);
    });
}

#[test]
fn request_ids_are_echoed_or_made() {
    TestServer::each_backend(|server| {
        let given = server.request("GET", "/ping", &[("X-Request-Id", "deploy-42.a:b_c")], None);
        assert_eq!(given.header("x-request-id"), Some("deploy-42.a:b_c"));
        let made = server.request("GET", "/ping", &[], None);
        let id = made.header("x-request-id").expect("an id is made");
        assert_eq!(id.len(), 32, "a UUID without dashes: {id}");
        let unsafe_id = server.request("GET", "/ping", &[("X-Request-Id", "a b\"c")], None);
        let replaced = unsafe_id.header("x-request-id").expect("an id");
        assert_ne!(replaced, "a b\"c");
        assert_eq!(replaced.len(), 32);
        // Errors carry one too, in the face's own body.
        let missing = server.request("GET", "/api/rules/999999", &[], None);
        missing.expect(404);
        assert!(missing.header("x-request-id").is_some());
    });
}

/// The value of the sample `name{labels}` (labels exactly as rendered), if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// What `promtool check metrics` checks that matters here, for machines without promtool:
/// every family has HELP and TYPE before its samples, counters end in `_total`, every sample
/// line is `name{labels} number` and belongs to the family declared last.
fn check_exposition(text: &str) {
    let mut family: Option<(String, String)> = None;
    let mut helped = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped = Some(rest.split(' ').next().expect("a name").to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name and type");
            assert_eq!(helped.as_deref(), Some(name), "HELP before TYPE for {name}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} ends in _total");
            }
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment line: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("a number: {line}"));
        let name = series.split('{').next().expect("a name");
        let (family_name, kind) = family.as_ref().expect("a TYPE before samples");
        let belongs = name == family_name
            || (kind == "histogram"
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(family_name.as_str())));
        assert!(belongs, "{name} belongs to {family_name}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
    }
}

/// Runs `promtool check metrics` on `text` when promtool is installed.
fn promtool(text: &str) -> Option<()> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads");
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

#[test]
fn metrics_count_a_mixed_workload_and_parse() {
    TestServer::each_backend(|server| {
        let before = server.get("/metrics");
        before.expect(200);
        let requests = r#"shiplog_http_requests_total{face="orlo",route="/releases",method="POST",status="2xx"}"#;
        let start = sample(&before.text, requests).unwrap_or(0.0);
        server
            .post("/releases", &json!({"platforms": ["p"], "user": "u", "team": "t", "references": [], "packages": []}))
            .expect(200);
        server
            .post(
                "/releases/import",
                &json!([{"platforms": ["p"], "user": "u", "team": "t", "references": [], "packages": []}]),
            )
            .expect(200);
        server
            .get("/api/v1/evaluate?product=Firefox&version=1.0&channel=release")
            .expect(200);
        server
            .get("/update/1/Firefox/1.0/1/WINNT/en-US/release/update.xml")
            .expect(200);
        server.get("/api/rules/424242").expect(404);
        server.get("/nowhere/at/all").expect(404);
        let after = server.get("/metrics");
        after.expect(200);
        let text = &after.text;
        assert_eq!(sample(text, requests), Some(start + 1.0), "{text}");
        for series in [
            r#"shiplog_http_request_duration_seconds_count{face="orlo",route="/releases",method="POST",status="2xx"}"#,
            r#"shiplog_http_requests_total{face="balrog",route="/api/rules/{id_or_alias}",method="GET",status="4xx"}"#,
            r#"shiplog_evaluations_total{product="",channel="",outcome="no_rule"}"#,
            r#"shiplog_imports_total{outcome="recorded"}"#,
            "shiplog_imported_releases_total",
            "shiplog_http_requests_in_flight",
            "shiplog_db_pool_connections",
            "shiplog_db_pool_idle_connections",
            "shiplog_db_pool_waits_total",
            r#"shiplog_storage_errors_total{kind="unavailable"}"#,
            "shiplog_rule_set_reloads_total",
            "shiplog_rule_set_age_seconds",
        ] {
            assert!(sample(text, series).is_some(), "{series} in {text}");
        }
        assert_eq!(
            sample(
                text,
                r#"shiplog_evaluations_total{product="",channel="",outcome="no_rule"}"#
            ),
            Some(2.0)
        );
        assert_eq!(sample(text, "shiplog_imported_releases_total"), Some(1.0));
        // The scrape itself is in flight while it renders.
        assert_eq!(sample(text, "shiplog_http_requests_in_flight"), Some(1.0));
        check_exposition(text);
        if promtool(text).is_none() {
            eprintln!("promtool is not installed: checked with the built-in parser only");
        }
        let openmetrics = server.request(
            "GET",
            "/metrics",
            &[("Accept", "application/openmetrics-text; version=1.0.0")],
            None,
        );
        assert!(openmetrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")));
        assert!(openmetrics.text.ends_with("# EOF\n"));
    });
}

/// A PostgreSQL server of this test's own, on a free port over a temporary data directory, so
/// stopping it disturbs nobody else's tests.
struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// `None` when no PostgreSQL server binaries are installed.
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())?;
        let dir =
            std::env::temp_dir().join(format!("shiplog-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a data directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = PrivatePostgres { bin, dir, port };
        // PostgreSQL refuses to run as root: as root, run it as the postgres user.
        if pg.as_root() {
            run(Command::new("chown").arg("postgres:postgres").arg(&pg.dir));
        }
        run(pg
            .tool("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(pg.dir.join("data")));
        pg.ctl_start();
        Some(pg)
    }

    fn as_root(&self) -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "start"]));
    }

    fn ctl_stop(&self) {
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"]));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[track_caller]
fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One request, timed.
fn timed(f: impl FnOnce() -> Reply) -> (Reply, Duration) {
    let start = Instant::now();
    let reply = f();
    (reply, start.elapsed())
}

/// Stricter than "about a second" allows for a loaded CI machine, looser than the 10 s hang.
const PROMPT: Duration = Duration::from_millis(2500);

#[test]
fn a_stopped_postgresql_is_a_prompt_503_and_service_returns_with_it() {
    let Some(pg) = PrivatePostgres::start() else {
        eprintln!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    let server = TestServer::start(TestDb::postgres(&pg.url()));
    let acknowledged = Mutex::new(Vec::<String>::new());
    let statuses = Mutex::new(Vec::<(u16, Duration)>::new());
    let stop = AtomicBool::new(false);
    let release =
        json!({"platforms": ["p"], "user": "u", "team": "t", "references": [], "packages": []});
    std::thread::scope(|scope| {
        // Ends the load however this scope ends (a failed assertion included).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _stop = Stop(&stop);
        // A steady write load through the outage.
        scope.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                let (reply, took) = timed(|| server.post("/releases", &release));
                if reply.status == 200 {
                    let id = reply.json()["id"].as_str().expect("an id").to_owned();
                    acknowledged.lock().expect("lock").push(id);
                }
                statuses.lock().expect("lock").push((reply.status, took));
            }
        });
        server.wait_for(Duration::from_secs(10), "writes acknowledged", || {
            (acknowledged.lock().expect("lock").len() >= 5).then_some(())
        });

        pg.ctl_stop();

        let (ready, took) = timed(|| server.get("/readyz"));
        ready.expect(503);
        assert!(took < PROMPT, "/readyz took {took:?}");
        assert_eq!(ready.json()["status"], "unavailable");
        assert!(ready.header("retry-after").is_some());

        let (orlo, took) = timed(|| server.get("/releases?limit=1"));
        orlo.expect(503);
        assert!(took < PROMPT, "Orlo read took {took:?}");
        assert_eq!(orlo.header("retry-after"), Some("1"));
        assert_eq!(orlo.json()["error"], "unavailable");

        let (balrog, took) = timed(|| server.get("/api/rules"));
        balrog.expect(503);
        assert!(took < PROMPT, "Balrog read took {took:?}");
        assert!(balrog
            .header("content-type")
            .is_some_and(|c| c.contains("problem+json")));
        assert_eq!(balrog.json()["status"], 503);

        let (native, took) = timed(|| server.post_empty("/api/v1/tokens"));
        assert!(took < PROMPT, "/api/v1 took {took:?}");
        native.expect(503);
        assert_eq!(native.json()["status"], "failure");

        let (write, took) = timed(|| server.post("/releases", &release));
        write.expect(503);
        assert!(took < PROMPT, "a write took {took:?}");

        let metrics = server.get("/metrics");
        assert_eq!(
            sample(&metrics.text, "shiplog_db_unreachable"),
            Some(1.0),
            "{}",
            metrics.text
        );

        pg.ctl_start();
        let back = Instant::now();
        server.wait_for(Duration::from_secs(5), "ready again", || {
            (server.get("/readyz").status == 200).then_some(())
        });
        let count = acknowledged.lock().expect("lock").len();
        server.wait_for(Duration::from_secs(5), "writes acknowledged again", || {
            (acknowledged.lock().expect("lock").len() > count).then_some(())
        });
        eprintln!("service returned {:?} after PostgreSQL", back.elapsed());
        stop.store(true, Ordering::Release);
    });
    let statuses = statuses.into_inner().expect("lock");
    for (status, took) in &statuses {
        assert!(
            *status == 200 || *status == 503,
            "every write is acknowledged or a 503: {statuses:?}"
        );
        assert!(*took < PROMPT, "no write hangs: {statuses:?}");
    }
    assert!(statuses.iter().any(|(s, _)| *s == 503));
    let slowest = |code: u16| {
        statuses
            .iter()
            .filter(|(s, _)| *s == code)
            .map(|(_, t)| *t)
            .max()
    };
    eprintln!(
        "writes: {} answered, slowest 200 {:?}, slowest 503 {:?}",
        statuses.len(),
        slowest(200),
        slowest(503)
    );
    for id in acknowledged.into_inner().expect("lock") {
        server.get(&format!("/releases/{id}")).expect(200);
    }
}
