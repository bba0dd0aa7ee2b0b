//! The Bileto landing-ticket face at `/v1` (seeds/001, research/conventions.md §1): tickets
//! with their comments, substring filters, the trainguard views and the write endpoints bots
//! and scripts written for Bileto's public API v1 use.
//!
//! Errors have the same body as on the Orlo face (DESIGN.md §2), so the error type is shared.
//!
//! Writes need a shiplog token holding the `ticket` permission (`create`, `modify`, `comment`),
//! sent as `?token=` as Bileto's bots do, or as `Authorization: Bearer` (docs/identity.md).

mod comments;
mod json;
mod meta;
mod params;
mod tickets;

use utoipa_actix_web::service_config::ServiceConfig;

/// The error of every `/v1` route: the Orlo face's, whose body `/v1` shares.
pub type BiletoError = crate::orlo::OrloError;

/// Registers every `/v1` route.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(tickets::list_tickets)
        .service(tickets::post_ticket)
        .service(tickets::get_ticket)
        .service(tickets::user_tickets)
        .service(tickets::silo_tickets)
        .service(tickets::publishable_tickets)
        .service(tickets::failed_tickets)
        .service(comments::post_comment)
        .service(meta::metadata);
}
