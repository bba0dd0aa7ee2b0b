//! What every handler can reach: the store and the server's settings.

use shiplog_storage::Store;

/// Shared by all workers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        AppState { store }
    }
}
