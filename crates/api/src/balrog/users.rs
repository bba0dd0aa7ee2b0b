//! Users and their permissions at `/api/users` (docs/balrog.md, docs/identity.md): who exists, what each
//! may do, and the writes that grant, change and take away permissions, with data_version and
//! history records like every other Balrog object.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, route, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use shiplog_domain::{Action, PermissionName, PermissionOptions, UserName};
use shiplog_storage::{StoredPermission, StoredRole, Writer};

use super::auth::Actor;
use super::body;
use super::error::{BalrogError, Problem};
use super::paging::total_count;
use super::roles::{role_list, role_map};
use super::typed::{self, value, JsonDocument, PermissionWrite};
use super::{query_data_version, read, write, NewDataVersion, WriteMethod};
use crate::state::AppState;

pub(super) fn user_name(raw: &str) -> Result<UserName, BalrogError> {
    UserName::parse(raw).map_err(|e| BalrogError::bad_request(e.to_string()))
}

pub(super) fn permission_name(raw: &str) -> Result<PermissionName, BalrogError> {
    PermissionName::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = PermissionName::ALL.iter().map(|p| p.as_str()).collect();
        BalrogError::bad_request(format!(
            "'{raw}' is not one of [{}]",
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// `{data_version, options}`, as Balrog shows one permission.
fn permission_json(permission: &StoredPermission) -> Value {
    json!({"data_version": permission.data_version, "options": permission.options.to_json()})
}

fn permissions_json(permissions: &[StoredPermission]) -> Value {
    let map: Map<String, Value> = permissions
        .iter()
        .map(|p| (p.name.as_str().to_owned(), permission_json(p)))
        .collect();
    Value::Object(map)
}

/// Every user with their roles: `{"<user>": {"roles": [{"role", "data_version"}]}}`.
#[utoipa::path(
    tag = "balrog: users",
    responses((status = 200, description = "Users by name, each with `roles`; `X-Total-Count` gives their number", body = Object))
)]
#[get("/users")]
pub async fn list_users(state: web::Data<AppState>) -> Result<HttpResponse, BalrogError> {
    let (users, roles) = read(&state, |store| {
        Ok((store.list_users()?, store.list_roles(None)?))
    })
    .await?;
    let mut map = Map::new();
    for user in &users {
        let held: Vec<StoredRole> = roles
            .iter()
            .filter(|r| &r.username == user)
            .cloned()
            .collect();
        map.insert(user.clone(), json!({"roles": role_list(&held)}));
    }
    let mut response = HttpResponse::Ok();
    total_count(&mut response, users.len());
    Ok(response.json(Value::Object(map)))
}

/// One user with their permissions: `{username, permissions, roles}`. `current` is the caller
/// (a credential is needed); another user needs permission `permission` with action `view`.
#[utoipa::path(
    tag = "balrog: users",
    params(("username" = String, Path, description = "A user name, or `current`")),
    responses(
        (status = 200, description = "`{username, permissions: {name: {data_version, options}}, roles: {role: {data_version}}}`", body = Object),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "Another user, without `permission`/`view`", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    )
)]
#[get("/users/{username}")]
pub async fn get_user(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = if path.as_str() == "current" {
        actor.name().to_owned()
    } else {
        path.into_inner()
    };
    if name != actor.name() {
        actor.require(PermissionName::Permission, Action::View, None)?;
    }
    let user = user_name(&name).map_err(|_| BalrogError::not_found("No such user"))?;
    let (exists, permissions, roles) = read(&state, move |store| {
        Ok((
            store.user_exists(&user)?,
            store.user_permissions(&user)?,
            store.list_roles(Some(user.as_str()))?,
        ))
    })
    .await?;
    if !exists && name != actor.name() {
        return Err(BalrogError::not_found("No such user"));
    }
    Ok(HttpResponse::Ok().json(json!({
        "username": name,
        "permissions": permissions_json(&permissions),
        "roles": role_map(&roles),
    })))
}

/// A user's permissions: `{name: {data_version, options}}`; `{}` for an unknown user.
#[utoipa::path(
    tag = "balrog: users",
    params(("username" = String, Path, description = "A user name")),
    responses(
        (status = 200, description = "Permissions by name", body = Object),
        (status = 400, description = "Not a valid user name", body = Problem),
    )
)]
#[get("/users/{username}/permissions")]
pub async fn user_permissions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path)?;
    let permissions = read(&state, move |store| store.user_permissions(&user)).await?;
    Ok(HttpResponse::Ok().json(permissions_json(&permissions)))
}

fn permission_not_found() -> BalrogError {
    BalrogError::not_found("Requested permission does not exist")
}

/// One permission of a user: `{data_version, options}`, with `X-Data-Version`. `HEAD` answers
/// the headers alone.
#[utoipa::path(
    get,
    tag = "balrog: users",
    params(
        ("username" = String, Path, description = "A user name"),
        ("permission" = String, Path, description = "A permission name"),
    ),
    responses(
        (status = 200, description = "`{data_version, options}`", body = Object),
        (status = 400, description = "Not a permission name", body = Problem),
        (status = 404, description = "The user does not hold it", body = Problem),
    )
)]
#[route(
    "/users/{username}/permissions/{permission}",
    method = "GET",
    method = "HEAD"
)]
pub async fn get_permission(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path.0)?;
    let name = permission_name(&path.1)?;
    let permission = read(&state, move |store| store.find_permission(&user, name))
        .await?
        .ok_or_else(permission_not_found)?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Data-Version", permission.data_version.to_string()))
        .json(permission_json(&permission)))
}

/// The `options` of a write: a JSON-encoded string (as Balrog takes it), an object, or null.
fn options(
    document: Option<JsonDocument>,
    name: PermissionName,
) -> Result<PermissionOptions, BalrogError> {
    let options = value(document).unwrap_or(Value::Null);
    PermissionOptions::parse(name, &options).map_err(|e| BalrogError::bad_request(e.to_string()))
}

/// Changing an `admin` permission is for unrestricted admins only: anyone else could make
/// themselves one (a shiplog addition to Balrog's model).
pub(super) fn check_grant(
    actor: &Actor,
    name: PermissionName,
    action: Action,
) -> Result<(), BalrogError> {
    actor.require(PermissionName::Permission, action, None)?;
    if name == PermissionName::Admin && !actor.who.is_admin() {
        return Err(BalrogError::new(StatusCode::FORBIDDEN, "PermissionDeniedError").exception(
            format!(
                "Permission denied to perform the request. {} is not allowed to {action} admin permissions",
                actor.name()
            ),
        ));
    }
    Ok(())
}

/// Grant a permission (201, creating the user if new), or replace the options of one held
/// (200, `data_version` required): `{options: "<JSON object>" | null, data_version?}`.
#[utoipa::path(
    tag = "balrog: users",
    params(
        ("username" = String, Path, description = "A user name"),
        ("permission" = String, Path, description = "A permission name"),
    ),
    request_body(content = PermissionWrite, description = "`options` is JSON (or JSON-encoded text) such as `{\"products\": [\"Firefox\"]}`; JSON, or the same fields as a form"),
    responses(
        (status = 201, description = "Granted", body = NewDataVersion),
        (status = 200, description = "Changed", body = NewDataVersion),
        (status = 400, description = "Bad name, bad options, missing or outdated data_version", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `permission` permission for this action", body = Problem),
    )
)]
#[put("/users/{username}/permissions/{permission}")]
pub async fn put_permission(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path.0)?;
    let name = permission_name(&path.1)?;
    let doc: PermissionWrite = typed::parse(body::fields(&req, &payload)?)?;
    let options = options(doc.options, name)?;
    let data_version = value(doc.data_version);
    let lookup = user.clone();
    let held = write(&state, WriteMethod::Put, move |store| {
        store.find_permission(&lookup, name)
    })
    .await?;
    let action = if held.is_some() {
        Action::Modify
    } else {
        Action::Create
    };
    check_grant(&actor, name, action)?;
    let now = state.auth.now();
    let written = write(&state, WriteMethod::Put, move |store| {
        store.put_permission(
            &user,
            name,
            &options,
            data_version,
            Writer::direct(actor.name()),
            now,
        )
    })
    .await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(NewDataVersion {
        new_data_version: written.data_version,
    }))
}

/// Replace the options of a permission the user holds: `{options, data_version}`.
#[utoipa::path(
    tag = "balrog: users",
    params(
        ("username" = String, Path, description = "A user name"),
        ("permission" = String, Path, description = "A permission name"),
    ),
    request_body(content = PermissionWrite, description = "`data_version` is required; JSON, or the same fields as a form"),
    responses(
        (status = 200, description = "Changed", body = NewDataVersion),
        (status = 400, description = "Bad name, bad options, missing or outdated data_version", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `permission` permission with action `modify`", body = Problem),
        (status = 404, description = "The user does not hold it", body = Problem),
    )
)]
#[post("/users/{username}/permissions/{permission}")]
pub async fn post_permission(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path.0)?;
    let name = permission_name(&path.1)?;
    let doc: PermissionWrite = typed::parse(body::fields(&req, &payload)?)?;
    let options = options(doc.options, name)?;
    let data_version = value(doc.data_version)
        .ok_or_else(|| BalrogError::bad_request("data_version field is missing"))?;
    check_grant(&actor, name, Action::Modify)?;
    let now = state.auth.now();
    let new_data_version = write(&state, WriteMethod::Post, move |store| {
        store.update_permission(
            &user,
            name,
            &options,
            data_version,
            Writer::direct(actor.name()),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(NewDataVersion { new_data_version }))
}

/// Take a permission away, at `?data_version=`.
#[utoipa::path(
    tag = "balrog: users",
    params(
        ("username" = String, Path, description = "A user name"),
        ("permission" = String, Path, description = "A permission name"),
        ("data_version" = i64, Query, description = "The permission's current data_version"),
    ),
    responses(
        (status = 200, description = "Taken away (empty body)"),
        (status = 400, description = "Bad name, missing or outdated data_version", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `permission` permission with action `delete`", body = Problem),
        (status = 404, description = "The user does not hold it", body = Problem),
    )
)]
#[delete("/users/{username}/permissions/{permission}")]
pub async fn delete_permission(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let user = user_name(&path.0)?;
    let name = permission_name(&path.1)?;
    let data_version = query_data_version(&req)?;
    check_grant(&actor, name, Action::Delete)?;
    let now = state.auth.now();
    write(&state, WriteMethod::Delete, move |store| {
        store.delete_permission(&user, name, data_version, Writer::direct(actor.name()), now)
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}
