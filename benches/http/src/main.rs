//! `make bench-http`: starts a release-build shiplog on SQLite and on PostgreSQL, seeds it, and
//! prints one table per backend: for each request kind, req/s, p50, p99, max, the ratio to
//! `/ping` in the same run, and the server's CPU time per request.
//!
//! Usage: `bench-http [--shiplog target/release/shiplog] [--seconds 5] [--connections 16]
//! [--backend sqlite|postgres|both] [--postgres postgres://…] [--only TEXT] [--perf DIR]`.
//! `--only` keeps the rows whose name contains TEXT (and the `/ping` rows the ratios need);
//! `--perf` records a `perf record -g` profile of the server for each row into DIR (with
//! `SHIPLOG_BENCH_PERF_CALL_GRAPH=dwarf,16384`, whole call stacks at a lower rate).

mod client;
mod load;
mod scenarios;
mod seed;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shiplog_storage::testing::TestDb;

use load::{Budget, Outcome};
use server::Server;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Releases seeded before the run: the filtered page reads one user's ten newest of these.
const SEEDED_RELEASES: usize = 25_000;
/// The Orlo workload: 300 releases × 12 writes, then the read cycle, then 1,000-release imports.
const ORLO_RELEASES: usize = 300;
/// The writes a second the paced row's reads run beside (their CPU counts in that row too),
/// over this many connections.
const PACED_WRITES: u32 = 500;
const PACED_CONNECTIONS: u32 = 4;
const IMPORTS: usize = 3;

struct Options {
    shiplog: PathBuf,
    seconds: f64,
    connections: usize,
    backends: Vec<&'static str>,
    postgres: String,
    only: Option<String>,
    perf: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut opts = Options {
        shiplog: PathBuf::from("target/release/shiplog"),
        seconds: 5.0,
        connections: 16,
        backends: vec!["sqlite", "postgres"],
        postgres: std::env::var("SHIPLOG_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG.into()),
        only: None,
        perf: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--shiplog" => opts.shiplog = PathBuf::from(value()?),
            "--seconds" => opts.seconds = value()?.parse().map_err(|_| "--seconds: a number")?,
            "--connections" => {
                opts.connections = value()?.parse().map_err(|_| "--connections: a count")?
            }
            "--postgres" => opts.postgres = value()?,
            "--only" => opts.only = Some(value()?),
            "--perf" => opts.perf = Some(PathBuf::from(value()?)),
            "--backend" => {
                opts.backends = match value()?.as_str() {
                    "sqlite" => vec!["sqlite"],
                    "postgres" => vec!["postgres"],
                    "both" => vec!["sqlite", "postgres"],
                    other => return Err(format!("--backend {other}: sqlite, postgres or both")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}

fn main() {
    if let Err(message) = real_main() {
        eprintln!("bench-http: {message}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let opts = options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    println!("{}", machine());
    for backend in &opts.backends {
        let db = match *backend {
            "sqlite" => TestDb::sqlite(),
            _ => {
                let reachable = opts
                    .postgres
                    .split('@')
                    .nth(1)
                    .and_then(|rest| rest.split('/').next())
                    .is_some_and(|host| std::net::TcpStream::connect(host).is_ok());
                if !reachable {
                    println!("\nPostgreSQL at {} does not answer: skipped", opts.postgres);
                    continue;
                }
                TestDb::postgres(&opts.postgres)
            }
        };
        let log = std::env::temp_dir().join(format!("shiplog-bench-http-{backend}.log"));
        let server = Server::start(&opts.shiplog, db.url(), &log)?;
        let rows = runtime.block_on(measure(&server, &opts, backend))?;
        print_table(backend, &server.address, &log, &rows, &opts);
        drop(server);
        drop(db);
    }
    Ok(())
}

/// One row of the table.
struct Row {
    kind: String,
    outcome: Outcome,
    server_cpu: Duration,
    client_cpu: Duration,
}

/// What every row's measurement needs to know.
struct Ctx<'a> {
    server: &'a Server,
    opts: &'a Options,
    backend: &'a str,
}

impl Ctx<'_> {
    fn wanted(&self, kind: &str) -> bool {
        kind.starts_with("GET /ping")
            || self
                .opts
                .only
                .as_deref()
                .is_none_or(|only| kind.contains(only))
    }
}

async fn timed<F>(ctx: &Ctx<'_>, rows: &mut Vec<Row>, kind: &str, run: F)
where
    F: std::future::Future<Output = Outcome>,
{
    if !ctx.wanted(kind) {
        return;
    }
    let server = ctx.server;
    let profiler = ctx.opts.perf.as_deref().and_then(|dir| {
        let slug: String = kind
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        server::Profiler::start(server, &dir.join(format!("{}-{slug}.data", ctx.backend)))
    });
    let (cpu, own) = (server.cpu(), server::own_cpu());
    let outcome = run.await;
    drop(profiler);
    rows.push(Row {
        kind: kind.to_owned(),
        server_cpu: server.cpu().saturating_sub(cpu),
        client_cpu: server::own_cpu().saturating_sub(own),
        outcome,
    });
}

async fn measure(server: &Server, opts: &Options, backend: &str) -> Result<Vec<Row>, String> {
    let ctx = Ctx {
        server,
        opts,
        backend,
    };
    let address = server.address.clone();
    let c = opts.connections;
    let secs = opts.seconds;
    let seeded = Arc::new(seed::releases(&address, SEEDED_RELEASES).await?);
    seed::rules(&address).await?;
    let mut rows = Vec::new();
    let a = || address.clone();

    // Warm-up: connections, pools, caches.
    load::run(c, |_| scenarios::ping(a(), Budget::seconds(0.5))).await;
    let ids = seeded.clone();
    load::run(c, |w| {
        scenarios::by_id(a(), Budget::seconds(0.5), w, ids.clone())
    })
    .await;

    timed(
        &ctx,
        &mut rows,
        "GET /ping",
        load::run(c, |_| scenarios::ping(a(), Budget::seconds(secs))),
    )
    .await;
    timed(
        &ctx,
        &mut rows,
        "POST /releases",
        load::run(c, |w| scenarios::create(a(), Budget::seconds(secs), w)),
    )
    .await;
    let ids = seeded.clone();
    timed(
        &ctx,
        &mut rows,
        "GET /releases/{id}",
        load::run(c, |w| {
            scenarios::by_id(a(), Budget::seconds(secs), w, ids.clone())
        }),
    )
    .await;
    timed(
        &ctx,
        &mut rows,
        "GET /releases?user=…&limit=10",
        load::run(c, |w| scenarios::page(a(), Budget::seconds(secs), w)),
    )
    .await;
    // Reads while writes go on: SQLite's readers start cold after each commit (their page
    // cache dropped, the memory map made anew), which the quiet rows above never show.
    // The writes are paced, each connection waiting for its answer: when they take longer
    // than their share of a second they fall behind, so the row says how many were made.
    let ids = seeded.clone();
    let paced_row = format!("GET /releases/{{id}}, {PACED_WRITES} writes/s beside");
    let mut written = 0;
    timed(&ctx, &mut rows, &paced_row, async {
        let writers: Vec<_> = (0..PACED_CONNECTIONS)
            .map(|_| {
                tokio::spawn(scenarios::paced_writes(
                    a(),
                    Budget::seconds(secs),
                    PACED_WRITES / PACED_CONNECTIONS,
                ))
            })
            .collect();
        let mut outcome = load::run(c, |w| {
            scenarios::by_id(a(), Budget::seconds(secs), w, ids.clone())
        })
        .await;
        for writer in writers {
            match writer.await {
                Ok(writes) => {
                    written += writes.latencies.len();
                    outcome.recorder.errors += writes.errors;
                }
                Err(err) => {
                    eprintln!("bench-http: a paced writer's task failed: {err}");
                    outcome.recorder.errors += 1;
                }
            }
        }
        outcome
    })
    .await;
    if let Some(row) = rows.last_mut().filter(|row| row.kind == paced_row) {
        let made = written as f64 / row.outcome.elapsed.as_secs_f64();
        row.kind = format!("{paced_row} ({made:.0} made)");
    }
    timed(
        &ctx,
        &mut rows,
        "GET /update/6/… (10 rules)",
        load::run(c, |w| scenarios::update(a(), Budget::seconds(secs), w)),
    )
    .await;

    // The Orlo workload, in load.py's three phases.
    let budget = Budget::items(ORLO_RELEASES);
    let made = Arc::new(std::sync::Mutex::new(Vec::new()));
    timed(
        &ctx,
        &mut rows,
        "Orlo writes (300 × 12)",
        load::run(c, |_| {
            let (addr, budget, made) = (a(), budget.clone(), made.clone());
            async move {
                let (rec, ids) = scenarios::orlo_writes(addr, budget).await;
                made.lock().map(|mut m| m.extend(ids)).ok();
                rec
            }
        }),
    )
    .await;
    let made: Vec<String> = made.lock().map(|m| m.clone()).unwrap_or_default();
    let ids = Arc::new(if made.is_empty() {
        seeded.to_vec()
    } else {
        made
    });
    timed(
        &ctx,
        &mut rows,
        "Orlo reads (12-query cycle)",
        load::run(c, |_| {
            scenarios::orlo_reads(a(), Budget::seconds(secs), ids.clone())
        }),
    )
    .await;
    let budget = Budget::items(IMPORTS);
    timed(
        &ctx,
        &mut rows,
        "Orlo import (1,000 rel / 3,000 pkg)",
        load::run(1, |i| scenarios::import(a(), budget.clone(), i)),
    )
    .await;

    timed(
        &ctx,
        &mut rows,
        "GET /ping (again, at the end)",
        load::run(c, |_| scenarios::ping(a(), Budget::seconds(secs))),
    )
    .await;
    Ok(rows)
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn rate(row: &Row) -> f64 {
    row.outcome.recorder.latencies.len() as f64 / row.outcome.elapsed.as_secs_f64()
}

fn print_table(backend: &str, address: &str, log: &std::path::Path, rows: &[Row], opts: &Options) {
    let pings: Vec<f64> = rows
        .iter()
        .filter(|r| r.kind.starts_with("GET /ping"))
        .map(rate)
        .collect();
    let ping = pings.iter().sum::<f64>() / pings.len().max(1) as f64;
    println!(
        "\n### {backend} — shiplog at http://{address}, {} connections, {} s per row (server log: {})\n",
        opts.connections,
        opts.seconds,
        log.display()
    );
    println!("| request | req/s | p50 ms | p99 ms | max ms | vs /ping | server CPU/req | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut client_cpu = Duration::ZERO;
    let mut wall = Duration::ZERO;
    for row in rows {
        let mut lat = row.outcome.recorder.latencies.clone();
        lat.sort_unstable();
        let n = lat.len().max(1) as f64;
        let cpu_per = row.server_cpu.as_secs_f64() / n;
        let cpu_text = if cpu_per >= 0.01 {
            format!("{:.0} ms", cpu_per * 1e3)
        } else {
            format!("{:.0} µs", cpu_per * 1e6)
        };
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} % | {} | {} |",
            row.kind,
            rate(row),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat.last().map_or(0.0, |&m| f64::from(m) / 1000.0),
            100.0 * rate(row) / ping,
            cpu_text,
            row.outcome.recorder.errors
        );
        client_cpu += row.client_cpu;
        wall += row.outcome.elapsed;
    }
    println!(
        "\n/ping rate for the ratios: {ping:.0} req/s (mean of the two /ping rows). The load \
         generator used {:.0} % of one core over the measured rows.",
        100.0 * client_cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    );
}

/// The machine, for the record: CPU model and count, and how busy it was before the run.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {cpus} × {model}; load average before the run: {}",
        load.join(" ")
    )
}
