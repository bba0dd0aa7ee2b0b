//! Webhook delivery survives `kill -9`: a server killed with 100 undelivered events leaves them
//! pending, and the next start delivers all of them, each under the one `webhook-id` it had.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shiplog_storage::{PoolOptions, Store};

const TOKEN: &str = "shiplog_killtest_admin_000000000000000000000000000000";

mod common;

use common::Running;

fn serve(db: &str) -> (Running, String) {
    // Retries every 300 ms for a minute: none runs out while the test waits.
    let schedule = vec!["300ms"; 200].join(",");
    let mut command = common::serve_command(db);
    command
        .env("SHIPLOG_BOOTSTRAP_TOKEN", TOKEN)
        .args(["--webhook-retry-schedule", &schedule])
        .stderr(Stdio::null());
    let (server, address, stdout) = common::start(command);
    common::drain(stdout);
    (server, address)
}

/// One authenticated JSON POST; returns the status line and body.
fn post(address: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connects");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// Records (webhook-id, release id) of every request to `listener`, answering 204.
fn receive(listener: TcpListener, got: Arc<Mutex<Vec<(String, String)>>>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = BTreeMap::new();
            let mut first = true;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end().to_owned();
                if line.is_empty() {
                    break;
                }
                if !first {
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                first = false;
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let event: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            let release = event["data"]["id"].as_str().unwrap_or_default().to_owned();
            got.lock()
                .expect("lock")
                .push((headers["webhook-id"].clone(), release));
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
}

/// Polls `done` until it holds, failing the test after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_server_s_undelivered_events_arrive_after_a_restart_under_their_ids() {
    let dir = common::temp_dir("kill");
    let db = format!("sqlite://{}", dir.join("kill.db").display());
    // A port with nobody listening yet: every attempt before the kill is refused.
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("address").port()
    };
    let (first, address) = serve(&db);
    let created = post(
        &address,
        "/api/v1/webhooks",
        &format!(r#"{{"url": "http://127.0.0.1:{port}/hook", "events": ["release.created"]}}"#),
    );
    assert!(created.starts_with("HTTP/1.0 201"), "{created}");
    let hook = created
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|body| body["data"]["id"].as_i64())
        .expect("the new webhook's id");
    // The database, read beside the servers: what was attempted, and what is delivered.
    let store = Store::connect(&db, &PoolOptions::default()).expect("opens");
    let attempts = || store.list_attempts(hook, 1000).expect("attempts");
    let releases: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"user": "u{i}", "platforms": ["eu"], "packages": []}}"#))
        .collect();
    let imported = post(
        &address,
        "/releases/import",
        &format!("[{}]", releases.join(",")),
    );
    assert!(imported.starts_with("HTTP/1.0 200"), "{imported}");
    // Once the first server has fanned the events out and failed an attempt, kill -9 it.
    wait_until(Duration::from_secs(30), "a failed attempt", || {
        !attempts().is_empty()
    });
    let mut first = first;
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();

    let got = Arc::new(Mutex::new(Vec::new()));
    receive(
        TcpListener::bind(("127.0.0.1", port)).expect("the receiver's port is free again"),
        got.clone(),
    );
    let (_second, _) = serve(&db);
    // The dead server's lease (30 s) runs out, then the new one delivers everything.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let distinct: BTreeSet<String> = got
            .lock()
            .expect("lock")
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        if distinct.len() >= 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of 100 arrived",
            distinct.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once every delivery is recorded as delivered, no server sends one again: what arrived
    // is all that ever will.
    wait_until(Duration::from_secs(30), "every delivery recorded", || {
        let attempts = attempts();
        let delivered: BTreeSet<i64> = attempts
            .iter()
            .filter(|a| a.state == "delivered")
            .map(|a| a.delivery_id)
            .collect();
        delivered.len() == 100 && attempts.iter().all(|a| a.state == "delivered")
    });
    let got = got.lock().expect("lock").clone();
    let mut ids_by_release: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, release) in &got {
        ids_by_release
            .entry(release.clone())
            .or_default()
            .insert(id.clone());
    }
    assert_eq!(ids_by_release.len(), 100, "every release arrived");
    assert!(
        ids_by_release.values().all(|ids| ids.len() == 1),
        "no release arrived under two webhook-ids"
    );
    eprintln!("{} requests for 100 events after the restart", got.len());
    let _ = std::fs::remove_dir_all(&dir);
}
