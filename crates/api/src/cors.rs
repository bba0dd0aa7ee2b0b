//! Cross-origin access for browser clients (Balrog's admin UI, dashboards) from the origins an
//! operator lists with `--cors-origin`. None by default: browsers then keep the same-origin
//! policy and no answer carries an `Access-Control-*` header.
//!
//! Credentials travel in headers (`Authorization`, `X-Auth-Token`), never in cookies, so
//! `Access-Control-Allow-Credentials` is never sent. A request from an origin not listed is
//! answered as usual, without the headers (the browser then hides the answer from the page);
//! only its preflight is refused, with a 400.

use actix_cors::Cors;
use actix_web::http::{header, Method, Uri};

/// What a browser may send: every method the faces answer, and the headers their clients set
/// (credentials, JSON bodies, Balrog's CSRF token and optimistic locking, conditional reads).
const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
const REQUEST_HEADERS: [&str; 9] = [
    "authorization",
    "content-type",
    "accept",
    "x-csrf-token",
    "if-match",
    "if-none-match",
    "x-auth-token",
    "x-request-id",
    "x-data-version",
];
/// What a page may read beyond the CORS-safelisted headers: versions for the next write or
/// conditional read, paging, where a new object lives, when to retry, the request id.
const EXPOSED_HEADERS: [&str; 8] = [
    "etag",
    "x-data-version",
    "x-csrf-token",
    "x-total-count",
    "link",
    "location",
    "retry-after",
    "x-request-id",
];
/// How long a browser may keep a preflight's answer (browsers cap it at 2 hours or less).
const MAX_AGE_SECONDS: usize = 3600;

/// `text` as an origin a browser sends (`https://admin.example.com`, `http://localhost:9000`),
/// lower-cased, or `*` for any; an error saying what is wrong otherwise.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_owned());
    }
    let uri: Uri = text
        .parse()
        .map_err(|_| format!("CORS origin {text:?} is not a URL like https://host[:port]"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    // `http` reads `https://host` with the path `/`; a trailing `/` in the text is refused below.
    let bare = uri
        .path_and_query()
        .is_none_or(|p| matches!(p.as_str(), "" | "/"));
    let no_user = uri.authority().is_some_and(|a| !a.as_str().contains('@'));
    if !scheme_ok || !bare || !no_user || text.ends_with('/') {
        return Err(format!(
            "CORS origin {text:?} must be scheme://host[:port] (http or https, no path, no \
             trailing slash), or * for any origin"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// The CORS layer for `origins` (already checked by [`parse_origin`]); `*` allows any.
pub(crate) fn layer(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(METHODS)
        .allowed_headers(REQUEST_HEADERS.map(header::HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(header::HeaderName::from_static))
        .max_age(MAX_AGE_SECONDS)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            parse_origin("https://Admin.Example.com").as_deref(),
            Ok("https://admin.example.com")
        );
        assert_eq!(
            parse_origin("http://localhost:9000").as_deref(),
            Ok("http://localhost:9000")
        );
        assert_eq!(parse_origin("*").as_deref(), Ok("*"));
        for bad in [
            "admin.example.com",
            "https://admin.example.com/",
            "https://admin.example.com/ui",
            "ftp://admin.example.com",
            "https://u:p@admin.example.com",
            "",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} is refused");
        }
    }
}
