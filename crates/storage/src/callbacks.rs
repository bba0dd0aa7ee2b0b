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
    let found: Vec<SecretRow> =
        diesel::sql_query("SELECT secret FROM callback_secret WHERE id = 1").load(conn)?;
    if let Some(row) = found.into_iter().next() {
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
    let row: SecretRow =
        diesel::sql_query("SELECT secret FROM callback_secret WHERE id = 1").get_result(conn)?;
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
        .bind(Value::Timestamp(to_db(parked(now))))
        .push(", ")
        .bind(Value::Text(
            release
                .recorded_by
                .clone()
                .unwrap_or_else(|| release.user.clone()),
        ))
        .push(", ")
        .bind(Value::Timestamp(to_db(now)))
        .push(", ")
        .bind(Value::Text(release.id.to_string()))
        .push(")");
        sql.into_query().execute(conn)?;
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
    let Some(hook) = find.into_query().load::<IdRow>(conn)?.into_iter().next() else {
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
        .bind(Value::Timestamp(to_db(now)))
        .push(" WHERE id = ")
        .bind(Value::BigInt(hook.id))
        .push(" AND lease_owner IS NULL AND lease_until > ")
        .bind(Value::Timestamp(to_db(now)));
    unpark.into_query().execute(conn)?;
    Ok(())
}

impl Store {
    /// The secret every release callback is signed with (made now if it was never needed).
    pub fn callback_secret(&self) -> StorageResult<String> {
        self.write(secret)
    }
}
