//! Reading Balrog request bodies: JSON objects, URL-encoded forms and multipart forms (the
//! admin API took all three), as one map of field names to JSON values. Form values are
//! strings; the field readers accept the string forms of numbers and booleans, and the fields
//! Balrog takes as JSON-encoded strings (`blob`, `data`, `copyTo`, `alias`) may also be given as
//! JSON values directly.

use actix_web::{web, HttpMessage, HttpRequest};
use serde_json::{Map, Value};

use super::error::BalrogError;
use actix_web::http::StatusCode;

/// A request body's fields.
pub type Fields = Map<String, Value>;

/// What a request says its body is: the media type, and the whole header for the multipart
/// boundary. Taken from the request so the body can be parsed away from it (on the blocking pool).
#[derive(Debug, Clone)]
pub struct BodyType {
    mime: String,
    header: Option<String>,
}

impl BodyType {
    pub fn of(req: &HttpRequest) -> BodyType {
        BodyType {
            mime: req.content_type().to_ascii_lowercase(),
            header: req
                .headers()
                .get(actix_web::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The fields of a request body; an empty body has none.
pub fn fields(req: &HttpRequest, body: &[u8]) -> Result<Fields, BalrogError> {
    fields_of(&BodyType::of(req), body)
}

/// The fields of a body of type `kind`; an empty body has none.
pub fn fields_of(kind: &BodyType, body: &[u8]) -> Result<Fields, BalrogError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields::new());
    }
    let mime = kind.mime.as_str();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        return match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(Value::Null) => Ok(Fields::new()),
            Ok(_) => Err(BalrogError::bad_request(
                "The request body must be a JSON object",
            )),
            Err(e) => Err(BalrogError::bad_request(format!(
                "The request body is not valid JSON: {e}"
            ))),
        };
    }
    if mime == "application/x-www-form-urlencoded" {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(
            std::str::from_utf8(body)
                .map_err(|_| BalrogError::bad_request("The form is not valid UTF-8"))?,
        )
        .map_err(|_| BalrogError::bad_request("The form could not be decoded"))?;
        return Ok(pairs
            .into_inner()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    if mime == "multipart/form-data" {
        let boundary = kind
            .header
            .as_deref()
            .and_then(multipart_boundary)
            .ok_or_else(|| BalrogError::bad_request("The multipart form has no boundary"))?;
        return multipart_fields(body, &boundary);
    }
    Err(BalrogError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Invalid Content-type ({mime}), expected JSON or form data"),
    ))
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The text fields of a `multipart/form-data` body (RFC 7578). Parts without a name are skipped.
fn multipart_fields(body: &[u8], boundary: &str) -> Result<Fields, BalrogError> {
    let malformed = || BalrogError::bad_request("The multipart form is malformed");
    let delimiter = format!("--{boundary}");
    let mut fields = Fields::new();
    let mut rest =
        &body[find(body, delimiter.as_bytes()).ok_or_else(malformed)? + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or_else(malformed)?;
        let headers_end = find(rest, b"\r\n\r\n").ok_or_else(malformed)?;
        let headers = std::str::from_utf8(&rest[..headers_end]).map_err(|_| malformed())?;
        let content = &rest[headers_end + 4..];
        let next = find(content, format!("\r\n{delimiter}").as_bytes()).ok_or_else(malformed)?;
        let value = std::str::from_utf8(&content[..next])
            .map_err(|_| BalrogError::bad_request("Form fields must be UTF-8 text"))?;
        if let Some(name) = disposition_name(headers) {
            fields.insert(name, Value::String(value.to_owned()));
        }
        rest = &content[next + 2 + delimiter.len()..];
    }
}

fn disposition_name(headers: &str) -> Option<String> {
    let line = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').skip(1).find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// An integer field (`data_version`, `change_id`, …): a JSON integer or a string of one.
/// Missing, null and `""` are `None`.
pub fn integer(fields: &Fields, key: &str) -> Result<Option<i64>, BalrogError> {
    let invalid = || BalrogError::bad_request(format!("Invalid input for {key}. Not an integer."));
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// A `data_version` (at least 1), when present.
pub fn data_version(fields: &Fields) -> Result<Option<i64>, BalrogError> {
    match integer(fields, "data_version")? {
        Some(n) if n < 1 => Err(BalrogError::bad_request(
            "data_version field value should be an integer >= 1",
        )),
        other => Ok(other),
    }
}

/// A text field, trimmed; missing, null and blank are `None`.
pub fn text(fields: &Fields, key: &str) -> Result<Option<String>, BalrogError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(BalrogError::bad_request(format!("{key} must be a string"))),
    }
}

/// A boolean field: JSON booleans, or `true`/`false`/`1`/`0` as text.
pub fn boolean(fields: &Fields, key: &str) -> Result<Option<bool>, BalrogError> {
    let invalid = || BalrogError::bad_request(format!("{key} must be a boolean"));
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(invalid()),
        },
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" | "" => Ok(Some(false)),
            _ => Err(invalid()),
        },
        Some(_) => Err(invalid()),
    }
}

/// A field Balrog takes as a JSON-encoded string (`blob`, `data`, `copyTo`, `alias`): the
/// decoded document. A JSON value given directly is taken as it is. Missing, null and `""` are
/// `None`.
pub fn json_document(fields: &Fields, key: &str) -> Result<Option<Value>, BalrogError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|e| BalrogError::bad_request(format!("{key}: Not a valid json. Error: {e}."))),
        Some(other) => Ok(Some(other.clone())),
    }
}

/// A JSON-encoded list of strings (`copyTo`, `alias`); a single string is a list of one.
pub fn string_list(fields: &Fields, key: &str) -> Result<Vec<String>, BalrogError> {
    let invalid = || BalrogError::bad_request(format!("{key} must be a JSON list of strings"));
    match json_document(fields, key)? {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(invalid()),
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    fn parse(content_type: &str, body: &str) -> Result<Fields, BalrogError> {
        let req = TestRequest::default()
            .insert_header(("Content-Type", content_type))
            .to_http_request();
        fields(&req, body.as_bytes())
    }

    #[test]
    fn json_forms_and_multipart_bodies_give_the_same_fields() {
        let from_json =
            parse("application/json", r#"{"priority": "1", "mapping": "a"}"#).expect("json");
        let from_form =
            parse("application/x-www-form-urlencoded", "priority=1&mapping=a").expect("form");
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"priority\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"mapping\"\r\n\r\na\r\n--XyZ--\r\n";
        let from_multipart =
            parse("multipart/form-data; boundary=XyZ", multipart).expect("multipart");
        assert_eq!(from_json, from_form);
        assert_eq!(from_form, from_multipart);
        assert!(parse("application/json", "").expect("empty").is_empty());
        assert!(parse("application/json", "[1]").is_err());
        assert!(parse("application/json", "{").is_err());
        assert!(parse("multipart/form-data; boundary=XyZ", "--XyZ\r\nbroken").is_err());
        assert_eq!(
            parse("text/plain", "x")
                .expect_err("unsupported")
                .to_string(),
            "415 Invalid Content-type (text/plain), expected JSON or form data"
        );
    }

    #[test]
    fn fields_read_balrogs_encodings() {
        let fields = parse(
            "application/json",
            r#"{"data_version": "3", "blob": "{\"name\": \"r\"}", "data": {"a": 1}, "copyTo": "[\"x\", \"y\"]", "alias": "[]", "read_only": "true", "bad": "{"}"#,
        )
        .expect("json");
        assert_eq!(data_version(&fields).expect("int"), Some(3));
        assert_eq!(
            json_document(&fields, "blob").expect("doc"),
            Some(json!({"name": "r"}))
        );
        assert_eq!(
            json_document(&fields, "data").expect("doc"),
            Some(json!({"a": 1}))
        );
        assert_eq!(string_list(&fields, "copyTo").expect("list"), ["x", "y"]);
        assert!(string_list(&fields, "alias").expect("list").is_empty());
        assert_eq!(boolean(&fields, "read_only").expect("bool"), Some(true));
        assert!(json_document(&fields, "bad").is_err());
        assert_eq!(json_document(&fields, "missing").expect("none"), None);
        let zero = parse("application/json", r#"{"data_version": 0}"#).expect("json");
        assert!(data_version(&zero).is_err());
    }

    proptest::proptest! {
        /// Any body, in any of the three encodings, is fields or a 4xx, never a panic.
        #[test]
        fn any_body_is_fields_or_a_4xx(body in "\\PC{0,80}|--XyZ(\r\n|[a-z=\":; -]){0,40}") {
            for content_type in [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=XyZ",
            ] {
                let _ = parse(content_type, &body);
            }
        }
    }
}
