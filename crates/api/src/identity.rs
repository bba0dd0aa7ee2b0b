//! Identity on every face: who is calling (from whichever credential the face's clients can
//! send) and whether they may do what they ask (Balrog's permission model; docs/identity.md).
//!
//! A handler is protected by taking one extractor, [`Caller<Face>`], and calling
//! [`Caller::require`] with the permission, action and product its write needs. The extractor
//! answers 401 in the face's error body when no valid credential came (unless auth is off);
//! `require` answers 403 the same way. Credentials accepted on every face:
//! `Authorization: Bearer <token>`, Orlo's `X-Auth-Token: <token>` and HTTP Basic with the token
//! as password (what `requests`, and so orloclient, sends from a `.netrc`). Bileto's faces also
//! take `?token=`. Tokens are API tokens or the access tokens exchanged for them.
//!
//! In `--auth all` mode a middleware ([`require_identity`]) refuses anonymous reads too; it
//! leaves the identity it found in the request, so the extractor does not look it up twice.
//!
//! This module knows no face: each face says how it refuses through [`Face`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use base64::Engine;
use shiplog_domain::{Action, Denied, Grants, PermissionName};
use shiplog_storage::{Identity, Secret, TokenCheck};
use time::{Duration, OffsetDateTime};

use crate::blocking::with_store;
pub use crate::face::AuthFailure;
use crate::face::Face;
use crate::state::AppState;

/// Which requests need a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Reads are public; writes need a credential and the permission for them.
    #[default]
    Writes,
    /// Every request but login, liveness and the API description needs a credential.
    All,
    /// Nobody is asked for anything: every write is allowed, as `anonymous` unless a credential
    /// names someone. For local experiments only.
    Off,
}

impl AuthMode {
    pub fn parse(text: &str) -> Option<AuthMode> {
        match text {
            "writes" => Some(AuthMode::Writes),
            "all" => Some(AuthMode::All),
            "off" => Some(AuthMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Writes => "writes",
            AuthMode::All => "all",
            AuthMode::Off => "off",
        }
    }
}

/// The time, injectable so tests can make access tokens expire without waiting.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How the server authenticates.
#[derive(Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// How long an access token (login exchange, Orlo's `GET /token`) lasts.
    pub access_token_lifetime: Duration,
    pub clock: Clock,
    /// Failed credential checks allowed per client address (see `attempts`); `None`: no limit
    /// (the library's default; `shiplog serve` sets one).
    pub failed_attempts: Option<crate::attempts::AttemptLimit>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Writes,
            // OrderlyWeb's default lifetime for access tokens: one hour.
            access_token_lifetime: Duration::hours(1),
            clock: Arc::new(OffsetDateTime::now_utc),
            failed_attempts: None,
        }
    }
}

impl AuthSettings {
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("failed_attempts", &self.failed_attempts)
            .finish_non_exhaustive()
    }
}

/// A credential as it came, before it is checked.
#[derive(Debug)]
enum Presented {
    Token(Secret),
    /// HTTP Basic: the user named, and the token given as password.
    Basic {
        user: String,
        token: Secret,
    },
}

/// Where a face looks for a credential besides the headers every face reads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sources {
    /// Bileto's `?token=`.
    pub query: bool,
    /// The cookie holding a token (the dashboard's).
    pub cookie: Option<&'static str>,
}

impl Sources {
    /// What face `F` accepts.
    pub(crate) fn of<F: Face>() -> Sources {
        Sources {
            query: F::QUERY_TOKEN,
            cookie: F::COOKIE_TOKEN,
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers, if sent.
pub(crate) fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// Reads the credential of a request. `Ok(None)`: none was sent.
fn presented(req: &HttpRequest, sources: Sources) -> Result<Option<Presented>, AuthFailure> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| AuthFailure::Malformed("the Authorization header is not ASCII"))?;
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            return token(rest).map(|t| Some(Presented::Token(t)));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(AuthFailure::Malformed(
                    "Basic credentials are not base64 text",
                ))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or(AuthFailure::Malformed("Basic credentials need user:token"))?;
            return Ok(Some(Presented::Basic {
                user: user.to_owned(),
                token: token(password)?,
            }));
        }
        return Err(AuthFailure::Malformed(
            "use Authorization: Bearer <token> (or Basic with the token as password)",
        ));
    }
    if let Some(value) = req.headers().get("X-Auth-Token") {
        let value = value
            .to_str()
            .map_err(|_| AuthFailure::Malformed("the X-Auth-Token header is not ASCII"))?;
        return token(value.trim()).map(|t| Some(Presented::Token(t)));
    }
    if sources.query {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|_| AuthFailure::Malformed("the query string cannot be read"))?;
        // The first `token`, as Bileto's handlers always read it; an empty one is no token.
        if let Some((_, value)) = pairs.iter().find(|(name, _)| name == "token") {
            if !value.is_empty() {
                return token(value).map(|t| Some(Presented::Token(t)));
            }
        }
    }
    if let Some(name) = sources.cookie {
        // An empty cookie is a logged-out browser: no credential, not a malformed one.
        if let Some(value) = cookie_value(req, name).filter(|v| !v.is_empty()) {
            return token(&value).map(|t| Some(Presented::Token(t)));
        }
    }
    Ok(None)
}

/// Whether `req` carries any credential at all (valid or not) in a header.
pub(crate) fn has_credential(req: &HttpRequest) -> bool {
    !matches!(presented(req, Sources::default()), Ok(None))
}

fn token(text: &str) -> Result<Secret, AuthFailure> {
    if text.is_empty() {
        return Err(AuthFailure::Malformed("the token is empty"));
    }
    Secret::parse(text).ok_or(AuthFailure::Unknown)
}

/// Whom a request comes from, for handlers that need to know.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: String,
    pub grants: Grants,
    /// Auth is off: everything is allowed, whatever the grants.
    pub unrestricted: bool,
    /// The credential's identity (absent for the anonymous caller of `--auth off`).
    pub identity: Option<Identity>,
}

impl Who {
    fn anonymous() -> Who {
        Who {
            user: shiplog_storage::ANONYMOUS.to_owned(),
            grants: Grants::default(),
            unrestricted: true,
            identity: None,
        }
    }

    fn of(identity: Identity, unrestricted: bool) -> Who {
        Who {
            user: identity.user.clone(),
            grants: identity.grants.clone(),
            unrestricted,
            identity: Some(identity),
        }
    }

    pub fn allows(&self, thing: PermissionName, action: Action, product: Option<&str>) -> bool {
        self.unrestricted || self.grants.allows(thing, action, product)
    }

    /// [`Who::allows`], with the refusal as data when it does not.
    pub fn check(
        &self,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> Result<(), Denied> {
        if self.allows(thing, action, product) {
            Ok(())
        } else {
            Err(Denied {
                user: self.user.clone(),
                thing,
                action,
                product: product.map(str::to_owned),
            })
        }
    }

    pub fn is_admin(&self) -> bool {
        self.unrestricted || self.grants.is_unrestricted_admin()
    }
}

/// Finds who sent `req`: `Ok(None)` when no credential came.
pub(crate) async fn identify(
    state: &AppState,
    req: &HttpRequest,
    sources: Sources,
) -> Result<Option<Who>, Result<AuthFailure, Outage>> {
    if let Some(who) = req.extensions().get::<Who>() {
        return Ok(Some(who.clone()));
    }
    let presented = match presented(req, sources) {
        Ok(Some(presented)) => presented,
        Ok(None) => return Ok(None),
        Err(failure) => {
            failed_attempt(state, req);
            return Err(Ok(failure));
        }
    };
    let (named, secret) = match presented {
        Presented::Token(secret) => (None, secret),
        Presented::Basic { user, token } => (Some(user), token),
    };
    let identity = match authenticate(state, secret).await {
        Ok(identity) => identity,
        Err(Ok(failure)) => {
            failed_attempt(state, req);
            return Err(Ok(failure));
        }
        Err(Err(outage)) => return Err(Err(outage)),
    };
    if named.is_some_and(|user| !user.is_empty() && user != identity.user) {
        failed_attempt(state, req);
        return Err(Ok(AuthFailure::WrongUser));
    }
    let who = Who::of(identity, state.auth.mode == AuthMode::Off);
    req.extensions_mut().insert(who.clone());
    Ok(Some(who))
}

/// Checks one token: whose it is, or why it is refused. From memory when this server checked
/// it before and nothing about identities changed since (see `identity_cache`).
pub(crate) async fn authenticate(
    state: &AppState,
    secret: Secret,
) -> Result<Identity, Result<AuthFailure, Outage>> {
    let now = state.auth.now();
    let cache = &state.identities;
    if cache.poll_due() {
        match with_store(&state.store, |store| store.identity_version()).await {
            Ok(version) => cache.observe(version),
            Err(err) => {
                cache.observe_failure();
                return Err(Err(Outage::of(&err)));
            }
        }
    }
    let digest = secret.digest();
    let local_before = state.store.local_identity_changes();
    let check = match cache.lookup(&digest, local_before, now) {
        Some(check) => check,
        None => {
            let checked = with_store(&state.store, move |store| {
                store.authenticate_versioned(&secret, now)
            })
            .await
            .map_err(|e| Err(Outage::of(&e)))?;
            let local_after = state.store.local_identity_changes();
            cache.insert(digest, &checked, local_before, local_after);
            checked.check
        }
    };
    match check {
        TokenCheck::Valid(identity) => Ok(identity),
        TokenCheck::Unknown => Err(Ok(AuthFailure::Unknown)),
        TokenCheck::Revoked => Err(Ok(AuthFailure::Revoked)),
        TokenCheck::Expired => Err(Ok(AuthFailure::Expired)),
    }
}

/// Reads a token typed by a person (the dashboard's login form).
pub(crate) fn parse_token(text: &str) -> Result<Secret, AuthFailure> {
    token(text.trim())
}

/// Counts a failed credential check against the client's address.
pub(crate) fn failed_attempt(state: &AppState, req: &HttpRequest) {
    if let Some(peer) = req.peer_addr() {
        state.attempts.failed(peer.ip(), std::time::Instant::now());
    }
}

/// How long the client of `req` must wait before a credential it sends is checked again, when
/// its address is over the failed-attempt limit.
pub(crate) fn throttled(state: &AppState, req: &HttpRequest) -> Option<std::time::Duration> {
    let peer = req.peer_addr()?;
    state.attempts.blocked(peer.ip(), std::time::Instant::now())
}

/// Face `F`'s 429 for a client over the failed-attempt limit, with `Retry-After` (whole
/// seconds, rounded up).
fn too_many_attempts<F: Face>(wait: std::time::Duration) -> actix_web::HttpResponse {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = F::request_error(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        &format!("Too many failed credential attempts from this address: try again in {seconds} s"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A credential that could not be checked: the database is away (503) or failed (500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outage {
    unavailable: bool,
}

impl Outage {
    /// Logs the failure once, with its causes.
    fn of(err: &shiplog_storage::StorageError) -> Self {
        let unavailable = err.is_unavailable();
        let chain = crate::error_chain::error_chain(err);
        if unavailable {
            log::warn!("cannot check a credential, the database is unavailable: {chain}");
        } else {
            log::error!("authentication failed: {chain}");
        }
        Outage { unavailable }
    }

    /// Face `F`'s answer.
    pub(crate) fn answer<F: Face>(self) -> F::Error {
        if self.unavailable {
            F::unavailable()
        } else {
            F::internal()
        }
    }
}

/// The caller of a write on face `F`. Extracting it refuses a request without a valid
/// credential (401, unless auth is off); [`Caller::require`] refuses one without permission.
pub struct Caller<F: Face> {
    pub who: Who,
    face: PhantomData<F>,
}

impl<F: Face> Caller<F> {
    /// The user to record in history.
    pub fn name(&self) -> &str {
        &self.who.user
    }

    /// Refuses (403) unless the caller may do `action` on `thing` of `product`.
    pub fn require(
        &self,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> Result<(), F::Error> {
        self.who
            .check(thing, action, product)
            .map_err(|denied| F::denied(&denied))
    }

    /// Refuses (403) unless the caller is an admin without a product limit.
    pub fn require_admin(&self) -> Result<(), F::Error> {
        if self.who.is_admin() {
            Ok(())
        } else {
            Err(F::forbidden(
                &self.who.user,
                PermissionName::Admin,
                Action::Modify,
                None,
            ))
        }
    }
}

impl<F: Face> FromRequest for Caller<F> {
    type Error = F::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Caller<F>, F::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>() else {
                return Err(F::internal());
            };
            let who = match identify(state, &req, Sources::of::<F>()).await {
                Ok(Some(who)) => who,
                Ok(None) if state.auth.mode == AuthMode::Off => Who::anonymous(),
                Ok(None) => return Err(F::unauthenticated(&AuthFailure::Missing)),
                Err(Ok(failure)) => return Err(F::unauthenticated(&failure)),
                Err(Err(outage)) => return Err(outage.answer::<F>()),
            };
            Ok(Caller {
                who,
                face: PhantomData,
            })
        })
    }
}

/// Middleware applied to each face's scope: refuses credentials from an address over the
/// failed-attempt limit (429), and under `--auth all` requests without a valid credential, in
/// face `F`'s error body.
pub async fn require_identity<F: Face>(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // An address over the failed-attempt limit has every credential refused unchecked, on
    // every face and whatever the auth mode; its requests without one go on as usual.
    if let Some(state) = &state {
        let carries = !matches!(presented(req.request(), Sources::of::<F>()), Ok(None));
        if let Some(wait) = carries.then(|| throttled(state, req.request())).flatten() {
            let response = too_many_attempts::<F>(wait);
            return Ok(req.into_response(response));
        }
    }
    let gated = state
        .filter(|s| s.auth.mode == AuthMode::All)
        .filter(|_| !F::is_open(req.path()));
    let Some(state) = gated else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let failure = match identify(&state, req.request(), Sources::of::<F>()).await {
        Ok(Some(_)) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Ok(None) => Ok(AuthFailure::Missing),
        Err(failure) => failure,
    };
    let response = match failure {
        Ok(failure) => F::unauthenticated(&failure).error_response(),
        Err(outage) => outage.answer::<F>().error_response(),
    };
    Ok(req.into_response(response))
}

/// Identifies the caller of `GET /token` and `POST /api/v1/login` (which issue access tokens)
/// whatever the auth mode: a token is only ever issued for a real credential.
pub(crate) async fn credential_owner<F: Face>(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Identity, F::Error> {
    match identify(state, req, Sources::default()).await {
        Ok(Some(Who {
            identity: Some(identity),
            ..
        })) => Ok(identity),
        Ok(_) => Err(F::unauthenticated(&AuthFailure::Missing)),
        Err(Ok(failure)) => Err(F::unauthenticated(&failure)),
        Err(Err(outage)) => Err(outage.answer::<F>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn read(req: TestRequest, query: bool) -> Result<Option<Presented>, AuthFailure> {
        let sources = Sources {
            query,
            cookie: None,
        };
        presented(&req.to_http_request(), sources)
    }

    const T: &str = "shiplog_0123456789abcdef0123456789abcdef";

    #[test]
    fn credentials_come_from_every_header_a_client_can_send() {
        let bearer = read(
            TestRequest::default().insert_header(("Authorization", format!("Bearer {T}"))),
            false,
        );
        assert!(matches!(bearer, Ok(Some(Presented::Token(s))) if s.expose() == T));
        let orlo = read(
            TestRequest::default().insert_header(("X-Auth-Token", T)),
            false,
        );
        assert!(matches!(orlo, Ok(Some(Presented::Token(_)))));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{T}"));
        let basic = read(
            TestRequest::default().insert_header(("Authorization", format!("Basic {basic}"))),
            false,
        );
        assert!(matches!(basic, Ok(Some(Presented::Basic { user, .. })) if user == "alice"));
        let query = TestRequest::default().uri(&format!("/v1/tickets?a=1&token={T}"));
        assert!(matches!(read(query, true), Ok(Some(Presented::Token(_)))));
        let query = TestRequest::default().uri(&format!("/v1/tickets?token={T}"));
        assert!(
            matches!(read(query, false), Ok(None)),
            "only Bileto reads ?token="
        );
        assert!(matches!(read(TestRequest::default(), false), Ok(None)));
        let cookie = TestRequest::default()
            .insert_header(("Cookie", format!("theme=dark; ui_token={T}")))
            .to_http_request();
        let with_cookie = Sources {
            query: false,
            cookie: Some("ui_token"),
        };
        assert!(matches!(
            presented(&cookie, with_cookie),
            Ok(Some(Presented::Token(_)))
        ));
        assert!(
            matches!(presented(&cookie, Sources::default()), Ok(None)),
            "only a face that names the cookie reads it"
        );
    }

    #[test]
    fn malformed_credentials_are_told_apart() {
        let req = |value: &str| {
            read(
                TestRequest::default().insert_header(("Authorization", value.to_owned())),
                false,
            )
        };
        assert!(matches!(req("Digest x"), Err(AuthFailure::Malformed(_))));
        assert!(matches!(req("Bearer"), Err(AuthFailure::Malformed(_))));
        assert!(matches!(req("Basic !!!"), Err(AuthFailure::Malformed(_))));
        assert!(matches!(req("Bearer short"), Err(AuthFailure::Unknown)));
    }
}
