//! Flags for operators: who may read `/metrics`, and where.

use clap::Args;
use shiplog_api::MetricsAccess;

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve `/metrics` only on this address (e.g. an internal interface), not on --listen.
    /// Unset, and without --metrics-token, `/metrics` is public on --listen: it holds figures,
    /// no secrets and no client data, so a scraper needs no credential.
    #[arg(long, env = "SHIPLOG_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Require `Authorization: Bearer <this>` to read `/metrics` on --listen.
    #[arg(long, env = "SHIPLOG_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl MetricsArgs {
    pub fn access(&self) -> MetricsAccess {
        match (&self.metrics_listen, &self.metrics_token) {
            (Some(_), _) => MetricsAccess::Separate,
            (None, Some(token)) if !token.is_empty() => MetricsAccess::Token(token.clone()),
            _ => MetricsAccess::Public,
        }
    }
}

/// The server of `/metrics` on `--metrics-listen`, when set.
pub fn metrics_server(
    args: &MetricsArgs,
    state: &shiplog_api::AppState,
) -> Result<Option<actix_web::dev::Server>, String> {
    let Some(address) = &args.metrics_listen else {
        return Ok(None);
    };
    let listener = std::net::TcpListener::bind(address)
        .map_err(|e| format!("cannot listen on {address} for metrics: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    log::info!("metrics on http://{bound}/metrics");
    shiplog_api::ops::metrics::serve_separately(listener, state.clone())
        .map(Some)
        .map_err(|e| format!("cannot serve metrics on {address}: {e}"))
}
