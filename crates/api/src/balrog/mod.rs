//! The Balrog admin face at `/api` (Balrog's admin API as the running Balrog answers it, where that differs from its written description; docs/balrog.md):
//! rules, named releases (and the v2 release and pin endpoints update pins need), emergency
//! shutoffs, users, permissions and roles, required signoffs,
//! their history with revert,
//! optimistic locking,
//! `csrf_token`. Release automation written for Balrog — including `balrogclient` 2.0 — works
//! against it unchanged.

mod audit;
mod auth;
mod body;
pub mod error;
mod history;
mod paging;
mod releases;
mod releases_v2;
mod required_signoffs;
mod roles;
mod rules;
mod scheduled;
mod shutoffs;
mod typed;
mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use shiplog_domain::{Action, PermissionName};
use shiplog_storage::{StorageError, Store};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub use auth::Actor;
pub use error::BalrogError;

use crate::blocking::with_store;
use crate::caching::{not_modified, read_guarded, ETag, Guarded};
use crate::face::{denied_text, AuthFailure, Face};
use crate::state::AppState;

/// Registers every Balrog route. The fixed `columns/…` paths go before the `{name}` ones they
/// would otherwise be taken for.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(history::csrf_token)
        .service(audit::list_history)
        .service(history::view_field)
        .service(history::diff_field)
        .service(rules::rule_column)
        .service(rules::list_rules)
        .service(rules::create_rule)
        .service(rules::rule_revisions)
        .service(rules::revert_rule)
        .service(rules::get_rule)
        .service(rules::post_rule)
        .service(rules::put_rule)
        .service(rules::delete_rule)
        .service(releases::release_column)
        .service(releases::list_releases)
        .service(releases::create_release)
        .service(releases::get_locale)
        .service(releases::put_locale)
        .service(releases::read_only_product_required_signoffs)
        .service(releases::get_read_only)
        .service(releases::put_read_only)
        .service(releases::release_revisions)
        .service(releases::revert_release)
        .service(releases::get_release)
        .service(releases::put_release)
        .service(releases::post_release)
        .service(releases::delete_release)
        .service(releases_v2::get_release_v2)
        .service(releases_v2::put_release_v2)
        .service(releases_v2::delete_release_v2)
        .service(releases_v2::put_pinnable)
        .service(releases_v2::get_pin)
        .service(shutoffs::list_shutoffs)
        .service(shutoffs::create_shutoff)
        .service(shutoffs::get_shutoff)
        .service(shutoffs::delete_shutoff)
        .service(scheduled::list_scheduled)
        .service(scheduled::create_scheduled)
        .service(scheduled::scheduled_revisions)
        .service(scheduled::revert_scheduled)
        .service(scheduled::enact_scheduled)
        .service(scheduled::sign_off)
        .service(scheduled::remove_signoff)
        .service(scheduled::get_scheduled)
        .service(scheduled::edit_scheduled)
        .service(scheduled::delete_scheduled)
        .service(users::list_users)
        .service(users::user_permissions)
        .service(users::get_permission)
        .service(users::put_permission)
        .service(users::post_permission)
        .service(users::delete_permission)
        .service(roles::user_roles)
        .service(roles::grant_role)
        .service(roles::revoke_role)
        .service(users::get_user)
        .service(required_signoffs::product_revisions)
        .service(required_signoffs::list_product)
        .service(required_signoffs::create_product)
        .service(required_signoffs::delete_product)
        .service(required_signoffs::permissions_revisions)
        .service(required_signoffs::list_permissions)
        .service(required_signoffs::create_permissions)
        .service(required_signoffs::delete_permissions);
}

/// `{"new_data_version": n}`: the version a write left the object at.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewDataVersion {
    pub new_data_version: i64,
}

/// The method of a Balrog write; some of Balrog's error texts name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMethod {
    Post,
    Put,
    Delete,
}

impl WriteMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WriteMethod::Post => "POST",
            WriteMethod::Put => "PUT",
            WriteMethod::Delete => "DELETE",
        }
    }

    /// The method of a handler that answers both POST and PUT.
    pub(crate) fn of(method: &actix_web::http::Method) -> WriteMethod {
        if method == actix_web::http::Method::PUT {
            WriteMethod::Put
        } else {
            WriteMethod::Post
        }
    }
}

/// Runs a storage read off the async workers, its failure as Balrog's problem.
pub(crate) async fn read<T, F>(state: &AppState, f: F) -> Result<T, BalrogError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    with_store(&state.store, f)
        .await
        .map_err(|e| BalrogError::from_storage(e, "GET"))
}

/// A read that answers 304 when the client holds the current rule-set counter (see `caching`):
/// `Ok(Err(response))` is that 304; `Ok(Ok((tag, data)))` the data and its `ETag`.
pub(crate) async fn read_cached<T, F>(
    state: &AppState,
    req: &HttpRequest,
    f: F,
) -> Result<Result<(ETag, T), HttpResponse>, BalrogError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    match read_guarded(&state.store, req, f)
        .await
        .map_err(|e| BalrogError::from_storage(e, "GET"))?
    {
        Guarded::NotModified(tag) => Ok(Err(not_modified(&tag).finish())),
        Guarded::Read(tag, data) => Ok(Ok((tag, data))),
    }
}

/// Runs a storage write (one transaction) off the async workers, its failure as Balrog's
/// problem for a `method` request. Once it has committed, the compiled rule set is marked
/// stale, so this instance serves the change from its next evaluation on.
pub(crate) async fn write<T, F>(
    state: &AppState,
    method: WriteMethod,
    f: F,
) -> Result<T, BalrogError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    let result = with_store(&state.store, f)
        .await
        .map_err(|e| BalrogError::from_storage(e, method.as_str()))?;
    state.rules.invalidate();
    Ok(result)
}

/// Balrog sent a CSRF token with its single-object reads; shiplog authenticates writes with
/// bearer credentials, so the token is a random value nothing checks.
fn csrf_header() -> (&'static str, String) {
    ("X-CSRF-Token", uuid::Uuid::new_v4().simple().to_string())
}

/// Balrog's answer to a revert.
fn excellent() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Excellent!")
}

/// The `?data_version=` a DELETE needs.
fn query_data_version(req: &HttpRequest) -> Result<i64, BalrogError> {
    let pairs = paging::query_pairs(req)?;
    let fields: body::Fields = paging::query_value(&pairs, "data_version")
        .map(|v| {
            (
                "data_version".to_owned(),
                serde_json::Value::String(v.to_owned()),
            )
        })
        .into_iter()
        .collect();
    body::data_version(&fields)?
        .ok_or_else(|| BalrogError::bad_request("Missing query parameter 'data_version'"))
}

/// Balrog's admin face at `/api`: problem+json, "Login Required" and "PermissionDeniedError".
pub struct Balrog;

impl Face for Balrog {
    const MOUNT: &'static str = "/api";
    const NAME: &'static str = "balrog";
    const ERROR_MEDIA_TYPE: &'static str = "application/problem+json";
    type Error = BalrogError;

    fn routes(cfg: &mut ServiceConfig<'_>) {
        routes(cfg);
    }

    fn unauthenticated(failure: &AuthFailure) -> BalrogError {
        BalrogError::login_required().exception(failure.message())
    }

    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> BalrogError {
        BalrogError::new(StatusCode::FORBIDDEN, "PermissionDeniedError")
            .exception(denied_text(user, thing, action, product))
    }

    fn internal() -> BalrogError {
        BalrogError::internal()
    }

    fn unavailable() -> BalrogError {
        BalrogError::unavailable()
    }

    fn not_found(_req: &HttpRequest) -> HttpResponse {
        BalrogError::not_found("The requested URL was not found on the server.").error_response()
    }

    fn request_error(status: StatusCode, message: &str) -> HttpResponse {
        BalrogError::new(status, message).error_response()
    }
}
