//! Builds and starts the HTTP service: mounts every face (see `face`), the API description and
//! its browsable page, the access log, and what holds for every route (trailing slashes, body
//! limits).

use std::net::TcpListener;

use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::http::Uri;
use actix_web::{web, App, HttpResponse, HttpServer};
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::background::{Background, Running};
use crate::balrog::Balrog;
use crate::bileto::Bileto;
use crate::body::BodyLimits;
use crate::face::mount;
use crate::native::Native;
use crate::openapi::FaceFacts;
use crate::orlo::Orlo;
use crate::routes::RouteMethods;
use crate::state::AppState;
use crate::ui::Ui;
use crate::update::{Update, UpdateJson};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Largest body of a bulk request (an Orlo import, a Balrog release blob or locale), in bytes.
    pub body_limit: usize,
    /// Largest body of every other request, in bytes.
    pub write_body_limit: usize,
    /// Who may read `/metrics` (see `ops::metrics`).
    pub metrics: crate::ops::MetricsAccess,
    /// How long a graceful stop waits for requests in flight before closing their connections.
    pub shutdown_timeout: std::time::Duration,
    /// Origins browsers may call from (checked by `cors::parse_origin`); empty: no CORS.
    pub cors_origins: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: 0,
            body_limit: 16 * 1024 * 1024,
            write_body_limit: 1024 * 1024,
            metrics: crate::ops::MetricsAccess::default(),
            shutdown_timeout: std::time::Duration::from_secs(30),
            cors_origins: Vec::new(),
        }
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "shiplog",
    description = "A release ledger and rollout-rules service. The Orlo release-ledger API is served at `/`, Balrog's admin API at `/api`, Balrog's update protocols at `/update` (XML) and `/json`, Bileto's landing-ticket API at `/v1`, shiplog's own endpoints (rule evaluation, login, API tokens) at `/api/v1`. Writes need a credential, `Authorization: Bearer <token>` (docs/identity.md)."
))]
struct ApiDoc;

/// Mounts every face, one line each. The most specific mount goes first: `/api/v1` before
/// `/api`, and the Orlo face at the root last, since it owns every path no other face claims.
fn faces(cfg: &mut ServiceConfig<'_>) {
    cfg.service(mount::<Native>())
        .service(mount::<Update>())
        .service(mount::<UpdateJson>())
        .service(mount::<Balrog>())
        .service(mount::<Bileto>())
        .service(mount::<Ui>())
        .service(mount::<Orlo>());
}

/// What the description says of each face as a whole (every face of [`faces`]).
fn face_facts() -> [FaceFacts; 6] {
    [
        FaceFacts::of::<Native>(),
        FaceFacts::of::<Update>(),
        FaceFacts::of::<UpdateJson>(),
        FaceFacts::of::<Balrog>(),
        FaceFacts::of::<Bileto>(),
        FaceFacts::of::<Orlo>(),
    ]
}

/// The OpenAPI description of every face, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(faces)
        .split_for_parts();
    crate::openapi::apply(&mut api, &face_facts());
    api
}

/// Starts serving on `listener`. The returned server runs until stopped through its handle or
/// dropped: it installs no signal handlers of its own, so the caller decides what a signal
/// means (`shiplog serve` drains on SIGTERM and Ctrl-C alike). Awaiting it returns once the
/// server has stopped and its background threads have finished.
pub fn run(
    listener: TcpListener,
    state: AppState,
    options: ServerOptions,
) -> std::io::Result<Running> {
    let run_worker = state.webhooks.run_worker;
    let run_scheduler = state.scheduler.run;
    let data = web::Data::new(state);
    let state = std::sync::Arc::downgrade(&data.clone().into_inner());
    let api = openapi();
    let routes = web::Data::new(RouteMethods::from_openapi(&api));
    let limits = BodyLimits {
        write: options.write_body_limit,
        bulk: options.body_limit.max(options.write_body_limit),
    };
    let metrics_access = options.metrics.clone();
    let cors_origins = options.cors_origins.clone();
    let mut server = HttpServer::new(move || {
        let metrics_access = metrics_access.clone();
        // Outside the faces (a preflight is answered before any face's method and credential
        // checks), inside the request log (which then counts preflights too).
        let cors = actix_web::middleware::Condition::new(
            !cors_origins.is_empty(),
            crate::cors::layer(&cors_origins),
        );
        App::new()
            .app_data(data.clone())
            .app_data(routes.clone())
            .app_data(limits)
            // Every body read through `web::Bytes`, `web::Json` or `web::Form` gets the small limit; bulk endpoints read
            // theirs through `body::BulkBody`, which applies the large one.
            .app_data(web::PayloadConfig::new(limits.write))
            .app_data(web::JsonConfig::default().limit(limits.write))
            .app_data(web::FormConfig::default().limit(limits.write))
            .app_data(web::Data::new(metrics_access.clone()))
            .wrap(actix_web::middleware::from_fn(crate::security_headers::add))
            .wrap(cors)
            .wrap(actix_web::middleware::from_fn(
                crate::ops::telemetry::middleware,
            ))
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                srv.call(trim_trailing_slash(req))
            })
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .url("/openapi.json", api.clone())
                    .config(utoipa_swagger_ui::Config::default().validator_url("none")),
            )
            .configure(|cfg| crate::ops::routes(cfg, &metrics_access))
            .configure(|cfg| faces(&mut ServiceConfig::new(cfg)))
    })
    .disable_signals()
    .shutdown_timeout(options.shutdown_timeout.as_secs())
    .listen(listener)?;
    if options.workers > 0 {
        server = server.workers(options.workers);
    }
    // Started once the socket is ours, so a failed start leaves no thread behind.
    let weak = || state.clone();
    let mut background = Background::default();
    if run_worker {
        crate::webhooks::worker::spawn(&mut background, weak());
    }
    // Every instance prunes (they take turns on PostgreSQL), whether or not it delivers.
    crate::retention::spawn(&mut background, weak());
    if run_scheduler {
        crate::scheduler::spawn(&mut background, weak());
    }
    Ok(Running::new(server.run(), background))
}

/// The face a path belongs to, for logs and metrics (`ops` for the probes and metrics, `docs`
/// for the API description).
pub(crate) fn face_of(path: &str) -> &'static str {
    use crate::face::{is_under, Face};
    if crate::ops::is_ops_path(path) {
        return "ops";
    }
    if path == "/openapi.json" || is_under(path, "/docs") {
        return "docs";
    }
    [
        (Native::MOUNT, Native::NAME),
        (Update::MOUNT, Update::NAME),
        (UpdateJson::MOUNT, UpdateJson::NAME),
        (Balrog::MOUNT, Balrog::NAME),
        (Bileto::MOUNT, Bileto::NAME),
        (Ui::MOUNT, Ui::NAME),
        (Orlo::MOUNT, Orlo::NAME),
    ]
    .into_iter()
    .find(|(mount, _)| is_under(path, mount))
    .map_or("orlo", |(_, name)| name)
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

/// The request line for the access log (what `%r` prints), with the value of every `token`
/// parameter hidden: Bileto clients send their API token in the query string.
pub(crate) fn request_line(req: &ServiceRequest) -> String {
    let query = crate::redact::query_without_tokens(req.query_string());
    if query.is_empty() {
        format!("{} {} {:?}", req.method(), req.path(), req.version())
    } else {
        format!(
            "{} {}?{} {:?}",
            req.method(),
            req.path(),
            query,
            req.version()
        )
    }
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
