//! Throwaway databases for tests: a temp-file SQLite database always, and a fresh PostgreSQL
//! schema when `SHIPLOG_TEST_DATABASE_URL` names a server. Each is removed on drop.
//!
//! When the variable is set but the server cannot be reached, creating the database panics: a
//! suite that was asked to cover PostgreSQL must not quietly skip it.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::connection::{Backend, PoolOptions, Store};

/// The variable naming the PostgreSQL server tests may use.
pub const TEST_DATABASE_URL: &str = "SHIPLOG_TEST_DATABASE_URL";

/// A fresh, empty database that is removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Directory(PathBuf),
    Schema { admin_url: String, schema: String },
}

impl TestDb {
    /// A SQLite database in a new temporary directory.
    pub fn sqlite() -> TestDb {
        let dir =
            std::env::temp_dir().join(format!("shiplog-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let url = format!("sqlite://{}", dir.join("shiplog.db").display());
        TestDb {
            url,
            backend: Backend::Sqlite,
            cleanup: Cleanup::Directory(dir),
        }
    }

    /// A new schema on the PostgreSQL server at `admin_url`, reached through a URL whose
    /// search path points at it.
    pub fn postgres(admin_url: &str) -> TestDb {
        let schema = format!("shiplog_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin_url).unwrap_or_else(|e| {
            panic!("{TEST_DATABASE_URL} is set but PostgreSQL is unreachable: {e}")
        });
        conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap_or_else(|e| panic!("cannot create test schema: {e}"));
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        TestDb {
            url,
            backend: Backend::Postgres,
            cleanup: Cleanup::Schema {
                admin_url: admin_url.to_owned(),
                schema,
            },
        }
    }

    /// One fresh database per backend under test: SQLite, plus PostgreSQL when
    /// `SHIPLOG_TEST_DATABASE_URL` is set.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        if let Some(url) = std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            dbs.push(TestDb::postgres(url.trim()));
        }
        dbs
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A store on this database, migrated.
    pub fn store(&self) -> Store {
        let store = Store::connect(
            &self.url,
            &PoolOptions {
                max_size: 4,
                ..PoolOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("cannot open test database {}: {e}", self.url));
        store
            .migrate()
            .unwrap_or_else(|e| panic!("cannot migrate test database: {e}"));
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { admin_url, schema } => {
                if let Ok(mut conn) = PgConnection::establish(admin_url) {
                    let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}
