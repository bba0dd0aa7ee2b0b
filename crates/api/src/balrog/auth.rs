//! Who is writing, and whether they may: the caller comes from their shiplog token (see
//! `crate::identity`), a write without one is refused with 401 "Login Required" as Balrog
//! refuses anonymous writes, and one without the permission Balrog's model asks for with 403
//! "PermissionDeniedError". Reads are public (unless `--auth all`). The user is recorded as
//! `changed_by` in the history and as the user of releases created through this face.
//!
//! Products are checked against the object as it is just before the write. Deletes and
//! read-only changes name the version they act on, so the check refuses a `data_version` that
//! is not the one it read (as outdated): the product checked is then the product changed.

use shiplog_domain::balrog::NamedRelease;
use shiplog_domain::{Action, PermissionName};

use super::error::BalrogError;
use super::run;
use crate::identity::{Balrog, Caller};
use crate::state::AppState;

/// The user a write is made by.
pub type Actor = Caller<Balrog>;

/// The named releases `names` as they are now (`None` for each that does not exist).
pub(super) async fn current_releases(
    state: &AppState,
    method: &str,
    names: Vec<String>,
) -> Result<Vec<Option<NamedRelease>>, BalrogError> {
    run(state, method, move |store| {
        names
            .iter()
            .map(|name| store.find_named_release(name))
            .collect()
    })
    .await
}

/// A write to releases `names` with `product`: `modify` (or, for `release_locale` edits,
/// either permission) on each that exists, at its stored product and at `product`, and
/// `release` `create` for each that the write will create.
pub(super) fn check_release_write(
    actor: &Actor,
    thing: PermissionName,
    product: &str,
    current: &[Option<NamedRelease>],
) -> Result<(), BalrogError> {
    let modify = |product: &str| {
        if thing == PermissionName::ReleaseLocale
            && actor
                .who
                .allows(PermissionName::Release, Action::Modify, Some(product))
        {
            return Ok(());
        }
        actor.require(thing, Action::Modify, Some(product))
    };
    for release in current {
        match release {
            Some(release) => {
                modify(&release.product)?;
                if release.product != product {
                    modify(product)?;
                }
            }
            None => actor.require(PermissionName::Release, Action::Create, Some(product))?,
        }
    }
    Ok(())
}
