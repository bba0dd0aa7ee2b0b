//! The Orlo release-ledger face at `/` (seeds/000, research/orlo.md): wire-compatible with Orlo
//! 0.4.3 and its `orloclient`, minus Orlo's bugs.

pub mod error;
pub mod import;
mod info;
pub mod json;
mod meta;
mod packages;
pub mod params;
mod releases;
mod stats;

use utoipa_actix_web::service_config::ServiceConfig;

pub use error::OrloError;

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
