//! shiplog's own endpoints at `/api/v1`, in the OrderlyWeb envelope: login and API tokens
//! (`tokens`), rule evaluation as JSON (`evaluate`), delivery metrics (`delivery`). Every
//! answer, errors included, is `{"status","data","errors"}` (see `envelope`).

pub mod delivery;
pub mod envelope;
pub mod evaluate;
mod evaluate_batch;
pub mod events;
mod preview;
mod tokens;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use shiplog_domain::{Action, PermissionName};
use utoipa_actix_web::service_config::ServiceConfig;

pub use envelope::EnvelopeError;
pub use evaluate::{parse_query, parse_query_object, EvaluationData};

use crate::face::{denied_text, AuthFailure, Face};

/// shiplog's own face at `/api/v1`: the envelope, and OrderlyWeb's `bearer-token-invalid`.
pub struct Native;

impl Face for Native {
    const MOUNT: &'static str = "/api/v1";
    const NAME: &'static str = "native";
    type Error = EnvelopeError;

    fn routes(cfg: &mut ServiceConfig<'_>) {
        cfg.service(tokens::login)
            .service(tokens::create_token)
            .service(tokens::list_tokens)
            .service(tokens::revoke_token)
            .service(evaluate::evaluate)
            .service(evaluate_batch::evaluate_batch)
            .service(preview::preview)
            .service(preview::preview_recent)
            .service(delivery::get_delivery)
            .service(events::list_events)
            .service(events::stream_events)
            .service(webhooks::create_webhook)
            .service(webhooks::list_webhooks)
            .service(webhooks::get_webhook)
            .service(webhooks::update_webhook)
            .service(webhooks::delete_webhook)
            .service(webhooks::test_webhook)
            .service(webhooks::list_deliveries)
            .service(webhooks::redeliver)
            .service(webhooks::callback_secret);
    }

    fn unauthenticated(failure: &AuthFailure) -> EnvelopeError {
        let message = match failure {
            AuthFailure::Missing => {
                "Bearer token not supplied in Authorization header, or bearer token was invalid"
                    .to_owned()
            }
            other => other.message(),
        };
        EnvelopeError::new(StatusCode::UNAUTHORIZED, "bearer-token-invalid", message)
    }

    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> EnvelopeError {
        EnvelopeError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            denied_text(user, thing, action, product),
        )
    }

    fn internal() -> EnvelopeError {
        EnvelopeError::internal()
    }

    fn unavailable() -> EnvelopeError {
        EnvelopeError::unavailable()
    }

    fn not_found(_req: &HttpRequest) -> HttpResponse {
        EnvelopeError::not_found().error_response()
    }

    fn request_error(status: StatusCode, message: &str) -> HttpResponse {
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            _ => "bad-request",
        };
        EnvelopeError::new(status, code, message).error_response()
    }

    /// Logging in stays open under `--auth all`: it is how a caller gets a credential.
    fn is_open(path: &str) -> bool {
        path == "/api/v1/login"
    }
}
