//! Releases: create, read, list, start, stop, notes and metadata.

use actix_web::http::header::ContentType;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use shiplog_domain::release::{check_metadata, check_note};
use shiplog_domain::{Action, NewRelease, PermissionName, ReleaseId};
use time::OffsetDateTime;

use super::body::{self, callback, text, AddNote, CreateRelease, MergeMetadata};
use super::error::OrloError;
use super::json::{is_json, parse_object, CreatedId, ErrorBody, ReleaseList};
use super::json_text::release_list;
use super::params::{pairs, release_query};
use super::Orlo;
use crate::blocking::{cpu_bound, find_release, list_releases_counted};
use crate::identity::Caller;
use crate::paging::{paged, Position};
use crate::state::AppState;
use crate::webhooks::destination::check_destination;
use crate::write_queue::with_writer;

/// A release id from the path, or Orlo's 400 for a malformed one.
pub(crate) fn release_id(raw: &str) -> Result<ReleaseId, OrloError> {
    Ok(raw.parse::<ReleaseId>()?)
}

/// Create a release: the first step of a deployment.
#[utoipa::path(
    tag = "orlo: releases",
    request_body(content = CreateRelease, content_type = "application/json"),
    responses(
        (status = 200, description = "The release was recorded", body = CreatedId),
        (status = 400, description = "No JSON body, unparseable JSON, a missing or malformed field, or a `callback` that is not http(s) or reaches a refused address", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases")]
pub async fn create_release(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Create, None)?;
    let (json, recorded_by) = (is_json(&req), caller.name().to_owned());
    let release = cpu_bound(
        body.len(),
        move || new_release(json, &body, recorded_by),
        OrloError::internal,
    )
    .await?;
    if let Some(url) = release.callback.clone() {
        callback_destination(&state, url).await?;
    }
    let id = with_writer(&state.writes, &state.store, move |store| {
        store.insert_release(&release)
    })
    .await?;
    Ok(HttpResponse::Ok().json(CreatedId { id: id.to_string() }))
}

/// Reads and checks the body of `POST /releases` (on the blocking pool when it is large).
fn new_release(is_json: bool, body: &[u8], recorded_by: String) -> Result<NewRelease, OrloError> {
    let doc: CreateRelease =
        body::from_object(serde_json::Value::Object(parse_object(is_json, body)?))?;
    let platforms = doc.platforms.ok_or_else(|| {
        OrloError::bad_request("missing_field", "JSON doc missing platforms field")
    })?;
    let user = text(doc.user)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| OrloError::bad_request("missing_field", "JSON doc missing user field"))?;
    let mut release = NewRelease::new(&user, platforms.0, OffsetDateTime::now_utc())?
        .with_team(text(doc.team).as_deref());
    release.recorded_by = Some(recorded_by);
    release.references = doc.references.unwrap_or_default().0;
    if let Some(note) = text(doc.note).filter(|n| !n.is_empty()) {
        release.notes.push(note);
    }
    release.metadata = doc.metadata.unwrap_or_default().0;
    release.callback = callback(doc.callback)
        .map_err(|reason| OrloError::bad_request("invalid_field", format!("callback: {reason}")))?;
    release.check_input()?;
    Ok(release)
}

/// Checks where a callback URL leads, as a webhook's is checked: every address its host
/// resolves to must be one webhooks may reach (`--webhook-deny-cidrs` included). Resolving
/// blocks, so it runs on the blocking pool.
pub(crate) async fn callback_destination(state: &AppState, url: String) -> Result<(), OrloError> {
    let deny = state.webhooks.deny.clone();
    match web::block(move || check_destination(&url, &deny)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(OrloError::bad_request(
            "invalid_field",
            format!("callback: {reason}"),
        )),
        Err(_) => Err(OrloError::internal()),
    }
}

/// List releases, newest first, filtered by any release or package field.
///
/// Parameters: `limit` (default 100, -1 for all), `offset`, `asc`; `id`, `user`, `team`,
/// `platform`, `reference` (substring), `status` (derived); `stime`, `ftime` (exact second, or
/// with `_before`/`_after`), `duration_lt`/`duration_gt` (seconds); `package_name`,
/// `package_version`, `package_status`, `package_rollback`, `package_duration_lt`/`_gt`, … (all
/// `package_` filters apply to the same package). An empty result is a 404, as in Orlo.
#[utoipa::path(
    tag = "orlo: releases",
    params(
        ("limit" = Option<i64>, Query, description = "At most this many (default 100; -1 for no limit)"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
        ("asc" = Option<bool>, Query, description = "Oldest first"),
        ("user" = Option<String>, Query, description = "Released by this user"),
        ("team" = Option<String>, Query, description = "Released by this team (`null` for none)"),
        ("platform" = Option<String>, Query, description = "Released to this platform"),
        ("status" = Option<String>, Query, description = "Derived release status"),
        ("stime_before" = Option<String>, Query, description = "Started before (any Orlo time form)"),
        ("stime_after" = Option<String>, Query, description = "Started after"),
        ("package_name" = Option<String>, Query, description = "Has a package of this name"),
    ),
    responses(
        (status = 200, description = "Matching releases", body = ReleaseList<'_>),
        (status = 400, description = "An unknown parameter or a malformed value", body = ErrorBody),
        (status = 404, description = "No release matched", body = ErrorBody),
    )
)]
#[get("/releases")]
pub async fn list_releases(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let (filter, page) = release_query(&pairs(req.query_string())?)?;
    let (limit, offset) = (page.limit, page.offset);
    let (releases, total) = list_releases_counted(&state.store, filter, page).await?;
    if releases.is_empty() {
        return Err(OrloError::empty_list("releases"));
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
        .body(release_list(&releases)))
}

/// One release. Listing filters still apply: a release that does not match them is not found.
#[utoipa::path(
    tag = "orlo: releases",
    params(("release_id" = String, Path, description = "Release UUID")),
    responses(
        (status = 200, description = "The release, as a list of one", body = ReleaseList<'_>),
        (status = 400, description = "Malformed id or filter", body = ErrorBody),
        (status = 404, description = "No such release", body = ErrorBody),
    )
)]
#[get("/releases/{release_id}")]
pub async fn get_release(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    let id = release_id(&path)?;
    let (filter, _) = release_query(&pairs(req.query_string())?)?;
    let release = find_release(&state.store, id, filter).await?;
    match release {
        Some(release) => Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(release_list(std::slice::from_ref(&release)))),
        None => Err(OrloError::empty_list("releases")),
    }
}

/// Mark a release as started (again): its start time becomes now.
#[utoipa::path(
    tag = "orlo: releases",
    params(("release_id" = String, Path, description = "Release UUID")),
    responses(
        (status = 204, description = "Started"),
        (status = 400, description = "Malformed id, or no such release", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/start")]
pub async fn start_release(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let id = release_id(&path)?;
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.start_release(id),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mark a release as finished: its finish time becomes now and its duration is fixed.
#[utoipa::path(
    tag = "orlo: releases",
    params(("release_id" = String, Path, description = "Release UUID")),
    responses(
        (status = 204, description = "Stopped"),
        (status = 400, description = "Malformed id, or no such release", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/stop")]
pub async fn stop_release(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let id = release_id(&path)?;
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.stop_release(id),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a note to a release.
#[utoipa::path(
    tag = "orlo: releases",
    params(("release_id" = String, Path, description = "Release UUID")),
    request_body(content = AddNote, content_type = "application/json"),
    responses(
        (status = 204, description = "Added"),
        (status = 400, description = "No text, no JSON body, malformed id, or no such release", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/notes")]
pub async fn add_note(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let id = release_id(&path)?;
    let doc: AddNote = body::parse(&req, &body)?;
    let text = text(doc.text).filter(|t| !t.is_empty()).ok_or_else(|| {
        OrloError::bad_request("missing_field", "Must include text in posted document")
    })?;
    check_note(&text)?;
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.add_note(id, &text),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Merge metadata into a release: `{key: value, …}`; values are stored as text.
#[utoipa::path(
    tag = "orlo: releases",
    params(("release_id" = String, Path, description = "Release UUID")),
    request_body(content = MergeMetadata, content_type = "application/json"),
    responses(
        (status = 204, description = "Merged"),
        (status = 400, description = "No JSON object, a null/list/object value, malformed id, or no such release", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/{release_id}/metadata")]
pub async fn add_metadata(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Modify, None)?;
    let id = release_id(&path)?;
    let MergeMetadata(metadata) = body::parse(&req, &body)?;
    let metadata = metadata.0;
    check_metadata(&metadata)?;
    with_writer(
        &state.writes,
        &state.store.acting_as(caller.name()),
        move |store| store.merge_metadata(id, &metadata),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
