//! Whether the database is there: how storage failures are classified (the database being away
//! is `unavailable`, which every face answers with 503), how long a caller waits for a connection
//! when the database is unreachable (about a second, not the pool's full timeout), the pool's
//! figures for metrics, and the readiness check behind `/readyz`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::MigrationHarness;

use crate::connection::{AnyConnection, Pool, PooledConnection, Store};
use crate::error::{StorageError, StorageResult};

/// How long a caller waits for a connection once connecting has failed: the database is away,
/// and answering 503 promptly beats holding the client for the pool's whole timeout.
pub const UNAVAILABLE_AFTER: Duration = Duration::from_secs(1);

/// The slices a connection wait is cut into, so a wait notices the database going away.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// Whether the last attempt to open a connection succeeded, and the pool's wait counters.
/// Shared by the pool's connection manager and every clone of the store.
#[derive(Debug, Default)]
pub(crate) struct Availability {
    unreachable: AtomicBool,
    waits: AtomicU64,
    wait_micros: AtomicU64,
    timeouts: AtomicU64,
}

impl Availability {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records how opening a connection went.
    pub(crate) fn connected(&self, ok: bool) {
        let was = self.unreachable.swap(!ok, Ordering::AcqRel);
        if was && ok {
            log::warn!("the database answers again");
        } else if !was && !ok {
            log::warn!("the database is unreachable; requests answer 503 until it returns");
        }
    }

    /// A connection from `pool`, waiting at most `limit`, or about a second once connecting is
    /// known to fail.
    pub(crate) fn get(&self, pool: &Pool, limit: Duration) -> StorageResult<PooledConnection> {
        if let Some(conn) = pool.try_get() {
            return Ok(conn);
        }
        self.waits.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let result = loop {
            let left = limit.saturating_sub(start.elapsed());
            match pool.get_timeout(WAIT_SLICE.min(left).max(Duration::from_millis(1))) {
                Ok(conn) => break Ok(conn),
                Err(err) => {
                    let waited = start.elapsed();
                    let away = self.unreachable.load(Ordering::Acquire);
                    if waited >= limit || (away && waited >= UNAVAILABLE_AFTER) {
                        self.timeouts.fetch_add(1, Ordering::Relaxed);
                        break Err(StorageError::Pool(err));
                    }
                }
            }
        };
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.wait_micros.fetch_add(micros, Ordering::Relaxed);
        result
    }
}

/// The connection pool's figures, for metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub connections: u32,
    pub idle: u32,
    pub max_size: u32,
    /// Requests for a connection that found none idle and waited.
    pub waits: u64,
    /// Total time spent in those waits.
    pub wait_seconds: f64,
    /// Waits that gave up (the pool was exhausted, or the database away).
    pub timeouts: u64,
    /// Whether the last attempt to connect failed.
    pub unreachable: bool,
}

/// Why the store is not ready to serve.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database did not answer: {0}")]
    Database(#[source] StorageError),
    #[error("{0} migration(s) are not applied yet")]
    PendingMigrations(usize),
}

impl StorageError {
    /// Whether the database is away (or too busy to take the request in time) rather than the
    /// request or the data being wrong: a pool wait that gave up, a refused or dropped connection,
    /// a server shutting down or starting, SQLite's lock still held after the busy timeout.
    /// Every face answers these with 503 and `Retry-After`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Pool(_) | StorageError::Connect(_) => true,
            StorageError::Backend(err) => diesel_unavailable(err),
            _ => false,
        }
    }

    /// A short name for the kind of failure, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            _ if self.is_unavailable() => "unavailable",
            StorageError::ReleaseNotFound
            | StorageError::PackageNotFound
            | StorageError::PackageNotInRelease
            | StorageError::TicketNotFound(_) => "not_found",
            StorageError::Refused(_) | StorageError::Balrog(_) | StorageError::Scheduled(_) => {
                "refused"
            }
            StorageError::Denied(_) => "denied",
            StorageError::Conflict(_) => "conflict",
            StorageError::Abandoned => "abandoned",
            StorageError::UnsupportedUrl(_) => "config",
            StorageError::Migration(_) => "migration",
            StorageError::Corrupt(_) => "corrupt",
            StorageError::NotCommitted(_) => "not_committed",
            StorageError::Connect(_) | StorageError::Pool(_) | StorageError::Backend(_) => {
                "database"
            }
        }
    }
}

fn diesel_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            // SQLite: SQLITE_BUSY / SQLITE_LOCKED after the busy timeout. PostgreSQL: the
            // server going down under an open connection, or not accepting connections yet
            // (admin_shutdown, cannot_connect_now, lost connections).
            [
                "database is locked",
                "database table is locked",
                "database is busy",
                "terminating connection",
                "the database system is",
                "server closed the connection",
                "no connection to the server",
                "connection to server",
                "could not receive data from server",
                "could not send data to server",
            ]
            .iter()
            .any(|needle| message.contains(needle))
        }
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

impl Store {
    /// Whether a pooled connection is idle now, so a read could start without waiting for one
    /// (or opening one). A hint: another thread may take it first.
    pub fn has_idle_connection(&self) -> bool {
        self.pool().state().idle_connections > 0
    }

    /// The connection pool's figures now.
    pub fn pool_stats(&self) -> PoolStats {
        let state = self.pool().state();
        let availability = self.availability();
        PoolStats {
            connections: state.connections,
            idle: state.idle_connections,
            max_size: self.pool().max_size(),
            waits: availability.waits.load(Ordering::Relaxed),
            #[allow(clippy::cast_precision_loss)]
            wait_seconds: availability.wait_micros.load(Ordering::Relaxed) as f64 / 1e6,
            timeouts: availability.timeouts.load(Ordering::Relaxed),
            unreachable: availability.unreachable.load(Ordering::Acquire),
        }
    }

    /// Whether the store can serve: a connection answers within `timeout` and every embedded
    /// migration is applied. Blocks for at most about `timeout` plus one round trip.
    pub fn check_ready(&self, timeout: Duration) -> Result<(), NotReady> {
        let mut conn = self
            .availability()
            .get(self.pool(), timeout)
            .map_err(NotReady::Database)?;
        let pending = pending_migrations(&mut conn).map_err(NotReady::Database)?;
        if pending > 0 {
            return Err(NotReady::PendingMigrations(pending));
        }
        Ok(())
    }
}

fn pending_migrations(conn: &mut AnyConnection) -> StorageResult<usize> {
    let source = crate::migrate::source(conn);
    conn.pending_migrations(source)
        .map(|pending| pending.len())
        .map_err(|e| {
            // A dropped connection surfaces here as a migration error; keep it classifiable.
            match e.downcast::<DieselError>() {
                Ok(diesel) => StorageError::Backend(*diesel),
                Err(other) => StorageError::Migration(other.to_string()),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_lock_and_lost_connections_are_unavailable() {
        struct Info(&'static str);
        impl diesel::result::DatabaseErrorInformation for Info {
            fn message(&self) -> &str {
                self.0
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                None
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let db = |kind, text| {
            StorageError::Backend(DieselError::DatabaseError(kind, Box::new(Info(text))))
        };
        assert!(db(DatabaseErrorKind::Unknown, "database is locked").is_unavailable());
        assert!(db(
            DatabaseErrorKind::Unknown,
            "terminating connection due to administrator command"
        )
        .is_unavailable());
        assert!(db(DatabaseErrorKind::ClosedConnection, "").is_unavailable());
        let unique = db(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(!unique.is_unavailable());
        assert_eq!(unique.kind(), "database");
        assert_eq!(StorageError::ReleaseNotFound.kind(), "not_found");
        assert_eq!(
            db(DatabaseErrorKind::Unknown, "database is locked").kind(),
            "unavailable"
        );
    }
}
