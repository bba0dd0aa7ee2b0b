//! The outbox: events appended by the write transaction that makes the change (so a committed
//! change always has its event and a rolled-back one never does), and the feed that reads them
//! back in id order with filters.
//!
//! Writers call [`emit`] anywhere inside `Store::write`; the events wait in a per-thread list
//! and `connection::write_transaction` inserts them just before it commits ([`flush`]). Ids must
//! become visible in increasing order, or a reader holding cursor `after=9` could miss event 9
//! committed after event 10. SQLite has one writer, so that holds there by itself. On
//! PostgreSQL writers commit concurrently: the flush takes a transaction-scoped advisory lock in
//! *shared* mode before drawing ids and holds it to its commit, and a reader first takes the
//! same lock *exclusively* for an instant ([`settled_bound`]): that waits for every writer
//! holding ids, and every id drawn up to then belongs to a finished transaction. The reader
//! then reads no further than that id. Writers never wait for each other; a reader waits at
//! most for the commits already under way (and holds back new ones for as long as it takes to
//! read the sequence). Holding the lock exclusively in the flush, as shiplog first did, made
//! every event-writing commit wait for the one before it, fsync included: about 1,000 writes a
//! second on the bench machine.

use std::cell::RefCell;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel::QueryableByName;
use serde::Serialize;
use serde_json::Value as Json;
use shiplog_domain::event::TypePattern;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::connection::{on_backend, AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::ledger::{from_db, to_db};
use crate::schema::{event_tags, events, sqlite_sequence};
use crate::sql::{Sql, Value};
use crate::stored_time::StoredTime;

/// The advisory lock key that orders event commits on PostgreSQL (any constant unused elsewhere).
const EVENTS_LOCK: i64 = 0x0053_4849_5045_5654;

/// Rows per multi-row INSERT of events or tags on PostgreSQL: few statements (round trips), far
/// below its bound-parameter limit.
const INSERT_CHUNK: usize = 200;

/// Rows per multi-row INSERT of events or tags on SQLite. Only full chunks go in that way, so
/// the statement's text never changes and it stays prepared; the rest go in one row at a time
/// (prepared too). An import's thousand events and their tags took 26 % of its CPU as one-row
/// statements.
const SQLITE_CHUNK: usize = 32;

/// How many rows a multi-row INSERT of events or tags takes on `backend`.
fn chunk_rows(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => SQLITE_CHUNK,
        Backend::Postgres => INSERT_CHUNK,
    }
}

/// Whether a chunk of `len` rows goes in one row at a time: a single row (the usual write's one
/// event, kept prepared), or on SQLite a chunk short of [`SQLITE_CHUNK`], whose multi-row text
/// would be parsed afresh. On PostgreSQL a multi-row statement saves round trips whatever its
/// length.
fn kept_one_by_one(backend: Backend, len: usize) -> bool {
    len == 1 || (backend == Backend::Sqlite && len < SQLITE_CHUNK)
}

/// The largest page of the feed.
pub const MAX_EVENT_LIMIT: i64 = 1000;

/// One stored event, serialized as the feed shows it: `{"id","type","timestamp","actor","data"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: OffsetDateTime,
    pub actor: Option<String>,
    pub data: Json,
}

/// Which events a feed page holds: those after `after`, of the given types (any type when
/// empty), carrying each tag given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub after: i64,
    pub types: Vec<TypePattern>,
    pub product: Option<String>,
    pub channel: Option<String>,
    pub platform: Option<String>,
    pub team: Option<String>,
}

/// RFC 3339 in UTC with microseconds (`2026-12-03T14:00:00.123456Z`).
pub(crate) fn rfc3339<S: serde::Serializer>(
    ts: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!(
        "{}Z",
        shiplog_domain::timestamp::format_micros(*ts)
    ))
}

/// [`rfc3339`] or null.
pub(crate) fn rfc3339_opt<S: serde::Serializer>(
    ts: &Option<OffsetDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => rfc3339(ts, serializer),
        None => serializer.serialize_none(),
    }
}

/// The filterable facts of an event: products, channels, platforms, team.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tags(Vec<(&'static str, String)>);

impl Tags {
    pub fn new() -> Tags {
        Tags::default()
    }

    /// Adds `value` under `name` (one of the four filter names), once.
    pub fn with(mut self, name: &'static str, value: &str) -> Tags {
        if !value.is_empty() && !self.0.iter().any(|(n, v)| *n == name && v == value) {
            self.0.push((name, value.to_owned()));
        }
        self
    }

    pub fn with_opt(self, name: &'static str, value: Option<&str>) -> Tags {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    pub fn with_all<'a>(
        self,
        name: &'static str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Tags {
        values.into_iter().fold(self, |tags, v| tags.with(name, v))
    }
}

/// An event waiting for its transaction to commit.
#[derive(Debug)]
pub(crate) struct Pending {
    kind: &'static str,
    actor: Option<String>,
    data: String,
    tags: Tags,
}

impl Pending {
    /// An event of `kind` by `actor` carrying `data` (the object as its face shows it).
    pub(crate) fn new(
        kind: &'static str,
        actor: Option<&str>,
        data: &impl Serialize,
        tags: Tags,
    ) -> StorageResult<Pending> {
        Ok(Pending {
            kind,
            actor: actor.map(str::to_owned),
            data: serde_json::to_string(data).map_err(|e| StorageError::Corrupt(e.to_string()))?,
            tags,
        })
    }
}

thread_local! {
    /// The events of the write transaction running on this thread (`None`: none is running).
    static PENDING: RefCell<Option<Vec<Pending>>> = const { RefCell::new(None) };
}

/// Starts collecting events for a write transaction on this thread.
pub(crate) fn begin() {
    PENDING.with(|p| *p.borrow_mut() = Some(Vec::new()));
}

/// How many events the running write transaction has collected so far (see [`truncate`]).
pub(crate) fn mark() -> usize {
    PENDING.with(|p| p.borrow().as_ref().map_or(0, Vec::len))
}

/// Drops the events collected after `mark`: a part of the transaction that was rolled back to
/// a savepoint (a dry run) must leave no event behind.
pub(crate) fn truncate(mark: usize) {
    PENDING.with(|p| {
        if let Some(pending) = p.borrow_mut().as_mut() {
            pending.truncate(mark);
        }
    });
}

/// Ends collecting and hands over what was collected.
pub(crate) fn take() -> Vec<Pending> {
    PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default()
}

/// Inserts the events the running write transaction has collected so far, and goes on
/// collecting: for a long write (an import of a hundred thousand releases) whose events would
/// otherwise wait in memory until its commit. SQLite only, where the write lock is held from
/// `BEGIN IMMEDIATE` on, so ids drawn now still follow every earlier commit's and precede every
/// later one's; on PostgreSQL the ids are drawn under a lock held until the commit, and taking
/// it early would stop every other event-writing transaction for the rest of the write, so
/// there the events still wait for the commit. Not for a write that uses [`mark`] and
/// [`truncate`] around this call.
pub(crate) fn flush_so_far(conn: &mut AnyConnection) -> StorageResult<()> {
    if Backend::of(conn) != Backend::Sqlite {
        return Ok(());
    }
    let pending = PENDING.with(|p| p.borrow_mut().as_mut().map(std::mem::take));
    flush(conn, pending.unwrap_or_default())
}

/// Appends an event to the running write transaction. `data` is the object as its face shows
/// it. Outside a write transaction this is a programming error, reported rather than dropped.
pub(crate) fn emit(
    kind: &'static str,
    actor: Option<&str>,
    data: &impl Serialize,
    tags: Tags,
) -> StorageResult<()> {
    push(Pending::new(kind, actor, data, tags)?)
}

/// Appends an event already made to the running write transaction (see [`emit`]).
pub(crate) fn push(event: Pending) -> StorageResult<()> {
    PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(pending) => {
            pending.push(event);
            Ok(())
        }
        None => Err(StorageError::Corrupt(format!(
            "event {} emitted outside a write transaction",
            event.kind
        ))),
    })
}

/// The newest event id a cursor may move to: every event at or below it is committed or will
/// never appear (on PostgreSQL see [`settled_bound`]; 0 when there is none).
pub(crate) fn latest_settled(conn: &mut AnyConnection) -> StorageResult<i64> {
    let mut sql = Sql::new(Backend::of(conn));
    sql.push("SELECT COALESCE(MAX(id), 0) AS id FROM events");
    if let Some(bound) = settled_bound(conn)? {
        sql.push(" WHERE id <= ").bind(Value::BigInt(bound));
    }
    Ok(sql.into_query().get_result::<IdRow>(conn)?.id)
}

/// How far a reader may read the feed (see the module documentation): on PostgreSQL the largest
/// id drawn so far, once every transaction that drew one has ended; on SQLite no bound.
fn settled_bound(conn: &mut AnyConnection) -> StorageResult<Option<i64>> {
    if Backend::of(conn) == Backend::Sqlite {
        return Ok(None);
    }
    // A transaction of its own (a savepoint inside a caller's): the exclusive lock is held
    // only while the sequence is read, or until the caller's transaction ends. This relies on
    // the sequence's CACHE being 1 (its default): with values cached per session, a writer
    // could still use an id at or below the bound after the bound was read.
    conn.transaction(|conn| {
        diesel::sql_query(
            "SELECT 0::bigint AS id FROM (SELECT pg_advisory_xact_lock($1)) AS locked",
        )
        .bind::<BigInt, _>(EVENTS_LOCK)
        .get_result::<IdRow>(conn)?;
        let row: IdRow = diesel::sql_query(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS id FROM events_id_seq",
        )
        .get_result(conn)?;
        Ok(Some(row.id))
    })
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Inserts the transaction's events, with increasing ids, just before it commits.
pub(crate) fn flush(conn: &mut AnyConnection, pending: Vec<Pending>) -> StorageResult<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let backend = Backend::of(conn);
    if let (Backend::Postgres, [event]) = (backend, pending.as_slice()) {
        return insert_one_postgres(conn, event);
    }
    let count = i64::try_from(pending.len()).unwrap_or(i64::MAX);
    let mut ids: Vec<i64> = match backend {
        Backend::Postgres => {
            // The lock and the ids in one round trip; the lock is taken before the first id.
            diesel::sql_query(
                "SELECT nextval('events_id_seq') AS id \
                 FROM (SELECT pg_advisory_xact_lock_shared($1)) AS locked, generate_series(1, $2::bigint)",
            )
            .bind::<BigInt, _>(EVENTS_LOCK)
            .bind::<BigInt, _>(count)
            .load::<IdRow>(conn)?
            .into_iter()
            .map(|row| row.id)
            .collect()
        }
        Backend::Sqlite => {
            // The write lock is held (BEGIN IMMEDIATE): continue after the largest id ever given,
            // as AUTOINCREMENT would.
            // A DSL query, kept prepared (the table is SQLite's own, declared in `schema`).
            let last: Option<i64> = on_backend!(conn, c => sqlite_sequence::table
                .filter(sqlite_sequence::name.eq("events"))
                .select(sqlite_sequence::seq)
                .first(c)
                .optional()?);
            let last = last.unwrap_or(0);
            (1..=count).map(|n| last + n).collect()
        }
    };
    ids.sort_unstable();
    let at = to_db(OffsetDateTime::now_utc());
    let rows: Vec<(i64, Pending)> = ids.into_iter().zip(pending).collect();
    for chunk in rows.chunks(chunk_rows(backend)) {
        if kept_one_by_one(backend, chunk.len()) {
            for (id, event) in chunk {
                on_backend!(conn, c => diesel::insert_into(events::table)
                    .values((
                        events::id.eq(*id),
                        events::kind.eq(event.kind),
                        events::occurred_at.eq(at),
                        events::actor.eq(event.actor.as_deref()),
                        events::data.eq(&event.data),
                    ))
                    .execute(c)?);
            }
        } else {
            insert_events_chunk(conn, backend, chunk, at)?;
        }
    }
    let tags: Vec<(i64, &'static str, &str)> = rows
        .iter()
        .flat_map(|(id, event)| event.tags.0.iter().map(|(n, v)| (*id, *n, v.as_str())))
        .collect();
    for chunk in tags.chunks(chunk_rows(backend)) {
        if kept_one_by_one(backend, chunk.len()) {
            for (id, name, value) in chunk {
                on_backend!(conn, c => diesel::insert_into(event_tags::table)
                    .values((
                        event_tags::event_id.eq(*id),
                        event_tags::name.eq(*name),
                        event_tags::value.eq(*value),
                    ))
                    .execute(c)?);
            }
        } else {
            insert_tags_chunk(conn, backend, chunk)?;
        }
    }
    Ok(())
}

/// The usual write's one event on PostgreSQL, in a single statement: the shared lock, the id,
/// the event and its tags (three round trips before). Kept prepared: its text depends only on
/// how many tags the event has.
fn insert_one_postgres(conn: &mut AnyConnection, event: &Pending) -> StorageResult<()> {
    let mut sql = Sql::new(Backend::Postgres);
    sql.push("WITH ");
    push_event_ctes(&mut sql, event, None);
    sql.push(" SELECT id FROM e");
    sql.into_key_lookup().execute(conn)?;
    Ok(())
}

/// Continues a PostgreSQL statement that `sql` has begun with `WITH ` and, if it likes,
/// data-modifying CTEs of its own (each followed by `, `): appends CTEs that take the shared
/// lock, insert `event` (as `e`, returning its id) and insert its tags. The caller ends the
/// statement with its main query, which may read `e`; a data-modifying CTE runs whether or not
/// anything reads it. With the caller's changes that is one statement: outside a transaction its
/// implicit one, so the lock is held until the changes and the event commit together, as
/// [`flush`] holds it inside an explicit one. Inside an explicit transaction, put the statement
/// last before the commit, for the same reason `flush` runs last.
///
/// With a `guard` (the name of one of the caller's CTEs), the event goes in only if that CTE
/// returned a row: a change that did not apply leaves no event and takes no lock.
pub(crate) fn push_event_ctes(sql: &mut Sql, event: &Pending, guard: Option<&str>) {
    // The lock is taken as `locked`'s row is produced, before `nextval` runs for that row; a
    // volatile function keeps PostgreSQL from inlining the CTE away.
    sql.push("locked AS (SELECT pg_advisory_xact_lock_shared(")
        .bind(Value::BigInt(EVENTS_LOCK))
        .push(")");
    if let Some(guard) = guard {
        sql.push(" FROM ").push(guard);
    }
    sql.push("), e AS (INSERT INTO events (id, type, occurred_at, actor, data) SELECT nextval('events_id_seq'), ")
        .bind(Value::Text(event.kind.to_owned()))
        .push(", ")
        .bind(Value::timestamp(to_db(OffsetDateTime::now_utc())))
        .push(", ")
        .bind(Value::OptText(event.actor.clone()))
        .push(", ")
        .bind(Value::Text(event.data.clone()))
        .push(" FROM locked RETURNING id)");
    if event.tags.0.is_empty() {
        return;
    }
    sql.push(", et AS (INSERT INTO event_tags (event_id, name, value) SELECT e.id, t.name, t.value FROM e, (VALUES ");
    for (i, (name, value)) in event.tags.0.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind(Value::Text((*name).to_owned()))
            .push(", ")
            .bind(Value::Text(value.clone()))
            .push(")");
    }
    sql.push(") AS t(name, value))");
}

fn insert_events_chunk(
    conn: &mut AnyConnection,
    backend: Backend,
    chunk: &[(i64, Pending)],
    at: PrimitiveDateTime,
) -> StorageResult<()> {
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO events (id, type, occurred_at, actor, data) VALUES ");
    for (i, (id, event)) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind_row([
                Value::BigInt(*id),
                Value::Text(event.kind.to_owned()),
                Value::timestamp(at),
                Value::OptText(event.actor.clone()),
                Value::Text(event.data.clone()),
            ])
            .push(")");
    }
    sql.into_query().execute(conn)?;
    Ok(())
}

fn insert_tags_chunk(
    conn: &mut AnyConnection,
    backend: Backend,
    chunk: &[(i64, &'static str, &str)],
) -> StorageResult<()> {
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO event_tags (event_id, name, value) VALUES ");
    for (i, (id, name, value)) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind_row([
                Value::BigInt(*id),
                Value::Text((*name).to_owned()),
                Value::Text((*value).to_owned()),
            ])
            .push(")");
    }
    sql.into_query().execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    occurred_at: PrimitiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Text)]
    data: String,
}

impl EventRow {
    fn into_event(self) -> StorageResult<Event> {
        let data = serde_json::from_str(&self.data)
            .map_err(|_| StorageError::Corrupt(format!("event {} has malformed data", self.id)))?;
        Ok(Event {
            id: self.id,
            kind: self.kind,
            timestamp: from_db(self.occurred_at),
            actor: self.actor,
            data,
        })
    }
}

/// The feed query: events after the cursor matching the filter, oldest first.
fn events_query(backend: Backend, filter: &EventFilter, bound: Option<i64>, limit: i64) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT id, type AS kind, occurred_at, actor, data FROM events WHERE ");
    filter_conditions(&mut sql, filter, bound);
    sql.push(" ORDER BY id LIMIT ")
        .bind(Value::BigInt(limit.clamp(1, MAX_EVENT_LIMIT)));
    sql
}

/// How many events after the cursor match the filter.
fn count_query(backend: Backend, filter: &EventFilter, bound: Option<i64>) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT COUNT(*) AS id FROM events WHERE ");
    filter_conditions(&mut sql, filter, bound);
    sql
}

fn filter_conditions(sql: &mut Sql, filter: &EventFilter, bound: Option<i64>) {
    sql.push("id > ").bind(Value::BigInt(filter.after));
    if let Some(bound) = bound {
        sql.push(" AND id <= ").bind(Value::BigInt(bound));
    }
    if !filter.types.is_empty() && !filter.types.contains(&TypePattern::Any) {
        sql.push(" AND (");
        for (i, pattern) in filter.types.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            match pattern {
                TypePattern::Exact(kind) => {
                    sql.push("type = ").bind(Value::Text(kind.clone()));
                }
                // A byte range rather than LIKE: `_` in family names is no wildcard, and the
                // (type, id) index serves it. '/' is the byte after '.'.
                TypePattern::Family(family) => {
                    sql.push("(type > ")
                        .bind(Value::Text(format!("{family}.")))
                        .push(" AND type < ")
                        .bind(Value::Text(format!("{family}/")))
                        .push(")");
                }
                TypePattern::Any => {
                    sql.push("1 = 1");
                }
            }
        }
        sql.push(")");
    }
    for (name, value) in [
        ("product", &filter.product),
        ("channel", &filter.channel),
        ("platform", &filter.platform),
        ("team", &filter.team),
    ] {
        if let Some(value) = value {
            sql.push(" AND id IN (SELECT event_id FROM event_tags WHERE name = ")
                .bind(Value::Text(name.to_owned()))
                .push(" AND value = ")
                .bind(Value::Text(value.clone()))
                .push(" AND event_id > ")
                .bind(Value::BigInt(filter.after))
                .push(")");
        }
    }
}

impl Store {
    /// Up to `limit` events after `filter.after` that match the filter, oldest first.
    pub fn list_events(&self, filter: &EventFilter, limit: i64) -> StorageResult<Vec<Event>> {
        self.read(|conn| {
            let bound = settled_bound(conn)?;
            let query = events_query(self.backend(), filter, bound, limit).into_query();
            let rows: Vec<EventRow> = query.load(conn)?;
            rows.into_iter().map(EventRow::into_event).collect()
        })
    }

    /// How many events after `filter.after` match the filter (the feed's `X-Total-Count`).
    pub fn count_events(&self, filter: &EventFilter) -> StorageResult<i64> {
        self.read(|conn| {
            let bound = settled_bound(conn)?;
            let query = count_query(self.backend(), filter, bound).into_query();
            Ok(query.get_result::<IdRow>(conn)?.id)
        })
    }

    /// The id of the newest event (0 when there is none): where a live stream with no cursor
    /// starts.
    pub fn latest_event_id(&self) -> StorageResult<i64> {
        self.read(latest_settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_patterns_are_byte_ranges_and_tags_subqueries() {
        let filter = EventFilter {
            after: 5,
            types: vec![
                TypePattern::Family("release".into()),
                TypePattern::Exact("rule.created".into()),
            ],
            platform: Some("eu".into()),
            ..EventFilter::default()
        };
        let sql = events_query(Backend::Postgres, &filter, None, 10);
        assert_eq!(
            sql.text(),
            "SELECT id, type AS kind, occurred_at, actor, data FROM events WHERE id > $1 \
             AND ((type > $2 AND type < $3) OR type = $4) \
             AND id IN (SELECT event_id FROM event_tags WHERE name = $5 AND value = $6 \
             AND event_id > $7) ORDER BY id LIMIT $8"
        );
    }

    #[test]
    fn tags_keep_each_value_once_and_skip_empty_ones() {
        let tags = Tags::new()
            .with_all("platform", ["a", "b", "a", ""])
            .with_opt("team", None)
            .with("product", "Firefox");
        assert_eq!(
            tags.0,
            vec![
                ("platform", "a".to_owned()),
                ("platform", "b".to_owned()),
                ("product", "Firefox".to_owned()),
            ]
        );
    }

    #[test]
    fn emitting_outside_a_write_is_an_error() {
        assert!(emit("release.created", None, &1, Tags::new()).is_err());
        begin();
        emit("release.created", Some("a"), &1, Tags::new()).expect("inside");
        assert_eq!(take().len(), 1);
        assert!(take().is_empty());
    }
}
