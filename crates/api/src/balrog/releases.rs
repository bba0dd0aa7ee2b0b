//! Named releases at `/api/releases` (docs/balrog.md): listing, blobs, locales, the
//! read-only flag, revisions with revert, column values.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, route, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use shiplog_domain::balrog::blob::locale_entry;
use shiplog_domain::balrog::blob_schema;
use shiplog_domain::balrog::named_release::{parse_product, sorted, validate_blob};
use shiplog_domain::balrog::{BlobEdit, Change, ChangeTable, ReleaseName, RequiredSignoffs};
use shiplog_domain::{Action, PermissionName};
use shiplog_storage::{EditOutcome, ReleaseEdit};
use utoipa::ToSchema;

use super::auth::{release_edit_guard, release_guard, Actor};
use super::body::{self, BodyType};
use super::error::{BalrogError, Problem};
use super::paging::{paged, query_pairs, query_value, total_count, PageRequest};
use super::rules::change_id;
use super::typed::{
    self, value, NewNamedRelease, ReadOnlyWrite, ReleaseEditBody, ReleasePut, RevertBody, Text,
};
use super::{
    csrf_header, excellent, query_data_version, read, read_cached, write, NewDataVersion,
    WriteMethod,
};
use crate::caching::{not_modified, ETag};
use shiplog_storage::{Signoffs, Writer};

use crate::blocking::cpu_bound;
use crate::body::BulkBody;
use crate::state::AppState;

/// One entry of `GET /api/releases` (the blob is never listed).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseSummary {
    pub name: String,
    pub product: String,
    pub data_version: i64,
    pub read_only: bool,
    /// Rules whose mapping or fallbackMapping is this release.
    pub rule_ids: Vec<i64>,
    /// Signoffs required to change the release, by role (`{"releng": 2}`; `{}` for none):
    /// what the rules mapping it need.
    #[schema(value_type = Object)]
    pub required_signoffs: RequiredSignoffs,
}

/// `{"releases": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedReleaseList {
    pub releases: Vec<ReleaseSummary>,
}

/// `{"names": [...]}`: the listing with `names_only`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseNames {
    pub names: Vec<String>,
}

/// What `GET /api/releases` answers: the summaries, or only the names.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReleaseListing {
    Releases(NamedReleaseList),
    Names(ReleaseNames),
}

/// `{"read_only": bool}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadOnly {
    pub read_only: bool,
}

fn release_not_found(name: &str) -> BalrogError {
    BalrogError::not_found(format!("Release: {name} not found"))
}

/// A release name from the path; a name no release could have is simply not found.
fn path_name(raw: &str) -> Result<ReleaseName, BalrogError> {
    ReleaseName::parse(raw).map_err(|_| release_not_found(raw))
}

fn required<T>(value: Option<T>, key: &str) -> Result<T, BalrogError> {
    value.ok_or_else(|| BalrogError::bad_request(format!("'{key}' is a required property")))
}

fn product(field: Option<Text>) -> Result<String, BalrogError> {
    Ok(parse_product(&required(value(field), "product")?)?)
}

fn written(outcome: EditOutcome) -> HttpResponse {
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    HttpResponse::build(status).json(NewDataVersion {
        new_data_version: outcome.data_version,
    })
}

/// A JSON document as Balrog prints blobs: keys sorted, compact or indented by 4.
fn blob_response(
    value: &Value,
    pretty: bool,
    data_version: i64,
    tag: Option<&ETag>,
) -> HttpResponse {
    let value = sorted(value);
    let text = if pretty {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        match value.serialize(&mut serializer) {
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => value.to_string(),
        }
    } else {
        value.to_string()
    };
    let mut response = HttpResponse::Ok();
    if let Some(tag) = tag {
        response
            .insert_header(tag.header())
            .insert_header(ETag::cache_control());
    }
    response
        .content_type("application/json")
        .insert_header(("X-Data-Version", data_version.to_string()))
        .insert_header(csrf_header())
        .body(text)
}

/// List named releases (no blobs): all, or of one `product`, or whose name starts with
/// `name_prefix`. With `names_only`, just `{"names": [...]}`.
#[utoipa::path(
    tag = "balrog",
    params(
        ("product" = Option<String>, Query, description = "Only releases of this product"),
        ("name_prefix" = Option<String>, Query, description = "Only releases whose name starts with this"),
        ("names_only" = Option<String>, Query, description = "Any non-empty value: answer `{\"names\": [...]}`"),
    ),
    responses(
        (status = 200, description = "The releases, by name (or only their names, with `names_only`); `X-Total-Count` gives their number", body = ReleaseListing),
        (status = 400, description = "An unreadable query string", body = Problem),
    )
)]
#[get("/releases")]
pub async fn list_releases(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BalrogError> {
    let pairs = query_pairs(&req)?;
    let non_empty = |key: &str| {
        query_value(&pairs, key)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (product, prefix, names_only) = (
        non_empty("product"),
        non_empty("name_prefix"),
        non_empty("names_only").is_some(),
    );
    let releases = read(&state, move |store| {
        store.list_named_releases(product.as_deref(), prefix.as_deref())
    })
    .await?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, releases.len());
    if names_only {
        let names = releases.into_iter().map(|r| r.name).collect();
        return Ok(response.json(ReleaseListing::Names(ReleaseNames { names })));
    }
    Ok(response.json(ReleaseListing::Releases(NamedReleaseList {
        releases: releases
            .into_iter()
            .map(|r| ReleaseSummary {
                name: r.name,
                product: r.product,
                data_version: r.data_version,
                read_only: r.read_only,
                rule_ids: r.rule_ids,
                required_signoffs: r.required_signoffs,
            })
            .collect(),
    })))
}

/// Create a named release from `{name, product, blob}`; `blob` is a JSON-encoded string (or a
/// JSON object) whose `name` is the release name.
#[utoipa::path(
    tag = "balrog",
    request_body(content = NewNamedRelease, description = "JSON, or the same fields as a form"),
    responses(
        (status = 201, description = "Created at data_version 1", body = NewDataVersion),
        (status = 400, description = "A missing field, an invalid blob, or a name that exists", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No permission for this action and product", body = Problem),
    )
)]
#[post("/releases")]
pub async fn create_release(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: BulkBody,
) -> Result<HttpResponse, BalrogError> {
    let doc: NewNamedRelease = typed::parse(body::fields(&req, &payload)?)?;
    let name = ReleaseName::parse(&required(value(doc.name), "name")?)?;
    let product = parse_product(&required(value(doc.product), "product")?)?;
    let blob = required(value(doc.blob), "blob")?;
    validate_blob(name.as_str(), &blob).map_err(|e| {
        BalrogError::bad_request("Couldn't create release").exception(e.to_string())
    })?;
    check_schema(&blob, "Couldn't create release")?;
    if let Some(list) = &state.allowlist {
        refuse_forbidden(list.forbidden_in_blob(&blob, &product))?;
    }
    actor.require(PermissionName::Release, Action::Create, Some(&product))?;
    let release = write(&state, WriteMethod::Post, move |store| {
        store.insert_named_release(&name, &product, &blob, actor.name())
    })
    .await?;
    Ok(HttpResponse::Created().json(NewDataVersion {
        new_data_version: release.data_version,
    }))
}

/// A release's blob, keys sorted (`?pretty` indents it), with `X-Data-Version`. `HEAD` answers
/// the headers alone.
#[utoipa::path(
    get,
    tag = "balrog",
    params(
        ("name" = String, Path, description = "Release name"),
        ("pretty" = Option<String>, Query, description = "Any non-empty value: indent the JSON"),
    ),
    responses(
        (status = 200, description = "The blob; `X-Data-Version` holds the release's data_version", body = Object),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[route("/releases/{name}", method = "GET", method = "HEAD")]
pub async fn get_release(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let pretty = query_value(&query_pairs(&req)?, "pretty").is_some_and(|v| !v.is_empty());
    let lookup = name.clone();
    let (tag, found) = match read_cached(&state, &req, move |store| {
        store.find_named_release(lookup.as_str())
    })
    .await?
    {
        Ok(read) => read,
        Err(not_modified) => return Ok(not_modified),
    };
    let release =
        found.ok_or_else(|| BalrogError::not_found(format!("Release name: {name} not found")))?;
    if tag.matches(&req) {
        return Ok(not_modified(&tag).finish());
    }
    Ok(blob_response(
        &release.data,
        pretty,
        release.data_version,
        Some(&tag),
    ))
}

/// Replace a release's blob (and product) with `{product, blob, data_version}`; creates the
/// release if it does not exist. An older `data_version` is merged with what changed since.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    request_body(content = ReleasePut, description = "JSON, or the same fields as a form"),
    responses(
        (status = 200, description = "Replaced", body = NewDataVersion),
        (status = 201, description = "Created", body = NewDataVersion),
        (status = 400, description = "Missing field, invalid blob, outdated data_version", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
    )
)]
#[put("/releases/{name}")]
pub async fn put_release(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: BulkBody,
) -> Result<HttpResponse, BalrogError> {
    let name = ReleaseName::parse(&path)?;
    let kind = BodyType::of(&req);
    let checked = name.clone();
    let allowlist = state.allowlist.clone();
    // A blob may be megabytes: it is parsed and checked on the blocking pool.
    let (product, blob, data_version) = cpu_bound(
        payload.len(),
        move || {
            let doc: ReleasePut = typed::parse(body::fields_of(&kind, &payload)?)?;
            let product = product(doc.product)?;
            let blob = required(value(doc.blob), "blob")?;
            validate_blob(checked.as_str(), &blob).map_err(|e| {
                BalrogError::bad_request("Couldn't update release").exception(e.to_string())
            })?;
            check_schema(&blob, "Couldn't update release")?;
            if let Some(list) = &allowlist {
                refuse_forbidden(list.forbidden_in_blob(&blob, &product))?;
            }
            Ok((product, blob, value(doc.data_version)))
        },
        BalrogError::internal,
    )
    .await?;
    let who = actor.who;
    let outcome = write(&state, WriteMethod::Put, move |store| {
        let guard = release_edit_guard(&who, PermissionName::Release, Some(&product));
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.put_named_release(&name, &product, &blob, data_version, writer)
    })
    .await?;
    Ok(written(outcome))
}

/// Refuses a whole blob that breaks its `schema_version`'s schema before anything else is
/// looked at (storage checks again, and checks edited blobs, inside the write).
pub(super) fn check_schema(blob: &Value, detail: &str) -> Result<(), BalrogError> {
    blob_schema::validate(blob).map_err(|problems| {
        BalrogError::invalid_blob(detail, problems.iter().map(ToString::to_string).collect())
    })
}

/// Refuses a write that brings download URLs the allow-list does not allow for the release's
/// product (400, naming them); nothing is written. Without an allow-list every URL is allowed.
pub(super) fn refuse_forbidden(urls: Vec<String>) -> Result<(), BalrogError> {
    if urls.is_empty() {
        return Ok(());
    }
    Err(
        BalrogError::bad_request("Blob contains forbidden domain(s)").exception(format!(
            "not allowed for this product by the domain allow-list: {}",
            urls.join(", ")
        )),
    )
}

/// The parts of a partial edit request (`POST /releases/{name}`, the locale `PUT`) every such
/// edit has; `edit` says what it does to the blob given the decoded `data`.
fn partial_edit(
    primary: &ReleaseName,
    doc: ReleaseEditBody,
    forbidden: impl FnOnce(&Value, &str) -> Vec<String>,
    edit: impl FnOnce(Value) -> Result<BlobEdit, BalrogError>,
) -> Result<ReleaseEdit, BalrogError> {
    let product = product(doc.product)?;
    let data = required(value(doc.data), "data")?;
    // Only the URLs the edit brings are checked: those already stored passed when they came.
    refuse_forbidden(forbidden(&data, &product))?;
    let schema_version = value(doc.schema_version)
        .or_else(|| data.get("schema_version").and_then(Value::as_i64))
        .ok_or_else(|| BalrogError::bad_request("schema_version is required"))?;
    let hash_function = value(doc.hash_function).or_else(|| {
        data.get("hashFunction")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let mut copy_to: Vec<ReleaseName> = Vec::new();
    let names = value(doc.copy_to).unwrap_or_default();
    shiplog_domain::input::check_count("copyTo", names.len())?;
    for name in names {
        let name = ReleaseName::parse(&name)?;
        if &name != primary && !copy_to.contains(&name) {
            copy_to.push(name);
        }
    }
    Ok(ReleaseEdit {
        product,
        data_version: value(doc.data_version),
        schema_version,
        hash_function,
        edit: edit(data)?,
        copy_to,
    })
}

fn object(data: Value) -> Result<Map<String, Value>, BalrogError> {
    match data {
        Value::Object(map) => Ok(map),
        _ => Err(BalrogError::bad_request("data must be a JSON object")),
    }
}

/// Merge top-level keys into a release's blob: `{product, data (JSON string), data_version,
/// schema_version?, hashFunction?, copyTo?}`; each key of `data` replaces the blob's. Creates
/// the release (and any in `copyTo`) if missing.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    request_body(content = ReleaseEditBody, description = "JSON, or the same fields as a form; `alias` is not used here"),
    responses(
        (status = 200, description = "Merged", body = NewDataVersion),
        (status = 201, description = "Created", body = NewDataVersion),
        (status = 400, description = "Missing field, product or hashFunction mismatch, outdated data_version, conflict", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
    )
)]
#[post("/releases/{name}")]
pub async fn post_release(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: BulkBody,
) -> Result<HttpResponse, BalrogError> {
    let name = ReleaseName::parse(&path)?;
    let kind = BodyType::of(&req);
    let primary = name.clone();
    let allowlist = state.allowlist.clone();
    let request = cpu_bound(
        payload.len(),
        move || {
            let doc: ReleaseEditBody = typed::parse(body::fields_of(&kind, &payload)?)?;
            let forbidden = |data: &Value, product: &str| {
                allowlist
                    .as_ref()
                    .map(|list| list.forbidden_in_blob(data, product))
                    .unwrap_or_default()
            };
            partial_edit(&primary, doc, forbidden, |data| {
                Ok(BlobEdit::MergeTopLevel(object(data)?))
            })
        },
        BalrogError::internal,
    )
    .await?;
    let who = actor.who;
    let outcome = write(&state, WriteMethod::Post, move |store| {
        let guard = release_edit_guard(&who, PermissionName::Release, Some(&request.product));
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.edit_named_release(&name, &request, writer)
    })
    .await?;
    Ok(written(outcome))
}

/// Delete a named release at `?data_version=`; refused while it is read-only or a rule maps to
/// it.
#[utoipa::path(
    tag = "balrog",
    params(
        ("name" = String, Path, description = "Release name"),
        ("data_version" = i64, Query, description = "The release's current data_version"),
    ),
    responses(
        (status = 200, description = "Deleted (empty body)"),
        (status = 400, description = "Outdated or missing data_version, or rules point at it", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[delete("/releases/{name}")]
pub async fn delete_release(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let data_version = query_data_version(&req)?;
    let who = actor.who;
    write(&state, WriteMethod::Delete, move |store| {
        let guard = release_guard(&who, PermissionName::Release, Action::Delete);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.delete_named_release(name.as_str(), data_version, writer)
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// One locale entry of a release blob, with the release's `X-Data-Version`. `HEAD` answers the
/// headers alone.
#[utoipa::path(
    get,
    tag = "balrog",
    params(
        ("name" = String, Path, description = "Release name"),
        ("platform" = String, Path, description = "Build target"),
        ("locale" = String, Path, description = "Locale"),
    ),
    responses(
        (status = 200, description = "The locale entry", body = Object),
        (status = 404, description = "No such release, platform or locale", body = Problem),
    )
)]
#[route(
    "/releases/{name}/builds/{platform}/{locale}",
    method = "GET",
    method = "HEAD"
)]
pub async fn get_locale(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (name, platform, locale) = path.into_inner();
    let missing = BalrogError::not_found(format!(
        "Couldn't find locale identified by: {name}, {platform}, {locale}"
    ));
    let Ok(release_name) = ReleaseName::parse(&name) else {
        return Err(missing);
    };
    let release = read(&state, move |store| {
        store.find_named_release(release_name.as_str())
    })
    .await?;
    let Some(release) = release else {
        return Err(missing);
    };
    let entry = locale_entry(&release.data, &platform, &locale).ok_or(missing)?;
    Ok(blob_response(entry, false, release.data_version, None))
}

/// Replace one locale entry: `{product, data (JSON string), data_version, schema_version,
/// hashFunction?, alias?, copyTo?}`. Creates the release and platform if missing; `alias` (a
/// JSON list) adds platforms pointing at this one.
#[utoipa::path(
    tag = "balrog",
    params(
        ("name" = String, Path, description = "Release name"),
        ("platform" = String, Path, description = "Build target"),
        ("locale" = String, Path, description = "Locale"),
    ),
    request_body(content = ReleaseEditBody, description = "JSON, or the same fields as a form"),
    responses(
        (status = 200, description = "Replaced", body = NewDataVersion),
        (status = 201, description = "A new locale (or release)", body = NewDataVersion),
        (status = 400, description = "Missing field, product mismatch, outdated data_version, conflict", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
    )
)]
#[put("/releases/{name}/builds/{platform}/{locale}")]
pub async fn put_locale(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    payload: BulkBody,
) -> Result<HttpResponse, BalrogError> {
    let (name, platform, locale) = path.into_inner();
    let name = ReleaseName::parse(&name)?;
    let kind = BodyType::of(&req);
    let primary = name.clone();
    let allowlist = state.allowlist.clone();
    let request = cpu_bound(
        payload.len(),
        move || {
            let mut doc: ReleaseEditBody = typed::parse(body::fields_of(&kind, &payload)?)?;
            let aliases = value(doc.alias.take()).unwrap_or_default();
            let forbidden = |data: &Value, product: &str| {
                allowlist
                    .as_ref()
                    .map(|list| list.forbidden_in_locale(data, product))
                    .unwrap_or_default()
            };
            partial_edit(&primary, doc, forbidden, |data| {
                Ok(BlobEdit::SetLocale {
                    platform,
                    locale,
                    data: Value::Object(object(data)?),
                    aliases,
                })
            })
        },
        BalrogError::internal,
    )
    .await?;
    let who = actor.who;
    let outcome = write(&state, WriteMethod::Put, move |store| {
        let guard = release_edit_guard(&who, PermissionName::ReleaseLocale, Some(&request.product));
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.edit_named_release(&name, &request, writer)
    })
    .await?;
    Ok(written(outcome))
}

/// Whether a release is read-only: `{"read_only": bool}`.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    responses(
        (status = 200, description = "The flag", body = ReadOnly),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[get("/releases/{name}/read_only")]
pub async fn get_read_only(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let lookup = name.clone();
    let release = read(&state, move |store| {
        store.find_named_release(lookup.as_str())
    })
    .await?
    .ok_or_else(|| release_not_found(name.as_str()))?;
    Ok(HttpResponse::Ok().json(ReadOnly {
        read_only: release.read_only,
    }))
}

/// What making the release writable again could need, whatever the channel:
/// `{"required_signoffs": {"<role>": n}}` from every product required signoff of its product
/// (the larger count per role). The dashboard asks before offering to unlock a release.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    responses(
        (status = 200, description = "`{\"required_signoffs\": {role: count}}`", body = Object),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[get("/releases/{name}/read_only/product/required_signoffs")]
pub async fn read_only_product_required_signoffs(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let lookup = name.clone();
    let found = read(&state, move |store| {
        let Some(release) = store.find_named_release(lookup.as_str())? else {
            return Ok(None);
        };
        let rows = store.list_product_required_signoffs(Some(&release.product), None)?;
        Ok(Some(
            rows.into_iter()
                .map(|row| (row.role, row.signoffs_required))
                .collect::<RequiredSignoffs>(),
        ))
    })
    .await?
    .ok_or_else(|| release_not_found(name.as_str()))?;
    Ok(HttpResponse::Ok().json(json!({ "required_signoffs": found })))
}

/// Set or clear the read-only flag: `{read_only, data_version}`. While set, the blob cannot be
/// replaced, merged into or have locales changed, and the release cannot be deleted; rules may
/// still map to it. Setting it when already set changes nothing.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    request_body(content = ReadOnlyWrite, description = "JSON, or the same fields as a form"),
    responses(
        (status = 201, description = "Done", body = NewDataVersion),
        (status = 400, description = "Missing field or outdated data_version", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No permission for this action and product", body = Problem),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[put("/releases/{name}/read_only")]
pub async fn put_read_only(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let doc: ReadOnlyWrite = typed::parse(body::fields(&req, &payload)?)?;
    let read_only = required(value(doc.read_only), "read_only")?;
    let data_version = required(value(doc.data_version), "data_version")?;
    let action = if read_only {
        Action::Set
    } else {
        Action::Unset
    };
    let who = actor.who;
    let new_data_version = write(&state, WriteMethod::Put, move |store| {
        let guard = release_guard(&who, PermissionName::ReleaseReadOnly, action);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.set_release_read_only(name.as_str(), read_only, data_version, writer)
    })
    .await?;
    Ok(HttpResponse::Created().json(NewDataVersion { new_data_version }))
}

/// A value as Balrog's release revisions print it: Python's `str()` of the column.
fn python_text(value: &Value) -> Value {
    Value::String(match value {
        Value::Null => "NULL".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// "3 minutes ago", as Balrog's UI shows revision times.
fn time_ago(timestamp_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - timestamp_ms).max(0) / 1000;
    let (n, unit) = match seconds {
        s if s < 60 => (s, "second"),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s if s < 30 * 86_400 => (s / 86_400, "day"),
        s if s < 365 * 86_400 => (s / (30 * 86_400), "month"),
        s => (s / (365 * 86_400), "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

const RELEASE_FIELDS: [&str; 4] = ["name", "product", "read_only", "data"];

fn release_revision(change: &Change, previous: Option<&Change>, now_ms: i64) -> Value {
    let different: Vec<&str> = match previous {
        Some(previous) => RELEASE_FIELDS
            .into_iter()
            .filter(|f| change.field(f) != previous.field(f))
            .collect(),
        None => Vec::new(),
    };
    let field = |f: &str| change.field(f).unwrap_or(Value::Null);
    json!({
        "name": change.object_key,
        "product": python_text(&field("product")),
        "read_only": python_text(&field("read_only")),
        "data_version": change.data_version,
        "change_id": change.change_id,
        "changed_by": change.changed_by,
        "timestamp": change.timestamp,
        "_different": different,
        "_time_ago": time_ago(change.timestamp, now_ms),
    })
}

/// A release's revisions, newest first (no blobs: see `/api/history/view/release/…/data`).
/// Paged with `?page` and `?limit` (default 10); `count` is the total.
#[utoipa::path(
    tag = "balrog",
    params(
        ("name" = String, Path, description = "Release name"),
        ("page" = Option<i64>, Query, description = "Page, from 1"),
        ("limit" = Option<i64>, Query, description = "Revisions per page (default 10)"),
    ),
    responses(
        (status = 200, description = "`{\"count\", \"revisions\": [...]}`", body = Object),
        (status = 400, description = "Bad page or limit", body = Problem),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[get("/releases/{name}/revisions")]
pub async fn release_revisions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let page = PageRequest::from_query(&query_pairs(&req)?)?;
    let key = name.to_string();
    let (exists, revisions) = read(&state, move |store| {
        let exists = store.find_named_release(&key)?.is_some();
        // One more than the page, to tell what the page's oldest revision changed.
        let revisions =
            store.list_revisions(ChangeTable::Releases, &key, page.limit + 1, page.offset())?;
        Ok((exists, revisions))
    })
    .await?;
    if !exists {
        return Err(BalrogError::not_found("Requested release does not exist"));
    }
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX);
    let changes = &revisions.changes;
    let listed: Vec<Value> = changes
        .iter()
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .enumerate()
        .map(|(i, change)| release_revision(change, changes.get(i + 1), now_ms))
        .collect();
    let mut response = HttpResponse::Ok();
    paged(&mut response, &req, page, revisions.total);
    Ok(response.json(json!({"count": revisions.total, "revisions": listed})))
}

/// Revert a release's blob and product to one of its revisions (by `change_id`), as a new
/// version. Answers `Excellent!`.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    request_body(content = RevertBody, description = "JSON, or the same field as a form"),
    responses(
        (status = 200, description = "`Excellent!` as text/plain", body = String, content_type = "text/plain"),
        (status = 400, description = "Missing or invalid change_id, or one of another release", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[post("/releases/{name}/revisions")]
pub async fn revert_release(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Bytes,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let fields = body::fields(&req, &payload)?;
    let lookup = name.clone();
    let exists = read(&state, move |store| {
        store.find_named_release(lookup.as_str())
    })
    .await?;
    if exists.is_none() {
        return Err(BalrogError::not_found("bad release"));
    }
    let change_id = change_id(fields)?;
    // `modify` at the stored product and at the product of the version restored, both checked
    // inside the revert's transaction.
    let who = actor.who;
    write(&state, WriteMethod::Post, move |store| {
        let guard = release_edit_guard(&who, PermissionName::Release, None);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.revert_named_release(name.as_str(), change_id, writer)
    })
    .await?;
    Ok(excellent())
}

/// The distinct values of one release column (`name`, `product`, `read_only`,
/// `data_version`): `{"count": n, "<column>": [...]}`.
#[utoipa::path(
    tag = "balrog",
    params(("column" = String, Path, description = "name, product, read_only or data_version")),
    responses(
        (status = 200, description = "The distinct values, sorted", body = Object),
        (status = 404, description = "No such column", body = Problem),
    )
)]
#[get("/releases/columns/{column}")]
pub async fn release_column(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let column = path.into_inner();
    let name = column.clone();
    let values = read(&state, move |store| store.release_column_values(&name))
        .await?
        .ok_or_else(|| BalrogError::not_found("Requested column does not exist"))?;
    let mut response = HttpResponse::Ok();
    total_count(&mut response, values.len());
    Ok(response.json(json!({"count": values.len(), column: values})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_values_print_as_python_does() {
        assert_eq!(python_text(&json!(true)), json!("True"));
        assert_eq!(python_text(&Value::Null), json!("NULL"));
        assert_eq!(python_text(&json!("Firefox")), json!("Firefox"));
        assert_eq!(python_text(&json!(3)), json!("3"));
    }

    #[test]
    fn times_ago_pick_the_largest_unit() {
        assert_eq!(time_ago(0, 1_000), "1 second ago");
        assert_eq!(time_ago(0, 59_000), "59 seconds ago");
        assert_eq!(time_ago(0, 120_000), "2 minutes ago");
        assert_eq!(time_ago(0, 3 * 3_600_000), "3 hours ago");
        assert_eq!(time_ago(0, 86_400_000), "1 day ago");
        assert_eq!(time_ago(0, 400 * 86_400_000), "1 year ago");
        assert_eq!(time_ago(5_000, 0), "0 seconds ago");
    }
}
