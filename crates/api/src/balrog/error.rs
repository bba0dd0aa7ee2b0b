//! Errors on the Balrog face, as RFC 7807 problems.
//!
//! Policy: every failure answers `application/problem+json` with `{"type": "about:blank",
//! "title", "status", "detail"}` plus Balrog's extra keys (`exception`, `data`) where Balrog sends
//! them, with Balrog's status and texts (docs/balrog.md): 400 for validation, outdated
//! data and merge conflicts (never 409), 401 without identity, 403 for read-only releases, 404 for
//! unknown objects. Where Balrog answers 500 on bad input, shiplog answers the 4xx its own checks
//! imply. Internal failures are logged once here with their cause chain and answered with an
//! opaque 500.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Map, Value};
use shiplog_domain::balrog::RuleField;
use shiplog_domain::DomainError;
use shiplog_storage::{BalrogRefusal, StorageError};

use crate::face::Face;
use utoipa::ToSchema;

/// The problem body, for the API description.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Balrog's longer explanation, where it gives one.
    pub exception: Option<String>,
}

/// A failed request on the Balrog face.
#[derive(Debug)]
pub struct BalrogError {
    status: StatusCode,
    detail: String,
    extra: Map<String, Value>,
}

impl BalrogError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        BalrogError {
            status,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// Adds Balrog's `exception` key.
    pub fn exception(self, text: impl Into<String>) -> Self {
        self.with("exception", Value::String(text.into()))
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// Balrog's answer to a blob that breaks its schema: `detail` says what was refused,
    /// `exception` the problems in one line and `data` the list of them (`path: problem`).
    pub fn invalid_blob(detail: &str, problems: Vec<String>) -> Self {
        Self::bad_request(detail)
            .exception(problems.join("; "))
            .with("data", json!(problems))
    }

    /// Balrog's answer to a write without identity.
    pub fn login_required() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Login Required")
    }

    /// Balrog's answer to a stale `data_version` in a `method` request.
    pub fn outdated(method: &str) -> Self {
        Self::bad_request("OutdatedDataError").exception(format!(
            "Couldn't perform the request {method}. Outdated Data Version. \
             old_data_version doesn't match current data_version"
        ))
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not complete the request",
        )
    }

    /// The database is away: 503 (the server adds `Retry-After`).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is unavailable; try again shortly",
        )
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Converts a storage failure for a request made with `method` (some of Balrog's texts name
    /// it).
    pub fn from_storage(err: StorageError, method: &str) -> Self {
        let refusal = match err {
            StorageError::Balrog(refusal) => refusal,
            StorageError::Refused(domain) => return domain.into(),
            StorageError::Scheduled(refusal) => return super::scheduled::refusal(refusal, method),
            StorageError::Denied(denied) => return super::Balrog::denied(&denied),
            StorageError::Conflict(message) => {
                log::warn!("gave up merging under contention: {message}");
                return Self::outdated(method);
            }
            other if other.is_unavailable() => {
                log::warn!(
                    "database unavailable on the Balrog face: {}",
                    crate::error_chain::error_chain(&other)
                );
                return Self::unavailable();
            }
            other => {
                log::error!(
                    "internal error on the Balrog face: {}",
                    crate::error_chain::error_chain(&other)
                );
                return Self::internal();
            }
        };
        match refusal {
            BalrogRefusal::RuleNotFound(_) => Self::not_found("Requested rule wasn't found")
                .exception("Requested rule does not exist"),
            BalrogRefusal::ReleaseNotFound(name) => {
                Self::not_found(format!("Release: {name} not found"))
            }
            BalrogRefusal::PermissionNotFound(_) => {
                Self::not_found("Requested permission does not exist")
            }
            BalrogRefusal::Outdated => Self::outdated(method),
            BalrogRefusal::MergeConflict(conflict) => {
                let outdated = Self::outdated(method);
                let text = format!(
                    "Couldn't perform the request {method}. Outdated Data Version. \
                     old_data_version doesn't match current data_version, and the change \
                     could not be merged: {conflict}"
                );
                outdated.exception(text)
            }
            BalrogRefusal::DataVersionMissing(text) => Self::bad_request(text),
            BalrogRefusal::UnknownMapping { field, .. } => Self::bad_request(match field {
                RuleField::FallbackMapping => {
                    "Invalid fallbackMapping value. No release name found in DB"
                }
                _ => "Invalid mapping value. No release name found in DB",
            }),
            BalrogRefusal::AliasTaken(_) => Self::bad_request("Rule with alias exists."),
            BalrogRefusal::InvalidBlob(problems) => {
                Self::invalid_blob("Couldn't update release", problems)
            }
            BalrogRefusal::ReleaseExists(name) => {
                Self::bad_request(format!("Release: {name} already exists"))
                    .exception("Database already contains the release")
            }
            BalrogRefusal::ReadOnly(name) => {
                let detail = if method == "DELETE" {
                    format!("Couldn't delete {name}. Release is marked read only")
                } else {
                    "Couldn't update release. Release is marked read only".to_owned()
                };
                Self::new(StatusCode::FORBIDDEN, detail)
                    .exception(format!("Release {name} is marked read only"))
            }
            BalrogRefusal::ReleaseInUse { name, rule_ids } => Self::bad_request("ValueError")
                .exception(format!(
                    "Bad input: Release {name} has rules pointing to it. Hence it cannot be deleted."
                ))
                .with("rule_ids", json!(rule_ids)),
            BalrogRefusal::ReleasePinned { name, pins } => Self::bad_request("ValueError")
                .exception(format!(
                    "Bad input: Release {name} is pinnable. Hence it cannot be deleted."
                ))
                .with("pins", json!(pins)),
            BalrogRefusal::ProductMismatch {
                given,
                stored,
                release,
            } => Self::bad_request(format!(
                "Product name '{given}' doesn't match the one on the release object ('{stored}') for release '{release}'"
            )),
            BalrogRefusal::HashFunctionMismatch {
                given,
                stored,
                release,
            } => Self::bad_request(format!(
                "hashFunction '{given}' doesn't match the one on the release object ('{stored}') for release '{release}'"
            )),
            BalrogRefusal::ChangeNotFound(id) => Self::bad_request(format!(
                "Invalid change_id : {id} passed in the request body"
            )),
            BalrogRefusal::ChangeOfOtherObject(key) => {
                Self::bad_request(format!("Bad {key} passed in the request"))
            }
            BalrogRefusal::ShutoffExists { .. } => {
                Self::bad_request("Invalid Emergency shutoff data")
                    .exception("Emergency shutoff for product/channel already exists.")
            }
            BalrogRefusal::ShutoffNotFound { .. } => {
                Self::not_found("Shutoff wasn't found").exception("Shutoff does not exist")
            }
            BalrogRefusal::SignoffRequired(shortfall) => {
                Self::bad_request("Signoff Required").exception(shortfall.to_string())
            }
            BalrogRefusal::Invalid(text) => Self::bad_request(text),
            BalrogRefusal::RoleNotFound { username, role } => Self::not_found("Role not found")
                .exception(format!("No role '{role}' found for username '{username}'")),
            BalrogRefusal::RequiredSignoffNotFound(_) => {
                Self::not_found("Requested Required Signoff does not exist")
            }
            BalrogRefusal::RequiredSignoffExists(_) => Self::bad_request("Signoff Required")
                .exception("Required Signoffs cannot be directly modified"),
        }
    }
}

impl std::fmt::Display for BalrogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl ResponseError for BalrogError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = self.extra.clone();
        body.insert("type".into(), json!("about:blank"));
        body.insert(
            "title".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        let mut response = HttpResponse::build(self.status);
        response.content_type("application/problem+json");
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.body(Value::Object(body).to_string())
    }
}

impl From<DomainError> for BalrogError {
    fn from(err: DomainError) -> Self {
        BalrogError::bad_request(err.to_string())
    }
}
