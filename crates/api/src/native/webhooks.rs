//! `/api/v1/webhooks`: subscriptions (create, list, read, change, delete), a test message, the
//! attempts made and redelivery, in the envelope, for admins and holders of the `webhook`
//! permission (`view`, `create`, `modify`, `delete`). The signing secret is in the answer to
//! `POST` only. Delivery itself is `crate::webhooks`.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use shiplog_domain::event::TypePattern;
use shiplog_domain::input::{self, TextKind};
use shiplog_domain::{Action, PermissionName};
use shiplog_storage::{NewWebhook, Webhook, WebhookFilters, WebhookPatch};
use utoipa::ToSchema;

use super::envelope::{success, EnvelopeError, FailureEnvelope};
use super::Native;
use crate::blocking::with_store;
use crate::identity::Caller;
use crate::state::AppState;
use crate::webhooks::destination::check_destination;
use crate::webhooks::signature::generate_secret;

/// The most type patterns one subscription may name.
const MAX_PATTERNS: usize = 50;

/// The attempts `GET …/deliveries` lists, newest first.
const ATTEMPTS_SHOWN: i64 = 100;

/// Tag filters: each one given must match the event.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FiltersBody {
    pub product: Option<String>,
    pub channel: Option<String>,
    pub platform: Option<String>,
    pub team: Option<String>,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// Where to POST: http or https.
    pub url: String,
    /// Type patterns: `release.created`, `release.*`, `*`.
    pub events: Vec<String>,
    #[serde(default)]
    pub filters: Option<FiltersBody>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /api/v1/webhooks/{id}`: each field given replaces the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatchBody {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub filters: Option<FiltersBody>,
    /// A string, or null to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// Tells a field given as null (`Some(None)`) from one not given (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, EnvelopeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("Unable to parse supplied JSON: {e}"),
        )
    })
}

fn bad(err: impl std::fmt::Display) -> EnvelopeError {
    EnvelopeError::bad_request(err.to_string())
}

fn patterns(events: &[String]) -> Result<Vec<TypePattern>, EnvelopeError> {
    if events.is_empty() || events.len() > MAX_PATTERNS {
        return Err(EnvelopeError::bad_request(format!(
            "'events' must list 1 to {MAX_PATTERNS} type patterns"
        )));
    }
    events
        .iter()
        .map(|p| {
            TypePattern::parse(p).map_err(|_| {
                EnvelopeError::bad_request(format!(
                    "'events' holds {p:?}: use `*`, `family.*` or `family.action`"
                ))
            })
        })
        .collect()
}

fn filters(body: Option<FiltersBody>) -> Result<WebhookFilters, EnvelopeError> {
    let body = body.unwrap_or_default();
    for (name, value) in [
        ("product", &body.product),
        ("channel", &body.channel),
        ("platform", &body.platform),
        ("team", &body.team),
    ] {
        if let Some(value) = value {
            if value.trim().is_empty() {
                return Err(EnvelopeError::bad_request(format!(
                    "'filters.{name}' must not be empty"
                )));
            }
            input::check(name, value, TextKind::Name).map_err(bad)?;
        }
    }
    Ok(WebhookFilters {
        product: body.product,
        channel: body.channel,
        platform: body.platform,
        team: body.team,
    })
}

fn description(text: Option<&str>) -> Result<(), EnvelopeError> {
    input::check_opt("description", text, TextKind::Text).map_err(bad)
}

/// Checks a URL's form and where it resolves to (DNS, on the blocking pool).
async fn destination(state: &AppState, url: &str) -> Result<(), EnvelopeError> {
    input::check("url", url, TextKind::Url).map_err(bad)?;
    let (url, deny) = (url.to_owned(), state.webhooks.deny.clone());
    match web::block(move || check_destination(&url, &deny)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(EnvelopeError::bad_request(format!("'url': {reason}"))),
        Err(_) => Err(EnvelopeError::internal()),
    }
}

fn id(raw: &str) -> Result<i64, EnvelopeError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| EnvelopeError::bad_request(format!("{raw:?} is not a webhook id")))
}

fn not_found() -> EnvelopeError {
    EnvelopeError::new(StatusCode::NOT_FOUND, "not-found", "No such webhook")
}

fn storage(err: shiplog_storage::StorageError) -> EnvelopeError {
    EnvelopeError::from_storage(&err)
}

/// Subscribe a URL to events. The answer's `data.secret` (`whsec_…`) is the only time the
/// signing secret is shown. Admins, or the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    request_body = NewWebhookBody,
    responses(
        (status = 201, description = "`data`: the subscription (`id`, `url`, `events`, `filters`, `description`, `enabled`, `disabled_reason`, `created_by`, `created_at`) and its `secret`"),
        (status = 400, description = "Unparseable JSON, an unknown field, a bad pattern or filter, or a URL that is not http(s) or reaches a refused address", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    bytes: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::Create, None)?;
    let request: NewWebhookBody = body(&bytes)?;
    let events = patterns(&request.events)?;
    let filters = filters(request.filters)?;
    description(request.description.as_deref())?;
    destination(&state, &request.url).await?;
    let secret = generate_secret().map_err(|e| EnvelopeError::unexpected(&e))?;
    let new = NewWebhook {
        url: request.url,
        events,
        filters,
        description: request.description,
        secret: secret.clone(),
        created_by: caller.name().to_owned(),
    };
    let created = with_store(&state.store, move |store| store.insert_webhook(&new))
        .await
        .map_err(storage)?;
    log::info!("{} created webhook {}", caller.name(), created.id);
    let mut data = serde_json::to_value(&created).map_err(|e| EnvelopeError::unexpected(&e))?;
    data["secret"] = Value::String(secret);
    Ok(success(StatusCode::CREATED, data))
}

/// Every subscription, oldest first, without secrets. Admins, or the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    responses(
        (status = 200, description = "`data`: the subscriptions; `X-Total-Count` gives their number"),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller<Native>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::View, None)?;
    let hooks = with_store(&state.store, |store| store.list_webhooks())
        .await
        .map_err(storage)?;
    let count = hooks.len();
    let mut response = success(StatusCode::OK, hooks);
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("x-total-count"),
        actix_web::http::header::HeaderValue::from(count),
    );
    Ok(response)
}

async fn one(state: &AppState, id: i64) -> Result<Webhook, EnvelopeError> {
    with_store(&state.store, move |store| store.find_webhook(id))
        .await
        .map_err(storage)?
        .ok_or_else(not_found)
}

/// One subscription, without its secret. Admins, or the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "`data`: the subscription"),
        (status = 400, description = "Not a webhook id", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
        (status = 404, description = "No such webhook", body = FailureEnvelope),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<String>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::View, None)?;
    let hook = one(&state, id(&path)?).await?;
    Ok(success(StatusCode::OK, hook))
}

/// Change a subscription's URL, events, filters, description or `enabled` (enabling one that
/// shiplog disabled clears the reason). Admins, or the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    request_body = WebhookPatchBody,
    responses(
        (status = 200, description = "`data`: the subscription as it now is"),
        (status = 400, description = "Unparseable JSON, an unknown field, or a bad value", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
        (status = 404, description = "No such webhook", body = FailureEnvelope),
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::Modify, None)?;
    let id = id(&path)?;
    let request: WebhookPatchBody = body(&bytes)?;
    let patch = WebhookPatch {
        events: request.events.as_deref().map(patterns).transpose()?,
        filters: request.filters.map(|f| filters(Some(f))).transpose()?,
        description: request.description,
        enabled: request.enabled,
        url: request.url,
    };
    if let Some(Some(text)) = &patch.description {
        description(Some(text))?;
    }
    if let Some(url) = &patch.url {
        destination(&state, url).await?;
    }
    let hook = with_store(&state.store, move |store| store.update_webhook(id, &patch))
        .await
        .map_err(storage)?
        .ok_or_else(not_found)?;
    log::info!("{} changed webhook {id}", caller.name());
    Ok(success(StatusCode::OK, hook))
}

/// Delete a subscription and its deliveries. Admins, or the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Deleted; `data` is null"),
        (status = 400, description = "Not a webhook id", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
        (status = 404, description = "No such webhook", body = FailureEnvelope),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<String>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::Delete, None)?;
    let id = id(&path)?;
    let deleted = with_store(&state.store, move |store| store.delete_webhook(id))
        .await
        .map_err(storage)?;
    if !deleted {
        return Err(not_found());
    }
    log::info!("{} deleted webhook {id}", caller.name());
    Ok(success(StatusCode::OK, Value::Null))
}

/// Queue a `webhook.test` message to the subscription (delivered like any event). Admins, or
/// the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 202, description = "Queued; `data`: `{\"delivery_id\", \"message_id\"}`"),
        (status = 400, description = "Not a webhook id", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
        (status = 404, description = "No such webhook", body = FailureEnvelope),
    )
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<String>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::Modify, None)?;
    let id = id(&path)?;
    let message_id = format!("msg_test_{}", uuid::Uuid::new_v4().simple());
    let payload = json!({
        "type": "webhook.test",
        "timestamp": format!("{}Z", shiplog_domain::timestamp::format_micros(time::OffsetDateTime::now_utc())),
        "data": {"webhook_id": id, "requested_by": caller.name()},
    })
    .to_string();
    let message = message_id.clone();
    let delivery = with_store(&state.store, move |store| {
        store.queue_message(id, &message, "webhook.test", &payload)
    })
    .await
    .map_err(storage)?
    .ok_or_else(not_found)?;
    Ok(success(
        StatusCode::ACCEPTED,
        json!({"delivery_id": delivery, "message_id": message_id}),
    ))
}

/// The newest 100 attempts to deliver to the subscription, newest first: time, HTTP status,
/// duration, error and the next attempt. Admins, or the `webhook` permission.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "`data`: `[{\"delivery_id\", \"message_id\", \"event_id\", \"type\", \"state\", \"attempted_at\", \"status\", \"duration_ms\", \"error\", \"next_attempt_at\", \"instance\"}]`"),
        (status = 400, description = "Not a webhook id", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
        (status = 404, description = "No such webhook", body = FailureEnvelope),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<String>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::View, None)?;
    let id = id(&path)?;
    one(&state, id).await?;
    let attempts = with_store(&state.store, move |store| {
        store.list_attempts(id, ATTEMPTS_SHOWN)
    })
    .await
    .map_err(storage)?;
    Ok(success(StatusCode::OK, attempts))
}

/// Make a delivery due again now, with the same `webhook-id`. Admins, or the `webhook`
/// permission.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = i64, Path, description = "The webhook's id"),
        ("delivery" = i64, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Queued again; `data` is null"),
        (status = 400, description = "Not an id", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Neither an admin nor holding the `webhook` permission for this action", body = FailureEnvelope),
        (status = 404, description = "No such webhook or delivery", body = FailureEnvelope),
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require(PermissionName::Webhook, Action::Modify, None)?;
    let (hook, delivery) = (id(&path.0)?, id(&path.1)?);
    let found = with_store(&state.store, move |store| store.redeliver(hook, delivery))
        .await
        .map_err(storage)?;
    if !found {
        return Err(EnvelopeError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such delivery of this webhook",
        ));
    }
    Ok(success(StatusCode::ACCEPTED, Value::Null))
}

/// The secret every release callback is signed with (Standard Webhooks, like a webhook's
/// secret), made the first time it is needed; one for the whole server, so a receiver of
/// callbacks configures it once. Unrestricted admins only: it can sign callbacks.
#[utoipa::path(
    tag = "webhooks",
    responses(
        (status = 200, description = "`data`: `{\"secret\": \"whsec_…\"}`"),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Not an unrestricted admin", body = FailureEnvelope),
    )
)]
#[get("/callbacks/secret")]
pub async fn callback_secret(
    state: web::Data<AppState>,
    caller: Caller<Native>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require_admin()?;
    let secret = with_store(&state.store, |store| store.callback_secret())
        .await
        .map_err(storage)?;
    Ok(success(StatusCode::OK, json!({ "secret": secret })))
}
