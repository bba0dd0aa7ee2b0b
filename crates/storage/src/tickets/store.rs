//! Creating, updating, commenting on and reading tickets.

use std::collections::HashMap;

use diesel::prelude::*;
use shiplog_domain::ticket::change_comment;
use shiplog_domain::{
    Comment, CommentId, NewComment, NewTicket, Ticket, TicketFields, TicketId, TicketUpdate,
};
use time::OffsetDateTime;

use super::filter::{tickets_query, TicketFilter};
use super::rows::{
    ticket_id, written_values, CommentRow, InsertedId, NewCommentRow, TicketRow, TICKET_COLUMNS,
};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::{emit, Tags};
use crate::ledger::{from_db, to_db};
use crate::schema::ticket_comments;
use crate::sql::{Sql, Value};

/// How many ids go into one `IN (…)` list when loading the comments of a listing: far below
/// both backends' limits on bound parameters, and one query for any ordinary listing.
const ID_CHUNK: usize = 1000;

impl Store {
    /// Records a new ticket and returns it (with no comments: creating writes none).
    pub fn insert_ticket(&self, ticket: &NewTicket) -> StorageResult<Ticket> {
        let now = OffsetDateTime::now_utc();
        let backend = self.backend();
        self.write(|conn| insert_ticket(conn, backend, ticket, now, self.actor()))
    }

    /// Records many tickets in one transaction: all of them or none. Ids follow the order given.
    pub fn import_tickets(&self, batch: &[NewTicket]) -> StorageResult<Vec<TicketId>> {
        let now = OffsetDateTime::now_utc();
        let backend = self.backend();
        self.write(|conn| {
            batch
                .iter()
                .map(|ticket| {
                    insert_ticket(conn, backend, ticket, now, self.actor()).map(|t| t.request_id)
                })
                .collect()
        })
    }

    /// Applies a partial update and, if any field changed, writes the automatic comment listing
    /// the changes, authored by `update.author`, in the same transaction. Returns the ticket as
    /// it now is, with all its comments.
    pub fn update_ticket(&self, update: &TicketUpdate) -> StorageResult<Ticket> {
        let now = OffsetDateTime::now_utc();
        let backend = self.backend();
        let id = update.request_id;
        self.write(|conn| {
            let row = lock_ticket(conn, backend, id)?.ok_or(StorageError::TicketNotFound(id))?;
            let date = from_db(row.date);
            let old = row.fields();
            let new = update.changes.apply(&old);
            let changed = change_comment(&old, &new);
            if let Some(text) = &changed {
                rewrite_ticket(conn, backend, id, &new)?;
                insert_comment(conn, id, &update.author, text, now)?;
            }
            let comments = load_comments(conn, &[id.get()])?
                .remove(&id.get())
                .unwrap_or_default();
            let ticket = Ticket {
                request_id: id,
                date,
                fields: new,
                comments,
            };
            // An update that changes nothing writes nothing, so it has no event.
            if changed.is_some() {
                emit("ticket.updated", Some(&update.author), &ticket, Tags::new())?;
            }
            Ok(ticket)
        })
    }

    /// Adds a comment to an existing ticket and returns it.
    pub fn add_ticket_comment(&self, comment: &NewComment) -> StorageResult<Comment> {
        let now = OffsetDateTime::now_utc();
        let backend = self.backend();
        let id = comment.request_id;
        self.write(|conn| {
            if lock_ticket(conn, backend, id)?.is_none() {
                return Err(StorageError::TicketNotFound(id));
            }
            let stored = insert_comment(conn, id, &comment.author, &comment.text, now)?;
            emit(
                "comment.created",
                Some(&comment.author),
                &stored,
                Tags::new(),
            )?;
            Ok(stored)
        })
    }

    /// One ticket with its comments.
    pub fn find_ticket(&self, id: TicketId) -> StorageResult<Option<Ticket>> {
        let filter = TicketFilter {
            request_id: Some(id),
            ..TicketFilter::default()
        };
        Ok(self.list_tickets(&filter)?.into_iter().next())
    }

    /// Every ticket matching the filter, highest request id first, each with its comments
    /// oldest first. One query for the tickets, then one per thousand tickets for the comments.
    pub fn list_tickets(&self, filter: &TicketFilter) -> StorageResult<Vec<Ticket>> {
        let query = tickets_query(self.backend(), filter).into_query();
        self.read(|conn| {
            let rows: Vec<TicketRow> = query.load(conn)?;
            let ids: Vec<i64> = rows.iter().map(|r| r.request_id).collect();
            let mut comments = load_comments(conn, &ids)?;
            rows.into_iter()
                .map(|row| {
                    Ok(Ticket {
                        request_id: ticket_id(row.request_id)?,
                        date: from_db(row.date),
                        comments: comments.remove(&row.request_id).unwrap_or_default(),
                        fields: row.fields(),
                    })
                })
                .collect()
        })
    }
}

/// Inserts a ticket with its search text, which starts with the request id.
///
/// PostgreSQL: the id is drawn from the identity sequence first, so one INSERT writes the
/// finished row. (Inserting and then setting `search` would write every trigram index entry
/// twice: the UPDATE cannot be HOT, since it changes an indexed column.)
/// SQLite: AUTOINCREMENT hands the id out on insert; `search` is then set by a second statement
/// in the same transaction, which is cheap there.
fn insert_ticket(
    conn: &mut AnyConnection,
    backend: Backend,
    ticket: &NewTicket,
    now: OffsetDateTime,
    actor: Option<&str>,
) -> StorageResult<Ticket> {
    let reserved = match backend {
        Backend::Postgres => {
            let next: InsertedId = diesel::sql_query(
                "SELECT nextval(pg_get_serial_sequence('tickets', 'request_id')) AS request_id",
            )
            .get_result(conn)?;
            Some(ticket_id(next.request_id)?)
        }
        Backend::Sqlite => None,
    };
    let search = reserved.map(|id| ticket.fields.search_text(id));
    let values = written_values(&ticket.fields, search.unwrap_or_default());
    let mut insert = Sql::new(backend);
    insert.push("INSERT INTO tickets (");
    if reserved.is_some() {
        insert.push("request_id, ");
    }
    insert.push("date");
    for (column, _) in &values {
        insert.push(", ").push(column);
    }
    insert.push(") VALUES (");
    if let Some(id) = reserved {
        insert.bind(Value::BigInt(id.get())).push(", ");
    }
    insert.bind(Value::timestamp(to_db(now)));
    for (_, value) in values {
        insert.push(", ").bind(Value::Text(value));
    }
    insert.push(") RETURNING request_id");
    let inserted: InsertedId = insert.into_query().get_result(conn)?;
    let id = ticket_id(inserted.request_id)?;
    if reserved.is_none() {
        let mut search = Sql::new(backend);
        search
            .push("UPDATE tickets SET search = ")
            .bind(Value::Text(ticket.fields.search_text(id)))
            .push(" WHERE request_id = ")
            .bind(Value::BigInt(id.get()));
        search.into_query().execute(conn)?;
    }
    let stored = Ticket {
        request_id: id,
        date: from_db(to_db(now)),
        fields: ticket.fields.clone(),
        comments: Vec::new(),
    };
    emit("ticket.created", actor, &stored, Tags::new())?;
    Ok(stored)
}

/// Writes every field of a ticket and its rebuilt search text.
fn rewrite_ticket(
    conn: &mut AnyConnection,
    backend: Backend,
    id: TicketId,
    fields: &TicketFields,
) -> StorageResult<()> {
    let mut update = Sql::new(backend);
    update.push("UPDATE tickets SET ");
    for (i, (column, value)) in written_values(fields, fields.search_text(id))
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            update.push(", ");
        }
        update.push(column).push(" = ").bind(Value::Text(value));
    }
    update
        .push(" WHERE request_id = ")
        .bind(Value::BigInt(id.get()));
    update.into_query().execute(conn)?;
    Ok(())
}

/// The ticket's row, locked until the transaction ends on PostgreSQL, so that concurrent
/// updates of one ticket queue and each describes its own change truly. SQLite needs no row
/// lock: its write transactions (`BEGIN IMMEDIATE`) already run one at a time.
fn lock_ticket(
    conn: &mut AnyConnection,
    backend: Backend,
    id: TicketId,
) -> StorageResult<Option<TicketRow>> {
    let mut select = Sql::new(backend);
    select
        .push("SELECT ")
        .push(TICKET_COLUMNS)
        .push(" FROM tickets t WHERE t.request_id = ")
        .bind(Value::BigInt(id.get()));
    if backend == Backend::Postgres {
        select.push(" FOR UPDATE");
    }
    let rows: Vec<TicketRow> = select.into_query().load(conn)?;
    Ok(rows.into_iter().next())
}

fn insert_comment(
    conn: &mut AnyConnection,
    request_id: TicketId,
    author: &str,
    text: &str,
    now: OffsetDateTime,
) -> StorageResult<Comment> {
    let date = to_db(now);
    let id: i64 = diesel::insert_into(ticket_comments::table)
        .values(NewCommentRow {
            request_id: request_id.get(),
            author,
            date,
            text,
        })
        .returning(ticket_comments::id)
        .get_result(conn)?;
    Ok(Comment {
        id: CommentId::from(id),
        request_id,
        author: author.to_owned(),
        date: from_db(date),
        text: text.to_owned(),
    })
}

/// The comments of the given tickets, oldest first, by request id.
fn load_comments(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> StorageResult<HashMap<i64, Vec<Comment>>> {
    let mut by_ticket: HashMap<i64, Vec<Comment>> = HashMap::new();
    for chunk in ids.chunks(ID_CHUNK) {
        let rows: Vec<CommentRow> = ticket_comments::table
            .filter(ticket_comments::request_id.eq_any(chunk))
            .order((ticket_comments::request_id, ticket_comments::id))
            .select(CommentRow::as_select())
            .load(conn)?;
        for row in rows {
            by_ticket
                .entry(row.request_id)
                .or_default()
                .push(row.into_domain()?);
        }
    }
    Ok(by_ticket)
}
