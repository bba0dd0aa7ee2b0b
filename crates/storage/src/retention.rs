//! Retention of the outbox: deleting events and finished webhook deliveries (with their
//! attempts) older than a cutoff, a batch per short transaction, never an event some webhook
//! subscription has not yet turned into deliveries.
//!
//! Both walks go oldest first by id, which is the primary key's order, so a batch reads a
//! bounded slice of an index and stops at the first row that is too new: ids are handed out in
//! commit order and stamped at commit, so id order is time order. On PostgreSQL each batch first
//! takes a transaction-scoped advisory lock with `pg_try_advisory_xact_lock`; an instance that
//! does not get it stops, so two instances never prune at once and no lock outlives a batch.

use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
use diesel::{QueryableByName, RunQueryDsl};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::connection::{AnyConnection, Backend, Store};
use crate::error::StorageResult;
use crate::ledger::to_db;
use crate::sql::{Sql, Value};
use crate::stored_time::StoredTime;

/// The PostgreSQL advisory lock key pruning instances take turns on (any constant unused
/// elsewhere).
pub const PRUNE_LOCK: i64 = 0x0053_4849_5052_554e;

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub deliveries: u64,
    /// Another instance was pruning (PostgreSQL), so this one stopped early.
    pub busy: bool,
}

/// The outcome of one batch.
enum Batch {
    /// Deleted `count`; `next` is where the next batch starts, `None` when the walk is done.
    Done { count: u64, next: Option<i64> },
    /// Another instance holds the prune lock.
    Busy,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Bound {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Aged {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    at: PrimitiveDateTime,
}

#[derive(QueryableByName)]
struct AgedDelivery {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    at: PrimitiveDateTime,
}

/// Takes the prune lock for this transaction, if no other instance holds it. SQLite has one
/// writer at a time anyway (the transaction is `BEGIN IMMEDIATE`).
fn lock(conn: &mut AnyConnection) -> StorageResult<bool> {
    if Backend::of(conn) == Backend::Sqlite {
        return Ok(true);
    }
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<BigInt, _>(PRUNE_LOCK)
        .get_result(conn)?;
    Ok(row.locked)
}

/// Deletes up to `batch` of the oldest events, stopping at the first one written at or after
/// `cutoff` or past the cursor of any webhook subscription (enabled or not: a disabled one
/// still gets its events when it is enabled again). Release callback rows have no cursor: their
/// deliveries are queued with the change, not fanned out from events.
fn prune_events(
    conn: &mut AnyConnection,
    cutoff: PrimitiveDateTime,
    batch: i64,
) -> StorageResult<Batch> {
    if !lock(conn)? {
        return Ok(Batch::Busy);
    }
    let backend = Backend::of(conn);
    let bound: Bound = diesel::sql_query(format!(
        "SELECT COALESCE(MIN(event_cursor), {}) AS id FROM webhooks WHERE release_id IS NULL",
        i64::MAX
    ))
    .get_result(conn)?;
    let mut oldest = Sql::new(backend);
    oldest
        .push("SELECT id, occurred_at AS at FROM events ORDER BY id LIMIT ")
        .bind(Value::BigInt(batch));
    let rows: Vec<Aged> = oldest.into_query().load(conn)?;
    let old: Vec<&Aged> = rows
        .iter()
        .take_while(|row| row.at < cutoff && row.id <= bound.id)
        .collect();
    let Some(last) = old.last().map(|row| row.id) else {
        return Ok(Batch::Done {
            count: 0,
            next: None,
        });
    };
    // Every event up to `last` is in `old` (they are the oldest), so a range deletes them.
    for statement in [
        "DELETE FROM event_tags WHERE event_id <= ",
        "DELETE FROM events WHERE id <= ",
    ] {
        let mut delete = Sql::new(backend);
        delete.push(statement).bind(Value::BigInt(last));
        delete.into_query().execute(conn)?;
    }
    let whole = old.len() == rows.len() && i64::try_from(rows.len()) == Ok(batch);
    Ok(Batch::Done {
        count: old.len() as u64,
        next: whole.then_some(last),
    })
}

/// Deletes the finished (delivered or failed) deliveries among the next `batch` after `after`
/// that were queued before `cutoff`, with their attempts. Pending ones stay, however old.
fn prune_deliveries(
    conn: &mut AnyConnection,
    cutoff: PrimitiveDateTime,
    after: i64,
    batch: i64,
) -> StorageResult<Batch> {
    if !lock(conn)? {
        return Ok(Batch::Busy);
    }
    let backend = Backend::of(conn);
    let mut next = Sql::new(backend);
    next.push("SELECT id, state, created_at AS at FROM webhook_deliveries WHERE id > ")
        .bind(Value::BigInt(after))
        .push(" ORDER BY id LIMIT ")
        .bind(Value::BigInt(batch));
    let rows: Vec<AgedDelivery> = next.into_query().load(conn)?;
    let old: Vec<&AgedDelivery> = rows.iter().take_while(|row| row.at < cutoff).collect();
    let Some(last) = old.last().map(|row| row.id) else {
        return Ok(Batch::Done {
            count: 0,
            next: None,
        });
    };
    let done: Vec<i64> = old
        .iter()
        .filter(|row| row.state != "pending")
        .map(|row| row.id)
        .collect();
    if !done.is_empty() {
        for statement in [
            "DELETE FROM webhook_attempts WHERE delivery_id IN (",
            "DELETE FROM webhook_deliveries WHERE id IN (",
        ] {
            let mut delete = Sql::new(backend);
            delete.push(statement);
            for (i, id) in done.iter().enumerate() {
                if i > 0 {
                    delete.push(", ");
                }
                delete.bind(Value::BigInt(*id));
            }
            delete.push(")");
            delete.into_query().execute(conn)?;
        }
    }
    let whole = old.len() == rows.len() && i64::try_from(rows.len()) == Ok(batch);
    Ok(Batch::Done {
        count: done.len() as u64,
        next: whole.then_some(last),
    })
}

impl Store {
    /// Deletes what the outbox no longer needs to keep: events written before `cutoff` that
    /// every webhook subscription has already turned into deliveries, and delivered or failed
    /// deliveries queued before `cutoff` with their attempts. Works `batch` rows per
    /// transaction, so it never holds a lock for long; stops early (`busy`) when another
    /// instance is pruning.
    pub fn prune_outbox(&self, cutoff: OffsetDateTime, batch: i64) -> StorageResult<Pruned> {
        let cutoff = to_db(cutoff);
        let batch = batch.max(1);
        let mut pruned = Pruned::default();
        loop {
            match self.write(|conn| prune_events(conn, cutoff, batch))? {
                Batch::Busy => {
                    pruned.busy = true;
                    return Ok(pruned);
                }
                Batch::Done { count, next } => {
                    pruned.events += count;
                    if next.is_none() {
                        break;
                    }
                }
            }
        }
        let mut after = 0;
        loop {
            match self.write(|conn| prune_deliveries(conn, cutoff, after, batch))? {
                Batch::Busy => {
                    pruned.busy = true;
                    return Ok(pruned);
                }
                Batch::Done { count, next } => {
                    pruned.deliveries += count;
                    match next {
                        Some(next) => after = next,
                        None => return Ok(pruned),
                    }
                }
            }
        }
    }
}
