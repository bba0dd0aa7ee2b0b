//! Balrog's request bodies as types: one struct per body, both the parse target (filled from
//! the fields `body::fields` reads out of JSON, URL-encoded or multipart bodies) and the schema
//! in the API description. Form values are strings, so the field types take the string forms
//! of numbers and booleans, and Balrog's JSON-encoded documents ([`JsonDocument`]) also come
//! as JSON values directly; their errors are Balrog's texts.

use std::borrow::Cow;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use shiplog_domain::balrog::named_release::parse_schema_version;
use shiplog_domain::balrog::rule::FieldKind;
use shiplog_domain::balrog::{RuleChanges, RuleField, RuleFields};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
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

impl ToSchema for Text {
    // Orlo's body types have a `Text` too; the description holds one schema per name.
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("BalrogText")
    }
}

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

impl ToSchema for Flag {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("BalrogFlag")
    }
}

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

/// A JSON-encoded list of strings (`copyTo`, `alias`); a single string is a list of one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read(Value::deserialize(d)?, body::string_list).map(NameList)
    }
}

impl PartialSchema for NameList {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ArrayBuilder::new()
                    .items(string())
                    .description(Some("The names as a JSON list")),
            )
            .item(string().description(Some("The list JSON-encoded, or a single name")))
            .description(Some("Release names, as a JSON list or JSON-encoded text"))
            .into()
    }
}

impl ToSchema for NameList {}

/// A blob's `schema_version`: an integer, or its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersion(pub Option<i64>);

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_schema_version(&Value::deserialize(d)?)
            .map(SchemaVersion)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

impl PartialSchema for SchemaVersion {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .item(string().pattern(Some("^\\s*[0-9]+\\s*$")))
            .description(Some(
                "The blob's schema version; taken from `data` when not given",
            ))
            .into()
    }
}

impl ToSchema for SchemaVersion {}

/// Body of `PUT /api/releases/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReleasePut {
    /// Required.
    pub product: Option<Text>,
    /// Required: the whole release blob.
    pub blob: Option<JsonDocument>,
    /// Required when the release exists.
    pub data_version: Option<DataVersion>,
}

/// Body of `POST /api/releases/{name}` (each top-level key of `data` replaces the blob's) and,
/// with `alias`, of the locale `PUT` (`data` replaces one locale entry).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReleaseEditBody {
    /// Required.
    pub product: Option<Text>,
    /// Required: a JSON object.
    pub data: Option<JsonDocument>,
    /// Required when the release exists.
    pub data_version: Option<DataVersion>,
    /// Required unless `data` holds it.
    pub schema_version: Option<SchemaVersion>,
    /// Taken from `data` when not given.
    #[serde(rename = "hashFunction")]
    pub hash_function: Option<Text>,
    /// Further releases the same edit is made to.
    #[serde(rename = "copyTo")]
    pub copy_to: Option<NameList>,
    /// Locale `PUT` only: platforms to add as aliases of this one.
    pub alias: Option<NameList>,
}

/// Body of `POST /api/rules/{id}/revisions` and `POST /api/releases/{name}/revisions`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevertBody {
    /// Required: the history row (`change_id` of a revision) to restore.
    pub change_id: Option<ChangeId>,
}

/// A history row's id, as an integer or its text; `0` and blank are no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeId(pub Option<i64>);

impl<'de> Deserialize<'de> for ChangeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read(Value::deserialize(d)?, body::integer)
            .map(|id: Option<i64>| ChangeId(id.filter(|id| *id != 0)))
    }
}

impl PartialSchema for ChangeId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .item(string().pattern(Some("^\\s*[0-9]+\\s*$")))
            .description(Some("A revision's change_id"))
            .into()
    }
}

impl ToSchema for ChangeId {}

/// Body of `POST /api/rules`: rule columns by Balrog's names, as JSON or a form. The domain's
/// [`RuleChanges::parse`] reads it; the schema is built from the same column table
/// ([`RuleField::ALL`] and each column's [`FieldKind`]), so the two cannot drift apart.
#[derive(Debug)]
pub struct NewRule(pub RuleFields);

impl TryFrom<Fields> for NewRule {
    type Error = BalrogError;

    fn try_from(fields: Fields) -> Result<Self, BalrogError> {
        Ok(NewRule(RuleFields::create(&RuleChanges::parse(&fields)?)?))
    }
}

impl PartialSchema for NewRule {
    fn schema() -> RefOr<Schema> {
        let mut object = rule_columns(ObjectBuilder::new());
        for field in RuleField::ALL.into_iter().filter(|f| f.is_required()) {
            object = object.required(field.name());
        }
        object
            .description(Some("A new rule's columns; others are null"))
            .into()
    }
}

impl ToSchema for NewRule {}

/// Body of `POST`/`PUT /api/rules/{id_or_alias}`: the `data_version` the rule was read at and
/// the columns that change (others stay as they are).
#[derive(Debug)]
pub struct RuleUpdate {
    pub data_version: i64,
    pub changes: RuleChanges,
}

impl TryFrom<Fields> for RuleUpdate {
    type Error = BalrogError;

    fn try_from(fields: Fields) -> Result<Self, BalrogError> {
        let data_version = body::data_version(&fields)?
            .ok_or_else(|| BalrogError::bad_request("'data_version' is a required property"))?;
        Ok(RuleUpdate {
            data_version,
            changes: RuleChanges::parse(&fields)?,
        })
    }
}

impl PartialSchema for RuleUpdate {
    fn schema() -> RefOr<Schema> {
        rule_columns(ObjectBuilder::new())
            .property("data_version", DataVersion::schema())
            .required("data_version")
            .description(Some("The columns to change, with the rule's data_version"))
            .into()
    }
}

impl ToSchema for RuleUpdate {}

/// One property per rule column, typed by how [`RuleChanges::parse`] reads its kind.
fn rule_columns(mut object: ObjectBuilder) -> ObjectBuilder {
    for field in RuleField::ALL {
        let schema: RefOr<Schema> = match field.kind() {
            FieldKind::Text if field == RuleField::StickyBy => OneOfBuilder::new()
                .item(string().pattern(Some("^(query|header):.+$")))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some(
                    "shiplog extension: `query:NAME` or `header:NAME`, where the stable client \
                     identifier comes from that makes the backgroundRate roll sticky per client \
                     (a hash of rule_id and the identifier); null or a request without it: \
                     Balrog's random roll",
                ))
                .into(),
            FieldKind::Text => OneOfBuilder::new()
                .item(string())
                .item(ObjectBuilder::new().schema_type(Type::Number))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some(
                    "Text, trimmed; blank or null is null (matches every client)",
                ))
                .into(),
            FieldKind::List => OneOfBuilder::new()
                .item(string())
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some(
                    "A comma list (whitespace is removed); blank or null is null",
                ))
                .into(),
            FieldKind::Integer => OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Integer))
                .item(string().pattern(Some("^\\s*-?[0-9]+\\s*$")))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some("An integer, or its text"))
                .into(),
            FieldKind::Boolean => OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Boolean))
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0))
                        .maximum(Some(1)),
                )
                .item(string())
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some("A boolean, 0/1, or its text"))
                .into(),
            FieldKind::UpdateType => OneOfBuilder::new()
                .item(string().enum_values(Some(["minor", "major"])))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .into(),
        };
        object = object.property(field.name(), schema);
    }
    object
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

impl Field for NameList {
    type Value = Vec<String>;
    fn into_value(self) -> Option<Vec<String>> {
        Some(self.0)
    }
}

impl Field for SchemaVersion {
    type Value = i64;
    fn into_value(self) -> Option<i64> {
        self.0
    }
}

impl Field for ChangeId {
    type Value = i64;
    fn into_value(self) -> Option<i64> {
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

    #[test]
    fn rule_schemas_list_exactly_the_columns_the_reader_takes() {
        let schema = serde_json::to_value(NewRule::schema()).expect("serializes");
        let properties = schema["properties"].as_object().expect("an object schema");
        let columns: Vec<&str> = RuleField::ALL.iter().map(|f| f.name()).collect();
        let described: Vec<&str> = properties.keys().map(String::as_str).collect();
        assert_eq!(described.len(), columns.len());
        for column in &columns {
            assert!(described.contains(column), "{column} is not described");
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect("required columns")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            required,
            ["priority", "mapping", "backgroundRate", "update_type"]
        );
        // What the schema says a create needs is what the reader takes.
        let rule = NewRule::try_from(fields(json!({
            "priority": "90", "mapping": "Firefox-1", "backgroundRate": 100,
            "update_type": "minor", "product": "Firefox", "locale": "de, fr", "mig64": "true"
        })))
        .expect("a valid rule");
        assert_eq!(rule.0.locale.as_deref(), Some("de,fr"));
        let update = serde_json::to_value(RuleUpdate::schema()).expect("serializes");
        assert_eq!(update["required"], json!(["data_version"]));
        let missing = RuleUpdate::try_from(fields(json!({"priority": 5}))).expect_err("refused");
        assert_eq!(missing.detail(), "'data_version' is a required property");
    }

    #[test]
    fn release_edit_bodies_read_balrogs_encodings() {
        let edit: ReleaseEditBody = parse(fields(json!({
            "product": "Firefox", "data": "{\"a\": 1}", "data_version": "2",
            "schema_version": "4", "hashFunction": "sha512", "copyTo": "[\"b\"]", "alias": "\"c\""
        })))
        .expect("valid");
        assert_eq!(value(edit.schema_version), Some(4));
        assert_eq!(value(edit.copy_to), Some(vec!["b".to_owned()]));
        assert_eq!(value(edit.alias), Some(vec!["c".to_owned()]));
        assert_eq!(value(edit.data), Some(json!({"a": 1})));
        assert_eq!(
            error::<ReleaseEditBody>(json!({"schema_version": "x"})),
            "schema_version: must be an integer"
        );
        assert_eq!(
            error::<ReleaseEditBody>(json!({"copyTo": "{}"})),
            "copyTo must be a JSON list of strings"
        );
        let revert: RevertBody = parse(fields(json!({"change_id": "0"}))).expect("valid");
        assert_eq!(value(revert.change_id), None);
    }
}
