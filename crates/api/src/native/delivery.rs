//! `GET /api/v1/delivery`: delivery metrics (DORA) over a time window, in the `/api/v1`
//! envelope. The parameters are read here (also by `shiplog delivery`); the definitions live in
//! `shiplog_domain::delivery` and the queries in storage.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use shiplog_domain::delivery::{Figures, GroupBy, Window};
use shiplog_domain::timestamp;
use shiplog_storage::{DeliveryQuery, DeliveryReport};
use time::OffsetDateTime;

use super::envelope::{success, EnvelopeError, FailureEnvelope};
use crate::blocking::with_store;
use crate::state::AppState;

/// The longest window, about ten years: the series has an entry per day (per group), so an
/// unbounded window would make one request build an answer of millions of entries.
const MAX_DAYS: f64 = 3_660.0;

/// The parameters, in the order the error message lists them.
const KEYS: [&str; 7] = [
    "from", "to", "team", "platform", "package", "user", "group_by",
];

fn time_param(key: &str, value: &str) -> Result<OffsetDateTime, EnvelopeError> {
    timestamp::parse(value).map_err(|_| {
        EnvelopeError::bad_request(format!(
            "Parameter '{key}' is not a timestamp: {value:?} (use e.g. 2026-01-31T12:00:00Z, \
             2026-01-31 or unix seconds)"
        ))
    })
}

/// Reads and checks the query string: unknown or repeated keys, empty values, unreadable
/// times, an unknown `group_by`, a `from` not before `to` and a window longer than
/// `MAX_DAYS` are refused. `to` defaults to `now`, `from` to 30 days before `to`.
pub fn parse_params(
    query_string: &str,
    now: OffsetDateTime,
) -> Result<DeliveryQuery, EnvelopeError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|e| EnvelopeError::bad_request(format!("Unreadable query string: {e}")))?
        .into_inner();
    let mut seen: Vec<&str> = Vec::new();
    let (mut from, mut to) = (None, None);
    let mut query = DeliveryQuery::new(Window::from_params(None, None, now).map_err(bad)?);
    for (key, value) in &pairs {
        let Some(known) = KEYS.iter().find(|k| **k == key.as_str()) else {
            return Err(EnvelopeError::bad_request(format!(
                "Unknown parameter '{key}'; the parameters are {}",
                KEYS.join(", ")
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
        match *known {
            "from" => from = Some(time_param(key, value)?),
            "to" => to = Some(time_param(key, value)?),
            "team" => query.team = Some(value.to_owned()),
            "platform" => query.platform = Some(value.to_owned()),
            "package" => query.package = Some(value.to_owned()),
            "user" => query.user = Some(value.to_owned()),
            _ => {
                query.group_by = Some(GroupBy::parse(value).ok_or_else(|| {
                    EnvelopeError::bad_request(format!(
                        "Parameter 'group_by' must be team, platform or package, not {value:?}"
                    ))
                })?)
            }
        }
    }
    query.window = Window::from_params(from, to, now).map_err(bad)?;
    if query.window.days() > MAX_DAYS {
        return Err(EnvelopeError::bad_request(format!(
            "The window from 'from' to 'to' must not be longer than {MAX_DAYS} days"
        )));
    }
    Ok(query)
}

fn bad(_: shiplog_domain::DomainError) -> EnvelopeError {
    EnvelopeError::bad_request("Parameter 'from' must be before 'to'")
}

/// `data` of a delivery answer: the window, its figures, and the groups when asked for.
#[derive(Debug, Serialize)]
pub struct DeliveryData {
    /// The window's first instant (`%Y-%m-%dT%H:%M:%SZ`).
    pub from: String,
    /// The first instant after it.
    pub to: String,
    /// Its length in days.
    pub days: f64,
    #[serde(flatten)]
    pub figures: Figures,
    /// With `group_by`: one entry per key, ascending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupData>>,
}

/// One group: its key and the figures as if the key were one more filter.
#[derive(Debug, Serialize)]
pub struct GroupData {
    pub key: String,
    #[serde(flatten)]
    pub figures: Figures,
}

impl DeliveryData {
    pub fn new(query: &DeliveryQuery, report: DeliveryReport) -> Self {
        DeliveryData {
            from: timestamp::format(query.window.from()),
            to: timestamp::format(query.window.to()),
            days: query.window.days(),
            figures: report.figures,
            groups: report.groups.map(|groups| {
                groups
                    .into_iter()
                    .map(|(key, figures)| GroupData { key, figures })
                    .collect()
            }),
        }
    }
}

/// Delivery metrics (DORA) from the ledger: deployment frequency and its band, change
/// failure rate, recovery time, lead time for changes, rework rate and a per-day series.
#[utoipa::path(
    tag = "delivery",
    params(
        ("from" = Option<String>, Query, description = "Window start, inclusive; any timestamp the Orlo face accepts. Default: 30 days before `to`"),
        ("to" = Option<String>, Query, description = "Window end, exclusive. Default: now"),
        ("team" = Option<String>, Query),
        ("platform" = Option<String>, Query),
        ("package" = Option<String>, Query, description = "Releases with a package of this name"),
        ("user" = Option<String>, Query),
        ("group_by" = Option<String>, Query, description = "team, platform or package: adds `groups`, each key computed as one more filter"),
    ),
    responses(
        (status = 200, description = "`{\"status\": \"success\", \"data\": {\"from\", \"to\", \"days\", \"deployments\", \"deployment_frequency\", \"change_failure_rate\", \"failed\", \"recovery_time\", \"lead_time\", \"rework_rate\", \"series\", \"groups\"?}, \"errors\": []}` (see docs/delivery.md)"),
        (status = 400, description = "An unknown, repeated, empty or unreadable parameter, or `from` not before `to`", body = FailureEnvelope),
    )
)]
#[get("/delivery")]
pub async fn get_delivery(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, EnvelopeError> {
    let query = parse_params(req.query_string(), OffsetDateTime::now_utc())?;
    let asked = query.clone();
    let report = with_store(&state.store, move |store| store.delivery(&asked))
        .await
        .map_err(|e| EnvelopeError::from_storage(&e))?;
    Ok(success(StatusCode::OK, DeliveryData::new(&query, report)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    #[test]
    fn defaults_to_the_last_30_days() {
        let query = parse_params("", NOW).expect("valid");
        assert_eq!(query.window.to(), NOW);
        assert_eq!(query.window.from(), datetime!(2026-01-30 12:00 UTC));
        let query = parse_params("to=2026-02-01", NOW).expect("valid");
        assert_eq!(query.window.from(), datetime!(2026-01-02 00:00 UTC));
    }

    #[test]
    fn reads_every_parameter() {
        let query = parse_params(
            "from=1767225600&to=2026-01-08T00:00:00%2B01:00&team=core&platform=eu&package=web&user=bob&group_by=package",
            NOW,
        )
        .expect("valid");
        assert_eq!(query.window.from(), datetime!(2026-01-01 00:00 UTC));
        assert_eq!(query.window.to(), datetime!(2026-01-07 23:00 UTC));
        assert_eq!(query.team.as_deref(), Some("core"));
        assert_eq!(query.platform.as_deref(), Some("eu"));
        assert_eq!(query.package.as_deref(), Some("web"));
        assert_eq!(query.user.as_deref(), Some("bob"));
        assert_eq!(query.group_by, Some(GroupBy::Package));
    }

    #[test]
    fn refuses_bad_input_naming_the_parameter() {
        for (input, needle) in [
            ("from=yesterday", "'from'"),
            ("to=2026-13-01", "'to'"),
            ("from=2026-02-01&to=2026-01-01", "before"),
            ("from=2026-01-01&to=2026-01-01", "before"),
            ("from=2026-04-01", "before"),
            ("from=1990-01-01&to=2026-01-01", "longer than 3660 days"),
            ("group_by=user", "'group_by'"),
            ("team=", "'team'"),
            ("team=a&team=b", "more than once"),
            ("colour=red", "Unknown parameter 'colour'"),
        ] {
            let err = parse_params(input, NOW).expect_err(input);
            assert!(err.message().contains(needle), "{input}: {}", err.message());
        }
    }
}
