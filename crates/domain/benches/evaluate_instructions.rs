//! Instruction counts of the evaluation hot path, which repeat exactly run to run (wall clock on
//! this shared machine varies ±20 %). Run under callgrind by `make bench-instructions`, which
//! subtracts a run of 0 evaluations (start-up and compiling the sets) from a run of N and
//! divides by N. Alone, it only evaluates: `EVALS=1000 cargo bench --bench
//! evaluate_instructions`.

use std::hint::black_box;

use shiplog_domain::balrog::SplitMix64;

#[path = "fixture.rs"]
mod fixture;

fn main() {
    let evals: usize = std::env::var("EVALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let which = std::env::var("RULESET").unwrap_or_else(|_| "firefox".into());
    let (set, queries) = if which == "thousand" {
        (
            fixture::thousand_over_twenty_products(),
            fixture::product_queries(),
        )
    } else {
        (fixture::firefox_ten(), fixture::queries())
    };
    let mut dice = SplitMix64(7);
    let mut served = 0usize;
    for i in 0..evals {
        let query = &queries[i % queries.len()];
        if let Ok(decision) = set.evaluate(black_box(query), &mut dice) {
            served += usize::from(decision.release.is_some());
        }
    }
    black_box(served);
}
