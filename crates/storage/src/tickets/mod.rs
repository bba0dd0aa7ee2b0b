//! Bileto landing tickets in SQL: tickets, their comments, and the substring listings of the
//! `/v1` face.
//!
//! Request ids and comment ids come from the database (identity columns on PostgreSQL,
//! AUTOINCREMENT on SQLite), so instances sharing a database never hand out the same id and no
//! lock is needed. The `search` column holds the text `shiplog_domain::ticket` builds; it is
//! rewritten in the same transaction as every change to the fields it is built from.

mod filter;
mod rows;
mod store;

pub use filter::{TicketColumn, TicketFilter};
