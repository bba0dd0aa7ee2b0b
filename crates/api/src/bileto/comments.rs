//! Comments: `POST /v1/comment`.

use actix_web::{post, web, HttpResponse};
use shiplog_domain::{Action, PermissionName};

use super::body::CommentBody;
use super::json::CommentJson;
use super::Bileto;
use super::BiletoError;
use crate::blocking::with_store;
use crate::identity::Caller;
use crate::orlo::json::ErrorBody;
use crate::state::AppState;

/// Comment on a ticket: `{"request_id": 6, "text": "…", "author": "…"}`.
#[utoipa::path(
    tag = "bileto",
    request_body(content = CommentBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The comment", body = CommentJson),
        (status = 400, description = "Malformed JSON, or a missing or bad request_id or text", body = ErrorBody),
        (status = 401, description = "No token, or a revoked or expired one", body = ErrorBody),
        (status = 403, description = "A wrong token, or no `ticket` permission with action `comment`", body = ErrorBody),
        (status = 404, description = "No ticket has that request_id", body = ErrorBody),
    )
)]
#[post("/comment")]
pub async fn post_comment(
    state: web::Data<AppState>,
    caller: Caller<Bileto>,
    body: web::Bytes,
) -> Result<HttpResponse, BiletoError> {
    caller.require(PermissionName::Ticket, Action::Comment, None)?;
    let CommentBody(comment) = CommentBody::parse(&body, caller.name())?;
    let comment = with_store(&state.store, move |store| {
        store.add_ticket_comment(&comment)
    })
    .await?;
    Ok(HttpResponse::Created().json(CommentJson::from(&comment)))
}
