//! `shiplog backup`: a consistent copy of a live SQLite database, taken while the server goes on
//! reading and writing. SQLite's `VACUUM INTO` reads one snapshot (a read transaction; in WAL
//! mode writers are not blocked, and commits made meanwhile are simply not in the copy) and
//! writes it out compacted. The copy is written beside the target and renamed into place only
//! once complete, so a failed or interrupted backup never leaves a file that looks whole.
//! PostgreSQL has its own tools (`pg_dump`), which shiplog does not replace.

use std::path::{Path, PathBuf};

use diesel::sql_types::Text;
use diesel::RunQueryDsl;

use crate::connection::{AnyConnection, Backend, Store};
use crate::error::StorageError;

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "shiplog backup copies SQLite databases; back up PostgreSQL with pg_dump (for example \
         `pg_dump --format=custom --file=shiplog.dump \"$DATABASE_URL\"`) and restore with \
         pg_restore"
    )]
    NotSqlite,
    #[error("{0} already exists: choose a new file, a backup never overwrites one")]
    TargetExists(PathBuf),
    #[error("the backup file name {0} is not UTF-8 text")]
    NotUtf8(PathBuf),
    #[error("cannot write the backup")]
    Io(#[from] std::io::Error),
    #[error("cannot copy the database")]
    Storage(#[from] StorageError),
}

impl Store {
    /// Copies this SQLite database to `target`, a new file; returns its size in bytes.
    pub fn backup_sqlite(&self, target: &Path) -> Result<u64, BackupError> {
        if self.backend() != Backend::Sqlite {
            return Err(BackupError::NotSqlite);
        }
        if target.exists() {
            return Err(BackupError::TargetExists(target.to_owned()));
        }
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let text = partial
            .to_str()
            .ok_or_else(|| BackupError::NotUtf8(target.to_owned()))?
            .to_owned();
        // A leftover of an earlier backup that failed: VACUUM INTO refuses to write over it.
        let _ = std::fs::remove_file(&partial);
        let copied = self.read(|conn| match conn {
            AnyConnection::Sqlite(sqlite) => diesel::sql_query("VACUUM INTO ?")
                .bind::<Text, _>(&text)
                .execute(sqlite)
                .map(drop)
                .map_err(StorageError::from),
            AnyConnection::Postgresql(_) => Err(StorageError::Corrupt(
                "a SQLite store holds a PostgreSQL connection".to_owned(),
            )),
        });
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(err.into());
        }
        if target.exists() {
            let _ = std::fs::remove_file(&partial);
            return Err(BackupError::TargetExists(target.to_owned()));
        }
        std::fs::rename(&partial, target)?;
        Ok(std::fs::metadata(target)?.len())
    }
}
