//! Ticket and comment rows and their conversion to domain types. Private to the storage crate.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use shiplog_domain::{Comment, CommentId, TicketField, TicketFields, TicketId};
use time::PrimitiveDateTime;

use crate::error::{StorageError, StorageResult};
use crate::ledger::from_db;
use crate::schema::ticket_comments;
use crate::stored_time::StoredTime;

/// Columns of a ticket row, in `TicketRow` order, on tickets aliased `t`. `search` is left out:
/// it is derived from the others, so readers rebuild it instead of carrying it twice.
pub(crate) const TICKET_COLUMNS: &str = "t.request_id, t.date, t.description, t.test_plan, \
     t.merge_proposals, t.sources, t.landers, t.siloname, t.status, t.qa_signoff, \
     t.distribution, t.series, t.dest, t.sync_request, t.published_versions, \
     t.download_links, t.jenkins";

pub(crate) fn ticket_id(id: i64) -> StorageResult<TicketId> {
    TicketId::new(id).map_err(|_| StorageError::Corrupt(format!("stored request_id {id}")))
}

/// A ticket read by column name (the table is written with `crate::sql`; see schema.rs).
#[derive(QueryableByName)]
pub(crate) struct TicketRow {
    #[diesel(sql_type = BigInt)]
    pub request_id: i64,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    pub date: PrimitiveDateTime,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Text)]
    pub test_plan: String,
    #[diesel(sql_type = Text)]
    pub merge_proposals: String,
    #[diesel(sql_type = Text)]
    pub sources: String,
    #[diesel(sql_type = Text)]
    pub landers: String,
    #[diesel(sql_type = Text)]
    pub siloname: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub qa_signoff: String,
    #[diesel(sql_type = Text)]
    pub distribution: String,
    #[diesel(sql_type = Text)]
    pub series: String,
    #[diesel(sql_type = Text)]
    pub dest: String,
    #[diesel(sql_type = Text)]
    pub sync_request: String,
    #[diesel(sql_type = Text)]
    pub published_versions: String,
    #[diesel(sql_type = Text)]
    pub download_links: String,
    #[diesel(sql_type = Text)]
    pub jenkins: String,
}

impl TicketRow {
    pub fn fields(self) -> TicketFields {
        TicketFields {
            description: self.description,
            test_plan: self.test_plan,
            merge_proposals: self.merge_proposals,
            sources: self.sources,
            landers: self.landers,
            siloname: self.siloname,
            status: self.status,
            qa_signoff: self.qa_signoff,
            distribution: self.distribution,
            series: self.series,
            dest: self.dest,
            sync_request: self.sync_request,
            published_versions: self.published_versions,
            download_links: self.download_links,
            jenkins: self.jenkins,
        }
    }
}

/// A request id read back from the database (an insert, or the identity sequence).
#[derive(QueryableByName)]
pub(crate) struct InsertedId {
    #[diesel(sql_type = BigInt)]
    pub request_id: i64,
}

/// Every column a write sets but `date`, with its value: the fields, then `search`.
pub(crate) fn written_values(fields: &TicketFields, search: String) -> Vec<(&'static str, String)> {
    TicketField::ALL
        .into_iter()
        .map(|field| (field.name(), fields.get(field).to_owned()))
        .chain([("search", search)])
        .collect()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ticket_comments)]
pub(crate) struct CommentRow {
    pub id: i64,
    pub request_id: i64,
    pub author: String,
    #[diesel(deserialize_as = StoredTime)]
    pub date: PrimitiveDateTime,
    pub text: String,
}

impl CommentRow {
    pub fn into_domain(self) -> StorageResult<Comment> {
        Ok(Comment {
            id: CommentId::from(self.id),
            request_id: ticket_id(self.request_id)?,
            author: self.author,
            date: from_db(self.date),
            text: self.text,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = ticket_comments, treat_none_as_default_value = false)]
pub(crate) struct NewCommentRow<'a> {
    pub request_id: i64,
    pub author: &'a str,
    pub date: PrimitiveDateTime,
    pub text: &'a str,
}
