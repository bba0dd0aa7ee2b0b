//! Rules: listing in Balrog's order, lookups by id or alias, and the writes, each one
//! transaction with its history record and the data_version check in the UPDATE/DELETE itself.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::Value;
use shiplog_domain::balrog::{
    ChangeTable, Rule, RuleChanges, RuleField, RuleFields, RuleRef, RuleScope, ScTable,
};

use super::history::{record_delete, record_insert, record_update, revision_to_restore};
use super::now_millis;
use super::refusal::BalrogRefusal;
use super::rows::{RuleRow, RuleValues};
use super::scheduled::{refuse_if_pending, refuse_update_if_pending};
use super::signoffs::SignoffTarget;
use super::writer::{Subject, Writer};
use crate::connection::{on_backend, AnyConnection, Store};
use crate::error::{StorageError, StorageResult};
use crate::schema::{releases, rules};
use crate::sql::Sql;

pub(crate) fn load_rule(conn: &mut AnyConnection, rule: &RuleRef) -> StorageResult<Option<Rule>> {
    let query = rules::table.select(RuleRow::as_select()).into_boxed();
    let query = match rule {
        RuleRef::Id(id) => query.filter(rules::rule_id.eq(*id)),
        RuleRef::Alias(alias) => query.filter(rules::alias.eq(alias.clone())),
    };
    query
        .first(conn)
        .optional()?
        .map(RuleRow::into_domain)
        .transpose()
}

fn not_found(rule: &RuleRef) -> StorageError {
    BalrogRefusal::RuleNotFound(rule.to_string()).into()
}

/// Every release the rule maps to must exist (the foreign keys say so too; this names the
/// culprit).
fn check_mappings(
    conn: &mut AnyConnection,
    fields: &RuleFields,
    only: Option<&RuleChanges>,
) -> StorageResult<()> {
    for (field, name) in fields.mapped_releases() {
        if only.is_some_and(|changes| !changes.contains(field)) {
            continue;
        }
        let found: Option<String> = releases::table
            .filter(releases::name.eq(name))
            .select(releases::id)
            .first(conn)
            .optional()?;
        if found.is_none() {
            return Err(BalrogRefusal::UnknownMapping {
                field,
                name: name.to_owned(),
            }
            .into());
        }
    }
    Ok(())
}

fn check_alias_free(
    conn: &mut AnyConnection,
    alias: Option<&str>,
    own_id: Option<i64>,
) -> StorageResult<()> {
    let Some(alias) = alias else {
        return Ok(());
    };
    let holder: Option<i64> = rules::table
        .filter(rules::alias.eq(alias))
        .select(rules::rule_id)
        .first(conn)
        .optional()?;
    match holder {
        Some(id) if Some(id) != own_id => Err(BalrogRefusal::AliasTaken(alias.to_owned()).into()),
        _ => Ok(()),
    }
}

/// A constraint the checks above already cover, hit by a concurrent writer in between.
fn constraint_refusal(err: StorageError, fields: &RuleFields) -> StorageError {
    match &err {
        StorageError::Backend(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            _,
        )) => BalrogRefusal::AliasTaken(fields.alias.clone().unwrap_or_default()).into(),
        StorageError::Backend(DieselError::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => BalrogRefusal::UnknownMapping {
            field: RuleField::Mapping,
            name: fields.mapping.clone().unwrap_or_default(),
        }
        .into(),
        _ => err,
    }
}

/// The checks a new rule passes before it is stored: its mappings exist, its alias is free.
pub(crate) fn check_new_rule(conn: &mut AnyConnection, fields: &RuleFields) -> StorageResult<()> {
    check_mappings(conn, fields, None)?;
    check_alias_free(conn, fields.alias.as_deref(), None)
}

/// The checks an update of rule `rule_id` at `data_version` passes before it is made, and the
/// rule as the update would leave it (still at `data_version`).
pub(crate) fn check_rule_update(
    conn: &mut AnyConnection,
    rule_id: i64,
    data_version: i64,
    changes: &RuleChanges,
) -> StorageResult<Rule> {
    let rule = RuleRef::Id(rule_id);
    let current = load_rule(conn, &rule)?.ok_or_else(|| not_found(&rule))?;
    if current.data_version != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    let fields = current.fields.apply(changes)?;
    check_mappings(conn, &fields, Some(changes))?;
    if changes.contains(RuleField::Alias) {
        check_alias_free(conn, fields.alias.as_deref(), Some(rule_id))?;
    }
    Ok(Rule {
        rule_id,
        fields,
        data_version,
    })
}

/// Deletes the rule if it is still at `data_version` and the writer's guard allows it, inside
/// the caller's transaction.
pub(crate) fn delete_rule_in(
    conn: &mut AnyConnection,
    rule: &RuleRef,
    data_version: i64,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<()> {
    let current = load_rule(conn, rule)?.ok_or_else(|| not_found(rule))?;
    if current.data_version != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    writer.check(Subject::Rule(&current))?;
    writer.check_signoffs(
        conn,
        &SignoffTarget::Rule {
            old: Some(RuleScope::of(&current.fields)),
            new: None,
        },
    )?;
    let deleted = diesel::delete(
        rules::table
            .filter(rules::rule_id.eq(current.rule_id))
            .filter(rules::data_version.eq(data_version)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(match load_rule(conn, &RuleRef::Id(current.rule_id))? {
            None => not_found(rule),
            Some(_) => BalrogRefusal::Outdated.into(),
        });
    }
    record_delete(
        conn,
        ChangeTable::Rules,
        &current.rule_id.to_string(),
        writer.name,
        at,
        &current.to_json(),
    )
}

/// Refuses a direct write to a rule with a pending scheduled change: a delete with
/// ChangeScheduledError, an update with UpdateMergeError.
fn refuse_if_scheduled(
    conn: &mut AnyConnection,
    rule: &RuleRef,
    delete: bool,
) -> StorageResult<()> {
    let Some(current) = load_rule(conn, rule)? else {
        return Ok(());
    };
    let key = current.rule_id.to_string();
    if delete {
        refuse_if_pending(conn, ScTable::Rules, &key)
    } else {
        refuse_update_if_pending(conn, ScTable::Rules, &key)
    }
}

pub(crate) fn insert_rule(
    conn: &mut AnyConnection,
    fields: &RuleFields,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<Rule> {
    let changed_by = writer.name;
    writer.check_signoffs(
        conn,
        &SignoffTarget::Rule {
            old: None,
            new: Some(RuleScope::of(fields)),
        },
    )?;
    check_mappings(conn, fields, None)?;
    check_alias_free(conn, fields.alias.as_deref(), None)?;
    let values = RuleValues::new(fields, 1);
    let statement = diesel::insert_into(rules::table).values(&values);
    // MultiBackend has no RETURNING support; both dialects take the same statement.
    let rule_id: i64 = on_backend!(conn, c => statement.returning(rules::rule_id).get_result(c))
        .map_err(|e| constraint_refusal(e.into(), fields))?;
    let rule = Rule {
        rule_id,
        fields: fields.clone(),
        data_version: 1,
    };
    record_insert(
        conn,
        ChangeTable::Rules,
        &rule_id.to_string(),
        changed_by,
        at,
        1,
        &rule.to_json(),
    )?;
    Ok(rule)
}

/// Applies `changes` to the rule if it is still at `data_version`.
pub(crate) fn update_rule(
    conn: &mut AnyConnection,
    rule: &RuleRef,
    data_version: i64,
    changes: &RuleChanges,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<Rule> {
    let changed_by = writer.name;
    let current = load_rule(conn, rule)?.ok_or_else(|| not_found(rule))?;
    if current.data_version != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    writer.check(Subject::Rule(&current))?;
    let fields = current.fields.apply(changes)?;
    writer.check_signoffs(
        conn,
        &SignoffTarget::Rule {
            old: Some(RuleScope::of(&current.fields)),
            new: Some(RuleScope::of(&fields)),
        },
    )?;
    check_mappings(conn, &fields, Some(changes))?;
    if changes.contains(RuleField::Alias) {
        check_alias_free(conn, fields.alias.as_deref(), Some(current.rule_id))?;
    }
    let values = RuleValues::new(&fields, data_version + 1);
    let updated = diesel::update(
        rules::table
            .filter(rules::rule_id.eq(current.rule_id))
            .filter(rules::data_version.eq(data_version)),
    )
    .set(&values)
    .execute(conn)
    .map_err(|e| constraint_refusal(e.into(), &fields))?;
    if updated == 0 {
        // Changed or deleted by someone else since we read it.
        return Err(match load_rule(conn, &RuleRef::Id(current.rule_id))? {
            None => not_found(rule),
            Some(_) => BalrogRefusal::Outdated.into(),
        });
    }
    let rule = Rule {
        rule_id: current.rule_id,
        fields,
        data_version: data_version + 1,
    };
    record_update(
        conn,
        ChangeTable::Rules,
        &rule.rule_id.to_string(),
        changed_by,
        at,
        rule.data_version,
        &rule.to_json(),
    )?;
    Ok(rule)
}

/// The SQL name of a rule column a `columns/{column}` listing may ask for.
fn rule_column(name: &str) -> Option<(&'static str, ColumnKind)> {
    let column = match name {
        "rule_id" => return Some(("rule_id", ColumnKind::Integer)),
        "data_version" => return Some(("data_version", ColumnKind::Integer)),
        other => RuleField::from_name(other)?,
    };
    let sql = match column {
        RuleField::Alias => "alias",
        RuleField::Priority => "priority",
        RuleField::Mapping => "mapping",
        RuleField::FallbackMapping => "fallback_mapping",
        RuleField::BackgroundRate => "background_rate",
        RuleField::UpdateType => "update_type",
        RuleField::Product => "product",
        RuleField::Version => "version",
        RuleField::Channel => "channel",
        RuleField::BuildTarget => "build_target",
        RuleField::BuildId => "build_id",
        RuleField::Locale => "locale",
        RuleField::OsVersion => "os_version",
        RuleField::Memory => "memory",
        RuleField::InstructionSet => "instruction_set",
        RuleField::Distribution => "distribution",
        RuleField::DistVersion => "dist_version",
        RuleField::HeaderArchitecture => "header_architecture",
        RuleField::Mig64 => "mig64",
        RuleField::Jaws => "jaws",
        RuleField::Whitelist => "whitelist",
        RuleField::Comment => "comment",
        RuleField::StickyBy => "sticky_by",
    };
    let kind = match column {
        RuleField::Priority | RuleField::BackgroundRate => ColumnKind::Integer,
        RuleField::Mig64 | RuleField::Jaws => ColumnKind::Boolean,
        _ => ColumnKind::Text,
    };
    Some((sql, kind))
}

/// How a column's values print in a `columns/{column}` listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Text,
    Integer,
    Boolean,
}

#[derive(QueryableByName)]
struct ColumnValue {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// The distinct non-null values of `column` (an identifier this crate chose, never input),
/// sorted, as JSON of the column's kind.
pub(crate) fn distinct_values(
    conn: &mut AnyConnection,
    sql: Sql,
    kind: ColumnKind,
) -> StorageResult<Vec<Value>> {
    let rows: Vec<ColumnValue> = sql.into_query().load(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(match kind {
                ColumnKind::Text => Value::String(row.value),
                ColumnKind::Integer => Value::from(row.value.parse::<i64>().map_err(|_| {
                    StorageError::Corrupt(format!("integer column holds {:?}", row.value))
                })?),
                ColumnKind::Boolean => {
                    Value::Bool(matches!(row.value.as_str(), "1" | "true" | "t"))
                }
            })
        })
        .collect()
}

/// `SELECT` of the distinct non-null values of `column` in `table`, ordered by the values
/// themselves (not their text), with an optional extra condition.
pub(crate) fn distinct_values_sql(
    store: &Store,
    table: &str,
    column: &str,
    extra_condition: Option<&str>,
) -> Sql {
    let mut sql = Sql::new(store.backend());
    sql.push("SELECT CAST(c AS TEXT) AS value FROM (SELECT DISTINCT ")
        .push(column)
        .push(" AS c FROM ")
        .push(table)
        .push(" WHERE ")
        .push(column)
        .push(" IS NOT NULL");
    if let Some(condition) = extra_condition {
        sql.push(" AND ").push(condition);
    }
    sql.push(") t ORDER BY c");
    sql
}

impl Store {
    /// Every rule (of one product, if given), in Balrog's order: priority ascending, then version
    /// and mapping (unset first, as Balrog's databases sort NULL), then id.
    pub fn list_rules(&self, product: Option<&str>) -> StorageResult<Vec<Rule>> {
        self.read(|conn| {
            let mut query = rules::table.select(RuleRow::as_select()).into_boxed();
            if let Some(product) = product {
                query = query.filter(rules::product.eq(product.to_owned()));
            }
            let rows: Vec<RuleRow> = query
                .order_by((
                    rules::priority.asc(),
                    rules::version.is_not_null().asc(),
                    rules::version.asc(),
                    rules::mapping.is_not_null().asc(),
                    rules::mapping.asc(),
                    rules::rule_id.asc(),
                ))
                .load(conn)?;
            rows.into_iter().map(RuleRow::into_domain).collect()
        })
    }

    /// One rule by id or alias.
    pub fn find_rule(&self, rule: &RuleRef) -> StorageResult<Option<Rule>> {
        self.read(|conn| load_rule(conn, rule))
    }

    /// Stores a new rule (data_version 1) after checking its mappings, its alias and the
    /// signoffs its product and channel require.
    pub fn insert_rule<'w>(
        &self,
        fields: &RuleFields,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<Rule> {
        let at = now_millis();
        let writer = writer.into();
        self.write(|conn| insert_rule(conn, fields, writer, at))
    }

    /// Changes the columns named in `changes`, if the rule is still at `data_version` and the
    /// writer's guard allows it (shown the rule as stored).
    pub fn update_rule<'w>(
        &self,
        rule: &RuleRef,
        data_version: i64,
        changes: &RuleChanges,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<Rule> {
        let at = now_millis();
        let writer = writer.into();
        self.write(|conn| {
            refuse_if_scheduled(conn, rule, false)?;
            update_rule(conn, rule, data_version, changes, writer, at)
        })
    }

    /// Deletes the rule, if it is still at `data_version` and the writer's guard allows it.
    pub fn delete_rule<'w>(
        &self,
        rule: &RuleRef,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<()> {
        let at = now_millis();
        let writer = writer.into();
        self.write(|conn| {
            refuse_if_scheduled(conn, rule, true)?;
            delete_rule_in(conn, rule, data_version, writer, at)
        })
    }

    /// Makes the rule what it was at history record `change_id`, as a new version. The
    /// writer's guard is shown the rule as stored and as it is being made again.
    pub fn revert_rule<'w>(
        &self,
        rule_id: i64,
        change_id: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<Rule> {
        let at = now_millis();
        let writer = writer.into();
        let rule = RuleRef::Id(rule_id);
        self.write(|conn| {
            refuse_if_scheduled(conn, &rule, false)?;
            let current = load_rule(conn, &rule)?.ok_or_else(|| not_found(&rule))?;
            writer.check(Subject::Rule(&current))?;
            let row = revision_to_restore(
                conn,
                ChangeTable::Rules,
                change_id,
                &rule_id.to_string(),
                "rule_id",
            )?;
            let old: Rule = serde_json::from_value(row)
                .map_err(|_| BalrogRefusal::ChangeNotFound(change_id))?;
            writer.check(Subject::Rule(&old))?;
            let changes = RuleChanges::from_fields(&old.fields);
            update_rule(conn, &rule, current.data_version, &changes, writer, at)
        })
    }

    /// The distinct values of a rule column (`None`: no such column).
    pub fn rule_column_values(&self, column: &str) -> StorageResult<Option<Vec<Value>>> {
        let Some((sql_column, kind)) = rule_column(column) else {
            return Ok(None);
        };
        let sql = distinct_values_sql(self, "rules", sql_column, None);
        self.read(|conn| distinct_values(conn, sql, kind).map(Some))
    }
}
