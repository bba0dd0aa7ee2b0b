//! The input policy at the edge, for what every request carries before any handler reads it:
//! its path segments and query parameters. A control character there (a NUL above all, which
//! PostgreSQL refuses in any text it is asked to compare) is a 400 in the face's error body,
//! naming the parameter, before a handler could pass it to the database. Bodies are checked
//! by the domain's constructors (`shiplog_domain::input`).

use std::borrow::Cow;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use shiplog_domain::input::{self, TextKind};

use crate::face::Face;
use crate::routes::RouteMethods;

/// Refuses a request whose path or query holds a control character, in `F`'s error body.
pub async fn check_url<F: Face>(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let routes = req.app_data::<web::Data<RouteMethods>>().cloned();
    let param = |index: usize| {
        routes
            .as_ref()
            .and_then(|r| r.param_at(req.path(), index))
            .map(str::to_owned)
    };
    if let Some(message) = url_problem_naming(req.path(), req.query_string(), param) {
        let response = F::request_error(StatusCode::BAD_REQUEST, &message);
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Why a URL is refused: the first path segment or query parameter that breaks the policy.
/// Path segments may hold no control character; query values are read as free text (tabs and
/// line breaks pass, as a search may hold them). Values are never echoed (a query parameter
/// may be a credential).
pub fn url_problem(path: &str, query: &str) -> Option<String> {
    url_problem_naming(path, query, |_| None)
}

/// [`url_problem`], naming a refused path segment by `param` (its index among the segments
/// after the leading `/`) when the route has a name for it, else `path`.
fn url_problem_naming(
    path: &str,
    query: &str,
    param: impl Fn(usize) -> Option<String>,
) -> Option<String> {
    if let Some((index, segment)) = path
        .trim_matches('/')
        .split('/')
        .map(percent_decoded)
        .enumerate()
        .find(|(_, segment)| segment.chars().any(char::is_control))
    {
        let name = param(index).unwrap_or_else(|| "path".to_owned());
        let reason = if segment.contains('\0') {
            "NUL characters"
        } else {
            "control characters"
        };
        return Some(format!("{name}: must not contain {reason}"));
    }
    if query.is_empty() {
        return None;
    }
    // A query that does not decode is left to the handler that reads it.
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    pairs.iter().find_map(|(name, value)| {
        if name.chars().any(char::is_control) {
            return Some("a query parameter name must not contain control characters".to_owned());
        }
        input::problem(value, TextKind::Text).map(|reason| format!("{name}: {reason}"))
    })
}

/// A path segment with its `%XX` escapes decoded (invalid UTF-8 replaced, which is no
/// control character). Borrowed when it has none, as nearly every segment has.
fn percent_decoded(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_paths_and_queries_are_named() {
        assert_eq!(url_problem("/releases", "platform=a&user=b"), None);
        assert_eq!(url_problem("/a%20b/%C3%A9", "q=line%0Anext%09tab"), None);
        assert_eq!(
            url_problem("/info/packages", "limit=1&platform=a%00b").as_deref(),
            Some("platform: must not contain NUL characters")
        );
        assert_eq!(
            url_problem("/info/packages", "platform=a%1Bb").as_deref(),
            Some("platform: must not contain control characters (found U+001B)")
        );
        assert_eq!(
            url_problem("/api/rules/a%00b", "").as_deref(),
            Some("path: must not contain NUL characters")
        );
        assert_eq!(
            url_problem("/api/rules/a%7Fb", "").as_deref(),
            Some("path: must not contain control characters")
        );
        assert!(url_problem("/", "a%00=1").is_some());
    }

    #[test]
    fn a_path_segment_is_named_by_its_route() {
        let named = |index: usize| (index == 2).then(|| "id_or_alias".to_owned());
        assert_eq!(
            url_problem_naming("/api/rules/a%00b", "", named).as_deref(),
            Some("id_or_alias: must not contain NUL characters")
        );
    }

    #[test]
    fn values_are_not_echoed() {
        let message = url_problem("/v1/tickets", "token=secret%00").expect("refused");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn malformed_escapes_are_kept_as_they_are() {
        assert_eq!(percent_decoded("a%zz%4"), "a%zz%4");
        assert_eq!(percent_decoded("%41%00"), "A\0");
    }
}
