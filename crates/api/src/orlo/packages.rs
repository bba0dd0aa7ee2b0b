//! Packages: add to a release, start, stop, results, read and list.

use actix_web::http::header::ContentType;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use shiplog_domain::{Action, NewPackage, PackageId, PermissionName};

use super::body::{self, text, AddPackage, StopPackage};
use super::error::OrloError;
use super::json::{json_value, CreatedId, ErrorBody, PackageList};
use super::json_text::package_list;
use super::params::{package_query, pairs};
use super::releases::release_id;
use super::Orlo;
use crate::blocking::with_store;
use crate::identity::Caller;
use crate::paging::{paged, Position};
use crate::state::AppState;
use crate::write_queue::with_writer;

fn package_id(raw: &str) -> Result<PackageId, OrloError> {
    Ok(raw.parse::<PackageId>()?)
}

/// Add a package to a release.
#[utoipa::path(
    tag = "orlo: packages",
    params(("release_id" = String, Path, description = "Release UUID")),
    request_body(content = AddPackage, content_type = "application/json"),
    responses(
        (status = 200, description = "The package was added, NOT_STARTED", body = CreatedId),
        (status = 400, description = "Missing name or version, no JSON body, malformed id, or no such release", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/packages")]
pub async fn add_package(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let release = release_id(&path)?;
    let doc: AddPackage = body::parse(&req, &body)?;
    let missing =
        || OrloError::bad_request("missing_field", "Missing name / version in request body.");
    let name = text(doc.name)
        .filter(|n| !n.is_empty())
        .ok_or_else(missing)?;
    let version = text(doc.version)
        .filter(|v| !v.is_empty())
        .ok_or_else(missing)?;
    let mut package = NewPackage::new(&name, &version);
    package.rollback = doc.rollback.is_some_and(|flag| flag.0);
    package.diff_url = text(doc.diff_url);
    package.check_input()?;
    let id = with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.add_package(release, &package),
    )
    .await?;
    Ok(HttpResponse::Ok().json(CreatedId { id: id.to_string() }))
}

/// Start (or restart) a package's deployment.
#[utoipa::path(
    tag = "orlo: packages",
    params(
        ("release_id" = String, Path, description = "Release UUID"),
        ("package_id" = String, Path, description = "Package UUID"),
    ),
    responses(
        (status = 204, description = "IN_PROGRESS, started now"),
        (status = 400, description = "Malformed id, no such release or package, or a package of another release", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/packages/{package_id}/start")]
pub async fn start_package(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let (release, package) = (release_id(&path.0)?, package_id(&path.1)?);
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.start_package(release, package),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Finish a package's deployment: `{"success": true}` for SUCCESSFUL, anything else FAILED.
#[utoipa::path(
    tag = "orlo: packages",
    params(
        ("release_id" = String, Path, description = "Release UUID"),
        ("package_id" = String, Path, description = "Package UUID"),
    ),
    request_body(content = StopPackage, content_type = "application/json"),
    responses(
        (status = 204, description = "SUCCESSFUL or FAILED, finished now"),
        (status = 400, description = "No JSON body, a package that has not started, malformed id, or no such release or package", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/packages/{package_id}/stop")]
pub async fn stop_package(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let (release, package) = (release_id(&path.0)?, package_id(&path.1)?);
    let StopPackage { success } = body::parse(&req, &body)?;
    let success = success.0;
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.stop_package(release, package, success),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Store the results of a package's deployment (any JSON document, kept as text).
#[utoipa::path(
    tag = "orlo: packages",
    params(
        ("release_id" = String, Path, description = "Release UUID"),
        ("package_id" = String, Path, description = "Package UUID"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "No JSON body, malformed id, or no such release or package", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/packages/{package_id}/results")]
pub async fn package_results(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let (release, package) = (release_id(&path.0)?, package_id(&path.1)?);
    let results = json_value(&req, &body)?.to_string();
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.set_package_results(release, package, &results),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List packages, newest start first, filtered by any package field.
#[utoipa::path(
    tag = "orlo: packages",
    params(
        ("limit" = Option<i64>, Query, description = "At most this many (default 100; -1 for no limit)"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
        ("asc" = Option<bool>, Query, description = "Oldest first"),
        ("name" = Option<String>, Query, description = "Package name"),
        ("status" = Option<String>, Query, description = "Package status"),
    ),
    responses(
        (status = 200, description = "Matching packages", body = PackageList<'_>),
        (status = 400, description = "An unknown parameter, a `package_` prefix, or a malformed value", body = ErrorBody),
        (status = 404, description = "No package matched", body = ErrorBody),
    )
)]
#[get("/packages")]
pub async fn list_packages(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let (filter, page) = package_query(&pairs(req.query_string())?)?;
    let (limit, offset) = (page.limit, page.offset);
    let (packages, total) = with_store(&state.store, move |store| {
        store.list_packages_counted(&filter, &page)
    })
    .await?;
    if packages.is_empty() {
        return Err(OrloError::empty_list("packages"));
    }
    let mut response = HttpResponse::Ok();
    paged(
        &mut response,
        &req,
        Position::Offset { limit, offset },
        total,
    );
    Ok(response
        .content_type(ContentType::json())
        .body(package_list(packages.iter())))
}

/// One package.
#[utoipa::path(
    tag = "orlo: packages",
    params(("package_id" = String, Path, description = "Package UUID")),
    responses(
        (status = 200, description = "The package, as a list of one", body = PackageList<'_>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "No such package", body = ErrorBody),
    )
)]
#[get("/packages/{package_id}")]
pub async fn get_package(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    let id = package_id(&path)?;
    match with_store(&state.store, move |store| store.find_package(id)).await? {
        Some(package) => Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(package_list(std::iter::once(&package)))),
        None => Err(OrloError::empty_list("packages")),
    }
}
