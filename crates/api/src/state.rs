//! What every handler can reach: the store and the server's settings.

use shiplog_storage::Store;

use crate::identity::AuthSettings;

/// Shared by all workers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// Who must authenticate, how long access tokens last, and the clock they expire by.
    pub auth: AuthSettings,
}

impl AppState {
    /// A state with the default settings: reads public, writes need a credential.
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            auth: AuthSettings::default(),
        }
    }

    pub fn with_auth(mut self, auth: AuthSettings) -> Self {
        self.auth = auth;
        self
    }
}
