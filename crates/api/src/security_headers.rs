//! Security headers on every answer, whichever face or layer produced it. Nothing shiplog
//! serves is meant to be framed, sniffed as another type, or to load content from elsewhere:
//! API answers get a Content-Security-Policy that allows nothing; HTML (the `/docs` page) one
//! that allows only its own scripts, styles, images and the API description; the dashboard's
//! pages bring their own (`ui::UI_POLICY`), which this keeps. Answers that set
//! no caching of their own get `Cache-Control: no-store`, so a token handed out by a login, a
//! token creation or Orlo's `/token`, or any answer read with a credential, is never kept by a
//! browser or a proxy; `/update` answers keep their `public, max-age=90`, and the reads tagged
//! with an `ETag` their `private, no-cache` (see `caching`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// For JSON, XML and text answers: load nothing, be framed nowhere.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// For HTML (Swagger UI at `/docs`): its own scripts and styles, images from itself and
/// `data:` URLs (its icons), and requests to itself (`/openapi.json`). No inline script; one
/// inline style, by its hash: the colours of the logo Swagger UI draws (an SVG with its own
/// `<style>`). Should an upgrade change it, the logo loses its colours and nothing else.
pub const HTML_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Adds the headers to every answer (see the module documentation).
pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // An answer that brings its own policy keeps it (the dashboard's pages: `ui::UI_POLICY`).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if is_html { HTML_POLICY } else { API_POLICY }),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
