//! What a scheduled change needs signed off (the governance decision, `required_signoffs_for`,
//! asked about the change's target as stored now and as the change leaves it) and whether a
//! user holds a role, both inside the caller's transaction.

use serde_json::{Map, Value};
use shiplog_domain::balrog::signoff::{PermissionScope, RuleScope};
use shiplog_domain::balrog::{ChangeType, RequiredSignoffs, RuleRef, ScTable, ScheduledChange};

use super::named_releases::load as load_release;
use super::rules::load_rule;
use super::scheduled::permission_of;
use super::signoffs::{required_signoffs_for, user_roles, SignoffTarget};
use super::writer::{Signoffs, Writer};
use crate::connection::AnyConnection;
use crate::error::StorageResult;
use crate::identity::find_permission;

/// Role → how many signoffs a scheduled change needs.
pub type Required = RequiredSignoffs;

/// `{"role": n}` as Balrog shows `required_signoffs`.
pub(crate) fn required_json(required: &Required) -> Map<String, Value> {
    required
        .iter()
        .map(|(role, count)| (role.to_owned(), Value::from(count)))
        .collect()
}

fn text<'a>(base: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    base.get(key).and_then(Value::as_str)
}

/// Runs `f` on the governance target of `change` (`None`: nothing about it can need
/// signoffs), built from the target as stored now and as the change leaves it.
fn with_target<T>(
    conn: &mut AnyConnection,
    change: &ScheduledChange,
    f: impl FnOnce(&mut AnyConnection, Option<&SignoffTarget<'_>>) -> StorageResult<T>,
) -> StorageResult<T> {
    let base = &change.base;
    match change.table {
        ScTable::Rules => {
            // Moving a rule out of a guarded channel needs signoffs as much as moving it in.
            let stored = match (
                change.change_type,
                base.get("rule_id").and_then(Value::as_i64),
            ) {
                (ChangeType::Insert, _) | (_, None) => None,
                (_, Some(id)) => load_rule(conn, &RuleRef::Id(id))?,
            };
            let old = stored.as_ref().map(|rule| RuleScope {
                product: rule.fields.product.as_deref(),
                channel: rule.fields.channel.as_deref(),
            });
            let new = (change.change_type != ChangeType::Delete).then(|| RuleScope {
                product: text(base, "product"),
                channel: text(base, "channel"),
            });
            // A delete of a rule that is gone already: its last known scope.
            let old = old.or_else(|| {
                (change.change_type == ChangeType::Delete).then(|| RuleScope {
                    product: text(base, "product"),
                    channel: text(base, "channel"),
                })
            });
            f(conn, Some(&SignoffTarget::Rule { old, new }))
        }
        ScTable::Releases => {
            let name = text(base, "name").unwrap_or_default();
            let stored = match change.change_type {
                ChangeType::Update => load_release(conn, name)?,
                _ => None,
            };
            // Unlocking a read-only release needs what its rules need, or else what its
            // product's channels need (Balrog's read-only rule); any other change what the
            // rules mapping the release need.
            let unlocks = stored.as_ref().is_some_and(|release| release.read_only)
                && base.get("read_only").and_then(Value::as_bool) == Some(false);
            match stored.filter(|_| unlocks) {
                Some(release) => f(
                    conn,
                    Some(&SignoffTarget::ReadOnlyUnset {
                        name,
                        product: &release.product,
                    }),
                ),
                None => f(conn, Some(&SignoffTarget::Release { name })),
            }
        }
        ScTable::Permissions => {
            let (username, permission, options) = permission_of(base)?;
            // Both the options as stored and as the change leaves them: taking a guarded
            // product out of a permission needs signoffs as much as putting it in.
            let stored = match change.change_type {
                ChangeType::Insert => None,
                _ => find_permission(conn, &username, permission)?,
            };
            let scope = |options| PermissionScope {
                permission,
                options,
            };
            let old = stored
                .as_ref()
                .map(|p| scope(&p.options))
                .or_else(|| (change.change_type == ChangeType::Delete).then(|| scope(&options)));
            let new = (change.change_type != ChangeType::Delete).then(|| scope(&options));
            f(conn, Some(&SignoffTarget::Permission { old, new }))
        }
        ScTable::RequiredSignoffsProduct => f(
            conn,
            Some(&SignoffTarget::ProductRequiredSignoff {
                product: text(base, "product").unwrap_or_default(),
                channel: text(base, "channel").unwrap_or_default(),
            }),
        ),
        ScTable::RequiredSignoffsPermissions => f(
            conn,
            Some(&SignoffTarget::PermissionsRequiredSignoff {
                product: text(base, "product").unwrap_or_default(),
            }),
        ),
        ScTable::EmergencyShutoff => match change.change_type {
            // Shutting updates off is never held up; lifting a shutoff is.
            ChangeType::Insert | ChangeType::Update => f(conn, None),
            ChangeType::Delete => f(
                conn,
                Some(&SignoffTarget::ShutoffDelete {
                    product: text(base, "product").unwrap_or_default(),
                    channel: text(base, "channel").unwrap_or_default(),
                }),
            ),
        },
    }
}

/// What `change` needs signed off, on the rows as this transaction sees them.
pub(crate) fn required_signoffs(
    conn: &mut AnyConnection,
    change: &ScheduledChange,
) -> StorageResult<Required> {
    with_target(conn, change, |conn, target| match target {
        Some(target) => required_signoffs_for(conn, target),
        None => Ok(Required::none()),
    })
}

/// Refuses (`BalrogRefusal::SignoffRequired`) when the signoffs `change` carries do not make up
/// what it requires: the same check a direct write runs, with the change's signoffs.
pub(crate) fn check_signoffs(
    conn: &mut AnyConnection,
    change: &ScheduledChange,
) -> StorageResult<()> {
    let roles: Vec<String> = change.signoffs.iter().map(|s| s.role.clone()).collect();
    let mut writer = Writer::from(change.scheduled_by.as_str());
    writer.signoffs = Signoffs::Given(&roles);
    with_target(conn, change, |conn, target| match target {
        Some(target) => writer.check_signoffs(conn, target),
        None => Ok(()),
    })
}

pub(crate) fn user_holds_role(
    conn: &mut AnyConnection,
    user: &str,
    role: &str,
) -> StorageResult<bool> {
    Ok(user_roles(conn, user)?.iter().any(|held| held == role))
}
