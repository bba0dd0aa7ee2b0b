#![doc = include_str!("../README.md")]

mod connection;
mod error;
mod ledger;
mod migrate;
pub mod query;
mod schema;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod tickets;

pub use connection::{Backend, PoolOptions, Store};
pub use error::{StorageError, StorageResult};
pub use query::{IntRange, PackageFilter, Page, ReleaseFilter, TimeRange};
pub use tickets::{TicketColumn, TicketFilter};
