//! The Orlo release-ledger face at `/` (docs/orlo.md): wire-compatible with Orlo
//! 0.4.3 and its `orloclient`, minus Orlo's bugs.

pub mod body;
pub mod error;
pub mod import;
mod info;
pub mod json;
mod json_text;
mod meta;
mod packages;
pub mod params;
mod releases;
mod stats;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use shiplog_domain::{Action, PermissionName};
use utoipa_actix_web::service_config::ServiceConfig;

pub use error::OrloError;

use crate::face::{denied_text, AuthFailure, Face};

/// Orlo's face at the root: its error body, and 401 `not_authorized` as Orlo named it. It owns
/// every path no other face claims.
pub struct Orlo;

impl Face for Orlo {
    const MOUNT: &'static str = "";
    const NAME: &'static str = "orlo";
    type Error = OrloError;

    fn routes(cfg: &mut ServiceConfig<'_>) {
        routes(cfg);
    }

    fn unauthenticated(failure: &AuthFailure) -> OrloError {
        OrloError::new(
            StatusCode::UNAUTHORIZED,
            "not_authorized",
            failure.message(),
        )
    }

    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> OrloError {
        OrloError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            denied_text(user, thing, action, product),
        )
    }

    fn internal() -> OrloError {
        OrloError::internal()
    }

    fn unavailable() -> OrloError {
        OrloError::unavailable()
    }

    fn not_found(req: &HttpRequest) -> HttpResponse {
        OrloError::unknown_route(error::url_without_secrets(req)).error_response()
    }

    fn request_error(status: StatusCode, message: &str) -> HttpResponse {
        OrloError::new(status, error::code_for(status), message).error_response()
    }

    /// Getting an Orlo token and liveness stay open under `--auth all`.
    fn is_open(path: &str) -> bool {
        matches!(path, "/token" | "/ping")
    }
}

/// Registers every Orlo route.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(meta::root)
        .service(meta::ping)
        .service(meta::version)
        .service(meta::internal_version)
        .service(meta::token)
        .service(import::import_help)
        .service(import::import_releases)
        .service(releases::create_release)
        .service(releases::list_releases)
        .service(releases::get_release)
        .service(releases::start_release)
        .service(releases::stop_release)
        .service(releases::add_note)
        .service(releases::add_metadata)
        .service(packages::add_package)
        .service(packages::start_package)
        .service(packages::stop_package)
        .service(packages::package_results)
        .service(packages::list_packages)
        .service(packages::get_package)
        .service(info::info_root)
        .service(info::info_users)
        .service(info::info_user)
        .service(info::info_platforms)
        .service(info::info_platform)
        .service(info::info_package_list)
        .service(info::info_package_versions)
        .service(info::info_packages)
        .service(info::info_package)
        .service(stats::stats_global)
        .service(stats::stats_by_date_default)
        .service(stats::stats_by_date)
        .service(stats::stats_by_subject)
        .service(stats::stats_for_one);
}
