//! The one error type of the domain crate: every way an input can fail a domain rule.
//!
//! Messages are written for the person who sent the input: they name the field and the value.

use crate::status::PackageStatus;

/// A domain rule refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An id that is not a UUID.
    #[error("{kind} ID given is not a valid UUID")]
    InvalidId {
        /// What the id was for: `Release` or `Package`.
        kind: &'static str,
    },
    /// A status name outside NOT_STARTED, IN_PROGRESS, SUCCESSFUL, FAILED.
    #[error("Invalid package status, {0} is not in ['NOT_STARTED', 'IN_PROGRESS', 'SUCCESSFUL', 'FAILED']")]
    InvalidStatus(String),
    /// A package status change the deployment rules do not allow.
    #[error("{}", transition_message(*.from, *.to))]
    InvalidTransition {
        /// The status the package has.
        from: PackageStatus,
        /// The status asked for.
        to: PackageStatus,
    },
    /// A timestamp in none of the accepted forms.
    #[error("A badly formatted datetime string was given: {0:?}")]
    InvalidTimestamp(String),
    /// A required field is missing or empty, or has the wrong type.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field's name as the client sends it.
        field: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
}

fn transition_message(from: PackageStatus, to: PackageStatus) -> String {
    match (from, to) {
        (PackageStatus::NotStarted, PackageStatus::Successful | PackageStatus::Failed) => {
            "Can not stop a package which has not been started".to_owned()
        }
        (_, PackageStatus::NotStarted) => "A package can not go back to NOT_STARTED".to_owned(),
        (from, to) => format!("A package can not go from {from} to {to}"),
    }
}

impl DomainError {
    /// Shorthand for [`DomainError::InvalidField`].
    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

/// Result alias for domain operations.
pub type DomainResult<T> = Result<T, DomainError>;
