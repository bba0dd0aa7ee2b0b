//! Health probes: `/livez` (the process serves), `/readyz` (the database answers within a short
//! timeout and its migrations are current; 503 with a JSON reason otherwise), and the Dockerflow
//! names Balrog's deployment tooling expects: `/__lbheartbeat__`, `/__heartbeat__` (checks the
//! database) and `/__version__`.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Every path served here.
pub(crate) const PATHS: [&str; 5] = [
    "/livez",
    "/readyz",
    "/__lbheartbeat__",
    "/__heartbeat__",
    "/__version__",
];

/// How long readiness waits for a database connection; the whole probe answers within about
/// twice that even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_millis(500);

/// The commit built, from `SHIPLOG_COMMIT` in the build's environment (`option_env!`: set by
/// the Dockerfile and CI; a plain `cargo build` reports `unknown`).
pub const COMMIT: &str = match option_env!("SHIPLOG_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/livez", web::get().to(livez))
        .route("/readyz", web::get().to(readyz))
        .route("/__lbheartbeat__", web::get().to(livez))
        .route("/__heartbeat__", web::get().to(heartbeat))
        .route("/__version__", web::get().to(version));
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `Ok` when ready, else why not.
async fn check(state: &AppState) -> Result<(), String> {
    let store = state.store.clone();
    let probe = web::block(move || store.check_ready(READY_TIMEOUT));
    match actix_web::rt::time::timeout(READY_TIMEOUT * 2, probe).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(not_ready))) => Err(crate::error_chain::error_chain(&not_ready)),
        Ok(Err(blocking)) => Err(format!("the check could not run: {blocking}")),
        Err(_) => Err(format!(
            "the database did not answer within {} ms",
            (READY_TIMEOUT * 2).as_millis()
        )),
    }
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match check(&state).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(reason) => {
            log::warn!("not ready: {reason}");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": reason}))
        }
    }
}

/// Dockerflow's heartbeat: one entry per check, 200 when all pass, 503 when one fails.
async fn heartbeat(state: web::Data<AppState>) -> HttpResponse {
    match check(&state).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "checks": {"database": "ok"}})),
        Err(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "error",
            "checks": {"database": "error"},
            "details": {"database": reason},
        })),
    }
}

async fn version() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "source": env!("CARGO_PKG_REPOSITORY"),
        "version": env!("CARGO_PKG_VERSION"),
        "commit": COMMIT,
        "build": option_env!("SHIPLOG_BUILD").unwrap_or(""),
    }))
}
