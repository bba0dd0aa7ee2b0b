//! Whether a write transaction changed who may do what (users, tokens, permissions), so the
//! server's cache of checked credentials can drop what it holds the moment this instance makes
//! such a change, rather than at its next look at the database's counter.
//!
//! The database's `identity_version` counter, bumped by triggers, is what tells instances apart
//! about each other's changes; this is the same-process shortcut. The functions that write those
//! tables note it on the thread running the transaction (as events are collected, see
//! `events`), and `Store::write` counts the transactions that committed with the note set.

use std::cell::Cell;

thread_local! {
    static TOUCHED: Cell<bool> = const { Cell::new(false) };
}

/// Records that the running write transaction changed an identity table.
pub(crate) fn note() {
    TOUCHED.with(|t| t.set(true));
}

/// Clears the note before a write transaction starts.
pub(crate) fn reset() {
    TOUCHED.with(|t| t.set(false));
}

/// Whether the transaction that just ended noted a change (and clears the note).
pub(crate) fn take() -> bool {
    TOUCHED.with(|t| t.replace(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_lasts_until_taken() {
        reset();
        assert!(!take());
        note();
        assert!(take());
        assert!(!take(), "taking clears the note");
        note();
        reset();
        assert!(!take(), "a new transaction starts without a note");
    }
}
