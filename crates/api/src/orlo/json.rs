//! The Orlo face's JSON: reading request bodies the way Orlo reads them, and the response
//! shapes it writes (research/orlo.md §2).

use std::collections::BTreeMap;

use actix_web::{HttpMessage, HttpRequest};
use serde::Serialize;
use serde_json::{Map, Value};
use shiplog_domain::{timestamp, Metadata, Package, Release};
use utoipa::ToSchema;

use super::error::OrloError;

/// Parses the body as JSON. Like Orlo, a request without a JSON content type or without a body
/// is "Missing application/json header", and unparseable JSON is "Could not parse JSON document".
pub fn json_value(req: &HttpRequest, body: &[u8]) -> Result<Value, OrloError> {
    let mime = req.content_type().to_ascii_lowercase();
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if !is_json || body.iter().all(u8::is_ascii_whitespace) {
        return Err(OrloError::missing_json());
    }
    serde_json::from_slice(body)
        .map_err(|_| OrloError::bad_request("invalid_json", "Could not parse JSON document"))
}

/// Parses the body as a non-empty JSON object (Orlo treats `{}` and `[]` as no body at all).
pub fn json_object(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, OrloError> {
    match json_value(req, body)? {
        Value::Object(map) if !map.is_empty() => Ok(map),
        Value::Object(_) => Err(OrloError::missing_json()),
        Value::Array(items) if items.is_empty() => Err(OrloError::missing_json()),
        _ => Err(OrloError::bad_request(
            "invalid_json",
            "The JSON document must be an object",
        )),
    }
}

fn wrong_type(field: &str, expected: &str) -> OrloError {
    OrloError::bad_request("invalid_field", format!("{field} must be {expected}"))
}

/// A string field; numbers are taken as their text. `None` when missing or null.
pub fn opt_string(map: &Map<String, Value>, field: &str) -> Result<Option<String>, OrloError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// A list of strings, or a single string taken as a list of one. `None` when missing or null.
pub fn opt_string_list(
    map: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, OrloError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(wrong_type(field, "a list of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong_type(field, "a list of strings")),
    }
}

/// A boolean field: JSON booleans, `"true"`/`"false"` (any case), `"t"`/`"f"`, or numbers
/// (non-zero is true). `None` when missing or null.
pub fn opt_bool(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, OrloError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|v| v != 0.0))),
        Some(Value::String(s)) => parse_bool(s)
            .map(Some)
            .ok_or_else(|| wrong_type(field, "a boolean")),
        Some(_) => Err(wrong_type(field, "a boolean")),
    }
}

/// Orlo's `str_to_bool`: true/t/yes/y/1 and false/f/no/n/0 in any case; other integers count by
/// sign.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        other => other.parse::<i64>().ok().map(|n| n > 0),
    }
}

/// Orlo's reading of `{"success": …}` on a package stop: only `true`, `"True"`, `"true"`, `"1"`
/// and `1` mean success; anything else, or no key, means failure.
pub fn is_success(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
        Some(Value::Number(n)) => n.as_i64() == Some(1) || n.as_f64() == Some(1.0),
        _ => false,
    }
}

/// Metadata values are stored as text, as Orlo stores them: strings as they are, numbers as
/// their JSON text, booleans as `1`/`0`. Null, lists and objects are refused.
pub fn metadata_from(map: &Map<String, Value>) -> Result<Metadata, OrloError> {
    map.iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
                _ => {
                    return Err(OrloError::bad_request(
                        "invalid_field",
                        format!("metadata value for {key:?} must be a string, number or boolean"),
                    ))
                }
            };
            Ok((key.clone(), text))
        })
        .collect()
}

/// A package as Orlo shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageJson {
    #[schema(example = "1dfb4887-295e-44db-8576-491a163c4b96")]
    pub id: String,
    pub release_id: String,
    pub name: String,
    pub version: String,
    /// NOT_STARTED, IN_PROGRESS, SUCCESSFUL or FAILED.
    pub status: String,
    pub rollback: bool,
    pub diff_url: Option<String>,
    /// `%Y-%m-%dT%H:%M:%SZ`, UTC.
    pub stime: Option<String>,
    pub ftime: Option<String>,
    /// Whole seconds.
    pub duration: Option<i64>,
}

impl From<&Package> for PackageJson {
    fn from(p: &Package) -> Self {
        PackageJson {
            id: p.id.to_string(),
            release_id: p.release_id.to_string(),
            name: p.name.clone(),
            version: p.version.clone(),
            status: p.status.as_str().to_owned(),
            rollback: p.rollback,
            diff_url: p.diff_url.clone(),
            stime: p.stime.map(timestamp::format),
            ftime: p.ftime.map(timestamp::format),
            duration: p.duration,
        }
    }
}

/// A release as Orlo shows it, plus its derived `status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseJson {
    pub id: String,
    pub user: String,
    pub team: Option<String>,
    pub platforms: Vec<String>,
    pub references: Vec<String>,
    pub stime: String,
    pub ftime: Option<String>,
    pub duration: Option<i64>,
    pub notes: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub packages: Vec<PackageJson>,
    /// Derived from the packages: FAILED if any failed, else IN_PROGRESS if any is in progress,
    /// else SUCCESSFUL or NOT_STARTED when all packages have it, else null.
    pub status: Option<String>,
    /// The authenticated caller who recorded the release (`user` is what the client reported);
    /// null for releases recorded before identities, or from the command line.
    pub recorded_by: Option<String>,
}

impl From<&Release> for ReleaseJson {
    fn from(r: &Release) -> Self {
        ReleaseJson {
            id: r.id.to_string(),
            user: r.user.clone(),
            team: r.team.clone(),
            platforms: r.platforms.clone(),
            references: r.references.clone(),
            stime: timestamp::format(r.stime),
            ftime: r.ftime.map(timestamp::format),
            duration: r.duration,
            notes: r.notes.clone(),
            metadata: r.metadata.clone(),
            packages: r.packages.iter().map(PackageJson::from).collect(),
            status: r.status().map(|s| s.as_str().to_owned()),
            recorded_by: r.recorded_by.clone(),
        }
    }
}

/// `{"releases": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseList {
    pub releases: Vec<ReleaseJson>,
}

/// `{"packages": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageList {
    pub packages: Vec<PackageJson>,
}

/// `{"id": "<uuid>"}`: what a create answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedId {
    pub id: String,
}

/// `{"message": "..."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// The Orlo face's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status.
    pub code: u16,
    /// The status's reason phrase.
    pub title: String,
    /// Orlo's message text.
    pub message: String,
    /// A stable snake_case error code.
    pub error: String,
}

/// Body of `POST /releases`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateReleaseBody {
    pub user: String,
    /// A list, or one platform as a string.
    pub platforms: Vec<String>,
    pub team: Option<String>,
    pub references: Option<Vec<String>>,
    /// A first note.
    pub note: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Body of `POST /releases/{id}/packages`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddPackageBody {
    pub name: String,
    pub version: String,
    pub rollback: Option<bool>,
    pub diff_url: Option<String>,
}

/// Body of a package stop.
#[derive(Debug, Serialize, ToSchema)]
pub struct StopPackageBody {
    /// `true`, `"true"`, `"True"`, `"1"` or `1` for success; anything else is a failure.
    pub success: Value,
}

/// Body of a note.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteBody {
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_is_read_exactly_as_orlo_reads_it() {
        for yes in [
            json!(true),
            json!("true"),
            json!("True"),
            json!("1"),
            json!(1),
        ] {
            assert!(is_success(Some(&yes)), "{yes}");
        }
        for no in [
            json!(false),
            json!("false"),
            json!("yes"),
            json!(0),
            json!(2),
            json!(null),
            json!({}),
        ] {
            assert!(!is_success(Some(&no)), "{no}");
        }
        assert!(!is_success(None));
    }

    #[test]
    fn booleans_follow_str_to_bool() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("f"), Some(false));
        assert_eq!(parse_bool("3"), Some(true));
        assert_eq!(parse_bool("-1"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn metadata_values_become_text() {
        let map = json!({"a": "x", "b": 5, "c": true, "d": false})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let metadata = metadata_from(&map).expect("valid");
        assert_eq!(metadata["b"], "5");
        assert_eq!(metadata["c"], "1");
        assert_eq!(metadata["d"], "0");
        for bad in [json!({"a": null}), json!({"a": [1]}), json!({"a": {}})] {
            assert!(metadata_from(bad.as_object().expect("object")).is_err());
        }
    }
}
