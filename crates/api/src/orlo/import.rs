//! `POST /releases/import`: recording finished releases after the fact, all or nothing.
//!
//! The conversion from one JSON release to a `NewRelease` is public so `shiplog import FILE`
//! applies exactly the same rules while streaming a file.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use shiplog_domain::{timestamp, Action, NewPackage, NewRelease, PackageStatus, PermissionName};
use time::OffsetDateTime;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::body::{text, Flag, Metadata, Text, TextList};
use super::error::OrloError;
use super::json::{is_json, parse_json, ErrorBody, Message};
use super::Orlo;
use crate::blocking::{cpu_bound, with_store};
use crate::body::BulkBody;
use crate::identity::Caller;
use crate::state::AppState;

/// Why one release of an import document was refused: which release, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release {index}: {field}: {reason}")]
pub struct ImportError {
    /// Position of the release in the document, from 0.
    pub index: usize,
    /// The field, e.g. `user` or `packages[1].status`.
    pub field: String,
    pub reason: String,
}

/// The reason alone, for domain errors that name their field themselves.
fn reason(err: shiplog_domain::DomainError) -> String {
    match err {
        shiplog_domain::DomainError::InvalidField { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn refuse(index: usize, field: impl Into<String>, reason: impl Into<String>) -> ImportError {
    ImportError {
        index,
        field: field.into(),
        reason: reason.into(),
    }
}

/// One release of an import document: the parse target and the schema of each list item.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportRelease {
    /// Required, not blank.
    pub user: Option<Text>,
    /// Required: a list of platform names (or one as a string).
    pub platforms: Option<TextList>,
    pub team: Option<Text>,
    /// Default: the time of the import.
    pub stime: Option<Time>,
    pub ftime: Option<Time>,
    pub references: Option<TextList>,
    pub notes: Option<TextList>,
    pub metadata: Option<Metadata>,
    /// Required, possibly empty.
    pub packages: Option<Vec<ImportPackage>>,
    /// Gets the release, signed like a webhook, whenever its status changes (as on
    /// `POST /releases`).
    pub callback: Option<Text>,
}

/// One package of an imported release.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportPackage {
    /// Required.
    pub name: Option<Text>,
    /// Required.
    pub version: Option<Text>,
    /// Default NOT_STARTED.
    pub status: Option<Status>,
    /// Default: the release's start.
    pub stime: Option<Time>,
    pub ftime: Option<Time>,
    pub rollback: Option<Flag>,
    pub diff_url: Option<Text>,
}

/// Any Orlo time form: an ISO 8601 string or unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub OffsetDateTime);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match timestamp::from_json(&Value::deserialize(d)?) {
            Ok(Some(ts)) => Ok(Time(ts)),
            Ok(None) => Err(D::Error::custom("must be a time")),
            Err(e) => Err(D::Error::custom(e)),
        }
    }
}

impl PartialSchema for Time {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some("An ISO 8601 time, or unix seconds"))
            .into()
    }
}

impl ToSchema for Time {}

/// A package status name.
#[derive(Debug, Clone, Copy)]
pub struct Status(pub PackageStatus);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map(Status).map_err(D::Error::custom),
            _ => Err(D::Error::custom("must be a string")),
        }
    }
}

impl PartialSchema for Status {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["NOT_STARTED", "IN_PROGRESS", "SUCCESSFUL", "FAILED"]))
            .into()
    }
}

impl ToSchema for Status {}

/// Reads one release of an import document. `now` is the start time of a release without one.
pub fn parse_release(
    value: &Value,
    index: usize,
    now: OffsetDateTime,
) -> Result<NewRelease, ImportError> {
    let doc: ImportRelease = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let reason = err.into_inner().to_string();
        // serde names the type it expected; say what the client must send instead.
        let (field, reason) = if reason.contains("expected a sequence") {
            (path, "must be a list".to_owned())
        } else if reason.contains("expected struct") {
            let field = match path.as_str() {
                "." => "release".to_owned(),
                _ => format!("{path}.package"),
            };
            (field, "must be a JSON object".to_owned())
        } else {
            (path, reason)
        };
        refuse(index, field, reason)
    })?;
    release_from(doc, index, now)
}

/// The release that `doc`, read as the `index`-th of an import document, stands for.
fn release_from(
    doc: ImportRelease,
    index: usize,
    now: OffsetDateTime,
) -> Result<NewRelease, ImportError> {
    let user = text(doc.user)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| refuse(index, "user", "is required"))?;
    let platforms = doc
        .platforms
        .ok_or_else(|| refuse(index, "platforms", "is required (a list of platform names)"))?;
    let stime = doc.stime.map_or(now, |t| t.0);
    let mut release = NewRelease::new(&user, platforms.0, stime)
        .map_err(|e| refuse(index, "release", reason(e)))?
        .with_team(text(doc.team).as_deref());
    if let Some(Time(ftime)) = doc.ftime {
        release = release
            .finished_at(ftime)
            .map_err(|e| refuse(index, "ftime", reason(e)))?;
    }
    release.references = doc.references.unwrap_or_default().0;
    release.notes = doc.notes.unwrap_or_default().0;
    release.metadata = doc.metadata.unwrap_or_default().0;
    release.callback =
        super::body::callback(doc.callback).map_err(|reason| refuse(index, "callback", reason))?;
    let packages = doc
        .packages
        .ok_or_else(|| refuse(index, "packages", "is required (a list, possibly empty)"))?;
    release.packages = packages
        .into_iter()
        .enumerate()
        .map(|(n, p)| {
            package(p, release.stime)
                .map_err(|(field, reason)| refuse(index, format!("packages[{n}].{field}"), reason))
        })
        .collect::<Result<_, _>>()?;
    release.check_input().map_err(|e| match e {
        shiplog_domain::DomainError::InvalidField { field, reason } => refuse(index, field, reason),
        other => refuse(index, "release", other.to_string()),
    })?;
    Ok(release)
}

/// One package of an imported release; errors are `(field, reason)`.
fn package(
    doc: ImportPackage,
    release_stime: OffsetDateTime,
) -> Result<NewPackage, (&'static str, String)> {
    let name = text(doc.name).ok_or(("name", "is required".to_owned()))?;
    let version = text(doc.version).ok_or(("version", "is required".to_owned()))?;
    let status = doc.status.map_or(PackageStatus::NotStarted, |s| s.0);
    let stime = doc.stime.map(|t| t.0).or(Some(release_stime));
    let mut package = NewPackage::new(&name, &version)
        .with_history(status, stime, doc.ftime.map(|t| t.0))
        .map_err(|e| ("ftime", reason(e)))?;
    package.rollback = doc.rollback.is_some_and(|flag| flag.0);
    package.diff_url = text(doc.diff_url);
    Ok(package)
}

/// Reads the body of `POST /releases/import`: `parse_json` then [`parse_document`], with the
/// same answer, but in one pass when the document is well formed.
///
/// Parsing the whole document into a `Value` tree before reading each release from it was a
/// sixth of an import's instructions. A well-formed document is now read straight from its
/// bytes into the releases. Anything else (malformed JSON, a field of the wrong type, an empty
/// list) is read again the old way, whose errors name the release and field at fault, so a bad
/// document gets exactly the answer it got before.
pub fn parse_import(
    is_json: bool,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Vec<NewRelease>, OrloError> {
    if is_json {
        if let Ok(docs) = serde_json::from_slice::<Vec<ImportRelease>>(body) {
            if !docs.is_empty() {
                return docs
                    .into_iter()
                    .enumerate()
                    .map(|(i, doc)| release_from(doc, i, now).map_err(invalid_release))
                    .collect();
            }
        }
    }
    parse_document(&parse_json(is_json, body)?, now)
}

fn invalid_release(err: ImportError) -> OrloError {
    OrloError::bad_request("invalid_release", err.to_string())
}

/// Reads a whole import document (a JSON list of releases).
pub fn parse_document(doc: &Value, now: OffsetDateTime) -> Result<Vec<NewRelease>, OrloError> {
    let items = match doc {
        Value::Array(items) if items.is_empty() => return Err(OrloError::missing_json()),
        Value::Array(items) => items,
        _ => {
            return Err(OrloError::bad_request(
                "invalid_json",
                "The import document must be a JSON list of releases",
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_release(item, i, now).map_err(invalid_release))
        .collect()
}

/// How to import.
#[utoipa::path(tag = "orlo: releases", responses((status = 200, description = "A pointer to the docs", body = Message)))]
#[get("/releases/import")]
pub async fn import_help() -> HttpResponse {
    HttpResponse::Ok().json(Message {
        message: "This is the orlo import url".to_owned(),
    })
}

/// Import finished releases in bulk: a JSON list of full releases with their packages.
///
/// Each release needs `user`, `platforms` and `packages` (possibly empty); `stime`/`ftime` take
/// any Orlo time form (ISO strings, unix numbers); packages take `name`, `version`, `status`
/// (default NOT_STARTED), `rollback`, `diff_url`, `stime` (default: the release's), `ftime`.
/// The import is atomic: one bad release imports nothing and the error names it and its field.
#[utoipa::path(
    tag = "orlo: releases",
    request_body(content = Vec<ImportRelease>, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"releases\": [ids in input order]}`"),
        (status = 400, description = "Not a JSON list, or a release with a missing or malformed field (named), such as a `callback` that is not http(s) or reaches a refused address", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/import")]
pub async fn import_releases(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    body: BulkBody,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Create, None)?;
    let (json, recorded_by) = (is_json(&req), caller.name().to_owned());
    let size = body.len();
    // Up to the bulk limit of JSON: parsed and checked on the blocking pool.
    let releases = cpu_bound(
        size,
        move || {
            let mut releases = parse_import(json, &body, OffsetDateTime::now_utc())?;
            for release in &mut releases {
                release.recorded_by = Some(recorded_by.clone());
            }
            Ok(releases)
        },
        OrloError::internal,
    )
    .await?;
    for (index, release) in releases.iter().enumerate() {
        if let Some(url) = release.callback.clone() {
            super::releases::callback_destination(&state, url)
                .await
                .map_err(|e| {
                    OrloError::bad_request(
                        "invalid_release",
                        format!("release {index}: {}", e.message()),
                    )
                })?;
        }
    }
    let imported = with_store(&state.store.acting_as(caller.name()), move |store| {
        store.import_releases(&releases)
    })
    .await;
    state
        .metrics
        .import(imported.as_ref().ok().map(|ids| ids.len() as u64));
    let ids = imported?;
    Ok(HttpResponse::Ok()
        .json(json!({ "releases": ids.iter().map(ToString::to_string).collect::<Vec<_>>() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2020-01-01 0:00 UTC)
    }

    /// What the slow path (a `Value` tree first) makes of `body`: the releases, or the error's
    /// status, code and message.
    fn by_value(is_json: bool, body: &[u8]) -> Result<Vec<NewRelease>, String> {
        parse_json(is_json, body)
            .and_then(|doc| parse_document(&doc, now()))
            .map_err(|e| format!("{} {e:?}", e.message()))
    }

    /// `parse_import` answers every document as reading it into a `Value` tree first did: the
    /// same releases (ids aside, which are drawn fresh), and for a bad document the same error.
    #[test]
    fn the_one_pass_import_reads_every_document_as_the_value_tree_did() {
        let good = json!({"user": "u", "platforms": ["p"], "team": "t", "stime": 1450371724,
            "ftime": "2015-12-17T17:02:24Z", "references": ["T-1"], "notes": ["n"],
            "metadata": {"k": "v", "k2": 3}, "callback": null,
            "packages": [{"name": "a", "version": "1", "status": "SUCCESSFUL",
                          "stime": "2015-12-17T17:02:05Z", "ftime": 1450371744, "rollback": "yes",
                          "diff_url": "https://diff.example/1"},
                         {"name": "b", "version": "2"}]});
        let documents: Vec<String> = vec![
            json!([good, good]).to_string(),
            json!([{"user": "u", "platforms": "one", "packages": []}]).to_string(),
            // A key twice: serde's derive refuses it; the tree keeps the last.
            r#"[{"user": "u", "user": "v", "platforms": ["p"], "packages": []}]"#.to_owned(),
            json!([good, {"platforms": ["p"], "packages": []}]).to_string(),
            json!([good, {"user": "u", "platforms": ["p"], "packages": [{"name": "a"}]}])
                .to_string(),
            json!([{"user": "u", "platforms": ["p"], "packages": [], "stime": "soon"}]).to_string(),
            json!([{"user": "u", "platforms": ["p"], "packages": [],
                    "stime": 1450371724, "ftime": 1450371700}])
            .to_string(),
            json!([{"user": 5, "platforms": ["p"], "packages": []}]).to_string(),
            json!([{"user": "u", "platforms": ["p"], "packages": {}}]).to_string(),
            json!([["u"]]).to_string(),
            json!([]).to_string(),
            json!({"user": "u"}).to_string(),
            "[{\"user\": ".to_owned(),
            "  ".to_owned(),
            "null".to_owned(),
        ];
        for (body, is_json) in documents
            .iter()
            .map(|body| (body, true))
            .chain([(&documents[0], false)])
        {
            let fast = parse_import(is_json, body.as_bytes(), now())
                .map_err(|e| format!("{} {e:?}", e.message()));
            match (fast, by_value(is_json, body.as_bytes())) {
                (Ok(fast), Ok(slow)) => {
                    assert_eq!(fast.len(), slow.len(), "{body}");
                    for (mut fast, slow) in fast.into_iter().zip(slow) {
                        fast.id = slow.id;
                        for (f, s) in fast.packages.iter_mut().zip(&slow.packages) {
                            f.id = s.id;
                        }
                        assert_eq!(fast, slow, "{body}");
                    }
                }
                (fast, slow) => assert_eq!(fast.err(), slow.err(), "{body}"),
            }
        }
    }

    #[test]
    fn reads_the_documented_example() {
        let doc = json!({
            "platforms": ["GumtreeUK"], "stime": "2015-12-17T17:02:04Z", "ftime": "2015-12-17T17:02:24Z",
            "team": "Gumtree UK Site Operations", "references": ["TICKET-1"], "notes": ["Imported from other_system"],
            "packages": [{"name": "", "diff_url": null, "stime": "2015-12-17T17:02:22Z", "ftime": 1450371742,
                          "rollback": false, "status": "SUCCESSFUL", "version": "1.0.1"}],
            "user": "user_one"
        });
        let release = parse_release(&doc, 0, now()).expect("valid");
        assert_eq!(release.duration(), Some(20));
        assert_eq!(release.packages[0].duration(), Some(0));
        assert_eq!(release.packages[0].status, PackageStatus::Successful);
        assert_eq!(release.references, ["TICKET-1"]);
    }

    #[test]
    fn names_the_release_and_field_that_is_wrong() {
        let base = || json!({"user": "u", "platforms": ["p"], "packages": [{"name": "a", "version": "1"}]});
        let cases = [
            (json!(1), "release 0: release: must be a JSON object"),
            (
                json!({"platforms": ["p"], "packages": []}),
                "release 0: user: is required",
            ),
            (
                json!({"user": "u", "packages": []}),
                "release 0: platforms: is required (a list of platform names)",
            ),
            (
                json!({"user": "u", "platforms": ["p"]}),
                "release 0: packages: is required (a list, possibly empty)",
            ),
        ];
        for (doc, message) in cases {
            assert_eq!(
                parse_release(&doc, 0, now())
                    .expect_err("refused")
                    .to_string(),
                message
            );
        }
        let mut bad_status = base();
        bad_status["packages"][0]["status"] = json!("DONE");
        assert!(parse_release(&bad_status, 3, now())
            .expect_err("refused")
            .to_string()
            .starts_with("release 3: packages[0].status: Invalid package status"));
        let mut bad_time = base();
        bad_time["stime"] = json!("yesterday");
        assert!(parse_release(&bad_time, 1, now())
            .expect_err("refused")
            .to_string()
            .starts_with("release 1: stime: A badly formatted"));
        let mut backwards = base();
        backwards["stime"] = json!(100);
        backwards["ftime"] = json!(50);
        assert_eq!(
            parse_release(&backwards, 0, now())
                .expect_err("refused")
                .to_string(),
            "release 0: ftime: must not be before stime"
        );
    }

    #[test]
    fn defaults_follow_orlo_minus_its_bugs() {
        let doc =
            json!({"user": "u", "platforms": ["p"], "packages": [{"name": "a", "version": "1"}]});
        let release = parse_release(&doc, 0, now()).expect("valid");
        assert_eq!(release.stime, now());
        assert!(release.references.is_empty(), "no [\"null\"] (Orlo's B5)");
        assert_eq!(
            release.packages[0].stime,
            Some(now()),
            "a package starts with its release"
        );
        assert_eq!(release.packages[0].status, PackageStatus::NotStarted);
        assert!(!release.packages[0].rollback);
    }
}
