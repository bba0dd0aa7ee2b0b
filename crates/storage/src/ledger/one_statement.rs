//! A new release on PostgreSQL as one statement: its row, its platforms, notes, metadata and
//! packages, and its `release.created` event, each table's rows in a data-modifying CTE.
//!
//! Written as separate statements inside `BEGIN`/`COMMIT`, a release with one platform cost five
//! round trips, and each round trip is a wake-up of the server's backend and of shiplog's thread.
//! One statement is atomic by itself (its implicit transaction commits when it ends), so this
//! is one round trip, with the same all-or-nothing outcome. Foreign keys still hold: their checks
//! run at the end of the statement, when the release row is in.
//!
//! The statement's text depends only on how many rows of each kind the release has, so the
//! common shapes stay prepared (see `sql::CACHED_TEXTS`).

use diesel::RunQueryDsl;
use shiplog_domain::NewRelease;
use time::OffsetDateTime;

use super::bulk::{created_event, BatchRows};
use super::rows::NewPackageRow;
use crate::connection::{AnyConnection, Backend};
use crate::error::StorageResult;
use crate::events::{push_event_ctes, Pending};
use crate::sql::{Sql, Value};

/// Records `release` in one statement on a PostgreSQL connection outside any transaction.
/// A release with a callback is not for this path: its delivery row is unparked after the
/// commit (see `callbacks`), which needs the explicit transaction.
pub(crate) fn insert_release_postgres(
    conn: &mut AnyConnection,
    release: &NewRelease,
    now: OffsetDateTime,
) -> StorageResult<()> {
    debug_assert!(release.callback.is_none());
    let ids = [release.id.to_string()];
    let rows = BatchRows::of(std::slice::from_ref(release), &ids, now)?;
    let mut sql = Sql::new(Backend::Postgres);

    sql.push(
        "WITH r AS (INSERT INTO releases (id, user_name, team, refs, stime, ftime, \
         duration_secs, status, has_rollback, recorded_by, callback, revision) VALUES ",
    );
    tuples(&mut sql, &rows.releases, |sql, row| {
        sql.bind_row([
            Value::Text(row.id.clone()),
            Value::Text(row.user_name.to_owned()),
            Value::OptText(row.team.map(str::to_owned)),
            Value::Text(row.refs.clone()),
            Value::Timestamp(row.stime),
            Value::OptTimestamp(row.ftime),
            Value::OptBigInt(row.duration_secs),
            Value::OptText(row.status.map(str::to_owned)),
            Value::Bool(row.has_rollback),
            Value::OptText(row.recorded_by.map(str::to_owned)),
            Value::OptText(row.callback.map(str::to_owned)),
            Value::BigInt(row.revision),
        ]);
    });
    sql.push("), ");

    if !rows.platforms.is_empty() {
        sql.push("pl AS (INSERT INTO release_platforms (release_id, platform, ordinal) VALUES ");
        tuples(&mut sql, &rows.platforms, |sql, row| {
            sql.bind_row([
                Value::Text(row.release_id.to_owned()),
                Value::Text(row.platform.to_owned()),
                Value::Integer(row.ordinal),
            ]);
        });
        sql.push("), ");
    }
    if !rows.notes.is_empty() {
        sql.push(
            "n AS (INSERT INTO release_notes (id, release_id, created_at, ordinal, body) VALUES ",
        );
        tuples(&mut sql, &rows.notes, |sql, row| {
            sql.bind_row([
                Value::Text(row.id.clone()),
                Value::Text(row.release_id.to_owned()),
                Value::Timestamp(row.created_at),
                Value::Integer(row.ordinal),
                Value::Text(row.body.to_owned()),
            ]);
        });
        sql.push("), ");
    }
    if !rows.metadata.is_empty() {
        sql.push("m AS (INSERT INTO release_metadata (release_id, key, value) VALUES ");
        tuples(&mut sql, &rows.metadata, |sql, row| {
            sql.bind_row([
                Value::Text(row.release_id.to_owned()),
                Value::Text(row.key.to_owned()),
                Value::Text(row.value.to_owned()),
            ]);
        });
        sql.push("), ");
    }
    if !rows.packages.is_empty() {
        sql.push("pk AS (");
        push_package_insert(&mut sql, &rows.packages);
        sql.push("), ");
    }

    let (tags, shown) = created_event(release);
    let event = Pending::new(
        "release.created",
        release.recorded_by.as_deref(),
        &shown,
        tags,
    )?;
    push_event_ctes(&mut sql, &event, None);
    sql.push(" SELECT id FROM e");
    sql.into_key_lookup().execute(conn)?;
    Ok(())
}

/// The table and columns a package row is inserted with, in the order [`push_package_values`]
/// binds them.
pub(super) const PACKAGES_INTO: &str = "packages (id, release_id, created_at, ordinal, name, \
     version, status, rollback, diff_url, stime, ftime, duration_secs)";

/// Appends `INSERT INTO packages (…) VALUES (…), …`, one tuple per row.
fn push_package_insert(sql: &mut Sql, rows: &[NewPackageRow<'_>]) {
    sql.push("INSERT INTO ")
        .push(PACKAGES_INTO)
        .push(" VALUES ");
    tuples(sql, rows, |sql, row| push_package_values(sql, row));
}

/// Binds a package row's values, separated by commas, in [`PACKAGES_INTO`]'s order: for a
/// new release's packages here, and a package added to a release (`change`).
pub(super) fn push_package_values(sql: &mut Sql, row: &NewPackageRow<'_>) {
    sql.bind_row([
        Value::Text(row.id.clone()),
        Value::Text(row.release_id.to_owned()),
        Value::Timestamp(row.created_at),
        Value::Integer(row.ordinal),
        Value::Text(row.name.to_owned()),
        Value::Text(row.version.to_owned()),
        Value::Text(row.status.to_owned()),
        Value::Bool(row.rollback),
        Value::OptText(row.diff_url.map(str::to_owned)),
        Value::OptTimestamp(row.stime),
        Value::OptTimestamp(row.ftime),
        Value::OptBigInt(row.duration_secs),
    ]);
}

/// Appends `(…), (…)`, one parenthesised tuple per row, written by `each`.
fn tuples<T>(sql: &mut Sql, rows: &[T], each: impl Fn(&mut Sql, &T)) {
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(");
        each(sql, row);
        sql.push(")");
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::insert_release_postgres;
    use crate::connection::Backend;
    use crate::ledger::bulk::tests::{log_statements, release};
    use crate::ledger::load_release;
    use crate::testing::TestDb;

    /// On PostgreSQL a new release is one statement (no `BEGIN`, no `COMMIT`), kept prepared
    /// from the first write of its shape on, and it reads back as written with its event.
    #[test]
    fn a_new_release_is_one_prepared_statement_on_postgresql() {
        for db in TestDb::all() {
            if db.backend() != Backend::Postgres {
                continue;
            }
            let store = db.store();
            let mut conn = store.conn().expect("connection");
            let log = log_statements(&mut conn);
            let (first, (new, second)) = {
                let mut write = |n| {
                    let new = release(n);
                    insert_release_postgres(&mut conn, &new, OffsetDateTime::now_utc())
                        .expect("write");
                    (new, std::mem::take(&mut *log.lock().expect("log")))
                };
                (write(1).1, write(2))
            };
            assert_eq!(first.iter().filter(|(cached, _)| *cached).count(), 1);
            assert_eq!(second.len(), 1, "{second:#?}");
            assert!(!second[0].0 && second[0].1.starts_with("WITH r AS (INSERT INTO releases"));

            let got = load_release(&mut conn, new.id).expect("read back");
            assert_eq!(got.platforms, new.platforms);
            assert_eq!(got.references, new.references);
            assert_eq!(got.notes, new.notes);
            assert_eq!(got.metadata, new.metadata);
            assert_eq!(got.packages.len(), 1);
            assert_eq!(got.packages[0].id, new.packages[0].id);
            assert_eq!(got.packages[0].version, "2");
            let events = store
                .list_events(&crate::EventFilter::default(), 10)
                .expect("events");
            assert_eq!(events.len(), 2);
            assert_eq!(events[1].kind, "release.created");
            assert_eq!(events[1].data["id"], new.id.to_string());
            let tagged = crate::EventFilter {
                platform: Some("site2".to_owned()),
                team: Some("team".to_owned()),
                ..crate::EventFilter::default()
            };
            assert_eq!(store.list_events(&tagged, 10).expect("tagged").len(), 1);
        }
    }
}
