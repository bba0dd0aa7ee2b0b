//! Balrog's rollout model: rules that map client queries to named releases, the named releases'
//! JSON blobs (with the 3-way merge that lets parallel uploads coexist), and the change records
//! every write leaves behind (research/balrog.md §b).
//!
//! Everything here is plain data and pure functions: the storage crate persists it, the HTTP face
//! speaks Balrog's wire format, and rule evaluation (a compiled rule set) builds on [`Rule`].

pub mod blob;
pub mod change;
pub mod named_release;
pub mod rule;
pub mod syntax;

pub use blob::{merge3, BlobEdit, MergeConflict};
pub use change::{Change, ChangeTable};
pub use named_release::{NamedRelease, ReleaseName};
pub use rule::{Rule, RuleChanges, RuleField, RuleFields, RuleRef, UpdateType};
