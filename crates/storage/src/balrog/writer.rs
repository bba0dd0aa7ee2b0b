//! Who makes a Balrog write, and the permission check that runs inside its transaction.
//!
//! Whether a caller may change a rule or a release depends on the object as it is stored (its
//! product), which only the write's own transaction sees reliably: checked before, a concurrent
//! change of product in between would go unnoticed. So a write takes a [`Writer`]: the name it
//! records in history, and a guard it shows every object it is about to change, create or
//! delete, after reading it and before writing. A guard that refuses aborts the transaction with
//! [`StorageError::Denied`](crate::StorageError::Denied); nothing is written.
//!
//! The same reasoning holds for required signoffs: what a change needs depends on the rules and
//! required-signoff rows as stored, so the write asks its [`Writer`] to check them
//! ([`Writer::check_signoffs`]) inside its transaction, against the signoffs the writer carries
//! ([`Signoffs`]). A shortfall aborts the transaction with
//! [`BalrogRefusal::SignoffRequired`].

use shiplog_domain::balrog::{NamedRelease, Rule};
use shiplog_domain::Denied;

use super::refusal::BalrogRefusal;
use super::signoffs::{required_signoffs_for, SignoffTarget};
use crate::connection::AnyConnection;
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
    /// A pin of `product` the write sets: a new one (`exists` false) or one it moves.
    Pin { product: &'a str, exists: bool },
}

/// The check a [`Writer`] runs on each [`Subject`].
pub type Guard<'a> = dyn Fn(Subject<'_>) -> Result<(), Denied> + Sync + 'a;

/// The signoffs a write carries, checked against what its change requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signoffs<'a> {
    /// Not checked: trusted writers (the CLI, imports, tests), which act as the operator.
    Unchecked,
    /// The role of each signoff made (one entry per signing user). A direct change over the API
    /// carries none ([`Signoffs::DIRECT`]); an enacted scheduled change carries its own.
    Given(&'a [String]),
}

impl Signoffs<'_> {
    /// A direct change: refused whenever its target requires any signoff.
    pub const DIRECT: Signoffs<'static> = Signoffs::Given(&[]);

    /// Refuses when `target` requires signoffs these do not make up, on the rows as the
    /// caller's transaction sees them.
    pub(crate) fn check(
        self,
        conn: &mut AnyConnection,
        target: &SignoffTarget<'_>,
    ) -> StorageResult<()> {
        let Signoffs::Given(roles) = self else {
            return Ok(());
        };
        required_signoffs_for(conn, target)?
            .verify(roles.iter().map(String::as_str))
            .map_err(|shortfall| BalrogRefusal::SignoffRequired(shortfall).into())
    }
}

/// The author of a write, their permission check and the signoffs they carry.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    /// Recorded as `changed_by`.
    pub name: &'a str,
    pub guard: &'a Guard<'a>,
    pub signoffs: Signoffs<'a>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("name", &self.name)
            .field("signoffs", &self.signoffs)
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
            signoffs: Signoffs::Unchecked,
        }
    }
}

impl<'a> Writer<'a> {
    /// A writer whose permissions were checked already (from the request alone) but whose
    /// change must carry the signoffs its target requires: a direct change over the API.
    pub fn direct(name: &'a str) -> Writer<'a> {
        Writer {
            name,
            guard: &trusted,
            signoffs: Signoffs::DIRECT,
        }
    }

    /// Runs the guard on `subject`.
    pub fn check(&self, subject: Subject<'_>) -> StorageResult<()> {
        (self.guard)(subject).map_err(Into::into)
    }

    /// Refuses the write when `target` requires signoffs the writer does not carry. Runs inside
    /// the write's transaction, on the rows as it sees them.
    pub(crate) fn check_signoffs(
        &self,
        conn: &mut AnyConnection,
        target: &SignoffTarget<'_>,
    ) -> StorageResult<()> {
        self.signoffs.check(conn, target)
    }
}
