//! Rebuilds this crate when a migration is added, changed or removed. `embed_migrations!`
//! (`migrate`) reads both migration directories while compiling, and cargo tracks only the
//! files it read: without this, a new migration directory left an incremental build (and the
//! tests it ran) on the old set.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
