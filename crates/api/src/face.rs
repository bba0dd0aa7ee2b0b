//! What a face is: one family of endpoints served under one mount point, answering every
//! failure in its own error body. Each face module implements [`Face`] beside its error type;
//! [`mount`] turns an implementation into an actix scope with the face's routes, its answers
//! for unknown paths (404), wrong methods (405 with `Allow`), oversized or unreadable bodies
//! (413, 400, 415), control characters in its path or query (400, see `url_input`), and the
//! `--auth all` gate. Adding a face means writing its module and one
//! `mount::<NewFace>` line in `server`.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use shiplog_domain::{Action, Denied, PermissionName};
use utoipa_actix_web::scope::{scope, Scope};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::identity;
use crate::routes::RouteMethods;

/// One face: where it is mounted, what it serves, and how it says no.
pub trait Face: 'static {
    /// The path prefix the face owns (`""` for the root face, which owns what no other claims).
    const MOUNT: &'static str;
    /// A short name for logs.
    const NAME: &'static str;
    /// Whether `?token=` is a credential here (Bileto's clients can send nothing else).
    const QUERY_TOKEN: bool = false;
    /// The cookie that carries a token here, if any (the dashboard's login sets one; API faces
    /// take none, so a browser's cookie can never authorise an API write).
    const COOKIE_TOKEN: Option<&'static str> = None;
    /// The media type of the face's error bodies, for the API description.
    const ERROR_MEDIA_TYPE: &'static str = "application/json";
    /// What the face's handlers fail with; renders the face's error body.
    type Error: ResponseError + 'static;

    /// Registers the face's routes, with paths relative to [`Face::MOUNT`].
    fn routes(cfg: &mut ServiceConfig<'_>);

    /// No valid credential (401, or whatever the face's clients expect).
    fn unauthenticated(failure: &AuthFailure) -> Self::Error;

    /// A valid caller without the permission a write needs (403).
    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> Self::Error;

    /// A refused permission check, however it was found (in the handler or inside a storage
    /// write's transaction).
    fn denied(denied: &Denied) -> Self::Error {
        Self::forbidden(
            &denied.user,
            denied.thing,
            denied.action,
            denied.product.as_deref(),
        )
    }

    /// An opaque 500 (the cause is logged where it happened).
    fn internal() -> Self::Error;

    /// A 503: the database is unavailable (see `StorageError::is_unavailable`). The server adds
    /// `Retry-After` to every 503.
    fn unavailable() -> Self::Error;

    /// A path under the mount that no route serves.
    fn not_found(req: &HttpRequest) -> HttpResponse;

    /// A failure found before any handler ran: a wrong method (405), a body over the limit
    /// (413), an unreadable body (400), an unsupported media type (415).
    fn request_error(status: StatusCode, message: &str) -> HttpResponse;

    /// Paths below the mount that `--auth all` leaves open (logging in, liveness).
    fn is_open(_path: &str) -> bool {
        false
    }
}

/// Why a request has no identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential at all.
    Missing,
    /// A credential that cannot be one of ours (wrong scheme, bad encoding, wrong length).
    Malformed(&'static str),
    /// Well-formed, but no token has it.
    Unknown,
    Revoked,
    Expired,
    /// HTTP Basic naming one user with another user's token.
    WrongUser,
}

impl AuthFailure {
    /// A sentence for the client (never containing the credential).
    pub fn message(&self) -> String {
        match self {
            AuthFailure::Missing => {
                "This request needs a credential: send Authorization: Bearer <token>".to_owned()
            }
            AuthFailure::Malformed(why) => format!("The credential is malformed: {why}"),
            AuthFailure::Unknown => "The token is not valid".to_owned(),
            AuthFailure::Revoked => "The token has been revoked".to_owned(),
            AuthFailure::Expired => "Token has expired. Please request a new one.".to_owned(),
            AuthFailure::WrongUser => "The token does not belong to the user named".to_owned(),
        }
    }
}

/// Balrog's wording for a refused permission check, used by every face (see [`Denied`]).
pub fn denied_text(
    user: &str,
    thing: PermissionName,
    action: Action,
    product: Option<&str>,
) -> String {
    Denied {
        user: user.to_owned(),
        thing,
        action,
        product: product.map(str::to_owned),
    }
    .to_string()
}

/// The text of a 405, the same on every face.
pub const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";

/// Whether `path` lies under `mount` (at a segment boundary).
pub fn is_under(path: &str, mount: &str) -> bool {
    mount.is_empty()
        || path
            .strip_prefix(mount)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The scope serving face `F`: its routes, its 404/405 and request-error answers, and the
/// `--auth all` gate, all in `F`'s error body.
pub fn mount<F: Face>() -> Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    scope(F::MOUNT)
        .configure(F::routes)
        .default_service(web::to(unmatched::<F>))
        .wrap(actix_web::middleware::from_fn(
            identity::require_identity::<F>,
        ))
        .wrap(actix_web::middleware::from_fn(
            crate::url_input::check_url::<F>,
        ))
        .wrap(ErrorHandlers::new().default_handler(request_error_body::<F, _>))
}

/// Requests no route of `F` took: a 405 with `Allow` when the path exists with other methods,
/// otherwise `F`'s 404. A path whose pattern takes this very method, yet no route took it, was
/// refused by a parameter's constraint (an enumerated segment such as the scheduled-change
/// tables): no such object, a 404.
async fn unmatched<F: Face>(req: HttpRequest, routes: web::Data<RouteMethods>) -> HttpResponse {
    let allowed = routes.allowed(req.path());
    if allowed.is_empty() || allowed.contains(&req.method().as_str()) {
        return F::not_found(&req);
    }
    let mut response = F::request_error(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
    if let Ok(value) = header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Errors raised by actix itself (an oversized or unreadable body, a wrong content type) come as
/// plain text; they are rewritten into `F`'s error body, keeping the status. Errors the face's
/// own handlers return are left as they are.
fn request_error_body<F: Face, B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let foreign = res
        .response()
        .error()
        .is_some_and(|err| err.as_error::<F::Error>().is_none());
    if !foreign {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is larger than this server accepts for this request".to_owned()
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "The request body's content type is not accepted here".to_owned()
        }
        StatusCode::BAD_REQUEST => match res.response().error() {
            Some(err) => format!("The request could not be read: {err}"),
            None => "The request could not be read".to_owned(),
        },
        other => other.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let connection_close =
        res.response().head().connection_type() == actix_web::http::ConnectionType::Close;
    let (req, _) = res.into_parts();
    let mut response = F::request_error(status, &message);
    if connection_close {
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
