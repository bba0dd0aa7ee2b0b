//! Who makes a Balrog write, and the permission check that runs inside its transaction.
//!
//! Whether a caller may change a rule or a release depends on the object as it is stored (its
//! product), which only the write's own transaction sees reliably: checked before, a concurrent
//! change of product in between would go unnoticed. So a write takes a [`Writer`]: the name it
//! records in history, and a guard it shows every object it is about to change, create or
//! delete, after reading it and before writing. A guard that refuses aborts the transaction with
//! [`StorageError::Denied`](crate::StorageError::Denied); nothing is written.

use shiplog_domain::balrog::{NamedRelease, Rule};
use shiplog_domain::Denied;

use crate::error::StorageResult;

/// An object a write is about to touch, as the transaction read it.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A rule as stored, before the write changes or deletes it; for a revert, also the version
    /// it is being made again.
    Rule(&'a Rule),
    /// A release as stored, before the write changes or deletes it; for a revert, also the
    /// version it is being made again.
    Release(&'a NamedRelease),
    /// A release the write is about to create.
    NewRelease { name: &'a str, product: &'a str },
}

/// The check a [`Writer`] runs on each [`Subject`].
pub type Guard<'a> = dyn Fn(Subject<'_>) -> Result<(), Denied> + Sync + 'a;

/// The author of a write, and their permission check.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    /// Recorded as `changed_by`.
    pub name: &'a str,
    pub guard: &'a Guard<'a>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn trusted(_: Subject<'_>) -> Result<(), Denied> {
    Ok(())
}

/// A writer whose every change is allowed (the CLI, imports, tests, and callers that checked
/// what they need already).
impl<'a> From<&'a str> for Writer<'a> {
    fn from(name: &'a str) -> Writer<'a> {
        Writer {
            name,
            guard: &trusted,
        }
    }
}

impl Writer<'_> {
    /// Runs the guard on `subject`.
    pub fn check(&self, subject: Subject<'_>) -> StorageResult<()> {
        (self.guard)(subject).map_err(Into::into)
    }
}
