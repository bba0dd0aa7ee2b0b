//! Opening the database from the command line: `serve` and `migrate` may create and migrate a
//! new one, every other command opens only an existing shiplog database; a failure names its
//! cause in the driver's words, with a hint at the fix.

use std::path::{Path, PathBuf};

use shiplog_storage::{Backend, Store};

use crate::config::DatabaseArgs;

/// Whether a command may set up a database that is not there yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `serve` and `migrate`: create (SQLite) and migrate as needed.
    CreateOrMigrate,
    /// Everything else: refuse a database that does not exist or was never migrated, so a typo
    /// or the wrong working folder cannot start an empty ledger beside the real one. The
    /// argument is the command, for the message.
    Existing(&'static str),
    /// `backup`: an existing database, left exactly as it is (not migrated), so a backup taken
    /// with a newer binary before an upgrade holds the old schema.
    AsIs(&'static str),
}

/// Opens (and migrates) the database `db` names, as `mode` allows.
pub fn open(db: &DatabaseArgs, mode: Open) -> Result<Store, String> {
    let url = db.redacted_url();
    let (backend, address) = Backend::from_url(&db.database_url).map_err(|e| e.to_string())?;
    if let Open::Existing(command) | Open::AsIs(command) = mode {
        if backend == Backend::Sqlite && !is_memory(&address) && !Path::new(&address).exists() {
            return Err(format!(
                "no database at {url} ({}): `shiplog {command}` opens an existing database and \
                 does not create one\n  hint: start `shiplog serve` or run `shiplog migrate` \
                 with the same --database-url to create it, or correct --database-url / \
                 DATABASE_URL",
                absolute(&address).display()
            ));
        }
    }
    // No connections opened in the pool's background threads: one still mid-handshake when
    // the process exits (a one-shot command's end, or a server's after draining) crashes it
    // in libpq's and OpenSSL's exit handlers. Connections open when first needed and stay
    // pooled after.
    let options = shiplog_storage::PoolOptions {
        min_idle: 0,
        ..db.pool_options()
    };
    let store = Store::connect(&db.database_url, &options).map_err(|e| {
        let cause = crate::chain(&e);
        let mut message = format!("cannot open database {url}: {cause}");
        if let Some(hint) = hint(backend, &address, &cause) {
            message.push_str("\n  hint: ");
            message.push_str(&hint);
        }
        message
    })?;
    if let Open::Existing(command) | Open::AsIs(command) = mode {
        let initialized = store
            .is_initialized()
            .map_err(|e| format!("cannot read database {url}: {}", crate::chain(&e)))?;
        if !initialized {
            return Err(format!(
                "database {url} holds no shiplog data (it was never migrated): `shiplog \
                 {command}` does not set up a new database\n  hint: run `shiplog migrate` with \
                 the same --database-url if this is the database you mean, or correct \
                 --database-url / DATABASE_URL"
            ));
        }
    }
    if matches!(mode, Open::AsIs(_)) {
        return Ok(store);
    }
    let applied = store
        .migrate()
        .map_err(|e| format!("cannot migrate {url}: {}", crate::chain(&e)))?;
    for version in &applied {
        log::info!("applied migration {version}");
    }
    if let Err(err) = store.optimize() {
        log::warn!(
            "refreshing planner statistics failed: {}",
            crate::chain(&err)
        );
    }
    match store.configuration_warnings() {
        Ok(warnings) => warnings.iter().for_each(|warning| log::warn!("{warning}")),
        Err(err) => log::warn!(
            "reading the database server's settings failed: {}",
            crate::chain(&err)
        ),
    }
    log::info!("database {url} ({}) is up to date", store.backend().name());
    Ok(store)
}

fn is_memory(address: &str) -> bool {
    address.contains(":memory:") || address.contains("mode=memory")
}

fn absolute(path: &str) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path))
}

/// What to do about a connection failure, recognised from the driver's message.
fn hint(backend: Backend, address: &str, cause: &str) -> Option<String> {
    let lower = cause.to_lowercase();
    match backend {
        Backend::Postgres => {
            if lower.contains("database \"") && lower.contains("does not exist") {
                Some(
                    "create the database (`createdb NAME` as a PostgreSQL superuser) or correct \
                     its name, the last part of --database-url / DATABASE_URL"
                        .to_owned(),
                )
            } else if lower.contains("authentication failed")
                || lower.contains("no password supplied")
                || (lower.contains("role \"") && lower.contains("does not exist"))
            {
                Some(
                    "check the user name and password in the URL: \
                     postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                        .to_owned(),
                )
            } else if lower.contains("connection refused") {
                Some(
                    "nothing accepts connections at that host and port: start PostgreSQL, or \
                     correct the host and port in --database-url / DATABASE_URL"
                        .to_owned(),
                )
            } else if lower.contains("could not translate host name") {
                Some("the host name does not resolve: correct it in the URL".to_owned())
            } else {
                None
            }
        }
        Backend::Sqlite => {
            let path = absolute(address);
            if lower.contains("not a database") {
                Some(format!(
                    "{} exists but is not a SQLite database: point --database-url at a shiplog \
                     database, or at a new file name to start one",
                    path.display()
                ))
            } else if let Some(folder) = path.parent().filter(|f| !f.is_dir()) {
                Some(format!(
                    "the folder {} does not exist: create it, or choose a path in an existing \
                     folder",
                    folder.display()
                ))
            } else if lower.contains("unable to open") {
                Some(format!(
                    "check that {} can be read and written by this user",
                    path.display()
                ))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_known_cause_has_its_hint() {
        let pg = |cause: &str| hint(Backend::Postgres, "", cause).unwrap_or_default();
        assert!(pg("FATAL:  database \"x\" does not exist").contains("createdb"));
        assert!(pg("FATAL:  password authentication failed for user \"u\"").contains("password"));
        assert!(pg("FATAL:  role \"nobody\" does not exist").contains("user name"));
        assert!(pg("port 1 failed: Connection refused").contains("start PostgreSQL"));
        assert_eq!(hint(Backend::Postgres, "", "something else"), None);
        let missing = hint(
            Backend::Sqlite,
            "/no/such/folder/x.db",
            "unable to open database file",
        );
        assert!(missing.is_some_and(|h| h.contains("/no/such/folder does not exist")));
        let not_db = hint(Backend::Sqlite, "/tmp/x.txt", "file is not a database");
        assert!(not_db.is_some_and(|h| h.contains("not a SQLite database")));
    }
}
