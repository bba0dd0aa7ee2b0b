//! `/info`: who released how often, where, and which package versions are live.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::OrloError;
use super::json::{parse_bool, ErrorBody};
use super::params::pairs;
use crate::blocking::with_store;
use crate::paging::total_count;
use crate::state::AppState;

/// `{"releases": n}`, the value under each name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseCount {
    pub releases: i64,
}

/// The optional parameters an `/info` endpoint accepts; anything else is a 400.
#[derive(Debug, Default)]
struct InfoParams {
    platform: Option<String>,
    by_release: bool,
}

fn info_params(req: &HttpRequest, allowed: &[&str]) -> Result<InfoParams, OrloError> {
    let mut params = InfoParams::default();
    for (name, value) in pairs(req.query_string())? {
        if !allowed.contains(&name.as_str()) {
            return Err(OrloError::bad_request(
                "invalid_parameter",
                format!("Unknown parameter for this endpoint: {name}"),
            ));
        }
        match name.as_str() {
            "platform" => params.platform = Some(value),
            "by_release" => {
                params.by_release = parse_bool(&value).ok_or_else(|| {
                    OrloError::bad_request(
                        "invalid_parameter",
                        "by_release must be a boolean value",
                    )
                })?;
            }
            _ => {}
        }
    }
    Ok(params)
}

fn counts(map: BTreeMap<String, i64>) -> HttpResponse {
    let body: BTreeMap<String, ReleaseCount> = map
        .into_iter()
        .map(|(k, n)| (k, ReleaseCount { releases: n }))
        .collect();
    let mut response = HttpResponse::Ok();
    total_count(&mut response, body.len());
    response.json(body)
}

/// The `/info` endpoints.
#[utoipa::path(tag = "orlo: info", responses((status = 200, description = "`{\"message\", \"urls\"}`")))]
#[get("/info")]
pub async fn info_root() -> HttpResponse {
    let urls = [
        "/info",
        "/info/packages",
        "/info/packages/<package>",
        "/info/packages/list",
        "/info/packages/versions",
        "/info/platforms",
        "/info/platforms/<platform>",
        "/info/users",
        "/info/users/<username>",
    ];
    HttpResponse::Ok().json(json!({"message": "/info endpoint", "urls": urls}))
}

/// Releases per user, optionally only those to one platform.
#[utoipa::path(
    tag = "orlo: info",
    params(("platform" = Option<String>, Query, description = "Only releases to this platform")),
    responses(
        (status = 200, description = "`{user: {\"releases\": n}}`", body = BTreeMap<String, ReleaseCount>),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/users")]
pub async fn info_users(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let params = info_params(&req, &["platform"])?;
    let map = with_store(&state.store, move |s| {
        s.releases_per_user(None, params.platform.as_deref())
    })
    .await?;
    Ok(counts(map))
}

/// Releases by one user (`{}` if the user never released).
#[utoipa::path(
    tag = "orlo: info",
    params(
        ("username" = String, Path, description = "User name"),
        ("platform" = Option<String>, Query, description = "Only releases to this platform"),
    ),
    responses(
        (status = 200, description = "`{user: {\"releases\": n}}` or `{}`", body = BTreeMap<String, ReleaseCount>),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/users/{username}")]
pub async fn info_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    let params = info_params(&req, &["platform"])?;
    let user = path.into_inner();
    let map = with_store(&state.store, move |s| {
        s.releases_per_user(Some(&user), params.platform.as_deref())
    })
    .await?;
    Ok(counts(map))
}

/// Releases per platform.
#[utoipa::path(
    tag = "orlo: info",
    responses(
        (status = 200, description = "`{platform: {\"releases\": n}}`", body = BTreeMap<String, ReleaseCount>),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/platforms")]
pub async fn info_platforms(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    info_params(&req, &[])?;
    let map = with_store(&state.store, move |s| s.releases_per_platform(None)).await?;
    Ok(counts(map))
}

/// Releases to one platform (`{}` if unknown). Orlo always said 1 here (its bug B12).
#[utoipa::path(
    tag = "orlo: info",
    params(("platform" = String, Path, description = "Platform name")),
    responses(
        (status = 200, description = "`{platform: {\"releases\": n}}` or `{}`", body = BTreeMap<String, ReleaseCount>),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/platforms/{platform}")]
pub async fn info_platform(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    info_params(&req, &[])?;
    let platform = path.into_inner();
    let map = with_store(&state.store, move |s| {
        s.releases_per_platform(Some(&platform))
    })
    .await?;
    Ok(counts(map))
}

/// Deployments per package name.
#[utoipa::path(
    tag = "orlo: info",
    params(("platform" = Option<String>, Query, description = "Only releases to this platform")),
    responses(
        (status = 200, description = "`{package: {\"releases\": n}}`", body = BTreeMap<String, ReleaseCount>),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/packages")]
pub async fn info_packages(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let params = info_params(&req, &["platform"])?;
    let map = with_store(&state.store, move |s| {
        s.deployments_per_package(None, params.platform.as_deref())
    })
    .await?;
    Ok(counts(map))
}

/// Every package name, sorted.
#[utoipa::path(
    tag = "orlo: info",
    params(("platform" = Option<String>, Query, description = "Only releases to this platform")),
    responses(
        (status = 200, description = "`{\"packages\": [name, …]}`"),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/packages/list")]
pub async fn info_package_list(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let params = info_params(&req, &["platform"])?;
    let names = with_store(&state.store, move |s| {
        s.package_names(params.platform.as_deref())
    })
    .await?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, names.len());
    Ok(response.json(json!({ "packages": names })))
}

/// The live version of each package: its latest successful deployment's version.
#[utoipa::path(
    tag = "orlo: info",
    params(
        ("platform" = Option<String>, Query, description = "Only releases to this platform"),
        ("by_release" = Option<bool>, Query, description = "Only count packages whose whole release is SUCCESSFUL"),
    ),
    responses(
        (status = 200, description = "`{package: version}`", body = BTreeMap<String, String>),
        (status = 400, description = "A malformed by_release or an unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/packages/versions")]
pub async fn info_package_versions(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let params = info_params(&req, &["platform", "by_release"])?;
    let versions = with_store(&state.store, move |s| {
        s.current_versions(params.platform.as_deref(), params.by_release)
    })
    .await?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, versions.len());
    Ok(response.json(versions))
}

/// Deployments of one package (`{}` if unknown).
#[utoipa::path(
    tag = "orlo: info",
    params(
        ("package" = String, Path, description = "Package name"),
        ("platform" = Option<String>, Query, description = "Only releases to this platform"),
    ),
    responses(
        (status = 200, description = "`{package: {\"releases\": n}}` or `{}`", body = BTreeMap<String, ReleaseCount>),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
    )
)]
#[get("/info/packages/{package}")]
pub async fn info_package(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    let params = info_params(&req, &["platform"])?;
    let name = path.into_inner();
    let map = with_store(&state.store, move |s| {
        s.deployments_per_package(Some(&name), params.platform.as_deref())
    })
    .await?;
    Ok(counts(map))
}
