//! Rule evaluation over HTTP: shiplog's JSON answer at `/api/v1/evaluate` and Balrog's public
//! update protocol at `/update/…/update.xml` (research/balrog.md §a), both served from the
//! in-memory compiled rule set ([`LiveRuleSet`]) and agreeing with each other on every query.

mod json;
mod live;
mod update;

use std::cell::RefCell;
use std::hash::BuildHasher;

use shiplog_domain::balrog::{Force, Query, SplitMix64};
use utoipa_actix_web::service_config::ServiceConfig;

pub use json::{parse_query, EvaluationData};
pub use live::{CompiledRules, LiveRuleSet};
pub use update::unknown_update_route;

/// Registers `/api/v1/evaluate` and the `/update/…` forms.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(json::evaluate).service(update::update_xml);
}

/// Unknown paths under `/api/v1`: a 404 in the envelope.
pub fn unknown_route() -> crate::envelope::EnvelopeError {
    crate::envelope::EnvelopeError::not_found()
}

thread_local! {
    /// Each worker thread rolls its own dice, seeded from the process's random hash keys: no
    /// lock on the hot path, and no two threads in step.
    static DICE: RefCell<SplitMix64> = RefCell::new(SplitMix64(
        std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id()),
    ));
}

/// Runs `f` with this thread's dice.
pub(crate) fn with_dice<T>(f: impl FnOnce(&mut SplitMix64) -> T) -> T {
    DICE.with(|dice| f(&mut dice.borrow_mut()))
}

/// A query with owned values, read from a URL or query string.
#[derive(Debug, Clone, Default)]
pub struct OwnedQuery {
    pub product: String,
    pub version: String,
    pub build_id: Option<String>,
    pub build_target: Option<String>,
    pub locale: Option<String>,
    pub channel: Option<String>,
    pub os_version: Option<String>,
    pub distribution: Option<String>,
    pub dist_version: Option<String>,
    pub header_architecture: Option<String>,
    pub instruction_set: Option<String>,
    pub memory: Option<i64>,
    pub jaws: Option<bool>,
    pub mig64: Option<bool>,
    pub force: Force,
}

impl OwnedQuery {
    pub fn query(&self) -> Query<'_> {
        Query {
            product: &self.product,
            version: &self.version,
            build_id: self.build_id.as_deref(),
            build_target: self.build_target.as_deref(),
            locale: self.locale.as_deref(),
            channel: self.channel.as_deref(),
            os_version: self.os_version.as_deref(),
            distribution: self.distribution.as_deref(),
            dist_version: self.dist_version.as_deref(),
            header_architecture: self.header_architecture.as_deref(),
            instruction_set: self.instruction_set.as_deref(),
            memory: self.memory,
            jaws: self.jaws,
            mig64: self.mig64,
            force: self.force,
        }
    }
}
