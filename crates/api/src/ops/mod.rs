//! What an operator (rather than a client) talks to: health and readiness probes, the request
//! log and request ids, Prometheus metrics. Mounted beside the faces, outside their scopes, so
//! `--auth all` leaves the probes open.

pub mod health;
pub mod metrics;
pub mod telemetry;

pub use metrics::{Metrics, MetricsAccess};
pub use telemetry::current_request_id;

/// Registers the probes and `/metrics` (when it is served on the main address).
pub(crate) fn routes(cfg: &mut actix_web::web::ServiceConfig, access: &MetricsAccess) {
    health::routes(cfg);
    if !matches!(access, MetricsAccess::Separate) {
        cfg.route("/metrics", actix_web::web::get().to(metrics::scrape));
    }
}

/// Whether `path` is one of the operator endpoints registered by [`routes`].
pub(crate) fn is_ops_path(path: &str) -> bool {
    health::PATHS.contains(&path) || path == "/metrics"
}
