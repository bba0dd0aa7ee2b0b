#![doc = include_str!("../README.md")]

pub mod balrog;
pub mod error;
pub mod ids;
pub mod permission;
pub mod release;
pub mod status;
pub mod ticket;
pub mod timestamp;

pub use error::{DomainError, DomainResult};
pub use ids::{PackageId, ReleaseId};
pub use permission::{Action, Grant, Grants, PermissionName, PermissionOptions, UserName};
pub use release::{Metadata, NewPackage, NewRelease, Package, Release};
pub use status::{PackageStatus, ReleaseStatus};
pub use ticket::{
    Comment, CommentId, NewComment, NewTicket, Ticket, TicketChanges, TicketField, TicketFields,
    TicketId, TicketUpdate, TicketWrite,
};
