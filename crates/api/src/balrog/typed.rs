//! Balrog's request bodies as types: one struct per body, both the parse target (filled from
//! the fields `body::fields` reads out of JSON, URL-encoded or multipart bodies) and the schema
//! in the API description. Form values are strings, so the field types take the string forms
//! of numbers and booleans, and Balrog's JSON-encoded documents ([`JsonDocument`]) also come
//! as JSON values directly; their errors are Balrog's texts.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::body::{self, Fields};
use super::error::BalrogError;

/// Where an error text names its field.
const FIELD: &str = "{field}";

/// Converts a body's fields into `T`; a field of the wrong form is a 400 naming it.
pub fn parse<T: DeserializeOwned>(fields: Fields) -> Result<T, BalrogError> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|err| {
        let field = err.path().to_string();
        BalrogError::bad_request(err.into_inner().to_string().replace(FIELD, &field))
    })
}

/// Runs one of `body`'s field readers over `value` as the only field of a body.
fn read<T, D: serde::de::Error>(
    value: Value,
    reader: impl Fn(&Fields, &str) -> Result<T, BalrogError>,
) -> Result<T, D> {
    let fields: Fields = [(FIELD.to_owned(), value)].into_iter().collect();
    reader(&fields, FIELD).map_err(|e| D::custom(e.detail()))
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A text field, trimmed; a number is taken as its text. Blank is no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read(Value::deserialize(d)?, body::text).map(Text)
    }
}

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(string())
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "Text (trimmed; blank is no value); a number is taken as its text",
            ))
            .into()
    }
}

impl ToSchema for Text {}

/// A `data_version`: an integer of at least 1, or its text. Blank is no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataVersion(pub Option<i64>);

impl<'de> Deserialize<'de> for DataVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Balrog's texts for a data_version name it, whatever the field.
        let fields: Fields = [("data_version".to_owned(), Value::deserialize(d)?)]
            .into_iter()
            .collect();
        body::data_version(&fields)
            .map(DataVersion)
            .map_err(|e| D::Error::custom(e.detail()))
    }
}

impl PartialSchema for DataVersion {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .item(string().pattern(Some("^\\s*[0-9]*\\s*$")))
            .description(Some(
                "The data_version the object was read at (an integer ≥ 1, or its text)",
            ))
            .into()
    }
}

impl ToSchema for DataVersion {}

/// A boolean: JSON booleans, `0`/`1`, or `true`/`false`/`1`/`0` as text (blank is false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read(Value::deserialize(d)?, body::boolean).map(Flag)
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(1)),
            )
            .item(string().pattern(Some(
                "^\\s*([tT][rR][uU][eE]|[fF][aA][lL][sS][eE]|[01])?\\s*$",
            )))
            .description(Some("A boolean, 0/1, or true/false/1/0 as text"))
            .into()
    }
}

impl ToSchema for Flag {}

/// A document Balrog takes as a JSON-encoded string (`blob`, `data`, `options`); a JSON value
/// given directly is taken as it is. Blank is no value.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonDocument(pub Option<Value>);

impl<'de> Deserialize<'de> for JsonDocument {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read(Value::deserialize(d)?, body::json_document).map(JsonDocument)
    }
}

impl PartialSchema for JsonDocument {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(string().description(Some("The document, JSON-encoded")))
            .item(ObjectBuilder::new().schema_type(Type::Object))
            .description(Some(
                "A JSON document: JSON-encoded text, or the JSON object itself",
            ))
            .into()
    }
}

impl ToSchema for JsonDocument {}

/// Body of `POST /api/emergency_shutoff`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewShutoff {
    /// Required.
    pub product: Option<Text>,
    /// Required.
    pub channel: Option<Text>,
    pub comment: Option<Text>,
}

/// Body of a permission grant or change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PermissionWrite {
    /// The permission's options, such as `{"products": ["Firefox"]}`; null for none.
    pub options: Option<JsonDocument>,
    /// Required to change a permission held (not to grant a new one).
    pub data_version: Option<DataVersion>,
}

/// Body of `PUT /api/releases/{name}/read_only`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReadOnlyWrite {
    /// Required.
    pub read_only: Option<Flag>,
    /// Required.
    pub data_version: Option<DataVersion>,
}

/// Body of `POST /api/releases`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewNamedRelease {
    /// Required: the release name, also the blob's `name`.
    pub name: Option<Text>,
    /// Required.
    pub product: Option<Text>,
    /// Required: the release blob.
    pub blob: Option<JsonDocument>,
}

/// A field type whose value may be absent (blank text is no value).
pub trait Field {
    type Value;
    fn into_value(self) -> Option<Self::Value>;
}

/// The value of an optional field, flattened (missing, null and blank are all `None`).
pub fn value<F: Field>(field: Option<F>) -> Option<F::Value> {
    field.and_then(Field::into_value)
}

impl Field for Text {
    type Value = String;
    fn into_value(self) -> Option<String> {
        self.0
    }
}

impl Field for DataVersion {
    type Value = i64;
    fn into_value(self) -> Option<i64> {
        self.0
    }
}

impl Field for Flag {
    type Value = bool;
    fn into_value(self) -> Option<bool> {
        self.0
    }
}

impl Field for JsonDocument {
    type Value = Value;
    fn into_value(self) -> Option<Value> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        value.as_object().cloned().unwrap_or_default()
    }

    fn error<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> String {
        parse::<T>(fields(value))
            .expect_err("refused")
            .detail()
            .to_owned()
    }

    #[test]
    fn form_strings_are_read_as_balrog_reads_them() {
        let write: ReadOnlyWrite =
            parse(fields(json!({"read_only": "true", "data_version": " 3 "}))).expect("valid");
        assert_eq!(value(write.read_only), Some(true));
        assert_eq!(value(write.data_version), Some(3));
        let grant: PermissionWrite = parse(fields(
            json!({"options": "{\"products\": [\"a\"]}", "data_version": ""}),
        ))
        .expect("valid");
        assert_eq!(value(grant.options), Some(json!({"products": ["a"]})));
        assert_eq!(value(grant.data_version), None);
        let shutoff: NewShutoff =
            parse(fields(json!({"product": "  Firefox ", "channel": 5}))).expect("valid");
        assert_eq!(value(shutoff.product).as_deref(), Some("Firefox"));
        assert_eq!(value(shutoff.channel).as_deref(), Some("5"));
    }

    #[test]
    fn a_bad_field_is_refused_in_balrogs_words() {
        assert_eq!(
            error::<ReadOnlyWrite>(json!({"data_version": "x"})),
            "Invalid input for data_version. Not an integer."
        );
        assert_eq!(
            error::<ReadOnlyWrite>(json!({"data_version": 0})),
            "data_version field value should be an integer >= 1"
        );
        assert_eq!(
            error::<ReadOnlyWrite>(json!({"read_only": "maybe"})),
            "read_only must be a boolean"
        );
        assert_eq!(
            error::<NewShutoff>(json!({"comment": []})),
            "comment must be a string"
        );
        assert!(
            error::<NewNamedRelease>(json!({"blob": "{"})).starts_with("blob: Not a valid json.")
        );
    }
}
