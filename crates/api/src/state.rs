//! What every handler can reach: the store, the compiled rule set, and the server's settings.

use std::sync::Arc;
use std::time::Duration;

use shiplog_storage::Store;

use crate::bileto::BiletoToken;
use crate::evaluation::LiveRuleSet;

/// Shared by all workers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// The shared token Bileto writes (`?token=`) must carry until API tokens land; without one,
    /// `/v1` writes are refused.
    pub bileto_token: Option<BiletoToken>,
    /// The rule set evaluation is served from, kept in step with the database.
    pub rules: Arc<LiveRuleSet>,
}

impl AppState {
    /// State whose rule set checks the database for changes at most every
    /// [`LiveRuleSet::DEFAULT_REFRESH`].
    pub fn new(store: Store) -> Self {
        Self::with_refresh(store, LiveRuleSet::DEFAULT_REFRESH)
    }

    /// State whose rule set checks the database for other instances' changes at most every
    /// `refresh`.
    pub fn with_refresh(store: Store, refresh: Duration) -> Self {
        AppState {
            store,
            bileto_token: None,
            rules: Arc::new(LiveRuleSet::new(refresh)),
        }
    }

    /// Accepts `/v1` writes carrying this token. An empty token leaves writes disabled.
    pub fn with_bileto_token(mut self, token: impl Into<String>) -> Self {
        self.bileto_token = BiletoToken::new(token.into());
        self
    }
}
