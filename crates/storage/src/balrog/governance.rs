//! Governance writes: granting and revoking roles, and the two required-signoff tables. Each
//! write runs in one transaction with its history record and its event, and refuses what
//! Balrog refuses (a role nobody could sign with any more, a requirement more users than hold
//! the role would have to meet, a change to a requirement that its own signoffs guard).

use diesel::prelude::*;
use serde_json::{json, Value};
use shiplog_domain::balrog::{ChangeTable, PermissionsRequiredSignoff, ProductRequiredSignoff};

use super::history::{record_delete, record_insert, record_update};
use super::now_millis;
use super::refusal::BalrogRefusal;
use super::signoffs::{permissions_rows, product_rows, PermissionsRow, ProductRow, SignoffTarget};
use super::writer::Writer;
use crate::connection::{AnyConnection, Store};
use crate::error::StorageResult;
use crate::schema::{
    permissions, required_signoffs_permissions as rsp, required_signoffs_product as rsc, user_roles,
};

/// A role a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRole {
    pub username: String,
    pub role: String,
    pub data_version: i64,
}

/// What granting a role did: `created` is false when the user held it already (Balrog answers
/// such a grant with the existing data_version and changes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleGrant {
    pub created: bool,
    pub data_version: i64,
}

/// A required-signoff row to write (its data_version is the table's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredSignoffInput {
    pub product: String,
    /// `Some` for the product table, `None` for the permissions table.
    pub channel: Option<String>,
    pub role: String,
    pub signoffs_required: i64,
}

impl RequiredSignoffInput {
    /// The history table of the row.
    pub fn table(&self) -> ChangeTable {
        match self.channel {
            Some(_) => ChangeTable::RequiredSignoffsProduct,
            None => ChangeTable::RequiredSignoffsPermissions,
        }
    }

    /// The history key of the row: `product/channel/role` or `product/role`.
    pub fn key(&self) -> String {
        match &self.channel {
            Some(channel) => format!("{}/{}/{}", self.product, channel, self.role),
            None => format!("{}/{}", self.product, self.role),
        }
    }

    fn target(&self) -> SignoffTarget<'_> {
        match &self.channel {
            Some(channel) => SignoffTarget::ProductRequiredSignoff {
                product: &self.product,
                channel,
            },
            None => SignoffTarget::PermissionsRequiredSignoff {
                product: &self.product,
            },
        }
    }

    fn row_json(&self, data_version: i64) -> Value {
        let mut row = json!({
            "product": self.product,
            "role": self.role,
            "signoffs_required": self.signoffs_required,
            "data_version": data_version,
        });
        if let (Some(channel), Some(object)) = (&self.channel, row.as_object_mut()) {
            object.insert("channel".into(), Value::from(channel.as_str()));
        }
        row
    }
}

/// The advisory lock key that serialises governance writes on PostgreSQL (any constant unused
/// elsewhere).
const GOVERNANCE_LOCK: i64 = 0x0053_4849_5047_4f56;

/// Serialises governance writes for the rest of the transaction. They check counts across rows
/// (holders of a role against the requirements naming it) that row locks cannot protect: two
/// concurrent revocations under READ COMMITTED could each see the other's holder still there.
/// SQLite needs nothing: its write transactions take the database's write lock up front.
fn lock_governance(conn: &mut AnyConnection) -> StorageResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({GOVERNANCE_LOCK})"))
            .execute(pg)?;
    }
    Ok(())
}

fn role_key(username: &str, role: &str) -> String {
    format!("{username}/{role}")
}

fn role_json(username: &str, role: &str, data_version: i64) -> Value {
    json!({"username": username, "role": role, "data_version": data_version})
}

fn find_role(
    conn: &mut AnyConnection,
    username: &str,
    role: &str,
) -> StorageResult<Option<StoredRole>> {
    Ok(user_roles::table
        .filter(user_roles::username.eq(username))
        .filter(user_roles::role.eq(role))
        .select((
            user_roles::username,
            user_roles::role,
            user_roles::data_version,
        ))
        .first::<(String, String, i64)>(conn)
        .optional()?
        .map(|(username, role, data_version)| StoredRole {
            username,
            role,
            data_version,
        }))
}

fn holders(conn: &mut AnyConnection, role: &str) -> StorageResult<i64> {
    Ok(user_roles::table
        .filter(user_roles::role.eq(role))
        .count()
        .get_result(conn)?)
}

/// The largest count any required-signoff row asks of `role` (0 when none asks for it).
fn most_required_of(conn: &mut AnyConnection, role: &str) -> StorageResult<i64> {
    let product: Option<i64> = rsc::table
        .filter(rsc::role.eq(role))
        .select(diesel::dsl::max(rsc::signoffs_required))
        .first(conn)?;
    let permissions: Option<i64> = rsp::table
        .filter(rsp::role.eq(role))
        .select(diesel::dsl::max(rsp::signoffs_required))
        .first(conn)?;
    Ok(product.unwrap_or(0).max(permissions.unwrap_or(0)))
}

fn find_required_signoff(
    conn: &mut AnyConnection,
    input: &RequiredSignoffInput,
) -> StorageResult<Option<i64>> {
    Ok(match &input.channel {
        Some(channel) => rsc::table
            .filter(rsc::product.eq(&input.product))
            .filter(rsc::channel.eq(channel))
            .filter(rsc::role.eq(&input.role))
            .select(rsc::data_version)
            .first(conn)
            .optional()?,
        None => rsp::table
            .filter(rsp::product.eq(&input.product))
            .filter(rsp::role.eq(&input.role))
            .select(rsp::data_version)
            .first(conn)
            .optional()?,
    })
}

/// A requirement only as many users as hold the role can meet (Balrog's rule): checked when a
/// requirement is made or raised, inside the write's transaction.
fn check_enough_holders(
    conn: &mut AnyConnection,
    input: &RequiredSignoffInput,
) -> StorageResult<()> {
    if input.signoffs_required < 1 {
        return Err(BalrogRefusal::Invalid("signoffs_required must be at least 1".into()).into());
    }
    let holders = holders(conn, &input.role)?;
    if holders < input.signoffs_required {
        let scope = match &input.channel {
            Some(channel) => format!("{}, {}", input.product, channel),
            None => input.product.clone(),
        };
        return Err(BalrogRefusal::Invalid(format!(
            "Cannot require {} signoffs for {} - only {} users hold the {} role",
            input.signoffs_required, scope, holders, input.role
        ))
        .into());
    }
    Ok(())
}

fn not_found(input: &RequiredSignoffInput) -> BalrogRefusal {
    BalrogRefusal::RequiredSignoffNotFound(input.key())
}

pub(crate) fn insert_required_signoff(
    conn: &mut AnyConnection,
    input: &RequiredSignoffInput,
    writer: Writer<'_>,
) -> StorageResult<()> {
    let changed_by = writer.name;
    lock_governance(conn)?;
    if find_required_signoff(conn, input)?.is_some() {
        return Err(BalrogRefusal::RequiredSignoffExists(input.key()).into());
    }
    check_enough_holders(conn, input)?;
    writer.check_signoffs(conn, &input.target())?;
    match &input.channel {
        Some(channel) => diesel::insert_into(rsc::table)
            .values(ProductRow {
                product: input.product.clone(),
                channel: channel.clone(),
                role: input.role.clone(),
                signoffs_required: input.signoffs_required,
                data_version: 1,
            })
            .execute(conn)?,
        None => diesel::insert_into(rsp::table)
            .values(PermissionsRow {
                product: input.product.clone(),
                role: input.role.clone(),
                signoffs_required: input.signoffs_required,
                data_version: 1,
            })
            .execute(conn)?,
    };
    record_insert(
        conn,
        input.table(),
        &input.key(),
        changed_by,
        now_millis(),
        1,
        &input.row_json(1),
    )
}

pub(crate) fn update_required_signoff(
    conn: &mut AnyConnection,
    input: &RequiredSignoffInput,
    data_version: i64,
    writer: Writer<'_>,
) -> StorageResult<i64> {
    let changed_by = writer.name;
    lock_governance(conn)?;
    let current = find_required_signoff(conn, input)?.ok_or_else(|| not_found(input))?;
    if current != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    check_enough_holders(conn, input)?;
    writer.check_signoffs(conn, &input.target())?;
    let next = data_version + 1;
    let updated = match &input.channel {
        Some(channel) => diesel::update(
            rsc::table
                .filter(rsc::product.eq(&input.product))
                .filter(rsc::channel.eq(channel))
                .filter(rsc::role.eq(&input.role))
                .filter(rsc::data_version.eq(data_version)),
        )
        .set((
            rsc::signoffs_required.eq(input.signoffs_required),
            rsc::data_version.eq(next),
        ))
        .execute(conn)?,
        None => diesel::update(
            rsp::table
                .filter(rsp::product.eq(&input.product))
                .filter(rsp::role.eq(&input.role))
                .filter(rsp::data_version.eq(data_version)),
        )
        .set((
            rsp::signoffs_required.eq(input.signoffs_required),
            rsp::data_version.eq(next),
        ))
        .execute(conn)?,
    };
    if updated == 0 {
        return Err(BalrogRefusal::Outdated.into());
    }
    record_update(
        conn,
        input.table(),
        &input.key(),
        changed_by,
        now_millis(),
        next,
        &input.row_json(next),
    )?;
    Ok(next)
}

/// Deletes the row named by `input`'s product, channel and role (its count is ignored).
pub(crate) fn delete_required_signoff(
    conn: &mut AnyConnection,
    input: &RequiredSignoffInput,
    data_version: i64,
    writer: Writer<'_>,
) -> StorageResult<()> {
    let changed_by = writer.name;
    lock_governance(conn)?;
    let current = find_required_signoff(conn, input)?.ok_or_else(|| not_found(input))?;
    if current != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    // The row as stored, for the event and the check: it always guards itself.
    let stored = match &input.channel {
        Some(channel) => product_rows(conn, Some(&input.product))?
            .into_iter()
            .find(|row| &row.channel == channel && row.role == input.role)
            .map(|row| row.signoffs_required),
        None => permissions_rows(conn, Some(&input.product))?
            .into_iter()
            .find(|row| row.role == input.role)
            .map(|row| row.signoffs_required),
    }
    .ok_or_else(|| not_found(input))?;
    writer.check_signoffs(conn, &input.target())?;
    let deleted = match &input.channel {
        Some(channel) => diesel::delete(
            rsc::table
                .filter(rsc::product.eq(&input.product))
                .filter(rsc::channel.eq(channel))
                .filter(rsc::role.eq(&input.role))
                .filter(rsc::data_version.eq(data_version)),
        )
        .execute(conn)?,
        None => diesel::delete(
            rsp::table
                .filter(rsp::product.eq(&input.product))
                .filter(rsp::role.eq(&input.role))
                .filter(rsp::data_version.eq(data_version)),
        )
        .execute(conn)?,
    };
    if deleted == 0 {
        return Err(BalrogRefusal::Outdated.into());
    }
    let last = RequiredSignoffInput {
        signoffs_required: stored,
        ..input.clone()
    };
    record_delete(
        conn,
        input.table(),
        &input.key(),
        changed_by,
        now_millis(),
        &last.row_json(data_version),
    )
}

pub(crate) fn grant_role(
    conn: &mut AnyConnection,
    username: &str,
    role: &str,
    changed_by: &str,
) -> StorageResult<RoleGrant> {
    lock_governance(conn)?;
    if let Some(existing) = find_role(conn, username, role)? {
        return Ok(RoleGrant {
            created: false,
            data_version: existing.data_version,
        });
    }
    let permissions: i64 = permissions::table
        .filter(permissions::username.eq(username))
        .count()
        .get_result(conn)?;
    if permissions == 0 {
        return Err(BalrogRefusal::Invalid(
            "Cannot grant a role to a user without any permissions".into(),
        )
        .into());
    }
    diesel::insert_into(user_roles::table)
        .values((
            user_roles::username.eq(username),
            user_roles::role.eq(role),
            user_roles::data_version.eq(1),
        ))
        .execute(conn)?;
    record_insert(
        conn,
        ChangeTable::Roles,
        &role_key(username, role),
        changed_by,
        now_millis(),
        1,
        &role_json(username, role, 1),
    )?;
    Ok(RoleGrant {
        created: true,
        data_version: 1,
    })
}

pub(crate) fn revoke_role(
    conn: &mut AnyConnection,
    username: &str,
    role: &str,
    data_version: i64,
    changed_by: &str,
) -> StorageResult<()> {
    lock_governance(conn)?;
    let Some(current) = find_role(conn, username, role)? else {
        return Err(BalrogRefusal::RoleNotFound {
            username: username.to_owned(),
            role: role.to_owned(),
        }
        .into());
    };
    // Revoking must leave enough holders for every requirement that names the role.
    let required = most_required_of(conn, role)?;
    if required > 0 && required > holders(conn, role)? - 1 {
        return Err(BalrogRefusal::Invalid(format!(
            "Revoking {role} role would make it impossible for Required Signoffs to be fulfilled"
        ))
        .into());
    }
    if current.data_version != data_version {
        return Err(BalrogRefusal::Outdated.into());
    }
    let deleted = diesel::delete(
        user_roles::table
            .filter(user_roles::username.eq(username))
            .filter(user_roles::role.eq(role))
            .filter(user_roles::data_version.eq(data_version)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(BalrogRefusal::Outdated.into());
    }
    record_delete(
        conn,
        ChangeTable::Roles,
        &role_key(username, role),
        changed_by,
        now_millis(),
        &role_json(username, role, data_version),
    )
}

/// Every role of `username` (or of everyone, for `None`), by user then role.
pub(crate) fn list_roles(
    conn: &mut AnyConnection,
    username: Option<&str>,
) -> StorageResult<Vec<StoredRole>> {
    let mut query = user_roles::table
        .select((
            user_roles::username,
            user_roles::role,
            user_roles::data_version,
        ))
        .order((user_roles::username, user_roles::role))
        .into_boxed();
    if let Some(username) = username {
        query = query.filter(user_roles::username.eq(username.to_owned()));
    }
    Ok(query
        .load::<(String, String, i64)>(conn)?
        .into_iter()
        .map(|(username, role, data_version)| StoredRole {
            username,
            role,
            data_version,
        })
        .collect())
}

impl Store {
    /// Grants `role` to `username`, who must hold at least one permission; granting a role the
    /// user holds changes nothing.
    pub fn grant_role(
        &self,
        username: &str,
        role: &str,
        changed_by: &str,
    ) -> StorageResult<RoleGrant> {
        self.write(|conn| grant_role(conn, username, role, changed_by))
    }

    /// Revokes `role` from `username` at `data_version`, unless a requirement would then ask
    /// more signoffs of the role than its remaining holders can give.
    pub fn revoke_role(
        &self,
        username: &str,
        role: &str,
        data_version: i64,
        changed_by: &str,
    ) -> StorageResult<()> {
        self.write(|conn| revoke_role(conn, username, role, data_version, changed_by))
    }

    /// The roles of one user, or (`None`) of every user, by user then role.
    pub fn list_roles(&self, username: Option<&str>) -> StorageResult<Vec<StoredRole>> {
        self.read(|conn| list_roles(conn, username))
    }

    /// Product required-signoff rows, optionally of one product and channel, in key order.
    pub fn list_product_required_signoffs(
        &self,
        product: Option<&str>,
        channel: Option<&str>,
    ) -> StorageResult<Vec<ProductRequiredSignoff>> {
        self.read(|conn| {
            let mut rows = product_rows(conn, product)?;
            if let Some(channel) = channel {
                rows.retain(|row| row.channel == channel);
            }
            Ok(rows)
        })
    }

    /// Permissions required-signoff rows, optionally of one product, in key order.
    pub fn list_permissions_required_signoffs(
        &self,
        product: Option<&str>,
    ) -> StorageResult<Vec<PermissionsRequiredSignoff>> {
        self.read(|conn| permissions_rows(conn, product))
    }

    /// Creates a required-signoff row (data_version 1) if the writer's signoffs satisfy the
    /// rows already guarding the same product (and channel).
    pub fn insert_required_signoff<'w>(
        &self,
        input: &RequiredSignoffInput,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<()> {
        let writer = writer.into();
        self.write(|conn| insert_required_signoff(conn, input, writer))
    }

    /// Changes a row's `signoffs_required` at `data_version`; answers the new data_version.
    pub fn update_required_signoff<'w>(
        &self,
        input: &RequiredSignoffInput,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<i64> {
        let writer = writer.into();
        self.write(|conn| update_required_signoff(conn, input, data_version, writer))
    }

    /// Deletes a row at `data_version`; it always needs its own signoffs.
    pub fn delete_required_signoff<'w>(
        &self,
        input: &RequiredSignoffInput,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<()> {
        let writer = writer.into();
        self.write(|conn| delete_required_signoff(conn, input, data_version, writer))
    }
}
