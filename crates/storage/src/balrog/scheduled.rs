//! Scheduled changes in SQL: scheduling (validated against the target exactly as the direct
//! write would be, in the same transaction that stores the change), editing and deleting them,
//! signoffs, and enacting — by hand or by the scheduler — as one transaction that applies the
//! change through the same inner writes the direct endpoints use, records history, marks the
//! change complete and emits its event.
//!
//! Exactly once: an enactment locks its change's row (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! SQLite has one writer) and re-reads it as pending before applying; the commit that applies it
//! also marks it complete. A change that can no longer apply (its target moved on, a unique
//! conflict) is rolled back and then marked failed with the reason, in a second transaction
//! under the same lock, so it is never tried again.

use diesel::prelude::*;
use serde_json::{json, Map, Value};
use shiplog_domain::balrog::named_release::validate_blob;
use shiplog_domain::balrog::{
    BlobEdit, ChangeTable, ChangeType, Condition, EmergencyShutoff, Outcome, RuleChanges,
    RuleFields, RuleRef, ScTable, ScheduledChange, Signoff, Telemetry,
};
use shiplog_domain::{PermissionName, PermissionOptions, UserName};

use super::evaluation::{delete_shutoff, find_shutoff, insert_shutoff};
use super::governance::{
    delete_required_signoff, insert_required_signoff, update_required_signoff, RequiredSignoffInput,
};
use super::history::{record_delete, record_insert, record_update};
use super::named_releases::{
    apply_edit, check_schema as check_blob_schema, delete_release_in, insert as insert_release,
    load as load_release, Columns,
};
use super::refusal::BalrogRefusal;
use super::rules::{check_new_rule, check_rule_update, delete_rule_in, insert_rule, load_rule};
use super::sc_required::{
    check_signoffs, required_json, required_signoffs, user_holds_role, Required,
};
use super::writer::Writer;
use crate::connection::{on_backend, AnyConnection, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::{emit, Tags};
use crate::identity::{
    delete_permission_in, find_permission, insert_permission, permission_key, update_permission,
    StoredPermission,
};
use crate::schema::{scheduled_change_signoffs, scheduled_changes};

/// What a scheduled change will do, typed per table; the API reads it from the request.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduledTarget {
    /// A new rule with these columns.
    RuleInsert(Box<RuleFields>),
    /// These columns of rule `rule_id`, read at `data_version`.
    RuleUpdate {
        rule_id: i64,
        data_version: i64,
        changes: RuleChanges,
    },
    /// Deleting rule `rule_id`, read at `data_version`.
    RuleDelete { rule_id: i64, data_version: i64 },
    /// Putting this shutoff in place.
    ShutoffInsert(EmergencyShutoff),
    /// Lifting the shutoff of `product`/`channel`, read at `data_version`.
    ShutoffDelete {
        product: String,
        channel: String,
        data_version: i64,
    },
    /// A new required-signoff row (`channel` set: the product table).
    RequiredSignoffInsert(RequiredSignoffInput),
    /// A new `signoffs_required` for a row read at `data_version`.
    RequiredSignoffUpdate {
        input: RequiredSignoffInput,
        data_version: i64,
    },
    /// Deleting a required-signoff row read at `data_version`.
    RequiredSignoffDelete {
        input: RequiredSignoffInput,
        data_version: i64,
    },
    /// A new named release (`data` is its blob).
    ReleaseInsert {
        name: String,
        product: String,
        data: Value,
    },
    /// Release `name` read at `data_version`, as it will be: its product, blob and flag.
    ReleaseUpdate {
        name: String,
        product: String,
        data: Value,
        read_only: bool,
        data_version: i64,
    },
    /// Deleting release `name`, read at `data_version`.
    ReleaseDelete { name: String, data_version: i64 },
    /// Granting `username` a permission they do not hold yet.
    PermissionInsert {
        username: UserName,
        permission: PermissionName,
        options: PermissionOptions,
    },
    /// New options for a permission read at `data_version`.
    PermissionUpdate {
        username: UserName,
        permission: PermissionName,
        options: PermissionOptions,
        data_version: i64,
    },
    /// Taking a permission read at `data_version` away.
    PermissionDelete {
        username: UserName,
        permission: PermissionName,
        data_version: i64,
    },
}

fn required_signoff_table(input: &RequiredSignoffInput) -> ScTable {
    match input.channel {
        Some(_) => ScTable::RequiredSignoffsProduct,
        None => ScTable::RequiredSignoffsPermissions,
    }
}

impl ScheduledTarget {
    /// The table the change belongs to.
    pub fn table(&self) -> ScTable {
        match self {
            ScheduledTarget::RuleInsert(_)
            | ScheduledTarget::RuleUpdate { .. }
            | ScheduledTarget::RuleDelete { .. } => ScTable::Rules,
            ScheduledTarget::ShutoffInsert(_) | ScheduledTarget::ShutoffDelete { .. } => {
                ScTable::EmergencyShutoff
            }
            ScheduledTarget::RequiredSignoffInsert(input)
            | ScheduledTarget::RequiredSignoffUpdate { input, .. }
            | ScheduledTarget::RequiredSignoffDelete { input, .. } => required_signoff_table(input),
            ScheduledTarget::ReleaseInsert { .. }
            | ScheduledTarget::ReleaseUpdate { .. }
            | ScheduledTarget::ReleaseDelete { .. } => ScTable::Releases,
            ScheduledTarget::PermissionInsert { .. }
            | ScheduledTarget::PermissionUpdate { .. }
            | ScheduledTarget::PermissionDelete { .. } => ScTable::Permissions,
        }
    }

    pub fn change_type(&self) -> ChangeType {
        match self {
            ScheduledTarget::RuleInsert(_)
            | ScheduledTarget::ShutoffInsert(_)
            | ScheduledTarget::RequiredSignoffInsert(_)
            | ScheduledTarget::ReleaseInsert { .. }
            | ScheduledTarget::PermissionInsert { .. } => ChangeType::Insert,
            ScheduledTarget::RuleUpdate { .. }
            | ScheduledTarget::RequiredSignoffUpdate { .. }
            | ScheduledTarget::ReleaseUpdate { .. }
            | ScheduledTarget::PermissionUpdate { .. } => ChangeType::Update,
            ScheduledTarget::RuleDelete { .. }
            | ScheduledTarget::ShutoffDelete { .. }
            | ScheduledTarget::RequiredSignoffDelete { .. }
            | ScheduledTarget::ReleaseDelete { .. }
            | ScheduledTarget::PermissionDelete { .. } => ChangeType::Delete,
        }
    }
}

/// Why a scheduled-change operation was refused; the API gives each Balrog's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduledRefusal {
    #[error("scheduled change {0} does not exist")]
    NotFound(i64),
    #[error("the row already has a pending scheduled change")]
    ChangeScheduled,
    #[error("the row has a pending scheduled change this update cannot merge into")]
    UpdateMerge,
    #[error("outdated sc_data_version")]
    Outdated,
    #[error("scheduled change {0} is already complete")]
    Complete(i64),
    #[error("{0}")]
    Invalid(String),
    #[error("{user} does not hold role {role}")]
    RoleNotHeld { user: String, role: String },
    #[error("{0} has already signed off this change")]
    AlreadySigned(String),
    #[error("{0} has not signed off this change")]
    NotSigned(String),
}

/// How an enactment ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Enactment {
    /// Applied; the change as it now is.
    Enacted(ScheduledChange),
    /// Could not apply; marked failed with the reason.
    Failed(ScheduledChange),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = scheduled_changes)]
struct ScRow {
    sc_id: i64,
    table_name: String,
    change_type: String,
    object_key: Option<String>,
    base_row: String,
    base_data_version: Option<i64>,
    when_ms: Option<i64>,
    telemetry_product: Option<String>,
    telemetry_channel: Option<String>,
    telemetry_uptake: Option<i64>,
    scheduled_by: String,
    created_at: i64,
    complete: bool,
    sc_data_version: i64,
    enacted_at: Option<i64>,
    enacted_by: Option<String>,
    failed_at: Option<i64>,
    failure: Option<String>,
}

impl ScRow {
    fn into_domain(self, signoffs: Vec<Signoff>) -> StorageResult<ScheduledChange> {
        let corrupt = |what: &str| StorageError::Corrupt(format!("scheduled change: {what}"));
        let table = ScTable::parse(&self.table_name).ok_or_else(|| corrupt("table"))?;
        let change_type =
            ChangeType::parse(&self.change_type).map_err(|_| corrupt("change_type"))?;
        let base = match serde_json::from_str(&self.base_row) {
            Ok(Value::Object(map)) => map,
            _ => return Err(corrupt("base_row")),
        };
        let condition = match (self.when_ms, self.telemetry_product) {
            (Some(at), _) => Condition::When(at),
            (None, Some(product)) => Condition::Telemetry(Telemetry {
                product,
                channel: self.telemetry_channel.unwrap_or_default(),
                uptake: self.telemetry_uptake.unwrap_or_default(),
            }),
            (None, None) => return Err(corrupt("condition")),
        };
        let outcome = match (self.enacted_at, self.failed_at) {
            (Some(at), _) => Some(Outcome::Enacted {
                at,
                by: self.enacted_by.unwrap_or_default(),
            }),
            (None, Some(at)) => Some(Outcome::Failed {
                at,
                reason: self.failure.unwrap_or_default(),
            }),
            (None, None) => None,
        };
        Ok(ScheduledChange {
            sc_id: self.sc_id,
            table,
            change_type,
            object_key: self.object_key,
            base,
            data_version: self.base_data_version,
            condition,
            scheduled_by: self.scheduled_by,
            created_at: self.created_at,
            complete: self.complete,
            sc_data_version: self.sc_data_version,
            outcome,
            signoffs,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = scheduled_changes, treat_none_as_default_value = false)]
struct NewScRow<'a> {
    table_name: &'a str,
    change_type: &'a str,
    object_key: Option<&'a str>,
    base_row: String,
    base_data_version: Option<i64>,
    when_ms: Option<i64>,
    telemetry_product: Option<&'a str>,
    telemetry_channel: Option<&'a str>,
    telemetry_uptake: Option<i64>,
    scheduled_by: &'a str,
    created_at: i64,
    complete: bool,
    sc_data_version: i64,
}

fn signoffs_of(conn: &mut AnyConnection, sc_id: i64) -> StorageResult<Vec<Signoff>> {
    let rows: Vec<(String, String, i64)> = scheduled_change_signoffs::table
        .filter(scheduled_change_signoffs::sc_id.eq(sc_id))
        .order(scheduled_change_signoffs::username)
        .select((
            scheduled_change_signoffs::username,
            scheduled_change_signoffs::role,
            scheduled_change_signoffs::signed_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(username, role, signed_at)| Signoff {
            username,
            role,
            signed_at,
        })
        .collect())
}

/// The change `sc_id` of `table` (`None`: no such change in that table).
fn load(
    conn: &mut AnyConnection,
    table: ScTable,
    sc_id: i64,
) -> StorageResult<Option<ScheduledChange>> {
    let row: Option<ScRow> = scheduled_changes::table
        .filter(scheduled_changes::sc_id.eq(sc_id))
        .filter(scheduled_changes::table_name.eq(table.as_str()))
        .select(ScRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        Some(row) => {
            let signoffs = signoffs_of(conn, row.sc_id)?;
            row.into_domain(signoffs).map(Some)
        }
        None => Ok(None),
    }
}

fn load_existing(
    conn: &mut AnyConnection,
    table: ScTable,
    sc_id: i64,
) -> StorageResult<ScheduledChange> {
    load(conn, table, sc_id)?.ok_or_else(|| ScheduledRefusal::NotFound(sc_id).into())
}

/// Locks the change's row for this transaction and reads it, if it is still pending. On
/// PostgreSQL a row another transaction holds is skipped (`None`): that one is enacting it.
fn lock_pending(
    conn: &mut AnyConnection,
    table: ScTable,
    sc_id: i64,
) -> StorageResult<Option<ScheduledChange>> {
    // A macro, not a closure: `as_select` takes its backend from the connection it runs on.
    macro_rules! query {
        () => {
            scheduled_changes::table
                .filter(scheduled_changes::sc_id.eq(sc_id))
                .filter(scheduled_changes::table_name.eq(table.as_str()))
                .filter(scheduled_changes::complete.eq(false))
                .select(ScRow::as_select())
        };
    }
    let row: Option<ScRow> = match conn {
        AnyConnection::Postgresql(c) => query!().for_update().skip_locked().first(c).optional()?,
        // BEGIN IMMEDIATE holds the one write lock already.
        AnyConnection::Sqlite(c) => query!().first(c).optional()?,
    };
    match row {
        Some(row) => {
            let signoffs = signoffs_of(conn, row.sc_id)?;
            row.into_domain(signoffs).map(Some)
        }
        None => Ok(None),
    }
}

/// Refuses a direct delete (or an update that cannot be merged) of a row that has a pending
/// scheduled change: Balrog's ChangeScheduledError.
pub(crate) fn refuse_if_pending(
    conn: &mut AnyConnection,
    table: ScTable,
    key: &str,
) -> StorageResult<()> {
    if pending_for(conn, table, key)? {
        return Err(ScheduledRefusal::ChangeScheduled.into());
    }
    Ok(())
}

/// Refuses a direct update of a row with a pending scheduled change. Balrog tries to merge the
/// update into the pending change; shiplog keeps the pending change as it was signed off and
/// answers UpdateMergeError, so what was signed is what is enacted.
pub(crate) fn refuse_update_if_pending(
    conn: &mut AnyConnection,
    table: ScTable,
    key: &str,
) -> StorageResult<()> {
    if pending_for(conn, table, key)? {
        return Err(ScheduledRefusal::UpdateMerge.into());
    }
    Ok(())
}

fn pending_for(conn: &mut AnyConnection, table: ScTable, key: &str) -> StorageResult<bool> {
    let found: Option<i64> = scheduled_changes::table
        .filter(scheduled_changes::table_name.eq(table.as_str()))
        .filter(scheduled_changes::object_key.eq(key))
        .filter(scheduled_changes::complete.eq(false))
        .select(scheduled_changes::sc_id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The row key a change targets (`None` for a rule insert), its base row, and the target's
/// data_version.
type Prepared = (Option<String>, Map<String, Value>, Option<i64>);

/// Checks `target` against the stored data as its direct write would, and gives the row key,
/// the base row to store and the target's data_version.
fn prepare(conn: &mut AnyConnection, target: &ScheduledTarget) -> StorageResult<Prepared> {
    let object = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Ok(match target {
        ScheduledTarget::RuleInsert(fields) => {
            check_new_rule(conn, fields)?;
            let mut base = object(serde_json::to_value(&**fields).unwrap_or(Value::Null));
            base.insert("rule_id".into(), Value::Null);
            (None, base, None)
        }
        ScheduledTarget::RuleUpdate {
            rule_id,
            data_version,
            changes,
        } => {
            let rule = check_rule_update(conn, *rule_id, *data_version, changes)?;
            (
                Some(rule_id.to_string()),
                object(rule.to_json()),
                Some(*data_version),
            )
        }
        ScheduledTarget::RuleDelete {
            rule_id,
            data_version,
        } => {
            let current = load_rule(conn, &RuleRef::Id(*rule_id))?
                .ok_or_else(|| BalrogRefusal::RuleNotFound(rule_id.to_string()))?;
            if current.data_version != *data_version {
                return Err(BalrogRefusal::Outdated.into());
            }
            let mut base = Map::new();
            base.insert("rule_id".into(), json!(rule_id));
            base.insert("product".into(), json!(current.fields.product));
            base.insert("channel".into(), json!(current.fields.channel));
            (Some(rule_id.to_string()), base, Some(*data_version))
        }
        ScheduledTarget::ShutoffInsert(shutoff) => {
            if find_shutoff(conn, &shutoff.product, &shutoff.channel)?.is_some() {
                return Err(BalrogRefusal::ShutoffExists {
                    product: shutoff.product.clone(),
                    channel: shutoff.channel.clone(),
                }
                .into());
            }
            let mut base = object(shutoff.to_json());
            base.remove("data_version");
            (Some(shutoff.key()), base, None)
        }
        ScheduledTarget::ShutoffDelete {
            product,
            channel,
            data_version,
        } => {
            let current = find_shutoff(conn, product, channel)?.ok_or_else(|| {
                BalrogRefusal::ShutoffNotFound {
                    product: product.clone(),
                    channel: channel.clone(),
                }
            })?;
            if current.data_version != *data_version {
                return Err(BalrogRefusal::Outdated.into());
            }
            let mut base = object(current.to_json());
            base.remove("data_version");
            (Some(current.key()), base, Some(*data_version))
        }
        ScheduledTarget::RequiredSignoffInsert(input) => {
            // The governance writes check the row, its data_version and the holders of the
            // role; run exactly them, and roll them back.
            dry_run(conn, |conn| {
                insert_required_signoff(conn, input, Writer::from("dry-run"))
            })?;
            (Some(input.key()), required_signoff_base(input), None)
        }
        ScheduledTarget::RequiredSignoffUpdate {
            input,
            data_version,
        } => {
            dry_run(conn, |conn| {
                update_required_signoff(conn, input, *data_version, Writer::from("dry-run"))
                    .map(|_| ())
            })?;
            (
                Some(input.key()),
                required_signoff_base(input),
                Some(*data_version),
            )
        }
        ScheduledTarget::RequiredSignoffDelete {
            input,
            data_version,
        } => {
            dry_run(conn, |conn| {
                delete_required_signoff(conn, input, *data_version, Writer::from("dry-run"))
            })?;
            (
                Some(input.key()),
                required_signoff_base(input),
                Some(*data_version),
            )
        }
        ScheduledTarget::ReleaseInsert {
            name,
            product,
            data,
        } => {
            if load_release(conn, name)?.is_some() {
                return Err(BalrogRefusal::ReleaseExists(name.clone()).into());
            }
            validate_blob(name, data)?;
            check_blob_schema(data)?;
            (
                Some(name.clone()),
                release_base(name, product, data, false),
                None,
            )
        }
        ScheduledTarget::ReleaseUpdate {
            name,
            product,
            data,
            read_only,
            data_version,
        } => {
            let current = load_release(conn, name)?
                .ok_or_else(|| BalrogRefusal::ReleaseNotFound(name.clone()))?;
            if current.data_version != *data_version {
                return Err(BalrogRefusal::Outdated.into());
            }
            // The write itself, rolled back: read-only, the blob's name and schema.
            dry_run(conn, |conn| {
                apply_edit(
                    conn,
                    name,
                    *data_version,
                    Columns {
                        product: Some(product),
                        read_only: Some(*read_only),
                    },
                    &BlobEdit::Replace(data.clone()),
                    Writer::from("dry-run"),
                    0,
                )
                .map(|_| ())
            })?;
            (
                Some(name.clone()),
                release_base(name, product, data, *read_only),
                Some(*data_version),
            )
        }
        ScheduledTarget::ReleaseDelete { name, data_version } => {
            let current = load_release(conn, name)?
                .ok_or_else(|| BalrogRefusal::ReleaseNotFound(name.clone()))?;
            // Outdated, read-only, still mapped by a rule: refused now as the delete would be.
            dry_run(conn, |conn| {
                delete_release_in(conn, name, *data_version, Writer::from("dry-run"), 0)
            })?;
            let mut base = Map::new();
            base.insert("name".into(), json!(name));
            base.insert("product".into(), json!(current.product));
            (Some(name.clone()), base, Some(*data_version))
        }
        ScheduledTarget::PermissionInsert {
            username,
            permission,
            options,
        } => {
            if find_permission(conn, username, *permission)?.is_some() {
                return Err(BalrogRefusal::Invalid(format!(
                    "{username} already holds permission {permission}; schedule an update"
                ))
                .into());
            }
            (
                Some(permission_key(username, *permission)),
                permission_base(username, *permission, options),
                None,
            )
        }
        ScheduledTarget::PermissionUpdate {
            username,
            permission,
            options,
            data_version,
        } => {
            current_permission(conn, username, *permission, *data_version)?;
            (
                Some(permission_key(username, *permission)),
                permission_base(username, *permission, options),
                Some(*data_version),
            )
        }
        ScheduledTarget::PermissionDelete {
            username,
            permission,
            data_version,
        } => {
            let current = current_permission(conn, username, *permission, *data_version)?;
            (
                Some(permission_key(username, *permission)),
                permission_base(username, *permission, &current.options),
                Some(*data_version),
            )
        }
    })
}

/// The permission a change updates or deletes, refused when it is gone or has moved on.
fn current_permission(
    conn: &mut AnyConnection,
    username: &UserName,
    permission: PermissionName,
    data_version: i64,
) -> StorageResult<StoredPermission> {
    let current = find_permission(conn, username, permission)?
        .ok_or_else(|| BalrogRefusal::PermissionNotFound(permission_key(username, permission)))?;
    if current.data_version != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    Ok(current)
}

/// The base row of a release change, as Balrog shows it: name, product, the blob as `data`,
/// the read-only flag.
fn release_base(name: &str, product: &str, data: &Value, read_only: bool) -> Map<String, Value> {
    let mut base = Map::new();
    base.insert("name".into(), json!(name));
    base.insert("product".into(), json!(product));
    base.insert("data".into(), data.clone());
    base.insert("read_only".into(), json!(read_only));
    base
}

/// The base row of a permission change: permission, username, options.
fn permission_base(
    username: &UserName,
    permission: PermissionName,
    options: &PermissionOptions,
) -> Map<String, Value> {
    let mut base = Map::new();
    base.insert("permission".into(), json!(permission.as_str()));
    base.insert("username".into(), json!(username.as_str()));
    base.insert("options".into(), options.to_json());
    base
}

/// The user, permission and options a permission change's base row names.
pub(crate) fn permission_of(
    base: &Map<String, Value>,
) -> StorageResult<(UserName, PermissionName, PermissionOptions)> {
    let corrupt =
        |what: &str| StorageError::Corrupt(format!("scheduled permission change: {what}"));
    let text = |key: &str| base.get(key).and_then(Value::as_str).unwrap_or_default();
    let username = UserName::parse(text("username")).map_err(|_| corrupt("username"))?;
    let permission =
        PermissionName::parse(text("permission")).ok_or_else(|| corrupt("permission"))?;
    let options = PermissionOptions::parse(permission, base.get("options").unwrap_or(&Value::Null))
        .map_err(|_| corrupt("options"))?;
    Ok((username, permission, options))
}

/// The base row of a required-signoff change, as `/api/required_signoffs/…` shows the row.
fn required_signoff_base(input: &RequiredSignoffInput) -> Map<String, Value> {
    let mut base = Map::new();
    base.insert("product".into(), json!(input.product));
    if let Some(channel) = &input.channel {
        base.insert("channel".into(), json!(channel));
    }
    base.insert("role".into(), json!(input.role));
    base.insert("signoffs_required".into(), json!(input.signoffs_required));
    base
}

/// The required-signoff row a change's base describes.
pub(crate) fn required_signoff_input(
    table: ScTable,
    base: &Map<String, Value>,
) -> RequiredSignoffInput {
    let text = |key: &str| {
        base.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    RequiredSignoffInput {
        product: text("product"),
        channel: (table == ScTable::RequiredSignoffsProduct).then(|| text("channel")),
        role: text("role"),
        signoffs_required: base
            .get("signoffs_required")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
    }
}

/// Runs `write` inside a savepoint and rolls it back whatever it did, events included: checks a
/// change exactly as its direct write would, without making it.
fn dry_run(
    conn: &mut AnyConnection,
    write: impl FnOnce(&mut AnyConnection) -> StorageResult<()>,
) -> StorageResult<()> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let mark = crate::events::mark();
    match conn {
        AnyConnection::Postgresql(inner) => AnsiTransactionManager::begin_transaction(inner)?,
        AnyConnection::Sqlite(inner) => AnsiTransactionManager::begin_transaction(inner)?,
    }
    let result = write(conn);
    match conn {
        AnyConnection::Postgresql(inner) => AnsiTransactionManager::rollback_transaction(inner)?,
        AnyConnection::Sqlite(inner) => AnsiTransactionManager::rollback_transaction(inner)?,
    }
    crate::events::truncate(mark);
    result
}

/// The history key of a scheduled change.
fn history_key(change: &ScheduledChange) -> String {
    format!("{}/{}", change.table.as_str(), change.sc_id)
}

/// The event tags of a change, as its table's own events have them: product and channel, and
/// for a permission each product its options name.
fn tags_of(change: &ScheduledChange) -> Tags {
    let text = |key: &str| change.base.get(key).and_then(Value::as_str);
    let permission_products = change
        .base
        .get("options")
        .and_then(|options| options.get("products"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    Tags::new()
        .with_opt("product", text("product"))
        .with_opt("channel", text("channel"))
        .with_all("product", permission_products)
}

/// The event body: the change as the API shows it, with `table`. A release's blob is left
/// out, as the release's own events leave it out: it can be megabytes.
fn event_body(change: &ScheduledChange, required: &Required) -> Value {
    let mut body = change.to_json(&required_json(required));
    if let Value::Object(map) = &mut body {
        map.insert("table".into(), json!(change.table.as_str()));
        if change.table == ScTable::Releases {
            map.remove("data");
        }
    }
    body
}

fn unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Whether a failed application means the change can never apply as it stands (so it is marked
/// failed), rather than a passing failure of the database (so it is tried again).
fn cannot_apply(err: &StorageError) -> Option<String> {
    match err {
        StorageError::Balrog(refusal) => Some(refusal.to_string()),
        StorageError::Refused(domain) => Some(domain.to_string()),
        StorageError::Denied(denied) => Some(denied.to_string()),
        StorageError::Scheduled(refusal) => Some(refusal.to_string()),
        StorageError::Backend(e) if unique_violation(e) => Some(e.to_string()),
        _ => None,
    }
}

/// Applies the change's base row to its table, as `scheduled_by` (Balrog records the scheduler
/// of a change as the author of what it enacts).
fn apply(conn: &mut AnyConnection, change: &ScheduledChange, at: i64) -> StorageResult<()> {
    let writer = Writer::from(change.scheduled_by.as_str());
    let data_version = || {
        change
            .data_version
            .ok_or_else(|| StorageError::Corrupt("scheduled change without data_version".into()))
    };
    let text = |key: &str| -> String {
        change
            .base
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let rule_id = || {
        change
            .base
            .get("rule_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| StorageError::Corrupt("scheduled rule change without rule_id".into()))
    };
    match (change.table, change.change_type) {
        (ScTable::Rules, ChangeType::Insert) => {
            let fields = rule_fields(&change.base)?;
            insert_rule(conn, &fields, writer, at)?;
        }
        (ScTable::Rules, ChangeType::Update) => {
            let fields = rule_fields(&change.base)?;
            let changes = RuleChanges::from_fields(&fields);
            super::rules::update_rule(
                conn,
                &RuleRef::Id(rule_id()?),
                data_version()?,
                &changes,
                writer,
                at,
            )?;
        }
        (ScTable::Rules, ChangeType::Delete) => {
            delete_rule_in(conn, &RuleRef::Id(rule_id()?), data_version()?, writer, at)?;
        }
        (ScTable::EmergencyShutoff, ChangeType::Insert) => {
            let comment = change.base.get("comment").and_then(Value::as_str);
            let shutoff = EmergencyShutoff::new(&text("product"), &text("channel"), comment)?;
            insert_shutoff(conn, &shutoff, writer.name, at)?;
        }
        (ScTable::EmergencyShutoff, ChangeType::Delete) => {
            delete_shutoff(
                conn,
                &text("product"),
                &text("channel"),
                data_version()?,
                writer,
                at,
            )?;
        }
        (ScTable::RequiredSignoffsProduct | ScTable::RequiredSignoffsPermissions, kind) => {
            let input = required_signoff_input(change.table, &change.base);
            match kind {
                ChangeType::Insert => insert_required_signoff(conn, &input, writer)?,
                ChangeType::Update => {
                    update_required_signoff(conn, &input, data_version()?, writer)?;
                }
                ChangeType::Delete => {
                    delete_required_signoff(conn, &input, data_version()?, writer)?
                }
            }
        }
        (ScTable::Releases, ChangeType::Insert) => {
            let data = change.base.get("data").cloned().unwrap_or(Value::Null);
            check_blob_schema(&data)?;
            insert_release(conn, &text("name"), &text("product"), data, writer.name, at)?;
        }
        (ScTable::Releases, ChangeType::Update) => {
            let data = change.base.get("data").cloned().unwrap_or(Value::Null);
            let read_only = change.base.get("read_only").and_then(Value::as_bool);
            apply_edit(
                conn,
                &text("name"),
                data_version()?,
                Columns {
                    product: Some(&text("product")),
                    read_only,
                },
                &BlobEdit::Replace(data),
                writer,
                at,
            )?;
        }
        (ScTable::Releases, ChangeType::Delete) => {
            delete_release_in(conn, &text("name"), data_version()?, writer, at)?;
        }
        (ScTable::Permissions, kind) => {
            let (username, permission, options) = permission_of(&change.base)?;
            let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            match kind {
                ChangeType::Insert => {
                    insert_permission(conn, &username, permission, &options, writer.name, now)?
                }
                ChangeType::Update => {
                    update_permission(
                        conn,
                        &username,
                        permission,
                        &options,
                        data_version()?,
                        writer.name,
                        now,
                    )?;
                }
                ChangeType::Delete => {
                    delete_permission_in(conn, &username, permission, data_version()?, writer, now)?
                }
            }
        }
        (ScTable::EmergencyShutoff, ChangeType::Update) => {
            return Err(ScheduledRefusal::Invalid(
                "emergency shutoffs are not updated, only put in place or lifted".into(),
            )
            .into())
        }
    }
    Ok(())
}

fn rule_fields(base: &Map<String, Value>) -> StorageResult<RuleFields> {
    let mut row = base.clone();
    row.remove("rule_id");
    row.remove("data_version");
    serde_json::from_value(Value::Object(row))
        .map_err(|e| StorageError::Corrupt(format!("scheduled rule change: {e}")))
}

/// Marks a locked, pending change complete with `outcome` and records it.
fn complete(
    conn: &mut AnyConnection,
    mut change: ScheduledChange,
    outcome: Outcome,
    changed_by: &str,
    at: i64,
    required: &Required,
) -> StorageResult<ScheduledChange> {
    let (enacted_at, enacted_by, failed_at, failure) = match &outcome {
        Outcome::Enacted { at, by } => (Some(*at), Some(by.clone()), None, None),
        Outcome::Failed { at, reason } => (None, None, Some(*at), Some(reason.clone())),
    };
    let updated = diesel::update(
        scheduled_changes::table
            .filter(scheduled_changes::sc_id.eq(change.sc_id))
            .filter(scheduled_changes::complete.eq(false)),
    )
    .set((
        scheduled_changes::complete.eq(true),
        scheduled_changes::sc_data_version.eq(change.sc_data_version + 1),
        scheduled_changes::enacted_at.eq(enacted_at),
        scheduled_changes::enacted_by.eq(enacted_by),
        scheduled_changes::failed_at.eq(failed_at),
        scheduled_changes::failure.eq(failure),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(ScheduledRefusal::Complete(change.sc_id).into());
    }
    change.complete = true;
    change.sc_data_version += 1;
    let kind = match outcome {
        Outcome::Enacted { .. } => "scheduled_change.enacted",
        Outcome::Failed { .. } => "scheduled_change.failed",
    };
    change.outcome = Some(outcome);
    record_update(
        conn,
        ChangeTable::ScheduledChanges,
        &history_key(&change),
        changed_by,
        at,
        change.sc_data_version,
        &change.history_row(),
    )?;
    emit(
        kind,
        Some(changed_by),
        &event_body(&change, required),
        tags_of(&change),
    )?;
    Ok(change)
}

impl Store {
    /// Schedules a change after checking it as its direct write would be checked: stores it
    /// (sc_data_version 1) with its history record and `scheduled_change.created` (and
    /// `signoff.required` when it needs signoffs) in one transaction. The scheduler signs it off
    /// at once when they hold exactly one of the roles it needs.
    pub fn schedule_change(
        &self,
        target: &ScheduledTarget,
        condition: &Condition,
        scheduled_by: &str,
        at: i64,
    ) -> StorageResult<(ScheduledChange, Required)> {
        self.write(|conn| {
            let (key, base, data_version) = prepare(conn, target)?;
            let table = target.table();
            if let Some(key) = &key {
                refuse_if_pending(conn, table, key)?;
            }
            let telemetry = condition.telemetry();
            let row = NewScRow {
                table_name: table.as_str(),
                change_type: target.change_type().as_str(),
                object_key: key.as_deref(),
                base_row: Value::Object(base).to_string(),
                base_data_version: data_version,
                when_ms: condition.when(),
                telemetry_product: telemetry.map(|t| t.product.as_str()),
                telemetry_channel: telemetry.map(|t| t.channel.as_str()),
                telemetry_uptake: telemetry.map(|t| t.uptake),
                scheduled_by,
                created_at: at,
                complete: false,
                sc_data_version: 1,
            };
            let statement = diesel::insert_into(scheduled_changes::table).values(&row);
            let inserted = on_backend!(conn, c => statement
                .returning(scheduled_changes::sc_id)
                .get_result::<i64>(c));
            let sc_id = match inserted {
                Ok(id) => id,
                // Another writer scheduled a change for the same row in between.
                Err(e) if unique_violation(&e) => {
                    return Err(ScheduledRefusal::ChangeScheduled.into())
                }
                Err(e) => return Err(e.into()),
            };
            let mut change = load_existing(conn, table, sc_id)?;
            let required = required_signoffs(conn, &change)?;
            // Balrog signs for the scheduler only when the role is unambiguous.
            let held: Vec<String> = required
                .iter()
                .map(|(role, _)| role.to_owned())
                .filter(|role| user_holds_role(conn, scheduled_by, role).unwrap_or(false))
                .collect();
            if let [role] = held.as_slice() {
                add_signoff(conn, sc_id, scheduled_by, role, at)?;
                change.signoffs = signoffs_of(conn, sc_id)?;
            }
            record_insert(
                conn,
                ChangeTable::ScheduledChanges,
                &history_key(&change),
                scheduled_by,
                at,
                1,
                &change.history_row(),
            )?;
            emit(
                "scheduled_change.created",
                Some(scheduled_by),
                &event_body(&change, &required),
                tags_of(&change),
            )?;
            if !required.is_empty() {
                emit(
                    "signoff.required",
                    Some(scheduled_by),
                    &event_body(&change, &required),
                    tags_of(&change),
                )?;
            }
            Ok((change, required))
        })
    }

    /// The changes of `table`, oldest first: pending ones only unless `all`; optionally only
    /// those of one row, by its key (a rule's id, a release's name). Each with the signoffs it
    /// requires.
    pub fn list_scheduled_changes(
        &self,
        table: ScTable,
        all: bool,
        object_key: Option<&str>,
    ) -> StorageResult<Vec<(ScheduledChange, Required)>> {
        self.read(|conn| {
            let mut query = scheduled_changes::table
                .filter(scheduled_changes::table_name.eq(table.as_str()))
                .select(ScRow::as_select())
                .order(scheduled_changes::sc_id)
                .into_boxed();
            if !all {
                query = query.filter(scheduled_changes::complete.eq(false));
            }
            if let Some(key) = object_key {
                query = query.filter(scheduled_changes::object_key.eq(key.to_owned()));
            }
            let rows: Vec<ScRow> = query.load(conn)?;
            rows.into_iter()
                .map(|row| {
                    let signoffs = signoffs_of(conn, row.sc_id)?;
                    let change = row.into_domain(signoffs)?;
                    let required = required_signoffs(conn, &change)?;
                    Ok((change, required))
                })
                .collect()
        })
    }

    /// One change of `table`, with the signoffs it requires.
    pub fn find_scheduled_change(
        &self,
        table: ScTable,
        sc_id: i64,
    ) -> StorageResult<Option<(ScheduledChange, Required)>> {
        self.read(|conn| match load(conn, table, sc_id)? {
            Some(change) => {
                let required = required_signoffs(conn, &change)?;
                Ok(Some((change, required)))
            }
            None => Ok(None),
        })
    }

    /// Replaces a pending change's target and condition, if it is still at `sc_data_version`:
    /// checked like a new change, the editor becomes `scheduled_by` and every other signoff is
    /// cleared (they signed something else).
    pub fn edit_scheduled_change(
        &self,
        sc_id: i64,
        sc_data_version: i64,
        target: &ScheduledTarget,
        condition: &Condition,
        editor: &str,
        at: i64,
    ) -> StorageResult<ScheduledChange> {
        self.write(|conn| {
            let table = target.table();
            let current = load_existing(conn, table, sc_id)?;
            if current.complete {
                return Err(ScheduledRefusal::Complete(sc_id).into());
            }
            if current.sc_data_version != sc_data_version {
                return Err(ScheduledRefusal::Outdated.into());
            }
            if target.change_type() != current.change_type {
                return Err(ScheduledRefusal::Invalid(
                    "The change_type of a scheduled change cannot be changed".into(),
                )
                .into());
            }
            let (key, base, data_version) = prepare(conn, target)?;
            if key != current.object_key {
                return Err(ScheduledRefusal::Invalid(
                    "A scheduled change cannot be moved to another row".into(),
                )
                .into());
            }
            let telemetry = condition.telemetry();
            let updated = diesel::update(
                scheduled_changes::table
                    .filter(scheduled_changes::sc_id.eq(sc_id))
                    .filter(scheduled_changes::sc_data_version.eq(sc_data_version))
                    .filter(scheduled_changes::complete.eq(false)),
            )
            .set((
                scheduled_changes::base_row.eq(Value::Object(base).to_string()),
                scheduled_changes::base_data_version.eq(data_version),
                scheduled_changes::when_ms.eq(condition.when()),
                scheduled_changes::telemetry_product.eq(telemetry.map(|t| t.product.clone())),
                scheduled_changes::telemetry_channel.eq(telemetry.map(|t| t.channel.clone())),
                scheduled_changes::telemetry_uptake.eq(telemetry.map(|t| t.uptake)),
                scheduled_changes::scheduled_by.eq(editor),
                scheduled_changes::sc_data_version.eq(sc_data_version + 1),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(ScheduledRefusal::Outdated.into());
            }
            diesel::delete(
                scheduled_change_signoffs::table
                    .filter(scheduled_change_signoffs::sc_id.eq(sc_id))
                    .filter(scheduled_change_signoffs::username.ne(editor)),
            )
            .execute(conn)?;
            let change = load_existing(conn, table, sc_id)?;
            record_update(
                conn,
                ChangeTable::ScheduledChanges,
                &history_key(&change),
                editor,
                at,
                change.sc_data_version,
                &change.history_row(),
            )?;
            Ok(change)
        })
    }

    /// Deletes a pending change at `sc_data_version`, with its signoffs.
    pub fn delete_scheduled_change(
        &self,
        table: ScTable,
        sc_id: i64,
        sc_data_version: i64,
        deleted_by: &str,
        at: i64,
    ) -> StorageResult<()> {
        self.write(|conn| {
            let current = load_existing(conn, table, sc_id)?;
            if current.complete {
                return Err(ScheduledRefusal::Complete(sc_id).into());
            }
            if current.sc_data_version != sc_data_version {
                return Err(ScheduledRefusal::Outdated.into());
            }
            diesel::delete(
                scheduled_change_signoffs::table.filter(scheduled_change_signoffs::sc_id.eq(sc_id)),
            )
            .execute(conn)?;
            let deleted = diesel::delete(
                scheduled_changes::table
                    .filter(scheduled_changes::sc_id.eq(sc_id))
                    .filter(scheduled_changes::sc_data_version.eq(sc_data_version)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Err(ScheduledRefusal::Outdated.into());
            }
            record_delete(
                conn,
                ChangeTable::ScheduledChanges,
                &history_key(&current),
                deleted_by,
                at,
                &current.history_row(),
            )
        })
    }

    /// Signs a pending change off as `user` with `role`, which they must hold; one role per
    /// user per change.
    pub fn sign_off(
        &self,
        table: ScTable,
        sc_id: i64,
        user: &str,
        role: &str,
        at: i64,
    ) -> StorageResult<ScheduledChange> {
        self.write(|conn| {
            let current = load_existing(conn, table, sc_id)?;
            if current.complete {
                return Err(ScheduledRefusal::Complete(sc_id).into());
            }
            if !user_holds_role(conn, user, role)? {
                return Err(ScheduledRefusal::RoleNotHeld {
                    user: user.to_owned(),
                    role: role.to_owned(),
                }
                .into());
            }
            if current.signoffs.iter().any(|s| s.username == user) {
                return Err(ScheduledRefusal::AlreadySigned(user.to_owned()).into());
            }
            add_signoff(conn, sc_id, user, role, at)?;
            load_existing(conn, table, sc_id)
        })
    }

    /// Withdraws `user`'s signoff from a pending change.
    pub fn remove_signoff(
        &self,
        table: ScTable,
        sc_id: i64,
        user: &str,
    ) -> StorageResult<ScheduledChange> {
        self.write(|conn| {
            let current = load_existing(conn, table, sc_id)?;
            if current.complete {
                return Err(ScheduledRefusal::Complete(sc_id).into());
            }
            let removed = diesel::delete(
                scheduled_change_signoffs::table
                    .filter(scheduled_change_signoffs::sc_id.eq(sc_id))
                    .filter(scheduled_change_signoffs::username.eq(user)),
            )
            .execute(conn)?;
            if removed == 0 {
                return Err(ScheduledRefusal::NotSigned(user.to_owned()).into());
            }
            load_existing(conn, table, sc_id)
        })
    }

    /// Enacts one pending change now, whatever its `when` (Balrog's enact endpoint: the
    /// scheduler is the time gate), if its signoffs are complete. A change that cannot apply
    /// is marked failed and answered as [`Enactment::Failed`].
    pub fn enact_scheduled_change(
        &self,
        table: ScTable,
        sc_id: i64,
        enactor: &str,
        at: i64,
    ) -> StorageResult<Enactment> {
        let exists = self.read(|conn| load(conn, table, sc_id))?;
        match exists {
            None => return Err(ScheduledRefusal::NotFound(sc_id).into()),
            Some(change) if change.complete => return Err(ScheduledRefusal::Complete(sc_id).into()),
            Some(_) => {}
        }
        self.try_enact(table, sc_id, enactor, at)?
            .ok_or_else(|| ScheduledRefusal::Complete(sc_id).into())
    }

    /// One attempt to enact: `None` when the change is no longer pending (or, on PostgreSQL,
    /// another instance holds it right now).
    fn try_enact(
        &self,
        table: ScTable,
        sc_id: i64,
        enactor: &str,
        at: i64,
    ) -> StorageResult<Option<Enactment>> {
        let applied = self.write(|conn| {
            let Some(change) = lock_pending(conn, table, sc_id)? else {
                return Ok(None);
            };
            check_signoffs(conn, &change)?;
            let required = required_signoffs(conn, &change)?;
            // Complete first: the direct writes `apply` goes through refuse rows with a pending
            // change, and this one is no longer pending.
            let outcome = Outcome::Enacted {
                at,
                by: enactor.to_owned(),
            };
            let done = complete(conn, change.clone(), outcome, enactor, at, &required)?;
            apply(conn, &change, at)?;
            Ok(Some(Enactment::Enacted(done)))
        });
        match applied {
            Err(err) => match cannot_apply(&err) {
                Some(reason) if !is_signoff_refusal(&err) => self
                    .write(|conn| {
                        let Some(change) = lock_pending(conn, table, sc_id)? else {
                            return Ok(None);
                        };
                        let required = required_signoffs(conn, &change)?;
                        let outcome = Outcome::Failed { at, reason };
                        complete(conn, change, outcome, enactor, at, &required)
                            .map(|c| Some(Enactment::Failed(c)))
                    })
                    .map_err(|e| {
                        log::warn!("scheduled change {sc_id} could not be marked failed: {e}");
                        e
                    }),
                _ => Err(err),
            },
            ok => ok,
        }
    }

    /// The pending changes whose `when` has come (`when <= now`) and whose signoffs are
    /// complete, oldest first, at most `limit`: what the scheduler enacts. Changes still missing
    /// signoffs are skipped here, in a read, so they neither hold the write lock every turn nor
    /// keep signed changes behind them waiting.
    pub fn due_scheduled_changes(
        &self,
        now: i64,
        limit: usize,
    ) -> StorageResult<Vec<(ScTable, i64)>> {
        self.read(|conn| {
            let rows: Vec<ScRow> = scheduled_changes::table
                .filter(scheduled_changes::complete.eq(false))
                .filter(scheduled_changes::when_ms.le(now))
                .order((scheduled_changes::when_ms, scheduled_changes::sc_id))
                .select(ScRow::as_select())
                .load(conn)?;
            let mut due = Vec::new();
            for row in rows {
                if due.len() >= limit {
                    break;
                }
                let signoffs = signoffs_of(conn, row.sc_id)?;
                let change = row.into_domain(signoffs)?;
                match check_signoffs(conn, &change) {
                    Ok(()) => due.push((change.table, change.sc_id)),
                    Err(err) if is_signoff_refusal(&err) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(due)
        })
    }

    /// One scheduler turn: enacts each due, fully signed, pending change once, as `enactor`.
    /// Due changes still missing signoffs wait. Returns what it enacted or marked failed.
    pub fn enact_due(
        &self,
        enactor: &str,
        now: i64,
        limit: usize,
    ) -> StorageResult<Vec<Enactment>> {
        let mut done = Vec::new();
        for (table, sc_id) in self.due_scheduled_changes(now, limit)? {
            match self.try_enact(table, sc_id, enactor, now) {
                Ok(Some(enactment)) => done.push(enactment),
                Ok(None) => {}
                Err(err) if is_signoff_refusal(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(done)
    }
}

fn is_signoff_refusal(err: &StorageError) -> bool {
    matches!(err, StorageError::Balrog(BalrogRefusal::SignoffRequired(_)))
}

fn add_signoff(
    conn: &mut AnyConnection,
    sc_id: i64,
    user: &str,
    role: &str,
    at: i64,
) -> StorageResult<()> {
    diesel::insert_into(scheduled_change_signoffs::table)
        .values((
            scheduled_change_signoffs::sc_id.eq(sc_id),
            scheduled_change_signoffs::username.eq(user),
            scheduled_change_signoffs::role.eq(role),
            scheduled_change_signoffs::signed_at.eq(at),
        ))
        .execute(conn)
        .map_err(|e| {
            if unique_violation(&e) {
                ScheduledRefusal::AlreadySigned(user.to_owned()).into()
            } else {
                StorageError::from(e)
            }
        })?;
    Ok(())
}
