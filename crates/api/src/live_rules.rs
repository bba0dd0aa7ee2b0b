//! The compiled rule set a server evaluates from, and how it stays current.
//!
//! Evaluation never touches the database: it reads an `Arc` of the compiled set. The set is
//! rebuilt when the database's rule-set counter (bumped by every write to rules, named
//! releases and shutoffs, by any instance) differs from the one it was built from. The counter
//! is read at most once per refresh interval, by one request at a time, so a busy server
//! costs the database a primary-key read every interval rather than a query per request
//! (measured on this machine kind: a database query per request cuts throughput 4–8×). A write through
//! this instance marks the set stale, so the next evaluation here checks at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use shiplog_domain::balrog::{DomainAllowlist, RuleSet, SpecialForceHosts};
use shiplog_storage::{StorageError, Store};

use crate::blocking::with_store;

/// A compiled rule set and the counter value it was built from.
#[derive(Debug, Default)]
pub struct CompiledRules {
    /// `-1` before the first load: no database counter has that value.
    pub version: i64,
    pub set: RuleSet,
}

/// The current compiled rule set, refreshed from the database.
pub struct LiveRuleSet {
    current: RwLock<Arc<CompiledRules>>,
    /// When the counter may next be read, in milliseconds since `epoch`.
    next_check_ms: AtomicU64,
    /// Whether a request is reading the counter (or rebuilding) now.
    checking: AtomicBool,
    refresh: Duration,
    epoch: Instant,
    /// Rebuilds so far, and when the last one happened (ms since `epoch`), for metrics.
    reloads: AtomicU64,
    loaded_ms: AtomicU64,
    /// Set once, when the server is configured, before the first build.
    allowlist: OnceLock<Arc<DomainAllowlist>>,
    /// Likewise: the URL prefixes whose patch URLs carry a client's `force`.
    force_hosts: OnceLock<Arc<SpecialForceHosts>>,
}

impl std::fmt::Debug for LiveRuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRuleSet")
            .field("version", &self.snapshot().version)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl LiveRuleSet {
    /// How often, at most, a server reads the counter to notice other instances' writes.
    pub const DEFAULT_REFRESH: Duration = Duration::from_millis(250);

    pub fn new(refresh: Duration) -> LiveRuleSet {
        LiveRuleSet {
            current: RwLock::new(Arc::new(CompiledRules {
                version: -1,
                set: RuleSet::default(),
            })),
            next_check_ms: AtomicU64::new(0),
            checking: AtomicBool::new(false),
            refresh,
            epoch: Instant::now(),
            reloads: AtomicU64::new(0),
            loaded_ms: AtomicU64::new(0),
            allowlist: OnceLock::new(),
            force_hosts: OnceLock::new(),
        }
    }

    /// Compiles every set from now on with `allowlist` (answers leave out the URLs it does not
    /// allow). Meant for configuration, before serving: a second call is ignored.
    pub fn set_allowlist(&self, allowlist: Arc<DomainAllowlist>) {
        if self.allowlist.set(allowlist).is_ok() {
            self.recompile();
        }
    }

    /// Compiles every set from now on passing `force` on to patch URLs under `hosts`. Meant for
    /// configuration, before serving: a second call is ignored.
    pub fn set_special_force_hosts(&self, hosts: Arc<SpecialForceHosts>) {
        if self.force_hosts.set(hosts).is_ok() {
            self.recompile();
        }
    }

    /// A set compiled before a setting was made lacks it: make the next read rebuild.
    fn recompile(&self) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(CompiledRules {
            version: -1,
            set: RuleSet::default(),
        });
        self.invalidate();
    }

    /// The set as it is now, without checking the database.
    pub fn snapshot(&self) -> Arc<CompiledRules> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times the set was rebuilt, and how long ago the one in use was compiled (since
    /// the server started, before the first build).
    pub fn reload_figures(&self) -> (u64, Duration) {
        let age = self
            .now_ms()
            .saturating_sub(self.loaded_ms.load(Ordering::Relaxed));
        (
            self.reloads.load(Ordering::Relaxed),
            Duration::from_millis(age),
        )
    }

    /// Makes the next [`LiveRuleSet::current`] read the counter whatever the interval.
    pub fn invalidate(&self) {
        self.next_check_ms.store(0, Ordering::Release);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The set to evaluate with: first, if the interval is up (or a local write made it
    /// stale) and no other request is at it, reads the counter and rebuilds when it moved. A
    /// failure to refresh is logged and the last good set goes on serving.
    pub async fn current(&self, store: &Store) -> Arc<CompiledRules> {
        let now = self.now_ms();
        let due = now >= self.next_check_ms.load(Ordering::Acquire);
        if due && !self.checking.swap(true, Ordering::AcqRel) {
            // Cleared on every way out, including this future being dropped mid-await (a
            // client that hung up): otherwise no request would ever check again.
            let _checking = ClearOnDrop(&self.checking);
            // Set before reading, so an invalidation during the read forces another check.
            let interval = u64::try_from(self.refresh.as_millis()).unwrap_or(u64::MAX);
            self.next_check_ms
                .store(now.saturating_add(interval), Ordering::Release);
            let known = self.snapshot().version;
            let settings = Settings {
                allowlist: self.allowlist.get().cloned(),
                force_hosts: self.force_hosts.get().cloned(),
            };
            match with_store(store, move |store| rebuild(store, known, settings)).await {
                Ok(Some(rules)) => {
                    log::info!(
                        "rule set {} compiled: {} rules, {} shutoffs",
                        rules.version,
                        rules.set.rule_count(),
                        rules.set.shutoffs().len()
                    );
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
                    self.reloads.fetch_add(1, Ordering::Relaxed);
                    self.loaded_ms.store(self.now_ms(), Ordering::Relaxed);
                }
                Ok(None) => {}
                Err(err) => log::error!(
                    "refreshing the rule set failed, serving version {known}: {}",
                    crate::error_chain::error_chain(&err)
                ),
            }
        }
        self.snapshot()
    }
}

/// Clears the flag it holds when dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The server's settings every compiled set carries.
struct Settings {
    allowlist: Option<Arc<DomainAllowlist>>,
    force_hosts: Option<Arc<SpecialForceHosts>>,
}

/// A freshly compiled set if the counter moved past `known`.
fn rebuild(
    store: &Store,
    known: i64,
    settings: Settings,
) -> Result<Option<CompiledRules>, StorageError> {
    if store.ruleset_version()? == known {
        return Ok(None);
    }
    let snapshot = store.load_evaluation_snapshot()?;
    // Pins ride the same snapshot and counter: a pin write bumps the counter like any change.
    let mut set = RuleSet::compile(&snapshot.rules, &snapshot.shutoffs, snapshot.releases)?
        .with_pins(&snapshot.pins);
    if let Some(allowlist) = settings.allowlist {
        set = set.with_allowlist(allowlist);
    }
    if let Some(hosts) = settings.force_hosts {
        set = set.with_special_force_hosts(hosts);
    }
    Ok(Some(CompiledRules {
        version: snapshot.version,
        set,
    }))
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    #[actix_web::test]
    async fn a_refresh_dropped_mid_await_does_not_stop_later_ones() {
        let path = std::env::temp_dir().join(format!("shiplog-live-{}.db", uuid::Uuid::new_v4()));
        let url = path.to_string_lossy().into_owned();
        let store = Store::connect(&url, &shiplog_storage::PoolOptions::default()).expect("store");
        store.migrate().expect("migrate");
        // Polled once, the refresh is waiting on the blocking pool; then it is dropped, as
        // actix drops a handler whose client hung up. The blocking pool may be quick enough to
        // finish within that first poll: then there was nothing to drop mid-await, and the
        // test tries again with a fresh set.
        let mut dropped_while_pending = None;
        for _ in 0..100 {
            let live = LiveRuleSet::new(Duration::from_secs(3600));
            let pending = {
                let mut refresh = pin!(live.current(&store));
                let mut context = Context::from_waker(Waker::noop());
                refresh.as_mut().poll(&mut context).is_pending()
            };
            assert!(
                !live.checking.load(Ordering::Acquire),
                "the flag was cleared"
            );
            if pending {
                dropped_while_pending = Some(live);
                break;
            }
        }
        let live = dropped_while_pending.expect("a refresh still waiting when dropped");
        live.invalidate();
        let rules = live.current(&store).await;
        assert_eq!(rules.version, store.ruleset_version().expect("counter"));
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
