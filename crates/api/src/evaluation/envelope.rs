//! shiplog's own endpoints at `/api/v1` answer in the OrderlyWeb envelope (seeds/003):
//! `{"status": "success", "data": …, "errors": []}`, and on failure
//! `{"status": "failure", "data": null, "errors": [{"code", "message"}]}` with kebab-case codes
//! (`bad-request`, `not-found`, `unexpected-error`; research/conventions.md §2).
//!
//! Policy: input a client can fix is a 400 `bad-request` naming the parameter; unknown routes
//! are a 404 `not-found`; internal failures are logged once with their cause chain and answered
//! with an opaque 500 `unexpected-error`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// One error item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    pub code: String,
    pub message: String,
}

/// The failure envelope, for the API description.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureEnvelope {
    /// Always `failure`.
    pub status: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub data: Option<()>,
    pub errors: Vec<ErrorItem>,
}

/// A failed `/api/v1` request.
#[derive(Debug)]
pub struct V1Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl V1Error {
    pub fn bad_request(message: impl Into<String>) -> Self {
        V1Error {
            status: StatusCode::BAD_REQUEST,
            code: "bad-request",
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        V1Error {
            status: StatusCode::NOT_FOUND,
            code: "not-found",
            message: "Requested resource not found.".into(),
        }
    }

    /// Logs `err` with its cause chain and answers an opaque 500.
    pub fn unexpected(err: &dyn std::error::Error) -> Self {
        log::error!(
            "internal error on /api/v1: {}",
            crate::orlo::error::error_chain(err)
        );
        V1Error {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "unexpected-error",
            message: "An unexpected error occurred.".into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for V1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for V1Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({
            "status": "failure",
            "data": null,
            "errors": [{"code": self.code, "message": self.message}],
        }))
    }
}

/// `{"status": "success", "data": data, "errors": []}`
pub fn success(data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "data": data, "errors": []}))
}
