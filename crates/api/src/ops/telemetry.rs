//! One middleware around every request: its request id (the client's `X-Request-Id` when
//! usable, else a fresh one; echoed in the response and attached to every log line written
//! while the request runs), one access-log line with face, route template, status and
//! duration, the request metrics, and `Retry-After` on every 503.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use crate::state::AppState;

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Seconds a client should wait after a 503 (the database is away): short, since service
/// returns within seconds of the database.
const RETRY_AFTER_SECONDS: &str = "1";

/// The log target of access lines.
pub const ACCESS_TARGET: &str = "shiplog::access";

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being answered on this task, for log lines written while it runs.
pub fn current_request_id() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// The client's id if it is one we can echo safely (1 to 128 characters of letters, digits and
/// `-_.:`), else a fresh UUID.
fn request_id(req: &ServiceRequest) -> Arc<str> {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(
            || uuid::Uuid::new_v4().simple().to_string().into(),
            Arc::from,
        )
}

/// The middleware (see the module documentation).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id(&req);
    let face = crate::server::face_of(req.path());
    let method = req.method().as_str().to_owned();
    let line = crate::server::request_line(&req);
    let peer = req
        .peer_addr()
        .map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Arc::clone(&s.metrics));
    let _in_flight = metrics.as_ref().map(|m| m.start());
    let start = Instant::now();
    let result = CURRENT.scope(Arc::clone(&id), next.call(req)).await;
    let seconds = start.elapsed().as_secs_f64();
    let (status, route) = match &result {
        Ok(res) => (
            res.status(),
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
        Err(err) => (
            err.as_response_error().status_code(),
            "unmatched".to_owned(),
        ),
    };
    let route = if route.is_empty() {
        "/".to_owned()
    } else {
        route
    };
    log::info!(
        target: ACCESS_TARGET,
        request_id = &*id, face = face, route = route.as_str(), method = method.as_str(),
        status = status.as_u16(), duration_ms = seconds * 1000.0, peer = peer.as_str();
        "{peer} \"{line}\" {} {:.3}ms face={face} route={route}",
        status.as_u16(),
        seconds * 1000.0,
    );
    if let Some(metrics) = &metrics {
        metrics.request(face, &route, &method, status.as_u16(), seconds);
    }
    let mut res = result?;
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    if status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        && !headers.contains_key(header::RETRY_AFTER)
    {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    Ok(res)
}
