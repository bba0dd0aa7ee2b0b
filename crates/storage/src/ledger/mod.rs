//! The release ledger in SQL: releases with their platforms, notes, metadata and packages.

mod bulk;
pub(crate) mod filter;
mod info;
mod packages;
mod releases;
mod rows;
mod stats;
