//! The delivery worker every server runs: claims one subscription at a time under a lease,
//! turns its new events into deliveries, and sends the due ones in id order with Standard
//! Webhooks headers; retries on a schedule with jitter, honours `Retry-After` on 429/503,
//! disables a subscription on 410 or after five days of failures. The outgoing HTTP (ureq,
//! blocking) runs on actix's blocking pool, never on an async worker.

use std::io::Read;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use shiplog_storage::{AttemptOutcome, ClaimedWebhook, DueDelivery, StorageResult, Store};
use time::OffsetDateTime;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use super::destination::{check_destination, Cidr};
use super::signature::sign;
use crate::background::Background;
use crate::state::AppState;

/// The default retry schedule: the delays before the 2nd, 3rd, … attempt.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

/// The most of an endpoint's answer shiplog reads; the rest is dropped unread.
const RESPONSE_CAP: u64 = 64 * 1024;

/// Events fanned out per subscription per turn.
const FAN_OUT_BATCH: i64 = 500;

/// Deliveries read per query while working a subscription.
const DUE_BATCH: i64 = 100;

/// The longest `Retry-After` honoured (a longer one waits this long).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Delays before each retry; after the last, a message is given up (`failed`).
    pub retry_schedule: Vec<Duration>,
    /// Ranges no webhook may reach, besides the fixed ones (`--webhook-deny-cidrs`).
    pub deny: Vec<Cidr>,
    /// Whether this server runs the worker.
    pub run_worker: bool,
    /// How long an idle worker waits before looking again.
    pub poll: Duration,
    /// How long a claim on a subscription lasts; a dead instance's claims run out after it.
    pub lease: Duration,
    /// The longest an attempt may take, connection to last byte.
    pub timeout: Duration,
    /// This instance's name in the attempt records.
    pub instance: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_schedule: parse_schedule(DEFAULT_SCHEDULE).unwrap_or_default(),
            deny: Vec::new(),
            run_worker: true,
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            instance: instance_name(),
        }
    }
}

/// A name for this process: the host's and a random part, so two instances on one host differ.
fn instance_name() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "shiplog".to_owned());
    format!("{host}-{:08x}", u32::from_be_bytes(bytes))
}

/// Reads `--webhook-retry-schedule`: a comma list of durations (`500ms`, `5s`, `5m`, `2h`,
/// `1d`), at least one.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let delays = text
        .split(',')
        .map(|part| parse_duration(part.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if delays.is_empty() {
        return Err("the retry schedule needs at least one delay".to_owned());
    }
    Ok(delays)
}

/// Reads one duration: `500ms`, `5s`, `5m`, `2h` or `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 500ms, 5s, 5m, 2h or 1d");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(millis))
}

/// Starts the worker on a thread of its own (its HTTP calls block). It holds the server's
/// state weakly; it returns once the server is gone or stopping.
pub(crate) fn spawn(background: &mut Background, state: Weak<AppState>) {
    background.spawn("webhook-delivery", move |stop| {
        let Some(settings) = state.upgrade().map(|s| Arc::clone(&s.webhooks)) else {
            return;
        };
        // One agent for the worker's life: it keeps connections to endpoints open.
        let agent = agent(&settings);
        loop {
            let Some(state) = state.upgrade() else {
                return;
            };
            let busy = match turn(&state.store, &settings, &agent) {
                Ok(busy) => busy,
                Err(err) => {
                    log::warn!("webhook delivery: {err}");
                    false
                }
            };
            drop(state);
            let stopped = if busy {
                stop.is_stopped()
            } else {
                stop.sleep(settings.poll)
            };
            if stopped {
                return;
            }
        }
    });
}

fn agent(settings: &WebhookSettings) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect could lead anywhere, past the destination check.
        .max_redirects(0)
        .timeout_global(Some(settings.timeout))
        .user_agent("shiplog-webhooks")
        // https:// endpoints through the OpenSSL libpq already links, trusting the host's
        // root certificates (an intranet CA installed on the host is trusted too).
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::NativeTls)
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// One turn: claim a subscription, fan out, deliver what is due, release. Whether there was
/// anything to do.
fn turn(store: &Store, settings: &WebhookSettings, agent: &ureq::Agent) -> StorageResult<bool> {
    let lease = time::Duration::try_from(settings.lease).unwrap_or(time::Duration::SECOND * 30);
    let Some(mut claimed) =
        store.claim_webhook(&settings.instance, OffsetDateTime::now_utc(), lease)?
    else {
        return Ok(false);
    };
    let worked = work(store, settings, agent, &mut claimed);
    store.release_webhook(claimed.id, &settings.instance)?;
    worked
}

fn work(
    store: &Store,
    settings: &WebhookSettings,
    agent: &ureq::Agent,
    claimed: &mut ClaimedWebhook,
) -> StorageResult<bool> {
    let started = Instant::now();
    // Stop well inside the lease, so no other instance takes over while an attempt runs.
    let budget = settings.lease / 2;
    let mut busy = match store.fan_out(claimed, FAN_OUT_BATCH) {
        Ok(queued) => queued > 0,
        Err(shiplog_storage::StorageError::Conflict(reason)) => {
            log::info!("webhook delivery: {reason}");
            return Ok(true);
        }
        Err(err) => return Err(err),
    };
    loop {
        let due = store.due_deliveries(claimed.id, OffsetDateTime::now_utc(), DUE_BATCH)?;
        if due.is_empty() {
            return Ok(busy);
        }
        for delivery in &due {
            if started.elapsed() + settings.timeout > budget {
                return Ok(true);
            }
            let mut outcome = attempt(settings, agent, claimed, delivery);
            if !outcome.delivered && outcome.disable.is_none() {
                let since = store.webhook_failing_since(claimed.id)?;
                if since.is_some_and(|since| outcome.at - since >= shiplog_storage::FAILING_FOR) {
                    outcome.disable = Some("failing");
                }
            }
            store.record_attempt(claimed.id, delivery.id, &settings.instance, &outcome)?;
            crate::ops::metrics::webhook_attempt(if outcome.delivered {
                "delivered"
            } else if outcome.disable.is_some() {
                "disabled"
            } else if outcome.next_attempt_at.is_some() {
                "retry"
            } else {
                "failed"
            });
            busy = true;
            if outcome.disable.is_some() {
                return Ok(true);
            }
        }
    }
}

/// Sends one message and says what became of it.
fn attempt(
    settings: &WebhookSettings,
    agent: &ureq::Agent,
    claimed: &ClaimedWebhook,
    delivery: &DueDelivery,
) -> AttemptOutcome {
    let at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let made = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
    let retry = |at: OffsetDateTime, wait: Option<Duration>| -> Option<OffsetDateTime> {
        let wait = match wait {
            Some(wait) => wait,
            None => jitter(*settings.retry_schedule.get(made as usize - 1)?),
        };
        Some(at + time::Duration::try_from(wait).ok()?)
    };
    let failed = |status: Option<i32>, error: String, wait: Option<Duration>| AttemptOutcome {
        at,
        status,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        error: Some(error),
        delivered: false,
        next_attempt_at: retry(at, wait),
        disable: None,
    };
    if let Err(reason) = check_destination(&claimed.url, &settings.deny) {
        return failed(None, format!("refused destination: {reason}"), None);
    }
    let timestamp = at.unix_timestamp();
    let Some(signature) = sign(
        &claimed.secret,
        &delivery.message_id,
        timestamp,
        &delivery.payload,
    ) else {
        return failed(None, "the stored secret is malformed".to_owned(), None);
    };
    let sent = agent
        .post(&claimed.url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .send(delivery.payload.as_str());
    let mut response = match sent {
        Ok(response) => response,
        Err(err) => return failed(None, err.to_string(), None),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    // Read (a capped part of) the answer so the connection can be reused; its text goes into
    // the attempt record when the endpoint refused.
    let mut head = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(RESPONSE_CAP)
        .read_to_end(&mut head);
    let status_i32 = Some(i32::from(status));
    if (200..300).contains(&status) {
        return AttemptOutcome {
            at,
            status: status_i32,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            error: None,
            delivered: true,
            next_attempt_at: None,
            disable: None,
        };
    }
    let snippet: String = String::from_utf8_lossy(&head).chars().take(200).collect();
    let error = format!("HTTP {status}: {snippet}");
    if status == 410 {
        let mut outcome = failed(status_i32, error, None);
        outcome.next_attempt_at = None;
        outcome.disable = Some("gone");
        return outcome;
    }
    let wait = retry_after.filter(|_| status == 429 || status == 503);
    failed(status_i32, error, wait)
}

/// The delay ±10%, so a burst of failures does not retry in one wave.
fn jitter(delay: Duration) -> Duration {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        return delay;
    }
    let unit = f64::from(u16::from_be_bytes(bytes)) / f64::from(u16::MAX);
    delay.mul_f64(0.9 + 0.2 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_comma_lists_of_durations() {
        assert_eq!(
            parse_schedule("500ms, 5s,5m,2h,1d").expect("valid"),
            [
                Duration::from_millis(500),
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200),
                Duration::from_secs(86_400)
            ]
        );
        assert_eq!(parse_schedule(DEFAULT_SCHEDULE).expect("valid").len(), 9);
        for bad in ["", "5", "s", "5x", "5s,,5s", "-1s", "99999999999999999999d"] {
            assert!(parse_schedule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(100));
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }
}
