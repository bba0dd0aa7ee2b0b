//! Who is writing, and whether they may: the caller comes from their shiplog token (see
//! `crate::identity`), a write without one is refused with 401 "Login Required" as Balrog
//! refuses anonymous writes, and one without the permission Balrog's model asks for with 403
//! "PermissionDeniedError". Reads are public (unless `--auth all`). The user is recorded as
//! `changed_by` in the history and as the user of releases created through this face.
//!
//! A permission that depends on the stored object (its product) is checked by a guard that the
//! storage write runs inside its own transaction, on the object as that transaction read it
//! (`shiplog_storage::Writer`): read, check and write are one transaction, so a concurrent
//! change of product cannot slip between the check and the write. What depends only on the
//! request (the product a write gives) is checked in the handler, before any storage call.

use shiplog_domain::{Action, Denied, PermissionName};
use shiplog_storage::Subject;

use super::Balrog;
use crate::identity::{Caller, Who};

/// The user a write is made by.
pub type Actor = Caller<Balrog>;

/// The guard of a rule write: `action` on `rule` for the product of every version of the rule
/// the write touches (as stored, and for a revert the version restored).
pub(super) fn rule_guard(
    who: &Who,
    action: Action,
) -> impl Fn(Subject<'_>) -> Result<(), Denied> + Sync + '_ {
    move |subject| match subject {
        Subject::Rule(rule) => {
            who.check(PermissionName::Rule, action, rule.fields.product.as_deref())
        }
        Subject::Release(_) | Subject::NewRelease { .. } | Subject::Pin { .. } => Ok(()),
    }
}

/// The guard of a write that changes release contents with permission `thing` (`release`, or
/// `release_locale` for a locale upload, which `release` also allows): `modify` at the stored
/// product of every release changed and at `product`, the one the write gives it; `release
/// create` for every release the write creates.
pub(super) fn release_edit_guard<'a>(
    who: &'a Who,
    thing: PermissionName,
    product: Option<&'a str>,
) -> impl Fn(Subject<'_>) -> Result<(), Denied> + Sync + 'a {
    move |subject| match subject {
        Subject::Release(release) => {
            modify(who, thing, &release.product)?;
            match product {
                Some(product) if product != release.product => modify(who, thing, product),
                _ => Ok(()),
            }
        }
        Subject::NewRelease { product, .. } => {
            who.check(PermissionName::Release, Action::Create, Some(product))
        }
        Subject::Rule(_) | Subject::Pin { .. } => Ok(()),
    }
}

/// The guard of a write that acts on a whole release (deleting it, flagging it read-only):
/// `action` on `thing` for the release's stored product.
pub(super) fn release_guard(
    who: &Who,
    thing: PermissionName,
    action: Action,
) -> impl Fn(Subject<'_>) -> Result<(), Denied> + Sync + '_ {
    move |subject| match subject {
        Subject::Release(release) => who.check(thing, action, Some(&release.product)),
        Subject::NewRelease { .. } | Subject::Rule(_) | Subject::Pin { .. } => Ok(()),
    }
}

/// The guard of a pin write (Balrog's `pinnable_release` permission): `create` for a pin that
/// does not exist yet, `modify` for one the write moves, at the pin's product.
pub(super) fn pin_guard(who: &Who) -> impl Fn(Subject<'_>) -> Result<(), Denied> + Sync + '_ {
    move |subject| match subject {
        Subject::Pin { product, exists } => {
            let action = if exists {
                Action::Modify
            } else {
                Action::Create
            };
            who.check(PermissionName::PinnableRelease, action, Some(product))
        }
        Subject::Release(_) | Subject::NewRelease { .. } | Subject::Rule(_) => Ok(()),
    }
}

fn modify(who: &Who, thing: PermissionName, product: &str) -> Result<(), Denied> {
    if thing == PermissionName::ReleaseLocale
        && who.allows(PermissionName::Release, Action::Modify, Some(product))
    {
        return Ok(());
    }
    who.check(thing, Action::Modify, Some(product))
}
