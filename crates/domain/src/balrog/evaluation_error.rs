//! Why a query cannot be evaluated or answered at all: a version that cannot be compared, or a
//! blob that lacks what its answer needs.

/// A version that cannot be compared: Balrog answers these with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    #[error("invalid version number {0:?} in the query")]
    /// The query's version (given here) is not a Mozilla version.
    QueryVersion(String),
    #[error("rule {rule_id} has a version condition {value:?} that cannot be compared with this product's versions")]
    /// A rule's version condition compares with no Mozilla version.
    RuleVersion {
        /// The rule.
        rule_id: i64,
        /// Its version condition item.
        value: String,
    },
    #[error("release {release} has an invalid version {value:?}")]
    /// A release blob's application version is not a version.
    ReleaseVersion {
        /// The release's name.
        release: String,
        /// The version it states.
        value: String,
    },
    #[error("Version Pin String '{0}' is invalid.")]
    /// The query's `pin` (given here) is not `X.` or `X.Y.`; noticed only when a release would
    /// be served past it, as Balrog notices it.
    PinVersion(String),
    #[error("release {release}: {problem}")]
    /// A blob lacks what its answer needs (an add-on platform without its URL, an alias to a
    /// platform that is not there).
    BadBlob {
        /// The release's name.
        release: String,
        /// What is missing.
        problem: String,
    },
}
