//! Required signoffs at `/api/required_signoffs/product` (per product and channel: rules,
//! the releases they map, shutoffs) and `/api/required_signoffs/permissions` (per product:
//! permissions), with their revisions (docs/balrog.md, "Governance"). Writes need permission
//! `required_signoff` for the row's product. A row guards itself and every other row of its
//! product (and channel): creating one where signoffs already apply, changing or deleting one,
//! is refused with 400 "Signoff Required" and must go through a scheduled change.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use shiplog_domain::balrog::{Change, ChangeTable};
use shiplog_domain::{Action, PermissionName};
use shiplog_storage::{RequiredSignoffInput, Writer};
use utoipa::ToSchema;

use super::auth::Actor;
use super::body::{self, Fields};
use super::error::{BalrogError, Problem};
use super::paging::{paged, query_pairs, query_value, total_count, PageRequest};
use super::{query_data_version, read, write, NewDataVersion, WriteMethod};
use crate::state::AppState;

/// The longest product, channel or role name Balrog's columns hold.
const MAX_NAME_LEN: usize = 75;

/// `{"count": n, "required_signoffs": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct RequiredSignoffList {
    pub count: i64,
    /// `{product, channel (product table), role, signoffs_required, data_version}` each; in
    /// revisions also `change_id`, `changed_by`, `timestamp`.
    #[schema(value_type = Vec<Object>)]
    pub required_signoffs: Vec<Value>,
}

/// Body of a `POST` to either table (JSON or form; numbers may be text). It describes the body
/// in the API description; the handler reads the fields with the face's lenient readers.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewRequiredSignoff {
    /// Required.
    pub product: Option<String>,
    /// Required for `/required_signoffs/product`; not taken by `/required_signoffs/permissions`.
    pub channel: Option<String>,
    /// Required: the role signers must hold.
    pub role: Option<String>,
    /// Required: how many users holding `role` must sign off (at least 1, and no more than
    /// hold the role).
    pub signoffs_required: Option<i64>,
}

/// Which of the two tables a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Product,
    Permissions,
}

impl Table {
    fn change_table(self) -> ChangeTable {
        match self {
            Table::Product => ChangeTable::RequiredSignoffsProduct,
            Table::Permissions => ChangeTable::RequiredSignoffsPermissions,
        }
    }

    /// The fields naming a row (besides `role`).
    fn has_channel(self) -> bool {
        self == Table::Product
    }
}

fn name_field(value: Option<String>, key: &str) -> Result<String, BalrogError> {
    let value = value.ok_or_else(|| BalrogError::bad_request(format!("{key} is required")))?;
    if value.chars().count() > MAX_NAME_LEN || value.contains('/') {
        return Err(BalrogError::bad_request(format!(
            "{key} must be at most {MAX_NAME_LEN} characters, without '/'"
        )));
    }
    Ok(value)
}

/// The row a request names: from a body's fields or a query's pairs. `count` is 0 when the
/// request does not give one (a delete or a revisions listing).
fn named_row(
    table: Table,
    get: impl Fn(&str) -> Result<Option<String>, BalrogError>,
    count: i64,
) -> Result<RequiredSignoffInput, BalrogError> {
    let product = name_field(get("product")?, "product")?;
    let channel = if table.has_channel() {
        Some(name_field(get("channel")?, "channel")?)
    } else {
        None
    };
    let role = name_field(get("role")?, "role")?;
    Ok(RequiredSignoffInput {
        product,
        channel,
        role,
        signoffs_required: count,
    })
}

fn from_query(table: Table, req: &HttpRequest) -> Result<RequiredSignoffInput, BalrogError> {
    let pairs = query_pairs(req)?;
    named_row(
        table,
        |key| {
            Ok(query_value(&pairs, key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned))
        },
        0,
    )
}

fn from_body(table: Table, fields: &Fields) -> Result<RequiredSignoffInput, BalrogError> {
    let count = body::integer(fields, "signoffs_required")?
        .ok_or_else(|| BalrogError::bad_request("signoffs_required is required"))?;
    if count < 1 {
        return Err(BalrogError::bad_request(
            "signoffs_required must be an integer >= 1",
        ));
    }
    named_row(table, |key| body::text(fields, key), count)
}

fn list_filter(req: &HttpRequest) -> Result<(Option<String>, Option<String>), BalrogError> {
    let pairs = query_pairs(req)?;
    let get = |key: &str| {
        query_value(&pairs, key)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok((get("product"), get("channel")))
}

async fn list(
    state: &AppState,
    table: Table,
    req: &HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    let (product, channel) = list_filter(req)?;
    let rows: Vec<Value> = read(state, move |store| {
        Ok(match table {
            Table::Product => store
                .list_product_required_signoffs(product.as_deref(), channel.as_deref())?
                .into_iter()
                .map(|row| serde_json::to_value(row).unwrap_or_default())
                .collect(),
            Table::Permissions => store
                .list_permissions_required_signoffs(product.as_deref())?
                .into_iter()
                .map(|row| serde_json::to_value(row).unwrap_or_default())
                .collect(),
        })
    })
    .await?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, rows.len());
    Ok(response.json(RequiredSignoffList {
        count: rows.len() as i64,
        required_signoffs: rows,
    }))
}

async fn create(
    state: &AppState,
    table: Table,
    actor: Actor,
    req: &HttpRequest,
    payload: &[u8],
) -> Result<HttpResponse, BalrogError> {
    let input = from_body(table, &body::fields(req, payload)?)?;
    actor.require(
        PermissionName::RequiredSignoff,
        Action::Create,
        Some(&input.product),
    )?;
    write(state, WriteMethod::Post, move |store| {
        store.insert_required_signoff(&input, Writer::direct(actor.name()))
    })
    .await?;
    Ok(HttpResponse::Created().json(NewDataVersion {
        new_data_version: 1,
    }))
}

async fn remove(
    state: &AppState,
    table: Table,
    actor: Actor,
    req: &HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    let input = from_query(table, req)?;
    let data_version = query_data_version(req)?;
    actor.require(
        PermissionName::RequiredSignoff,
        Action::Delete,
        Some(&input.product),
    )?;
    write(state, WriteMethod::Delete, move |store| {
        store.delete_required_signoff(&input, data_version, Writer::direct(actor.name()))
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// A revision as Balrog lists it: the row's fields and the record's.
fn revision(change: &Change) -> Value {
    let mut row = change.row.clone().unwrap_or_else(|| json!({}));
    if let Value::Object(map) = &mut row {
        map.insert("change_id".into(), json!(change.change_id));
        map.insert("changed_by".into(), json!(change.changed_by));
        map.insert("timestamp".into(), json!(change.timestamp));
        map.insert("data_version".into(), json!(change.data_version));
    }
    row
}

async fn revisions(
    state: &AppState,
    table: Table,
    req: &HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    let input = from_query(table, req)?;
    let page = PageRequest::from_query(&query_pairs(req)?)?;
    let key = input.key();
    let change_table = table.change_table();
    let (exists, revisions) = read(state, move |store| {
        let exists = match table {
            Table::Product => store
                .list_product_required_signoffs(Some(&input.product), input.channel.as_deref())?
                .iter()
                .any(|row| row.role == input.role),
            Table::Permissions => store
                .list_permissions_required_signoffs(Some(&input.product))?
                .iter()
                .any(|row| row.role == input.role),
        };
        let revisions = store.list_revisions(change_table, &key, page.limit, page.offset())?;
        Ok((exists, revisions))
    })
    .await?;
    if !exists {
        return Err(BalrogError::not_found(
            "Requested Required Signoff does not exist",
        ));
    }
    let mut response = HttpResponse::Ok();
    paged(&mut response, req, page, revisions.total);
    Ok(response.json(RequiredSignoffList {
        count: revisions.total,
        required_signoffs: revisions.changes.iter().map(revision).collect(),
    }))
}

/// Product required signoffs: all, or of one `product` (and `channel`).
#[utoipa::path(
    tag = "balrog: required signoffs",
    params(
        ("product" = Option<String>, Query, description = "Only rows of this product"),
        ("channel" = Option<String>, Query, description = "Only rows of this channel"),
    ),
    responses((status = 200, description = "The rows, by product, channel and role; `X-Total-Count` gives their number", body = RequiredSignoffList))
)]
#[get("/required_signoffs/product")]
pub async fn list_product(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    list(&state, Table::Product, &req).await
}

/// Require signoffs for changes to a product's channel: `{product, channel, role,
/// signoffs_required}`. Refused with "Signoff Required" where signoffs already apply to that
/// product and channel (make it a scheduled change).
#[utoipa::path(
    tag = "balrog: required signoffs",
    request_body(content = NewRequiredSignoff, description = "JSON, or the same fields as a form"),
    responses(
        (status = 201, description = "Created at data_version 1", body = NewDataVersion),
        (status = 400, description = "A missing or bad field, fewer holders of the role than required, or Signoff Required", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `required_signoff` permission for the product", body = Problem),
    )
)]
#[post("/required_signoffs/product")]
pub async fn create_product(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    create(&state, Table::Product, actor, &req, &payload).await
}

/// Delete a product required signoff named by `?product=&channel=&role=` at `?data_version=`.
/// A row always guards itself, so a direct delete is refused with "Signoff Required": only a
/// scheduled deletion carrying the row's own signoffs removes it (as in Balrog).
#[utoipa::path(
    tag = "balrog: required signoffs",
    params(
        ("product" = String, Query, description = "The row's product"),
        ("channel" = String, Query, description = "The row's channel"),
        ("role" = String, Query, description = "The row's role"),
        ("data_version" = i64, Query, description = "The row's current data_version"),
    ),
    responses(
        (status = 400, description = "A missing field, an outdated data_version, or Signoff Required", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `required_signoff` permission for the product", body = Problem),
        (status = 404, description = "No such row", body = Problem),
    )
)]
#[delete("/required_signoffs/product")]
pub async fn delete_product(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    remove(&state, Table::Product, actor, &req).await
}

/// The revisions of one product required signoff (`?product=&channel=&role=`), newest first,
/// paged by `page` and `limit`.
#[utoipa::path(
    tag = "balrog: required signoffs",
    params(
        ("product" = String, Query, description = "The row's product"),
        ("channel" = String, Query, description = "The row's channel"),
        ("role" = String, Query, description = "The row's role"),
        ("page" = Option<i64>, Query, description = "Page number, from 1"),
        ("limit" = Option<i64>, Query, description = "Revisions per page (default 10)"),
    ),
    responses(
        (status = 200, description = "`{count, required_signoffs}`; `X-Total-Count` and `Link` headers", body = RequiredSignoffList),
        (status = 400, description = "A missing field or a bad page", body = Problem),
        (status = 404, description = "No such row", body = Problem),
    )
)]
#[get("/required_signoffs/product/revisions")]
pub async fn product_revisions(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    revisions(&state, Table::Product, &req).await
}

/// Permissions required signoffs: all, or of one `product`.
#[utoipa::path(
    tag = "balrog: required signoffs",
    params(("product" = Option<String>, Query, description = "Only rows of this product")),
    responses((status = 200, description = "The rows, by product and role; `X-Total-Count` gives their number", body = RequiredSignoffList))
)]
#[get("/required_signoffs/permissions")]
pub async fn list_permissions(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    list(&state, Table::Permissions, &req).await
}

/// Require signoffs for changes to the permissions of a product: `{product, role,
/// signoffs_required}`. Refused with "Signoff Required" where signoffs already apply to the
/// product's permissions.
#[utoipa::path(
    tag = "balrog: required signoffs",
    request_body(content = NewRequiredSignoff, description = "JSON, or the same fields as a form (no channel)"),
    responses(
        (status = 201, description = "Created at data_version 1", body = NewDataVersion),
        (status = 400, description = "A missing or bad field, fewer holders of the role than required, or Signoff Required", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `required_signoff` permission for the product", body = Problem),
    )
)]
#[post("/required_signoffs/permissions")]
pub async fn create_permissions(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    create(&state, Table::Permissions, actor, &req, &payload).await
}

/// Delete a permissions required signoff named by `?product=&role=` at `?data_version=`:
/// refused with "Signoff Required" like the product table's.
#[utoipa::path(
    tag = "balrog: required signoffs",
    params(
        ("product" = String, Query, description = "The row's product"),
        ("role" = String, Query, description = "The row's role"),
        ("data_version" = i64, Query, description = "The row's current data_version"),
    ),
    responses(
        (status = 400, description = "A missing field, an outdated data_version, or Signoff Required", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `required_signoff` permission for the product", body = Problem),
        (status = 404, description = "No such row", body = Problem),
    )
)]
#[delete("/required_signoffs/permissions")]
pub async fn delete_permissions(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    remove(&state, Table::Permissions, actor, &req).await
}

/// The revisions of one permissions required signoff (`?product=&role=`), newest first.
#[utoipa::path(
    tag = "balrog: required signoffs",
    params(
        ("product" = String, Query, description = "The row's product"),
        ("role" = String, Query, description = "The row's role"),
        ("page" = Option<i64>, Query, description = "Page number, from 1"),
        ("limit" = Option<i64>, Query, description = "Revisions per page (default 10)"),
    ),
    responses(
        (status = 200, description = "`{count, required_signoffs}`; `X-Total-Count` and `Link` headers", body = RequiredSignoffList),
        (status = 400, description = "A missing field or a bad page", body = Problem),
        (status = 404, description = "No such row", body = Problem),
    )
)]
#[get("/required_signoffs/permissions/revisions")]
pub async fn permissions_revisions(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    revisions(&state, Table::Permissions, &req).await
}
