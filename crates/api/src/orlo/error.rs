//! Errors on the Orlo face.
//!
//! Policy: every failure answers JSON with the status Orlo gives for it and Orlo's own `message`
//! text (clients and scripts match on it), plus `code` (the HTTP status), `title` (its reason
//! phrase) and `error` (a stable snake_case code). Where Orlo crashes with a 500 on bad input,
//! shiplog answers the 4xx its documentation implies. Internal failures are logged once here
//! with their cause chain and answered with an opaque 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};
use shiplog_domain::DomainError;
use shiplog_storage::StorageError;

/// A failed request on the Orlo face.
#[derive(Debug)]
pub struct OrloError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Extra top-level keys Orlo sends with some errors (e.g. `"releases": []`).
    extra: Map<String, Value>,
}

impl OrloError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OrloError {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Orlo's answer to a request without a usable JSON body.
    pub fn missing_json() -> Self {
        Self::bad_request("missing_json", "Missing application/json header")
    }

    /// Orlo's 404 for an empty listing: `{"message": "No releases found", "releases": []}`.
    pub fn empty_list(noun: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No {noun} found"),
        );
        error
            .extra
            .insert(noun.to_owned(), Value::Array(Vec::new()));
        error
    }

    /// Orlo's 404 for an unknown route.
    pub fn unknown_route(url: String) -> Self {
        let mut error = Self::new(StatusCode::NOT_FOUND, "not_found", "404 Not Found");
        error.extra.insert("url".to_owned(), Value::String(url));
        error
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The server could not complete the request",
        )
    }

    /// The database is away: 503 (the server adds `Retry-After`).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The database is unavailable; try again shortly",
        )
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for OrloError {
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

impl ResponseError for OrloError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = self.extra.clone();
        body.insert("code".into(), json!(self.status.as_u16()));
        body.insert(
            "title".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("message".into(), json!(self.message));
        body.insert("error".into(), json!(self.code));
        HttpResponse::build(self.status).json(Value::Object(body))
    }
}

impl From<DomainError> for OrloError {
    fn from(err: DomainError) -> Self {
        let code = match &err {
            DomainError::InvalidId { .. } => "invalid_id",
            DomainError::InvalidStatus(_) => "invalid_status",
            DomainError::InvalidTransition { .. } => "invalid_transition",
            DomainError::InvalidTimestamp(_) => "invalid_timestamp",
            DomainError::InvalidField { .. } => "invalid_field",
        };
        OrloError::bad_request(code, err.to_string())
    }
}

impl From<StorageError> for OrloError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::ReleaseNotFound => {
                OrloError::bad_request("release_not_found", "Release does not exist")
            }
            StorageError::PackageNotFound => {
                OrloError::bad_request("package_not_found", "Package does not exist")
            }
            StorageError::PackageNotInRelease => OrloError::bad_request(
                "package_not_in_release",
                "This package does not belong to this release",
            ),
            // Only the Bileto face (which shares this error type) reaches tickets.
            StorageError::TicketNotFound(id) => OrloError::new(
                StatusCode::NOT_FOUND,
                "ticket_not_found",
                format!("No ticket has request_id {id}"),
            ),
            StorageError::Refused(domain) => domain.into(),
            StorageError::Denied(denied) => <super::Orlo as crate::face::Face>::denied(&denied),
            StorageError::Conflict(message) => {
                OrloError::new(StatusCode::CONFLICT, "conflict", message)
            }
            other if other.is_unavailable() => {
                log::warn!(
                    "database unavailable on the Orlo face: {}",
                    crate::error_chain::error_chain(&other)
                );
                OrloError::unavailable()
            }
            other => {
                log::error!(
                    "internal error on the Orlo face: {}",
                    crate::error_chain::error_chain(&other)
                );
                OrloError::internal()
            }
        }
    }
}

/// The stable `error` code of a failure raised before any handler ran.
pub(crate) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "request_error",
    }
}

/// The URL of a request as an error body may echo it: the query string's `token` values (a
/// Bileto credential) are hidden.
pub(crate) fn url_without_secrets(req: &actix_web::HttpRequest) -> String {
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let query = crate::redact::query_without_tokens(req.query_string());
    if query.is_empty() {
        format!("{base}{}", req.path())
    } else {
        format!("{base}{}?{query}", req.path())
    }
}
