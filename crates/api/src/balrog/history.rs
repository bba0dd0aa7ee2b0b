//! `/api/history/view|diff/{table}/{change_id}/{field}`: one field of one history record as
//! text, or its unified diff against the object's previous revision (docs/balrog.md);
//! and `/api/csrf_token`.

use actix_web::{get, route, web, HttpResponse};
use serde_json::Value;
use shiplog_domain::balrog::named_release::sorted;
use shiplog_domain::balrog::{Change, ChangeTable};

use super::error::{BalrogError, Problem};
use super::{csrf_header, read};
use crate::state::AppState;

/// A field as Balrog shows it: JSON documents indented by 2 with sorted keys, null as `NULL`,
/// booleans as Python prints them, everything else as its text.
fn format_value(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => {
            serde_json::to_string_pretty(&sorted(value)).unwrap_or_else(|_| value.to_string())
        }
        Value::Null => "NULL".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
    }
}

/// Python's `difflib.unified_diff(old.splitlines(), new.splitlines(), from, to, lineterm="")`
/// joined by newlines: nothing at all when the texts are equal.
fn unified_diff(old: &str, new: &str, from: &str, to: &str) -> String {
    if old.lines().eq(new.lines()) {
        return String::new();
    }
    // Whole lines on both sides, so no "no newline at end of file" markers appear.
    let with_newline = |text: &str| -> String { text.lines().flat_map(|l| [l, "\n"]).collect() };
    let (old, new) = (with_newline(old), with_newline(new));
    let diff = similar::TextDiff::from_lines(&old, &new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(from, to)
        .to_string();
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// Looks up the record and checks the field, in Balrog's order; 400s throughout.
async fn record(
    state: &AppState,
    table: &str,
    change_id: &str,
    field: &str,
) -> Result<Change, BalrogError> {
    let table = ChangeTable::parse(table).ok_or_else(|| BalrogError::bad_request("Bad table"))?;
    let change_id: i64 = change_id
        .parse()
        .map_err(|_| BalrogError::bad_request("Bad change_id"))?;
    let change = read(state, move |store| store.find_change(table, change_id))
        .await?
        .ok_or_else(|| BalrogError::bad_request("Bad change_id"))?;
    if change.field(field).is_none() {
        return Err(BalrogError::bad_request("Bad field"));
    }
    Ok(change)
}

/// One field of one history record, as text (`data` is indented JSON).
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rule` or `release` (plurals accepted)"),
        ("change_id" = i64, Path, description = "The history record"),
        ("field" = String, Path, description = "A column of the table, or change_id, changed_by, timestamp, data_version"),
    ),
    responses(
        (status = 200, description = "The value, as text/plain", body = String, content_type = "text/plain"),
        (status = 400, description = "Unknown table, change_id or field", body = Problem),
    )
)]
#[get("/history/view/{table}/{change_id}/{field}")]
pub async fn view_field(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, change_id, field) = path.into_inner();
    let change = record(&state, &table, &change_id, &field).await?;
    Ok(text(format_value(
        &change.field(&field).unwrap_or(Value::Null),
    )))
}

/// The unified diff of one field between the object's previous revision and this record,
/// headed `--- Data Version <previous>` / `+++ Data Version <this>`.
#[utoipa::path(
    tag = "balrog",
    params(
        ("table" = String, Path, description = "`rule` or `release` (plurals accepted)"),
        ("change_id" = i64, Path, description = "The history record"),
        ("field" = String, Path, description = "A column of the table"),
    ),
    responses(
        (status = 200, description = "The diff, as text/plain (empty when nothing changed)", body = String, content_type = "text/plain"),
        (status = 400, description = "Unknown table, change_id or field", body = Problem),
    )
)]
#[get("/history/diff/{table}/{change_id}/{field}")]
pub async fn diff_field(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, BalrogError> {
    let (table, change_id, field) = path.into_inner();
    let change = record(&state, &table, &change_id, &field).await?;
    let lookup = change.clone();
    let previous = read(&state, move |store| store.previous_change(&lookup)).await?;
    let version = |c: &Change| {
        c.data_version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "None".to_owned())
    };
    let (old, old_version) = match &previous {
        Some(previous) => (
            format_value(&previous.field(&field).unwrap_or(Value::Null)),
            version(previous),
        ),
        None => (String::new(), String::new()),
    };
    let new = format_value(&change.field(&field).unwrap_or(Value::Null));
    Ok(text(unified_diff(
        &old,
        &new,
        &format!("Data Version {old_version}"),
        &format!("Data Version {}", version(&change)),
    )))
}

/// An empty answer with an `X-CSRF-Token` header, as Balrog's. shiplog does not check CSRF
/// tokens (writes carry bearer credentials) and ignores any `csrf_token` sent.
#[utoipa::path(
    get,
    tag = "balrog",
    responses((status = 200, description = "Empty; the token is in `X-CSRF-Token`"))
)]
#[route("/csrf_token", method = "GET", method = "HEAD")]
pub async fn csrf_token() -> HttpResponse {
    HttpResponse::Ok().insert_header(csrf_header()).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_balrog_prints_them() {
        assert_eq!(
            format_value(&json!({"b": 1, "a": [true]})),
            "{\n  \"a\": [\n    true\n  ],\n  \"b\": 1\n}"
        );
        assert_eq!(format_value(&Value::Null), "NULL");
        assert_eq!(format_value(&json!(false)), "False");
        assert_eq!(format_value(&json!(42)), "42");
        assert_eq!(format_value(&json!("release")), "release");
    }

    #[test]
    fn diffs_match_pythons_difflib() {
        // Expected texts come from difflib.unified_diff(..., lineterm="") joined with "\n".
        let old = "{\n  \"a\": 1,\n  \"b\": 2\n}";
        let new = "{\n  \"a\": 1,\n  \"b\": 3\n}";
        assert_eq!(
            unified_diff(old, new, "Data Version 1", "Data Version 2"),
            "--- Data Version 1\n+++ Data Version 2\n@@ -1,4 +1,4 @@\n {\n   \"a\": 1,\n-  \"b\": 2\n+  \"b\": 3\n }"
        );
        assert_eq!(
            unified_diff("", "x", "Data Version ", "Data Version 1"),
            "--- Data Version \n+++ Data Version 1\n@@ -0,0 +1 @@\n+x"
        );
        assert_eq!(unified_diff("same", "same", "a", "b"), "");
    }
}
