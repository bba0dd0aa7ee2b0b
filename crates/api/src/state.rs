//! What every handler can reach: the store, the compiled rule set, and the server's settings.

use std::sync::Arc;
use std::time::Duration;

use shiplog_domain::balrog::{DomainAllowlist, SpecialForceHosts};
use shiplog_storage::Store;

use crate::attempts::FailedAttempts;
use crate::identity::AuthSettings;
use crate::identity_cache::IdentityCache;
use crate::live_rules::LiveRuleSet;
use crate::ops::Metrics;
use crate::recent_queries::RecentQueries;

/// Shared by all workers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// The rule set evaluation is served from, kept in step with the database.
    pub rules: Arc<LiveRuleSet>,
    /// Who must authenticate, how long access tokens last, and the clock they expire by.
    pub auth: AuthSettings,
    /// Credentials already checked, current with the database's identity counter.
    pub identities: Arc<IdentityCache>,
    /// The update queries answered lately, per product, for previews of scheduled changes.
    pub recent_queries: Arc<RecentQueries>,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
    /// Failed credential checks per client address (limited by `auth.failed_attempts`).
    pub attempts: Arc<FailedAttempts>,
    /// Webhook delivery: retry schedule, denied ranges, whether this server runs the worker.
    pub webhooks: Arc<crate::webhooks::WebhookSettings>,
    /// The download hosts release blobs may name, per product (`None`: any).
    pub allowlist: Option<Arc<DomainAllowlist>>,
    /// How long events and finished deliveries are kept, and how often the pruner looks.
    pub retention: crate::retention::RetentionSettings,
    /// Whether this server runs the scheduler that enacts due scheduled changes, and how often.
    pub scheduler: Arc<crate::scheduler::SchedulerSettings>,
    /// The thread SQLite's write requests run on (see `write_queue`).
    pub writes: Arc<crate::write_queue::WriteQueue>,
}

impl AppState {
    /// A state with the default settings: reads public, writes need a credential, and the rule
    /// set checks the database for changes at most every [`LiveRuleSet::DEFAULT_REFRESH`].
    pub fn new(store: Store) -> Self {
        Self::with_refresh(store, LiveRuleSet::DEFAULT_REFRESH)
    }

    /// State whose rule set, and cache of checked credentials, check the database for other
    /// instances' changes at most every `refresh`.
    pub fn with_refresh(store: Store, refresh: Duration) -> Self {
        let rules = Arc::new(LiveRuleSet::new(refresh));
        AppState {
            metrics: Arc::new(Metrics::new(store.clone(), Arc::clone(&rules))),
            store,
            rules,
            auth: AuthSettings::default(),
            identities: Arc::new(IdentityCache::new(refresh)),
            recent_queries: Arc::new(RecentQueries::new()),
            attempts: Arc::new(FailedAttempts::new(None)),
            webhooks: Arc::new(crate::webhooks::WebhookSettings::default()),
            allowlist: None,
            retention: crate::retention::RetentionSettings::default(),
            scheduler: Arc::new(crate::scheduler::SchedulerSettings::default()),
            writes: Arc::default(),
        }
    }

    pub fn with_auth(mut self, auth: AuthSettings) -> Self {
        self.attempts = Arc::new(FailedAttempts::new(auth.failed_attempts));
        self.auth = auth;
        self
    }

    /// Release writes must keep to `allowlist`, and answers leave out the URLs it does not
    /// allow (the rule set is compiled with it).
    pub fn with_allowlist(mut self, allowlist: DomainAllowlist) -> Self {
        let allowlist = Arc::new(allowlist);
        self.rules.set_allowlist(Arc::clone(&allowlist));
        self.allowlist = Some(allowlist);
        self
    }

    /// Update answers pass a client's `force` on to patch URLs under `hosts` (Balrog's
    /// `SPECIAL_FORCE_HOSTS`; docs/evaluation.md).
    pub fn with_special_force_hosts(self, hosts: SpecialForceHosts) -> Self {
        self.rules.set_special_force_hosts(Arc::new(hosts));
        self
    }

    pub fn with_retention(mut self, retention: crate::retention::RetentionSettings) -> Self {
        self.retention = retention;
        self
    }

    pub fn with_scheduler(mut self, scheduler: crate::scheduler::SchedulerSettings) -> Self {
        self.scheduler = Arc::new(scheduler);
        self
    }

    pub fn with_webhooks(mut self, webhooks: crate::webhooks::WebhookSettings) -> Self {
        self.webhooks = Arc::new(webhooks);
        self
    }
}
