//! The `/api/v1` response body, shared by every shiplog-native endpoint (login, tokens, rule
//! evaluation): OrderlyWeb's envelope as its documentation gives it
//! (docs/identity.md, docs/evaluation.md): `{"status": "success", "data": …, "errors": []}`, and on failure
//! `{"status": "failure", "data": null, "errors": [{"code", "message"}]}` with kebab-case codes
//! (`bad-request`, `bad-json`, `bearer-token-invalid`, `forbidden`, `not-found`,
//! `unknown-token`, `unexpected-error`, …).
//!
//! Policy: input a client can fix is a 400 naming the parameter; unknown routes are a 404
//! `not-found`; internal failures are logged once with their cause chain and answered with an
//! opaque 500 `unexpected-error`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};
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
    /// `failure`
    #[schema(pattern = "^failure$")]
    pub status: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub data: Value,
    pub errors: Vec<ErrorItem>,
}

/// A success answer: `{"status": "success", "data": …, "errors": []}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// `success`
    #[schema(pattern = "^success$")]
    pub status: &'static str,
    pub data: T,
    /// Always empty.
    #[schema(max_items = 0)]
    pub errors: Vec<ErrorItem>,
}

/// A success answer: `data` wrapped in the envelope.
pub fn success<T: Serialize>(status: StatusCode, data: T) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        status: "success",
        data,
        errors: Vec::new(),
    })
}

/// A failed `/api/v1` request.
#[derive(Debug)]
pub struct EnvelopeError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl EnvelopeError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        EnvelopeError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected-error",
            "An unexpected error occurred",
        )
    }

    /// The database is away: 503 (the server adds `Retry-After`).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service-unavailable",
            "The database is unavailable; try again shortly",
        )
    }

    /// An unknown route under `/api/v1`.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Requested resource not found.",
        )
    }

    /// Logs a failure once, with its causes, and answers an opaque 500.
    pub fn unexpected(err: &dyn std::error::Error) -> Self {
        log::error!(
            "internal error on /api/v1: {}",
            crate::error_chain::error_chain(err)
        );
        Self::internal()
    }

    /// Logs a storage failure once, with its causes, and answers an opaque 500.
    pub fn from_storage(err: &shiplog_storage::StorageError) -> Self {
        if let shiplog_storage::StorageError::Denied(denied) = err {
            return <super::Native as crate::face::Face>::denied(denied);
        }
        if err.is_unavailable() {
            log::warn!(
                "database unavailable on /api/v1: {}",
                crate::error_chain::error_chain(err)
            );
            return Self::unavailable();
        }
        Self::unexpected(err)
    }

    /// The message, for callers that print it (the CLI).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for EnvelopeError {
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

impl ResponseError for EnvelopeError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(json!({
            "status": "failure",
            "data": null,
            "errors": [{"code": self.code, "message": self.message}],
        }))
    }
}
