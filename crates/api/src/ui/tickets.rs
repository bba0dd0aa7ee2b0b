//! Tickets: Bileto's landing tickets, newest first, searchable, with their status shown as text
//! and colour (failed, ready to publish, landed or abandoned, in progress).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use shiplog_domain::{Ticket, TicketId};
use shiplog_storage::{TicketColumn, TicketFilter};

use super::page::{self, layout, respond, when, Section, Viewer};
use super::params::Params;
use super::UiError;
use crate::blocking::with_store;
use crate::state::AppState;

/// Tickets listed at most: the newest that match (one more is read to tell whether there are
/// more).
const SHOWN: usize = 200;

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    let params = Params::read(req.query_string(), &["q", "id", "active"])?;
    let mut filter = TicketFilter::default();
    if let Some(id) = params.get("id") {
        let id = id
            .parse::<i64>()
            .ok()
            .and_then(|n| TicketId::new(n).ok())
            .ok_or_else(|| UiError::bad_request("'id' must be a ticket number"))?;
        filter.request_id = Some(id);
    }
    if let Some(q) = params.get("q") {
        filter.contains.push((TicketColumn::Search, q.to_owned()));
    }
    filter.active_only = params.choice("active", &["1"], "")? == "1";
    filter.limit = Some(SHOWN as i64 + 1);
    let tickets = with_store(&state.store, move |store| store.list_tickets(&filter)).await?;
    let body = html! {
        form.filters method="get" action="/ui/tickets" {
            label { "Search " input type="search" name="q" value=(params.text("q")); }
            label.check { input type="checkbox" name="active" value="1" checked[params.get("active").is_some()]; " only active" }
            button type="submit" { "Search" }
        }
        p #ticket-count {
            @if tickets.len() > SHOWN { "More than " (SHOWN) " tickets match; the newest " (SHOWN) " are shown." }
            @else { (page::count(tickets.len() as i64, "ticket")) "." }
        }
        @if tickets.is_empty() {
            p.notice { "No ticket matches." }
        } @else {
            div.scroll {
                table #tickets {
                    thead { tr {
                        th scope="col" { "Ticket" } th scope="col" { "Created" } th scope="col" { "Status" }
                        th scope="col" { "Description" } th scope="col" { "Landers" } th scope="col" { "Silo" }
                        th scope="col" { "QA" } th scope="col" { "Comments" }
                    } }
                    tbody {
                        @for t in tickets.iter().take(SHOWN) {
                            tr id={ "ticket-" (t.request_id) } {
                                th scope="row" { (t.request_id) }
                                td { (when(t.date)) }
                                td { (ticket_badge(t)) }
                                td { (t.fields.description) }
                                td { (t.fields.landers) }
                                td { (t.fields.siloname) }
                                td { (t.fields.qa_signoff) }
                                td { (t.comments.len()) }
                            }
                        }
                    }
                }
            }
        }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        StatusCode::OK,
        layout("Tickets", Section::Tickets, &viewer, body),
    ))
}

/// The ticket's status text, with a tone from the same rules as Bileto's filters.
fn ticket_badge(t: &Ticket) -> Markup {
    let status = if t.fields.status.is_empty() {
        "new"
    } else {
        t.fields.status.as_str()
    };
    let (tone, symbol) = if t.fields.is_failure() {
        ("bad", "✗")
    } else if t.fields.is_publishable() {
        ("ok", "✓")
    } else if !t.fields.is_active() {
        ("idle", "■")
    } else {
        ("busy", "◔")
    };
    page::badge(tone, symbol, status)
}
