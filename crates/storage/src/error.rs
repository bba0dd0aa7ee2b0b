//! Storage errors.
//!
//! Policy: the storage layer names *what* went wrong in domain terms (which entity was missing,
//! which rule refused) so the HTTP faces can answer with their own status codes and messages.
//! Everything the caller cannot act on (driver, pool, migration failures) is kept whole as a
//! source error for the log and becomes an opaque 500 at the boundary.

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
    /// The Balrog admin model refused a change (a missing rule, an outdated data_version, …).
    #[error(transparent)]
    Balrog(#[from] crate::balrog::BalrogRefusal),
    /// Someone else changed the row between our read and our write, repeatedly.
    #[error("concurrent update conflict: {0}")]
    Conflict(String),
    #[error(
        "unsupported database URL {0:?}: use postgres://, postgresql://, sqlite:// or a file path"
    )]
    UnsupportedUrl(String),
    #[error("could not connect to the database")]
    Connect(#[source] diesel::ConnectionError),
    #[error("database connection pool")]
    Pool(#[from] r2d2::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Backend(#[from] diesel::result::Error),
}

/// Result alias for storage operations.
pub type StorageResult<T> = Result<T, StorageError>;
