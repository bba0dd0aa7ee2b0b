//! Storage errors.
//!
//! Policy: the storage layer names *what* went wrong in domain terms (which entity was missing,
//! which rule refused) so the HTTP faces can answer with their own status codes and messages.
//! Everything the caller cannot act on (driver, pool, migration failures) is kept whole as a
//! source error for the log and becomes an opaque 500 at the boundary, except that a database
//! which is away (`StorageError::is_unavailable`) becomes a 503 with `Retry-After`.

use shiplog_domain::{DomainError, TicketId};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("release does not exist")]
    ReleaseNotFound,
    #[error("package does not exist")]
    PackageNotFound,
    #[error("package does not belong to this release")]
    PackageNotInRelease,
    #[error("ticket {0} does not exist")]
    TicketNotFound(TicketId),
    /// A domain rule refused the change (for example an invalid status transition).
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The writer's permission check refused what the write was about to change (see
    /// [`crate::Writer`]); nothing was written.
    #[error(transparent)]
    Denied(#[from] shiplog_domain::Denied),
    /// The Balrog admin model refused a change (a missing rule, an outdated data_version, …).
    #[error(transparent)]
    Balrog(#[from] crate::balrog::BalrogRefusal),
    /// A scheduled-change operation was refused (unknown change, outdated sc_data_version,
    /// signoffs missing, …).
    #[error(transparent)]
    Scheduled(#[from] crate::balrog::ScheduledRefusal),
    /// Someone else changed the row between our read and our write, repeatedly.
    #[error("concurrent update conflict: {0}")]
    Conflict(String),
    #[error(
        "unsupported database URL {0:?}: use postgres://, postgresql://, sqlite:// or a file path"
    )]
    UnsupportedUrl(String),
    /// The database cannot be reached or opened; the source is the driver's own message.
    #[error("could not connect to the database")]
    Connect(#[source] diesel::ConnectionError),
    #[error("database connection pool")]
    Pool(#[from] r2d2::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A write made of several steps was given up part way by its caller, who holds the
    /// reason (see [`crate::Store::import_streamed`]); nothing was recorded.
    #[error("the write was abandoned part way; nothing was recorded")]
    Abandoned,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The write succeeded inside a group of writes whose common commit then failed (see
    /// [`crate::Store::write_group`]); nothing of it was kept. The reason is the commit's.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    #[error("database error")]
    Backend(#[from] diesel::result::Error),
}

/// Result alias for storage operations.
pub type StorageResult<T> = Result<T, StorageError>;
