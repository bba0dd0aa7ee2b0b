//! The Bileto landing-ticket face at `/v1` (Bileto's public API v1; docs/bileto.md): tickets
//! with their comments, substring filters, the trainguard views and the write endpoints bots
//! and scripts written for Bileto's public API v1 use.
//!
//! Errors have the same body as on the Orlo face (docs/ARCHITECTURE.md), so the error type is shared.
//!
//! Writes need a shiplog token holding the `ticket` permission (`create`, `modify`, `comment`),
//! sent as `?token=` as Bileto's bots do, or as `Authorization: Bearer` (docs/identity.md).

mod body;
mod comments;
mod json;
mod meta;
mod params;
mod tickets;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use shiplog_domain::{Action, PermissionName};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::face::{AuthFailure, Face};
use crate::orlo::{Orlo, OrloError};

/// The error of every `/v1` route: the Orlo face's, whose body `/v1` shares.
pub type BiletoError = OrloError;

/// Bileto's face at `/v1`: Orlo's body, `?token=` accepted, and Bileto's split between a
/// missing token (401) and a wrong one (403). A token that was valid once (revoked, expired) is
/// a 401: the caller must get a new one.
pub struct Bileto;

impl Face for Bileto {
    const MOUNT: &'static str = "/v1";
    const NAME: &'static str = "bileto";
    const QUERY_TOKEN: bool = true;
    type Error = OrloError;

    fn routes(cfg: &mut ServiceConfig<'_>) {
        routes(cfg);
    }

    fn unauthenticated(failure: &AuthFailure) -> OrloError {
        match failure {
            AuthFailure::Missing => OrloError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "Writes need the API token: add ?token=<token> to the URL",
            ),
            AuthFailure::Unknown | AuthFailure::Malformed(_) => OrloError::new(
                StatusCode::FORBIDDEN,
                "invalid_token",
                "The API token is not valid",
            ),
            other => OrloError::new(StatusCode::UNAUTHORIZED, "invalid_token", other.message()),
        }
    }

    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> OrloError {
        Orlo::forbidden(user, thing, action, product)
    }

    fn internal() -> OrloError {
        OrloError::internal()
    }

    fn unavailable() -> OrloError {
        OrloError::unavailable()
    }

    fn not_found(req: &HttpRequest) -> HttpResponse {
        Orlo::not_found(req)
    }

    fn request_error(status: StatusCode, message: &str) -> HttpResponse {
        Orlo::request_error(status, message)
    }
}

/// Registers every `/v1` route.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(tickets::list_tickets)
        .service(tickets::post_ticket)
        .service(tickets::get_ticket)
        .service(tickets::user_tickets)
        .service(tickets::silo_tickets)
        .service(tickets::publishable_tickets)
        .service(tickets::failed_tickets)
        .service(comments::post_comment)
        .service(meta::metadata);
}
