#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod balrog;
pub mod delivery;
pub mod error;
pub mod event;
pub mod ids;
pub mod input;
pub mod permission;
pub mod release;
pub mod status;
pub mod ticket;
pub mod timestamp;

// The crates whose types appear in this crate's API, so an embedder needs no dependencies of its
// own to build blobs (`serde_json::json!`), timestamps (`time::OffsetDateTime`) or ids.
pub use serde;
pub use serde_json;
pub use time;
pub use uuid;

pub use error::{DomainError, DomainResult};
pub use ids::{PackageId, ReleaseId};
pub use permission::{Action, Denied, Grant, Grants, PermissionName, PermissionOptions, UserName};
pub use release::{Metadata, NewPackage, NewRelease, Package, Release};
pub use status::{PackageStatus, ReleaseStatus};
pub use ticket::{
    Comment, CommentId, NewComment, NewTicket, Ticket, TicketChanges, TicketField, TicketFields,
    TicketId, TicketUpdate, TicketWrite,
};
