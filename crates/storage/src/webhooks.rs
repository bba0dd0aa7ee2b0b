//! Webhook subscriptions, their deliveries and attempts: the administration (create, list,
//! change, delete, test, redeliver) and what the delivery worker needs (claim a subscription
//! under a lease, fan its new events out into deliveries, take the due ones in id order, record
//! each attempt). The HTTP side (signing, sending, the SSRF guard) lives in the api crate.
//!
//! A lease (`lease_owner`, `lease_until` on the subscription) makes one instance at a time work
//! a subscription, so every attempt is made by exactly one instance and first attempts go out
//! in event order; PostgreSQL claims with `FOR UPDATE SKIP LOCKED` so instances never wait on
//! each other, and an instance that dies leaves a lease that simply runs out.

use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel::{QueryableByName, RunQueryDsl};
use serde::{Deserialize, Serialize};
use shiplog_domain::event::TypePattern;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::events::{Event, EventFilter};
use crate::ledger::{from_db, to_db};
use crate::sql::{Sql, Value};
use crate::stored_time::{MaybeStoredTime, StoredTime};

/// The tag filters a subscription narrows its events with (each one given must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// A subscription as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub filters: WebhookFilters,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why shiplog disabled it (`gone`: the endpoint answered 410; `failing`: five days of
    /// failures), or null.
    pub disabled_reason: Option<String>,
    pub created_by: String,
    #[serde(serialize_with = "crate::events::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A subscription to create. `secret` is the full `whsec_…` text.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<TypePattern>,
    pub filters: WebhookFilters,
    pub description: Option<String>,
    pub secret: String,
    pub created_by: String,
}

/// A partial change (`PATCH`): each field given replaces the stored one.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<TypePattern>>,
    pub filters: Option<WebhookFilters>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// One attempt to deliver a message, as `GET …/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptInfo {
    pub delivery_id: i64,
    pub message_id: String,
    pub event_id: Option<i64>,
    #[serde(rename = "type")]
    pub kind: String,
    /// The delivery's state now: `pending`, `delivered` or `failed`.
    pub state: String,
    #[serde(serialize_with = "crate::events::rfc3339")]
    pub attempted_at: OffsetDateTime,
    /// The endpoint's HTTP status, or null when no answer came (refused, timed out, blocked).
    pub status: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// When the next attempt of this message is due after this one, or null.
    #[serde(serialize_with = "crate::events::rfc3339_opt")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Which shiplog instance made the attempt.
    pub instance: String,
}

/// A subscription claimed by the worker, with what it needs to sign.
#[derive(Debug, Clone)]
pub struct ClaimedWebhook {
    pub id: i64,
    /// A release's callback row (see `callbacks`): it has no events to fan out.
    pub callback: bool,
    pub url: String,
    pub secret: String,
    pub filter: EventFilter,
}

/// A message due for an attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub message_id: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// What became of an attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub at: OffsetDateTime,
    pub status: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// Delivered (2xx).
    pub delivered: bool,
    /// When to try again; `None` after success or when no attempt is left.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Disable the subscription, with this reason (`gone` on 410, `failing` after 5 days).
    pub disable: Option<&'static str>,
}

/// How long a subscription failing without a single success is kept enabled.
pub const FAILING_FOR: Duration = Duration::days(5);

#[derive(QueryableByName)]
struct WebhookRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    events: String,
    #[diesel(sql_type = Text)]
    filters: String,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    disabled_reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    event_cursor: i64,
    #[diesel(sql_type = Text)]
    created_by: String,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    created_at: PrimitiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    release_id: Option<String>,
}

const WEBHOOK_COLUMNS: &str = "id, url, events, filters, description, secret, enabled, \
    disabled_reason, event_cursor, created_by, created_at, release_id";

impl WebhookRow {
    fn patterns(&self) -> StorageResult<Vec<String>> {
        serde_json::from_str(&self.events)
            .map_err(|_| StorageError::Corrupt(format!("webhook {} has bad events", self.id)))
    }

    fn filters(&self) -> StorageResult<WebhookFilters> {
        serde_json::from_str(&self.filters)
            .map_err(|_| StorageError::Corrupt(format!("webhook {} has bad filters", self.id)))
    }

    fn into_webhook(self) -> StorageResult<Webhook> {
        Ok(Webhook {
            events: self.patterns()?,
            filters: self.filters()?,
            id: self.id,
            url: self.url,
            description: self.description,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            created_by: self.created_by,
            created_at: from_db(self.created_at),
        })
    }

    fn into_claimed(self) -> StorageResult<ClaimedWebhook> {
        let types = self
            .patterns()?
            .iter()
            .map(|p| TypePattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| StorageError::Corrupt(format!("webhook {} has bad events", self.id)))?;
        let filters = self.filters()?;
        Ok(ClaimedWebhook {
            id: self.id,
            callback: self.release_id.is_some(),
            filter: EventFilter {
                after: self.event_cursor,
                types,
                product: filters.product,
                channel: filters.channel,
                platform: filters.platform,
                team: filters.team,
            },
            url: self.url,
            secret: self.secret,
        })
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn json_text(value: &impl Serialize) -> StorageResult<String> {
    serde_json::to_string(value).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn pattern_texts(patterns: &[TypePattern]) -> Vec<String> {
    patterns.iter().map(ToString::to_string).collect()
}

fn load_webhook(conn: &mut AnyConnection, id: i64) -> StorageResult<Option<WebhookRow>> {
    let mut sql = Sql::new(Backend::of(conn));
    sql.push("SELECT ")
        .push(WEBHOOK_COLUMNS)
        .push(" FROM webhooks WHERE release_id IS NULL AND id = ")
        .bind(Value::BigInt(id));
    Ok(sql
        .into_query()
        .load::<WebhookRow>(conn)?
        .into_iter()
        .next())
}

fn latest_event(conn: &mut AnyConnection) -> StorageResult<i64> {
    crate::events::latest_settled(conn)
}

/// `{"type","timestamp","data"}`: the Standard Webhooks body of an event.
pub fn payload_of(event: &Event) -> StorageResult<String> {
    #[derive(Serialize)]
    struct Payload<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(serialize_with = "crate::events::rfc3339")]
        timestamp: OffsetDateTime,
        data: &'a serde_json::Value,
    }
    json_text(&Payload {
        kind: &event.kind,
        timestamp: event.timestamp,
        data: &event.data,
    })
}

/// The columns a pending delivery is inserted with, in the order [`insert_delivery`] gives them.
pub(crate) const DELIVERY_COLUMNS: &str =
    "webhook_id, event_id, message_id, type, payload, state, attempts, next_attempt_at, created_at";

pub(crate) fn insert_delivery(
    conn: &mut AnyConnection,
    webhook: i64,
    event: Option<i64>,
    message_id: &str,
    kind: &str,
    payload: &str,
    now: OffsetDateTime,
) -> StorageResult<i64> {
    let mut sql = Sql::new(Backend::of(conn));
    sql.push("INSERT INTO webhook_deliveries (")
        .push(DELIVERY_COLUMNS)
        .push(") VALUES (")
        .bind(Value::BigInt(webhook))
        .push(", ");
    match event {
        Some(id) => sql.bind(Value::BigInt(id)),
        None => sql.push("NULL"),
    };
    sql.push(", ")
        .bind(Value::Text(message_id.to_owned()))
        .push(", ")
        .bind(Value::Text(kind.to_owned()))
        .push(", ")
        .bind(Value::Text(payload.to_owned()))
        .push(", 'pending', 0, ")
        .bind(Value::timestamp(to_db(now)))
        .push(", ")
        .bind(Value::timestamp(to_db(now)))
        .push(") RETURNING id");
    Ok(sql.into_key_lookup().get_result::<IdRow>(conn)?.id)
}

impl Store {
    /// Stores a subscription; it receives the events written from now on.
    pub fn insert_webhook(&self, new: &NewWebhook) -> StorageResult<Webhook> {
        let now = OffsetDateTime::now_utc();
        let events = json_text(&pattern_texts(&new.events))?;
        let filters = json_text(&new.filters)?;
        self.write(|conn| {
            let cursor = latest_event(conn)?;
            let mut sql = Sql::new(Backend::of(conn));
            sql.push(
                "INSERT INTO webhooks (url, events, filters, description, secret, enabled, \
                 event_cursor, lease_until, created_by, created_at) VALUES (",
            )
            .bind(Value::Text(new.url.clone()))
            .push(", ")
            .bind(Value::Text(events.clone()))
            .push(", ")
            .bind(Value::Text(filters.clone()))
            .push(", ")
            .bind(Value::OptText(new.description.clone()))
            .push(", ")
            .bind(Value::Text(new.secret.clone()))
            .push(", ")
            .bind(Value::Bool(true))
            .push(", ")
            .bind(Value::BigInt(cursor))
            .push(", ")
            .bind(Value::timestamp(to_db(now)))
            .push(", ")
            .bind(Value::Text(new.created_by.clone()))
            .push(", ")
            .bind(Value::timestamp(to_db(now)))
            .push(") RETURNING id");
            let id = sql.into_query().get_result::<IdRow>(conn)?.id;
            load_webhook(conn, id)?
                .ok_or_else(|| StorageError::Corrupt("inserted webhook vanished".into()))?
                .into_webhook()
        })
    }

    /// Every subscription, oldest first.
    pub fn list_webhooks(&self) -> StorageResult<Vec<Webhook>> {
        self.read(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("SELECT ")
                .push(WEBHOOK_COLUMNS)
                .push(" FROM webhooks WHERE release_id IS NULL ORDER BY id");
            let rows: Vec<WebhookRow> = sql.into_query().load(conn)?;
            rows.into_iter().map(WebhookRow::into_webhook).collect()
        })
    }

    pub fn find_webhook(&self, id: i64) -> StorageResult<Option<Webhook>> {
        self.read(|conn| {
            load_webhook(conn, id)?
                .map(WebhookRow::into_webhook)
                .transpose()
        })
    }

    /// Applies a partial change; `None` if there is no such subscription. Enabling clears the
    /// reason it was disabled and its failure streak.
    pub fn update_webhook(&self, id: i64, patch: &WebhookPatch) -> StorageResult<Option<Webhook>> {
        let events = patch
            .events
            .as_ref()
            .map(|e| json_text(&pattern_texts(e)))
            .transpose()?;
        let filters = patch.filters.as_ref().map(json_text).transpose()?;
        self.write(|conn| {
            if load_webhook(conn, id)?.is_none() {
                return Ok(None);
            }
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("UPDATE webhooks SET id = id");
            if let Some(url) = &patch.url {
                sql.push(", url = ").bind(Value::Text(url.clone()));
            }
            if let Some(events) = &events {
                sql.push(", events = ").bind(Value::Text(events.clone()));
            }
            if let Some(filters) = &filters {
                sql.push(", filters = ").bind(Value::Text(filters.clone()));
            }
            if let Some(description) = &patch.description {
                sql.push(", description = ")
                    .bind(Value::OptText(description.clone()));
            }
            if let Some(enabled) = patch.enabled {
                sql.push(", enabled = ").bind(Value::Bool(enabled));
                if enabled {
                    sql.push(", disabled_reason = NULL, failing_since = NULL");
                }
            }
            sql.push(" WHERE id = ").bind(Value::BigInt(id));
            sql.into_query().execute(conn)?;
            load_webhook(conn, id)?
                .map(WebhookRow::into_webhook)
                .transpose()
        })
    }

    /// Deletes a subscription with its deliveries; false if there was none.
    pub fn delete_webhook(&self, id: i64) -> StorageResult<bool> {
        self.write(|conn| {
            if load_webhook(conn, id)?.is_none() {
                return Ok(false);
            }
            let mut attempts = Sql::new(Backend::of(conn));
            attempts
                .push("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ")
                .bind(Value::BigInt(id))
                .push(")");
            attempts.into_query().execute(conn)?;
            let mut deliveries = Sql::new(Backend::of(conn));
            deliveries
                .push("DELETE FROM webhook_deliveries WHERE webhook_id = ")
                .bind(Value::BigInt(id));
            deliveries.into_query().execute(conn)?;
            let mut hook = Sql::new(Backend::of(conn));
            hook.push("DELETE FROM webhooks WHERE id = ")
                .bind(Value::BigInt(id));
            Ok(hook.into_query().execute(conn)? > 0)
        })
    }

    /// Queues a message that is no event (`webhook.test`); `None` if there is no such
    /// subscription. Returns the delivery id.
    pub fn queue_message(
        &self,
        webhook: i64,
        message_id: &str,
        kind: &str,
        payload: &str,
    ) -> StorageResult<Option<i64>> {
        let now = OffsetDateTime::now_utc();
        self.write(|conn| {
            if load_webhook(conn, webhook)?.is_none() {
                return Ok(None);
            }
            insert_delivery(conn, webhook, None, message_id, kind, payload, now).map(Some)
        })
    }

    /// Makes a delivery due again now (same message id); false if the subscription has no such
    /// delivery.
    pub fn redeliver(&self, webhook: i64, delivery: i64) -> StorageResult<bool> {
        let now = OffsetDateTime::now_utc();
        self.write(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ")
                .bind(Value::timestamp(to_db(now)))
                .push(" WHERE id = ")
                .bind(Value::BigInt(delivery))
                .push(" AND webhook_id = ")
                .bind(Value::BigInt(webhook))
                .push(" AND webhook_id IN (SELECT id FROM webhooks WHERE release_id IS NULL)");
            Ok(sql.into_query().execute(conn)? > 0)
        })
    }

    /// The newest attempts of a subscription's deliveries, newest first.
    pub fn list_attempts(&self, webhook: i64, limit: i64) -> StorageResult<Vec<AttemptInfo>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            delivery_id: i64,
            #[diesel(sql_type = Text)]
            message_id: String,
            #[diesel(sql_type = Nullable<BigInt>)]
            event_id: Option<i64>,
            #[diesel(sql_type = Text)]
            kind: String,
            #[diesel(sql_type = Text)]
            state: String,
            #[diesel(sql_type = Timestamp)]
            #[diesel(deserialize_as = StoredTime)]
            attempted_at: PrimitiveDateTime,
            #[diesel(sql_type = Nullable<Integer>)]
            status: Option<i32>,
            #[diesel(sql_type = BigInt)]
            duration_ms: i64,
            #[diesel(sql_type = Nullable<Text>)]
            error: Option<String>,
            #[diesel(sql_type = Nullable<Timestamp>)]
            #[diesel(deserialize_as = MaybeStoredTime)]
            next_attempt_at: Option<PrimitiveDateTime>,
            #[diesel(sql_type = Text)]
            instance: String,
        }
        self.read(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push(
                "SELECT a.delivery_id, d.message_id, d.event_id, d.type AS kind, d.state, \
                 a.attempted_at, a.status, a.duration_ms, a.error, a.next_attempt_at, a.instance \
                 FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
                 WHERE d.webhook_id = ",
            )
            .bind(Value::BigInt(webhook))
            .push(" ORDER BY a.id DESC LIMIT ")
            .bind(Value::BigInt(limit.clamp(1, 1000)));
            let rows: Vec<Row> = sql.into_query().load(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| AttemptInfo {
                    delivery_id: r.delivery_id,
                    message_id: r.message_id,
                    event_id: r.event_id,
                    kind: r.kind,
                    state: r.state,
                    attempted_at: from_db(r.attempted_at),
                    status: r.status,
                    duration_ms: r.duration_ms,
                    error: r.error,
                    next_attempt_at: r.next_attempt_at.map(from_db),
                    instance: r.instance,
                })
                .collect())
        })
    }

    /// Claims the enabled subscription whose lease ran out longest ago, for `owner`, until
    /// `now + lease`. `None` when every subscription is leased (or there is none).
    pub fn claim_webhook(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StorageResult<Option<ClaimedWebhook>> {
        // A read first: an idle worker (no subscription, or all leased) takes no write lock.
        let claimable = self.read(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("SELECT id FROM webhooks WHERE enabled AND lease_until < ")
                .bind(Value::timestamp(to_db(now)))
                .push(" LIMIT 1");
            Ok(!sql.into_query().load::<IdRow>(conn)?.is_empty())
        })?;
        if !claimable {
            return Ok(None);
        }
        self.write(|conn| {
            let backend = Backend::of(conn);
            let mut sql = Sql::new(backend);
            sql.push("UPDATE webhooks SET lease_owner = ")
                .bind(Value::Text(owner.to_owned()))
                .push(", lease_until = ")
                .bind(Value::timestamp(to_db(now + lease)))
                .push(" WHERE id = (SELECT id FROM webhooks WHERE enabled AND lease_until < ")
                .bind(Value::timestamp(to_db(now)))
                .push(" ORDER BY lease_until, id LIMIT 1");
            if backend == Backend::Postgres {
                sql.push(" FOR UPDATE SKIP LOCKED");
            }
            // Checked again on the locked row: another instance may have claimed it meanwhile.
            sql.push(") AND lease_until < ")
                .bind(Value::timestamp(to_db(now)))
                .push(" RETURNING ")
                .push(WEBHOOK_COLUMNS);
            let row = sql
                .into_query()
                .load::<WebhookRow>(conn)?
                .into_iter()
                .next();
            row.map(WebhookRow::into_claimed).transpose()
        })
    }

    /// Ends `owner`'s lease on a subscription, so the next claim may take it at once. A
    /// release's callback row is parked instead until its next pending attempt is due (or
    /// until a new callback unparks it).
    pub fn release_webhook(&self, webhook: i64, owner: &str) -> StorageResult<()> {
        let now = OffsetDateTime::now_utc();
        self.write(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("UPDATE webhooks SET lease_owner = NULL, lease_until = CASE WHEN release_id IS NULL THEN ")
                .bind(Value::timestamp(to_db(now)))
                .push(
                    " ELSE COALESCE((SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d \
                     WHERE d.webhook_id = webhooks.id AND d.state = 'pending'), ",
                )
                .bind(Value::timestamp(to_db(crate::callbacks::parked(now))))
                .push(") END WHERE id = ")
                .bind(Value::BigInt(webhook))
                .push(" AND lease_owner = ")
                .bind(Value::Text(owner.to_owned()));
            sql.into_query().execute(conn)?;
            Ok(())
        })
    }

    /// Turns the subscription's next matching events into deliveries, in event order, and moves
    /// its cursor past them, in one transaction. Returns how many were queued.
    pub fn fan_out(&self, claimed: &mut ClaimedWebhook, limit: i64) -> StorageResult<usize> {
        if claimed.callback {
            // Its deliveries are queued by the release's changes themselves.
            return Ok(0);
        }
        let events = self.list_events(&claimed.filter, limit)?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        let now = OffsetDateTime::now_utc();
        let webhook = claimed.id;
        let payloads = events
            .iter()
            .map(|e| Ok((e.id, e.kind.clone(), payload_of(e)?)))
            .collect::<StorageResult<Vec<_>>>()?;
        let from = claimed.filter.after;
        self.write(|conn| {
            // Only if the cursor is still where this lease found it (a lease that ran out may
            // have let another instance fan these out already).
            let mut cursor = Sql::new(Backend::of(conn));
            cursor
                .push("UPDATE webhooks SET event_cursor = ")
                .bind(Value::BigInt(last))
                .push(" WHERE id = ")
                .bind(Value::BigInt(webhook))
                .push(" AND event_cursor = ")
                .bind(Value::BigInt(from));
            if cursor.into_query().execute(conn)? == 0 {
                return Err(StorageError::Conflict(format!(
                    "webhook {webhook} was fanned out by another instance"
                )));
            }
            for (event, kind, payload) in &payloads {
                let message_id = format!("msg_{webhook}_{event}");
                insert_delivery(conn, webhook, Some(*event), &message_id, kind, payload, now)?;
            }
            Ok(())
        })?;
        claimed.filter.after = last;
        Ok(payloads.len())
    }

    /// The subscription's deliveries due at `now`, oldest first.
    pub fn due_deliveries(
        &self,
        webhook: i64,
        now: OffsetDateTime,
        limit: i64,
    ) -> StorageResult<Vec<DueDelivery>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Text)]
            message_id: String,
            #[diesel(sql_type = Text)]
            payload: String,
            #[diesel(sql_type = Integer)]
            attempts: i32,
        }
        self.read(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("SELECT id, message_id, payload, attempts FROM webhook_deliveries WHERE webhook_id = ")
                .bind(Value::BigInt(webhook))
                .push(" AND state = 'pending' AND next_attempt_at <= ")
                .bind(Value::timestamp(to_db(now)))
                .push(" ORDER BY id LIMIT ")
                .bind(Value::BigInt(limit));
            let rows: Vec<Row> = sql.into_query().load(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| DueDelivery {
                    id: r.id,
                    message_id: r.message_id,
                    payload: r.payload,
                    attempts: r.attempts,
                })
                .collect())
        })
    }

    /// Records an attempt and its consequences (the delivery's state and next attempt, the
    /// subscription's failure streak, disabling it) in one transaction.
    pub fn record_attempt(
        &self,
        webhook: i64,
        delivery: i64,
        instance: &str,
        outcome: &AttemptOutcome,
    ) -> StorageResult<()> {
        self.write(|conn| {
            let backend = Backend::of(conn);
            let state = if outcome.delivered {
                "delivered"
            } else if outcome.next_attempt_at.is_some() && outcome.disable.is_none() {
                "pending"
            } else {
                "failed"
            };
            let mut attempt = Sql::new(backend);
            attempt
                .push(
                    "INSERT INTO webhook_attempts (delivery_id, attempted_at, status, \
                     duration_ms, error, next_attempt_at, instance) VALUES (",
                )
                .bind(Value::BigInt(delivery))
                .push(", ")
                .bind(Value::timestamp(to_db(outcome.at)))
                .push(", ");
            match outcome.status {
                Some(status) => attempt.bind(Value::BigInt(i64::from(status))),
                None => attempt.push("NULL"),
            };
            attempt
                .push(", ")
                .bind(Value::BigInt(outcome.duration_ms))
                .push(", ")
                .bind(Value::OptText(outcome.error.clone()))
                .push(", ");
            match outcome.next_attempt_at.filter(|_| state == "pending") {
                Some(next) => attempt.bind(Value::timestamp(to_db(next))),
                None => attempt.push("NULL"),
            };
            attempt
                .push(", ")
                .bind(Value::Text(instance.to_owned()))
                .push(")");
            attempt.into_query().execute(conn)?;

            let mut update = Sql::new(backend);
            update
                .push("UPDATE webhook_deliveries SET attempts = attempts + 1, state = ")
                .bind(Value::Text(state.to_owned()))
                .push(", next_attempt_at = ");
            match outcome.next_attempt_at.filter(|_| state == "pending") {
                Some(next) => update.bind(Value::timestamp(to_db(next))),
                None => update.push("NULL"),
            };
            update.push(" WHERE id = ").bind(Value::BigInt(delivery));
            update.into_query().execute(conn)?;

            let mut hook = Sql::new(backend);
            if outcome.delivered {
                hook.push("UPDATE webhooks SET failing_since = NULL WHERE id = ")
                    .bind(Value::BigInt(webhook));
            } else {
                hook.push("UPDATE webhooks SET failing_since = COALESCE(failing_since, ")
                    .bind(Value::timestamp(to_db(outcome.at)))
                    .push(")");
                if let Some(reason) = outcome.disable {
                    hook.push(", enabled = ")
                        .bind(Value::Bool(false))
                        .push(", disabled_reason = ")
                        .bind(Value::Text(reason.to_owned()));
                }
                hook.push(" WHERE id = ").bind(Value::BigInt(webhook));
            }
            hook.into_query().execute(conn)?;
            Ok(())
        })
    }

    /// Since when the subscription has failed without a success in between, if it has.
    pub fn webhook_failing_since(&self, webhook: i64) -> StorageResult<Option<OffsetDateTime>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Nullable<Timestamp>)]
            #[diesel(deserialize_as = MaybeStoredTime)]
            failing_since: Option<PrimitiveDateTime>,
        }
        self.read(|conn| {
            let mut sql = Sql::new(Backend::of(conn));
            sql.push("SELECT failing_since FROM webhooks WHERE id = ")
                .bind(Value::BigInt(webhook));
            let rows: Vec<Row> = sql.into_query().load(conn)?;
            Ok(rows
                .into_iter()
                .next()
                .and_then(|r| r.failing_since)
                .map(from_db))
        })
    }
}
