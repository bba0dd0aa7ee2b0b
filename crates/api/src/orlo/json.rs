//! The Orlo face's JSON: reading a request body as Orlo reads it (typed bodies are in `body`),
//! and the response shapes it writes (docs/orlo.md).

use actix_web::{HttpMessage, HttpRequest};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use shiplog_domain::{timestamp, Metadata, Package, PackageId, Release, ReleaseId};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::error::OrloError;

/// Parses the body as JSON. Like Orlo, a request without a JSON content type or without a body
/// is "Missing application/json header", and unparseable JSON is "Could not parse JSON document".
pub fn json_value(req: &HttpRequest, body: &[u8]) -> Result<Value, OrloError> {
    parse_json(is_json(req), body)
}

/// Whether the request says its body is JSON (`application/json` or `application/…+json`).
pub fn is_json(req: &HttpRequest) -> bool {
    let mime = req.content_type().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// [`json_value`] once the content type is known: usable off the request's thread.
pub fn parse_json(is_json: bool, body: &[u8]) -> Result<Value, OrloError> {
    if !is_json || body.iter().all(u8::is_ascii_whitespace) {
        return Err(OrloError::missing_json());
    }
    serde_json::from_slice(body)
        .map_err(|_| OrloError::bad_request("invalid_json", "Could not parse JSON document"))
}

/// Parses the body as a non-empty JSON object (Orlo treats `{}` and `[]` as no body at all).
pub fn json_object(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, OrloError> {
    parse_object(is_json(req), body)
}

/// [`json_object`] once the content type is known.
pub fn parse_object(is_json: bool, body: &[u8]) -> Result<Map<String, Value>, OrloError> {
    match parse_json(is_json, body)? {
        Value::Object(map) if !map.is_empty() => Ok(map),
        Value::Object(_) => Err(OrloError::missing_json()),
        Value::Array(items) if items.is_empty() => Err(OrloError::missing_json()),
        _ => Err(OrloError::bad_request(
            "invalid_json",
            "The JSON document must be an object",
        )),
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

// Borrowed from the domain's package, and serialised straight into the response: no copy of
// its texts, and times formatted as they are written.
/// A package as Orlo shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageJson<'a> {
    #[schema(value_type = String, example = "1dfb4887-295e-44db-8576-491a163c4b96")]
    pub id: PackageId,
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    pub name: &'a str,
    pub version: &'a str,
    /// NOT_STARTED, IN_PROGRESS, SUCCESSFUL or FAILED.
    pub status: &'a str,
    pub rollback: bool,
    pub diff_url: Option<&'a str>,
    /// `%Y-%m-%dT%H:%M:%SZ`, UTC.
    #[schema(value_type = Option<String>)]
    pub stime: Option<Stamp>,
    #[schema(value_type = Option<String>)]
    pub ftime: Option<Stamp>,
    /// Whole seconds.
    pub duration: Option<i64>,
}

impl<'a> From<&'a Package> for PackageJson<'a> {
    fn from(p: &'a Package) -> Self {
        PackageJson {
            id: p.id,
            release_id: p.release_id,
            name: &p.name,
            version: &p.version,
            status: p.status.as_str(),
            rollback: p.rollback,
            diff_url: p.diff_url.as_deref(),
            stime: p.stime.map(Stamp),
            ftime: p.ftime.map(Stamp),
            duration: p.duration,
        }
    }
}

// Borrowed like `PackageJson`.
/// A release as Orlo shows it, plus its derived `status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseJson<'a> {
    #[schema(value_type = String)]
    pub id: ReleaseId,
    pub user: &'a str,
    pub team: Option<&'a str>,
    #[schema(value_type = Vec<String>)]
    pub platforms: &'a [String],
    #[schema(value_type = Vec<String>)]
    pub references: &'a [String],
    #[schema(value_type = String)]
    pub stime: Stamp,
    #[schema(value_type = Option<String>)]
    pub ftime: Option<Stamp>,
    pub duration: Option<i64>,
    #[schema(value_type = Vec<String>)]
    pub notes: &'a [String],
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub metadata: &'a Metadata,
    pub packages: Vec<PackageJson<'a>>,
    /// Derived from the packages: FAILED if any failed, else IN_PROGRESS if any is in progress,
    /// else SUCCESSFUL or NOT_STARTED when all packages have it, else null.
    pub status: Option<&'static str>,
    /// The authenticated caller who recorded the release (`user` is what the client reported);
    /// null for releases recorded before identities, or from the command line.
    pub recorded_by: Option<&'a str>,
}

impl<'a> From<&'a Release> for ReleaseJson<'a> {
    fn from(r: &'a Release) -> Self {
        ReleaseJson {
            id: r.id,
            user: &r.user,
            team: r.team.as_deref(),
            platforms: &r.platforms,
            references: &r.references,
            stime: Stamp(r.stime),
            ftime: r.ftime.map(Stamp),
            duration: r.duration,
            notes: &r.notes,
            metadata: &r.metadata,
            packages: r.packages.iter().map(PackageJson::from).collect(),
            status: r.status().map(|s| s.as_str()),
            recorded_by: r.recorded_by.as_deref(),
        }
    }
}

/// A time as Orlo writes it (`%Y-%m-%dT%H:%M:%SZ`, UTC), formatted into the response as it is
/// serialised.
#[derive(Debug, Clone, Copy)]
pub struct Stamp(pub OffsetDateTime);

impl Serialize for Stamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        timestamp::serialize_seconds(self.0, serializer)
    }
}

/// `{"releases": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseList<'a> {
    pub releases: Vec<ReleaseJson<'a>>,
}

/// `{"packages": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageList<'a> {
    pub packages: Vec<PackageJson<'a>>,
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
}
