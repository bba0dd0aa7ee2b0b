//! Balrog's admin model in SQL: named releases (columns of the one `releases` table), rules, and
//! the `changes` history both write to in the same transaction as every change.
//!
//! Optimistic locking is in the SQL itself: every update and delete is
//! `… WHERE <key> AND data_version = <the version the change was based on>`, so two instances
//! on one PostgreSQL cannot both win; a statement that touches no row is re-read to tell a
//! missing object from an outdated version. Blob edits made against an older version are
//! 3-way merged on top of the current one (see `shiplog_domain::balrog::blob`).

mod audit;
mod evaluation;
pub(crate) mod governance;
pub(crate) mod history;
pub(crate) mod named_releases;
mod pins;
mod refusal;
mod rows;
mod rules;
mod sc_required;
pub(crate) mod scheduled;
pub(crate) mod signoffs;
mod writer;

pub use audit::{HistoryFilter, HistoryPage, HistoryRecord};
pub use evaluation::EvaluationSnapshot;
pub use governance::{RequiredSignoffInput, RoleGrant, StoredRole};
pub use history::{Revisions, MAX_REVISION_LIMIT};
pub use named_releases::{EditOutcome, NamedReleaseInfo, ReleaseEdit, ReplaceOutcome};
pub use pins::PinOutcome;
pub use refusal::BalrogRefusal;
pub use sc_required::Required;
pub use scheduled::{Enactment, ScheduledRefusal, ScheduledTarget};
pub use signoffs::SignoffTarget;
pub use writer::{Guard, Signoffs, Subject, Writer};

use time::OffsetDateTime;

/// Milliseconds since the Unix epoch: Balrog's history timestamps.
pub(crate) fn now_millis() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
