//! Rules at `/api/rules` (docs/balrog.md).

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, route, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use shiplog_domain::balrog::{ChangeTable, RuleField, RuleRef};
use shiplog_domain::{Action, PermissionName};
use utoipa::ToSchema;

use super::auth::{rule_guard, Actor};
use super::body::{self, Fields};
use super::error::{BalrogError, Problem};
use super::paging::{paged, query_pairs, query_value, total_count, PageRequest};
use super::typed::{self, value, NewRule, RevertBody, RuleUpdate};
use super::{csrf_header, read, read_cached, write, NewDataVersion, WriteMethod};
use crate::caching::not_modified;
use shiplog_storage::{Signoffs, Writer};

use crate::state::AppState;

/// `{"count": n, "rules": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub count: usize,
    /// Every column of each rule, by Balrog's names.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<Value>,
}

fn rule_not_found() -> BalrogError {
    BalrogError::not_found("Requested rule wasn't found").exception("Requested rule does not exist")
}

fn rule_ref(raw: &str) -> Result<RuleRef, BalrogError> {
    RuleRef::parse(raw).ok_or_else(rule_not_found)
}

/// A rule id from a path where aliases are not accepted (revisions).
fn rule_id(raw: &str) -> Result<i64, BalrogError> {
    match RuleRef::parse(raw) {
        Some(RuleRef::Id(id)) => Ok(id),
        _ => Err(BalrogError::not_found("Requested rule does not exist")),
    }
}

/// List rules in Balrog's order (priority ascending, then version and mapping); with
/// `timestamp`, the rules as they were then, rebuilt from their history.
#[utoipa::path(
    tag = "balrog",
    params(
        ("product" = Option<String>, Query, description = "Only rules of this product (exact)"),
        ("timestamp" = Option<i64>, Query, description = "The rules as they were at this time (ms since the epoch), from history"),
    ),
    responses(
        (status = 200, description = "The rules; `X-Total-Count` gives their number", body = RuleList),
        (status = 400, description = "A timestamp that is not an integer", body = Problem),
    )
)]
#[get("/rules")]
pub async fn list_rules(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    let pairs = query_pairs(&req)?;
    let product = query_value(&pairs, "product")
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    if let Some(at) = super::audit::millis(&pairs, "timestamp")? {
        let rules = read(&state, move |store| store.rules_at(at, product.as_deref())).await?;
        let mut response = HttpResponse::Ok();
        total_count(&mut response, rules.len());
        return Ok(response.json(RuleList {
            count: rules.len(),
            rules: rules.iter().map(|r| r.to_json()).collect(),
        }));
    }
    let (tag, rules) = match read_cached(&state, &req, move |store| {
        store.list_rules(product.as_deref())
    })
    .await?
    {
        Ok(read) => read,
        Err(not_modified) => return Ok(not_modified),
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header(tag.header())
        .insert_header(crate::caching::ETag::cache_control());
    total_count(&mut response, rules.len());
    Ok(response.json(RuleList {
        count: rules.len(),
        rules: rules.iter().map(|r| r.to_json()).collect(),
    }))
}

/// Create a rule. `priority`, `backgroundRate` (0–100), `update_type` (`minor`/`major`) and
/// `mapping` (an existing release) are required; `fallbackMapping` must name a release too, and
/// `alias` must be unique. Answers the new rule's id as plain text.
#[utoipa::path(
    tag = "balrog",
    request_body(content = NewRule, description = "Rule columns by Balrog's names (JSON or form)"),
    responses(
        (status = 200, description = "The new rule id, as text/plain", body = String, content_type = "text/plain"),
        (status = 400, description = "A missing or invalid field, an unknown mapping, a taken alias", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `rule` permission for this action and product", body = Problem),
    )
)]
#[post("/rules")]
pub async fn create_rule(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let NewRule(rule) = NewRule::try_from(body::fields(&req, &payload)?)?;
    actor.require(
        PermissionName::Rule,
        Action::Create,
        rule.product.as_deref(),
    )?;
    let created = write(&state, WriteMethod::Post, move |store| {
        store.insert_rule(&rule, Writer::direct(actor.name()))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(created.rule_id.to_string()))
}

/// One rule by id or alias, with `X-Data-Version`. `HEAD` answers the headers alone.
#[utoipa::path(
    get,
    tag = "balrog",
    params(("id_or_alias" = String, Path, description = "Rule id, or alias")),
    responses(
        (status = 200, description = "The rule; `X-Data-Version` holds its data_version", body = Object),
        (status = 404, description = "No such rule", body = Problem),
    )
)]
#[route("/rules/{id_or_alias}", method = "GET", method = "HEAD")]
pub async fn get_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let rule = rule_ref(&path)?;
    let (tag, found) = match read_cached(&state, &req, move |store| store.find_rule(&rule)).await? {
        Ok(read) => read,
        Err(not_modified) => return Ok(not_modified),
    };
    let rule = found.ok_or_else(rule_not_found)?;
    if tag.matches(&req) {
        return Ok(not_modified(&tag).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header(tag.header())
        .insert_header(crate::caching::ETag::cache_control())
        .insert_header(("X-Data-Version", rule.data_version.to_string()))
        .insert_header(csrf_header())
        .json(rule.to_json()))
}

async fn update(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    id_or_alias: &str,
    payload: &[u8],
) -> Result<HttpResponse, BalrogError> {
    let rule = rule_ref(id_or_alias)?;
    let RuleUpdate {
        data_version,
        changes,
    } = RuleUpdate::try_from(body::fields(&req, payload)?)?;
    // The product the change gives is in the request; the stored one is checked by the guard
    // inside the write's transaction.
    if let Some(product) = changes.text(RuleField::Product) {
        actor.require(PermissionName::Rule, Action::Modify, product.as_deref())?;
    }
    let who = actor.who;
    let updated = write(&state, WriteMethod::of(req.method()), move |store| {
        let guard = rule_guard(&who, Action::Modify);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.update_rule(&rule, data_version, &changes, writer)
    })
    .await?;
    Ok(HttpResponse::Ok().json(NewDataVersion {
        new_data_version: updated.data_version,
    }))
}

/// Change a rule: the columns given (others stay), with the `data_version` it was read at.
#[utoipa::path(
    tag = "balrog",
    params(("id_or_alias" = String, Path, description = "Rule id, or alias")),
    request_body(content = RuleUpdate, description = "`data_version` and the columns to change (JSON or form)"),
    responses(
        (status = 200, description = "Changed", body = NewDataVersion),
        (status = 400, description = "Outdated data_version, missing data_version, invalid field", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `rule` permission for this action and product", body = Problem),
        (status = 404, description = "No such rule", body = Problem),
    )
)]
#[post("/rules/{id_or_alias}")]
pub async fn post_rule(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    update(state, actor, req, &path, &payload).await
}

/// Same as `POST /api/rules/{id_or_alias}`.
#[utoipa::path(
    tag = "balrog",
    params(("id_or_alias" = String, Path, description = "Rule id, or alias")),
    request_body(content = RuleUpdate, description = "`data_version` and the columns to change (JSON or form)"),
    responses(
        (status = 200, description = "Changed", body = NewDataVersion),
        (status = 400, description = "Outdated data_version, missing data_version, invalid field", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `rule` permission for this action and product", body = Problem),
        (status = 404, description = "No such rule", body = Problem),
    )
)]
#[put("/rules/{id_or_alias}")]
pub async fn put_rule(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    update(state, actor, req, &path, &payload).await
}

/// Delete a rule at `?data_version=`.
#[utoipa::path(
    tag = "balrog",
    params(
        ("id_or_alias" = String, Path, description = "Rule id, or alias"),
        ("data_version" = i64, Query, description = "The rule's current data_version"),
    ),
    responses(
        (status = 200, description = "Deleted (empty body)"),
        (status = 400, description = "Outdated or missing data_version", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `rule` permission for this action and product", body = Problem),
        (status = 404, description = "No such rule", body = Problem),
    )
)]
#[delete("/rules/{id_or_alias}")]
pub async fn delete_rule(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let rule = rule_ref(&path)?;
    let data_version = super::query_data_version(&req)?;
    let who = actor.who;
    write(&state, WriteMethod::Delete, move |store| {
        let guard = rule_guard(&who, Action::Delete);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.delete_rule(&rule, data_version, writer)
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// A rule's revisions, newest first: every column plus `change_id`, `changed_by` and
/// `timestamp` (ms). Paged with `?page` (from 1) and `?limit` (default 10); `count` is the
/// total.
#[utoipa::path(
    tag = "balrog",
    params(
        ("rule_id" = i64, Path, description = "Rule id (aliases are not accepted here)"),
        ("page" = Option<i64>, Query, description = "Page, from 1"),
        ("limit" = Option<i64>, Query, description = "Revisions per page (default 10)"),
    ),
    responses(
        (status = 200, description = "`{\"count\", \"rules\": [...]}`", body = RuleList),
        (status = 400, description = "Bad page or limit", body = Problem),
        (status = 404, description = "No such rule", body = Problem),
    )
)]
#[get("/rules/{rule_id}/revisions")]
pub async fn rule_revisions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let id = rule_id(&path)?;
    let page = PageRequest::from_query(&query_pairs(&req)?)?;
    let (exists, revisions) = read(&state, move |store| {
        let exists = store.find_rule(&RuleRef::Id(id))?.is_some();
        let revisions = store.list_revisions(
            ChangeTable::Rules,
            &id.to_string(),
            page.limit,
            page.offset(),
        )?;
        Ok((exists, revisions))
    })
    .await?;
    if !exists {
        return Err(BalrogError::not_found("Requested rule does not exist"));
    }
    let rules: Vec<Value> = revisions
        .changes
        .iter()
        .map(|change| {
            let mut row = change.row.clone().unwrap_or_else(|| json!({}));
            if let Value::Object(map) = &mut row {
                map.insert("change_id".into(), json!(change.change_id));
                map.insert("changed_by".into(), json!(change.changed_by));
                map.insert("timestamp".into(), json!(change.timestamp));
                map.insert("data_version".into(), json!(change.data_version));
            }
            row
        })
        .collect();
    let mut response = HttpResponse::Ok();
    paged(&mut response, &req, page, revisions.total);
    Ok(response.json(json!({"count": revisions.total, "rules": rules})))
}

/// The `change_id` of a revert request.
pub(super) fn change_id(fields: Fields) -> Result<i64, BalrogError> {
    let body: RevertBody = typed::parse(fields)?;
    value(body.change_id)
        .ok_or_else(|| BalrogError::bad_request("No change_id passed in the request body"))
}

/// Revert a rule to one of its revisions (by `change_id`), as a new version. Answers
/// `Excellent!`.
#[utoipa::path(
    tag = "balrog",
    params(("rule_id" = i64, Path, description = "Rule id")),
    request_body(content = RevertBody, description = "JSON, or the same field as a form"),
    responses(
        (status = 200, description = "`Excellent!` as text/plain", body = String, content_type = "text/plain"),
        (status = 400, description = "Missing or invalid change_id, or one of another rule", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `rule` permission for this action and product", body = Problem),
        (status = 404, description = "No such rule", body = Problem),
    )
)]
#[post("/rules/{rule_id}/revisions")]
pub async fn revert_rule(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let id = rule_id(&path)?;
    let fields = body::fields(&req, &payload)?;
    let exists = read(&state, move |store| store.find_rule(&RuleRef::Id(id))).await?;
    if exists.is_none() {
        return Err(BalrogError::not_found("bad rule_id"));
    }
    let change_id = change_id(fields)?;
    // `modify` at the rule's stored product and at the product of the version restored, both
    // checked inside the revert's transaction.
    let who = actor.who;
    write(&state, WriteMethod::Post, move |store| {
        let guard = rule_guard(&who, Action::Modify);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.revert_rule(id, change_id, writer)
    })
    .await?;
    Ok(super::excellent())
}

/// The distinct values of one rule column: `{"count": n, "<column>": [...]}`.
#[utoipa::path(
    tag = "balrog",
    params(("column" = String, Path, description = "A rule column, by Balrog's name")),
    responses(
        (status = 200, description = "The distinct non-null values, sorted", body = Object),
        (status = 404, description = "No such column", body = Problem),
    )
)]
#[get("/rules/columns/{column}")]
pub async fn rule_column(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let column = path.into_inner();
    let name = column.clone();
    let values = read(&state, move |store| store.rule_column_values(&name))
        .await?
        .ok_or_else(|| {
            BalrogError::new(StatusCode::NOT_FOUND, "Rule column was not found")
                .exception("Requested column does not exist")
        })?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, values.len());
    Ok(response.json(json!({"count": values.len(), column: values})))
}
