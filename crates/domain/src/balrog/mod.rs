//! Balrog's rollout model: rules that map client queries to named releases, the named releases'
//! JSON blobs (with the 3-way merge that lets parallel uploads coexist), and the change records
//! every write leaves behind (research/balrog.md §b).
//!
//! Everything here is plain data and pure functions: the storage crate persists it, the HTTP face
//! speaks Balrog's wire format, and rule evaluation ([`RuleSet`], [`Version`]) answers which release a client is offered.

pub mod blob;
pub mod change;
pub mod evaluate;
pub mod named_release;
pub mod rule;
pub mod shutoff;
pub mod syntax;
pub mod update_blob;
pub mod version;

pub use blob::{merge3, BlobEdit, MergeConflict};
pub use change::{Change, ChangeTable};
pub use evaluate::{
    Decision, EvaluationError, FixedRoll, Force, Query, RandomSource, Reason, RuleSet, SplitMix64,
};
pub use named_release::{NamedRelease, ReleaseName};
pub use rule::{Rule, RuleChanges, RuleField, RuleFields, RuleRef, UpdateType};
pub use shutoff::EmergencyShutoff;
pub use update_blob::{update_xml, Blocked, EMPTY_UPDATES};
pub use version::{LooseVersion, Version, VersionPattern, VersionScheme};
