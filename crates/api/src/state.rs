//! What every handler can reach: the store and the server's settings.

use shiplog_storage::Store;

use crate::bileto::BiletoToken;

/// Shared by all workers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// The shared token Bileto writes (`?token=`) must carry until API tokens land; without one,
    /// `/v1` writes are refused.
    pub bileto_token: Option<BiletoToken>,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            bileto_token: None,
        }
    }

    /// Accepts `/v1` writes carrying this token. An empty token leaves writes disabled.
    pub fn with_bileto_token(mut self, token: impl Into<String>) -> Self {
        self.bileto_token = BiletoToken::new(token.into());
        self
    }
}
