//! Bileto's request bodies as types: each is the parse target of its endpoint (through the
//! domain's reader, which gives Bileto's error texts) and its schema in the API description.
//! The schemas are built from the domain's field table ([`TicketField::ALL`]), the same table
//! the reader checks keys against, so the description cannot drift from what is parsed.

use serde_json::Value;
use shiplog_domain::{NewComment, TicketField, TicketWrite};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::json::body_json;
use super::BiletoError;

/// Body of `POST /v1/tickets`: the shape GET returns. With `request_id` it updates that ticket
/// (only the keys given change); without, it creates one. `date`, `comments` and `search` are
/// ignored; any other key is refused.
#[derive(Debug)]
pub struct TicketBody(pub TicketWrite);

impl TicketBody {
    /// Reads a request body; `default_author` signs the automatic comment when `author` is
    /// not given.
    pub fn parse(body: &[u8], default_author: &str) -> Result<TicketBody, BiletoError> {
        Ok(TicketBody(TicketWrite::from_json(
            &body_json(body)?,
            default_author,
        )?))
    }
}

impl PartialSchema for TicketBody {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .property(
                "request_id",
                request_id("Present: update this ticket. Absent or null: create one."),
            )
            .property(
                "author",
                text(
                    "Who makes the change: signs the automatic comment (default: the token's user)",
                ),
            );
        for field in TicketField::ALL {
            object = object.property(field.name(), text(field.doc()));
        }
        for ignored in ["date", "comments", "search"] {
            object = object.property(
                ignored,
                ObjectBuilder::new().description(Some("Kept by the server: ignored when sent")),
            );
        }
        object.into()
    }
}

impl ToSchema for TicketBody {}

/// Body of `POST /v1/comment`.
#[derive(Debug)]
pub struct CommentBody(pub NewComment);

impl CommentBody {
    /// Reads a request body; `default_author` writes the comment when `author` is not given.
    pub fn parse(body: &[u8], default_author: &str) -> Result<CommentBody, BiletoError> {
        Ok(CommentBody(NewComment::from_json(
            &body_json(body)?,
            default_author,
        )?))
    }
}

impl PartialSchema for CommentBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .property("request_id", request_id("The ticket commented on"))
            .property(
                "text",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The comment; not blank"))
                    .examples([Value::from("This request is broken, please fix it.")]),
            )
            .property(
                "author",
                text("Who writes the comment (default: the token's user)"),
            )
            .property(
                "id",
                ObjectBuilder::new().description(Some("Kept by the server: ignored when sent")),
            )
            .property(
                "date",
                ObjectBuilder::new().description(Some("Kept by the server: ignored when sent")),
            )
            .required("request_id")
            .required("text")
            .into()
    }
}

impl ToSchema for CommentBody {}

fn request_id(description: &str) -> OneOfBuilder {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]+$")),
        )
        .description(Some(description))
}

/// A text field: a string, a number (taken as its text) or null (empty).
fn text(description: &str) -> OneOfBuilder {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(description))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every key the description lists is one the reader takes, and every ticket field the
    /// reader takes is described.
    #[test]
    fn the_ticket_schema_lists_exactly_the_keys_the_reader_takes() {
        let schema = serde_json::to_value(TicketBody::schema()).expect("serializes");
        let properties = schema["properties"].as_object().expect("an object schema");
        for key in properties.keys() {
            let mut body = json!({"request_id": 1});
            body[key] = json!("x");
            if key == "request_id" {
                body = json!({"request_id": 2});
            }
            let parsed = TicketBody::parse(body.to_string().as_bytes(), "bot");
            assert!(parsed.is_ok(), "{key} is described but refused: {parsed:?}");
        }
        assert_eq!(properties.len(), TicketField::ALL.len() + 5);
        let unknown = TicketBody::parse(br#"{"mood": "x"}"#, "bot");
        assert!(unknown.is_err(), "an undescribed key is refused");
    }

    #[test]
    fn the_comment_schema_lists_exactly_the_keys_the_reader_takes() {
        let schema = serde_json::to_value(CommentBody::schema()).expect("serializes");
        let properties = schema["properties"].as_object().expect("an object schema");
        let mut body = json!({});
        for key in properties.keys() {
            body[key] = json!("7");
        }
        assert!(CommentBody::parse(body.to_string().as_bytes(), "bot").is_ok());
        assert!(
            CommentBody::parse(br#"{"request_id": 1, "text": "x", "mood": 1}"#, "bot").is_err()
        );
    }
}
