//! Why the Balrog model (rules, named releases, permissions) refused a change, in domain terms; the HTTP face turns each into
//! Balrog's status code and problem body.

use shiplog_domain::balrog::{MergeConflict, RuleField, SignoffShortfall};

/// A refused rule or named-release operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalrogRefusal {
    #[error("rule {0} does not exist")]
    RuleNotFound(String),
    #[error("release {0} does not exist")]
    ReleaseNotFound(String),
    /// The user does not hold that permission (`user/permission`).
    #[error("permission {0} does not exist")]
    PermissionNotFound(String),
    /// The data_version sent is not the current one (and, for blobs, no merge was possible
    /// because it never existed).
    #[error("outdated data_version")]
    Outdated,
    /// An edit made against an older blob conflicts with what changed since.
    #[error("the change conflicts with a newer version: {0}")]
    MergeConflict(MergeConflict),
    /// The release exists, so the request must say which version it changes.
    #[error("{0}")]
    DataVersionMissing(&'static str),
    #[error("{} names release {name:?}, which does not exist", .field.name())]
    UnknownMapping { field: RuleField, name: String },
    #[error("a rule with alias {0:?} exists")]
    AliasTaken(String),
    #[error("release {0} already exists")]
    ReleaseExists(String),
    /// The blob (as it would be after the write) breaks its `schema_version`'s schema: one
    /// `path: problem` line per problem.
    #[error("invalid blob: {}", .0.join("; "))]
    InvalidBlob(Vec<String>),
    #[error("release {0} is marked read only")]
    ReadOnly(String),
    #[error("release {name} has rules pointing to it ({rule_ids:?})")]
    ReleaseInUse { name: String, rule_ids: Vec<i64> },
    /// Pins (`product/channel/version`) serve the release.
    #[error("release {name} is pinnable ({pins:?})")]
    ReleasePinned { name: String, pins: Vec<String> },
    #[error("product {given:?} doesn't match the one on the release object ({stored:?}) for release {release:?}")]
    ProductMismatch {
        given: String,
        stored: String,
        release: String,
    },
    #[error("hashFunction {given:?} doesn't match the one on the release object ({stored:?}) for release {release:?}")]
    HashFunctionMismatch {
        given: String,
        stored: String,
        release: String,
    },
    /// No history record has this id (or it is a marker without data to revert to).
    #[error("invalid change_id {0}")]
    ChangeNotFound(i64),
    /// The history record belongs to another object; names the key (`rule_id`, `name`).
    #[error("bad {0} passed in the request")]
    ChangeOfOtherObject(&'static str),
    /// A shutoff for this product and channel is already in place.
    #[error("an emergency shutoff for {product}/{channel} exists")]
    ShutoffExists { product: String, channel: String },
    #[error("no emergency shutoff for {product}/{channel}")]
    ShutoffNotFound { product: String, channel: String },
    /// The change needs signoffs it does not carry: it must go through a scheduled change.
    #[error("signoff required: {0}")]
    SignoffRequired(SignoffShortfall),
    /// Input the model refuses, with Balrog's message (a requirement more users than hold
    /// the role would have to meet, a role nobody could sign with any more, …).
    #[error("{0}")]
    Invalid(String),
    #[error("user {username} does not hold role {role}")]
    RoleNotFound { username: String, role: String },
    /// No required-signoff row has this key (`product/channel/role` or `product/role`).
    #[error("required signoff {0} does not exist")]
    RequiredSignoffNotFound(String),
    #[error("required signoff {0} exists")]
    RequiredSignoffExists(String),
}
