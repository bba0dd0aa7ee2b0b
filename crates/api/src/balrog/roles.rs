//! Users' roles at `/api/users/{username}/roles` (docs/balrog.md, "Governance"): the names
//! users sign off scheduled changes with. Granting needs permission `permission` with action
//! `create`, revoking it with `delete`, as Balrog checks them.

use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use shiplog_domain::{Action, PermissionName, UserName};
use shiplog_storage::StoredRole;

use super::auth::Actor;
use super::error::{BalrogError, Problem};
use super::{query_data_version, read, write, NewDataVersion, WriteMethod};
use crate::state::AppState;

/// The longest role name (Balrog's column width).
const MAX_ROLE_LEN: usize = 50;

fn user_name(raw: &str) -> Result<UserName, BalrogError> {
    UserName::parse(raw).map_err(|e| BalrogError::bad_request(e.to_string()))
}

/// A role name: 1 to 50 characters, no whitespace or `/` (history keys are `user/role`).
fn role_name(raw: &str) -> Result<String, BalrogError> {
    let valid = !raw.is_empty()
        && raw.chars().count() <= MAX_ROLE_LEN
        && !raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(BalrogError::bad_request(format!(
            "role must be 1 to {MAX_ROLE_LEN} characters, without spaces or '/'"
        )))
    }
}

/// `[{"role", "data_version"}]`, as Balrog lists a user's roles in `GET /users`.
pub(super) fn role_list(roles: &[StoredRole]) -> Value {
    Value::Array(
        roles
            .iter()
            .map(|r| json!({"role": r.role, "data_version": r.data_version}))
            .collect(),
    )
}

/// `{"<role>": {"data_version"}}`, as Balrog shows them in `GET /users/{username}`.
pub(super) fn role_map(roles: &[StoredRole]) -> Value {
    Value::Object(
        roles
            .iter()
            .map(|r| (r.role.clone(), json!({"data_version": r.data_version})))
            .collect(),
    )
}

/// A user's roles: `{"roles": [{"role", "data_version"}]}` (a shiplog addition; Balrog shows
/// roles only inside `GET /users` and `GET /users/{username}`).
#[utoipa::path(
    tag = "balrog: users",
    params(("username" = String, Path, description = "A user name")),
    responses(
        (status = 200, description = "`{\"roles\": [{role, data_version}]}`; empty for an unknown user", body = Object),
        (status = 400, description = "Not a valid user name", body = Problem),
    )
)]
#[get("/users/{username}/roles")]
pub async fn user_roles(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path)?;
    let roles = read(&state, move |store| store.list_roles(Some(user.as_str()))).await?;
    Ok(HttpResponse::Ok().json(json!({"roles": role_list(&roles)})))
}

/// Grant a role. Answers 201 `{"new_data_version": 1}`; granting a role the user holds changes
/// nothing and answers 200 with its data_version. The user must hold a permission.
#[utoipa::path(
    tag = "balrog: users",
    params(
        ("username" = String, Path, description = "A user name"),
        ("role" = String, Path, description = "A role name (1 to 50 characters)"),
    ),
    responses(
        (status = 201, description = "Granted", body = NewDataVersion),
        (status = 200, description = "Held already; nothing changed", body = NewDataVersion),
        (status = 400, description = "Bad name, or a user without any permission", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `permission` permission with action `create`", body = Problem),
    )
)]
#[put("/users/{username}/roles/{role}")]
pub async fn grant_role(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path.0)?;
    let role = role_name(&path.1)?;
    actor.require(PermissionName::Permission, Action::Create, None)?;
    let grant = write(&state, WriteMethod::Put, move |store| {
        store.grant_role(user.as_str(), &role, actor.name())
    })
    .await?;
    let body = NewDataVersion {
        new_data_version: grant.data_version,
    };
    Ok(if grant.created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Revoke a role at `?data_version=`. Refused (400) while a required signoff needs more holders
/// of the role than would remain.
#[utoipa::path(
    tag = "balrog: users",
    params(
        ("username" = String, Path, description = "A user name"),
        ("role" = String, Path, description = "A role name"),
        ("data_version" = i64, Query, description = "The role's current data_version"),
    ),
    responses(
        (status = 200, description = "Revoked (empty body)"),
        (status = 400, description = "Missing or outdated data_version, or the role is still needed", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `permission` permission with action `delete`", body = Problem),
        (status = 404, description = "The user does not hold the role", body = Problem),
    )
)]
#[delete("/users/{username}/roles/{role}")]
pub async fn revoke_role(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path.0)?;
    let role = role_name(&path.1)?;
    let data_version = query_data_version(&req)?;
    actor.require(PermissionName::Permission, Action::Delete, None)?;
    write(&state, WriteMethod::Delete, move |store| {
        store.revoke_role(user.as_str(), &role, data_version, actor.name())
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}
