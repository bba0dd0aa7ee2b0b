//! The Orlo face's request bodies: one struct per body, both the parse target and the schema in
//! the API description. Orlo is lenient about types (a number where a string is expected, one
//! string for a list, `"yes"` for a boolean); the field types here ([`Text`], [`TextList`],
//! [`Flag`], [`Metadata`], [`Success`]) accept exactly what Orlo accepts and describe it.

use std::collections::BTreeMap;

use actix_web::HttpRequest;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::error::OrloError;
use super::json::{json_object, parse_bool};

/// Reads the body as a non-empty JSON object (see [`json_object`]) into `T`. A field of the
/// wrong type is Orlo's 400 `invalid_field`, `"<field> must be …"`.
pub fn parse<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, OrloError> {
    from_object(Value::Object(json_object(req, body)?))
}

/// Converts an already parsed JSON value into `T`, with Orlo's wording for a bad field.
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, OrloError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = err.path().to_string();
        let reason = err.into_inner().to_string();
        // Field types say what they expected ("must be …"); a reason naming its own subject
        // (a metadata value) stands alone.
        let message = if reason.starts_with("must be") {
            format!("{field} {reason}")
        } else {
            reason
        };
        OrloError::bad_request("invalid_field", message)
    })
}

fn string_schema() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

fn number_schema() -> Schema {
    ObjectBuilder::new().schema_type(Type::Number).into()
}

/// A text field: a string, or a number taken as its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    fn from_value(value: Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Text::from_value(Value::deserialize(d)?)
            .map(Text)
            .ok_or_else(|| D::Error::custom("must be a string"))
    }
}

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(string_schema())
            .item(number_schema())
            .description(Some("A string; a number is taken as its text"))
            .into()
    }
}

impl ToSchema for Text {}

/// A list of texts, or one text taken as a list of one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextList(pub Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wrong = || D::Error::custom("must be a list of strings");
        match Value::deserialize(d)? {
            Value::String(s) => Ok(TextList(vec![s])),
            Value::Array(items) => items
                .into_iter()
                .map(|item| Text::from_value(item).ok_or_else(wrong))
                .collect::<Result<_, _>>()
                .map(TextList),
            _ => Err(wrong()),
        }
    }
}

impl PartialSchema for TextList {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ArrayBuilder::new().items(
                    OneOfBuilder::new()
                        .item(string_schema())
                        .item(number_schema()),
                ),
            )
            .item(string_schema())
            .description(Some(
                "A list of strings (numbers are taken as their text), or one string",
            ))
            .into()
    }
}

impl ToSchema for TextList {}

/// A boolean as Orlo's `str_to_bool` reads it: JSON booleans, numbers (non-zero is true), and
/// `true`/`t`/`yes`/`y`/`1`, `false`/`f`/`no`/`n`/`0` in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wrong = || D::Error::custom("must be a boolean");
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Flag(b)),
            Value::Number(n) => Ok(Flag(n.as_f64().is_some_and(|v| v != 0.0))),
            Value::String(s) => parse_bool(&s).map(Flag).ok_or_else(wrong),
            _ => Err(wrong()),
        }
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(number_schema())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^\\s*([tTfFyYnN]|[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]|[yY][eE][sS]|[nN][oO]|[+-]?[0-9]+)\\s*$")),
            )
            .description(Some(
                "A boolean, a number (non-zero is true), or true/t/yes/y/false/f/no/n in any case",
            ))
            .into()
    }
}

impl ToSchema for Flag {}

/// Metadata: an object whose values are kept as text, as Orlo keeps them (strings as they are,
/// numbers as their JSON text, booleans as `1`/`0`). Null, lists and objects are refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Value::Object(map) = Value::deserialize(d)? else {
            return Err(D::Error::custom("must be an object"));
        };
        map.into_iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => if b { "1" } else { "0" }.to_owned(),
                    _ => {
                        return Err(D::Error::custom(format!(
                            "metadata value for {key:?} must be a string, number or boolean"
                        )))
                    }
                };
                Ok((key, text))
            })
            .collect::<Result<_, _>>()
            .map(Metadata)
    }
}

impl PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(RefOr::T(Schema::OneOf(
                OneOfBuilder::new()
                    .item(string_schema())
                    .item(number_schema())
                    .item(ObjectBuilder::new().schema_type(Type::Boolean))
                    .build(),
            ))))
            .description(Some(
                "Values are stored as text: numbers as their JSON text, booleans as 1/0",
            ))
            .into()
    }
}

impl ToSchema for Metadata {}

/// Orlo's reading of a package stop's `success`: only `true`, `"True"`, `"true"`, `"1"` and `1`
/// mean success; any other value, or none, means failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Success(pub bool);

impl<'de> Deserialize<'de> for Success {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Success(super::json::is_success(Some(&Value::deserialize(
            d,
        )?))))
    }
}

impl PartialSchema for Success {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "`true`, `\"true\"`, `\"True\"`, `\"1\"` or `1` for success; any other value is a failure",
            ))
            .into()
    }
}

impl ToSchema for Success {}

/// Body of `POST /releases`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRelease {
    /// Who released (required, not blank).
    pub user: Option<Text>,
    /// Required: a list, or one platform as a string.
    pub platforms: Option<TextList>,
    pub team: Option<Text>,
    pub references: Option<TextList>,
    /// A first note.
    pub note: Option<Text>,
    pub metadata: Option<Metadata>,
    /// An http(s) URL that gets the release, signed like a webhook, whenever its status changes
    /// and when it finishes (see docs/events.md).
    pub callback: Option<Text>,
}

/// Body of `POST /releases/{id}/packages`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddPackage {
    /// Required, not empty.
    pub name: Option<Text>,
    /// Required, not empty.
    pub version: Option<Text>,
    pub rollback: Option<Flag>,
    pub diff_url: Option<Text>,
}

/// Body of a package stop.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StopPackage {
    #[serde(default)]
    pub success: Success,
}

/// Body of a note.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddNote {
    /// Required, not empty.
    pub text: Option<Text>,
}

/// Body of `POST /releases/{id}/metadata`: the keys to merge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct MergeMetadata(pub Metadata);

/// The text of an optional field, `None` when missing or null.
pub fn text(field: Option<Text>) -> Option<String> {
    field.map(|Text(s)| s)
}

/// A release's optional `callback`: missing, null or empty is none; otherwise an http(s) URL
/// without credentials, within the input policy. Where it leads is checked separately
/// (`check_destination`), since that asks DNS.
pub fn callback(field: Option<Text>) -> Result<Option<String>, String> {
    let Some(url) = text(field).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    shiplog_domain::input::check("callback", &url, shiplog_domain::input::TextKind::Url).map_err(
        |e| match e {
            shiplog_domain::DomainError::InvalidField { reason, .. } => reason,
            other => other.to_string(),
        },
    )?;
    crate::webhooks::destination::check_url(&url)?;
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read<T: DeserializeOwned>(value: Value) -> Result<T, String> {
        from_object(value).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn fields_accept_what_orlo_accepts() {
        let release: CreateRelease =
            read(json!({"user": 7, "platforms": "web", "references": ["a", 1], "metadata": {"n": 2, "b": true}}))
                .expect("valid");
        assert_eq!(text(release.user).as_deref(), Some("7"));
        assert_eq!(release.platforms, Some(TextList(vec!["web".to_owned()])));
        assert_eq!(
            release.references,
            Some(TextList(vec!["a".to_owned(), "1".to_owned()]))
        );
        let metadata = release.metadata.expect("metadata").0;
        assert_eq!((metadata["n"].as_str(), metadata["b"].as_str()), ("2", "1"));
        let package: AddPackage = read(json!({"rollback": "Yes"})).expect("valid");
        assert_eq!(package.rollback, Some(Flag(true)));
    }

    #[test]
    fn a_wrong_type_names_its_field_in_orlos_words() {
        assert_eq!(
            read::<CreateRelease>(json!({"platforms": [{}]}))
                .err()
                .as_deref(),
            Some("platforms must be a list of strings")
        );
        assert_eq!(
            read::<CreateRelease>(json!({"team": []})).err().as_deref(),
            Some("team must be a string")
        );
        assert_eq!(
            read::<CreateRelease>(json!({"metadata": 3}))
                .err()
                .as_deref(),
            Some("metadata must be an object")
        );
        assert_eq!(
            read::<MergeMetadata>(json!({"k": null})).err().as_deref(),
            Some("metadata value for \"k\" must be a string, number or boolean")
        );
        assert_eq!(
            read::<AddPackage>(json!({"rollback": "maybe"}))
                .err()
                .as_deref(),
            Some("rollback must be a boolean")
        );
    }

    #[test]
    fn success_is_whatever_orlo_takes_for_it() {
        let stop: StopPackage = read(json!({"other": 1})).expect("valid");
        assert_eq!(stop.success, Success(false));
        let stop: StopPackage = read(json!({"success": "True"})).expect("valid");
        assert_eq!(stop.success, Success(true));
    }
}
