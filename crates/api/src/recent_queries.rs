//! The update queries this server answered lately, per product, in memory: what
//! `GET /api/v1/scheduled_changes/{table}/{sc_id}/preview` compares a pending change against
//! when the caller sends no queries of its own.
//!
//! Bounded on every side, since the queries come from clients: only products some rule names
//! are kept (so made-up products cannot crowd real ones out), at most [`MAX_PRODUCTS`] of them,
//! each with its [`PER_PRODUCT`] most recent *distinct* queries. Until a product's list is full
//! every new query goes in; after that one request in [`SAMPLE_WHEN_FULL`] is looked at, so a
//! busy server spends almost nothing on this. Client identifiers of sticky rules are never kept
//! (the recorder is handed the query before they are read). Each instance keeps its own: behind a
//! load balancer, a preview sees the traffic of the instance that answers it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use shiplog_domain::balrog::{OwnedQuery, RuleSet};

use crate::caching::Fnv1a;

/// Distinct queries kept per product.
pub const PER_PRODUCT: usize = 1_000;

/// Products kept at most.
pub const MAX_PRODUCTS: usize = 64;

/// Once a product's list is full, one query in this many is considered for it.
pub const SAMPLE_WHEN_FULL: u64 = 8;

/// Recent queries by product.
#[derive(Debug, Default)]
pub struct RecentQueries {
    products: Mutex<HashMap<Box<str>, Recent>>,
    tick: AtomicU64,
}

#[derive(Debug, Default)]
struct Recent {
    /// Oldest first.
    queries: VecDeque<OwnedQuery>,
    /// Hashes of `queries`, to keep them distinct.
    seen: HashSet<u64>,
}

impl RecentQueries {
    pub fn new() -> RecentQueries {
        RecentQueries::default()
    }

    /// Notes a query answered with `set` (before its sticky client identifiers are read).
    pub fn record(&self, set: &RuleSet, query: &OwnedQuery) {
        if !set.knows_product(&query.product) {
            return;
        }
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut products = self.products.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up before `entry`, which would copy the product's name on every request.
        if !products.contains_key(query.product.as_str()) {
            if products.len() >= MAX_PRODUCTS {
                return;
            }
            products.insert(Box::from(query.product.as_str()), Recent::default());
        }
        let Some(recent) = products.get_mut(query.product.as_str()) else {
            return;
        };
        if recent.queries.len() >= PER_PRODUCT && !tick.is_multiple_of(SAMPLE_WHEN_FULL) {
            return;
        }
        let hash = hash_of(query);
        if !recent.seen.insert(hash) {
            return;
        }
        recent.queries.push_back(OwnedQuery {
            client_id: None,
            client_ids: Vec::new(),
            ..query.clone()
        });
        if recent.queries.len() > PER_PRODUCT {
            if let Some(oldest) = recent.queries.pop_front() {
                recent.seen.remove(&hash_of(&oldest));
            }
        }
    }

    /// The queries kept for `products` (every product kept when `None`), oldest first within a
    /// product, products in name order.
    pub fn for_products(&self, products: Option<&[&str]>) -> Vec<OwnedQuery> {
        let kept = self.products.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&Box<str>> = kept
            .keys()
            .filter(|name| products.is_none_or(|wanted| wanted.contains(&name.as_ref())))
            .collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| kept[name].queries.iter().cloned())
            .collect()
    }
}

/// The query's hash, to keep a product's queries distinct. FNV-1a rather than `DefaultHasher`
/// (SipHash, 2.7 % of the instructions of an update request on the bench's queries): a query
/// lost to a collision only goes unrecorded, and the set of hashes is keyed as usual.
fn hash_of(query: &OwnedQuery) -> u64 {
    let mut hasher = Fnv1a::default();
    query.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiplog_domain::balrog::Rule;

    fn set_for(products: &[&str]) -> RuleSet {
        let rules: Vec<Rule> = products
            .iter()
            .enumerate()
            .map(|(i, product)| {
                Rule::builder(i64::try_from(i).expect("small") + 1, "x")
                    .product(product)
                    .build()
                    .expect("a valid rule")
            })
            .collect();
        RuleSet::compile(&rules, &[], vec![]).expect("compiles")
    }

    fn query(product: &str, version: &str) -> OwnedQuery {
        OwnedQuery::new(product, version)
    }

    #[test]
    fn distinct_queries_of_known_products_are_kept() {
        let set = set_for(&["Firefox"]);
        let recent = RecentQueries::new();
        recent.record(&set, &query("Firefox", "60.0"));
        recent.record(&set, &query("Firefox", "60.0"));
        recent.record(&set, &query("Firefox", "61.0"));
        recent.record(&set, &query("Made-Up", "1.0"));
        let kept = recent.for_products(None);
        assert_eq!(
            kept,
            vec![query("Firefox", "60.0"), query("Firefox", "61.0")]
        );
        assert_eq!(recent.for_products(Some(&["Thunderbird"])), vec![]);
    }

    #[test]
    fn client_identifiers_are_not_kept() {
        let set = set_for(&["Firefox"]);
        let recent = RecentQueries::new();
        let mut sticky = query("Firefox", "60.0");
        sticky.client_id = Some("installation-1".into());
        sticky.client_ids = vec![("query:id".into(), "installation-1".into())];
        recent.record(&set, &sticky);
        assert_eq!(recent.for_products(None), vec![query("Firefox", "60.0")]);
    }

    #[test]
    fn each_product_keeps_its_latest_thousand() {
        let set = set_for(&["Firefox"]);
        let recent = RecentQueries::new();
        // Until full, every query goes in; after that one in SAMPLE_WHEN_FULL.
        let total = PER_PRODUCT + 8 * usize::try_from(SAMPLE_WHEN_FULL).expect("small");
        for n in 0..total {
            recent.record(&set, &query("Firefox", &format!("1.{n}")));
        }
        let kept = recent.for_products(Some(&["Firefox"]));
        assert_eq!(kept.len(), PER_PRODUCT);
        assert_ne!(kept[0], query("Firefox", "1.0"), "the oldest went");
        assert_eq!(
            kept.last(),
            Some(&query("Firefox", &format!("1.{}", total - 8)))
        );
    }

    #[test]
    fn products_are_capped() {
        let names: Vec<String> = (0..MAX_PRODUCTS + 5).map(|n| format!("P{n}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let set = set_for(&refs);
        let recent = RecentQueries::new();
        for name in &refs {
            recent.record(&set, &query(name, "1.0"));
        }
        assert_eq!(recent.for_products(None).len(), MAX_PRODUCTS);
    }
}
