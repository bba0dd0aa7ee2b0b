//! The audit at `/api/history` (docs/balrog.md, "Governance"): every change record of every
//! Balrog table (rules, releases, shutoffs, permissions, roles, required signoffs), newest
//! first, paged and filtered. Balrog has one history view per table; this one answers "who
//! changed what, when" across all of them.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use shiplog_domain::balrog::ChangeTable;
use shiplog_storage::{HistoryFilter, HistoryRecord};
use utoipa::ToSchema;

use super::error::{BalrogError, Problem};
use super::paging::{paged, query_pairs, query_value, PageRequest};
use super::read;
use crate::state::AppState;

/// `{"count": n, "changes": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryList {
    /// Every record the filters match, whatever the page.
    pub count: i64,
    /// `{change_id, table, object_key, changed_by, timestamp, data_version, product, channel,
    /// row}` each; `row` (the object as the change left it) and `data_version` are null on the
    /// records that mark an insert or a delete.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Value>,
}

fn record_json(record: &HistoryRecord) -> Value {
    let change = &record.change;
    json!({
        "change_id": change.change_id,
        "table": change.table.as_str(),
        "object_key": change.object_key,
        "changed_by": change.changed_by,
        "timestamp": change.timestamp,
        "data_version": change.data_version,
        "product": record.product,
        "channel": record.channel,
        "row": change.row,
    })
}

/// Reads an epoch-milliseconds query value; anything else is a 400 naming the parameter.
pub(super) fn millis(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, BalrogError> {
    match query_value(pairs, key).map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
            BalrogError::bad_request(format!(
                "{key} must be an integer (milliseconds since the epoch)"
            ))
        }),
    }
}

fn filter(pairs: &[(String, String)]) -> Result<HistoryFilter, BalrogError> {
    let text = |key: &str| {
        query_value(pairs, key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let table = match text("table") {
        None => None,
        Some(name) => Some(ChangeTable::parse(&name).ok_or_else(|| {
            BalrogError::bad_request(format!(
                "table must be one of rules, releases, emergency_shutoffs, permissions, \
                 user_roles, required_signoffs_product, required_signoffs_permissions, \
                 pinnable_releases (not {name:?})"
            ))
        })?),
    };
    let filter = HistoryFilter {
        changed_by: text("changed_by"),
        timestamp_from: millis(pairs, "timestamp_from")?,
        timestamp_to: millis(pairs, "timestamp_to")?,
        product: text("product"),
        channel: text("channel"),
        table,
    };
    if let (Some(from), Some(to)) = (filter.timestamp_from, filter.timestamp_to) {
        if from > to {
            return Err(BalrogError::bad_request(
                "timestamp_from must not be after timestamp_to",
            ));
        }
    }
    Ok(filter)
}

/// Every change record across the Balrog tables, newest first, paged by `page` and `limit`
/// (default 10, at most 1000), with `X-Total-Count` and `Link`.
#[utoipa::path(
    tag = "balrog: governance",
    params(
        ("changed_by" = Option<String>, Query, description = "Only changes by this user"),
        ("timestamp_from" = Option<i64>, Query, description = "Only changes at or after this time (ms since the epoch)"),
        ("timestamp_to" = Option<i64>, Query, description = "Only changes at or before this time (ms since the epoch)"),
        ("product" = Option<String>, Query, description = "Only changes to objects of this product (rules, releases, shutoffs, required signoffs)"),
        ("channel" = Option<String>, Query, description = "Only changes to objects of this channel (rules, shutoffs, product required signoffs)"),
        ("table" = Option<String>, Query, description = "Only this table: rules, releases, emergency_shutoffs, permissions, user_roles, required_signoffs_product, required_signoffs_permissions, pinnable_releases"),
        ("page" = Option<i64>, Query, description = "Page number, from 1"),
        ("limit" = Option<i64>, Query, description = "Records per page (default 10, at most 1000)"),
    ),
    responses(
        (status = 200, description = "`{count, changes}`, newest first", body = HistoryList),
        (status = 400, description = "A bad timestamp, table or page", body = Problem),
    )
)]
#[get("/history")]
pub async fn list_history(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    let pairs = query_pairs(&req)?;
    let filter = filter(&pairs)?;
    let page = PageRequest::from_query(&pairs)?;
    let history = read(&state, move |store| {
        store.list_history(&filter, page.limit, page.offset())
    })
    .await?;
    let mut response = HttpResponse::Ok();
    paged(&mut response, &req, page, history.total);
    Ok(response.json(HistoryList {
        count: history.total,
        changes: history.records.iter().map(record_json).collect(),
    }))
}
