//! Named releases: the Balrog columns of the `releases` table, their blob edits with the 3-way
//! merge, the v2 API's whole-blob replace at an exact version, the read-only flag, deletion
//! (refused while a rule or a pin serves the release) and revert.
//!
//! A release created here is a ledger release too (one release concept with a ledger face and a Balrog face; docs/ARCHITECTURE.md): the acting user started it
//! now, with no platforms or packages yet. Deleting it through Balrog removes the row, unless
//! the ledger has recorded packages for it: then only its Balrog face goes (name, product,
//! blob), and the ledger keeps what happened.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::{json, Value};
use shiplog_domain::balrog::blob::has_locale;
use shiplog_domain::balrog::blob_schema;
use shiplog_domain::balrog::named_release::{initial_blob, validate_blob};
use shiplog_domain::balrog::signoff;
use shiplog_domain::balrog::{
    merge3, BlobEdit, ChangeTable, NamedRelease, ReleaseName, RequiredSignoffs, ScTable,
};
use shiplog_domain::{timestamp, ReleaseId};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::history::{
    record_at_version, record_delete, record_insert, record_update, revision_to_restore,
};
use super::now_millis;
use super::pins::pins_of_release;
use super::refusal::BalrogRefusal;
use super::rows::{NamedReleaseRow, NewNamedReleaseRow};
use super::rules::{distinct_values, distinct_values_sql, ColumnKind};
use super::scheduled::{refuse_if_pending, refuse_update_if_pending};
use super::signoffs::{product_rows, rule_scopes, ScopeRow, SignoffTarget};
use super::writer::{Subject, Writer};
use crate::connection::{AnyConnection, Store};
use crate::error::{StorageError, StorageResult};
use crate::schema::{packages, releases, rules};
use crate::sql::{Conditions, Sql, Value as Bind};

/// How often a blob edit re-reads and re-merges when other writers keep moving the release on
/// between its read and its conditional UPDATE.
const EDIT_ATTEMPTS: usize = 16;

/// A named release as `GET /releases` lists it: no blob, but the rules that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedReleaseInfo {
    pub name: String,
    pub product: String,
    pub data_version: i64,
    pub read_only: bool,
    /// Rules whose mapping or fallbackMapping is this release, by id.
    pub rule_ids: Vec<i64>,
    /// What a change to the release needs signed off (through those rules).
    pub required_signoffs: RequiredSignoffs,
}

/// A partial change to a release blob (`POST /releases/{name}` and the locale `PUT`), creating
/// the release when it does not exist.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseEdit {
    pub product: String,
    /// The version the change was made against; required when the release exists.
    pub data_version: Option<i64>,
    /// For a release this edit creates.
    pub schema_version: i64,
    pub hash_function: Option<String>,
    pub edit: BlobEdit,
    /// Further releases the same edit is made to (each at its current version).
    pub copy_to: Vec<ReleaseName>,
}

/// What a whole-blob write of Balrog's v2 API (`PUT /api/v2/releases/{name}`) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceOutcome {
    /// The release was created at data_version 1.
    Created,
    /// The release now has this data_version.
    Replaced(i64),
    /// The blob and product were those stored already: nothing was written.
    Unchanged,
}

/// What a write did to the release it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditOutcome {
    pub data_version: i64,
    /// Something new was made: the release, or (for a locale edit) the locale entry.
    pub created: bool,
}

fn to_db(ts: OffsetDateTime) -> PrimitiveDateTime {
    let ts = timestamp::to_storage_precision(ts);
    PrimitiveDateTime::new(ts.date(), ts.time())
}

pub(crate) fn load(conn: &mut AnyConnection, name: &str) -> StorageResult<Option<NamedRelease>> {
    releases::table
        .filter(releases::name.eq(name))
        .select(NamedReleaseRow::as_select())
        .first(conn)
        .optional()?
        .map(NamedReleaseRow::into_domain)
        .transpose()
}

fn not_found(name: &str) -> StorageError {
    BalrogRefusal::ReleaseNotFound(name.to_owned()).into()
}

fn blob_text(blob: &Value) -> StorageResult<String> {
    serde_json::to_string(blob).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// The release as its history records it.
fn history_row(release: &NamedRelease) -> Value {
    json!({
        "id": release.id.to_string(),
        "name": release.name,
        "product": release.product,
        "read_only": release.read_only,
        "data_version": release.data_version,
        "data": release.data,
    })
}

fn is_unique_violation(err: &StorageError) -> bool {
    matches!(
        err,
        StorageError::Backend(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

pub(crate) fn is_foreign_key_violation(err: &StorageError) -> bool {
    matches!(
        err,
        StorageError::Backend(DieselError::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            _
        ))
    )
}

/// Refuses a blob that breaks its `schema_version`'s schema. `put_named_release` checks the
/// blob it brings (the face has checked it too); edits check the blob as it is after the edit (and the merge), inside the
/// transaction and before anything is written. A partial edit's first, bare blob is not checked
/// on its own: the edit that follows in the same transaction must make it valid.
pub(crate) fn check_schema(blob: &Value) -> StorageResult<()> {
    blob_schema::validate(blob).map_err(|problems| {
        BalrogRefusal::InvalidBlob(problems.iter().map(ToString::to_string).collect()).into()
    })
}

pub(crate) fn insert(
    conn: &mut AnyConnection,
    name: &str,
    product: &str,
    blob: Value,
    changed_by: &str,
    at: i64,
) -> StorageResult<NamedRelease> {
    validate_blob(name, &blob)?;
    let release = NamedRelease {
        id: ReleaseId::new(),
        name: name.to_owned(),
        product: product.to_owned(),
        data: blob,
        read_only: false,
        data_version: 1,
    };
    diesel::insert_into(releases::table)
        .values(NewNamedReleaseRow {
            id: release.id.to_string(),
            user_name: changed_by,
            recorded_by: changed_by,
            stime: to_db(OffsetDateTime::now_utc()),
            name,
            product,
            data: blob_text(&release.data)?,
            read_only: false,
            data_version: 1,
        })
        .execute(conn)?;
    record_insert(
        conn,
        ChangeTable::Releases,
        name,
        changed_by,
        at,
        1,
        &history_row(&release),
    )?;
    Ok(release)
}

/// Makes `edit` to the release, as made against its version `base`, and returns the new
/// version. When `base` is older than the current version, the edit is 3-way merged with what
/// changed since (the blob at `base` is the ancestor); a real conflict, or a `base` that never
/// existed, is refused as outdated. The `columns` given replace the stored ones in the same
/// version.
pub(crate) fn apply_edit(
    conn: &mut AnyConnection,
    name: &str,
    base: i64,
    columns: Columns<'_>,
    edit: &BlobEdit,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<i64> {
    let Columns { product, read_only } = columns;
    let changed_by = writer.name;
    for _ in 0..EDIT_ATTEMPTS {
        let tip = load(conn, name)?.ok_or_else(|| not_found(name))?;
        // Checked on every read of the tip: the product it has now is the product changed.
        writer.check(Subject::Release(&tip))?;
        if tip.read_only && read_only != Some(false) {
            return Err(BalrogRefusal::ReadOnly(name.to_owned()).into());
        }
        // A release serves through the rules mapping it: their channels' signoffs guard it.
        writer.check_signoffs(conn, &SignoffTarget::Release { name })?;
        let merged = if base == tip.data_version {
            edit.apply(&tip.data)
        } else if (1..tip.data_version).contains(&base) {
            let ancestor = record_at_version(conn, ChangeTable::Releases, name, base)?
                .and_then(|change| change.row)
                // A release deleted and re-created under the same name has a history of its
                // own: an ancestor from before that is no ancestor.
                .filter(|row| row.get("id").and_then(Value::as_str) == Some(&tip.id.to_string()))
                .and_then(|row| row.get("data").cloned())
                .ok_or(BalrogRefusal::Outdated)?;
            let edited = edit.apply(&ancestor);
            merge3(&ancestor, &tip.data, &edited).map_err(BalrogRefusal::MergeConflict)?
        } else {
            return Err(BalrogRefusal::Outdated.into());
        };
        validate_blob(name, &merged)?;
        check_schema(&merged)?;
        let next = NamedRelease {
            product: product.unwrap_or(&tip.product).to_owned(),
            data: merged,
            read_only: read_only.unwrap_or(tip.read_only),
            data_version: tip.data_version + 1,
            ..tip.clone()
        };
        let updated = diesel::update(
            releases::table
                .filter(releases::id.eq(tip.id.to_string()))
                .filter(releases::data_version.eq(tip.data_version)),
        )
        .set((
            releases::product.eq(&next.product),
            releases::data.eq(blob_text(&next.data)?),
            releases::read_only.eq(next.read_only),
            releases::data_version.eq(next.data_version),
        ))
        .execute(conn)?;
        if updated == 1 {
            record_update(
                conn,
                ChangeTable::Releases,
                name,
                changed_by,
                at,
                next.data_version,
                &history_row(&next),
            )?;
            return Ok(next.data_version);
        }
        // Another writer moved the release on since we read it: read again and merge.
    }
    Err(StorageError::Conflict(format!(
        "release {name} kept changing while an edit was being merged"
    )))
}

/// The columns besides the blob an edit may set (`None`: kept as stored).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Columns<'a> {
    pub product: Option<&'a str>,
    /// The read-only flag: an enacted scheduled change may unlock a release and change it at
    /// once, as Balrog's does.
    pub read_only: Option<bool>,
}

impl<'a> Columns<'a> {
    fn product(product: &'a str) -> Columns<'a> {
        Columns {
            product: Some(product),
            read_only: None,
        }
    }
}

fn edit_release(
    conn: &mut AnyConnection,
    primary: &str,
    request: &ReleaseEdit,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<EditOutcome> {
    let changed_by = writer.name;
    let mut outcome = None;
    // Rows are visited in name order whatever the request's order, so two edits of the same
    // releases on PostgreSQL lock them in the same order and cannot deadlock.
    let mut names: Vec<&str> = std::iter::once(primary)
        .chain(request.copy_to.iter().map(ReleaseName::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let is_primary = name == primary;
        let (base, created_release, had_locale) = match load(conn, name)? {
            None => {
                writer.check(Subject::NewRelease {
                    name,
                    product: &request.product,
                })?;
                let blob = initial_blob(
                    name,
                    request.schema_version,
                    request.hash_function.as_deref(),
                );
                insert(conn, name, &request.product, blob, changed_by, at)?;
                (1, true, false)
            }
            Some(current) => {
                // Permission first: a caller who may not touch the release learns nothing of it.
                writer.check(Subject::Release(&current))?;
                refuse_update_if_pending(conn, ScTable::Releases, name)?;
                let base = if is_primary {
                    check_primary(&current, request)?
                } else {
                    current.data_version
                };
                let had_locale = match &request.edit {
                    BlobEdit::SetLocale {
                        platform, locale, ..
                    } => has_locale(&current.data, platform, locale),
                    _ => true,
                };
                (base, false, had_locale)
            }
        };
        // A release this transaction just created was checked as a creation; editing it
        // further is part of creating it.
        let editor = if created_release {
            Writer::from(changed_by)
        } else {
            writer
        };
        let data_version = apply_edit(
            conn,
            name,
            base,
            Columns::default(),
            &request.edit,
            editor,
            at,
        )?;
        if is_primary {
            outcome = Some(EditOutcome {
                data_version,
                created: created_release || !had_locale,
            });
        }
    }
    outcome.ok_or_else(|| not_found(primary))
}

/// The checks Balrog makes on the release a partial edit names: a version to merge against,
/// the same product, the same hash function.
fn check_primary(current: &NamedRelease, request: &ReleaseEdit) -> StorageResult<i64> {
    let base = request
        .data_version
        .ok_or(BalrogRefusal::DataVersionMissing(
            "Release exists, data_version must be provided",
        ))?;
    if request.product != current.product {
        return Err(BalrogRefusal::ProductMismatch {
            given: request.product.clone(),
            stored: current.product.clone(),
            release: current.name.clone(),
        }
        .into());
    }
    if let (Some(given), Some(stored)) = (
        request.hash_function.as_deref(),
        current.data.get("hashFunction").and_then(Value::as_str),
    ) {
        if given != stored {
            return Err(BalrogRefusal::HashFunctionMismatch {
                given: given.to_owned(),
                stored: stored.to_owned(),
                release: current.name.clone(),
            }
            .into());
        }
    }
    Ok(base)
}

/// Deletes release `name` at `data_version`, inside the caller's transaction: refused while it
/// is read-only, while a rule maps to it, or without the signoffs its rules' channels need.
pub(crate) fn delete_release_in(
    conn: &mut AnyConnection,
    name: &str,
    data_version: i64,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<()> {
    let changed_by = writer.name;
    let current = load(conn, name)?.ok_or_else(|| not_found(name))?;
    if current.data_version != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    writer.check(Subject::Release(&current))?;
    if current.read_only {
        return Err(BalrogRefusal::ReadOnly(name.to_owned()).into());
    }
    let rule_ids: Vec<i64> = rules::table
        .filter(rules::mapping.eq(name).or(rules::fallback_mapping.eq(name)))
        .select(rules::rule_id)
        .order(rules::rule_id)
        .load(conn)?;
    if !rule_ids.is_empty() {
        return Err(BalrogRefusal::ReleaseInUse {
            name: name.to_owned(),
            rule_ids,
        }
        .into());
    }
    // Clients pinned to it would lose their release (Balrog refuses this too).
    let pins = pins_of_release(conn, name)?;
    if !pins.is_empty() {
        return Err(BalrogRefusal::ReleasePinned {
            name: name.to_owned(),
            pins,
        }
        .into());
    }
    writer.check_signoffs(conn, &SignoffTarget::Release { name })?;
    let id = current.id.to_string();
    let has_packages: i64 = packages::table
        .filter(packages::release_id.eq(&id))
        .count()
        .get_result(conn)?;
    let this_version = releases::table
        .filter(releases::id.eq(&id))
        .filter(releases::data_version.eq(data_version));
    let changed = if has_packages > 0 {
        diesel::update(this_version)
            .set((
                releases::name.eq(None::<String>),
                releases::product.eq(None::<String>),
                releases::data.eq(None::<String>),
                releases::read_only.eq(false),
                releases::data_version.eq(None::<i64>),
            ))
            .execute(conn)?
    } else {
        diesel::delete(this_version).execute(conn)?
    };
    if changed == 0 {
        return Err(BalrogRefusal::Outdated.into());
    }
    record_delete(
        conn,
        ChangeTable::Releases,
        name,
        changed_by,
        at,
        &history_row(&current),
    )
}

/// `name` starts with `prefix`, compared exactly (SQLite's LIKE ignores case).
fn prefix_condition(conditions: &mut Conditions, prefix: &str) {
    conditions
        .and()
        .push("substr(r.name, 1, length(")
        .bind(Bind::Text(prefix.to_owned()))
        .push(")) = ")
        .bind(Bind::Text(prefix.to_owned()));
}

#[derive(QueryableByName)]
struct InfoRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    product: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    read_only: bool,
}

#[derive(QueryableByName)]
struct MappedRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rule_id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    product: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    channel: Option<String>,
}

impl Store {
    /// Named releases, by name, with the rules pointing at each: all of them, or those of one
    /// product, or those whose name starts with a prefix.
    pub fn list_named_releases(
        &self,
        product: Option<&str>,
        name_prefix: Option<&str>,
    ) -> StorageResult<Vec<NamedReleaseInfo>> {
        let mut conditions = Conditions::new(self.backend());
        conditions.and().push("r.name IS NOT NULL");
        if let Some(product) = product {
            conditions
                .and()
                .push("r.product = ")
                .bind(Bind::Text(product.to_owned()));
        }
        if let Some(prefix) = name_prefix {
            prefix_condition(&mut conditions, prefix);
        }
        let mut releases_sql = Sql::new(self.backend());
        releases_sql.push("SELECT r.name, r.product, r.data_version, r.read_only FROM releases r");
        conditions.write_where(&mut releases_sql);
        releases_sql.push(" ORDER BY r.name");
        let mut mapped_sql = Sql::new(self.backend());
        mapped_sql.push(
            "SELECT r.name, u.rule_id, u.product, u.channel FROM releases r \
             JOIN rules u ON (u.mapping = r.name OR u.fallback_mapping = r.name)",
        );
        conditions.write_where(&mut mapped_sql);
        mapped_sql.push(" ORDER BY u.rule_id");
        let (releases_query, mapped_query) = (releases_sql.into_query(), mapped_sql.into_query());
        self.read(|conn| {
            let rows: Vec<InfoRow> = releases_query.load(conn)?;
            let mapped: Vec<MappedRow> = mapped_query.load(conn)?;
            // One read of the requirements serves every release: each needs what the rules
            // mapping it need.
            let requirements = product_rows(conn, None)?;
            let mut rule_ids: HashMap<String, Vec<i64>> = HashMap::new();
            let mut scopes: HashMap<String, Vec<ScopeRow>> = HashMap::new();
            for row in mapped {
                rule_ids
                    .entry(row.name.clone())
                    .or_default()
                    .push(row.rule_id);
                scopes
                    .entry(row.name)
                    .or_default()
                    .push((row.product, row.channel));
            }
            Ok(rows
                .into_iter()
                .map(|row| NamedReleaseInfo {
                    required_signoffs: match scopes.get(&row.name) {
                        Some(rules) if !requirements.is_empty() => {
                            signoff::for_release(&requirements, &rule_scopes(rules))
                        }
                        _ => RequiredSignoffs::none(),
                    },
                    rule_ids: rule_ids.remove(&row.name).unwrap_or_default(),
                    name: row.name,
                    product: row.product,
                    data_version: row.data_version,
                    read_only: row.read_only,
                })
                .collect())
        })
    }

    /// One named release with its blob.
    pub fn find_named_release(&self, name: &str) -> StorageResult<Option<NamedRelease>> {
        self.read(|conn| load(conn, name))
    }

    /// Creates a named release (`POST /releases`); refused if the name is taken. The blob's
    /// shape is checked but not its schema: the face checks that before calling, and a blob
    /// copied from another ledger is stored as that ledger held it (stored blobs keep serving).
    pub fn insert_named_release(
        &self,
        name: &ReleaseName,
        product: &str,
        blob: &Value,
        changed_by: &str,
    ) -> StorageResult<NamedRelease> {
        let at = now_millis();
        let exists = || StorageError::from(BalrogRefusal::ReleaseExists(name.to_string()));
        self.write(|conn| {
            if load(conn, name.as_str())?.is_some() {
                return Err(exists());
            }
            insert(conn, name.as_str(), product, blob.clone(), changed_by, at)
        })
        .map_err(|e| if is_unique_violation(&e) { exists() } else { e })
    }

    /// Replaces a release's blob and product (`PUT /releases/{name}`), creating the release if
    /// it does not exist; an existing one needs the version the blob was based on.
    pub fn put_named_release<'w>(
        &self,
        name: &ReleaseName,
        product: &str,
        blob: &Value,
        data_version: Option<i64>,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<EditOutcome> {
        let at = now_millis();
        let writer = writer.into();
        let changed_by = writer.name;
        self.write_creating(|conn| match load(conn, name.as_str())? {
            None => {
                writer.check(Subject::NewRelease {
                    name: name.as_str(),
                    product,
                })?;
                check_schema(blob)?;
                insert(conn, name.as_str(), product, blob.clone(), changed_by, at)?;
                Ok(EditOutcome {
                    data_version: 1,
                    created: true,
                })
            }
            Some(current) => {
                // Permission first: a caller who may not touch the release learns nothing of it.
                writer.check(Subject::Release(&current))?;
                refuse_update_if_pending(conn, ScTable::Releases, name.as_str())?;
                let base = data_version.ok_or(BalrogRefusal::DataVersionMissing(
                    "data_version field is missing",
                ))?;
                let data_version = apply_edit(
                    conn,
                    name.as_str(),
                    base,
                    Columns::product(product),
                    &BlobEdit::Replace(blob.clone()),
                    writer,
                    at,
                )?;
                Ok(EditOutcome {
                    data_version,
                    created: false,
                })
            }
        })
    }

    /// Balrog's v2 whole-blob write: creates the release (`product` required), or replaces its
    /// blob (and product, when given) if `old_data_version` is its current version exactly —
    /// no merge, as Balrog's v2 API compares versions. A blob and product equal to what is
    /// stored write nothing and need no version. Permission, read-only and schema are checked
    /// first; a release that changes needs the signoffs its rules' channels require.
    pub fn replace_named_release<'w>(
        &self,
        name: &ReleaseName,
        product: Option<&str>,
        blob: &Value,
        old_data_version: Option<i64>,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<ReplaceOutcome> {
        let at = now_millis();
        let writer = writer.into();
        let changed_by = writer.name;
        self.write_creating(|conn| match load(conn, name.as_str())? {
            None => {
                let product = product.ok_or(BalrogRefusal::DataVersionMissing(
                    "product is required to create a release",
                ))?;
                writer.check(Subject::NewRelease {
                    name: name.as_str(),
                    product,
                })?;
                check_schema(blob)?;
                insert(conn, name.as_str(), product, blob.clone(), changed_by, at)?;
                Ok(ReplaceOutcome::Created)
            }
            Some(current) => {
                writer.check(Subject::Release(&current))?;
                refuse_update_if_pending(conn, ScTable::Releases, name.as_str())?;
                if current.read_only {
                    return Err(BalrogRefusal::ReadOnly(name.to_string()).into());
                }
                check_schema(blob)?;
                if &current.data == blob && product.is_none_or(|p| p == current.product) {
                    return Ok(ReplaceOutcome::Unchanged);
                }
                let base = old_data_version.ok_or(BalrogRefusal::DataVersionMissing(
                    "old_data_versions['.'] is required to change an existing release",
                ))?;
                if base != current.data_version {
                    return Err(BalrogRefusal::Outdated.into());
                }
                apply_edit(
                    conn,
                    name.as_str(),
                    base,
                    Columns {
                        product,
                        read_only: None,
                    },
                    &BlobEdit::Replace(blob.clone()),
                    writer,
                    at,
                )
                .map(ReplaceOutcome::Replaced)
            }
        })
    }

    /// Deletes a named release whatever its version (Balrog's v2 `DELETE` takes none), with
    /// the same refusals as [`Store::delete_named_release`].
    pub fn delete_named_release_now<'w>(
        &self,
        name: &str,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<()> {
        let writer = writer.into();
        self.delete_release_at(name, None, writer)
    }

    /// A partial edit of a release blob (and of its `copy_to` releases), creating releases that
    /// do not exist, all in one transaction.
    pub fn edit_named_release<'w>(
        &self,
        name: &ReleaseName,
        request: &ReleaseEdit,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<EditOutcome> {
        let at = now_millis();
        let writer = writer.into();
        self.write_creating(|conn| edit_release(conn, name.as_str(), request, writer, at))
    }

    /// Sets or clears the read-only flag, if the release is still at `data_version`. Setting a
    /// flag that is already set changes nothing (and answers the version given, as Balrog).
    pub fn set_release_read_only<'w>(
        &self,
        name: &str,
        read_only: bool,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<i64> {
        let at = now_millis();
        let writer = writer.into();
        let changed_by = writer.name;
        self.write(|conn| {
            let current = load(conn, name)?.ok_or_else(|| not_found(name))?;
            if current.data_version != data_version && !(read_only && current.read_only) {
                return Err(BalrogRefusal::Outdated.into());
            }
            writer.check(Subject::Release(&current))?;
            if read_only && current.read_only {
                return Ok(data_version);
            }
            refuse_update_if_pending(conn, ScTable::Releases, name)?;
            // Locking a release is always direct; unlocking it re-opens it to changes.
            if current.read_only && !read_only {
                writer.check_signoffs(
                    conn,
                    &SignoffTarget::ReadOnlyUnset {
                        name,
                        product: &current.product,
                    },
                )?;
            }
            let updated = diesel::update(
                releases::table
                    .filter(releases::id.eq(current.id.to_string()))
                    .filter(releases::data_version.eq(data_version)),
            )
            .set((
                releases::read_only.eq(read_only),
                releases::data_version.eq(data_version + 1),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(BalrogRefusal::Outdated.into());
            }
            let next = NamedRelease {
                read_only,
                data_version: data_version + 1,
                ..current
            };
            record_update(
                conn,
                ChangeTable::Releases,
                name,
                changed_by,
                at,
                next.data_version,
                &history_row(&next),
            )?;
            Ok(next.data_version)
        })
    }

    /// Deletes a named release at `data_version`. Refused while it is read-only, while a rule
    /// maps to it or while a pin serves it.
    pub fn delete_named_release<'w>(
        &self,
        name: &str,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<()> {
        let writer = writer.into();
        self.delete_release_at(name, Some(data_version), writer)
    }

    /// Deletes a named release, at `data_version` when one is given.
    fn delete_release_at(
        &self,
        name: &str,
        data_version: Option<i64>,
        writer: Writer<'_>,
    ) -> StorageResult<()> {
        // A rule or pin that starts to name the release between this write's checks and its
        // DELETE makes the database refuse it (foreign key): run again, and the checks say why.
        match self.delete_release_once(name, data_version, writer) {
            Err(err) if is_foreign_key_violation(&err) => {
                self.delete_release_once(name, data_version, writer)
            }
            other => other,
        }
    }

    fn delete_release_once(
        &self,
        name: &str,
        data_version: Option<i64>,
        writer: Writer<'_>,
    ) -> StorageResult<()> {
        let at = now_millis();
        self.write(|conn| {
            let current = load(conn, name)?.ok_or_else(|| not_found(name))?;
            let data_version = data_version.unwrap_or(current.data_version);
            if current.data_version == data_version {
                writer.check(Subject::Release(&current))?;
                refuse_if_pending(conn, ScTable::Releases, name)?;
            }
            delete_release_in(conn, name, data_version, writer, at)
        })
    }

    /// Makes the release's blob and product what they were at history record `change_id`, as a
    /// new version.
    pub fn revert_named_release<'w>(
        &self,
        name: &str,
        change_id: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<i64> {
        let at = now_millis();
        let writer = writer.into();
        self.write(|conn| {
            let current = load(conn, name)?.ok_or_else(|| not_found(name))?;
            writer.check(Subject::Release(&current))?;
            refuse_update_if_pending(conn, ScTable::Releases, name)?;
            let row = revision_to_restore(conn, ChangeTable::Releases, change_id, name, "name")?;
            let (Some(data), Some(product)) =
                (row.get("data"), row.get("product").and_then(Value::as_str))
            else {
                return Err(BalrogRefusal::ChangeNotFound(change_id).into());
            };
            writer.check(Subject::Release(&NamedRelease {
                product: product.to_owned(),
                data: data.clone(),
                ..current.clone()
            }))?;
            apply_edit(
                conn,
                name,
                current.data_version,
                Columns::product(product),
                &BlobEdit::Replace(data.clone()),
                writer,
                at,
            )
        })
    }

    /// The distinct values of a named-release column (`None`: no such column).
    pub fn release_column_values(&self, column: &str) -> StorageResult<Option<Vec<Value>>> {
        let (sql_column, kind) = match column {
            "name" => ("name", ColumnKind::Text),
            "product" => ("product", ColumnKind::Text),
            "read_only" => ("read_only", ColumnKind::Boolean),
            "data_version" => ("data_version", ColumnKind::Integer),
            _ => return Ok(None),
        };
        let sql = distinct_values_sql(self, "releases", sql_column, Some("name IS NOT NULL"));
        self.read(|conn| distinct_values(conn, sql, kind).map(Some))
    }

    /// A write that may create a row (a release, a pin): two requests creating the same key at
    /// once collide on its UNIQUE index; the loser runs again and finds the row there.
    pub(crate) fn write_creating<T>(
        &self,
        f: impl Fn(&mut AnyConnection) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let mut attempts = 0;
        loop {
            match self.write(&f) {
                Err(err) if is_unique_violation(&err) && attempts < 3 => attempts += 1,
                other => return other,
            }
        }
    }
}
