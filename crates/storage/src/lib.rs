#![doc = include_str!("../README.md")]

mod balrog;
mod connection;
mod error;
mod identity;
mod ledger;
mod migrate;
pub mod query;
mod schema;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod tickets;

pub use balrog::{
    BalrogRefusal, EditOutcome, EvaluationSnapshot, NamedReleaseInfo, ReleaseEdit, Revisions,
    MAX_REVISION_LIMIT,
};
pub use connection::{Backend, PoolOptions, Store};
pub use error::{StorageError, StorageResult};
pub use identity::{
    Identity, IssuedToken, PermissionWrite, Secret, StoredPermission, TokenCheck, TokenInfo,
    MIN_SECRET_LEN,
};
pub use query::{
    DateBucket, DateUnit, IntRange, PackageFilter, Page, ReleaseCounts, ReleaseFilter,
    StatsSubject, TimeRange,
};
pub use tickets::{TicketColumn, TicketFilter};
