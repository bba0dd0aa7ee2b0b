//! The Orlo face's small fixed answers: root, ping and version.

use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::json::Message;

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

/// Root page.
#[utoipa::path(tag = "orlo: meta", responses((status = 200, description = "A greeting", body = Message)))]
#[get("/")]
pub async fn root() -> HttpResponse {
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

/// How long a token from `GET /token` lasts.
pub const TOKEN_SECONDS: u64 = 3600;

/// A token for Orlo clients. Until shiplog has identities (writes are open), this is a fresh
/// random token that nothing checks yet; Orlo itself answered 500 here with security off (B1).
#[utoipa::path(tag = "orlo: meta", responses((status = 200, description = "A token and its lifetime in seconds", body = TokenJson)))]
#[get("/token")]
pub async fn token() -> HttpResponse {
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    HttpResponse::Ok().json(TokenJson {
        token: secret,
        duration: TOKEN_SECONDS,
    })
}
