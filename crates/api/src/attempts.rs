//! Failed credential attempts, counted per client address: an address with `max` failures in
//! the last `window` has its credentials refused unchecked (429 with `Retry-After`, in the
//! face's error body) until the oldest of them is older than the window. Every credential check
//! counts (the login exchange, each token on each face); a request without a credential, and
//! one whose credential is good, counts nothing and is never refused for an address that is
//! under the limit.
//!
//! IPv6 addresses count by their /64, which one host or home usually holds whole. The counts
//! live in this process: each instance behind a load balancer keeps its own.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `max` failed attempts per address in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    pub max: u32,
    pub window: Duration,
}

/// Addresses tracked at most: beyond it, addresses seen for the first time go uncounted until
/// old entries expire (a flood from many addresses must not grow memory without bound).
const MAX_TRACKED: usize = 100_000;

/// The failures of each address within the window.
#[derive(Debug)]
pub struct FailedAttempts {
    limit: Option<AttemptLimit>,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl FailedAttempts {
    /// No limit when `limit` is `None` or allows 0 attempts.
    pub fn new(limit: Option<AttemptLimit>) -> FailedAttempts {
        FailedAttempts {
            limit: limit.filter(|l| l.max > 0 && !l.window.is_zero()),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How long `address` must wait before its credentials are checked again; `None`: they
    /// are checked now.
    pub fn blocked(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let limit = self.limit?;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let failures = seen.get_mut(&key(address))?;
        expire(failures, limit.window, now);
        let full = failures.len() >= limit.max as usize;
        full.then(|| {
            let oldest = failures.front().copied().unwrap_or(now);
            (oldest + limit.window).saturating_duration_since(now)
        })
    }

    /// Counts a failed credential check from `address`.
    pub fn failed(&self, address: IpAddr, now: Instant) {
        let Some(limit) = self.limit else { return };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_TRACKED && !seen.contains_key(&key(address)) {
            seen.retain(|_, failures| {
                expire(failures, limit.window, now);
                !failures.is_empty()
            });
            if seen.len() >= MAX_TRACKED {
                return;
            }
        }
        let failures = seen.entry(key(address)).or_default();
        expire(failures, limit.window, now);
        failures.push_back(now);
        // Only the last `max` matter: the block lasts until the oldest of them expires.
        while failures.len() > limit.max as usize {
            failures.pop_front();
        }
    }
}

/// Drops failures older than the window.
fn expire(failures: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        failures.pop_front();
    }
}

/// The address as counted: IPv4 as it is (also when mapped into IPv6), IPv6 by its /64.
fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_address_is_blocked_after_max_failures_until_the_oldest_expires() {
        let limit = AttemptLimit {
            max: 3,
            window: Duration::from_secs(60),
        };
        let attempts = FailedAttempts::new(Some(limit));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for s in 0..3 {
            assert_eq!(attempts.blocked(a, t0 + Duration::from_secs(s)), None);
            attempts.failed(a, t0 + Duration::from_secs(s * 10));
        }
        assert_eq!(
            attempts.blocked(a, t0 + Duration::from_secs(25)),
            Some(Duration::from_secs(35))
        );
        // Another address is not affected.
        assert_eq!(attempts.blocked(ip("192.0.2.2"), t0), None);
        // Once the first failure is a window old, one more attempt is allowed.
        assert_eq!(attempts.blocked(a, t0 + Duration::from_secs(60)), None);
        attempts.failed(a, t0 + Duration::from_secs(61));
        assert_eq!(
            attempts.blocked(a, t0 + Duration::from_secs(61)),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let attempts = FailedAttempts::new(Some(AttemptLimit {
            max: 2,
            window: Duration::from_secs(60),
        }));
        let now = Instant::now();
        attempts.failed(ip("2001:db8:1:2::1"), now);
        attempts.failed(ip("2001:db8:1:2::ffff"), now);
        assert!(attempts.blocked(ip("2001:db8:1:2::99"), now).is_some());
        assert!(attempts.blocked(ip("2001:db8:1:3::1"), now).is_none());
        attempts.failed(ip("::ffff:192.0.2.7"), now);
        attempts.failed(ip("192.0.2.7"), now);
        assert!(attempts.blocked(ip("192.0.2.7"), now).is_some());
    }

    #[test]
    fn no_limit_counts_nothing() {
        let attempts = FailedAttempts::new(None);
        let now = Instant::now();
        for _ in 0..100 {
            attempts.failed(ip("192.0.2.1"), now);
        }
        assert_eq!(attempts.blocked(ip("192.0.2.1"), now), None);
        let zero = FailedAttempts::new(Some(AttemptLimit {
            max: 0,
            window: Duration::from_secs(1),
        }));
        zero.failed(ip("192.0.2.1"), now);
        assert_eq!(zero.blocked(ip("192.0.2.1"), now), None);
    }
}
