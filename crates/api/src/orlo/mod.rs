//! The Orlo release-ledger face at `/` (seeds/000, research/orlo.md): wire-compatible with Orlo
//! 0.4.3 and its `orloclient`, minus Orlo's bugs.

pub mod error;
pub mod json;
mod meta;
mod packages;
pub mod params;
mod releases;

use utoipa_actix_web::service_config::ServiceConfig;

pub use error::OrloError;

/// Registers every Orlo route.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(meta::root)
        .service(meta::ping)
        .service(meta::version)
        .service(meta::internal_version)
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
        .service(packages::get_package);
}
