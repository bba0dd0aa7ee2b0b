//! Governance reads: the roles users hold, the required-signoff rows, and what a change needs
//! signed off ([`required_signoffs_for`]), read inside the caller's transaction so the decision
//! and the write it guards see the same rows. The decision itself is the pure
//! `shiplog_domain::balrog::signoff`; this module only picks the rows it looks at.

use diesel::prelude::*;
use shiplog_domain::balrog::signoff::{self, PermissionScope, RuleScope};
use shiplog_domain::balrog::{
    PermissionsRequiredSignoff, ProductRequiredSignoff, RequiredSignoffs,
};

use crate::connection::{AnyConnection, Store};
use crate::error::StorageResult;
use crate::schema::{required_signoffs_permissions, required_signoffs_product, rules, user_roles};

/// A change about to be made, as far as required signoffs care. Versions are the object as
/// stored (`old`) and as the change leaves it (`new`): `old` is `None` for an insert, `new` for
/// a delete.
#[derive(Debug, Clone, Copy)]
pub enum SignoffTarget<'a> {
    /// A rule insert, update or delete.
    Rule {
        old: Option<RuleScope<'a>>,
        new: Option<RuleScope<'a>>,
    },
    /// A change to a named release's contents (put, post, locale, delete), by name.
    Release { name: &'a str },
    /// Unsetting a release's read-only flag (setting it is always direct).
    ReadOnlyUnset { name: &'a str, product: &'a str },
    /// Deleting (lifting) an emergency shutoff; creating one never needs signoffs.
    ShutoffDelete { product: &'a str, channel: &'a str },
    /// A permission grant, change or revocation.
    Permission {
        old: Option<PermissionScope<'a>>,
        new: Option<PermissionScope<'a>>,
    },
    /// An insert, update or delete of a product required-signoff row.
    ProductRequiredSignoff { product: &'a str, channel: &'a str },
    /// An insert, update or delete of a permissions required-signoff row.
    PermissionsRequiredSignoff { product: &'a str },
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = required_signoffs_product)]
pub(crate) struct ProductRow {
    pub product: String,
    pub channel: String,
    pub role: String,
    pub signoffs_required: i64,
    pub data_version: i64,
}

impl From<ProductRow> for ProductRequiredSignoff {
    fn from(row: ProductRow) -> Self {
        ProductRequiredSignoff {
            product: row.product,
            channel: row.channel,
            role: row.role,
            signoffs_required: row.signoffs_required,
            data_version: row.data_version,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = required_signoffs_permissions)]
pub(crate) struct PermissionsRow {
    pub product: String,
    pub role: String,
    pub signoffs_required: i64,
    pub data_version: i64,
}

impl From<PermissionsRow> for PermissionsRequiredSignoff {
    fn from(row: PermissionsRow) -> Self {
        PermissionsRequiredSignoff {
            product: row.product,
            role: row.role,
            signoffs_required: row.signoffs_required,
            data_version: row.data_version,
        }
    }
}

/// Product required-signoff rows, of one product or (`None`) all, in key order.
pub(crate) fn product_rows(
    conn: &mut AnyConnection,
    product: Option<&str>,
) -> StorageResult<Vec<ProductRequiredSignoff>> {
    let mut query = required_signoffs_product::table
        .select(ProductRow::as_select())
        .order((
            required_signoffs_product::product,
            required_signoffs_product::channel,
            required_signoffs_product::role,
        ))
        .into_boxed();
    if let Some(product) = product {
        query = query.filter(required_signoffs_product::product.eq(product.to_owned()));
    }
    Ok(query.load(conn)?.into_iter().map(Into::into).collect())
}

/// Permissions required-signoff rows, of one product or (`None`) all, in key order.
pub(crate) fn permissions_rows(
    conn: &mut AnyConnection,
    product: Option<&str>,
) -> StorageResult<Vec<PermissionsRequiredSignoff>> {
    let mut query = required_signoffs_permissions::table
        .select(PermissionsRow::as_select())
        .order((
            required_signoffs_permissions::product,
            required_signoffs_permissions::role,
        ))
        .into_boxed();
    if let Some(product) = product {
        query = query.filter(required_signoffs_permissions::product.eq(product.to_owned()));
    }
    Ok(query.load(conn)?.into_iter().map(Into::into).collect())
}

/// A rule's `(product, channel)`, as read for a scope.
pub(crate) type ScopeRow = (Option<String>, Option<String>);

/// The product and channel of every rule mapping release `name` (as `mapping` or
/// `fallbackMapping`).
fn rules_mapping(conn: &mut AnyConnection, name: &str) -> StorageResult<Vec<ScopeRow>> {
    Ok(rules::table
        .filter(rules::mapping.eq(name).or(rules::fallback_mapping.eq(name)))
        .select((rules::product, rules::channel))
        .load(conn)?)
}

/// The scopes of rules read as `(product, channel)` pairs.
pub(crate) fn rule_scopes(rules: &[ScopeRow]) -> Vec<RuleScope<'_>> {
    rules
        .iter()
        .map(|(product, channel)| RuleScope {
            product: product.as_deref(),
            channel: channel.as_deref(),
        })
        .collect()
}

/// What `target` needs signed off, from the rows as this transaction sees them.
pub(crate) fn required_signoffs_for(
    conn: &mut AnyConnection,
    target: &SignoffTarget<'_>,
) -> StorageResult<RequiredSignoffs> {
    Ok(match *target {
        SignoffTarget::Rule { old, new } => {
            let versions: Vec<RuleScope<'_>> = old.into_iter().chain(new).collect();
            // A rule limited to one product can only meet that product's rows.
            let products: Vec<Option<&str>> = versions.iter().map(|v| v.product).collect();
            let rows = match products.as_slice() {
                [Some(product)] => product_rows(conn, Some(product))?,
                [Some(a), Some(b)] if a == b => product_rows(conn, Some(a))?,
                _ => product_rows(conn, None)?,
            };
            signoff::for_rule(&rows, &versions)
        }
        SignoffTarget::Release { name } => {
            let mapping = rules_mapping(conn, name)?;
            if mapping.is_empty() {
                return Ok(RequiredSignoffs::none());
            }
            signoff::for_release(&product_rows(conn, None)?, &rule_scopes(&mapping))
        }
        SignoffTarget::ReadOnlyUnset { name, product } => {
            let mapping = rules_mapping(conn, name)?;
            signoff::for_read_only_unset(
                &product_rows(conn, None)?,
                &rule_scopes(&mapping),
                product,
            )
        }
        SignoffTarget::ShutoffDelete { product, channel } => {
            signoff::for_shutoff_delete(&product_rows(conn, Some(product))?, product, channel)
        }
        SignoffTarget::Permission { old, new } => {
            let versions: Vec<PermissionScope<'_>> = old.into_iter().chain(new).collect();
            signoff::for_permission(&permissions_rows(conn, None)?, &versions)
        }
        SignoffTarget::ProductRequiredSignoff { product, channel } => {
            signoff::for_product_required_signoff(
                &product_rows(conn, Some(product))?,
                &[(product, channel)],
            )
        }
        SignoffTarget::PermissionsRequiredSignoff { product } => {
            signoff::for_permissions_required_signoff(
                &permissions_rows(conn, Some(product))?,
                &[product],
            )
        }
    })
}

/// The roles `username` holds, by name.
pub(crate) fn user_roles(conn: &mut AnyConnection, username: &str) -> StorageResult<Vec<String>> {
    Ok(user_roles::table
        .filter(user_roles::username.eq(username))
        .order(user_roles::role)
        .select(user_roles::role)
        .load(conn)?)
}

impl Store {
    /// What `target` needs signed off, as the rows are now.
    pub fn required_signoffs_for(
        &self,
        target: &SignoffTarget<'_>,
    ) -> StorageResult<RequiredSignoffs> {
        self.read(|conn| required_signoffs_for(conn, target))
    }

    /// The roles `username` holds, by name (none for an unknown user).
    pub fn user_roles(&self, username: &str) -> StorageResult<Vec<String>> {
        self.read(|conn| user_roles(conn, username))
    }
}
