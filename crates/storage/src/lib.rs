#![doc = include_str!("../README.md")]

mod backup;
mod balrog;
mod callbacks;
mod checkpoints;
mod connection;
mod error;
mod events;
mod health;
mod identity;
mod identity_changes;
mod ledger;
mod liveness;
mod migrate;
pub mod query;
mod retention;
mod schema;
mod sql;
mod stored_time;
#[cfg(feature = "testing")]
pub mod testing;
mod tickets;
mod webhooks;
mod write_connection;

pub use backup::BackupError;
pub use balrog::{
    BalrogRefusal, EditOutcome, Enactment, EvaluationSnapshot, Guard, HistoryFilter, HistoryPage,
    HistoryRecord, NamedReleaseInfo, PinOutcome, ReleaseEdit, ReplaceOutcome, Required,
    RequiredSignoffInput, Revisions, RoleGrant, ScheduledRefusal, ScheduledTarget, SignoffTarget,
    Signoffs, StoredRole, Subject, Writer, MAX_REVISION_LIMIT,
};
pub use connection::{
    Backend, PoolOptions, Store, CONNECT_TIMEOUT_SECONDS, DEFAULT_RELEASE_CACHE_BYTES,
};
pub use error::{StorageError, StorageResult};
pub use events::{Event, EventFilter, MAX_EVENT_LIMIT};
pub use health::{NotReady, PoolStats, UNAVAILABLE_AFTER};
pub use identity::{
    Authentication, Identity, IssuedToken, PermissionWrite, Secret, StoredPermission, TokenCheck,
    TokenInfo, ANONYMOUS, MIN_SECRET_LEN,
};
pub use ledger::delivery::{DeliveryQuery, DeliveryReport, GroupedFigures};
pub use ledger::ImportSink;
pub use ledger::{CountMemoFigures, GatheredFigures, ReleaseCacheFigures};
pub use query::{
    DateBucket, DateUnit, IntRange, PackageFilter, Page, ReleaseCounts, ReleaseFilter,
    StatsSubject, TimeRange,
};
pub use retention::{Pruned, PRUNE_LOCK};
pub use tickets::{TicketColumn, TicketFilter};
pub use webhooks::{
    payload_of, AttemptInfo, AttemptOutcome, ClaimedWebhook, DueDelivery, NewWebhook, Webhook,
    WebhookFilters, WebhookPatch, FAILING_FOR,
};
