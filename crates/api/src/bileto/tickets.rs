//! Tickets: the listing and its views, one ticket, and the create-or-update POST.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use shiplog_domain::{Action, PermissionName, Ticket, TicketField, TicketWrite};
use shiplog_storage::{TicketColumn, TicketFilter};

use super::body::TicketBody;
use super::json::TicketList;
use super::params::{needle, request_id, ticket_filter};
use super::Bileto;
use super::BiletoError;
use crate::blocking::with_store;
use crate::identity::Caller;
use crate::orlo::json::ErrorBody;
use crate::orlo::params::pairs;
use crate::state::AppState;

/// Runs a listing and answers `{"requests": [...]}` with the count in `X-Total-Count` (the
/// whole list: `/v1` has no pages).
async fn listing(state: &AppState, filter: TicketFilter) -> Result<HttpResponse, BiletoError> {
    let tickets = with_store(&state.store, move |store| store.list_tickets(&filter)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", tickets.len().to_string()))
        .json(TicketList::of(&tickets)))
}

fn one(status: actix_web::http::StatusCode, ticket: &Ticket) -> HttpResponse {
    HttpResponse::build(status).json(TicketList::of(std::slice::from_ref(ticket)))
}

/// List tickets, newest first, each with its comments.
///
/// Every ticket field is a filter matching a case-insensitive substring (`?qa_signoff=ready`
/// finds "Ready for QA"); filters combine with AND. `search` matches across most fields at
/// once, `request_id` one id. With no parameter, Landed and Abandoned tickets are left out;
/// any parameter shows them, and a bare `active_only` hides them again.
#[utoipa::path(
    tag = "bileto",
    params(
        ("search" = Option<String>, Query, description = "Substring of the search text (most fields, newline-separated)"),
        ("status" = Option<String>, Query, description = "Substring of the status, e.g. Landed"),
        ("landers" = Option<String>, Query, description = "Substring of the landers"),
        ("qa_signoff" = Option<String>, Query, description = "Substring of the QA sign-off"),
        ("siloname" = Option<String>, Query, description = "Substring of the silo name"),
        ("request_id" = Option<i64>, Query, description = "Exactly this ticket"),
        ("active_only" = Option<String>, Query, description = "A bare flag: leave out Landed and Abandoned tickets"),
    ),
    responses(
        (status = 200, description = "Matching tickets", body = TicketList),
        (status = 400, description = "An unknown parameter or a malformed value", body = ErrorBody),
    )
)]
#[get("/tickets")]
pub async fn list_tickets(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, BiletoError> {
    let filter = ticket_filter(&pairs(req.query_string())?)?;
    listing(&state, filter).await
}

/// Create a ticket (no `request_id`) or update one (with it).
///
/// The body has the shape GET returns; `date`, `comments` and `search` are ignored. An update
/// changes only the keys given and, if anything changed, adds a comment by `author` with one
/// line per changed field: `<field> changed from '<old>' to '<new>'`.
#[utoipa::path(
    tag = "bileto",
    request_body(content = TicketBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created: the new ticket", body = TicketList),
        (status = 200, description = "Updated: the ticket as it now is, with its comments", body = TicketList),
        (status = 400, description = "Malformed JSON, not an object, an unknown key or a bad value", body = ErrorBody),
        (status = 401, description = "No token, or a revoked or expired one", body = ErrorBody),
        (status = 403, description = "A wrong token, or no `ticket` permission for this action (`create` or `modify`)", body = ErrorBody),
        (status = 404, description = "No ticket has that request_id", body = ErrorBody),
    )
)]
#[post("/tickets")]
pub async fn post_ticket(
    state: web::Data<AppState>,
    caller: Caller<Bileto>,
    body: web::Bytes,
) -> Result<HttpResponse, BiletoError> {
    // Without an `author`, automatic comments are signed by whoever holds the token.
    let TicketBody(write) = TicketBody::parse(&body, caller.name())?;
    let action = match write {
        TicketWrite::Create(_) => Action::Create,
        TicketWrite::Update(_) => Action::Modify,
    };
    caller.require(PermissionName::Ticket, action, None)?;
    match write {
        TicketWrite::Create(new) => {
            let ticket = with_store(&state.store.acting_as(caller.name()), move |store| {
                store.insert_ticket(&new)
            })
            .await?;
            Ok(one(actix_web::http::StatusCode::CREATED, &ticket))
        }
        TicketWrite::Update(update) => {
            let ticket =
                with_store(&state.store, move |store| store.update_ticket(&update)).await?;
            Ok(one(actix_web::http::StatusCode::OK, &ticket))
        }
    }
}

/// One ticket by id, whatever its status.
#[utoipa::path(
    tag = "bileto",
    params(("request_id" = i64, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The ticket, as a list of one", body = TicketList),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
    )
)]
#[get("/ticket/{request_id}")]
pub async fn get_ticket(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BiletoError> {
    let id = request_id(&path)?;
    let ticket = with_store(&state.store, move |store| store.find_ticket(id)).await?;
    match ticket {
        Some(ticket) => Ok(one(actix_web::http::StatusCode::OK, &ticket)),
        None => Err(shiplog_storage::StorageError::TicketNotFound(id).into()),
    }
}

/// Active tickets whose landers contain this name (`bob` finds `bobbert`), in any case.
#[utoipa::path(
    tag = "bileto",
    params(("lander" = String, Path, description = "A substring of the landers")),
    responses((status = 200, description = "Matching active tickets", body = TicketList))
)]
#[get("/user/{lander}")]
pub async fn user_tickets(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BiletoError> {
    let filter = TicketFilter {
        contains: vec![(
            TicketColumn::Field(TicketField::Landers),
            needle("lander", &path)?,
        )],
        active_only: true,
        ..TicketFilter::default()
    };
    listing(&state, filter).await
}

/// Active tickets whose silo name contains this text: `001` and `ubuntu/landing-001` both work.
#[utoipa::path(
    tag = "bileto",
    params(("name" = String, Path, description = "A substring of the silo name; may contain `/`")),
    responses((status = 200, description = "Matching active tickets", body = TicketList))
)]
#[get("/silo/{name:.*}")]
pub async fn silo_tickets(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BiletoError> {
    let filter = TicketFilter {
        contains: vec![(
            TicketColumn::Field(TicketField::Siloname),
            needle("name", &path)?,
        )],
        active_only: true,
        ..TicketFilter::default()
    };
    listing(&state, filter).await
}

/// Tickets that need trainguard action: status "Packages built" and QA sign-off "QA Granted"
/// or "Publish without QA".
#[utoipa::path(
    tag = "bileto",
    responses((status = 200, description = "Publishable tickets", body = TicketList))
)]
#[get("/publishable")]
pub async fn publishable_tickets(state: web::Data<AppState>) -> Result<HttpResponse, BiletoError> {
    let filter = TicketFilter {
        publishable: true,
        ..TicketFilter::default()
    };
    listing(&state, filter).await
}

/// Tickets whose status contains "can't", "failed" or "error", in any case.
#[utoipa::path(
    tag = "bileto",
    responses((status = 200, description = "Failing tickets", body = TicketList))
)]
#[get("/failures")]
pub async fn failed_tickets(state: web::Data<AppState>) -> Result<HttpResponse, BiletoError> {
    let filter = TicketFilter {
        failures: true,
        ..TicketFilter::default()
    };
    listing(&state, filter).await
}
