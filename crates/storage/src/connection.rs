//! Connections: the backend chosen by URL scheme, the r2d2 pool, per-connection SQLite settings
//! and the write-transaction helper every write goes through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, ConnectionError, PgConnection, SqliteConnection};
use r2d2::ManageConnection;

use crate::error::{StorageError, StorageResult};
use crate::health::Availability;
use crate::ledger::{
    CountMemo, CountMemoFigures, GatheredReads, ReleaseCache, ReleaseCacheFigures,
};
use crate::write_connection::WriteConnection;

/// One connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$run` with `$c` bound to the backend's own connection inside `$conn` (an
/// `&mut AnyConnection`), for a DSL statement that reads the same on both backends. Needed
/// where diesel's `MultiBackend` cannot express the statement (`RETURNING`, `ON CONFLICT`), and
/// worth it on hot paths: through `AnyConnection` diesel builds and hashes a statement's SQL
/// text on every run to find it in the statement cache, while the backend's own connection
/// finds it by its type (half the cost of a new release's event on SQLite's write thread).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $run:expr) => {
        match &mut *$conn {
            $crate::connection::AnyConnection::Sqlite($c) => $run,
            $crate::connection::AnyConnection::Postgresql($c) => $run,
        }
    };
}
pub(crate) use on_backend;

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a connection talks to.
    pub(crate) fn of(conn: &AnyConnection) -> Backend {
        match conn {
            AnyConnection::Postgresql(_) => Backend::Postgres,
            AnyConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Picks the backend from a database URL, and the address to hand its driver.
    ///
    /// `postgres://` and `postgresql://` are PostgreSQL; `sqlite://PATH`, `sqlite:PATH` and a bare
    /// path are SQLite. Any other scheme is refused rather than guessed at.
    pub fn from_url(url: &str) -> StorageResult<(Backend, String)> {
        let trimmed = url.trim();
        if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            let env_sets_tls = ["PGSSLMODE", "PGREQUIRESSL", "PGSERVICE"]
                .iter()
                .any(|name| std::env::var_os(name).is_some());
            let url = with_connect_timeout(trimmed);
            return Ok((Backend::Postgres, loopback_without_tls(&url, env_sets_tls)));
        }
        if let Some(path) = trimmed
            .strip_prefix("sqlite://")
            .or_else(|| trimmed.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StorageError::UnsupportedUrl(url.to_owned()));
            }
            return Ok((Backend::Sqlite, path.to_owned()));
        }
        if trimmed.is_empty() || trimmed.contains("://") {
            return Err(StorageError::UnsupportedUrl(url.to_owned()));
        }
        Ok((Backend::Sqlite, trimmed.to_owned()))
    }

    /// A short lowercase name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// libpq's `connect_timeout` (seconds) for PostgreSQL URLs that set none. Without one libpq
/// waits as long as the operating system does (minutes, for a host that drops packets) before a
/// start, a `migrate` or a reconnect fails.
pub const CONNECT_TIMEOUT_SECONDS: u32 = 5;

/// `url` with `connect_timeout` added to its query unless it has one.
fn with_connect_timeout(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q);
    let set = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("connect_timeout"))
    });
    if set {
        return url.to_owned();
    }
    let separator = match query {
        None => "?",
        Some("") => "",
        Some(_) => "&",
    };
    format!("{url}{separator}connect_timeout={CONNECT_TIMEOUT_SECONDS}")
}

/// `url` with `sslmode=allow` added when it names a server on this machine by a loopback
/// address and nothing chooses the TLS mode or the host otherwise (no `sslmode`,
/// `requiressl`, `service`, `host` or `hostaddr` in its query; nothing in the environment:
/// `env_sets_tls`).
///
/// libpq's own default is `sslmode=prefer`: TLS whenever the server offers it, which Debian's
/// PostgreSQL does out of the box even on 127.0.0.1. On loopback the traffic never leaves the
/// machine, and `prefer` checks no certificate anyway, so TLS there bought nothing and cost both
/// sides CPU on every round trip: 13-14 % of shiplog's samples in the Orlo writes. `allow` tries
/// without TLS first and still falls back to TLS for a server that accepts only TLS
/// connections (`hostssl` in `pg_hba.conf`).
fn loopback_without_tls(url: &str, env_sets_tls: bool) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let chosen = query.split('&').any(|pair| {
        matches!(
            pair.split('=').next(),
            Some("sslmode" | "requiressl" | "service" | "host" | "hostaddr")
        )
    });
    if env_sets_tls || chosen || !is_loopback_host(base) {
        return url.to_owned();
    }
    let separator = match query {
        "" if url.ends_with('?') => "",
        "" => "?",
        _ => "&",
    };
    format!("{url}{separator}sslmode=allow")
}

/// Whether the host of a `postgres://user:pass@host:port/db` URL (without its query) is one
/// loopback address: `localhost`, `127.x.y.z` or `[::1]`. Several hosts, or none (a Unix
/// socket, where TLS never applies), are not.
fn is_loopback_host(base: &str) -> bool {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// Idle connections the pool keeps ready, opening them in its background threads. A
    /// server wants one; a one-shot command wants none: a connection still being opened (a TLS
    /// handshake with PostgreSQL) when the process exits crashes it in libpq/OpenSSL's exit
    /// handlers.
    pub min_idle: u32,
    pub connection_timeout: Duration,
    /// How long a SQLite writer waits for the write lock before giving up.
    pub sqlite_busy_timeout: Duration,
    /// About how many bytes of releases to keep whole in memory (see `ledger::cache`); 0 keeps
    /// none.
    pub release_cache_bytes: u64,
}

/// The default size of the release cache: 64 MiB, some 60,000 releases of a few packages each.
pub const DEFAULT_RELEASE_CACHE_BYTES: u64 = 64 << 20;

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: 1,
            connection_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
            release_cache_bytes: DEFAULT_RELEASE_CACHE_BYTES,
        }
    }
}

/// Opens connections of the backend the URL named, passing on the driver's own error (diesel's
/// `AnyConnection::establish` would try each backend in turn and lose it).
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    backend: Backend,
    address: String,
    busy_timeout_ms: u128,
    availability: std::sync::Arc<Availability>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = StorageError;

    fn connect(&self) -> Result<AnyConnection, StorageError> {
        let result = self.open();
        self.availability.connected(result.is_ok());
        result
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), StorageError> {
        if crate::liveness::recently_answered(conn) {
            return Ok(());
        }
        conn.ping().map_err(StorageError::Backend)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

impl Manager {
    fn open(&self) -> Result<AnyConnection, StorageError> {
        match self.backend {
            Backend::Postgres => {
                let mut conn =
                    PgConnection::establish(&self.address).map_err(StorageError::Connect)?;
                conn.set_instrumentation(crate::liveness::Liveness::default());
                Ok(AnyConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                // WAL frames written in one call a transaction (see `shiplog_wal_gather`);
                // should SQLite refuse the VFS, connections keep the platform's, as before.
                if let Err(rc) = shiplog_wal_gather::install() {
                    log::warn!("SQLite refused the WAL-gathering VFS (code {rc})");
                }
                let mut conn =
                    SqliteConnection::establish(&self.address).map_err(StorageError::Connect)?;
                // WAL lets readers run beside the writer; NORMAL sync is durable at checkpoints;
                // the busy timeout queues writers; foreign keys are off by default in SQLite;
                // the larger cache and mmap triple range-scan throughput (measured on this machine kind);
                // the write and checkpoint connections turn the map off again (`NO_MEMORY_MAP`).
                // SQLite opens any file lazily: these first reads are where a file that is not a
                // database fails, so their error is a connection error.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA cache_size = -65536;
                     PRAGMA mmap_size = 268435456;",
                    self.busy_timeout_ms
                ))
                .and_then(|()| crate::ledger::register_connection_number(&mut conn))
                .map_err(|e| {
                    StorageError::Connect(ConnectionError::CouldntSetupConfiguration(e))
                })?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// Turns the memory map off for a connection that writes (the write connection, the
/// checkpoint thread's). SQLite maps the database file anew whenever it has grown since the
/// connection's last transaction, and under a stream of new releases it grows at nearly every
/// checkpoint: each of those connections then unmapped and mapped 256 MiB again, and every
/// `munmap` stops the process's other threads to flush their TLBs. Neither gains from the map:
/// a page a write changes is copied out of it into the page cache anyway, SQLite never writes
/// through it, and no other connection writes, so the write connection's page cache stays
/// warm. Readers keep the map. Measured with `POST /releases` on SQLite (bench-http, 2 cores,
/// four pairs): 12,991 → 13,557 req/s on average, 95 → 91 µs of CPU a request.
pub(crate) const NO_MEMORY_MAP: &str = "PRAGMA mmap_size = 0";

pub(crate) type Pool = r2d2::Pool<Manager>;
pub(crate) type PooledConnection = r2d2::PooledConnection<Manager>;

/// The storage handle: a connection pool to one database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    /// SQLite's one write connection (see `writer`); `None` on PostgreSQL, whose writers run
    /// concurrently on pooled connections.
    writer: Option<Arc<WriteConnection>>,
    availability: std::sync::Arc<Availability>,
    /// Who the writes through this handle are for, recorded as the `actor` of their events
    /// (see [`Store::acting_as`]).
    actor: Option<Arc<str>>,
    /// Write transactions of this process that committed a change to users, tokens or
    /// permissions (see `identity_changes`).
    identity_changes: Arc<AtomicU64>,
    /// One permit per pooled connection, handed out in the order callers ask (see
    /// [`Store::admission`]).
    admission: Arc<tokio::sync::Semaphore>,
    /// Releases read whole, by id and revision (see `ledger::cache`).
    releases: ReleaseCache,
    /// Counts of lists, by the snapshot they were taken in (see `ledger::count_memo`).
    counts: CountMemo,
    /// PostgreSQL: releases by id and first pages, read for many requests at once (see
    /// `ledger::gathered`).
    gathered: Option<GatheredReads>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to the database the URL names. Nothing is migrated yet: see [`Store::migrate`].
    ///
    /// A database that cannot be reached fails here at once with the driver's own message
    /// ([`StorageError::Connect`]), rather than after the pool's timeout.
    pub fn connect(url: &str, options: &PoolOptions) -> StorageResult<Store> {
        let (backend, address) = Backend::from_url(url)?;
        // Every in-memory SQLite connection is its own empty database, so such a pool must hold
        // exactly one connection.
        let max_size = if backend == Backend::Sqlite && address.contains(":memory:") {
            1
        } else {
            options.max_size
        };
        let availability = Availability::new();
        let manager = Manager {
            backend,
            address,
            busy_timeout_ms: options.sqlite_busy_timeout.as_millis(),
            availability: availability.clone(),
        };
        // One connection outside the pool first: r2d2 would retry a failing database until its
        // timeout, logging each attempt, and then report only that it timed out.
        drop(manager.connect()?);
        // An in-memory database is one connection's own, so its single pooled connection must
        // do the writing too.
        let writer = (backend == Backend::Sqlite && max_size > 1)
            .then(|| Arc::new(WriteConnection::new(manager.clone())));
        let pool = r2d2::Pool::builder()
            .max_size(max_size.max(1))
            .min_idle(Some(options.min_idle.min(max_size)))
            .connection_timeout(options.connection_timeout)
            // A SQLite file cannot go away under an open connection: skip the `SELECT 1` per
            // checkout there. A PostgreSQL connection can die with its server, so test it,
            // unless it answered a moment ago (see `liveness`).
            .test_on_check_out(backend == Backend::Postgres)
            .build(manager)?;
        let counts = CountMemo::new(backend);
        let releases = ReleaseCache::new(options.release_cache_bytes);
        let gathered = (backend == Backend::Postgres).then(|| {
            GatheredReads::new(
                pool.clone(),
                Arc::clone(&availability),
                releases.clone(),
                counts.clone(),
            )
        });
        Ok(Store {
            pool,
            backend,
            writer,
            availability,
            actor: None,
            identity_changes: Arc::new(AtomicU64::new(0)),
            admission: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(max_size.max(1)).unwrap_or(1),
            )),
            releases,
            counts,
            gathered,
        })
    }

    /// The same store, recording `actor` as the author of the events its writes append. Cheap:
    /// the pool is shared. Writes whose storage call names its author already (Balrog's
    /// `changed_by`, a ticket comment's author) use that name instead.
    pub fn acting_as(&self, actor: &str) -> Store {
        Store {
            actor: Some(Arc::from(actor)),
            ..self.clone()
        }
    }

    /// What opens the write connection (SQLite), for tests of how connections are set up.
    #[cfg(test)]
    pub(crate) fn write_manager(&self) -> Option<&Manager> {
        self.writer.as_ref().map(|w| w.manager())
    }

    /// SQLite's checkpoint thread, for tests that wait on it.
    #[cfg(test)]
    pub(crate) fn checkpoints(&self) -> Option<&crate::checkpoints::Checkpoints> {
        self.writer.as_ref().and_then(|w| w.checkpoints())
    }

    /// The releases this process keeps whole (see `ledger::cache`).
    pub(crate) fn releases(&self) -> &ReleaseCache {
        &self.releases
    }

    /// What the process keeps of releases in memory, and how often reads found them there
    /// (see [`PoolOptions::release_cache_bytes`]).
    pub fn release_cache(&self) -> ReleaseCacheFigures {
        self.releases.figures()
    }

    /// The counts of lists kept (see `ledger::count_memo`).
    pub(crate) fn counts(&self) -> &CountMemo {
        &self.counts
    }

    /// PostgreSQL's gathered reads (see `ledger::gathered`).
    pub(crate) fn gathered(&self) -> Option<&GatheredReads> {
        self.gathered.as_ref()
    }

    /// How often a list's total was told by a count kept from an earlier read of the same
    /// snapshot, and how often it was counted.
    pub fn count_memo(&self) -> CountMemoFigures {
        self.counts.figures()
    }

    /// The actor set with [`Store::acting_as`], if any.
    pub(crate) fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// How many write transactions of this process (through any clone of this store) have
    /// committed a change to users, tokens or permissions: a cache of credentials compares it
    /// with the value it last saw to learn of this instance's own changes without a query.
    pub fn local_identity_changes(&self) -> u64 {
        self.identity_changes.load(Ordering::Acquire)
    }

    /// Permits to use the pool, one per connection, granted first come, first served: a server
    /// takes one before it hands a request's storage work to a thread. The pool itself is not
    /// fair: a connection coming back goes to whichever thread asks next, and with more
    /// requests than connections a waiting request could lose that race again and again (at 16
    /// connections against a pool of 10, reads of 1 ms had a maximum of 1.9 s on PostgreSQL).
    pub fn admission(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.admission)
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection; fails after about a second when the database is unreachable
    /// (see `health`), after the pool's timeout when it is only busy.
    pub(crate) fn conn(&self) -> StorageResult<PooledConnection> {
        self.availability
            .get(&self.pool, self.pool.connection_timeout())
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) fn availability(&self) -> &Availability {
        &self.availability
    }

    /// Runs `f` in one write transaction and commits if it succeeds, rolls back if not.
    ///
    /// On SQLite the transaction starts with `BEGIN IMMEDIATE`: it takes the write lock up front
    /// (waiting up to the busy timeout), so a transaction that reads before it writes cannot fail
    /// later on a lock upgrade. SQLite writes of this process queue for its one write
    /// connection (`writer`) rather than racing for the lock.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        crate::identity_changes::reset();
        let result = match &self.writer {
            Some(writer) => writer.run(|conn| write_transaction(conn, f)),
            None => self
                .conn()
                .and_then(|mut conn| write_transaction(&mut conn, f)),
        };
        if crate::identity_changes::take() && result.is_ok() {
            if self.writer.as_ref().is_some_and(|w| w.grouping()) {
                // Counted once the group commits (see `write_group`).
                GROUP_TOUCHED_IDENTITY.with(|t| t.set(true));
            } else {
                self.identity_changes.fetch_add(1, Ordering::AcqRel);
            }
        }
        result
    }

    /// Runs `body`, and every write it makes on this thread through this store (or a copy of
    /// it, such as [`Store::acting_as`]'s) joins one transaction, with one commit for all when
    /// `body` returns (group commit). Returns what `body` returned and the commit's outcome:
    /// when that is an error, none of the group's writes were kept, whatever each of them
    /// returned. A caller must not report a write done before the group has committed.
    ///
    /// A write that fails is undone alone: the writes first run without savepoints, and when
    /// one fails, the transaction is rolled back and `body` runs again from the start with each
    /// write in a savepoint of its own. So `body` must be able to run twice, making the same
    /// writes; what it returns is the last run's.
    ///
    /// Only SQLite groups (its writes take turns on one connection anyway, and a commit is most
    /// of a small write's cost); on PostgreSQL `body` runs once as is, each write committing on
    /// its own. An error instead of a value (the database away, the write lock not taken within
    /// the busy timeout) means none of the group stands; `body` may have run once before it.
    pub fn write_group<R>(
        &self,
        mut body: impl FnMut() -> R,
    ) -> StorageResult<(R, StorageResult<()>)> {
        let Some(writer) = &self.writer else {
            return Ok((body(), Ok(())));
        };
        // Set by either run of the group's body: after a run that was rolled back this may
        // count a change that was not kept, which costs the identity caches one reload.
        GROUP_TOUCHED_IDENTITY.with(|t| t.set(false));
        let (value, committed) = writer.group(body)?;
        if GROUP_TOUCHED_IDENTITY.with(|t| t.replace(false)) && committed.is_ok() {
            self.identity_changes.fetch_add(1, Ordering::AcqRel);
        }
        Ok((value, committed))
    }

    /// Runs `f` in one read-only transaction that sees a single snapshot of the database:
    /// `REPEATABLE READ` on PostgreSQL, a deferred transaction (a WAL snapshot) on SQLite. For
    /// reads of several tables that must agree with each other.
    pub(crate) fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let mut conn = self.conn()?;
        let conn = &mut *conn;
        match conn {
            AnyConnection::Sqlite(inner) => {
                AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN DEFERRED")?
            }
            AnyConnection::Postgresql(inner) => AnsiTransactionManager::begin_transaction_sql(
                inner,
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            )?,
        }
        let result = f(conn);
        finish_transaction(conn, result)
    }

    /// Runs `f`, a read of several statements (a row and its related tables), with a pooled
    /// connection. On SQLite in one snapshot: that is cheaper than statements on their own, each
    /// of which takes and releases the WAL read lock, and the statements agree. On PostgreSQL
    /// each statement reads the data committed when it starts, as with [`Store::read`]: a
    /// transaction would cost two more round trips.
    pub(crate) fn read_related<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        match self.backend {
            Backend::Sqlite => self.read_snapshot(f),
            Backend::Postgres => self.read(f),
        }
    }

    /// Runs `f` with a pooled connection, for reads.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let mut conn = self.conn()?;
        f(&mut conn)
    }
}

thread_local! {
    /// Whether a write of the group this thread runs changed an identity table.
    static GROUP_TOUCHED_IDENTITY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) fn write_transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    // A write of a group's first pass runs bare in the group's transaction; if it fails, the
    // group rolls back and runs again, this time with a savepoint for each write (see
    // `write_connection`).
    let mut bare = false;
    match conn {
        AnyConnection::Sqlite(inner) => {
            let bare_write = crate::write_connection::take_bare();
            if in_transaction(inner)? {
                bare = bare_write;
                if !bare {
                    // Inside a group's transaction (`write_group`): a savepoint of it.
                    AnsiTransactionManager::begin_transaction(inner)?
                }
            } else {
                AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
            }
        }
        AnyConnection::Postgresql(inner) => AnsiTransactionManager::begin_transaction(inner)?,
    }
    crate::events::begin();
    let enclosing = crate::callbacks::begin();
    let result = f(conn);
    // The transaction's events go in last, just before the commit (see `events`).
    let pending = crate::events::take();
    let result = result.and_then(|value| {
        crate::events::flush(conn, pending)?;
        Ok(value)
    });
    let result = if bare {
        result
    } else {
        finish_transaction(conn, result)
    };
    if result.is_ok() && Backend::of(conn) == Backend::Postgres {
        crate::callbacks::unpark_committed(conn);
    }
    crate::callbacks::end(enclosing);
    result
}

fn in_transaction(conn: &mut diesel::SqliteConnection) -> StorageResult<bool> {
    Ok(AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some())
}

/// Commits after success, rolls back after failure.
fn finish_transaction<T>(conn: &mut AnyConnection, result: StorageResult<T>) -> StorageResult<T> {
    match result {
        Ok(value) => {
            <AnyConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) =
                <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                log::error!("rollback failed after {err}: {rollback}");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        let pg = Backend::from_url("postgres://u@db.example/db").expect("pg");
        assert_eq!(
            pg,
            (
                Backend::Postgres,
                "postgres://u@db.example/db?connect_timeout=5".to_owned()
            )
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").expect("pg").0,
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").expect("sqlite"),
            (Backend::Sqlite, "/tmp/x.db".to_owned())
        );
        assert_eq!(
            Backend::from_url("sqlite:x.db").expect("sqlite"),
            (Backend::Sqlite, "x.db".to_owned())
        );
        assert_eq!(
            Backend::from_url("shiplog.db").expect("sqlite"),
            (Backend::Sqlite, "shiplog.db".to_owned())
        );
        for bad in ["mysql://h/db", "", "sqlite://", "http://x"] {
            assert!(
                matches!(Backend::from_url(bad), Err(StorageError::UnsupportedUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout_unless_they_set_one() {
        let address = |url: &str| Backend::from_url(url).expect("pg").1;
        assert_eq!(
            address("postgres://h/db?sslmode=require"),
            "postgres://h/db?sslmode=require&connect_timeout=5"
        );
        assert_eq!(
            address("postgres://h/db?"),
            "postgres://h/db?connect_timeout=5"
        );
        for kept in [
            "postgres://h/db?connect_timeout=30",
            "postgres://h/db?sslmode=require&connect_timeout=1",
        ] {
            assert_eq!(address(kept), kept);
        }
    }

    #[test]
    fn loopback_servers_are_reached_without_tls_unless_something_chooses_it() {
        for (url, expected) in [
            (
                "postgres://u@127.0.0.1:5432/db?connect_timeout=5",
                "postgres://u@127.0.0.1:5432/db?connect_timeout=5&sslmode=allow",
            ),
            (
                "postgres://localhost/db",
                "postgres://localhost/db?sslmode=allow",
            ),
            (
                "postgres://u:p@[::1]/db?",
                "postgres://u:p@[::1]/db?sslmode=allow",
            ),
            (
                "postgresql://u@127.0.0.2/db",
                "postgresql://u@127.0.0.2/db?sslmode=allow",
            ),
        ] {
            assert_eq!(loopback_without_tls(url, false), expected, "{url}");
        }
        for kept in [
            // Another machine: TLS as libpq decides.
            "postgres://u@10.0.0.5/db",
            "postgres://u@db.example:5432/db",
            "postgres://u@localhost.example/db",
            // Several hosts, or a Unix socket.
            "postgres://u@127.0.0.1,10.0.0.5/db",
            "postgres:///db",
            "postgres://u@%2Frun%2Fpostgresql/db",
            // The URL chooses.
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@localhost/db?service=main",
            "postgres://u@localhost/db?host=/run/postgresql",
        ] {
            assert_eq!(loopback_without_tls(kept, false), kept, "{kept}");
        }
        // The environment chooses (PGSSLMODE and the like).
        assert_eq!(
            loopback_without_tls("postgres://u@127.0.0.1/db", true),
            "postgres://u@127.0.0.1/db"
        );
    }

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    fn count(conn: &mut AnyConnection) -> StorageResult<i64> {
        count_of(conn, "t")
    }

    #[test]
    fn a_sqlite_snapshot_sees_one_state_and_always_ends_its_transaction() {
        let db = crate::testing::TestDb::sqlite();
        let store = Store::connect(
            db.url(),
            &PoolOptions {
                max_size: 2,
                ..PoolOptions::default()
            },
        )
        .expect("open");
        let insert = |store: &Store| {
            store.write(|conn| {
                conn.batch_execute("INSERT INTO t VALUES (1)")?;
                Ok(())
            })
        };
        store
            .write(|conn| Ok(conn.batch_execute("CREATE TABLE t (x INTEGER)")?))
            .expect("create");
        let (before, during) = store
            .read_snapshot(|conn| {
                let before = count(conn)?;
                insert(&store)?;
                Ok((before, count(conn)?))
            })
            .expect("snapshot");
        assert_eq!(
            (before, during),
            (0, 0),
            "a commit after the snapshot began is unseen"
        );

        let failed: StorageResult<()> = store.read_snapshot(|conn| {
            count(conn)?;
            Err(StorageError::ReleaseNotFound)
        });
        assert!(matches!(failed, Err(StorageError::ReleaseNotFound)));
        // A failing statement inside the snapshot: it ends all the same.
        let broken = store.read_snapshot(|conn| count_of(conn, "no_such_table"));
        assert!(broken.is_err());

        // Both pooled connections are out of any transaction, and see the latest commit.
        let mut first = store.conn().expect("first connection");
        let mut second = store.conn().expect("second connection");
        for conn in [&mut *first, &mut *second] {
            let AnyConnection::Sqlite(inner) = conn else {
                unreachable!("a SQLite store")
            };
            assert!(!in_transaction(inner).expect("status"));
            assert_eq!(count(conn).expect("count"), 1);
        }
        drop((first, second));
        insert(&store).expect("a later write");
        assert_eq!(store.read_snapshot(count).expect("again"), 2);
    }

    fn count_of(conn: &mut AnyConnection, table: &str) -> StorageResult<i64> {
        let row: Count = diesel::RunQueryDsl::get_result(
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")),
            conn,
        )?;
        Ok(row.n)
    }

    /// The bundled SQLite is built with the options `.cargo/config.toml` sets: a build that
    /// lost them (another config, a system SQLite) would plan statements again on every run.
    #[test]
    fn the_bundled_sqlite_has_the_build_options_shiplog_relies_on() {
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let db = crate::testing::TestDb::sqlite();
        let store = Store::connect(db.url(), &PoolOptions::default()).expect("open");
        let options: Vec<String> = store
            .read(|conn| {
                let rows: Vec<CompileOption> =
                    diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA compile_options"), conn)?;
                Ok(rows.into_iter().map(|r| r.compile_options).collect())
            })
            .expect("compile options");
        for wanted in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0", "THREADSAFE=2"] {
            assert!(options.iter().any(|o| o == wanted), "{wanted}: {options:?}");
        }
        assert!(
            !options.iter().any(|o| o.starts_with("ENABLE_STAT")),
            "{options:?}"
        );
    }
}
