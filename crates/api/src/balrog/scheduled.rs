//! Scheduled changes at `/api/scheduled_changes/{table}` (docs/balrog.md, "Governance:
//! scheduled changes"): list, schedule, show, edit, delete, revisions, enact, and sign off, with
//! Balrog's bodies and status codes. `{table}` is `rules`, `releases`, `permissions`,
//! `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`; all but
//! `emergency_shutoff` also take a revert to an earlier revision (`POST …/{sc_id}/revisions`).

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use shiplog_domain::balrog::blob_schema;
use shiplog_domain::balrog::named_release::{parse_product, validate_blob};
use shiplog_domain::balrog::ReleaseName;
use shiplog_domain::balrog::{
    ChangeTable, ChangeType, Condition, EmergencyShutoff, RuleChanges, RuleFields, RuleRef,
    ScTable, ScheduledChange,
};
use shiplog_domain::{Action, PermissionName, PermissionOptions};
use shiplog_storage::{Enactment, Required, RequiredSignoffInput, ScheduledTarget};
use utoipa::ToSchema;

use super::auth::Actor;
use super::body::{self, Fields};
use super::error::{BalrogError, Problem};
use super::paging::{paged, query_pairs, query_value, PageRequest};
use super::releases::refuse_forbidden;
use super::users::{check_grant, permission_name, user_name};
use super::{read, write, NewDataVersion, WriteMethod};
use crate::state::AppState;

/// `{"count": n, "scheduled_changes": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledChangeList {
    pub count: usize,
    /// Each change: its base columns, `sc_id`, `scheduled_by`, `complete`, `change_type`,
    /// `sc_data_version`, `when` (and telemetry fields for rules), `signoffs`,
    /// `required_signoffs`, and how a completed change ended.
    #[schema(value_type = Vec<Object>)]
    pub scheduled_changes: Vec<Value>,
}

/// `{"sc_id": n, "signoffs": {user: role}}`: a new scheduled change.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewScheduledChange {
    pub sc_id: i64,
    #[schema(value_type = Object)]
    pub signoffs: Value,
}

fn now_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

fn table_of(raw: &str) -> Result<ScTable, BalrogError> {
    ScTable::parse(raw)
        .ok_or_else(|| BalrogError::not_found("The requested URL was not found on the server."))
}

fn sc_id_of(raw: &str) -> Result<i64, BalrogError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(sc_not_found)
}

fn sc_not_found() -> BalrogError {
    BalrogError::not_found("Scheduled change does not exist")
}

fn view(change: &ScheduledChange, required: &Required) -> Value {
    let required: Map<String, Value> = required
        .iter()
        .map(|(role, count)| (role.to_owned(), json!(count)))
        .collect();
    change.to_json(&required)
}

fn signoffs_json(change: &ScheduledChange) -> Value {
    Value::Object(
        change
            .signoffs
            .iter()
            .map(|s| (s.username.clone(), json!(s.role)))
            .collect(),
    )
}

fn required_integer(fields: &Fields, key: &str) -> Result<i64, BalrogError> {
    body::integer(fields, key)?
        .ok_or_else(|| BalrogError::bad_request(format!("'{key}' is a required property")))
}

fn required_text(fields: &Fields, key: &str) -> Result<String, BalrogError> {
    body::text(fields, key)?
        .ok_or_else(|| BalrogError::bad_request(format!("'{key}' is a required property")))
}

/// The change a body describes, checked on its own (the stored data is checked by the write).
fn target_of(
    table: ScTable,
    change_type: ChangeType,
    fields: &Fields,
) -> Result<ScheduledTarget, BalrogError> {
    if !table.allows(change_type) {
        return Err(BalrogError::bad_request(format!(
            "Invalid change_type '{change_type}' for {table}"
        )));
    }
    let data_version = || -> Result<i64, BalrogError> {
        body::data_version(fields)?.ok_or_else(|| {
            BalrogError::bad_request("Missing field: data_version is required for this change")
        })
    };
    Ok(match (table, change_type) {
        (ScTable::Rules, ChangeType::Insert) => {
            ScheduledTarget::RuleInsert(Box::new(RuleFields::create(&RuleChanges::parse(fields)?)?))
        }
        (ScTable::Rules, ChangeType::Update) => ScheduledTarget::RuleUpdate {
            rule_id: required_integer(fields, "rule_id")?,
            data_version: data_version()?,
            changes: RuleChanges::parse(fields)?,
        },
        (ScTable::Rules, ChangeType::Delete) => ScheduledTarget::RuleDelete {
            rule_id: required_integer(fields, "rule_id")?,
            data_version: data_version()?,
        },
        (ScTable::EmergencyShutoff, ChangeType::Insert) => {
            let comment = body::text(fields, "comment")?;
            ScheduledTarget::ShutoffInsert(EmergencyShutoff::new(
                &required_text(fields, "product")?,
                &required_text(fields, "channel")?,
                comment.as_deref(),
            )?)
        }
        (ScTable::EmergencyShutoff, _) => ScheduledTarget::ShutoffDelete {
            product: required_text(fields, "product")?,
            channel: required_text(fields, "channel")?,
            data_version: data_version()?,
        },
        (ScTable::Releases, ChangeType::Insert) => ScheduledTarget::ReleaseInsert {
            name: release_name(fields)?,
            product: release_product(fields)?,
            data: release_blob(fields)?,
        },
        (ScTable::Releases, ChangeType::Update) => ScheduledTarget::ReleaseUpdate {
            name: release_name(fields)?,
            product: release_product(fields)?,
            data: release_blob(fields)?,
            read_only: body::boolean(fields, "read_only")?.unwrap_or(false),
            data_version: data_version()?,
        },
        (ScTable::Releases, ChangeType::Delete) => ScheduledTarget::ReleaseDelete {
            name: release_name(fields)?,
            data_version: data_version()?,
        },
        (ScTable::Permissions, kind) => {
            let username = user_name(&required_text(fields, "username")?)?;
            let permission = permission_name(&required_text(fields, "permission")?)?;
            match kind {
                ChangeType::Insert => ScheduledTarget::PermissionInsert {
                    username,
                    permission,
                    options: permission_options(fields, permission)?,
                },
                ChangeType::Update => ScheduledTarget::PermissionUpdate {
                    username,
                    permission,
                    options: permission_options(fields, permission)?,
                    data_version: data_version()?,
                },
                ChangeType::Delete => ScheduledTarget::PermissionDelete {
                    username,
                    permission,
                    data_version: data_version()?,
                },
            }
        }
        (ScTable::RequiredSignoffsProduct | ScTable::RequiredSignoffsPermissions, kind) => {
            let signoffs_required = match kind {
                ChangeType::Delete => body::integer(fields, "signoffs_required")?.unwrap_or(0),
                _ => required_integer(fields, "signoffs_required")?,
            };
            let input = RequiredSignoffInput {
                product: required_text(fields, "product")?,
                channel: match table {
                    ScTable::RequiredSignoffsProduct => Some(required_text(fields, "channel")?),
                    _ => None,
                },
                role: required_text(fields, "role")?,
                signoffs_required,
            };
            match kind {
                ChangeType::Insert => ScheduledTarget::RequiredSignoffInsert(input),
                ChangeType::Update => ScheduledTarget::RequiredSignoffUpdate {
                    input,
                    data_version: data_version()?,
                },
                ChangeType::Delete => ScheduledTarget::RequiredSignoffDelete {
                    input,
                    data_version: data_version()?,
                },
            }
        }
    })
}

fn release_name(fields: &Fields) -> Result<String, BalrogError> {
    Ok(ReleaseName::parse(&required_text(fields, "name")?)?
        .as_str()
        .to_owned())
}

fn release_product(fields: &Fields) -> Result<String, BalrogError> {
    Ok(parse_product(&required_text(fields, "product")?)?)
}

/// The blob of a release change (`data`): a JSON object, or its JSON text in a form. Checked
/// as a direct write checks it: the release's name in it, and its schema.
fn release_blob(fields: &Fields) -> Result<Value, BalrogError> {
    let blob = match body::json_document(fields, "data")? {
        Some(blob @ Value::Object(_)) => blob,
        Some(_) => {
            return Err(BalrogError::bad_request(
                "'data' must be a JSON object (the blob)",
            ))
        }
        None => {
            return Err(
                BalrogError::bad_request("Missing field").exception("Missing blob 'data' value")
            )
        }
    };
    let name = required_text(fields, "name")?;
    validate_blob(&name, &blob).map_err(|e| {
        BalrogError::bad_request("Couldn't schedule release change").exception(e.to_string())
    })?;
    blob_schema::validate(&blob).map_err(|problems| {
        BalrogError::invalid_blob(
            "Couldn't schedule release change",
            problems.iter().map(ToString::to_string).collect(),
        )
    })?;
    Ok(blob)
}

/// A permission change's `options`: JSON, JSON text, or null, valid for the permission.
fn permission_options(
    fields: &Fields,
    permission: PermissionName,
) -> Result<PermissionOptions, BalrogError> {
    let options = body::json_document(fields, "options")?.unwrap_or(Value::Null);
    PermissionOptions::parse(permission, &options)
        .map_err(|e| BalrogError::bad_request(e.to_string()))
}

/// Refuses a release change whose blob brings download URLs the domain allow-list does not
/// allow for its product, as the direct write does.
fn check_allowlist(state: &AppState, target: &ScheduledTarget) -> Result<(), BalrogError> {
    let (ScheduledTarget::ReleaseInsert { product, data, .. }
    | ScheduledTarget::ReleaseUpdate { product, data, .. }) = target
    else {
        return Ok(());
    };
    match &state.allowlist {
        Some(list) => refuse_forbidden(list.forbidden_in_blob(data, product)),
        None => Ok(()),
    }
}

fn condition_of(table: ScTable, fields: &Fields, now: i64) -> Result<Condition, BalrogError> {
    Condition::parse(table, fields, now).map_err(BalrogError::bad_request)
}

/// Checks the caller may make the change directly: scheduling asks for the permission the
/// direct write would (`rule`/`emergency_shutoff` with its action, for the product).
fn require_base_permission(
    actor: &Actor,
    target: &ScheduledTarget,
    stored: &Stored,
) -> Result<(), BalrogError> {
    let stored_product = stored.product.as_deref();
    match target {
        ScheduledTarget::RuleInsert(fields) => actor.require(
            PermissionName::Rule,
            Action::Create,
            fields.product.as_deref(),
        ),
        ScheduledTarget::RuleUpdate { changes, .. } => {
            actor.require(PermissionName::Rule, Action::Modify, stored_product)?;
            match changes.text(shiplog_domain::balrog::RuleField::Product) {
                Some(product) => {
                    actor.require(PermissionName::Rule, Action::Modify, product.as_deref())
                }
                None => Ok(()),
            }
        }
        ScheduledTarget::RuleDelete { .. } => {
            actor.require(PermissionName::Rule, Action::Delete, stored_product)
        }
        ScheduledTarget::ShutoffInsert(shutoff) => actor.require(
            PermissionName::EmergencyShutoff,
            Action::Create,
            Some(&shutoff.product),
        ),
        ScheduledTarget::ShutoffDelete { product, .. } => actor.require(
            PermissionName::EmergencyShutoff,
            Action::Delete,
            Some(product),
        ),
        ScheduledTarget::RequiredSignoffInsert(input) => actor.require(
            PermissionName::RequiredSignoff,
            Action::Create,
            Some(&input.product),
        ),
        ScheduledTarget::RequiredSignoffUpdate { input, .. } => actor.require(
            PermissionName::RequiredSignoff,
            Action::Modify,
            Some(&input.product),
        ),
        ScheduledTarget::RequiredSignoffDelete { input, .. } => actor.require(
            PermissionName::RequiredSignoff,
            Action::Delete,
            Some(&input.product),
        ),
        ScheduledTarget::ReleaseInsert { product, .. } => {
            actor.require(PermissionName::Release, Action::Create, Some(product))
        }
        ScheduledTarget::ReleaseUpdate {
            product,
            data,
            read_only,
            ..
        } => {
            // Flipping the flag is release_read_only's business; changing the blob or the
            // product is release's, for the stored product and the new one.
            if let Some(stored_flag) = stored.read_only.filter(|flag| flag != read_only) {
                let action = if stored_flag {
                    Action::Unset
                } else {
                    Action::Set
                };
                actor.require(PermissionName::ReleaseReadOnly, action, stored_product)?;
            }
            let changes_release =
                stored.data.as_ref() != Some(data) || stored_product != Some(product.as_str());
            if changes_release {
                actor.require(PermissionName::Release, Action::Modify, stored_product)?;
                if stored_product != Some(product.as_str()) {
                    actor.require(PermissionName::Release, Action::Modify, Some(product))?;
                }
            }
            Ok(())
        }
        ScheduledTarget::ReleaseDelete { .. } => {
            actor.require(PermissionName::Release, Action::Delete, stored_product)
        }
        ScheduledTarget::PermissionInsert { permission, .. } => {
            check_grant(actor, *permission, Action::Create)
        }
        ScheduledTarget::PermissionUpdate { permission, .. } => {
            check_grant(actor, *permission, Action::Modify)
        }
        ScheduledTarget::PermissionDelete { permission, .. } => {
            check_grant(actor, *permission, Action::Delete)
        }
    }
}

/// The target of a change as stored now, as far as the permission check needs it.
#[derive(Debug, Default)]
struct Stored {
    /// The rule's or the release's product.
    product: Option<String>,
    /// The release's read-only flag.
    read_only: Option<bool>,
    /// The release's blob.
    data: Option<Value>,
}

/// Reads the rule or release a change updates or deletes (for the permission check).
async fn stored_target(state: &AppState, target: &ScheduledTarget) -> Result<Stored, BalrogError> {
    match target {
        ScheduledTarget::RuleUpdate { rule_id, .. }
        | ScheduledTarget::RuleDelete { rule_id, .. } => {
            let rule_id = *rule_id;
            let rule = read(state, move |store| store.find_rule(&RuleRef::Id(rule_id))).await?;
            Ok(Stored {
                product: rule.and_then(|r| r.fields.product),
                ..Stored::default()
            })
        }
        ScheduledTarget::ReleaseUpdate { name, .. }
        | ScheduledTarget::ReleaseDelete { name, .. } => stored_release(state, name).await,
        _ => Ok(Stored::default()),
    }
}

async fn stored_release(state: &AppState, name: &str) -> Result<Stored, BalrogError> {
    let name = name.to_owned();
    let release = read(state, move |store| store.find_named_release(&name)).await?;
    Ok(release.map_or_else(Stored::default, |r| Stored {
        product: Some(r.product),
        read_only: Some(r.read_only),
        data: Some(r.data),
    }))
}

/// Fills what a release update may leave out from the release as stored, as Balrog does: the
/// blob (a change of the read-only flag alone), the product and the flag.
async fn with_release_defaults(
    state: &AppState,
    table: ScTable,
    change_type: ChangeType,
    mut fields: Fields,
) -> Result<Fields, BalrogError> {
    if table != ScTable::Releases || change_type != ChangeType::Update {
        return Ok(fields);
    }
    let Some(name) = body::text(&fields, "name")? else {
        return Ok(fields);
    };
    let stored = stored_release(state, &name).await?;
    let absent = |fields: &Fields, key: &str| fields.get(key).is_none_or(Value::is_null);
    for (key, value) in [
        ("data", stored.data.clone()),
        ("product", stored.product.clone().map(Value::String)),
        ("read_only", stored.read_only.map(Value::Bool)),
    ] {
        if let Some(value) = value.filter(|_| absent(&fields, key)) {
            fields.insert(key.to_owned(), value);
        }
    }
    Ok(fields)
}

/// List a table's scheduled changes: pending ones, or all with `all=1`; `rule_id=` for one rule,
/// `name=` for one release.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("all" = Option<i64>, Query, description = "1: completed changes too"),
        ("rule_id" = Option<i64>, Query, description = "Only the changes of this rule (rules)"),
        ("name" = Option<String>, Query, description = "Only the changes of this release (releases)"),
    ),
    responses(
        (status = 200, description = "The changes, oldest first", body = ScheduledChangeList),
        (status = 404, description = "No such table", body = Problem),
    )
)]
#[get("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}")]
pub async fn list_scheduled(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let table = table_of(&path)?;
    let pairs = query_pairs(&req)?;
    let all = matches!(query_value(&pairs, "all"), Some("1" | "true" | "True"));
    let rule_id =
        match query_value(&pairs, "rule_id").filter(|v| !v.is_empty()) {
            Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
                BalrogError::bad_request(format!("Invalid input for rule_id: {raw}"))
            })?),
            None => None,
        };
    // The row whose changes to list: a rule by `rule_id`, a release by `name` (Balrog's
    // filters); other tables list every change.
    let key = match table {
        ScTable::Rules => rule_id.map(|id| id.to_string()),
        ScTable::Releases => query_value(&pairs, "name")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        _ => None,
    };
    let changes = read(&state, move |store| {
        store.list_scheduled_changes(table, all, key.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(ScheduledChangeList {
        count: changes.len(),
        scheduled_changes: changes.iter().map(|(c, r)| view(c, r)).collect(),
    }))
}

/// Schedule a change: `change_type` (`insert`, `update`, `delete`), the base columns (and
/// `data_version` of the target for updates and deletes), and `when` (epoch ms, in the future)
/// or, for rules, `telemetry_product`/`telemetry_channel`/`telemetry_uptake`. Checked as the
/// direct write would be. At most one pending change per row.
#[utoipa::path(
    tag = "balrog",
    params(("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`")),
    request_body(content = Object, description = "change_type, the base columns, a condition"),
    responses(
        (status = 200, description = "Scheduled", body = NewScheduledChange),
        (status = 400, description = "Invalid change or condition, outdated data_version, a change already scheduled for the row (ChangeScheduledError)", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No permission for the direct change", body = Problem),
        (status = 404, description = "No such table, or the target does not exist", body = Problem),
    )
)]
#[post("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}")]
pub async fn create_scheduled(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let table = table_of(&path)?;
    let fields = body::fields(&req, &payload)?;
    let change_type = ChangeType::parse(&required_text(&fields, "change_type")?)?;
    let now = now_millis();
    if fields.contains_key("sc_id") {
        return Err(BalrogError::bad_request(
            "sc_id cannot be set when scheduling a new change",
        ));
    }
    let condition = condition_of(table, &fields, now)?;
    let fields = with_release_defaults(&state, table, change_type, fields).await?;
    let target = target_of(table, change_type, &fields)?;
    check_allowlist(&state, &target)?;
    let stored = stored_target(&state, &target).await?;
    require_base_permission(&actor, &target, &stored)?;
    let (change, _) = write(&state, WriteMethod::Post, move |store| {
        store.schedule_change(&target, &condition, actor.name(), now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(NewScheduledChange {
        sc_id: change.sc_id,
        signoffs: signoffs_json(&change),
    }))
}

/// One scheduled change.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    responses(
        (status = 200, description = "`{\"scheduled_change\": {...}}`", body = Object),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[get("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}")]
pub async fn get_scheduled(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let (change, required) = read(&state, move |store| {
        store.find_scheduled_change(table, sc_id)
    })
    .await?
    .ok_or_else(sc_not_found)?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Data-Version", change.sc_data_version.to_string()))
        .json(json!({"scheduled_change": view(&change, &required)})))
}

/// The stored base row as request fields: what an edit starts from.
fn stored_fields(change: &ScheduledChange) -> Fields {
    let mut fields = change.base.clone();
    if let Some(data_version) = change.data_version {
        fields.insert("data_version".into(), json!(data_version));
    }
    fields
}

/// Whether an edit may change base column `key`, as Balrog allows: a release update changes
/// only its blob, a permission update only its options (the name, user and permission are the
/// row's key; a release's product change is a delete and a new release); a delete only moves
/// its data_version. Other keys given are left as they were.
fn editable(table: ScTable, change_type: ChangeType, key: &str) -> bool {
    match (table, change_type) {
        (ScTable::Releases, ChangeType::Update) => matches!(key, "data" | "data_version"),
        (ScTable::Releases, ChangeType::Delete) => key == "data_version",
        (ScTable::Permissions, ChangeType::Update) => matches!(key, "options" | "data_version"),
        (ScTable::Permissions, ChangeType::Delete) => key == "data_version",
        _ => true,
    }
}

/// Edit a pending change with its `sc_data_version`: the columns given replace the stored ones;
/// `when` (or telemetry) replaces the condition. The editor becomes `scheduled_by` and every
/// other signoff is cleared.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    request_body(content = Object, description = "sc_data_version, and the columns or condition to change"),
    responses(
        (status = 200, description = "Changed; the new sc_data_version", body = NewDataVersion),
        (status = 400, description = "Outdated sc_data_version, a completed change, invalid input", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No permission for the direct change", body = Problem),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[post("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}")]
pub async fn edit_scheduled(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let given = body::fields(&req, &payload)?;
    let sc_data_version = body::integer(&given, "sc_data_version")?
        .ok_or_else(|| BalrogError::bad_request("'sc_data_version' is a required property"))?;
    let (current, _) = read(&state, move |store| {
        store.find_scheduled_change(table, sc_id)
    })
    .await?
    .ok_or_else(sc_not_found)?;
    if current.complete {
        return Err(BalrogError::bad_request(
            "Cannot edit a completed scheduled change",
        ));
    }
    let now = now_millis();
    let new_condition = [
        "when",
        "telemetry_product",
        "telemetry_channel",
        "telemetry_uptake",
    ]
    .iter()
    .any(|k| given.get(*k).is_some_and(|v| !v.is_null()));
    let condition = if new_condition {
        condition_of(table, &given, now)?
    } else if current.due_at().is_some_and(|when| when <= now) {
        return Err(BalrogError::bad_request(
            "Cannot edit a scheduled change whose time has passed without a new 'when'",
        ));
    } else {
        current.condition.clone()
    };
    let mut fields = stored_fields(&current);
    for (key, value) in given {
        if !matches!(
            key.as_str(),
            "sc_data_version" | "change_type" | "rule_id" | "when" | "csrf_token"
        ) && editable(table, current.change_type, &key)
        {
            fields.insert(key, value);
        }
    }
    let target = target_of(table, current.change_type, &fields)?;
    check_allowlist(&state, &target)?;
    let stored = stored_target(&state, &target).await?;
    require_base_permission(&actor, &target, &stored)?;
    let edited = write(&state, WriteMethod::Post, move |store| {
        store.edit_scheduled_change(
            sc_id,
            sc_data_version,
            &target,
            &condition,
            actor.name(),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(NewDataVersion {
        new_data_version: edited.sc_data_version,
    }))
}

/// Delete a pending change at `?data_version=` (its sc_data_version).
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
        ("data_version" = i64, Query, description = "The change's current sc_data_version"),
    ),
    responses(
        (status = 200, description = "Deleted (empty body)"),
        (status = 400, description = "Missing or outdated data_version, a completed change", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No permission for the direct change", body = Problem),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[delete("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}")]
pub async fn delete_scheduled(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let sc_data_version = super::query_data_version(&req)?;
    let (current, _) = read(&state, move |store| {
        store.find_scheduled_change(table, sc_id)
    })
    .await?
    .ok_or_else(sc_not_found)?;
    let target = target_of(table, current.change_type, &stored_fields(&current))?;
    let stored = stored_target(&state, &target).await?;
    require_base_permission(&actor, &target, &stored)?;
    write(&state, WriteMethod::Delete, move |store| {
        store.delete_scheduled_change(table, sc_id, sc_data_version, actor.name(), now_millis())
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// A change's revisions, newest first (`?page`, `?limit`).
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
        ("page" = Option<i64>, Query, description = "Page, from 1"),
        ("limit" = Option<i64>, Query, description = "Revisions per page (default 10)"),
    ),
    responses(
        (status = 200, description = "`{\"count\", \"revisions\": [...]}`", body = Object),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[get("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}/revisions")]
pub async fn scheduled_revisions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let page = PageRequest::from_query(&query_pairs(&req)?)?;
    let key = format!("{}/{sc_id}", table.as_str());
    let revisions = read(&state, move |store| {
        store.list_revisions(
            ChangeTable::ScheduledChanges,
            &key,
            page.limit,
            page.offset(),
        )
    })
    .await?;
    if revisions.total == 0 {
        return Err(sc_not_found());
    }
    let rows: Vec<Value> = revisions
        .changes
        .iter()
        .map(|change| {
            let mut row = change.row.clone().unwrap_or_else(|| json!({}));
            if let Value::Object(map) = &mut row {
                map.insert("change_id".into(), json!(change.change_id));
                map.insert("changed_by".into(), json!(change.changed_by));
                map.insert("timestamp".into(), json!(change.timestamp));
            }
            row
        })
        .collect();
    let mut response = HttpResponse::Ok();
    paged(&mut response, &req, page, revisions.total);
    Ok(response.json(json!({"count": revisions.total, "revisions": rows})))
}

/// Metadata of a change's history row that is not part of what it changes.
fn revision_fields(current: &ScheduledChange, row: &Map<String, Value>) -> Fields {
    current
        .base
        .keys()
        .map(String::as_str)
        .chain(["data_version"])
        .filter_map(|key| row.get(key).map(|v| (key.to_owned(), v.clone())))
        .collect()
}

/// Put a pending change back to one of its revisions (`{"change_id": n}`): its base columns
/// and its condition as they were then, as a new revision. Checked like an edit (a `when` that
/// has passed since is refused); every other signoff is cleared. Not for emergency shutoffs
/// (nor does Balrog offer it there).
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    request_body(content = Object, description = "`{\"change_id\": n}`: a revision of this change"),
    responses(
        (status = 200, description = "Reverted: `Excellent!`"),
        (status = 400, description = "No or unknown change_id, a revision of another change, a completed change, a `when` now past, or the revision no longer applies", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No permission for the direct change", body = Problem),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[post("/scheduled_changes/{table:rules|releases|permissions|required_signoffs/product|required_signoffs/permissions}/{sc_id}/revisions")]
pub async fn revert_scheduled(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let (current, _) = read(&state, move |store| {
        store.find_scheduled_change(table, sc_id)
    })
    .await?
    .ok_or_else(sc_not_found)?;
    let change_id = super::rules::change_id(body::fields(&req, &payload)?)?;
    if current.complete {
        return Err(BalrogError::bad_request(
            "Cannot revert a completed scheduled change",
        ));
    }
    let invalid = || {
        BalrogError::bad_request(format!(
            "Invalid change_id : {change_id} passed in the request body"
        ))
    };
    let record = read(&state, move |store| {
        store.find_change(ChangeTable::ScheduledChanges, change_id)
    })
    .await?
    .ok_or_else(invalid)?;
    if record.object_key != format!("{}/{sc_id}", table.as_str()) {
        return Err(BalrogError::bad_request("Bad sc_id passed in the request"));
    }
    let Some(Value::Object(row)) = record.row else {
        return Err(invalid());
    };
    let now = now_millis();
    let condition = condition_of(table, &row, now)?;
    let target = target_of(table, current.change_type, &revision_fields(&current, &row))?;
    check_allowlist(&state, &target)?;
    let stored = stored_target(&state, &target).await?;
    require_base_permission(&actor, &target, &stored)?;
    let sc_data_version = current.sc_data_version;
    write(&state, WriteMethod::Post, move |store| {
        store.edit_scheduled_change(
            sc_id,
            sc_data_version,
            &target,
            &condition,
            actor.name(),
            now,
        )
    })
    .await?;
    Ok(super::excellent())
}

/// Enact a pending change now, whatever its `when`, if its signoffs are complete (the
/// scheduler enacts due changes by itself). Needs `scheduled_change` with action `enact`. A
/// change that can no longer apply is marked failed and answered 400 with the reason.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    responses(
        (status = 200, description = "Enacted (empty body)"),
        (status = 400, description = "Signoff Required; already complete; could not apply (now marked failed)", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `scheduled_change` `enact` permission", body = Problem),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[post("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}/enact")]
pub async fn enact_scheduled(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    actor.require(PermissionName::ScheduledChange, Action::Enact, None)?;
    let outcome = write(&state, WriteMethod::Post, move |store| {
        store.enact_scheduled_change(table, sc_id, actor.name(), now_millis())
    })
    .await?;
    match outcome {
        Enactment::Enacted(_) => Ok(HttpResponse::Ok().finish()),
        Enactment::Failed(change) => {
            let reason = match &change.outcome {
                Some(shiplog_domain::balrog::Outcome::Failed { reason, .. }) => reason.clone(),
                _ => String::new(),
            };
            Err(BalrogError::bad_request("Scheduled change could not be enacted").exception(reason))
        }
    }
}

/// Sign a pending change off with `role`, which the caller must hold; one role per user.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    request_body(content = Object, description = "`{\"role\": \"releng\"}`"),
    responses(
        (status = 200, description = "Signed: `{\"signoffs\": {user: role}}`", body = Object),
        (status = 400, description = "No role, already signed, a completed change", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The caller does not hold the role", body = Problem),
        (status = 404, description = "No such change", body = Problem),
    )
)]
#[post("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}/signoffs")]
pub async fn sign_off(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let fields = body::fields(&req, &payload)?;
    let role = required_text(&fields, "role")?;
    let change = write(&state, WriteMethod::Post, move |store| {
        store.sign_off(table, sc_id, actor.name(), &role, now_millis())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"signoffs": signoffs_json(&change)})))
}

/// Withdraw the caller's signoff.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rules`, `releases`, `permissions`, `emergency_shutoff`, `required_signoffs/product` or `required_signoffs/permissions`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    responses(
        (status = 200, description = "Withdrawn: `{\"signoffs\": {user: role}}`", body = Object),
        (status = 400, description = "A completed change", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 404, description = "No such change, or no signoff by the caller", body = Problem),
    )
)]
#[delete("/scheduled_changes/{table:rules|releases|permissions|emergency_shutoff|required_signoffs/product|required_signoffs/permissions}/{sc_id}/signoffs")]
pub async fn remove_signoff(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, sc_id) = path.into_inner();
    let table = table_of(&table)?;
    let sc_id = sc_id_of(&sc_id)?;
    let change = write(&state, WriteMethod::Delete, move |store| {
        store.remove_signoff(table, sc_id, actor.name())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"signoffs": signoffs_json(&change)})))
}

/// A refused scheduled-change operation as Balrog's problem.
pub(super) fn refusal(refusal: shiplog_storage::ScheduledRefusal, method: &str) -> BalrogError {
    use shiplog_storage::ScheduledRefusal as R;
    match refusal {
        R::NotFound(_) => sc_not_found(),
        R::ChangeScheduled => BalrogError::bad_request("ChangeScheduledError")
            .exception("Cannot change or delete this row: a scheduled change for it is pending"),
        R::UpdateMerge => BalrogError::bad_request("UpdateMergeError").exception(
            "A scheduled change for this row is pending; change it (or delete it) instead",
        ),
        R::Outdated => BalrogError::outdated(method),
        R::Complete(id) => BalrogError::bad_request("Scheduled change is already complete")
            .exception(format!(
                "Scheduled change {id} has already been enacted or failed"
            )),
        R::Invalid(text) => BalrogError::bad_request(text),
        R::RoleNotHeld { user, role } => BalrogError::new(StatusCode::FORBIDDEN, "Forbidden")
            .exception(format!("{user} cannot signoff with role '{role}'")),
        R::AlreadySigned(user) => BalrogError::bad_request("Cannot sign off twice").exception(
            format!("{user} has already signed off this change; one role per user"),
        ),
        R::NotSigned(user) => BalrogError::not_found("Signoff not found")
            .exception(format!("{user} has not signed off this change")),
    }
}
