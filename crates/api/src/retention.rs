//! Outbox retention (`--event-retention`): a background thread on every server that deletes
//! events and finished webhook deliveries older than the retention period, in short batches
//! (see `shiplog_storage`'s `prune_outbox`; on PostgreSQL instances take turns under an
//! advisory lock, so running it everywhere is safe).

use std::sync::Weak;
use std::time::Duration;

use time::OffsetDateTime;

use crate::background::Background;
use crate::state::AppState;
use crate::webhooks::worker::parse_duration;

/// The default retention period.
pub const DEFAULT_RETENTION: &str = "90d";

/// Rows deleted per transaction: small enough that a prune never holds the write lock long.
const BATCH: i64 = 1000;

/// How long events and finished deliveries are kept: `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

/// Reads `--event-retention`: a duration (`90d`, `12h`, …), or `0`/`off` to keep everything.
pub fn parse_retention(text: &str) -> Result<Retention, String> {
    let text = text.trim();
    if text == "0" || text.eq_ignore_ascii_case("off") {
        return Ok(Retention(None));
    }
    let keep = parse_duration(text)?;
    Ok(Retention((!keep.is_zero()).then_some(keep)))
}

/// How the pruner runs.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    pub keep: Retention,
    /// How often to prune (the first prune runs at start-up).
    pub every: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            keep: parse_retention(DEFAULT_RETENTION).unwrap_or(Retention(None)),
            every: Duration::from_secs(3600),
        }
    }
}

/// Starts the pruner on a thread of its own, unless retention is off. It holds the server's
/// state weakly; it returns once the server is gone or stopping.
pub(crate) fn spawn(background: &mut Background, state: Weak<AppState>) {
    let Some(settings) = state.upgrade().map(|s| s.retention.clone()) else {
        return;
    };
    let Retention(Some(keep)) = settings.keep else {
        return;
    };
    background.spawn("event-retention", move |stop| loop {
        let Some(state) = state.upgrade() else {
            return;
        };
        prune(&state, keep);
        drop(state);
        if stop.sleep(settings.every) {
            return;
        }
    });
}

fn prune(state: &AppState, keep: Duration) {
    let Ok(keep) = time::Duration::try_from(keep) else {
        return;
    };
    let Some(cutoff) = OffsetDateTime::now_utc().checked_sub(keep) else {
        return;
    };
    match state.store.prune_outbox(cutoff, BATCH) {
        Ok(pruned) if pruned.events > 0 || pruned.deliveries > 0 => log::info!(
            "event retention: deleted {} events and {} finished deliveries older than {cutoff}",
            pruned.events,
            pruned.deliveries
        ),
        Ok(_) => {}
        Err(err) => log::warn!("event retention: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_a_duration_or_off() {
        let days = |n: u64| Retention(Some(Duration::from_secs(n * 86_400)));
        assert_eq!(parse_retention("90d"), Ok(days(90)));
        assert_eq!(
            parse_retention("12h"),
            Ok(Retention(Some(Duration::from_secs(43_200))))
        );
        for off in ["0", "off", "OFF", "0s"] {
            assert_eq!(parse_retention(off), Ok(Retention(None)), "{off}");
        }
        for bad in ["", "90", "ninety days", "-1d"] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }
}
