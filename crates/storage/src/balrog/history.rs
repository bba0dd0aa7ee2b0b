//! The `changes` table: writing one record per change (inside the writer's transaction) and
//! reading revisions back.

use diesel::prelude::*;
use serde_json::Value;
use shiplog_domain::balrog::{Change, ChangeTable};

use super::refusal::BalrogRefusal;
use super::rows::{ChangeRow, NewChangeRow};
use crate::connection::{AnyConnection, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::{emit, Tags};
use crate::schema::{changes, ruleset_version};

/// The largest page of revisions one request may ask for: a page of release revisions holds
/// whole blobs in memory.
pub const MAX_REVISION_LIMIT: i64 = 1000;

/// One page of an object's revisions, newest first, and how many there are in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Revisions {
    pub total: i64,
    pub changes: Vec<Change>,
}

/// Writes one history record and bumps the rule-set counter in the same transaction: every
/// write that can change an evaluation (rules, named releases, shutoffs) records history, so
/// serving instances learn of it from one cheap read (see `evaluation.rs`).
fn insert(conn: &mut AnyConnection, record: NewChangeRow<'_>) -> StorageResult<()> {
    if record.table_name == ChangeTable::Permissions.as_str() {
        crate::identity_changes::note();
    }
    diesel::insert_into(changes::table)
        .values(record)
        .execute(conn)?;
    diesel::update(ruleset_version::table)
        .set(ruleset_version::version.eq(ruleset_version::version + 1))
        .execute(conn)?;
    Ok(())
}

/// The product and channel a record is filed under in the audit: the object's own.
fn scope(row: &Value) -> (Option<&str>, Option<&str>) {
    (
        row.get("product").and_then(Value::as_str),
        row.get("channel").and_then(Value::as_str),
    )
}

fn row_text(row: &Value) -> StorageResult<String> {
    serde_json::to_string(row).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// An insert: a key-only marker a millisecond before, then the full row (Balrog's layout).
pub(crate) fn record_insert(
    conn: &mut AnyConnection,
    table: ChangeTable,
    key: &str,
    changed_by: &str,
    at: i64,
    data_version: i64,
    row: &Value,
) -> StorageResult<()> {
    let (product, channel) = scope(row);
    insert(
        conn,
        NewChangeRow {
            table_name: table.as_str(),
            object_key: key,
            changed_by,
            changed_at: at - 1,
            data_version: None,
            row_data: None,
            product,
            channel,
        },
    )?;
    write_full_row(conn, table, key, changed_by, at, data_version, row)?;
    emit_change(table, Verb::Created, changed_by, row)
}

/// An update: the full row as it now is.
pub(crate) fn record_update(
    conn: &mut AnyConnection,
    table: ChangeTable,
    key: &str,
    changed_by: &str,
    at: i64,
    data_version: i64,
    row: &Value,
) -> StorageResult<()> {
    write_full_row(conn, table, key, changed_by, at, data_version, row)?;
    emit_change(table, Verb::Updated, changed_by, row)
}

fn write_full_row(
    conn: &mut AnyConnection,
    table: ChangeTable,
    key: &str,
    changed_by: &str,
    at: i64,
    data_version: i64,
    row: &Value,
) -> StorageResult<()> {
    let (product, channel) = scope(row);
    insert(
        conn,
        NewChangeRow {
            table_name: table.as_str(),
            object_key: key,
            changed_by,
            changed_at: at,
            data_version: Some(data_version),
            row_data: Some(row_text(row)?),
            product,
            channel,
        },
    )
}

/// A delete: a key-only marker. `last` is the object as it was, for the event.
pub(crate) fn record_delete(
    conn: &mut AnyConnection,
    table: ChangeTable,
    key: &str,
    changed_by: &str,
    at: i64,
    last: &Value,
) -> StorageResult<()> {
    let (product, channel) = scope(last);
    insert(
        conn,
        NewChangeRow {
            table_name: table.as_str(),
            object_key: key,
            changed_by,
            changed_at: at,
            data_version: None,
            row_data: None,
            product,
            channel,
        },
    )?;
    emit_change(table, Verb::Deleted, changed_by, last)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Created,
    Updated,
    Deleted,
}

/// The event of a history record: every recorded Balrog change is one, with the row as the
/// Balrog face shows it. A named release's blob stays out (blobs run to megabytes; the event
/// says which release changed and its new data_version, and the blob is one GET away).
fn emit_change(table: ChangeTable, verb: Verb, changed_by: &str, row: &Value) -> StorageResult<()> {
    let kind = match (table, verb) {
        // Scheduled changes emit their own events (`scheduled_change.*`, `scheduled.rs`), which
        // say more than created/updated/deleted.
        (ChangeTable::ScheduledChanges, _) => return Ok(()),
        (ChangeTable::Rules, Verb::Created) => "rule.created",
        (ChangeTable::Rules, Verb::Updated) => "rule.updated",
        (ChangeTable::Rules, Verb::Deleted) => "rule.deleted",
        (ChangeTable::Releases, Verb::Created) => "named_release.created",
        (ChangeTable::Releases, Verb::Updated) => "named_release.updated",
        (ChangeTable::Releases, Verb::Deleted) => "named_release.deleted",
        (ChangeTable::EmergencyShutoffs, Verb::Deleted) => "emergency_shutoff.deleted",
        (ChangeTable::EmergencyShutoffs, _) => "emergency_shutoff.created",
        (ChangeTable::Permissions, _) => "permission.changed",
        (ChangeTable::Roles, _) => "role.changed",
        (ChangeTable::RequiredSignoffsProduct | ChangeTable::RequiredSignoffsPermissions, _) => {
            "required_signoff.changed"
        }
        (ChangeTable::PinnableReleases, Verb::Created) => "pinnable_release.created",
        // Pins are never deleted (no API does it), only set again.
        (ChangeTable::PinnableReleases, _) => "pinnable_release.updated",
    };
    let text = |field: &str| row.get(field).and_then(Value::as_str);
    let mut tags = Tags::new()
        .with_opt("product", text("product"))
        .with_opt("channel", text("channel"));
    let mut data = row.clone();
    match table {
        ChangeTable::Releases => {
            if let Some(object) = data.as_object_mut() {
                object.remove("data");
            }
        }
        ChangeTable::Permissions => {
            let products = row
                .pointer("/options/products")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            tags = tags.with_all("product", products);
            if let Some(object) = data.as_object_mut() {
                let change = match verb {
                    Verb::Created => "granted",
                    Verb::Updated => "updated",
                    Verb::Deleted => "revoked",
                };
                object.insert("change".to_owned(), Value::from(change));
            }
        }
        ChangeTable::Roles => insert_change(&mut data, verb, ["granted", "granted", "revoked"]),
        ChangeTable::RequiredSignoffsProduct | ChangeTable::RequiredSignoffsPermissions => {
            insert_change(&mut data, verb, ["created", "updated", "deleted"]);
            if let Some(object) = data.as_object_mut() {
                object.insert("table".to_owned(), Value::from(table.as_str()));
            }
        }
        ChangeTable::Rules
        | ChangeTable::EmergencyShutoffs
        | ChangeTable::ScheduledChanges
        | ChangeTable::PinnableReleases => {}
    }
    emit(kind, Some(changed_by), &data, tags)
}

/// Adds `change` (what happened, in the words of `names`: created, updated, deleted) to an
/// event whose type alone does not say it.
fn insert_change(data: &mut Value, verb: Verb, names: [&str; 3]) {
    let name = match verb {
        Verb::Created => names[0],
        Verb::Updated => names[1],
        Verb::Deleted => names[2],
    };
    if let Some(object) = data.as_object_mut() {
        object.insert("change".to_owned(), Value::from(name));
    }
}

/// The newest record of `key` at `data_version` (the ancestor of a 3-way merge).
pub(crate) fn record_at_version(
    conn: &mut AnyConnection,
    table: ChangeTable,
    key: &str,
    data_version: i64,
) -> StorageResult<Option<Change>> {
    changes::table
        .filter(changes::table_name.eq(table.as_str()))
        .filter(changes::object_key.eq(key))
        .filter(changes::data_version.eq(data_version))
        .order(changes::change_id.desc())
        .select(ChangeRow::as_select())
        .first(conn)
        .optional()?
        .map(ChangeRow::into_domain)
        .transpose()
}

pub(crate) fn find_change(
    conn: &mut AnyConnection,
    table: ChangeTable,
    change_id: i64,
) -> StorageResult<Option<Change>> {
    changes::table
        .filter(changes::change_id.eq(change_id))
        .filter(changes::table_name.eq(table.as_str()))
        .select(ChangeRow::as_select())
        .first(conn)
        .optional()?
        .map(ChangeRow::into_domain)
        .transpose()
}

/// The row a revert of object `key` to history record `change_id` restores: the record must
/// exist, be of `table` and of this object (`key_name` names the key in the refusal), and hold a
/// row (a deletion marker restores nothing). Rules and releases revert through this one check.
pub(crate) fn revision_to_restore(
    conn: &mut AnyConnection,
    table: ChangeTable,
    change_id: i64,
    key: &str,
    key_name: &'static str,
) -> StorageResult<Value> {
    let change =
        find_change(conn, table, change_id)?.ok_or(BalrogRefusal::ChangeNotFound(change_id))?;
    if change.object_key != key {
        return Err(BalrogRefusal::ChangeOfOtherObject(key_name).into());
    }
    change
        .row
        .ok_or_else(|| BalrogRefusal::ChangeNotFound(change_id).into())
}

impl Store {
    /// One history record of a table, by id.
    pub fn find_change(&self, table: ChangeTable, change_id: i64) -> StorageResult<Option<Change>> {
        self.read(|conn| find_change(conn, table, change_id))
    }

    /// The revision of the same object before `change` (markers skipped), if any.
    pub fn previous_change(&self, change: &Change) -> StorageResult<Option<Change>> {
        self.read(|conn| {
            changes::table
                .filter(changes::table_name.eq(change.table.as_str()))
                .filter(changes::object_key.eq(&change.object_key))
                .filter(changes::change_id.lt(change.change_id))
                .filter(changes::data_version.is_not_null())
                .order(changes::change_id.desc())
                .select(ChangeRow::as_select())
                .first(conn)
                .optional()?
                .map(ChangeRow::into_domain)
                .transpose()
        })
    }

    /// An object's revisions (markers left out), newest first: `limit` of them after skipping
    /// `offset`, with the total count.
    pub fn list_revisions(
        &self,
        table: ChangeTable,
        key: &str,
        limit: i64,
        offset: i64,
    ) -> StorageResult<Revisions> {
        self.read(|conn| {
            let of_object = changes::table
                .filter(changes::table_name.eq(table.as_str()))
                .filter(changes::object_key.eq(key))
                .filter(changes::data_version.is_not_null());
            let total: i64 = of_object.count().get_result(conn)?;
            let rows: Vec<ChangeRow> = of_object
                .order(changes::change_id.desc())
                .limit(limit)
                .offset(offset)
                .select(ChangeRow::as_select())
                .load(conn)?;
            Ok(Revisions {
                total,
                changes: rows
                    .into_iter()
                    .map(ChangeRow::into_domain)
                    .collect::<StorageResult<_>>()?,
            })
        })
    }
}
