//! The ledger's read paths over a realistic history: 100,000 releases with 300,000 packages.
//!
//! Run: `cargo bench -p shiplog-storage --bench queries` (SQLite), and with
//! `SHIPLOG_BENCH_DATABASE_URL=postgres://…` for PostgreSQL. The seeded database is kept (a
//! file under target/bench, or the `shiplog_bench` schema) and reused while it holds the data.

use criterion::{criterion_group, criterion_main, Criterion};
use shiplog_domain::delivery::{GroupBy, Window};
use shiplog_domain::{NewPackage, NewRelease, PackageStatus};
use shiplog_storage::{
    DateUnit, DeliveryQuery, PackageFilter, Page, PoolOptions, ReleaseFilter, StatsSubject, Store,
    TimeRange,
};
use time::macros::datetime;
use time::Duration;

const RELEASES: usize = 100_000;
const PACKAGES_PER_RELEASE: usize = 3;

fn bench_url() -> String {
    if let Ok(url) = std::env::var("SHIPLOG_BENCH_DATABASE_URL") {
        if url.starts_with("postgres") {
            // A schema of its own, so the bench never touches real data.
            let mut admin = url.clone();
            let separator = if admin.contains('?') { '&' } else { '?' };
            create_schema(&url);
            admin.push(separator);
            admin.push_str("options=-c%20search_path%3Dshiplog_bench");
            return admin;
        }
        return url;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    format!("sqlite://{}", dir.join("ledger-100k.db").display())
}

fn create_schema(url: &str) {
    use std::process::Command;
    let _ = Command::new("psql")
        .arg(url)
        .args(["-qc", "CREATE SCHEMA IF NOT EXISTS shiplog_bench"])
        .status();
}

/// Deterministic pseudo-random numbers (no dependency, same data every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

fn seed(store: &Store) {
    let page = Page {
        limit: Some(1),
        offset: (RELEASES - 1) as i64,
        ascending: true,
    };
    if !store
        .list_releases(&ReleaseFilter::default(), &page)
        .expect("probe")
        .is_empty()
    {
        return;
    }
    eprintln!(
        "seeding {RELEASES} releases with {} packages…",
        RELEASES * PACKAGES_PER_RELEASE
    );
    let mut rng = Lcg(42);
    let start = datetime!(2024-01-01 0:00 UTC);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..RELEASES {
        let stime = start + Duration::minutes(i as i64 * 10);
        let platforms = vec![
            format!("platform-{}", rng.next(20)),
            format!("platform-{}", rng.next(20)),
        ];
        let mut release = NewRelease::new(&format!("user-{}", rng.next(50)), platforms, stime)
            .expect("valid")
            .with_team(Some(&format!("team-{}", rng.next(10))));
        release = release
            .finished_at(stime + Duration::seconds(rng.next(600) as i64))
            .expect("ordered");
        release.references = vec![format!("TICKET-{i}")];
        for p in 0..PACKAGES_PER_RELEASE {
            let status = match rng.next(20) {
                0 => PackageStatus::Failed,
                1 => PackageStatus::InProgress,
                _ => PackageStatus::Successful,
            };
            let pstime = stime + Duration::seconds(p as i64);
            let ftime = status
                .is_finished()
                .then(|| pstime + Duration::seconds(rng.next(300) as i64));
            let mut package = NewPackage::new(
                &format!("pkg-{}", rng.next(100)),
                &format!("1.{}.{}", i / 1000, rng.next(10)),
            )
            .with_history(status, Some(pstime), ftime)
            .expect("ordered");
            package.rollback = rng.next(50) == 0;
            release.packages.push(package);
        }
        batch.push(release);
        if batch.len() == batch.capacity() {
            store.import_releases(&batch).expect("seed");
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.import_releases(&batch).expect("seed");
    }
}

fn queries(c: &mut Criterion) {
    let store = Store::connect(&bench_url(), &PoolOptions::default()).expect("connect");
    store.migrate().expect("migrate");
    let seeding = std::time::Instant::now();
    seed(&store);
    store.optimize().expect("planner statistics"); // as `shiplog serve` does at start-up
    eprintln!(
        "bench database ready on {} in {:?}",
        store.backend().name(),
        seeding.elapsed()
    );
    let backend = store.backend().name();
    let page = Page::default();

    let mut group = c.benchmark_group(format!("ledger/{backend}"));
    group.sample_size(20);
    group.bench_function("GET /releases?user&platform (100)", |b| {
        let filter = ReleaseFilter {
            user: Some("user-7".into()),
            platform: Some("platform-3".into()),
            ..Default::default()
        };
        b.iter(|| store.list_releases(&filter, &page).expect("list"))
    });
    group.bench_function("GET /releases?status=FAILED&package_name (100)", |b| {
        let filter = ReleaseFilter {
            status: Some(PackageStatus::Failed),
            package: PackageFilter {
                name: Some("pkg-42".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        b.iter(|| store.list_releases(&filter, &page).expect("list"))
    });
    group.bench_function("GET /releases?stime_after&team (100)", |b| {
        let filter = ReleaseFilter {
            team: Some(Some("team-3".into())),
            stime: TimeRange {
                after: Some(datetime!(2025-01-01 0:00 UTC)),
                ..Default::default()
            },
            ..Default::default()
        };
        b.iter(|| store.list_releases(&filter, &page).expect("list"))
    });
    // The HTTP bench's page row: one user's ten newest, and the count behind `X-Total-Count`.
    group.bench_function("GET /releases?user&limit=10 (with its count)", |b| {
        let filter = ReleaseFilter {
            user: Some("user-7".into()),
            ..Default::default()
        };
        let ten = Page {
            limit: Some(10),
            ..Page::default()
        };
        b.iter(|| store.list_releases_counted(&filter, &ten).expect("list"))
    });
    group.bench_function("GET /info/packages/versions", |b| {
        b.iter(|| store.current_versions(None, false).expect("versions"))
    });
    group.bench_function("GET /info/packages/versions?platform", |b| {
        b.iter(|| {
            store
                .current_versions(Some("platform-5"), false)
                .expect("versions")
        })
    });
    group.bench_function("GET /stats", |b| {
        b.iter(|| {
            store
                .release_counts(&ReleaseFilter::default())
                .expect("stats")
        })
    });
    group.bench_function("GET /stats?stime&ftime (one month)", |b| {
        let filter = ReleaseFilter {
            stime: TimeRange {
                not_before: Some(datetime!(2024-06-01 0:00 UTC)),
                not_after: Some(datetime!(2024-06-30 23:59 UTC)),
                ..Default::default()
            },
            ..Default::default()
        };
        b.iter(|| store.release_counts(&filter).expect("stats"))
    });
    group.bench_function("GET /stats/user", |b| {
        b.iter(|| {
            store
                .release_counts_by(StatsSubject::User, None, &ReleaseFilter::default())
                .expect("stats")
        })
    });
    group.bench_function("GET /stats/by_date/release?unit=day", |b| {
        b.iter(|| {
            store
                .release_counts_by_date(DateUnit::Day, false, &ReleaseFilter::default())
                .expect("by date")
        })
    });
    group.bench_function(
        "GET /stats/by_date/release?unit=hour&stime_after (recent)",
        |b| {
            let filter = ReleaseFilter {
                stime: TimeRange {
                    after: Some(datetime!(2025-10-01 0:00 UTC)),
                    ..Default::default()
                },
                ..Default::default()
            };
            b.iter(|| {
                store
                    .release_counts_by_date(DateUnit::Hour, false, &filter)
                    .expect("by date")
            })
        },
    );
    // The 100k figure for /api/v1/delivery: a 30-day window in the middle of the history, so
    // failures near its end are looked up after it.
    let month = Window::new(
        datetime!(2024-06-01 0:00 UTC),
        datetime!(2024-07-01 0:00 UTC),
    )
    .expect("ordered");
    group.bench_function("GET /api/v1/delivery (30 days)", |b| {
        let query = DeliveryQuery::new(month);
        b.iter(|| store.delivery(&query).expect("delivery"))
    });
    group.bench_function("GET /api/v1/delivery?group_by=team (30 days)", |b| {
        let mut query = DeliveryQuery::new(month);
        query.group_by = Some(GroupBy::Team);
        b.iter(|| store.delivery(&query).expect("delivery"))
    });
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
