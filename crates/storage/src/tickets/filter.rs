//! Turns a ticket listing's filter into SQL on tickets aliased `t`.
//!
//! Substring conditions ignore case. On PostgreSQL they are `LOWER(col) LIKE LOWER(?)`, which
//! the trigram GIN index of the tickets migration serves when pg_trgm is installed, and which
//! folds all of Unicode. On SQLite they are a bare `col LIKE ?`: SQLite's LIKE already ignores
//! ASCII case, which is all its LOWER folds, so LOWER on every row would only cost time (a third
//! of a 100,000-ticket scan). Either way `\` escapes the wildcards of the needle.

use shiplog_domain::ticket::{FAILURE_WORDS, PUBLISHABLE_QA_SIGNOFFS, PUBLISHABLE_STATUS};
use shiplog_domain::{TicketField, TicketId};

use super::rows::TICKET_COLUMNS;
use crate::connection::Backend;
use crate::sql::{contains_pattern, Conditions, Sql, Value};

/// The status test of an active ticket, written out literally (not bound) so that both
/// planners match it against the partial index `tickets_active_idx`, whose predicate is this text.
pub(crate) const ACTIVE_CONDITION: &str = "t.status NOT IN ('Landed', 'Abandoned')";

/// A column a ticket listing can match substrings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketColumn {
    Field(TicketField),
    /// The computed text of most fields (see `shiplog_domain::TicketFields::search_text`).
    Search,
}

impl TicketColumn {
    fn name(self) -> &'static str {
        match self {
            TicketColumn::Field(field) => field.name(),
            TicketColumn::Search => "search",
        }
    }
}

/// What a ticket listing asks for; every part combines with the others by AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub request_id: Option<TicketId>,
    /// Case-insensitive substrings, each of which its column must contain.
    pub contains: Vec<(TicketColumn, String)>,
    /// Leave out Landed and Abandoned tickets.
    pub active_only: bool,
    /// Only tickets that need trainguard action (`TicketFields::is_publishable`).
    pub publishable: bool,
    /// Only tickets whose status mentions a failure (`TicketFields::is_failure`).
    pub failures: bool,
    /// At most this many (the newest); `None`: all, as Bileto's listings answer.
    pub limit: Option<i64>,
}

/// `column` contains `needle`, ignoring case (see the module docs for the two dialects).
fn push_contains(sql: &mut Sql, column: &str, needle: &str) {
    let pattern = Value::Text(contains_pattern(needle));
    match sql.backend() {
        Backend::Postgres => sql
            .push("LOWER(")
            .push(column)
            .push(") LIKE LOWER(")
            .bind(pattern)
            .push(")"),
        Backend::Sqlite => sql.push(column).push(" LIKE ").bind(pattern),
    };
    sql.push(" ESCAPE '\\'");
}

fn conditions(backend: Backend, filter: &TicketFilter) -> Conditions {
    let mut out = Conditions::new(backend);
    if let Some(id) = filter.request_id {
        out.and()
            .push("t.request_id = ")
            .bind(Value::BigInt(id.get()));
    }
    for (column, needle) in &filter.contains {
        push_contains(out.and(), &format!("t.{}", column.name()), needle);
    }
    if filter.active_only {
        out.and().push(ACTIVE_CONDITION);
    }
    if filter.publishable {
        let sql = out.and();
        sql.push("t.status = ")
            .bind(Value::Text(PUBLISHABLE_STATUS.to_owned()))
            .push(" AND t.qa_signoff IN (");
        for (i, signoff) in PUBLISHABLE_QA_SIGNOFFS.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::Text((*signoff).to_owned()));
        }
        sql.push(")");
    }
    if filter.failures {
        let sql = out.and();
        sql.push("(");
        for (i, word) in FAILURE_WORDS.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            push_contains(sql, "t.status", word);
        }
        sql.push(")");
    }
    out
}

/// Tickets matching the filter, newest (highest request id) first.
pub(crate) fn tickets_query(backend: Backend, filter: &TicketFilter) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ")
        .push(TICKET_COLUMNS)
        .push(" FROM tickets t");
    conditions(backend, filter).write_where(&mut sql);
    sql.push(" ORDER BY t.request_id DESC");
    if let Some(limit) = filter.limit {
        sql.push(" LIMIT ").bind(Value::BigInt(limit.max(0)));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiplog_domain::ticket::INACTIVE_STATUSES;

    #[test]
    fn the_active_condition_names_exactly_the_inactive_statuses() {
        let quoted: Vec<String> = INACTIVE_STATUSES.iter().map(|s| format!("'{s}'")).collect();
        assert_eq!(
            ACTIVE_CONDITION,
            format!("t.status NOT IN ({})", quoted.join(", "))
        );
    }

    #[test]
    fn every_part_of_a_filter_is_bound_and_joined_by_and() {
        let filter = TicketFilter {
            request_id: TicketId::new(6).ok(),
            contains: vec![
                (TicketColumn::Field(TicketField::Landers), "bob".into()),
                (TicketColumn::Search, "50%".into()),
            ],
            active_only: true,
            publishable: true,
            failures: true,
            limit: Some(20),
        };
        let sql = tickets_query(Backend::Postgres, &filter);
        let text = sql.text();
        assert!(text.starts_with("SELECT t.request_id, t.date,"), "{text}");
        assert!(
            text.ends_with(
                " FROM tickets t WHERE t.request_id = $1 \
                 AND LOWER(t.landers) LIKE LOWER($2) ESCAPE '\\' \
                 AND LOWER(t.search) LIKE LOWER($3) ESCAPE '\\' \
                 AND t.status NOT IN ('Landed', 'Abandoned') \
                 AND t.status = $4 AND t.qa_signoff IN ($5, $6) \
                 AND (LOWER(t.status) LIKE LOWER($7) ESCAPE '\\' \
                 OR LOWER(t.status) LIKE LOWER($8) ESCAPE '\\' \
                 OR LOWER(t.status) LIKE LOWER($9) ESCAPE '\\') \
                 ORDER BY t.request_id DESC LIMIT $10"
            ),
            "{text}"
        );
        let all = tickets_query(Backend::Sqlite, &TicketFilter::default());
        assert!(all
            .text()
            .ends_with(" FROM tickets t ORDER BY t.request_id DESC"));
        let sqlite = tickets_query(
            Backend::Sqlite,
            &TicketFilter {
                contains: vec![(TicketColumn::Search, "x".into())],
                ..TicketFilter::default()
            },
        );
        assert!(
            sqlite
                .text()
                .ends_with(" WHERE t.search LIKE ? ESCAPE '\\' ORDER BY t.request_id DESC"),
            "{}",
            sqlite.text()
        );
    }
}
