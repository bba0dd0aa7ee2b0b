//! Release callbacks: the URL a release was recorded with gets the release (as the Orlo face
//! shows it) whenever its status changes. They ride on the webhook machinery rather than a
//! delivery system of their own: each release with a callback has a hidden subscription row
//! (`webhooks.release_id` set, never listed or fanned out), and each status change queues a
//! delivery on it in the same transaction as the change, so a callback is as durable, retried
//! and singly-claimed as any webhook message.
//!
//! An idle callback row is *parked*: its lease runs until far in the future, so the worker's
//! claims never visit the thousands of finished releases that once had a callback. Queuing a
//! callback unparks it (unless an instance holds it, which recomputes the lease on release);
//! releasing it parks it again until its next pending retry, if any.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use shiplog_domain::{NewRelease, Release};
use time::{Duration, OffsetDateTime};

use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::ledger::to_db;
use crate::sql::{Sql, Value};
use crate::webhooks::insert_delivery;

/// How far ahead a parked callback row's lease runs.
const PARKED_FOR: Duration = Duration::days(365 * 100);

#[derive(QueryableByName)]
struct SecretRow {
    #[diesel(sql_type = Text)]
    secret: String,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// When a parked row's lease ends, seen from `now`.
pub(crate) fn parked(now: OffsetDateTime) -> OffsetDateTime {
    now + PARKED_FOR
}

/// The server-wide callback signing secret, made (`whsec_` + base64 of 32 random bytes) the
/// first time it is needed. Two instances making it at once agree: the second insert does
/// nothing and both read the one row.
fn secret(conn: &mut AnyConnection) -> StorageResult<String> {
    // Kept prepared: read by every release recorded with a callback.
    let read = |conn: &mut AnyConnection| {
        let mut sql = Sql::new(Backend::of(conn));
        sql.push("SELECT secret FROM callback_secret WHERE id = 1");
        sql.into_key_lookup().load::<SecretRow>(conn)
    };
    if let Some(row) = read(conn)?.into_iter().next() {
        return Ok(row.secret);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StorageError::Corrupt(format!("no randomness for a secret: {e}")))?;
    let fresh = format!("whsec_{}", STANDARD.encode(bytes));
    let mut insert = Sql::new(Backend::of(conn));
    insert
        .push("INSERT INTO callback_secret (id, secret) VALUES (1, ")
        .bind(Value::Text(fresh))
        .push(") ON CONFLICT (id) DO NOTHING");
    insert.into_query().execute(conn)?;
    let row = read(conn)?
        .into_iter()
        .next()
        .ok_or_else(|| StorageError::Corrupt("the callback secret was not kept".to_owned()))?;
    Ok(row.secret)
}

/// Makes the hidden, parked subscription row of every release in `batch` that has a callback.
pub(crate) fn register(
    conn: &mut AnyConnection,
    batch: &[NewRelease],
    now: OffsetDateTime,
) -> StorageResult<()> {
    let with_callback: Vec<(&NewRelease, &str)> = batch
        .iter()
        .filter_map(|r| r.callback.as_deref().map(|url| (r, url)))
        .collect();
    if with_callback.is_empty() {
        return Ok(());
    }
    let secret = secret(conn)?;
    for (release, url) in with_callback {
        let mut sql = Sql::new(Backend::of(conn));
        sql.push(
            "INSERT INTO webhooks (url, events, filters, description, secret, enabled, \
             event_cursor, lease_until, created_by, created_at, release_id) VALUES (",
        )
        .bind(Value::Text(url.to_owned()))
        .push(", '[]', '{}', ")
        .bind(Value::Text(format!("callback of release {}", release.id)))
        .push(", ")
        .bind(Value::Text(secret.clone()))
        .push(", ")
        .bind(Value::Bool(true))
        .push(", 0, ")
        .bind(Value::timestamp(to_db(parked(now))))
        .push(", ")
        .bind(Value::Text(
            release
                .recorded_by
                .clone()
                .unwrap_or_else(|| release.user.clone()),
        ))
        .push(", ")
        .bind(Value::timestamp(to_db(now)))
        .push(", ")
        .bind(Value::Text(release.id.to_string()))
        .push(")");
        sql.into_key_lookup().execute(conn)?;
    }
    Ok(())
}

/// Queues the release (as it is now) for its callback, if it has one that is still enabled,
/// and unparks the callback row. `kind` names the change (`release.started`, …) in the
/// delivery records.
pub(crate) fn queue(
    conn: &mut AnyConnection,
    kind: &str,
    release: &Release,
    now: OffsetDateTime,
) -> StorageResult<()> {
    let backend = Backend::of(conn);
    let mut find = Sql::new(backend);
    find.push("SELECT id FROM webhooks WHERE enabled AND release_id = ")
        .bind(Value::Text(release.id.to_string()));
    let Some(hook) = find
        .into_key_lookup()
        .load::<IdRow>(conn)?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let payload =
        serde_json::to_string(release).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let message_id = format!("msg_cb_{}", uuid::Uuid::new_v4().simple());
    insert_delivery(conn, hook.id, None, &message_id, kind, &payload, now)?;
    // An instance holding the row sees the delivery when it releases it.
    let mut unpark = Sql::new(backend);
    unpark
        .push("UPDATE webhooks SET lease_until = ")
        .bind(Value::timestamp(to_db(now)))
        .push(" WHERE id = ")
        .bind(Value::BigInt(hook.id))
        .push(" AND lease_owner IS NULL AND lease_until > ")
        .bind(Value::timestamp(to_db(now)));
    unpark.into_key_lookup().execute(conn)?;
    if backend == Backend::Postgres {
        QUEUED.with(|queued| queued.borrow_mut().push(hook.id));
    }
    Ok(())
}

/// Continues a PostgreSQL statement of data-modifying CTEs (see `ledger::change`) with those
/// that queue `release` for its callback, as [`queue`] does, if the rows of CTE `guard` are
/// there: `hook` (the release's enabled callback row, if any), `queued` (the delivery, returning
/// its `webhook_id`) and `unparked`. The caller unparks the row again once the statement has
/// committed ([`unpark_after_commit`]).
pub(crate) fn push_queue_ctes(
    sql: &mut Sql,
    kind: &str,
    release: &Release,
    now: OffsetDateTime,
    guard: &str,
) -> StorageResult<()> {
    let payload =
        serde_json::to_string(release).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let message_id = format!("msg_cb_{}", uuid::Uuid::new_v4().simple());
    sql.push("hook AS (SELECT w.id FROM webhooks w WHERE w.enabled AND w.release_id = ")
        .bind(Value::Text(release.id.to_string()))
        .push(" AND EXISTS (SELECT 1 FROM ")
        .push(guard)
        .push(")), queued AS (INSERT INTO webhook_deliveries (")
        .push(crate::webhooks::DELIVERY_COLUMNS)
        .push(") SELECT hook.id, NULL, ")
        .bind(Value::Text(message_id))
        .push(", ")
        .bind(Value::Text(kind.to_owned()))
        .push(", ")
        .bind(Value::Text(payload))
        .push(", 'pending', 0, ")
        .bind(Value::timestamp(to_db(now)))
        .push(", ")
        .bind(Value::timestamp(to_db(now)))
        .push(" FROM hook RETURNING webhook_id), unparked AS (UPDATE webhooks SET lease_until = ")
        .bind(Value::timestamp(to_db(now)))
        .push(" WHERE id IN (SELECT webhook_id FROM queued) AND lease_owner IS NULL AND lease_until > ")
        .bind(Value::timestamp(to_db(now)))
        .push("), ");
    Ok(())
}

thread_local! {
    /// The callback rows the write transaction running on this thread queued deliveries on
    /// (PostgreSQL only; see [`unpark_committed`]).
    static QUEUED: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Starts collecting the callback rows a write transaction queues on, and returns those of a
/// transaction this thread was already running (a store's write inside another's), for
/// [`end`] to put back.
pub(crate) fn begin() -> Vec<i64> {
    QUEUED.with(|queued| std::mem::take(&mut *queued.borrow_mut()))
}

/// Ends collecting for a transaction (unparking its rows first when it committed, see
/// [`unpark_committed`]) and goes back to the enclosing one's.
pub(crate) fn end(enclosing: Vec<i64>) {
    QUEUED.with(|queued| *queued.borrow_mut() = enclosing);
}

/// After a PostgreSQL write committed: unparks again the callback rows it queued deliveries
/// on. The unpark inside the transaction does nothing while a worker holds the row, and the
/// worker parks the row on release when it sees no pending delivery; a release that ran
/// between the write's unpark and its commit could not see the new delivery, and parked the
/// row for good. Once the delivery is committed, either the worker still holds the row (and
/// its release will see the delivery) or the row is released and this unparks it. Best
/// effort: a failure is logged, and the next change of the release unparks it again.
pub(crate) fn unpark_committed(conn: &mut AnyConnection) {
    let hooks = QUEUED.with(|queued| std::mem::take(&mut *queued.borrow_mut()));
    for hook in hooks {
        unpark_after_commit(conn, hook);
    }
}

/// Unparks callback row `hook` again after the write that queued a delivery on it committed
/// (see [`unpark_committed`]). Best effort: a failure is logged.
pub(crate) fn unpark_after_commit(conn: &mut AnyConnection, hook: i64) {
    let now = OffsetDateTime::now_utc();
    let mut unpark = Sql::new(Backend::of(conn));
    unpark
        .push("UPDATE webhooks SET lease_until = ")
        .bind(Value::timestamp(to_db(now)))
        .push(" WHERE id = ")
        .bind(Value::BigInt(hook))
        .push(" AND lease_owner IS NULL AND lease_until > ")
        .bind(Value::timestamp(to_db(now)));
    if let Err(err) = unpark.into_key_lookup().execute(conn) {
        log::warn!("unparking callback {hook} after its commit failed: {err}");
    }
}

impl Store {
    /// The secret every release callback is signed with (made now if it was never needed).
    pub fn callback_secret(&self) -> StorageResult<String> {
        self.write(secret)
    }
}

#[cfg(test)]
mod tests {
    use shiplog_domain::NewRelease;
    use time::{Duration, OffsetDateTime};

    use crate::testing::TestDb;

    /// A worker releases the callback row while a write that queued a delivery on it has not
    /// committed yet: the release cannot see the delivery and parks the row, and the write's
    /// own unpark did nothing while the row was held. The unpark after the commit must make
    /// the row claimable again, or the delivery would wait for the release's next change.
    #[test]
    fn a_delivery_queued_while_a_worker_releases_the_row_is_not_parked_away() {
        for db in TestDb::all() {
            let store = db.store();
            let worker = db.store();
            let mut release =
                NewRelease::new("carol", vec!["site".into()], OffsetDateTime::now_utc())
                    .expect("release");
            release.callback = Some("http://127.0.0.1:9/callback".to_owned());
            let id = store.insert_release(&release).expect("insert");
            // A first change unparks the row, and the worker takes it.
            store.start_release(id).expect("start");
            let claimed = worker
                .claim_webhook("worker", OffsetDateTime::now_utc(), Duration::minutes(5))
                .expect("claim")
                .expect("the callback row is claimable");
            assert!(claimed.callback);
            // The worker delivers that change, so no delivery is pending when it releases.
            for due in worker
                .due_deliveries(claimed.id, OffsetDateTime::now_utc(), 10)
                .expect("due")
            {
                let outcome = crate::webhooks::AttemptOutcome {
                    at: OffsetDateTime::now_utc(),
                    status: Some(204),
                    duration_ms: 1,
                    error: None,
                    delivered: true,
                    next_attempt_at: None,
                    disable: None,
                };
                worker
                    .record_attempt(claimed.id, due.id, "worker", &outcome)
                    .expect("attempt");
            }
            // The next change queues its delivery; the worker releases the row before that
            // write commits (on SQLite the release waits for the write lock instead).
            store
                .write(|conn| {
                    let current = crate::ledger::load_release(conn, id)?;
                    super::queue(
                        conn,
                        "release.finished",
                        &current,
                        OffsetDateTime::now_utc(),
                    )?;
                    if db.backend() == crate::Backend::Postgres {
                        worker.release_webhook(claimed.id, "worker")?;
                    }
                    Ok(())
                })
                .expect("write");
            if db.backend() == crate::Backend::Sqlite {
                worker
                    .release_webhook(claimed.id, "worker")
                    .expect("release");
            }
            let again = worker
                .claim_webhook("worker", OffsetDateTime::now_utc(), Duration::minutes(5))
                .expect("claim");
            assert_eq!(
                again.map(|c| c.id),
                Some(claimed.id),
                "{:?}: the row with a pending delivery is claimable",
                db.backend()
            );
        }
    }
}
