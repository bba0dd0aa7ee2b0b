//! A change of one ledger release (starting or stopping it, a note, metadata, adding a package,
//! moving a package along): the release is read whole, the change is worked out in memory (the rows it writes,
//! the release's derived status, the event and the callback that carry the result), and then
//! written, guarded by the release's `revision`: the write applies only if the revision is still
//! the one read, and moves it on.
//!
//! On PostgreSQL the write is one statement, its parts data-modifying CTEs that all hang on the
//! release row's guarded update (`r`): the related rows, the event, the callback's delivery. A
//! change that lost a race to another writer changes nothing, sees so in the statement's answer,
//! and starts again from a fresh read. Two round trips, and no transaction held open between
//! them; a package move used to be twelve, then five with the release locked across its read
//! and write. The guard serialises changes of one release the way the lock did: the update of
//! `r` waits for a concurrent writer of the row, then re-checks the revision on the row that
//! writer left, which no longer matches.
//!
//! On SQLite the same steps run as separate statements in one transaction on the one writer
//! (`BEGIN IMMEDIATE`), where the guard never fails. So does a change on PostgreSQL that lost
//! the race a few times in a row, with the release's row locked from before its read: a release
//! that many writers change at once serialises them rather than starving one.

use diesel::sql_types::{BigInt, Nullable};
use diesel::{QueryableByName, RunQueryDsl};
use shiplog_domain::{PackageId, PackageStatus, Release, ReleaseId};
use time::OffsetDateTime;

use super::releases::release_tags;
use super::whole::{self, WholeWithSummary, WholeWithSummarySql};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::{push_event_ctes, Pending};
use crate::sql::{ByPosition, Sql, Value};

/// How many times a change on PostgreSQL tries the optimistic way. Each lost race means another
/// writer's change of the same release committed meanwhile; after this many, the change takes
/// the release's row lock instead, where it cannot lose (so a busy release starves no writer).
const OPTIMISTIC_ATTEMPTS: usize = 3;

/// What a release's row keeps of its packages for the status and rollback filters: the status
/// derived from them and whether any rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    pub status: Option<PackageStatus>,
    pub has_rollback: bool,
}

impl Summary {
    pub fn of(release: &Release) -> Summary {
        Summary {
            status: release.status(),
            has_rollback: release.packages.iter().any(|p| p.rollback),
        }
    }
}

/// A release as a change reads it: whole, with the summary and the revision its row stores.
pub(super) struct Read {
    pub release: Release,
    pub stored: Summary,
    revision: i64,
}

impl Read {
    fn of(conn: &mut AnyConnection, id: ReleaseId) -> StorageResult<Read> {
        let query = whole::by_id_with_summary(Backend::of(conn), &id.to_string());
        let row: WholeWithSummary = ByPosition::<_, WholeWithSummarySql>::new(query)
            .load::<WholeWithSummary>(conn)?
            .into_iter()
            .next()
            .ok_or(StorageError::ReleaseNotFound)?;
        let status = row
            .stored_status
            .map(|s| {
                s.parse::<PackageStatus>().map_err(|_| {
                    StorageError::Corrupt(format!("release {id} has the status {s:?}"))
                })
            })
            .transpose()?;
        Ok(Read {
            release: row.whole.into_release()?,
            stored: Summary {
                status,
                has_rollback: row.stored_rollback,
            },
            revision: row.revision,
        })
    }
}

/// A row a change writes besides the release's own.
pub(super) enum RowWrite {
    /// New rows of a related table: `into` is `table (columns)` (such as
    /// `one_statement::PACKAGES_INTO`), each row a tuple of values
    /// bound in that order (without parentheses), and `on_conflict` is empty or an `ON CONFLICT`
    /// clause both backends take.
    Insert {
        into: &'static str,
        rows: Vec<Sql>,
        on_conflict: &'static str,
    },
    /// An existing package: the `SET` list of the columns that change.
    UpdatePackage { id: PackageId, set: Sql },
}

impl RowWrite {
    /// Appends the statement. With a `guard` (the name of a CTE of the same statement), it
    /// writes only if that CTE returned a row.
    fn push(&self, sql: &mut Sql, guard: Option<&str>) {
        match self {
            RowWrite::Insert {
                into,
                rows,
                on_conflict,
            } => {
                sql.push("INSERT INTO ").push(into);
                match guard {
                    None => {
                        sql.push(" VALUES ");
                        push_tuples(sql, rows);
                    }
                    Some(guard) => {
                        sql.push(" SELECT * FROM (VALUES ");
                        push_tuples(sql, rows);
                        sql.push(") AS v WHERE EXISTS (SELECT 1 FROM ")
                            .push(guard)
                            .push(")");
                    }
                }
                sql.push(on_conflict);
            }
            RowWrite::UpdatePackage { id, set } => {
                sql.push("UPDATE packages SET ")
                    .append(set)
                    .push(" WHERE id = ")
                    .bind(Value::Text(id.to_string()));
                if let Some(guard) = guard {
                    sql.push(" AND EXISTS (SELECT 1 FROM ")
                        .push(guard)
                        .push(")");
                }
            }
        }
    }
}

/// What a change's event carries.
pub(super) enum Subject {
    /// The package with this id, as the Orlo face shows it.
    Package(PackageId),
    /// The release.
    Release,
}

/// A change worked out in memory, ready to write.
pub(super) struct Change {
    /// The release as the change leaves it.
    pub release: Release,
    /// `, column = value` assignments of the release's row beyond its summary (start and stop
    /// times).
    pub assignments: Option<Sql>,
    /// The related rows it writes.
    pub rows: Vec<RowWrite>,
    pub kind: &'static str,
    pub subject: Subject,
    /// Whether the release goes to its callback.
    pub callback: bool,
}

impl Store {
    /// Runs a change of release `id`: `plan` works it out from the release as read (it may
    /// look things up on the connection, for its errors), then it is written as the module
    /// documentation says. On PostgreSQL `plan` runs again after a lost race, on a fresh read.
    pub(super) fn change_release(
        &self,
        id: ReleaseId,
        plan: impl Fn(&mut AnyConnection, Read) -> StorageResult<Change>,
    ) -> StorageResult<()> {
        let actor = self.actor();
        if self.backend() == Backend::Sqlite {
            return self.write(|conn| {
                let read = Read::of(conn, id)?;
                let revision = read.revision;
                let change = plan(conn, read)?;
                write_in_transaction(conn, &change, revision, actor)
            });
        }
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let mut conn = self.conn()?;
            let read = Read::of(&mut conn, id)?;
            let revision = read.revision;
            let change = plan(&mut conn, read)?;
            if write_one_statement(&mut conn, &change, revision, actor)? {
                return Ok(());
            }
        }
        self.write(|conn| {
            lock_row(conn, id)?;
            let read = Read::of(conn, id)?;
            let revision = read.revision;
            let change = plan(conn, read)?;
            write_in_transaction(conn, &change, revision, actor)
        })
    }
}

/// Locks release `id`'s row until the transaction ends (PostgreSQL), so no other change of it
/// can commit between this one's read and its write.
fn lock_row(conn: &mut AnyConnection, id: ReleaseId) -> StorageResult<()> {
    let mut sql = Sql::new(Backend::of(conn));
    sql.push("SELECT id FROM releases WHERE id = ")
        .bind(Value::Text(id.to_string()))
        .push(" FOR UPDATE");
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[allow(dead_code)]
        id: String,
    }
    match sql.into_key_lookup().load::<Found>(conn)?.len() {
        0 => Err(StorageError::ReleaseNotFound),
        _ => Ok(()),
    }
}

/// The event a change appends: its package as the Orlo face shows it, or the release.
fn event(change: &Change, actor: Option<&str>) -> StorageResult<Pending> {
    let tags = release_tags(&change.release);
    match change.subject {
        Subject::Package(id) => {
            let package = change
                .release
                .packages
                .iter()
                .find(|p| p.id == id)
                .ok_or(StorageError::PackageNotFound)?;
            Pending::new(change.kind, actor, package, tags)
        }
        Subject::Release => Pending::new(change.kind, actor, &change.release, tags),
    }
}

/// Appends `(…), (…)`, each row's values in parentheses.
fn push_tuples(sql: &mut Sql, rows: &[Sql]) {
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(").append(row).push(")");
    }
}

/// `UPDATE releases SET revision = revision + 1, status = …, has_rollback = …<assignments>
/// WHERE id = … AND revision = <read>`.
fn release_update(backend: Backend, change: &Change, revision: i64) -> Sql {
    let summary = Summary::of(&change.release);
    let mut sql = Sql::new(backend);
    sql.push("UPDATE releases SET revision = revision + 1, status = ")
        .bind(Value::OptText(
            summary.status.map(|s| s.as_str().to_owned()),
        ))
        .push(", has_rollback = ")
        .bind(Value::Bool(summary.has_rollback));
    if let Some(assignments) = &change.assignments {
        sql.append(assignments);
    }
    sql.push(" WHERE id = ")
        .bind(Value::Text(change.release.id.to_string()))
        .push(" AND revision = ")
        .bind(Value::BigInt(revision));
    sql
}

/// The change's statements one after another, inside a transaction: SQLite's (on its one
/// writer), or PostgreSQL's with the release's row locked.
fn write_in_transaction(
    conn: &mut AnyConnection,
    change: &Change,
    revision: i64,
    actor: Option<&str>,
) -> StorageResult<()> {
    let backend = Backend::of(conn);
    if release_update(backend, change, revision)
        .into_key_lookup()
        .execute(conn)?
        != 1
    {
        // Cannot happen while writers are serialised (SQLite's writer, the row lock).
        return Err(StorageError::Conflict(format!(
            "release {} changed while it was being updated",
            change.release.id
        )));
    }
    for write in &change.rows {
        let mut sql = Sql::new(backend);
        write.push(&mut sql, None);
        sql.into_key_lookup().execute(conn)?;
    }
    if change.callback {
        crate::callbacks::queue(
            conn,
            change.kind,
            &change.release,
            OffsetDateTime::now_utc(),
        )?;
    }
    crate::events::push(event(change, actor)?)
}

/// PostgreSQL: the whole change as one statement. Whether it applied (false: the release's
/// revision had moved on, and nothing was written).
fn write_one_statement(
    conn: &mut AnyConnection,
    change: &Change,
    revision: i64,
    actor: Option<&str>,
) -> StorageResult<bool> {
    #[derive(QueryableByName)]
    struct Outcome {
        #[diesel(sql_type = BigInt)]
        applied: i64,
        #[diesel(sql_type = Nullable<BigInt>)]
        callback: Option<i64>,
    }
    let now = OffsetDateTime::now_utc();
    let mut sql = Sql::new(Backend::Postgres);
    sql.push("WITH r AS (")
        .append(&release_update(Backend::Postgres, change, revision))
        .push(" RETURNING id), ");
    // Each related write runs only if `r` updated the release (the guard held).
    for (n, write) in change.rows.iter().enumerate() {
        sql.push(&format!("w{n} AS ("));
        write.push(&mut sql, Some("r"));
        sql.push("), ");
    }
    let queued = if change.callback {
        crate::callbacks::push_queue_ctes(&mut sql, change.kind, &change.release, now, "r")?;
        "(SELECT max(webhook_id) FROM queued)"
    } else {
        "NULL::bigint"
    };
    push_event_ctes(&mut sql, &event(change, actor)?, Some("r"));
    sql.push(" SELECT (SELECT count(*) FROM r) AS applied, ")
        .push(queued)
        .push(" AS callback");
    let outcome: Outcome = sql.into_key_lookup().get_result(conn)?;
    if let Some(hook) = outcome.callback {
        // Committed (the statement's own transaction): unpark again, see `callbacks`.
        crate::callbacks::unpark_after_commit(conn, hook);
    }
    Ok(outcome.applied == 1)
}
