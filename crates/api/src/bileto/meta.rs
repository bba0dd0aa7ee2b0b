//! `GET /v1/metadata`: what each field holds and the values of the frontend's drop-down lists.

use actix_web::{get, HttpResponse};
use shiplog_domain::ticket::choices;
use shiplog_domain::TicketField;

use super::json::MetadataJson;

/// Documentation of the fields that are not free-text ticket fields.
const SERVER_FIELDS: [(&str, &str); 4] = [
    ("request_id", "The ticket's id, allocated on creation. Include it in a POST to update the ticket."),
    ("date", "When the ticket was created: UTC, ISO 8601 without a zone, with microseconds."),
    ("search", "Computed on every write: request_id, description, test_plan, merge_proposals, landers, status, siloname, sources, distribution, series, dest and qa_signoff, joined by newlines."),
    ("comments", "The ticket's comments, oldest first. Every update that changes a field adds one listing the changes."),
];

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// Field documentation and drop-down values (`{"fields": {...}, "choices": {...}}`). The
/// choices are suggestions: every field accepts any text.
#[utoipa::path(
    tag = "bileto",
    responses((status = 200, description = "Field documentation and choice lists", body = MetadataJson))
)]
#[get("/metadata")]
pub async fn metadata() -> HttpResponse {
    let fields = SERVER_FIELDS
        .iter()
        .map(|(name, doc)| ((*name).to_owned(), (*doc).to_owned()))
        .chain(
            TicketField::ALL
                .iter()
                .map(|f| (f.name().to_owned(), f.doc().to_owned())),
        )
        .collect();
    let choices = [
        ("qa_signoff", owned(&choices::QA_SIGNOFF)),
        ("distribution", owned(&choices::DISTRIBUTION)),
        ("series", owned(&choices::SERIES)),
        ("status", owned(&choices::STATUS)),
    ]
    .into_iter()
    .map(|(name, values)| (name.to_owned(), values))
    .collect();
    HttpResponse::Ok().json(MetadataJson { fields, choices })
}
