//! The Balrog admin face at `/api` (seeds/002 as corrected by research/balrog.md §b and §c):
//! rules, named releases, emergency shutoffs, users and permissions, their history with revert,
//! optimistic locking,
//! `csrf_token`. Release automation written for Balrog — including `balrogclient` 2.0 — works
//! against it unchanged.

mod auth;
mod body;
pub mod error;
mod history;
mod paging;
mod releases;
mod rules;
mod shutoffs;
mod users;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use shiplog_storage::{StorageError, Store};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub use auth::Actor;
pub use error::BalrogError;

use crate::blocking::with_store;
use crate::state::AppState;

/// Registers every Balrog route. The fixed `columns/…` paths go before the `{name}` ones they
/// would otherwise be taken for.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(history::csrf_token)
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
        .service(releases::get_read_only)
        .service(releases::put_read_only)
        .service(releases::release_revisions)
        .service(releases::revert_release)
        .service(releases::get_release)
        .service(releases::put_release)
        .service(releases::post_release)
        .service(releases::delete_release)
        .service(shutoffs::list_shutoffs)
        .service(shutoffs::create_shutoff)
        .service(shutoffs::get_shutoff)
        .service(shutoffs::delete_shutoff)
        .service(users::list_users)
        .service(users::user_permissions)
        .service(users::get_permission)
        .service(users::put_permission)
        .service(users::post_permission)
        .service(users::delete_permission)
        .service(users::get_user);
}

/// `{"new_data_version": n}`: the version a write left the object at.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewDataVersion {
    pub new_data_version: i64,
}

/// Runs a storage call off the async workers and turns its failure into Balrog's problem for a
/// `method` request. A successful write marks the compiled rule set stale, so this instance
/// serves the change from its next evaluation on.
pub(crate) async fn run<T, F>(state: &AppState, method: &str, f: F) -> Result<T, BalrogError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    let result = with_store(&state.store, f)
        .await
        .map_err(|e| BalrogError::from_storage(e, method))?;
    if method != "GET" {
        state.rules.invalidate();
    }
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

/// Unknown paths under `/api`: a problem+json 404.
pub fn unknown_route() -> BalrogError {
    BalrogError::not_found("The requested URL was not found on the server.")
}
