//! Wall-clock evaluation speed: one query against a compiled rule set, for a realistic 10-rule
//! Firefox set and for 1,000 rules across 20 products (which must not cost 100× more: the
//! index reads only the query's product); and the evaluation with its `update.xml` rendered.
//! `cargo bench -p shiplog-domain --bench evaluate`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shiplog_domain::balrog::{update_xml as render, SplitMix64};

#[path = "fixture.rs"]
mod fixture;

fn evaluation(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    for (name, set, queries) in [
        (
            "firefox_10_rules",
            fixture::firefox_ten(),
            fixture::queries(),
        ),
        (
            "1000_rules_20_products",
            fixture::thousand_over_twenty_products(),
            fixture::product_queries(),
        ),
    ] {
        group.throughput(Throughput::Elements(queries.len() as u64));
        let mut dice = SplitMix64(7);
        group.bench_function(name, |b| {
            b.iter(|| {
                for query in &queries {
                    let decision = set.evaluate(black_box(query), &mut dice);
                    black_box(decision.map(|d| d.reason)).ok();
                }
            })
        });
    }
    group.finish();
}

/// The whole answer to an update check: the decision, then its `update.xml` (patch URLs from
/// templates, the details URL with the client's locale).
fn update_xml(c: &mut Criterion) {
    let mut group = c.benchmark_group("update_xml");
    let set = fixture::firefox_ten();
    let queries = fixture::queries();
    group.throughput(Throughput::Elements(queries.len() as u64));
    let mut dice = SplitMix64(7);
    group.bench_function("firefox_10_rules", |b| {
        b.iter(|| {
            for query in &queries {
                let xml = set
                    .evaluate(black_box(query), &mut dice)
                    .and_then(|decision| render(&set, &decision, query, &mut dice));
                black_box(xml).ok();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, evaluation, update_xml);
criterion_main!(benches);
