//! The scheduler: a thread inside `shiplog serve` that enacts due scheduled changes (`when` has
//! come, every required signoff given) every `--scheduler-interval`, as the identity
//! [`SCHEDULER_IDENTITY`] (Balrog's agent does this as a separate daemon). Each change is enacted
//! exactly once however many instances share the database: the storage locks the change's row
//! for the transaction that applies it (see `shiplog_storage`'s scheduled changes). Enacted
//! rule changes bump the rule-set counter like every recorded write, so every instance serves
//! them from its next refresh; this one marks its own rule set stale at once.

use std::sync::Weak;
use std::time::Duration;

use crate::background::Background;
use crate::state::AppState;

/// The name enactments by the scheduler are recorded under (`enacted_by`, the
/// `scheduled_change` history and events). The change itself is recorded as made by its
/// `scheduled_by`, as Balrog does.
pub const SCHEDULER_IDENTITY: &str = "shiplog-scheduler";

/// Due changes enacted per turn at most (the rest wait for the next turn, which follows at
/// once when a turn was full).
const BATCH: usize = 100;

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Whether this server runs the scheduler.
    pub run: bool,
    /// How long it waits between looks at the due changes.
    pub interval: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            run: true,
            interval: Duration::from_secs(1),
        }
    }
}

/// Starts the scheduler on a thread of its own. It holds the server's state weakly; it returns
/// once the server is gone or stopping.
pub(crate) fn spawn(background: &mut Background, state: Weak<AppState>) {
    background.spawn("scheduler", move |stop| loop {
        let Some(state) = state.upgrade() else {
            return;
        };
        let interval = state.scheduler.interval;
        let full = turn(&state);
        drop(state);
        let stopped = if full {
            stop.is_stopped()
        } else {
            stop.sleep(interval)
        };
        if stopped {
            return;
        }
    });
}

/// One turn: enact what is due. Whether the turn was full (more may be waiting).
fn turn(state: &AppState) -> bool {
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX);
    match state.store.enact_due(SCHEDULER_IDENTITY, now, BATCH) {
        Ok(done) => {
            if !done.is_empty() {
                state.rules.invalidate();
            }
            for enactment in &done {
                match enactment {
                    shiplog_storage::Enactment::Enacted(change) => log::info!(
                        "scheduler: enacted scheduled change {} ({} {})",
                        change.sc_id,
                        change.table,
                        change.change_type
                    ),
                    shiplog_storage::Enactment::Failed(change) => log::warn!(
                        "scheduler: scheduled change {} ({} {}) can no longer apply: {:?}",
                        change.sc_id,
                        change.table,
                        change.change_type,
                        change.outcome
                    ),
                }
            }
            done.len() >= BATCH
        }
        Err(err) => {
            log::warn!("scheduler: {}", crate::error_chain::error_chain(&err));
            false
        }
    }
}

/// Reads `--scheduler-interval`: a duration (`1s`, `250ms`, `1m`), more than zero.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = crate::webhooks::worker::parse_duration(text.trim())?;
    if interval.is_zero() {
        return Err("the scheduler interval must be more than zero".to_owned());
    }
    Ok(interval)
}
