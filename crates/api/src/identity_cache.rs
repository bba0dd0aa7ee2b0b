//! Credentials this server has checked, kept in memory, so that a request with a token seen
//! before costs no database work before its own (checking one is a trip to the blocking pool and
//! two queries on a pooled connection: on SQLite, where every write makes the other connections
//! drop their page cache and mapping, that was a fifth of a write's CPU time).
//!
//! What may a cached answer miss? A change to users, tokens or permissions. The database's
//! `identity_version` counter is bumped by triggers on those tables, whatever makes the change
//! (any instance, the CLI, a migration). Like the rule set (`live_rules`), the cache reads it at
//! most once per refresh interval, and drops everything when it moved; changes made through this
//! process are seen at once, from [`Store::local_identity_changes`]. So a token revoked here stops
//! working here immediately, and on other instances within one refresh interval.
//!
//! Only valid credentials are kept (with their expiry, checked on every use); unknown, revoked and
//! expired ones go to the database each time, where the failed-attempt limit applies as before.
//! Entries are keyed by the SHA-256 of the secret, never the secret itself.
//!
//! [`Store::local_identity_changes`]: shiplog_storage::Store::local_identity_changes

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use shiplog_storage::{Authentication, Identity, TokenCheck};
use time::OffsetDateTime;

/// Entries kept at most; a full cache starts again empty (credentials in use come back at once).
const CAPACITY: usize = 10_000;

/// Checked credentials and the counter they are current for.
pub struct IdentityCache {
    inner: RwLock<Inner>,
    /// When the counter may next be read, in milliseconds since `epoch`.
    next_check_ms: AtomicU64,
    /// Whether a request is reading the counter now.
    checking: AtomicBool,
    refresh: Duration,
    epoch: Instant,
}

struct Inner {
    /// The `identity_version` the entries are current for (`-1`: none read yet).
    version: i64,
    /// `Store::local_identity_changes` when the entries were current.
    local: u64,
    entries: HashMap<[u8; 32], Entry>,
}

struct Entry {
    identity: Identity,
    expires_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for IdentityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("IdentityCache")
            .field("version", &inner.version)
            .field("entries", &inner.entries.len())
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl IdentityCache {
    /// An empty cache that reads the database's counter at most every `refresh`.
    pub fn new(refresh: Duration) -> IdentityCache {
        IdentityCache {
            inner: RwLock::new(Inner {
                version: -1,
                local: 0,
                entries: HashMap::new(),
            }),
            next_check_ms: AtomicU64::new(0),
            checking: AtomicBool::new(false),
            refresh,
            epoch: Instant::now(),
        }
    }

    /// Whether the caller should read the counter now and hand it to [`IdentityCache::observe`]
    /// (or call [`IdentityCache::observe_failure`]). True for one caller at a time, at most once
    /// per refresh interval.
    pub fn poll_due(&self) -> bool {
        let now = self.now_ms();
        now >= self.next_check_ms.load(Ordering::Acquire)
            && self
                .checking
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// The counter as just read: everything checked against an older one is dropped.
    pub fn observe(&self, version: i64) {
        {
            let mut inner = self.write();
            if inner.version != version {
                inner.entries.clear();
                inner.version = version;
            }
        }
        self.checked();
    }

    /// The counter could not be read: nothing cached is trusted until it can be.
    pub fn observe_failure(&self) {
        {
            let mut inner = self.write();
            inner.entries.clear();
            inner.version = -1;
        }
        // Read again at the next request rather than a whole interval later.
        self.checking.store(false, Ordering::Release);
    }

    /// The answer for the credential with `digest`, if it is cached and still current: `local`
    /// is the store's `local_identity_changes` now, `now` the time expiry is judged by.
    pub fn lookup(&self, digest: &[u8; 32], local: u64, now: OffsetDateTime) -> Option<TokenCheck> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if inner.local != local || inner.version < 0 {
            return None;
        }
        let entry = inner.entries.get(digest)?;
        if entry.expires_at.is_some_and(|expires| expires <= now) {
            return Some(TokenCheck::Expired);
        }
        Some(TokenCheck::Valid(entry.identity.clone()))
    }

    /// Keeps a credential just checked in the database. `local_before` and `local_after` are
    /// the store's `local_identity_changes` before and after the check: when they differ, a
    /// change of this process landed meanwhile and the answer may be older than it, so it is not
    /// kept.
    pub fn insert(
        &self,
        digest: [u8; 32],
        checked: &Authentication,
        local_before: u64,
        local_after: u64,
    ) {
        if local_before != local_after {
            return;
        }
        let mut inner = self.write();
        if inner.local != local_after {
            // This process changed identities since the entries were read: none of them is
            // trusted, and the answer just read (after that change) sets the version.
            inner.entries.clear();
            inner.local = local_after;
            inner.version = checked.identity_version;
        } else if checked.identity_version > inner.version {
            inner.entries.clear();
            inner.version = checked.identity_version;
        } else if checked.identity_version < inner.version {
            // Read before a change the cache already knows of.
            return;
        }
        if let TokenCheck::Valid(identity) = &checked.check {
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
            inner.entries.insert(
                digest,
                Entry {
                    identity: identity.clone(),
                    expires_at: checked.expires_at,
                },
            );
        }
    }

    /// How many credentials are cached (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn checked(&self) {
        let next = self.now_ms() + u64::try_from(self.refresh.as_millis()).unwrap_or(u64::MAX);
        self.next_check_ms.store(next, Ordering::Release);
        self.checking.store(false, Ordering::Release);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiplog_domain::Grants;

    fn identity(user: &str) -> Identity {
        Identity {
            user: user.to_owned(),
            api_token_id: 1,
            is_api_token: true,
            grants: Grants(Vec::new()),
        }
    }

    fn valid(user: &str, version: i64) -> Authentication {
        Authentication {
            check: TokenCheck::Valid(identity(user)),
            expires_at: None,
            identity_version: version,
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)
    }

    #[test]
    fn a_checked_credential_is_answered_from_memory() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        assert_eq!(cache.lookup(&[1; 32], 0, now()), None);
        cache.insert([1; 32], &valid("ann", 3), 0, 0);
        assert_eq!(
            cache.lookup(&[1; 32], 0, now()),
            Some(TokenCheck::Valid(identity("ann")))
        );
        assert_eq!(cache.lookup(&[2; 32], 0, now()), None);
    }

    #[test]
    fn refused_credentials_are_not_kept() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        for check in [
            TokenCheck::Unknown,
            TokenCheck::Revoked,
            TokenCheck::Expired,
        ] {
            let checked = Authentication {
                check,
                expires_at: None,
                identity_version: 1,
            };
            cache.insert([1; 32], &checked, 0, 0);
        }
        assert!(cache.is_empty());
    }

    #[test]
    fn an_expired_entry_answers_expired() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        let mut checked = valid("ann", 1);
        checked.expires_at = Some(now() + time::Duration::seconds(5));
        cache.insert([1; 32], &checked, 0, 0);
        assert!(matches!(
            cache.lookup(&[1; 32], 0, now()),
            Some(TokenCheck::Valid(_))
        ));
        assert_eq!(
            cache.lookup(&[1; 32], 0, now() + time::Duration::seconds(5)),
            Some(TokenCheck::Expired)
        );
    }

    #[test]
    fn a_change_through_this_process_drops_everything_at_once() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        cache.insert([1; 32], &valid("ann", 1), 0, 0);
        // The store counted one identity change of ours: nothing cached is trusted.
        assert_eq!(cache.lookup(&[1; 32], 1, now()), None);
        // A check that raced with the change is not kept...
        cache.insert([1; 32], &valid("ann", 1), 0, 1);
        assert_eq!(cache.lookup(&[1; 32], 1, now()), None);
        // ...one made after it is.
        cache.insert([2; 32], &valid("bob", 2), 1, 1);
        assert!(cache.lookup(&[2; 32], 1, now()).is_some());
        assert_eq!(cache.lookup(&[1; 32], 1, now()), None, "the old entry went");
    }

    #[test]
    fn a_moved_counter_drops_everything() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        cache.insert([1; 32], &valid("ann", 4), 0, 0);
        cache.observe(4);
        assert!(cache.lookup(&[1; 32], 0, now()).is_some());
        cache.observe(5);
        assert_eq!(cache.lookup(&[1; 32], 0, now()), None);
        // An answer read before the change the cache knows of is not kept.
        cache.insert([1; 32], &valid("ann", 4), 0, 0);
        assert_eq!(cache.lookup(&[1; 32], 0, now()), None);
        cache.insert([1; 32], &valid("ann", 5), 0, 0);
        assert!(cache.lookup(&[1; 32], 0, now()).is_some());
        // A newer answer than the counter read moves the cache on.
        cache.insert([2; 32], &valid("bob", 6), 0, 0);
        assert_eq!(cache.lookup(&[1; 32], 0, now()), None);
        assert!(cache.lookup(&[2; 32], 0, now()).is_some());
    }

    #[test]
    fn an_unreadable_counter_trusts_nothing() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        cache.insert([1; 32], &valid("ann", 1), 0, 0);
        assert!(cache.poll_due());
        cache.observe_failure();
        assert_eq!(cache.lookup(&[1; 32], 0, now()), None);
        assert!(
            cache.poll_due(),
            "after a failure the next request reads again"
        );
    }

    #[test]
    fn the_counter_is_read_by_one_caller_per_interval() {
        let cache = IdentityCache::new(Duration::from_secs(60));
        assert!(cache.poll_due());
        assert!(!cache.poll_due(), "one reader at a time");
        cache.observe(1);
        assert!(!cache.poll_due(), "not again within the interval");
        let eager = IdentityCache::new(Duration::ZERO);
        assert!(eager.poll_due());
        eager.observe(1);
        assert!(eager.poll_due());
    }
}
