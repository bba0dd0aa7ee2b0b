//! Emergency shutoffs at `/api/emergency_shutoff` (the first step of rule selection, docs/evaluation.md): a
//! `(product, channel)` for which no update is served, with a data_version and history records.
//! Bodies and errors follow Balrog's `emergency_shutoff` views.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use shiplog_domain::balrog::EmergencyShutoff;
use shiplog_domain::{Action, PermissionName};
use shiplog_storage::Writer;
use utoipa::ToSchema;

use super::auth::Actor;
use super::body;
use super::error::{BalrogError, Problem};
use super::paging::total_count;
use super::typed::{self, value, NewShutoff};
use super::{query_data_version, read, write, WriteMethod};
use crate::state::AppState;

/// `{"count": n, "shutoffs": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ShutoffList {
    pub count: usize,
    /// `{product, channel, comment, data_version}` each.
    #[schema(value_type = Vec<Object>)]
    pub shutoffs: Vec<Value>,
}

/// List every emergency shutoff.
#[utoipa::path(
    tag = "balrog",
    responses((status = 200, description = "Every shutoff", body = ShutoffList))
)]
#[get("/emergency_shutoff")]
pub async fn list_shutoffs(state: web::Data<AppState>) -> Result<HttpResponse, BalrogError> {
    let shutoffs = read(&state, |store| store.list_emergency_shutoffs()).await?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, shutoffs.len());
    Ok(response.json(ShutoffList {
        count: shutoffs.len(),
        shutoffs: shutoffs.iter().map(EmergencyShutoff::to_json).collect(),
    }))
}

/// Shut off every update for a product on a channel (and its `-cck-` partner channels).
#[utoipa::path(
    tag = "balrog",
    request_body(content = NewShutoff, description = "JSON, or the same fields as a form"),
    responses(
        (status = 201, description = "The shutoff, at data_version 1", body = Object),
        (status = 400, description = "A missing product or channel, or a shutoff already in place", body = Problem),
        (status = 401, description = "No user", body = Problem),
        (status = 403, description = "No emergency_shutoff permission for the product", body = Problem),
    )
)]
#[post("/emergency_shutoff")]
pub async fn create_shutoff(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let doc: NewShutoff = typed::parse(body::fields(&req, &payload)?)?;
    let product = value(doc.product).unwrap_or_default();
    let channel = value(doc.channel).unwrap_or_default();
    let comment = value(doc.comment);
    let shutoff = EmergencyShutoff::new(&product, &channel, comment.as_deref())?;
    actor.require(
        PermissionName::EmergencyShutoff,
        Action::Create,
        Some(&product),
    )?;
    let stored = write(&state, WriteMethod::Post, move |store| {
        store.insert_emergency_shutoff(&shutoff, actor.name())
    })
    .await?;
    Ok(HttpResponse::Created().json(stored.to_json()))
}

fn shutoff_not_found() -> BalrogError {
    BalrogError::not_found("Requested emergency shutoff wasn't found")
        .exception("Requested shutoff does not exist")
}

/// One shutoff, with `X-Data-Version`.
#[utoipa::path(
    tag = "balrog",
    params(
        ("product" = String, Path, description = "Product"),
        ("channel" = String, Path, description = "Channel"),
    ),
    responses(
        (status = 200, description = "The shutoff; `X-Data-Version` holds its data_version", body = Object),
        (status = 404, description = "No such shutoff", body = Problem),
    )
)]
#[get("/emergency_shutoff/{product}/{channel}")]
pub async fn get_shutoff(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (product, channel) = path.into_inner();
    let found = read(&state, move |store| {
        store.find_emergency_shutoff(&product, &channel)
    })
    .await?
    .ok_or_else(shutoff_not_found)?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Data-Version", found.data_version.to_string()))
        .json(found.to_json()))
}

/// Lift a shutoff. `?data_version=` must be the current one.
#[utoipa::path(
    tag = "balrog",
    params(
        ("product" = String, Path, description = "Product"),
        ("channel" = String, Path, description = "Channel"),
        ("data_version" = i64, Query, description = "The shutoff's current data_version"),
    ),
    responses(
        (status = 200, description = "Lifted (empty body)"),
        (status = 400, description = "Missing or outdated data_version", body = Problem),
        (status = 401, description = "No user", body = Problem),
        (status = 403, description = "No emergency_shutoff permission for the product", body = Problem),
        (status = 404, description = "No such shutoff", body = Problem),
    )
)]
#[delete("/emergency_shutoff/{product}/{channel}")]
pub async fn delete_shutoff(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (product, channel) = path.into_inner();
    let data_version = query_data_version(&req)?;
    actor.require(
        PermissionName::EmergencyShutoff,
        Action::Delete,
        Some(&product),
    )?;
    write(&state, WriteMethod::Delete, move |store| {
        store.delete_emergency_shutoff(
            &product,
            &channel,
            data_version,
            Writer::direct(actor.name()),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}
