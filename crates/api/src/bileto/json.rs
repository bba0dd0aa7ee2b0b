//! The `/v1` face's JSON: the ticket and comment shapes of Bileto's README.API, and reading
//! request bodies.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use shiplog_domain::{Comment, Ticket};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::BiletoError;

/// Parses a request body as JSON. The content type is not checked: Bileto's clients are
/// scripts, and the token in the URL (not a cookie) is what authorises a write, so a body a
/// browser could send cross-site gains nothing.
pub fn body_json(body: &[u8]) -> Result<Value, BiletoError> {
    serde_json::from_slice(body).map_err(|e| {
        BiletoError::bad_request(
            "invalid_json",
            format!("Could not parse the body as JSON: {e}"),
        )
    })
}

/// Bileto's time form: ISO 8601 in UTC without a zone, always with microseconds
/// (`2015-07-01T13:11:58.852196`), so one parse format reads every value.
pub fn date(ts: OffsetDateTime) -> String {
    shiplog_domain::timestamp::format_micros(ts)
}

/// A comment as Bileto shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentJson {
    #[schema(example = "timo-jyrinki")]
    pub author: String,
    #[schema(example = "2015-07-06T06:30:12.899689")]
    pub date: String,
    /// One sequence over all tickets.
    pub id: i64,
    pub request_id: i64,
    pub text: String,
}

impl From<&Comment> for CommentJson {
    fn from(c: &Comment) -> Self {
        CommentJson {
            author: c.author.clone(),
            date: date(c.date),
            id: c.id.get(),
            request_id: c.request_id.get(),
            text: c.text.clone(),
        }
    }
}

/// A ticket ("request") as Bileto shows it; keys in Bileto's (alphabetical) order.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketJson {
    /// Oldest first.
    pub comments: Vec<CommentJson>,
    /// When the ticket was created, UTC.
    #[schema(example = "2015-07-01T13:11:58.852196")]
    pub date: String,
    pub description: String,
    pub dest: String,
    pub distribution: String,
    pub download_links: String,
    pub jenkins: String,
    pub landers: String,
    pub merge_proposals: String,
    pub published_versions: String,
    pub qa_signoff: String,
    pub request_id: i64,
    /// Computed: request_id, description, test_plan, merge_proposals, landers, status,
    /// siloname, sources, distribution, series, dest, qa_signoff, joined by newlines.
    pub search: String,
    pub series: String,
    pub siloname: String,
    pub sources: String,
    pub status: String,
    pub sync_request: String,
    pub test_plan: String,
}

impl From<&Ticket> for TicketJson {
    fn from(t: &Ticket) -> Self {
        let f = &t.fields;
        TicketJson {
            comments: t.comments.iter().map(CommentJson::from).collect(),
            date: date(t.date),
            description: f.description.clone(),
            dest: f.dest.clone(),
            distribution: f.distribution.clone(),
            download_links: f.download_links.clone(),
            jenkins: f.jenkins.clone(),
            landers: f.landers.clone(),
            merge_proposals: f.merge_proposals.clone(),
            published_versions: f.published_versions.clone(),
            qa_signoff: f.qa_signoff.clone(),
            request_id: t.request_id.get(),
            search: t.search(),
            series: f.series.clone(),
            siloname: f.siloname.clone(),
            sources: f.sources.clone(),
            status: f.status.clone(),
            sync_request: f.sync_request.clone(),
            test_plan: f.test_plan.clone(),
        }
    }
}

/// `{"requests": [...]}`: the answer of every ticket endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    pub requests: Vec<TicketJson>,
}

impl TicketList {
    pub fn of(tickets: &[Ticket]) -> Self {
        TicketList {
            requests: tickets.iter().map(TicketJson::from).collect(),
        }
    }
}

/// `GET /v1/metadata`: documentation of each field and values for the drop-down lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetadataJson {
    pub fields: BTreeMap<String, String>,
    pub choices: BTreeMap<String, Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_always_carry_microseconds_and_no_zone() {
        assert_eq!(
            date(datetime!(2015-07-01 13:11:58.852196 UTC)),
            "2015-07-01T13:11:58.852196"
        );
        assert_eq!(
            date(datetime!(2015-07-01 15:11:58 +2)),
            "2015-07-01T13:11:58.000000"
        );
    }

    #[test]
    fn bodies_must_be_json() {
        assert!(body_json(b"{\"a\": 1}").is_ok());
        for bad in [&b""[..], b"{", b"nope"] {
            let err = body_json(bad).expect_err("refused");
            assert!(err
                .message()
                .starts_with("Could not parse the body as JSON"));
        }
    }
}
