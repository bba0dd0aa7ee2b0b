//! The request kinds of the table: what one connection sends, over and over.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::Conn;
use crate::load::{Budget, Recorder};
use crate::seed::{auth_headers, USERS};

const OK: &[u16] = &[200];
const WRITE_OK: &[u16] = &[200, 204];

pub async fn ping(address: String, budget: Budget) -> Recorder {
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let mut done = 0;
    while budget.next(done).is_some() {
        rec.call(&mut conn, "GET", "/ping", "", b"", OK).await;
        done += 1;
    }
    rec
}

/// `POST /releases`: one new release per request, as a deploy script sends it.
pub async fn create(address: String, budget: Budget, worker: usize) -> Recorder {
    let user = format!("writer{worker}");
    record_releases(address, budget, None, |n| release_body(&user, "bench", n)).await
}

/// `POST /releases` at a steady `per_second` on one connection until `budget` runs out: the
/// writes a read row runs beside, as deploy scripts keep recording while people read.
pub async fn paced_writes(address: String, budget: Budget, per_second: u32) -> Recorder {
    record_releases(address, budget, Some(per_second), |n| {
        release_body(&format!("paced{}", n % 5), "paced", n)
    })
    .await
}

/// A new release of `user` and `team` on one of three platforms, numbered `n`.
fn release_body(user: &str, team: &str, n: usize) -> String {
    json!({"user": user, "team": team,
        "platforms": [format!("site{}", n % 3)], "references": [format!("{team}-{n}")]})
    .to_string()
}

/// Records the releases `body` makes, back to back, or `per_second` of them at a steady pace.
async fn record_releases(
    address: String,
    budget: Budget,
    per_second: Option<u32>,
    body: impl Fn(usize) -> String,
) -> Recorder {
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let headers = auth_headers();
    let start = tokio::time::Instant::now();
    let mut done = 0;
    while let Some(n) = budget.next(done) {
        if let Some(rate) = per_second {
            let due = start + Duration::from_secs_f64(n as f64 / f64::from(rate));
            tokio::time::sleep_until(due).await;
        }
        let body = body(n);
        rec.call(
            &mut conn,
            "POST",
            "/releases",
            &headers,
            body.as_bytes(),
            OK,
        )
        .await;
        done += 1;
    }
    rec
}

/// `GET /releases/{id}` over the seeded releases, each connection walking its own stride.
pub async fn by_id(
    address: String,
    budget: Budget,
    worker: usize,
    ids: Arc<Vec<String>>,
) -> Recorder {
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let mut done = 0;
    while budget.next(done).is_some() {
        let id = &ids[(worker * 7_919 + done * 104_729) % ids.len()];
        rec.call(&mut conn, "GET", &format!("/releases/{id}"), "", b"", OK)
            .await;
        done += 1;
    }
    rec
}

/// `GET /releases?user=…&limit=10`: one user's ten newest of the seeded releases.
pub async fn page(address: String, budget: Budget, worker: usize) -> Recorder {
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let mut done = 0;
    while budget.next(done).is_some() {
        let path = format!("/releases?user=user{}&limit=10", (worker + done) % USERS);
        rec.call(&mut conn, "GET", &path, "", b"", OK).await;
        done += 1;
    }
    rec
}

/// Balrog's `/update/6/…/update.xml` as Firefox sends it, over a few clients that land on
/// different rules of the seeded table.
pub async fn update(address: String, budget: Budget, worker: usize) -> Recorder {
    const PATHS: [&str; 4] = [
        "/update/6/Firefox/59.0/20170101000000/WINNT_x86_64-msvc/de/release/Windows_NT%2010.0.0.0.19045/ISET:SSE4_2,MEM:16384,JAWS:0/default/default/update.xml",
        "/update/6/Firefox/60.0/20180501000000/WINNT_x86_64-msvc/en-US/beta/Windows_NT%2010.0.0.0.19045/ISET:SSE4_2,MEM:8192,JAWS:0/default/default/update.xml",
        "/update/6/Firefox/55.0/20170801000000/WINNT_x86_64-msvc/fr/release/Windows_NT%206.1.1.0/ISET:SSE4_2,MEM:4096,JAWS:0/default/default/update.xml",
        "/update/6/Firefox/52.0/20170301000000/WINNT_x86_64-msvc/de/release/Windows_NT%205.1.3.0/ISET:SSE2,MEM:2048,JAWS:0/default/default/update.xml",
    ];
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let mut done = 0;
    while budget.next(done).is_some() {
        let path = PATHS[(worker + done) % PATHS.len()];
        rec.call(&mut conn, "GET", path, "", b"", OK).await;
        done += 1;
    }
    rec
}

fn id_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value["id"].as_str().map(str::to_owned)
}

/// The Orlo workload's writes: each work item is one release's life in 12 requests (create,
/// start, three packages added, each started and stopped, stop). Returns the releases made.
pub async fn orlo_writes(address: String, budget: Budget) -> (Recorder, Vec<String>) {
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let headers = auth_headers();
    let mut made = Vec::new();
    let mut done = 0;
    while let Some(i) = budget.next(done) {
        done += 1;
        let body = json!({"user": format!("user{}", i % 7), "team": format!("team{}", i % 3),
            "platforms": [format!("site{}", i % 3)], "references": [format!("T-{i}")]})
        .to_string();
        let Some(reply) = rec
            .call(
                &mut conn,
                "POST",
                "/releases",
                &headers,
                body.as_bytes(),
                OK,
            )
            .await
        else {
            continue;
        };
        let Some(rid) = id_of(&reply.body) else {
            rec.errors += 1;
            continue;
        };
        let base = format!("/releases/{rid}");
        rec.call(
            &mut conn,
            "POST",
            &format!("{base}/start"),
            &headers,
            b"",
            WRITE_OK,
        )
        .await;
        let mut packages = Vec::new();
        for n in 0..3 {
            let body = json!({"name": format!("pkg{n}"), "version": format!("1.{i}")}).to_string();
            if let Some(reply) = rec
                .call(
                    &mut conn,
                    "POST",
                    &format!("{base}/packages"),
                    &headers,
                    body.as_bytes(),
                    OK,
                )
                .await
            {
                packages.extend(id_of(&reply.body));
            }
        }
        for (n, pid) in packages.iter().enumerate() {
            let path = format!("{base}/packages/{pid}");
            rec.call(
                &mut conn,
                "POST",
                &format!("{path}/start"),
                &headers,
                b"",
                WRITE_OK,
            )
            .await;
            let success = (i + n) % 10 != 0;
            let body = json!({ "success": success }).to_string();
            rec.call(
                &mut conn,
                "POST",
                &format!("{path}/stop"),
                &headers,
                body.as_bytes(),
                WRITE_OK,
            )
            .await;
        }
        rec.call(
            &mut conn,
            "POST",
            &format!("{base}/stop"),
            &headers,
            b"",
            WRITE_OK,
        )
        .await;
        made.push(rid);
    }
    (rec, made)
}

/// The Orlo workload's 12-query read cycle (filters, a release by id, versions, statistics).
pub async fn orlo_reads(address: String, budget: Budget, ids: Arc<Vec<String>>) -> Recorder {
    const QUERIES: [&str; 12] = [
        "/releases?user=user3",
        "/releases?platform=site1&status=SUCCESSFUL",
        "/releases?package_name=pkg1",
        "/releases?team=team2&stime_after=2020-01-01T00:00:00Z",
        "",
        "/info/packages/versions",
        "/info/packages/versions?platform=site2",
        "/stats",
        "/stats?stime=2020-01-01&ftime=2100-01-01",
        "/stats/by_date/release?unit=day",
        "/stats/by_date/release?unit=hour&stime_after=2020-01-01",
        "/stats/by_date/package?unit=day&platform=site0",
    ];
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let mut done = 0;
    while let Some(n) = budget.next(done) {
        done += 1;
        let query = QUERIES[n % QUERIES.len()];
        let path = if query.is_empty() {
            format!("/releases/{}", ids[n % ids.len()])
        } else {
            query.to_owned()
        };
        rec.call(&mut conn, "GET", &path, "", b"", OK).await;
    }
    rec
}

/// One `POST /releases/import` of 1,000 releases with 3,000 packages per work item.
pub async fn import(address: String, budget: Budget, round: usize) -> Recorder {
    let mut conn = Conn::new(&address);
    let mut rec = Recorder::default();
    let headers = auth_headers();
    let mut done = 0;
    while let Some(n) = budget.next(done) {
        done += 1;
        let doc = crate::seed::import_doc(
            1_000_000 * (round + 1) + n * 1_000,
            1_000,
            3,
            Some("importer"),
        );
        let body = doc.to_string();
        rec.call(
            &mut conn,
            "POST",
            "/releases/import",
            &headers,
            body.as_bytes(),
            OK,
        )
        .await;
    }
    rec
}
