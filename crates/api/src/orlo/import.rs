//! `POST /releases/import`: recording finished releases after the fact, all or nothing.
//!
//! The conversion from one JSON release to a `NewRelease` is public so `shiplog import FILE`
//! applies exactly the same rules while streaming a file.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use shiplog_domain::{timestamp, Action, NewPackage, NewRelease, PackageStatus, PermissionName};
use time::OffsetDateTime;

use super::error::OrloError;
use super::json::{
    json_value, metadata_from, opt_bool, opt_string, opt_string_list, ErrorBody, Message,
};
use crate::blocking::with_store;
use crate::identity::{Caller, Orlo};
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

/// Reads one release of an import document. `now` is the start time of a release without one.
pub fn parse_release(
    value: &Value,
    index: usize,
    now: OffsetDateTime,
) -> Result<NewRelease, ImportError> {
    let doc = value
        .as_object()
        .ok_or_else(|| refuse(index, "release", "must be a JSON object"))?;
    // Field readers report errors as "<field> must be …"; keep just the reason.
    let field_error = |field: &str, e: OrloError| {
        refuse(
            index,
            field,
            e.message().trim_start_matches(field).trim_start(),
        )
    };
    let user = opt_string(doc, "user")
        .map_err(|e| field_error("user", e))?
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| refuse(index, "user", "is required"))?;
    let platforms = opt_string_list(doc, "platforms")
        .map_err(|e| field_error("platforms", e))?
        .ok_or_else(|| refuse(index, "platforms", "is required (a list of platform names)"))?;
    let time_field = |field: &str| -> Result<Option<OffsetDateTime>, ImportError> {
        doc.get(field).map_or(Ok(None), |v| {
            timestamp::from_json(v).map_err(|e| refuse(index, field, e.to_string()))
        })
    };
    let stime = time_field("stime")?.unwrap_or(now);
    let mut release = NewRelease::new(&user, platforms, stime)
        .map_err(|e| refuse(index, "release", reason(e)))?
        .with_team(
            opt_string(doc, "team")
                .map_err(|e| field_error("team", e))?
                .as_deref(),
        );
    if let Some(ftime) = time_field("ftime")? {
        release = release
            .finished_at(ftime)
            .map_err(|e| refuse(index, "ftime", reason(e)))?;
    }
    release.references = opt_string_list(doc, "references")
        .map_err(|e| field_error("references", e))?
        .unwrap_or_default();
    release.notes = opt_string_list(doc, "notes")
        .map_err(|e| field_error("notes", e))?
        .unwrap_or_default();
    match doc.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            release.metadata = metadata_from(map)
                .map_err(|e| refuse(index, "metadata", e.message().to_owned()))?;
        }
        Some(_) => return Err(refuse(index, "metadata", "must be an object")),
    }
    let packages = match doc.get("packages") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(refuse(index, "packages", "must be a list")),
        None => {
            return Err(refuse(
                index,
                "packages",
                "is required (a list, possibly empty)",
            ))
        }
    };
    release.packages = packages
        .iter()
        .enumerate()
        .map(|(n, p)| {
            parse_package(p, release.stime)
                .map_err(|(field, reason)| refuse(index, format!("packages[{n}].{field}"), reason))
        })
        .collect::<Result<_, _>>()?;
    Ok(release)
}

/// One package of an imported release; errors are `(field, reason)`.
fn parse_package(
    value: &Value,
    release_stime: OffsetDateTime,
) -> Result<NewPackage, (&'static str, String)> {
    let doc: &Map<String, Value> = value
        .as_object()
        .ok_or(("package", "must be a JSON object".to_owned()))?;
    let text = |field: &'static str| -> Result<String, (&'static str, String)> {
        match doc.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            None | Some(Value::Null) => Err((field, "is required".to_owned())),
            Some(_) => Err((field, "must be a string".to_owned())),
        }
    };
    let mut package = NewPackage::new(&text("name")?, &text("version")?);
    let status = match doc.get("status") {
        None | Some(Value::Null) => PackageStatus::NotStarted,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|e: shiplog_domain::DomainError| ("status", e.to_string()))?,
        Some(_) => return Err(("status", "must be a string".to_owned())),
    };
    let time = |field: &'static str| {
        doc.get(field).map_or(Ok(None), |v| {
            timestamp::from_json(v).map_err(|e| (field, e.to_string()))
        })
    };
    let stime = time("stime")?.or(Some(release_stime));
    let ftime = time("ftime")?;
    package = package
        .with_history(status, stime, ftime)
        .map_err(|e| ("ftime", reason(e)))?;
    package.rollback = opt_bool(doc, "rollback")
        .map_err(|e| ("rollback", e.message().to_owned()))?
        .unwrap_or(false);
    package.diff_url =
        opt_string(doc, "diff_url").map_err(|e| ("diff_url", e.message().to_owned()))?;
    Ok(package)
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
        .map(|(i, item)| {
            parse_release(item, i, now)
                .map_err(|e| OrloError::bad_request("invalid_release", e.to_string()))
        })
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
    request_body(content = Vec<serde_json::Value>, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"releases\": [ids in input order]}`"),
        (status = 400, description = "Not a JSON list, or a release with a missing or malformed field (named)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "No `ledger` permission for this action", body = ErrorBody),
    )
)]
#[post("/releases/import")]
pub async fn import_releases(
    state: web::Data<AppState>,
    caller: Caller<Orlo>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OrloError> {
    caller.require(PermissionName::Ledger, Action::Create, None)?;
    let doc = json_value(&req, &body)?;
    let mut releases = parse_document(&doc, OffsetDateTime::now_utc())?;
    for release in &mut releases {
        release.recorded_by = Some(caller.name().to_owned());
    }
    let ids = with_store(&state.store, move |store| store.import_releases(&releases)).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "releases": ids.iter().map(ToString::to_string).collect::<Vec<_>>() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2020-01-01 0:00 UTC)
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
