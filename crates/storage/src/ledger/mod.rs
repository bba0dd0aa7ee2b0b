//! The release ledger in SQL: releases with their platforms, notes, metadata and packages.

mod filter;
mod packages;
mod releases;
mod rows;
