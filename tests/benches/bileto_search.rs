//! How fast `/v1` substring filters are over 100,000 tickets, through the real server.
//!
//!     cargo bench -p shiplog-tests --bench bileto_search
//!     SHIPLOG_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p shiplog-tests --bench bileto_search
//!
//! Seeds a fresh database per backend (SQLite always, PostgreSQL when the variable is set) with
//! tickets shaped like Bileto's (90% Landed, 9% Abandoned, 1% active; a few comments), then
//! times whole HTTP requests (query, comments, JSON) and prints the median of 25 runs. On
//! PostgreSQL it repeats the substring queries without the trigram index, to show what it buys.
//! `BILETO_BENCH_TICKETS` changes the number of tickets.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use shiplog_domain::{NewComment, NewTicket, TicketField, TicketFields, TicketId};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{Backend, Store};
use shiplog_tests::TestServer;

const RUNS: usize = 25;
const WARMUP: usize = 3;
const BATCH: usize = 5_000;

const LANDERS: [&str; 40] = [
    "robru",
    "osomon",
    "timo-jyrinki",
    "bobbert",
    "alice",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "xavier",
    "yolanda",
    "zoe",
    "seb128",
    "didrocks",
    "kenvandine",
    "mterry",
    "pete-woods",
    "ken",
    "tedg",
    "larsu",
    "attente",
    "dbarth",
    "charles",
    "nik90",
    "zsombi",
    "renato",
    "ricmm",
];
const SERIES: [&str; 8] = [
    "dual", "vivid", "wily", "xenial", "yakkety", "zesty", "artful", "bionic",
];
const ACTIVE: [&str; 6] = [
    "Packages built",
    "Preparing packages",
    "Failed to build",
    "Dependency wait",
    "Diff missing",
    "Successfully built",
];
const QA: [&str; 4] = ["", "Ready for QA", "QA Granted", "Publish without QA"];
const WORDS: [&str; 16] = [
    "fix",
    "crash",
    "when",
    "opening",
    "tabs",
    "desktop",
    "prototype",
    "update",
    "translations",
    "memory",
    "leak",
    "scope",
    "indicator",
    "sound",
    "network",
    "settings",
];

/// xorshift64*: deterministic, so every run seeds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One of 300 project names; `project-0042` style, with `webbrowser-app` as project 7.
fn project(n: usize) -> String {
    if n == 7 {
        "webbrowser-app".to_owned()
    } else {
        format!("project-{n:04}")
    }
}

fn ticket(rng: &mut Rng, i: usize) -> NewTicket {
    let lander = rng.pick(&LANDERS);
    let project = project(rng.below(300));
    let status = match rng.below(100) {
        0..=89 => "Landed",
        90..=98 => "Abandoned",
        _ => rng.pick(&ACTIVE),
    };
    let words: Vec<&str> = (0..4).map(|_| rng.pick(&WORDS)).collect();
    let mut fields = TicketFields::default();
    let mut set = |field: TicketField, value: String| fields.set(field, value);
    set(
        TicketField::Description,
        format!("{} in {project}", words.join(" ")),
    );
    set(
        TicketField::MergeProposals,
        format!(
            "https://code.launchpad.net/~{lander}/{project}/branch-{i}/+merge/{}",
            1_000_000 + i
        ),
    );
    set(TicketField::Landers, lander.to_owned());
    set(TicketField::Status, status.to_owned());
    set(TicketField::QaSignoff, rng.pick(&QA).to_owned());
    set(
        TicketField::Siloname,
        format!("ubuntu/landing-{:03}", i % 80),
    );
    set(TicketField::Distribution, "ubuntu".to_owned());
    set(TicketField::Series, rng.pick(&SERIES).to_owned());
    set(
        TicketField::Jenkins,
        "http://ci-train.ubuntu.com".to_owned(),
    );
    NewTicket { fields }
}

fn seed(store: &Store, count: usize) {
    let started = Instant::now();
    let mut rng = Rng(0x5eed_b11e_7001_0001);
    let mut ids: Vec<TicketId> = Vec::with_capacity(count);
    let mut next = 0;
    while next < count {
        let batch: Vec<NewTicket> = (next..count.min(next + BATCH))
            .map(|i| ticket(&mut rng, i))
            .collect();
        next += batch.len();
        ids.extend(store.import_tickets(&batch).expect("seed tickets"));
    }
    for id in ids.iter().step_by(10) {
        let comment = NewComment::new(*id, "robru", "Looks good, publishing.").expect("valid");
        store.add_ticket_comment(&comment).expect("seed comment");
    }
    eprintln!(
        "  seeded {count} tickets and {} comments in {:.1} s",
        ids.len().div_ceil(10),
        started.elapsed().as_secs_f64()
    );
}

fn median_ms(server: &TestServer, path: &str) -> (f64, usize) {
    let mut count = 0;
    for _ in 0..WARMUP {
        let reply = server.get(path);
        reply.expect(200);
        count = reply.json()["requests"].as_array().map_or(0, Vec::len);
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            server.get(path).expect(200);
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[RUNS / 2].as_secs_f64() * 1_000.0, count)
}

const QUERIES: [(&str, &str); 4] = [
    ("search, 1 match", "/v1/tickets?search=merge/1042424"),
    ("search, ~330 matches", "/v1/tickets?search=webbrowser-app"),
    ("two fields", "/v1/tickets?landers=robru&series=xenial"),
    ("default (active only)", "/v1/tickets"),
];

fn measure(server: &TestServer, label: &str, queries: &[(&str, &str)]) {
    for (name, path) in queries {
        let (ms, count) = median_ms(server, path);
        println!(
            "{:<10} {:<14} {:<24} {:>5} tickets  median {:>8.2} ms",
            server.backend.name(),
            label,
            name,
            count,
            ms
        );
    }
}

fn main() {
    // Arguments (`cargo bench` passes `--bench`) are ignored; the size comes from the environment.
    let count: usize = std::env::var("BILETO_BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for db in TestDb::all() {
        eprintln!("{}:", db.backend().name());
        let store = db.store();
        seed(&store, count);
        let backend = db.backend();
        let url = db.url().to_owned();
        if backend == Backend::Postgres {
            let mut conn = PgConnection::establish(&url).expect("connect");
            conn.batch_execute("ANALYZE tickets; ANALYZE ticket_comments;")
                .expect("analyze");
        }
        let server = TestServer::start(db);
        measure(&server, "as migrated", &QUERIES);
        if backend == Backend::Postgres {
            let mut conn = PgConnection::establish(&url).expect("connect");
            conn.batch_execute("DROP INDEX IF EXISTS tickets_trgm_idx; ANALYZE tickets;")
                .expect("drop the trigram index");
            measure(&server, "no trigram", &QUERIES[..3]);
        }
    }
}
