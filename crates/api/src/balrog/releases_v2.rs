//! The part of Balrog's v2 admin API that update pins need (docs/balrog.md, "v2 releases and
//! pins"): whole releases at `/api/v2/releases/{name}` (`GET`, `PUT`, `DELETE`), making a
//! release pinnable (`PUT /api/v2/releases/{name}/pinnable`) and reading a pin
//! (`GET /api/v2/pins/{product}/{channel}/{version}`).
//!
//! Balrog's v2 store splits a blob into a base and per-locale assets, each with its own
//! data_version. shiplog keeps one data_version per release, so the v2 answers report that one
//! version at `"."` and at every locale's path, and a write is checked against `"."` alone.
//! Scheduling through `when` is not offered here (the scheduled-changes API schedules release
//! changes); a body with `when` is refused rather than applied at once.

use actix_web::{delete, get, put, web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use shiplog_domain::balrog::named_release::{parse_product, validate_blob};
use shiplog_domain::balrog::{PinVersion, ReleaseName};
use shiplog_domain::input::{self, TextKind};
use shiplog_domain::PermissionName;
use shiplog_storage::{PinOutcome, ReplaceOutcome, Signoffs, Writer};
use utoipa::ToSchema;

use super::auth::{pin_guard, release_edit_guard, release_guard, Actor};
use super::body;
use super::error::{BalrogError, Problem};
use super::releases::{check_schema, refuse_forbidden};
use super::{read, write, WriteMethod};
use crate::blocking::cpu_bound;
use crate::body::BulkBody;
use crate::state::AppState;

/// `GET /api/v2/releases/{name}`: the blob with its data versions. shiplog schedules release
/// changes through `/api/scheduled_changes`, so the `sc_*` members are always empty.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseV2 {
    #[schema(value_type = Object)]
    pub blob: Value,
    /// `{".": n, "platforms": {p: {"locales": {l: n}}}}`: the release's one data_version, at
    /// the base and at every locale.
    #[schema(value_type = Object)]
    pub data_versions: Value,
    #[schema(value_type = Object)]
    pub sc_blob: Value,
    #[schema(value_type = Object)]
    pub sc_data_versions: Value,
}

/// `PUT /api/v2/releases/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReleaseV2Put {
    /// The whole release blob.
    #[schema(value_type = Object)]
    pub blob: Value,
    /// Required to create a release; changes the product of an existing one.
    pub product: Option<String>,
    /// The data versions the blob was based on (as `GET` reported them); `"."` is required
    /// to change an existing release.
    #[schema(value_type = Option<Object>)]
    pub old_data_versions: Option<Value>,
    /// Not supported: refused with 400.
    pub when: Option<i64>,
}

/// `PUT /api/v2/releases/{name}/pinnable`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PinnablePut {
    pub product: String,
    pub channel: String,
    /// The pin: `"X."` or `"X.Y."`.
    pub version: String,
    /// Not supported: refused with 400.
    pub when: Option<i64>,
}

/// `GET /api/v2/pins/{product}/{channel}/{version}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PinV2 {
    pub product: String,
    pub channel: String,
    pub version: String,
    /// The release clients holding this pin are served.
    pub mapping: String,
    pub data_version: i64,
}

fn release_missing() -> BalrogError {
    BalrogError::not_found("Release does not exist")
}

/// A release name from the path; a name no release could have is simply not found.
fn path_name(raw: &str) -> Result<ReleaseName, BalrogError> {
    ReleaseName::parse(raw).map_err(|_| release_missing())
}

/// A body's fields as the v2 struct `T`, with Balrog's (jsonschema's) wording for a missing
/// or mistyped field.
fn parse_body<T: for<'de> Deserialize<'de>>(
    fields: Map<String, Value>,
    required: &[&str],
) -> Result<T, BalrogError> {
    for key in required {
        if fields.get(*key).is_none_or(Value::is_null) {
            return Err(BalrogError::bad_request(format!(
                "'{key}' is a required property"
            )));
        }
    }
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|err| {
        let field = err.path().to_string();
        BalrogError::bad_request(format!("{field}: {}", err.into_inner()))
    })
}

/// Refuses `when`: shiplog does not schedule through this API, and applying a change meant for
/// later at once would be worse than refusing it.
fn refuse_when(when: Option<i64>) -> Result<(), BalrogError> {
    match when {
        None => Ok(()),
        Some(_) => Err(BalrogError::bad_request(
            "Scheduling with 'when' is not supported by this API; schedule the change through /api/scheduled_changes",
        )),
    }
}

/// The base data version a write names: `old_data_versions["."]`, a positive integer.
fn base_version(old: Option<&Value>) -> Result<Option<i64>, BalrogError> {
    let Some(old) = old.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(map) = old.as_object() else {
        return Err(BalrogError::bad_request(
            "old_data_versions: is not of type 'object'",
        ));
    };
    match map.get(".") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(BalrogError::bad_request(
                "old_data_versions['.'] must be a positive integer",
            )),
        },
    }
}

/// The release's one data_version at `"."` and at every locale of the blob.
fn data_versions(blob: &Value, version: i64) -> Value {
    let mut platforms = Map::new();
    for (target, platform) in blob
        .get("platforms")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let locales: Map<String, Value> = platform
            .get("locales")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(locale, _)| (locale.clone(), json!(version)))
            .collect();
        if !locales.is_empty() {
            platforms.insert(target.clone(), json!({ "locales": locales }));
        }
    }
    let mut out = Map::new();
    out.insert(".".into(), json!(version));
    if !platforms.is_empty() {
        out.insert("platforms".into(), Value::Object(platforms));
    }
    Value::Object(out)
}

/// A release with its blob and data versions.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    responses(
        (status = 200, description = "The release", body = ReleaseV2),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[get("/v2/releases/{name}")]
pub async fn get_release_v2(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let release = read(&state, move |store| store.find_named_release(name.as_str()))
        .await?
        .ok_or_else(release_missing)?;
    Ok(HttpResponse::Ok().json(ReleaseV2 {
        data_versions: data_versions(&release.data, release.data_version),
        blob: release.data,
        sc_blob: json!({}),
        sc_data_versions: json!({}),
    }))
}

/// Creates a release (`product` required) or replaces its whole blob, at
/// `old_data_versions["."]`; answers the new data versions (`{}` when nothing changed).
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    request_body(content = ReleaseV2Put, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\".\": n}` (the new data_version), or `{}` when the blob and product were those stored", body = Object),
        (status = 400, description = "A missing or mistyped field, an invalid blob (the problems name their paths), a forbidden download URL, a missing or outdated `old_data_versions`, `when`, or a change that needs signoffs", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
    )
)]
#[put("/v2/releases/{name}")]
pub async fn put_release_v2(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: BulkBody,
) -> Result<HttpResponse, BalrogError> {
    let name = ReleaseName::parse(&path)?;
    let kind = body::BodyType::of(&req);
    let checked = name.clone();
    // A blob may be megabytes: it is parsed and checked on the blocking pool.
    let (product, blob, base) = cpu_bound(
        payload.len(),
        move || {
            let doc: ReleaseV2Put = parse_body(body::fields_of(&kind, &payload)?, &["blob"])?;
            refuse_when(doc.when)?;
            if !doc.blob.is_object() {
                return Err(BalrogError::bad_request("blob: is not of type 'object'"));
            }
            let product = doc.product.as_deref().map(parse_product).transpose()?;
            let base = base_version(doc.old_data_versions.as_ref())?;
            validate_blob(checked.as_str(), &doc.blob).map_err(|e| {
                BalrogError::bad_request("Couldn't update release").exception(e.to_string())
            })?;
            check_schema(&doc.blob, "Couldn't update release")?;
            Ok((product, doc.blob, base))
        },
        BalrogError::internal,
    )
    .await?;
    if let Some(list) = state.allowlist.clone() {
        // Without a product in the body the URLs are checked against the stored one.
        let product = match &product {
            Some(product) => Some(product.clone()),
            None => {
                let lookup = name.clone();
                read(&state, move |store| {
                    store.find_named_release(lookup.as_str())
                })
                .await?
                .map(|r| r.product)
            }
        };
        if let Some(product) = product {
            refuse_forbidden(list.forbidden_in_blob(&blob, &product))?;
        }
    }
    let who = actor.who;
    let outcome = write(&state, WriteMethod::Put, move |store| {
        let guard = release_edit_guard(&who, PermissionName::Release, product.as_deref());
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.replace_named_release(&name, product.as_deref(), &blob, base, writer)
    })
    .await?;
    Ok(HttpResponse::Ok().json(match outcome {
        ReplaceOutcome::Created => json!({".": 1}),
        ReplaceOutcome::Replaced(version) => json!({".": version}),
        ReplaceOutcome::Unchanged => json!({}),
    }))
}

/// Deletes a release whatever its data_version. Refused while rules map to it, while it is
/// pinnable, or while it is read-only.
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    responses(
        (status = 200, description = "Deleted (empty body)"),
        (status = 400, description = "Rules point at it, it is pinnable, or the deletion needs signoffs", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "The release is read-only, or no permission for this action and product", body = Problem),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[delete("/v2/releases/{name}")]
pub async fn delete_release_v2(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let who = actor.who;
    write(&state, WriteMethod::Delete, move |store| {
        let guard = release_guard(
            &who,
            PermissionName::Release,
            shiplog_domain::Action::Delete,
        );
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.delete_named_release_now(name.as_str(), writer)
    })
    .await
    .map_err(|e| {
        // Balrog's v2 words for a release that is not there.
        if e.status_code() == actix_web::http::StatusCode::NOT_FOUND {
            release_missing()
        } else {
            e
        }
    })?;
    Ok(HttpResponse::Ok().finish())
}

/// Makes the release the one clients of `product` on `channel` pinned at `version` are
/// served. A pin that holds a newer release is left alone (`pin_not_set`).
#[utoipa::path(
    tag = "balrog",
    params(("name" = String, Path, description = "Release name")),
    request_body(content = PinnablePut, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\".\": n}` (the pin's data_version), or `{\"pin_not_set\": true, \"reason\": \"existing_pin_is_newer\"}`", body = Object),
        (status = 400, description = "A missing or mistyped field, a version that is not `X.` or `X.Y.`, or `when`", body = Problem),
        (status = 401, description = "No valid credential", body = Problem),
        (status = 403, description = "No `pinnable_release` permission for this action and product", body = Problem),
        (status = 404, description = "No such release", body = Problem),
    )
)]
#[put("/v2/releases/{name}/pinnable")]
pub async fn put_pinnable(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    payload: BulkBody,
) -> Result<HttpResponse, BalrogError> {
    let name = path_name(&path)?;
    let doc: PinnablePut = parse_body(
        body::fields(&req, &payload)?,
        &["product", "channel", "version"],
    )?;
    refuse_when(doc.when)?;
    let product = parse_product(&doc.product)?;
    let channel = doc.channel.trim().to_owned();
    if channel.is_empty() {
        return Err(BalrogError::bad_request("'channel' is a required property"));
    }
    input::check("channel", &channel, TextKind::Name)?;
    let version = PinVersion::parse(doc.version.trim())?;
    let who = actor.who;
    let outcome = write(&state, WriteMethod::Put, move |store| {
        let guard = pin_guard(&who);
        let writer = Writer {
            name: &who.user,
            guard: &guard,
            signoffs: Signoffs::DIRECT,
        };
        store.set_pin(name.as_str(), &product, &channel, &version, writer)
    })
    .await
    .map_err(|e| {
        if e.status_code() == actix_web::http::StatusCode::NOT_FOUND {
            release_missing()
        } else {
            e
        }
    })?;
    Ok(HttpResponse::Ok().json(match outcome {
        PinOutcome::Set(version) => json!({".": version}),
        PinOutcome::ExistingPinIsNewer => {
            json!({"pin_not_set": true, "reason": "existing_pin_is_newer"})
        }
    }))
}

/// One pin: the release clients of `product` on `channel` pinned at `version` are served.
#[utoipa::path(
    tag = "balrog",
    params(
        ("product" = String, Path, description = "Product"),
        ("channel" = String, Path, description = "Channel, as the pin was set (not a `-cck-` partner channel)"),
        ("version" = String, Path, description = "The pin, with its trailing dot (`66.`)"),
    ),
    responses(
        (status = 200, description = "The pin", body = PinV2),
        (status = 404, description = "No such pin", body = Problem),
    )
)]
#[get("/v2/pins/{product}/{channel}/{version}")]
pub async fn get_pin(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (product, channel, version) = path.into_inner();
    let pin = read(&state, move |store| {
        store.find_pin(&product, &channel, &version)
    })
    .await?
    .ok_or_else(|| BalrogError::not_found("Pin does not exist"))?;
    Ok(HttpResponse::Ok().json(PinV2 {
        product: pin.product,
        channel: pin.channel,
        version: pin.version,
        mapping: pin.mapping,
        data_version: pin.data_version,
    }))
}
