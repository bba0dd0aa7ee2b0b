//! Named releases: the Balrog face of a release (see docs/balrog.md). A release that has a name also
//! has a product, a JSON blob describing what to serve (Balrog's "release blob"), a read-only
//! flag and a `data_version` that counts its changes for optimistic locking.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult};
use crate::ids::ReleaseId;
use crate::input::{self, TextKind};

/// A release name as rules and URLs use it: non-empty, at most 100 characters (Balrog's column
/// width), no surrounding whitespace, no `/` (it could not be addressed in a path) and no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseName(String);

impl ReleaseName {
    /// The longest name allowed, in characters.
    pub const MAX_LEN: usize = 100;

    /// Checks and trims a name (see [`ReleaseName`] for the rules).
    pub fn parse(text: &str) -> DomainResult<ReleaseName> {
        let name = text.trim();
        if name.is_empty() {
            return Err(DomainError::field("name", "must not be empty"));
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(DomainError::field(
                "name",
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if name.contains('/') || name.chars().any(char::is_control) {
            return Err(DomainError::field(
                "name",
                "must not contain '/' or control characters",
            ));
        }
        Ok(ReleaseName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReleaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product name (`Firefox`, `Fennec`, …): trimmed, non-empty, and a name under the input
/// policy.
pub fn parse_product(text: &str) -> DomainResult<String> {
    let product = text.trim();
    if product.is_empty() {
        return Err(DomainError::field("product", "is a required property"));
    }
    input::check("product", product, TextKind::Name)?;
    Ok(product.to_owned())
}

/// A release as the Balrog face sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedRelease {
    /// The id the ledger knows the release by. Evaluation never reads it; JSON without an `id`
    /// gets a fresh one.
    #[serde(default)]
    pub id: ReleaseId,
    /// The release name rules map to.
    pub name: String,
    /// The product the release is for.
    pub product: String,
    /// The blob: a JSON object whose `name` is the release name.
    pub data: Value,
    /// Whether changes to the blob are refused.
    pub read_only: bool,
    /// Counts the blob's changes; a write names the version it read (optimistic locking).
    pub data_version: i64,
}

impl NamedRelease {
    /// A release to evaluate rules against, outside any ledger: writable, at data_version 1,
    /// with a fresh id of its own. Evaluation reads only the name, the product and the blob,
    /// so the id matters only to a store that records the release.
    pub fn new(name: &str, product: &str, data: Value) -> NamedRelease {
        NamedRelease {
            id: ReleaseId::new(),
            name: name.to_owned(),
            product: product.to_owned(),
            data,
            read_only: false,
            data_version: 1,
        }
    }
}

/// Checks a blob before it is stored: a JSON object naming this release, with an integer
/// `schema_version`, whose `platforms` (if any) map names to objects, each with `locales` (if
/// any) mapping names to objects. Deeper structure is the schema's business and is not checked.
pub fn validate_blob(name: &str, blob: &Value) -> DomainResult<()> {
    let doc = blob
        .as_object()
        .ok_or_else(|| DomainError::field("blob", "must be a JSON object"))?;
    match doc.get("name") {
        Some(Value::String(blob_name)) if blob_name == name => {}
        Some(Value::String(blob_name)) => {
            return Err(DomainError::field(
                "blob",
                format!("name {blob_name:?} does not match the release name {name:?}"),
            ))
        }
        _ => return Err(DomainError::field("blob", "'name' is a required property")),
    }
    match doc.get("schema_version") {
        Some(Value::Number(n)) if n.is_i64() => {}
        Some(_) => {
            return Err(DomainError::field(
                "blob",
                "schema_version must be an integer",
            ))
        }
        None => {
            return Err(DomainError::field(
                "blob",
                "'schema_version' is a required property",
            ))
        }
    }
    if let Some(platforms) = doc.get("platforms") {
        let platforms = objects(platforms, "platforms")?;
        for (platform, entry) in platforms {
            if let Some(locales) = entry.get("locales") {
                objects(locales, &format!("platforms.{platform}.locales"))?;
            }
        }
    }
    Ok(())
}

/// A JSON object whose values are all objects.
fn objects<'a>(value: &'a Value, path: &str) -> DomainResult<&'a Map<String, Value>> {
    let map = value
        .as_object()
        .ok_or_else(|| DomainError::field("blob", format!("{path} must be an object")))?;
    if let Some((key, _)) = map.iter().find(|(_, v)| !v.is_object()) {
        return Err(DomainError::field(
            "blob",
            format!("{path}.{key} must be an object"),
        ));
    }
    Ok(map)
}

/// A schema version from a request field: an integer, or a string of digits.
pub fn parse_schema_version(value: &Value) -> DomainResult<Option<i64>> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| DomainError::field("schema_version", "must be an integer")),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| DomainError::field("schema_version", "must be an integer")),
        _ => Err(DomainError::field("schema_version", "must be an integer")),
    }
}

/// The blob a release starts with when a partial update creates it.
pub fn initial_blob(name: &str, schema_version: i64, hash_function: Option<&str>) -> Value {
    let mut blob = Map::new();
    blob.insert("name".into(), Value::String(name.to_owned()));
    blob.insert("schema_version".into(), Value::from(schema_version));
    if let Some(hash) = hash_function {
        blob.insert("hashFunction".into(), Value::String(hash.to_owned()));
    }
    Value::Object(blob)
}

/// `value` with every object's keys in sorted order, at any depth: how Balrog prints blobs.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_names_are_trimmed_and_addressable() {
        assert_eq!(
            ReleaseName::parse(" Firefox-60.0-build1 ")
                .expect("valid")
                .as_str(),
            "Firefox-60.0-build1"
        );
        for bad in ["", "  ", "a/b", "tab\there", &"x".repeat(101)] {
            assert!(ReleaseName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse_product(" ").is_err());
        assert_eq!(parse_product(" Firefox ").expect("valid"), "Firefox");
    }

    #[test]
    fn blobs_must_name_their_release_and_carry_a_schema_version() {
        assert!(validate_blob("r", &json!({"name": "r", "schema_version": 1})).is_ok());
        assert!(validate_blob(
            "r",
            &json!({"name": "r", "schema_version": 9, "platforms": {"WINNT": {"locales": {"de": {}}}, "Linux": {"alias": "WINNT"}}})
        )
        .is_ok());
        for bad in [
            json!([]),
            json!({"schema_version": 1}),
            json!({"name": "other", "schema_version": 1}),
            json!({"name": "r"}),
            json!({"name": "r", "schema_version": "1"}),
            json!({"name": "r", "schema_version": 1, "platforms": []}),
            json!({"name": "r", "schema_version": 1, "platforms": {"p": 1}}),
            json!({"name": "r", "schema_version": 1, "platforms": {"p": {"locales": {"de": "x"}}}}),
        ] {
            assert!(validate_blob("r", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_versions_come_as_numbers_or_digit_strings() {
        assert_eq!(parse_schema_version(&json!(4)), Ok(Some(4)));
        assert_eq!(parse_schema_version(&json!("9")), Ok(Some(9)));
        assert_eq!(parse_schema_version(&json!(null)), Ok(None));
        assert!(parse_schema_version(&json!("nine")).is_err());
        assert!(parse_schema_version(&json!(1.5)).is_err());
    }

    #[test]
    fn sorting_reaches_every_depth() {
        let value = sorted(&json!({"b": [{"z": 1, "a": 2}], "a": {"y": 1, "x": 2}}));
        assert_eq!(
            serde_json::to_string(&value).expect("json"),
            r#"{"a":{"x":2,"y":1},"b":[{"a":2,"z":1}]}"#
        );
        assert_eq!(
            initial_blob("r", 9, Some("sha512")),
            json!({"name": "r", "schema_version": 9, "hashFunction": "sha512"})
        );
    }
}
