//! The audit: every record of the `changes` table across all tables, filtered and paged
//! (`GET /api/history`), and the rules as they were at a moment, rebuilt from their history
//! (`GET /api/rules?timestamp=`).

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::Value;
use shiplog_domain::balrog::{Change, ChangeTable, Rule};

use super::rows::ChangeRow;
use crate::connection::{AnyConnection, MultiBackend, Store};
use crate::error::{StorageError, StorageResult};
use crate::schema::changes;

/// Which records the audit lists; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub changed_by: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub timestamp_from: Option<i64>,
    /// Milliseconds since the epoch, inclusive.
    pub timestamp_to: Option<i64>,
    /// The changed object's product (its own `product` column).
    pub product: Option<String>,
    /// The changed object's channel.
    pub channel: Option<String>,
    pub table: Option<ChangeTable>,
}

/// One record of the audit: the change and the product and channel it is filed under.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    pub change: Change,
    pub product: Option<String>,
    pub channel: Option<String>,
}

/// One page of the audit, newest first, and how many records match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub total: i64,
    pub records: Vec<HistoryRecord>,
}

fn filtered(filter: &HistoryFilter) -> changes::BoxedQuery<'_, MultiBackend> {
    let mut query = changes::table.into_boxed();
    if let Some(user) = &filter.changed_by {
        query = query.filter(changes::changed_by.eq(user));
    }
    if let Some(from) = filter.timestamp_from {
        query = query.filter(changes::changed_at.ge(from));
    }
    if let Some(to) = filter.timestamp_to {
        query = query.filter(changes::changed_at.le(to));
    }
    if let Some(product) = &filter.product {
        query = query.filter(changes::product.eq(product));
    }
    if let Some(channel) = &filter.channel {
        query = query.filter(changes::channel.eq(channel));
    }
    if let Some(table) = filter.table {
        query = query.filter(changes::table_name.eq(table.as_str()));
    }
    query
}

fn list_history(
    conn: &mut AnyConnection,
    filter: &HistoryFilter,
    limit: i64,
    offset: i64,
) -> StorageResult<HistoryPage> {
    let total: i64 = filtered(filter).count().get_result(conn)?;
    let rows: Vec<(ChangeRow, Option<String>, Option<String>)> = filtered(filter)
        .order(changes::change_id.desc())
        .limit(limit)
        .offset(offset)
        .select((ChangeRow::as_select(), changes::product, changes::channel))
        .load(conn)?;
    let records = rows
        .into_iter()
        .map(|(row, product, channel)| {
            Ok(HistoryRecord {
                change: row.into_domain()?,
                product,
                channel,
            })
        })
        .collect::<StorageResult<_>>()?;
    Ok(HistoryPage { total, records })
}

/// The rules as they were at `at` (ms since the epoch): for each rule, its newest record at or
/// before `at`; a rule whose newest record is a marker (not yet created, or deleted) is left
/// out. Ordered as `list_rules` orders them.
fn rules_at(conn: &mut AnyConnection, at: i64, product: Option<&str>) -> StorageResult<Vec<Rule>> {
    let records: Vec<(String, Option<String>)> = changes::table
        .filter(changes::table_name.eq(ChangeTable::Rules.as_str()))
        .filter(changes::changed_at.le(at))
        .order(changes::change_id.asc())
        .select((changes::object_key, changes::row_data))
        .load(conn)?;
    let mut latest: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (key, row) in records {
        latest.insert(key, row);
    }
    let mut rules = Vec::new();
    for text in latest.into_values().flatten() {
        let row: Value =
            serde_json::from_str(&text).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let rule: Rule =
            serde_json::from_value(row).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        if product.is_none_or(|product| rule.fields.product.as_deref() == Some(product)) {
            rules.push(rule);
        }
    }
    // Balrog's order: priority, then version and mapping with unset first, then id.
    rules.sort_by(|a, b| {
        (
            a.fields.priority,
            &a.fields.version,
            &a.fields.mapping,
            a.rule_id,
        )
            .cmp(&(
                b.fields.priority,
                &b.fields.version,
                &b.fields.mapping,
                b.rule_id,
            ))
    });
    Ok(rules)
}

impl Store {
    /// One page of the audit (`limit` records after `offset`), newest first, with the count of
    /// every record the filter matches.
    pub fn list_history(
        &self,
        filter: &HistoryFilter,
        limit: i64,
        offset: i64,
    ) -> StorageResult<HistoryPage> {
        self.read(|conn| list_history(conn, filter, limit, offset))
    }

    /// The rules (of one product, if given) as they were at `at`, ms since the epoch.
    pub fn rules_at(&self, at: i64, product: Option<&str>) -> StorageResult<Vec<Rule>> {
        self.read(|conn| rules_at(conn, at, product))
    }
}
