//! The dashboard at `/ui/` (docs/dashboard.md): server-rendered HTML pages over the ledger, the
//! rules and the tickets, for people rather than clients. It is a face like the others — its
//! own mount, its own error pages (HTML), its own credential (a cookie set by its login form) —
//! and it only reads: every page is a GET, and the one form that posts is the login.
//!
//! Pages live in one module each; `page` holds the shared layout and formatting, `chart` draws
//! the SVG charts, `params` reads query strings and forms.

mod chart;
mod evaluate;
mod live;
mod login;
mod overview;
mod page;
mod params;
mod releases;
mod rollouts;
mod tickets;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use shiplog_domain::{Action, PermissionName};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::face::{denied_text, AuthFailure, Face};

pub use page::UI_POLICY;

/// The cookie holding the access token the login form exchanged (HttpOnly, SameSite=Strict).
pub const COOKIE: &str = "shiplog_ui";

/// The dashboard's face at `/ui`.
pub struct Ui;

impl Face for Ui {
    const MOUNT: &'static str = "/ui";
    const NAME: &'static str = "ui";
    const ERROR_MEDIA_TYPE: &'static str = "text/html";
    const COOKIE_TOKEN: Option<&'static str> = Some(COOKIE);
    type Error = UiError;

    /// Plain actix routes: HTML pages are not part of the API description.
    fn routes(cfg: &mut ServiceConfig<'_>) {
        cfg.route("", web::get().to(overview::page))
            .route("/releases", web::get().to(releases::list))
            .route("/releases/{id}", web::get().to(releases::one))
            .route("/live", web::get().to(live::page))
            .route("/rollouts", web::get().to(rollouts::page))
            .route("/evaluate", web::get().to(evaluate::page))
            .route("/tickets", web::get().to(tickets::page))
            .route("/login", web::get().to(login::form))
            .route("/login", web::post().to(login::submit))
            .route("/logout", web::post().to(login::logout))
            .route("/assets/ui.css", web::get().to(page::stylesheet))
            .route("/assets/icon.svg", web::get().to(page::icon));
    }

    fn unauthenticated(failure: &AuthFailure) -> UiError {
        // A browser sends no header: say what a person does, not what a client sends.
        let message = match failure {
            AuthFailure::Missing => "Log in to read this dashboard.".to_owned(),
            other => other.message(),
        };
        UiError::Unauthenticated(message)
    }

    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> UiError {
        UiError::new(
            StatusCode::FORBIDDEN,
            denied_text(user, thing, action, product),
        )
    }

    fn internal() -> UiError {
        UiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; the log has the details.",
        )
    }

    fn unavailable() -> UiError {
        UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is unavailable right now; try again in a moment.",
        )
    }

    /// Every request no route took: a page asked for with another method is a 405 with
    /// `Allow` (the pages are not in the API description `unmatched` reads), anything else 404.
    fn not_found(req: &HttpRequest) -> HttpResponse {
        if let Some(allow) = allowed_methods(req.path()) {
            let mut response = UiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                crate::face::METHOD_NOT_ALLOWED,
            )
            .error_response();
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
            return response;
        }
        UiError::new(
            StatusCode::NOT_FOUND,
            format!("There is no page at {}.", req.path()),
        )
        .error_response()
    }

    fn request_error(status: StatusCode, message: &str) -> HttpResponse {
        UiError::new(status, message).error_response()
    }

    /// The login form and the stylesheet stay open under `--auth all`: the form is how a
    /// browser gets its cookie, and it needs its style.
    fn is_open(path: &str) -> bool {
        path == "/ui/login" || path.starts_with("/ui/assets/")
    }
}

/// The methods a dashboard path answers (as registered in [`Ui::routes`]), if it is one.
fn allowed_methods(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix(Ui::MOUNT)?;
    match rest {
        "" | "/" | "/releases" | "/live" | "/rollouts" | "/evaluate" | "/tickets"
        | "/assets/ui.css" | "/assets/icon.svg" => Some("GET"),
        "/login" => Some("GET, POST"),
        "/logout" => Some("POST"),
        _ => rest
            .strip_prefix("/releases/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .map(|_| "GET"),
    }
}

/// What a dashboard page fails with: an HTML page saying why, or (no valid credential under
/// `--auth all`) the login form.
#[derive(Debug)]
pub enum UiError {
    Page { status: StatusCode, message: String },
    Unauthenticated(String),
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError::Page {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn from_storage(err: &shiplog_storage::StorageError) -> UiError {
        if err.is_unavailable() {
            log::warn!("dashboard: the database is unavailable: {err}");
            Ui::unavailable()
        } else {
            log::error!(
                "dashboard: storage failed: {}",
                crate::error_chain::error_chain(err)
            );
            Ui::internal()
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::Page { message, .. } | UiError::Unauthenticated(message) => {
                f.write_str(message)
            }
        }
    }
}

impl From<shiplog_storage::StorageError> for UiError {
    fn from(err: shiplog_storage::StorageError) -> Self {
        UiError::from_storage(&err)
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::Page { status, .. } => *status,
            UiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::Page { status, message } => page::error_page(*status, message),
            UiError::Unauthenticated(message) => {
                let mut response = login::login_page(StatusCode::UNAUTHORIZED, Some(message));
                // A stale cookie (expired, revoked) is dropped, so the next page asks afresh.
                if let Ok(value) = header::HeaderValue::from_str(&login::clear_cookie()) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_path_knows_its_methods() {
        assert_eq!(allowed_methods("/ui"), Some("GET"));
        assert_eq!(allowed_methods("/ui/releases"), Some("GET"));
        assert_eq!(allowed_methods("/ui/releases/abc"), Some("GET"));
        assert_eq!(allowed_methods("/ui/releases/abc/x"), None);
        assert_eq!(allowed_methods("/ui/login"), Some("GET, POST"));
        assert_eq!(allowed_methods("/ui/logout"), Some("POST"));
        assert_eq!(allowed_methods("/ui/nothing"), None);
        assert_eq!(allowed_methods("/api/releases"), None);
    }
}
