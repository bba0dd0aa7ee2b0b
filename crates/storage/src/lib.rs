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

pub use connection::{Backend, PoolOptions, Store};
pub use error::{StorageError, StorageResult};
pub use query::{
    DateBucket, DateUnit, IntRange, PackageFilter, Page, ReleaseCounts, ReleaseFilter,
    StatsSubject, TimeRange,
};
