//! Prometheus metrics (OpenMetrics text at `/metrics`), kept with the `prometheus-client` crate:
//! requests by face, route template, method and status class (count and latency histogram),
//! requests in flight, the database pool, storage failures by kind, rule-set reloads and age,
//! evaluations by product, channel and outcome, imports.
//!
//! Label values are bounded: routes are templates, never raw paths; an evaluation's product and
//! channel are the winning rule's (or the shutoff's), never a client's free text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use shiplog_domain::balrog::{Decision, Query, Reason};
use shiplog_storage::Store;

use crate::live_rules::LiveRuleSet;
use crate::state::AppState;

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who reaches the main address (the default: the figures hold no secrets and no
    /// client data, and scrapers then need no credential).
    #[default]
    Public,
    /// Only requests with `Authorization: Bearer <this token>`.
    Token(String),
    /// Not on the main address: the binary serves it on `--metrics-listen` instead.
    Separate,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    face: &'static str,
    route: String,
    method: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvaluationLabels {
    product: String,
    channel: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportLabels {
    outcome: &'static str,
}

/// Every metric one server keeps. Lives in [`AppState`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    in_flight: Gauge,
    evaluations: Family<EvaluationLabels, Counter>,
    imports: Family<ImportLabels, Counter>,
    imported_releases: Counter,
}

/// Storage failures by kind, process-wide: they are counted where every storage call returns
/// (`blocking::with_store`), which knows no server.
static STORAGE_ERRORS: [AtomicU64; KINDS.len()] = [const { AtomicU64::new(0) }; KINDS.len()];
const KINDS: [&str; 11] = [
    "unavailable",
    "not_found",
    "refused",
    "denied",
    "conflict",
    "config",
    "migration",
    "corrupt",
    "database",
    "blocking",
    "other",
];

/// Counts a storage failure of `kind` (see `StorageError::kind`).
pub(crate) fn storage_error(kind: &str) {
    let index = KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KINDS.len() - 1);
    STORAGE_ERRORS[index].fetch_add(1, Ordering::Relaxed);
}

/// Webhook attempts by outcome, process-wide (the delivery worker knows no server).
static WEBHOOK_ATTEMPTS: [AtomicU64; OUTCOMES.len()] =
    [const { AtomicU64::new(0) }; OUTCOMES.len()];
const OUTCOMES: [&str; 4] = ["delivered", "retry", "failed", "disabled"];

/// Counts a webhook attempt: `delivered` (2xx), `retry` (failed, another attempt is due),
/// `failed` (no attempt left) or `disabled` (410, or five days of failures).
pub(crate) fn webhook_attempt(outcome: &str) {
    if let Some(index) = OUTCOMES.iter().position(|o| *o == outcome) {
        WEBHOOK_ATTEMPTS[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// What is read at scrape time: the pool, the rule set, storage failures.
#[derive(Debug)]
struct Live {
    store: Store,
    rules: Arc<LiveRuleSet>,
}

fn encode_counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: impl Into<f64>,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value.into());
    counter.encode(encoder.encode_descriptor(name, help, unit, counter.metric_type())?)
}

fn encode_gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: impl Into<f64>,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value.into());
    gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let pool = self.store.pool_stats();
        let e = &mut encoder;
        encode_gauge(
            e,
            "db_pool_connections",
            "Open database connections (idle or in use)",
            None,
            pool.connections,
        )?;
        encode_gauge(
            e,
            "db_pool_idle_connections",
            "Idle database connections",
            None,
            pool.idle,
        )?;
        encode_gauge(
            e,
            "db_pool_max_connections",
            "The pool's size limit",
            None,
            pool.max_size,
        )?;
        #[allow(clippy::cast_precision_loss)]
        {
            encode_counter(
                e,
                "db_pool_waits",
                "Requests for a connection that found none idle",
                None,
                pool.waits as f64,
            )?;
            encode_counter(
                e,
                "db_pool_timeouts",
                "Connection waits that gave up (pool exhausted or database away)",
                None,
                pool.timeouts as f64,
            )?;
        }
        encode_counter(
            e,
            "db_pool_wait",
            "Time spent waiting for a connection",
            Some(&Unit::Seconds),
            pool.wait_seconds,
        )?;
        encode_gauge(
            e,
            "db_unreachable",
            "1 while the last attempt to connect to the database failed",
            None,
            u32::from(pool.unreachable),
        )?;
        let cache = self.store.release_cache();
        #[allow(clippy::cast_precision_loss)]
        {
            encode_gauge(
                e,
                "release_cache_releases",
                "Releases kept whole in memory, by id and revision",
                None,
                cache.releases as f64,
            )?;
            encode_gauge(
                e,
                "release_cache_size",
                "Estimated size of the releases kept in memory",
                Some(&Unit::Bytes),
                cache.bytes as f64,
            )?;
            encode_counter(
                e,
                "release_cache_hits",
                "Releases a read found in memory at the revision it wanted",
                None,
                cache.hits as f64,
            )?;
            encode_counter(
                e,
                "release_cache_misses",
                "Releases a read had to read whole from the database",
                None,
                cache.misses as f64,
            )?;
            let counts = self.store.count_memo();
            encode_counter(
                e,
                "count_memo_hits",
                "List totals told by a count kept from the same database state",
                None,
                counts.hits as f64,
            )?;
            encode_counter(
                e,
                "count_memo_misses",
                "List totals counted in the database and then kept",
                None,
                counts.misses as f64,
            )?;
            let gathered = self.store.gathered_reads();
            encode_counter(
                e,
                "gathered_reads",
                "Releases by id and first pages read together with other requests' (PostgreSQL)",
                None,
                gathered.reads as f64,
            )?;
            encode_counter(
                e,
                "gathered_batches",
                "Batches that read releases by id and first pages together (PostgreSQL)",
                None,
                gathered.batches as f64,
            )?;
        }
        let metric = e.encode_descriptor(
            "storage_errors",
            "Storage failures by kind (unavailable: the database is away or busy past its timeout)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        let mut metric = metric;
        for (kind, count) in KINDS.iter().zip(STORAGE_ERRORS.iter()) {
            #[allow(clippy::cast_precision_loss)]
            let counter = ConstCounter::new(count.load(Ordering::Relaxed) as f64);
            counter.encode(metric.encode_family(&[("kind", *kind)])?)?;
        }
        let mut metric = e.encode_descriptor(
            "webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retry, failed, disabled)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, count) in OUTCOMES.iter().zip(WEBHOOK_ATTEMPTS.iter()) {
            #[allow(clippy::cast_precision_loss)]
            let counter = ConstCounter::new(count.load(Ordering::Relaxed) as f64);
            counter.encode(metric.encode_family(&[("outcome", *outcome)])?)?;
        }
        let (reloads, age) = self.rules.reload_figures();
        #[allow(clippy::cast_precision_loss)]
        encode_counter(
            e,
            "rule_set_reloads",
            "Times the compiled rule set was rebuilt",
            None,
            reloads as f64,
        )?;
        encode_gauge(
            e,
            "rule_set_age",
            "Time since the rule set in use was compiled",
            Some(&Unit::Seconds),
            age.as_secs_f64(),
        )?;
        #[allow(clippy::cast_precision_loss)]
        encode_gauge(
            e,
            "rule_set_version",
            "The version of the rule set in use",
            None,
            self.rules.snapshot().version as f64,
        )?;
        Ok(())
    }
}

impl Metrics {
    pub fn new(store: Store, rules: Arc<LiveRuleSet>) -> Self {
        let mut registry = Registry::with_prefix("shiplog");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // 0.25 ms to about 8 s.
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request",
            Unit::Seconds,
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered",
            in_flight.clone(),
        );
        let evaluations = Family::<EvaluationLabels, Counter>::default();
        registry.register(
            "evaluations",
            "Rule evaluations (update.xml and /api/v1/evaluate) by outcome",
            evaluations.clone(),
        );
        let imports = Family::<ImportLabels, Counter>::default();
        registry.register("imports", "Orlo imports by outcome", imports.clone());
        let imported_releases = Counter::default();
        registry.register(
            "imported_releases",
            "Releases recorded by Orlo imports",
            imported_releases.clone(),
        );
        registry.register_collector(Box::new(Live { store, rules }));
        Metrics {
            registry,
            requests,
            durations,
            in_flight,
            evaluations,
            imports,
            imported_releases,
        }
    }

    /// Counts one answered request.
    pub(crate) fn request(
        &self,
        face: &'static str,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
    ) {
        let labels = RequestLabels {
            face,
            route: route.to_owned(),
            method: method.to_owned(),
            status: match status {
                100..=199 => "1xx",
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                _ => "5xx",
            },
        };
        self.durations.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// A request started; the returned guard ends it.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Counts one evaluation of `query` that decided `decision` (`None`: the query could not
    /// be evaluated).
    pub(crate) fn evaluation(&self, query: &Query<'_>, decision: Option<&Decision<'_>>) {
        let (outcome, product, channel) = match decision {
            None => ("error", None, None),
            Some(decision) => {
                let outcome = match decision.reason {
                    Reason::Shutoff => "shut_off",
                    Reason::NoMatchingRule | Reason::NoMapping => "no_rule",
                    Reason::Served
                    | Reason::ServedForced
                    | Reason::ServedFallback
                    | Reason::ServedFallbackForced
                    | Reason::ServedPinned => "served",
                    Reason::DroppedByBackgroundRate | Reason::DroppedNoFallback => {
                        "background_rate_miss"
                    }
                    Reason::ReleaseMissing => "release_missing",
                    Reason::Blocked(_) => "blocked",
                };
                match (decision.reason, decision.rule) {
                    // A shutoff matched the query's product and channel exactly.
                    (Reason::Shutoff, _) => ("shut_off", Some(query.product), query.channel),
                    (_, Some(rule)) => (
                        outcome,
                        Some(rule.fields.product.as_deref().unwrap_or("*")),
                        Some(rule.fields.channel.as_deref().unwrap_or("*")),
                    ),
                    (_, None) => (outcome, None, None),
                }
            }
        };
        let labels = EvaluationLabels {
            product: product.unwrap_or("").to_owned(),
            channel: channel.unwrap_or("").to_owned(),
            outcome,
        };
        self.evaluations.get_or_create(&labels).inc();
    }

    /// Counts one import and the releases it recorded.
    pub(crate) fn import(&self, releases: Option<u64>) {
        let outcome = if releases.is_some() {
            "recorded"
        } else {
            "failed"
        };
        self.imports.get_or_create(&ImportLabels { outcome }).inc();
        if let Some(n) = releases {
            self.imported_releases.inc_by(n);
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            log::error!("encoding metrics failed: {err}");
        }
        text
    }
}

/// Ends an in-flight request when dropped (also when the client hangs up mid-request).
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(access) = req.app_data::<web::Data<MetricsAccess>>() {
        if let MetricsAccess::Token(token) = access.as_ref() {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if presented.is_none_or(|p| !constant_time_eq(p.as_bytes(), token.as_bytes())) {
                return HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                    .json(serde_json::json!({"status": "unauthorized", "reason": "/metrics needs the metrics token"}));
            }
        }
    }
    let text = state.metrics.encode();
    let openmetrics = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text)
    } else {
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(prometheus_text(&text))
    }
}

/// The Prometheus text format (0.0.4) of OpenMetrics text, for scrapers that do not ask for
/// OpenMetrics (and for `promtool check metrics`): a counter's family is named with its
/// `_total` suffix, and `# UNIT` and `# EOF` go. What this module encodes has no `_created`
/// samples and no exemplars, so nothing else differs.
pub fn prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_owned());
            }
        }
    }
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A server answering only `GET /metrics`, for `--metrics-listen` (one worker: scrapes are rare).
pub fn serve_separately(
    listener: std::net::TcpListener,
    state: AppState,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(state);
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test;

    #[actix_web::test]
    async fn a_metrics_token_is_required_when_set() {
        let path =
            std::env::temp_dir().join(format!("shiplog-metrics-{}.db", uuid::Uuid::new_v4()));
        let store = Store::connect(
            &path.to_string_lossy(),
            &shiplog_storage::PoolOptions::default(),
        )
        .expect("store");
        store.migrate().expect("migrate");
        let app = test::init_service(
            actix_web::App::new()
                .app_data(web::Data::new(AppState::new(store)))
                .app_data(web::Data::new(MetricsAccess::Token("s3cret".to_owned())))
                .route("/metrics", web::get().to(scrape)),
        )
        .await;
        let get = |auth: Option<&'static str>| {
            let mut req = test::TestRequest::get().uri("/metrics");
            if let Some(auth) = auth {
                req = req.insert_header((header::AUTHORIZATION, auth));
            }
            req.to_request()
        };
        assert_eq!(test::call_service(&app, get(None)).await.status(), 401);
        assert_eq!(
            test::call_service(&app, get(Some("Bearer wrong")))
                .await
                .status(),
            401
        );
        let ok = test::call_service(&app, get(Some("Bearer s3cret"))).await;
        assert_eq!(ok.status(), 200);
        let body = test::read_body(ok).await;
        assert!(
            String::from_utf8_lossy(&body).contains("# TYPE shiplog_db_pool_waits_total counter")
        );
        let _ = std::fs::remove_file(&path);
    }
}
