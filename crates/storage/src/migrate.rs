//! Embedded migrations for both backends (same version names), run at start-up.

use diesel::sql_query;
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::{AnyConnection, Store};
use crate::error::{StorageError, StorageResult};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Arbitrary constant key for the PostgreSQL advisory lock that serialises migration runs.
const MIGRATION_LOCK: i64 = 0x0053_4849_504c_4f47;

impl Store {
    /// Applies every pending migration and returns the versions it applied.
    ///
    /// On PostgreSQL the run holds an advisory lock, so instances starting together on one
    /// database migrate once instead of racing each other.
    pub fn migrate(&self) -> StorageResult<Vec<String>> {
        let mut conn = self.conn()?;
        run(&mut conn)
    }

    /// Whether shiplog's migrations were ever run here: false for a new, empty database. Lets
    /// commands that only read or add data refuse a database nobody meant to create.
    pub fn is_initialized(&self) -> StorageResult<bool> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.conn()?;
        let statement = match &*conn {
            AnyConnection::Postgresql(_) => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '__diesel_schema_migrations'"
            }
            AnyConnection::Sqlite(_) => {
                "SELECT COUNT(*) AS n FROM sqlite_master \
                 WHERE type = 'table' AND name = '__diesel_schema_migrations'"
            }
        };
        let found: Vec<Count> = sql_query(statement).load(&mut conn)?;
        Ok(found.first().is_some_and(|c| c.n > 0))
    }

    /// Refreshes the query planner's statistics (SQLite `PRAGMA optimize`, PostgreSQL `ANALYZE`).
    /// Run at start-up and after bulk imports: with fresh statistics SQLite picks the covering
    /// indexes for grouped counts (5× faster on 100,000 releases).
    pub fn optimize(&self) -> StorageResult<()> {
        let mut conn = self.conn()?;
        let statement = match &*conn {
            AnyConnection::Postgresql(_) => "ANALYZE releases, packages, release_platforms",
            // 0x10002: analyse every table that needs it, even on a connection that just opened.
            AnyConnection::Sqlite(_) => "PRAGMA optimize = 0x10002",
        };
        sql_query(statement).execute(&mut conn)?;
        Ok(())
    }

    /// Settles the ledger's tables after a bulk import of `imported` releases. On SQLite that is
    /// [`Store::optimize`], which refreshes a table's statistics when its size has changed
    /// enough. On PostgreSQL it is a `VACUUM` of the tables an import fills: it marks the new
    /// pages all-visible, and only then can PostgreSQL answer from an index alone. Until then a
    /// page's `COUNT(*)` (`X-Total-Count`) and the statistics visit the table page of every row
    /// they count: 3.4 ms against 0.13 ms for a user's 500 releases. Autovacuum would do the same
    /// a minute or more later, or never where it is turned off. A vacuum skips the pages already
    /// all-visible, so after the first one it reads only what is new (23 ms for 1,000 releases
    /// imported into 25,000). It analyses the tables too when the import grew them by a tenth or
    /// more (`worth_analysing`): `ANALYZE` samples whole tables (about 200 ms at 25,000
    /// releases), and a smaller import does not change what the planner should assume.
    /// `SKIP_LOCKED`: a table another instance is vacuuming right now is skipped instead of
    /// waited for.
    pub fn settle_after_import(&self, imported: usize) -> StorageResult<()> {
        #[derive(QueryableByName)]
        struct Rows {
            #[diesel(sql_type = diesel::sql_types::Double)]
            n: f64,
        }
        let mut conn = self.conn()?;
        let AnyConnection::Postgresql(pg) = &mut *conn else {
            drop(conn);
            return self.optimize();
        };
        // What the table held at its last vacuum or analysis: inserts do not move it.
        let before: Rows = sql_query(
            "SELECT CAST(reltuples AS DOUBLE PRECISION) AS n FROM pg_class \
             WHERE oid = 'releases'::regclass",
        )
        .get_result(pg)?;
        let statement = if worth_analysing(imported, before.n) {
            "VACUUM (ANALYZE, SKIP_LOCKED) releases, packages, release_platforms, release_notes, \
             release_metadata"
        } else {
            "VACUUM (SKIP_LOCKED) releases, packages, release_platforms, release_notes, \
             release_metadata"
        };
        sql_query(statement).execute(pg)?;
        Ok(())
    }

    /// What in the database server's configuration works against shiplog, each as a sentence
    /// for the start-up log; empty on SQLite and on a PostgreSQL server set up as it ships.
    /// Today that is autovacuum turned off: rows that changes and retention leave behind are
    /// then never reclaimed, and pages written since the last vacuum cannot be counted from an
    /// index alone (shiplog vacuums after bulk imports only, see
    /// [`Store::settle_after_import`]).
    pub fn configuration_warnings(&self) -> StorageResult<Vec<String>> {
        #[derive(QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            setting: String,
        }
        let mut conn = self.conn()?;
        let AnyConnection::Postgresql(pg) = &mut *conn else {
            return Ok(Vec::new());
        };
        let autovacuum: Setting =
            sql_query("SELECT setting FROM pg_settings WHERE name = 'autovacuum'")
                .get_result(pg)?;
        Ok(autovacuum_warning(&autovacuum.setting)
            .into_iter()
            .collect())
    }

    /// Reverts every applied migration (used by the round-trip test and by operators starting
    /// over). Destroys all data.
    pub fn revert_all_migrations(&self) -> StorageResult<usize> {
        let mut conn = self.conn()?;
        let source = source(&conn);
        let reverted = conn
            .revert_all_migrations(source)
            .map_err(|e| StorageError::Migration(e.to_string()))?;
        Ok(reverted.len())
    }
}

/// Whether an import of `imported` releases into a table that held about `before` rows (as
/// PostgreSQL last counted them; -1 for never) changes it enough to refresh the planner's
/// statistics: by a tenth or more, the share at which autovacuum analyses a table by default
/// (`autovacuum_analyze_scale_factor`).
fn worth_analysing(imported: usize, before: f64) -> bool {
    before <= 0.0 || imported as f64 >= before * 0.1
}

/// The warning for PostgreSQL's `autovacuum` setting, when it is off.
fn autovacuum_warning(setting: &str) -> Option<String> {
    (setting != "on").then(|| {
        "PostgreSQL's autovacuum is off on this server: rows that updates and event retention \
         leave behind are never reclaimed, and counts and statistics read table pages that a \
         vacuum would let them skip; turn it on (autovacuum = on, the default) or run VACUUM \
         (ANALYZE) regularly"
            .to_owned()
    })
}

pub(crate) fn source(conn: &AnyConnection) -> EmbeddedMigrations {
    match conn {
        AnyConnection::Postgresql(_) => POSTGRES,
        AnyConnection::Sqlite(_) => SQLITE,
    }
}

fn run(conn: &mut AnyConnection) -> StorageResult<Vec<String>> {
    let is_pg = matches!(conn, AnyConnection::Postgresql(_));
    if is_pg {
        sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(conn)?;
    }
    let source = source(conn);
    let applied = conn
        .run_pending_migrations(source)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| StorageError::Migration(e.to_string()));
    if is_pg {
        sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn)?;
    }
    applied
}

/// The version names embedded for each backend, for the parity test.
#[cfg(test)]
pub(crate) fn embedded_versions() -> (Vec<String>, Vec<String>) {
    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;
    use diesel::sqlite::Sqlite;
    let pg = MigrationSource::<Pg>::migrations(&POSTGRES)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default();
    let sqlite = MigrationSource::<Sqlite>::migrations(&SQLITE)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default();
    (pg, sqlite)
}

#[cfg(test)]
mod tests {
    use diesel::sql_query;
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};
    use shiplog_domain::NewRelease;
    use std::time::{Duration, Instant};

    use crate::connection::AnyConnection;
    use crate::testing::TestDb;

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let (pg, sqlite) = super::embedded_versions();
        assert!(!pg.is_empty());
        assert_eq!(pg, sqlite);
    }

    #[test]
    fn an_import_of_a_tenth_of_the_table_or_more_is_analysed() {
        assert!(super::worth_analysing(1_000, -1.0), "a table never counted");
        assert!(super::worth_analysing(1_000, 0.0), "an empty table");
        assert!(super::worth_analysing(1_000, 10_000.0));
        assert!(!super::worth_analysing(1_000, 10_001.0));
        assert!(!super::worth_analysing(1_000, 1_000_000.0));
    }

    #[test]
    fn only_autovacuum_turned_off_is_worth_a_warning() {
        assert_eq!(super::autovacuum_warning("on"), None);
        let warning = super::autovacuum_warning("off").expect("a warning");
        assert!(warning.contains("autovacuum is off"), "{warning}");
    }

    #[test]
    fn the_configuration_is_read_on_every_backend() {
        for db in TestDb::all() {
            let store = db.store();
            let warnings = store.configuration_warnings().expect("settings read");
            let mut conn = store.conn().expect("connection");
            let expected = match &mut *conn {
                AnyConnection::Postgresql(pg) => {
                    let on: Count = sql_query(
                        "SELECT CAST(CAST(current_setting('autovacuum') = 'on' AS INT) AS BIGINT) AS n",
                    )
                    .get_result(pg)
                    .expect("autovacuum");
                    usize::from(on.n == 0)
                }
                AnyConnection::Sqlite(_) => 0,
            };
            assert_eq!(warnings.len(), expected, "{warnings:?}");
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// An import of a thousand releases is followed by a vacuum on PostgreSQL (so that indexes
    /// alone can answer for its pages) and by statistics for SQLite's planner.
    #[test]
    fn a_bulk_import_leaves_the_tables_settled() {
        for db in TestDb::all() {
            let store = db.store();
            let start = time::macros::datetime!(2026-01-01 00:00 UTC);
            let batch: Vec<NewRelease> = (0..1_000)
                .map(|i| {
                    let stime = start + time::Duration::minutes(i);
                    let user = format!("user{}", i % 7);
                    NewRelease::new(&user, vec!["site".to_owned()], stime).expect("a release")
                })
                .collect();
            store.import_releases(&batch).expect("import");
            let mut conn = store.conn().expect("connection");
            match &mut *conn {
                AnyConnection::Postgresql(pg) => {
                    // How many pages the vacuum marks depends on the oldest transaction still
                    // open anywhere on the server (other tests'), so the test checks that it
                    // ran, and analysed the table it filled from nothing. Before PostgreSQL 15
                    // these counts arrive a moment later.
                    let mut runs = || -> (i64, i64) {
                        let vacuums: Count = sql_query(
                            "SELECT vacuum_count AS n FROM pg_stat_user_tables \
                             WHERE relid = 'releases'::regclass",
                        )
                        .get_result(pg)
                        .expect("vacuum_count");
                        let analyses: Count = sql_query(
                            "SELECT analyze_count AS n FROM pg_stat_user_tables \
                             WHERE relid = 'releases'::regclass",
                        )
                        .get_result(pg)
                        .expect("analyze_count");
                        sql_query("SELECT pg_stat_clear_snapshot()")
                            .execute(pg)
                            .expect("a fresh snapshot of the statistics");
                        (vacuums.n, analyses.n)
                    };
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while runs() != (1, 1) && Instant::now() < deadline {
                        std::thread::yield_now();
                    }
                    assert_eq!(runs(), (1, 1), "vacuums and analyses of releases");
                }
                AnyConnection::Sqlite(sqlite) => {
                    let analysed: Count =
                        sql_query("SELECT COUNT(*) AS n FROM sqlite_stat1 WHERE tbl = 'releases'")
                            .get_result(sqlite)
                            .expect("sqlite_stat1");
                    assert!(analysed.n > 0, "no statistics for releases");
                }
            }
        }
    }
}
