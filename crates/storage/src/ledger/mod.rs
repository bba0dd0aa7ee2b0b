//! The release ledger in SQL: releases with their platforms, notes, metadata and packages.

mod bulk;
mod cache;
mod change;
mod count;
mod count_memo;
pub(crate) mod delivery;
pub(crate) mod filter;
mod fixed_insert;
mod gathered;
mod info;
mod one_statement;
mod packages;
mod page_batch;
mod releases;
mod rows;
mod stats;
mod whole;

// The stored time shape is the same for every table; other modules convert through these.
pub(crate) use cache::ReleaseCache;
pub use cache::ReleaseCacheFigures;
pub use count_memo::CountMemoFigures;
pub(crate) use count_memo::{register as register_connection_number, CountMemo};
pub use gathered::GatheredFigures;
pub(crate) use gathered::GatheredReads;
#[cfg(test)]
pub(crate) use releases::load_release;
pub use releases::ImportSink;
pub(crate) use rows::{from_db, to_db};
