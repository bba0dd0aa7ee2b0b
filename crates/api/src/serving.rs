//! What both evaluation endpoints (`/api/v1/evaluate` and the `/update` protocol) share: each
//! worker thread's dice for background rates.

use std::cell::RefCell;
use std::hash::BuildHasher;

use shiplog_domain::balrog::SplitMix64;

thread_local! {
    /// Each worker thread rolls its own dice, seeded from the process's random hash keys: no
    /// lock on the hot path, and no two threads in step.
    static DICE: RefCell<SplitMix64> = RefCell::new(SplitMix64(
        std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id()),
    ));
}

/// Runs `f` with this thread's dice.
pub(crate) fn with_dice<T>(f: impl FnOnce(&mut SplitMix64) -> T) -> T {
    DICE.with(|dice| f(&mut dice.borrow_mut()))
}
