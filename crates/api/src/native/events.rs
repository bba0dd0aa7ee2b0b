//! `GET /api/v1/events` (the change feed, a page at a time after a cursor) and
//! `GET /api/v1/events/stream` (the same as Server-Sent Events, polling the outbox so every
//! instance on the database streams every instance's events). See docs/events.md.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use shiplog_domain::event::TypePattern;
use shiplog_storage::{Event, EventFilter, MAX_EVENT_LIMIT};
use tokio::sync::mpsc;

use super::envelope::{success, EnvelopeError, FailureEnvelope};
use crate::blocking::with_store;
use crate::state::AppState;

/// A page of the feed when `limit` is not given.
const DEFAULT_LIMIT: i64 = 100;

/// How often a stream looks for new events: one indexed range read per open stream.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// A comment line this often keeps idle proxies and load balancers from closing the stream.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

/// After a failed read the stream waits this long before trying again (the client keeps its
/// connection; the database may be back in a moment).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

/// Events a stream reads per poll.
const STREAM_BATCH: i64 = 500;

/// What the feed and the stream were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedQuery {
    pub filter: EventFilter,
    /// Whether `after` was given (a stream without a cursor starts at the newest event).
    pub has_cursor: bool,
    pub limit: i64,
}

/// Reads the query string. `limit` only on the feed; `after` a non-negative integer; `type` a
/// comma list of patterns; every parameter at most once, none empty, no unknown ones.
pub fn parse_params(query_string: &str, stream: bool) -> Result<FeedQuery, EnvelopeError> {
    let keys: &[&str] = if stream {
        &["after", "type", "product", "channel", "platform", "team"]
    } else {
        &[
            "after", "type", "product", "channel", "platform", "team", "limit",
        ]
    };
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|e| EnvelopeError::bad_request(format!("Unreadable query string: {e}")))?
        .into_inner();
    let mut seen: Vec<&str> = Vec::new();
    let mut query = FeedQuery {
        filter: EventFilter::default(),
        has_cursor: false,
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in &pairs {
        let Some(known) = keys.iter().find(|k| **k == key.as_str()) else {
            return Err(EnvelopeError::bad_request(format!(
                "Unknown parameter '{key}'; the parameters are {}",
                keys.join(", ")
            )));
        };
        if seen.contains(known) {
            return Err(EnvelopeError::bad_request(format!(
                "Parameter '{key}' is given more than once"
            )));
        }
        seen.push(known);
        let value = value.trim();
        if value.is_empty() {
            return Err(EnvelopeError::bad_request(format!(
                "Parameter '{key}' must not be empty"
            )));
        }
        shiplog_domain::input::check(known, value, shiplog_domain::input::TextKind::Name)
            .map_err(|e| EnvelopeError::bad_request(e.to_string()))?;
        match *known {
            "after" => {
                query.filter.after =
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| {
                            EnvelopeError::bad_request(format!(
                                "Parameter 'after' must be an event id (a non-negative integer), \
                             not {value:?}"
                            ))
                        })?;
                query.has_cursor = true;
            }
            "limit" => {
                query.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_EVENT_LIMIT).contains(n))
                    .ok_or_else(|| {
                        EnvelopeError::bad_request(format!(
                            "Parameter 'limit' must be an integer from 1 to {MAX_EVENT_LIMIT}, \
                             not {value:?}"
                        ))
                    })?;
            }
            "type" => {
                query.filter.types = TypePattern::parse_list(value).map_err(|_| {
                    EnvelopeError::bad_request(format!(
                        "Parameter 'type' must be a comma list of `*`, `family.*` or \
                         `family.action` patterns, not {value:?}"
                    ))
                })?;
            }
            "product" => query.filter.product = Some(value.to_owned()),
            "channel" => query.filter.channel = Some(value.to_owned()),
            "platform" => query.filter.platform = Some(value.to_owned()),
            _ => query.filter.team = Some(value.to_owned()),
        }
    }
    Ok(query)
}

/// The change feed: events after `after` (default: from the beginning), oldest first.
#[utoipa::path(
    tag = "events",
    params(
        ("after" = Option<i64>, Query, description = "Only events with a larger id (the last id of the previous page). Default 0"),
        ("type" = Option<String>, Query, description = "Comma list of type patterns: `release.created`, `release.*`, `*`"),
        ("product" = Option<String>, Query),
        ("channel" = Option<String>, Query),
        ("platform" = Option<String>, Query),
        ("team" = Option<String>, Query),
        ("limit" = Option<i64>, Query, description = "Page size, 1 to 1000. Default 100"),
    ),
    responses(
        (status = 200, description = "`{\"status\": \"success\", \"data\": [{\"id\", \"type\", \"timestamp\", \"actor\", \"data\"}], \"errors\": []}`, oldest first, with `X-Total-Count` (events after the cursor) and a `Link` to the next page when there is one"),
        (status = 400, description = "An unknown, repeated, empty or malformed parameter", body = FailureEnvelope),
    )
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, EnvelopeError> {
    let query = parse_params(req.query_string(), false)?;
    let asked = query.clone();
    let (events, total) = with_store(&state.store, move |store| {
        let events = store.list_events(&asked.filter, asked.limit)?;
        let shown = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let total = if shown < asked.limit {
            shown
        } else {
            store.count_events(&asked.filter)?
        };
        Ok((events, total))
    })
    .await
    .map_err(|e| EnvelopeError::from_storage(&e))?;
    let mut response = success(StatusCode::OK, &events);
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("x-total-count"),
        HeaderValue::from(total),
    );
    let shown = i64::try_from(events.len()).unwrap_or(i64::MAX);
    if let (Some(last), true) = (events.last(), total > shown) {
        let link = crate::paging::cursor_link(req.path(), req.query_string(), "after", last.id);
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// The live feed as Server-Sent Events: each event is `id:`, `event:` (its type) and `data:`
/// (the event as the feed shows it). Resumes after `Last-Event-ID` (or `after`); without
/// either, starts with the next event written.
#[utoipa::path(
    tag = "events",
    params(
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (EventSource sends it on reconnect); wins over `after`"),
        ("after" = Option<i64>, Query, description = "Start after this event id. Default: the newest event"),
        ("type" = Option<String>, Query, description = "Comma list of type patterns"),
        ("product" = Option<String>, Query),
        ("channel" = Option<String>, Query),
        ("platform" = Option<String>, Query),
        ("team" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "`text/event-stream`, open until the client leaves; a `: keep-alive` comment every 15 s", content_type = "text/event-stream", body = String),
        (status = 400, description = "An unknown, repeated, empty or malformed parameter, or a malformed Last-Event-ID", body = FailureEnvelope),
    )
)]
#[get("/events/stream")]
pub async fn stream_events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, EnvelopeError> {
    let mut query = parse_params(req.query_string(), true)?;
    if let Some(last) = req.headers().get("last-event-id") {
        let text = last.to_str().unwrap_or("").trim();
        query.filter.after = text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                EnvelopeError::bad_request(
                    "Header 'Last-Event-ID' must be an event id (a non-negative integer)",
                )
            })?;
        query.has_cursor = true;
    }
    if !query.has_cursor {
        query.filter.after = with_store(&state.store, |store| store.latest_event_id())
            .await
            .map_err(|e| EnvelopeError::from_storage(&e))?;
    }
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    actix_web::rt::spawn(pump(state.store.clone(), query.filter, sender));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Reverse proxies (nginx) would otherwise hold events back in their buffers.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(Receiver(receiver)))
}

/// One event in the SSE wire format. JSON has no raw newlines, so `data:` is one line.
pub fn sse_frame(event: &Event) -> String {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "null".to_owned());
    format!("id: {}\nevent: {}\ndata: {json}\n\n", event.id, event.kind)
}

/// Reads the outbox after the cursor and sends each event down the stream, until the client
/// goes away (the channel closes).
async fn pump(store: shiplog_storage::Store, mut filter: EventFilter, sender: mpsc::Sender<Bytes>) {
    // Tells the client how long to wait before reconnecting, once, up front.
    if sender
        .send(Bytes::from_static(b"retry: 2000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut last_sent = Instant::now();
    loop {
        let asked = filter.clone();
        let page = with_store(&store, move |store| store.list_events(&asked, STREAM_BATCH)).await;
        let events = match page {
            Ok(events) => events,
            Err(err) => {
                log::warn!("event stream: reading the outbox failed: {err}");
                if sender.is_closed() {
                    return;
                }
                actix_web::rt::time::sleep(RETRY_AFTER_ERROR).await;
                continue;
            }
        };
        let full = i64::try_from(events.len()).unwrap_or(i64::MAX) >= STREAM_BATCH;
        for event in &events {
            if sender.send(Bytes::from(sse_frame(event))).await.is_err() {
                return;
            }
            filter.after = event.id;
            last_sent = Instant::now();
        }
        if full {
            continue;
        }
        if last_sent.elapsed() >= KEEP_ALIVE_EVERY {
            if sender
                .send(Bytes::from_static(b": keep-alive\n\n"))
                .await
                .is_err()
            {
                return;
            }
            last_sent = Instant::now();
        }
        if sender.is_closed() {
            return;
        }
        actix_web::rt::time::sleep(POLL_EVERY).await;
    }
}

/// The response body: what `pump` sends, as it comes. Dropping it (the client left) closes the
/// channel, which stops `pump`.
struct Receiver(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Receiver {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|item| item.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_parameter() {
        let query = parse_params(
            "after=7&type=release.*,rule.created&product=Firefox&channel=beta&platform=eu&team=web&limit=5",
            false,
        )
        .expect("valid");
        assert_eq!(query.filter.after, 7);
        assert!(query.has_cursor);
        assert_eq!(query.limit, 5);
        assert_eq!(
            query.filter.types,
            vec![
                TypePattern::Family("release".into()),
                TypePattern::Exact("rule.created".into())
            ]
        );
        assert_eq!(query.filter.product.as_deref(), Some("Firefox"));
        assert_eq!(query.filter.channel.as_deref(), Some("beta"));
        assert_eq!(query.filter.platform.as_deref(), Some("eu"));
        assert_eq!(query.filter.team.as_deref(), Some("web"));
        let defaults = parse_params("", false).expect("valid");
        assert_eq!(defaults.filter, EventFilter::default());
        assert!(!defaults.has_cursor);
        assert_eq!(defaults.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn refuses_bad_input_naming_the_parameter() {
        for (input, stream, needle) in [
            ("after=-1", false, "'after'"),
            ("after=x", false, "'after'"),
            ("limit=0", false, "'limit'"),
            ("limit=1001", false, "'limit'"),
            ("limit=5", true, "Unknown parameter 'limit'"),
            ("type=release", false, "'type'"),
            ("type=release.*,", false, "'type'"),
            ("team=", false, "'team'"),
            ("team=a&team=b", false, "more than once"),
            ("colour=red", false, "Unknown parameter 'colour'"),
        ] {
            let err = parse_params(input, stream).expect_err(input);
            assert!(err.message().contains(needle), "{input}: {}", err.message());
        }
    }

    #[test]
    fn an_sse_frame_is_id_event_and_one_data_line() {
        let event = Event {
            id: 42,
            kind: "release.created".into(),
            timestamp: time::macros::datetime!(2026-12-03 14:00 UTC),
            actor: Some("alice".into()),
            data: serde_json::json!({"notes": ["line one\nline two"]}),
        };
        let frame = sse_frame(&event);
        let lines: Vec<&str> = frame.split('\n').collect();
        assert_eq!(lines[0], "id: 42");
        assert_eq!(lines[1], "event: release.created");
        assert!(lines[2].starts_with("data: {\"id\":42,\"type\":\"release.created\""));
        assert_eq!(&lines[3..], ["", ""]);
    }
}
