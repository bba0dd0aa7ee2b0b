//! `/api/v1/login` (OrderlyWeb's exchange of a long-lived token for a short-lived one) and
//! `/api/v1/tokens` (API tokens, for admins), in the `/api/v1` envelope.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use shiplog_domain::UserName;
use shiplog_storage::TokenInfo;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::envelope::{success, Envelope, EnvelopeError, FailureEnvelope};
use super::Native;
use crate::blocking::with_store;
use crate::face::AuthFailure;
use crate::identity::{identify, Caller};
use crate::state::AppState;

/// `{"access_token", "token_type": "bearer", "expires_in"}`: OrderlyWeb's login answer, sent
/// raw (not in the envelope), as OrderlyWeb sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When it was revoked; null while it is valid.
    pub revoked_at: Option<String>,
}

fn rfc3339(ts: OffsetDateTime) -> String {
    ts.format(&Rfc3339).unwrap_or_default()
}

impl From<&TokenInfo> for ApiToken {
    fn from(info: &TokenInfo) -> Self {
        ApiToken {
            id: info.id,
            user: info.user.clone(),
            created_at: rfc3339(info.created_at),
            revoked_at: info.revoked_at.map(rfc3339),
        }
    }
}

fn login_refused(failure: &AuthFailure) -> EnvelopeError {
    let message = match failure {
        AuthFailure::Missing => {
            "Log in with an API token: send Authorization: token <api token>".to_owned()
        }
        other => other.message(),
    };
    EnvelopeError::new(StatusCode::UNAUTHORIZED, "api-token-invalid", message)
}

/// Exchange an API token (`Authorization: token <api token>`) for a short-lived access token
/// to send as `Authorization: Bearer`. Permissions are read on every request, so they are not
/// frozen into the access token; revoking the API token revokes its access tokens.
#[utoipa::path(
    tag = "identity",
    responses(
        (status = 200, description = "A short-lived access token (not wrapped in the envelope)", body = LoginAnswer),
        (status = 401, description = "No API token, or an invalid, revoked or access token", body = FailureEnvelope),
    )
)]
#[post("/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, EnvelopeError> {
    let who = match identify(&state, &req, crate::identity::Sources::default()).await {
        Ok(Some(who)) => who,
        Ok(None) => return Err(login_refused(&AuthFailure::Missing)),
        Err(Ok(failure)) => return Err(login_refused(&failure)),
        Err(Err(outage)) => return Err(outage.answer::<super::Native>()),
    };
    let identity = match who.identity {
        Some(identity) if identity.is_api_token => identity,
        _ => {
            return Err(EnvelopeError::new(
                StatusCode::UNAUTHORIZED,
                "api-token-invalid",
                "Log in with an API token, not an access token",
            ))
        }
    };
    let now = state.auth.now();
    let lifetime = state.auth.access_token_lifetime;
    let issued = with_store(&state.store, move |store| {
        store.issue_access_token(&identity, now, lifetime)
    })
    .await
    .map_err(|e| EnvelopeError::from_storage(&e))?;
    Ok(HttpResponse::Ok().json(LoginAnswer {
        access_token: issued.secret.expose().to_owned(),
        token_type: "bearer".to_owned(),
        expires_in: lifetime.whole_seconds(),
    }))
}

/// `data` of a created token: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub user: String,
    pub token: String,
}

/// `{"user": NAME, "admin": bool?}`
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct NewToken {
    pub user: String,
    /// Also make the user an admin without product limits.
    #[serde(default)]
    pub admin: bool,
}

/// Create an API token for a user (created if new). The answer's `data.token` is the only time
/// the secret is ever shown. Admins only.
#[utoipa::path(
    tag = "identity",
    request_body = NewToken,
    responses(
        (status = 201, description = "`data`: the token, with its secret", body = Envelope<CreatedToken>),
        (status = 400, description = "Unparseable JSON or a bad user name", body = FailureEnvelope),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Not an admin", body = FailureEnvelope),
    )
)]
#[post("/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require_admin()?;
    let request: NewToken = serde_json::from_slice(&body).map_err(|e| {
        EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("Unable to parse supplied JSON: {e}"),
        )
    })?;
    let user =
        UserName::parse(&request.user).map_err(|e| EnvelopeError::bad_request(e.to_string()))?;
    let changed_by = caller.name().to_owned();
    let now = state.auth.now();
    let issued = with_store(&state.store, move |store| {
        store.create_api_token(&user, request.admin, &changed_by, now)
    })
    .await
    .map_err(|e| EnvelopeError::from_storage(&e))?;
    log::info!(
        "{} created API token {} for {}",
        caller.name(),
        issued.info.id,
        issued.info.user
    );
    Ok(success(
        StatusCode::CREATED,
        CreatedToken {
            id: issued.info.id,
            user: issued.info.user.clone(),
            token: issued.secret.expose().to_owned(),
        },
    ))
}

/// Every API token, without secrets, oldest first (revoked ones carry `revoked_at`). Admins only.
#[utoipa::path(
    tag = "identity",
    responses(
        (status = 200, description = "`data`: the tokens; `X-Total-Count` gives their number", body = Envelope<Vec<ApiToken>>),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Not an admin", body = FailureEnvelope),
    )
)]
#[get("/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    caller: Caller<Native>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require_admin()?;
    let tokens = with_store(&state.store, |store| store.list_api_tokens())
        .await
        .map_err(|e| EnvelopeError::from_storage(&e))?;
    let list: Vec<ApiToken> = tokens.iter().map(ApiToken::from).collect();
    let mut response = success(StatusCode::OK, list);
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("x-total-count"),
        actix_web::http::header::HeaderValue::from(tokens.len()),
    );
    Ok(response)
}

/// Revoke an API token, and every access token exchanged for it, from the next request on.
/// Admins only.
#[utoipa::path(
    tag = "identity",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "`data`: the revoked token", body = Envelope<ApiToken>),
        (status = 401, description = "No valid credential", body = FailureEnvelope),
        (status = 403, description = "Not an admin", body = FailureEnvelope),
        (status = 404, description = "No such token", body = FailureEnvelope),
    )
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    caller: Caller<Native>,
    path: web::Path<String>,
) -> Result<HttpResponse, EnvelopeError> {
    caller.require_admin()?;
    let unknown = || {
        EnvelopeError::new(
            StatusCode::NOT_FOUND,
            "unknown-token",
            format!("Unknown token : '{}'", path.as_str()),
        )
    };
    let id: i64 = path.parse().map_err(|_| unknown())?;
    let now = state.auth.now();
    let revoked = with_store(&state.store, move |store| store.revoke_api_token(id, now))
        .await
        .map_err(|e| EnvelopeError::from_storage(&e))?
        .ok_or_else(unknown)?;
    log::info!("{} revoked API token {}", caller.name(), revoked.id);
    Ok(success(StatusCode::OK, ApiToken::from(&revoked)))
}
