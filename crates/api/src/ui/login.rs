//! Logging in to the dashboard when reads need a credential (`--auth all`): a form takes an API
//! token, exchanges it for an access token exactly as `POST /api/v1/login` does, and keeps the
//! access token in a cookie (HttpOnly: no script can read it; SameSite=Strict: no other site's
//! page can send it; Path=/ui: only the dashboard's pages receive it). Only the dashboard reads
//! that cookie, and the dashboard only reads, so a cookie can authorise no write.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::page::{layout, respond, Section, Viewer};
use super::{UiError, COOKIE};
use crate::blocking::with_store;
use crate::identity::{authenticate, cookie_value, failed_attempt, parse_token, throttled};
use crate::state::AppState;

/// The login form, with a message saying why it is shown.
pub fn login_page(status: StatusCode, message: Option<&str>) -> HttpResponse {
    let body = html! {
        @if let Some(message) = message {
            p.notice.error role="alert" { (message) }
        }
        p { "This server asks for a credential to read. Paste an API token (an admin makes one with "
            code { "shiplog token create" } " or " code { "POST /api/v1/tokens" } "): it is exchanged for a short-lived access token kept in a cookie for this dashboard only." }
        form.login method="post" action="/ui/login" {
            div.field {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="off" required;
            }
            button type="submit" { "Log in" }
        }
    };
    respond(
        status,
        layout("Log in", Section::None, &Viewer::of_nobody(), body),
    )
}

pub async fn form(req: HttpRequest) -> Result<HttpResponse, UiError> {
    super::params::Params::read(req.query_string(), &[])?;
    Ok(login_page(StatusCode::OK, None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, UiError> {
    // The form is a credential check like any other: it counts toward the failed-attempt
    // limit of the client's address, and is refused while that address is over it.
    if let Some(wait) = throttled(&state, &req) {
        let seconds = wait.as_secs().max(1);
        let mut page = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed credential attempts from this address: try again in {seconds} s"
            )),
        );
        if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(page);
    }
    let refuse = |message: &str| {
        failed_attempt(&state, &req);
        Ok(login_page(StatusCode::UNAUTHORIZED, Some(message)))
    };
    let secret = match parse_token(&form.token) {
        Ok(secret) => secret,
        Err(failure) => return refuse(&failure.message()),
    };
    let identity = match authenticate(&state, secret).await {
        Ok(identity) => identity,
        Err(Ok(failure)) => return refuse(&failure.message()),
        Err(Err(outage)) => return Err(outage.answer::<super::Ui>()),
    };
    if !identity.is_api_token {
        return refuse("Log in with an API token, not an access token");
    }
    let now = state.auth.now();
    let lifetime = state.auth.access_token_lifetime;
    let issued = with_store(&state.store, move |store| {
        store.issue_access_token(&identity, now, lifetime)
    })
    .await?;
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        issued.secret.expose(),
        lifetime.whole_seconds()
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/"))
        .insert_header((header::SET_COOKIE, cookie))
        .finish())
}

/// The `Set-Cookie` value that removes the dashboard's cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Logs out: revokes the cookie's access token (so a copy of the cookie stops working too) and
/// clears the cookie. A cookie that holds no token, or one already expired or revoked, is just
/// cleared.
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    if let Some(secret) = cookie_value(&req, COOKIE).and_then(|value| parse_token(&value).ok()) {
        let now = state.auth.now();
        with_store(&state.store, move |store| {
            store.revoke_access_token(&secret, now)
        })
        .await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/login"))
        .insert_header((header::SET_COOKIE, clear_cookie()))
        .finish())
}
