//! Comments: `POST /v1/comment`.

use actix_web::{post, web, HttpRequest, HttpResponse};
use shiplog_domain::ticket::BOT_AUTHOR;
use shiplog_domain::NewComment;

use super::auth::authorize;
use super::json::{body_json, CommentBody, CommentJson};
use super::BiletoError;
use crate::blocking::with_store;
use crate::orlo::json::ErrorBody;
use crate::orlo::params::pairs;
use crate::state::AppState;

/// Comment on a ticket: `{"request_id": 6, "text": "…", "author": "…"}`.
#[utoipa::path(
    tag = "bileto",
    params(("token" = String, Query, description = "The API token (SHIPLOG_BILETO_TOKEN)")),
    request_body(content = CommentBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The comment", body = CommentJson),
        (status = 400, description = "Malformed JSON, or a missing or bad request_id or text", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Wrong token, or writes are disabled (no token configured)", body = ErrorBody),
        (status = 404, description = "No ticket has that request_id", body = ErrorBody),
    )
)]
#[post("/v1/comment")]
pub async fn post_comment(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, BiletoError> {
    authorize(&state, &pairs(req.query_string())?)?;
    let comment = NewComment::from_json(&body_json(&body)?, BOT_AUTHOR)?;
    let comment = with_store(&state.store, move |store| {
        store.add_ticket_comment(&comment)
    })
    .await?;
    Ok(HttpResponse::Created().json(CommentJson::from(&comment)))
}
