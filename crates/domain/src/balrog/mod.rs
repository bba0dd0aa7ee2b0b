//! Balrog's rollout model: rules that map client queries to named releases, the named releases'
//! JSON blobs (with the 3-way merge that lets parallel uploads coexist), and the change records
//! every write leaves behind (see docs/balrog.md), and rule evaluation: which release a client is
//! offered (see docs/evaluation.md).
//!
//! Everything here is plain data and pure functions: the storage crate persists it and the HTTP
//! faces speak Balrog's wire format. Evaluation is split so its imports run one way:
//!
//! - [`query`]: the client's [`Query`] (and [`OwnedQuery`], [`Force`]);
//! - [`dice`]: the background rate's [`RandomSource`];
//! - a private `matcher`: each rule column compiled once and matched without allocating;
//! - [`signoff`]: what a change needs signed off before it may be made (governance);
//! - [`serving`]: whether a release blob agrees to serve the client ([`Blocked`] when not);
//! - [`rule_set`]: [`RuleSet`] compiles the rules, shutoffs and releases and evaluates a query
//!   into a [`Decision`] with its [`Reason`], using the three above;
//! - [`update_xml`](mod@update_xml): the `update.xml` for a decision, built on the rule set
//!   (add-on blobs in a private `addons_xml`); [`update_json`](mod@update_json): the JSON
//!   protocol's answer. Both read blobs through the same private `update_blob` helpers as
//!   [`serving`].

mod addons_xml;
pub mod allowlist;
pub mod blob;
pub mod blob_schema;
pub mod change;
pub mod dice;
pub mod evaluation_error;
mod fast_map;
pub mod force_hosts;
mod matcher;
pub mod named_release;
pub mod pin;
pub mod query;
pub mod rule;
pub mod rule_builder;
pub mod rule_set;
pub mod rules_file;
pub mod scheduled;
pub mod serving;
pub mod shutoff;
pub mod signoff;
pub mod syntax;
mod update_blob;
pub mod update_json;
pub mod update_xml;
pub mod version;

pub use allowlist::{AllowlistError, DomainAllowlist};
pub use blob::{merge3, BlobEdit, MergeConflict};
pub use change::{Change, ChangeTable};
pub use dice::{FixedRoll, RandomSource, SplitMix64};
pub use evaluation_error::EvaluationError;
pub use force_hosts::{ForceHostError, SpecialForceHosts};
pub use named_release::{NamedRelease, ReleaseName};
pub use pin::{PinVersion, PinnableRelease};
pub use query::{ClientIds, Force, OwnedQuery, Query};
pub use rule::{Rule, RuleChanges, RuleField, RuleFields, RuleRef, UpdateType};
pub use rule_builder::RuleBuilder;
pub use rule_set::{Decision, Reason, RuleSet};
pub use rules_file::{RulesFile, RulesFileError};
pub use scheduled::{ChangeType, Condition, Outcome, ScTable, ScheduledChange, Signoff, Telemetry};
pub use serving::Blocked;
pub use shutoff::EmergencyShutoff;
pub use signoff::{
    PermissionScope, PermissionsRequiredSignoff, ProductRequiredSignoff, RequiredSignoffs,
    RuleScope, SignoffShortfall,
};
pub use update_json::update_json;
pub use update_xml::{update_xml, EMPTY_UPDATES};
pub use version::{LooseVersion, Version, VersionPattern, VersionScheme};
