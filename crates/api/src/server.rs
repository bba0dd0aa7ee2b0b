//! Builds and starts the HTTP service: every face, the API description, logging and the
//! conventions shared by all routes (trailing slashes, JSON 404s, body limits).

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Logger;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::balrog;
use crate::bileto;
use crate::evaluation;
use crate::identity;
use crate::orlo::{self, OrloError};
use crate::state::AppState;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: 0,
            body_limit: 16 * 1024 * 1024,
        }
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "shiplog",
    description = "A release ledger and rollout-rules service. The Orlo release-ledger API is served at `/`, Balrog's admin API at `/api`, Balrog's update protocol at `/update`, Bileto's landing-ticket API at `/v1`, shiplog's own endpoints (rule evaluation, login, API tokens) at `/api/v1`. Writes need a credential, `Authorization: Bearer <token>` (docs/identity.md)."
))]
struct ApiDoc;

/// Registers every face's routes. Add a face here and it is served and described.
///
/// Order matters only where paths overlap: more specific faces (`/api/...`, `/v1/...`) go
/// before the Orlo face at `/`.
fn faces(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    evaluation::routes(cfg);
    identity::routes(cfg);
    balrog::routes(cfg);
    bileto::routes(cfg);
    orlo::routes(cfg);
}

/// The OpenAPI description of every face, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(faces)
        .split_for_parts();
    api
}

/// Starts serving on `listener`. The returned server runs until stopped or dropped.
pub fn run(
    listener: TcpListener,
    state: AppState,
    options: ServerOptions,
) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let api = openapi();
    let routes = web::Data::new(RouteMethods::from_openapi(&api));
    let body_limit = options.body_limit;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .wrap(actix_web::middleware::from_fn(identity::require_identity))
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(
                Logger::new("%a \"%{request}xi\" %s %b %Dms")
                    .custom_request_replace("request", request_line),
            )
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                srv.call(trim_trailing_slash(req))
            })
            .app_data(routes.clone())
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api.clone()))
            .configure(|cfg| {
                faces(&mut utoipa_actix_web::service_config::ServiceConfig::new(
                    cfg,
                ))
            })
            .default_service(web::to(unmatched))
    })
    .listen(listener)?;
    if options.workers > 0 {
        server = server.workers(options.workers);
    }
    Ok(server.run())
}

/// Orlo accepts a trailing slash on every route; so does shiplog (except under `/docs`, whose
/// assets live below a directory URL).
fn trim_trailing_slash(mut req: ServiceRequest) -> ServiceRequest {
    let path = req.path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs") {
        let trimmed = match path.trim_end_matches('/') {
            "" => "/",
            t => t,
        };
        let rebuilt = match req.query_string() {
            "" => trimmed.to_owned(),
            query => format!("{trimmed}?{query}"),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    req
}

/// Errors raised by actix itself (an oversized body, an unreadable payload) come as plain text;
/// they are rewritten into the JSON error body every face uses, keeping the status.
fn json_error_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    // The update protocol answers its errors in text, as Balrog does.
    if is_json || res.request().path().starts_with("/update/") {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is larger than this server accepts".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            "The method is not allowed for the requested URL.".to_owned()
        }
        other => other.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let error = OrloError::new(status, "request_error", message);
    let (req, _) = res.into_parts();
    let response = error.error_response().map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, response,
    )))
}

/// The request line for the access log (what `%r` prints), with the value of every `token`
/// parameter hidden: Bileto clients send their API token in the query string.
fn request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    if query.is_empty() {
        return format!("{} {} {:?}", req.method(), req.path(), req.version());
    }
    let redacted: Vec<&str> = query
        .split('&')
        .map(|pair| {
            // Decoded the way the handlers decode it, so `%74oken=` is hidden too.
            let is_token = actix_web::web::Query::<Vec<(String, String)>>::from_query(pair)
                .map(|q| q.first().is_some_and(|(name, _)| name == "token"))
                .unwrap_or(false);
            if is_token {
                "token=***"
            } else {
                pair
            }
        })
        .collect();
    format!(
        "{} {}?{} {:?}",
        req.method(),
        req.path(),
        redacted.join("&"),
        req.version()
    )
}

/// The methods each described route answers, taken from the OpenAPI description (which is
/// generated from the handlers), so a known path with the wrong method gets a 405 with `Allow`.
#[derive(Debug, Default)]
pub(crate) struct RouteMethods(Vec<(Vec<String>, Vec<&'static str>)>);

impl RouteMethods {
    fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let mut routes = Vec::new();
        for (path, item) in &api.paths.paths {
            let mut methods = Vec::new();
            for (name, present) in [
                ("GET", item.get.is_some()),
                ("HEAD", item.head.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ] {
                if present {
                    methods.push(name);
                }
            }
            let segments = path
                .trim_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect();
            routes.push((segments, methods));
        }
        RouteMethods(routes)
    }

    /// The methods of every route whose pattern matches `path` (`{param}` matches one segment).
    fn allowed(&self, path: &str) -> Vec<&'static str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut allowed: Vec<&'static str> = Vec::new();
        for (pattern, methods) in &self.0 {
            let matches = pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| (p.starts_with('{') && p.ends_with('}')) || p == s);
            if matches {
                for method in methods {
                    if !allowed.contains(method) {
                        allowed.push(method);
                    }
                }
            }
        }
        allowed
    }
}

/// Requests no route took: a 405 with `Allow` when the path exists with other methods (in the
/// face's error shape), otherwise the face's 404.
async fn unmatched(req: HttpRequest, routes: web::Data<RouteMethods>) -> HttpResponse {
    let allowed = routes.allowed(req.path());
    if allowed.is_empty() {
        return not_found(req).await;
    }
    let message = "The method is not allowed for the requested URL.";
    let path = req.path();
    let mut response = if path == "/api" || path.starts_with("/api/") {
        balrog::BalrogError::new(StatusCode::METHOD_NOT_ALLOWED, message).error_response()
    } else {
        OrloError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
        .error_response()
    };
    if let Ok(value) = header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Unknown routes: a JSON 404 in the error shape of the face the path belongs to (decided by
/// the path's prefix; the Orlo face owns everything no other face claims).
async fn not_found(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    // Most specific prefix first.
    if under("/api/v1") {
        return evaluation::unknown_route().error_response();
    }
    if under("/update") {
        return evaluation::unknown_update_route();
    }
    if under("/api") {
        return balrog::unknown_route().error_response();
    }
    OrloError::unknown_route(req.full_url().to_string()).error_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_access_log_hides_tokens() {
        let line = |uri: &str| request_line(&TestRequest::post().uri(uri).to_srv_request());
        assert_eq!(line("/v1/tickets"), "POST /v1/tickets HTTP/1.1");
        assert_eq!(
            line("/v1/tickets?token=s3cret&a=1&%74oken=s3cret"),
            "POST /v1/tickets?token=***&a=1&token=*** HTTP/1.1"
        );
        assert_eq!(
            line("/v1/tickets?tokens=1&token"),
            "POST /v1/tickets?tokens=1&token=*** HTTP/1.1"
        );
    }
}
