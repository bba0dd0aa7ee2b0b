//! The Orlo face's small fixed answers (root, ping, version) and its token endpoint.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::json::Message;
use super::Orlo;
use super::OrloError;
use crate::blocking::with_store;
use crate::identity::{credential_owner, has_credential, AuthMode};
use crate::state::AppState;

/// The Orlo version shiplog's `/` face is compatible with.
pub const ORLO_COMPAT_VERSION: &str = "0.4.3";

/// `{"version": "..."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    pub version: String,
}

fn message(text: &str) -> HttpResponse {
    HttpResponse::Ok().json(Message {
        message: text.to_owned(),
    })
}

/// Root page: Orlo's greeting for API clients; a browser (one that asks for HTML) is sent to
/// the dashboard at `/ui/` instead.
#[utoipa::path(
    tag = "orlo: meta",
    responses(
        (status = 200, description = "A greeting", body = Message),
        (status = 303, description = "To the dashboard, `/ui/`, for a client that accepts `text/html`"),
    )
)]
#[get("/")]
pub async fn root(req: HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, "/ui/"))
            .finish();
    }
    message("Orlo server, see http://orlo.readthedocs.org/")
}

/// Liveness check.
#[utoipa::path(tag = "orlo: meta", responses((status = 200, description = "`{\"message\": \"pong\"}`", body = Message)))]
#[get("/ping")]
pub async fn ping() -> HttpResponse {
    message("pong")
}

/// The Orlo API version this face speaks; shiplog's own version is in `X-Shiplog-Version`.
#[utoipa::path(tag = "orlo: meta", responses((status = 200, description = "The version", body = Version)))]
#[get("/version")]
pub async fn version() -> HttpResponse {
    versioned()
}

/// Same as `/version`.
#[utoipa::path(tag = "orlo: meta", responses((status = 200, description = "The version", body = Version)))]
#[get("/internal/version")]
pub async fn internal_version() -> HttpResponse {
    versioned()
}

fn versioned() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("X-Shiplog-Version", env!("CARGO_PKG_VERSION")))
        .json(Version {
            version: ORLO_COMPAT_VERSION.to_owned(),
        })
}

/// `{"token": …, "duration": seconds}`
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenJson {
    pub token: String,
    /// Seconds the token stays valid.
    pub duration: u64,
}

/// A short-lived access token for Orlo clients, as Orlo's `GET /token` gave one: ask with the
/// credential you have (HTTP Basic with your API token as password, `Authorization: Bearer` or
/// `X-Auth-Token`), then send the answer's `token` as `X-Auth-Token` until `duration` seconds
/// have passed. With `--auth off` and no credential, the token is one for `anonymous`, which
/// nothing checks (Orlo itself answered 500 there).
#[utoipa::path(
    tag = "orlo: meta",
    responses(
        (status = 200, description = "A token and its lifetime in seconds", body = TokenJson),
        (status = 401, description = "No valid credential", body = crate::orlo::json::ErrorBody),
    )
)]
#[get("/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let now = state.auth.now();
    let lifetime = state.auth.access_token_lifetime;
    let anonymous_allowed = state.auth.mode == AuthMode::Off && !has_credential(&req);
    let issued = if anonymous_allowed {
        with_store(&state.store, move |store| {
            store.issue_anonymous_access_token(now, lifetime)
        })
        .await?
    } else {
        let identity = credential_owner::<Orlo>(&state, &req).await?;
        with_store(&state.store, move |store| {
            store.issue_access_token(&identity, now, lifetime)
        })
        .await?
    };
    Ok(HttpResponse::Ok().json(TokenJson {
        token: issued.secret.expose().to_owned(),
        duration: u64::try_from(lifetime.whole_seconds()).unwrap_or(0),
    }))
}
