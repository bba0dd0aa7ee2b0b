//! `POST /api/v1/evaluate/batch`: many queries evaluated against one snapshot of the rules in
//! one request — what a test suite of expected answers, or a dashboard comparing populations,
//! needs without a round trip per query. Each query is read exactly as `GET /api/v1/evaluate`
//! reads its query string; a query that cannot be read is an error in its own slot, not a
//! failure of the whole batch.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shiplog_domain::input::MAX_LIST_ITEMS;
use utoipa::ToSchema;

use super::envelope::{success, Envelope, EnvelopeError, FailureEnvelope};
use super::evaluate::{parse_query_object, EvaluationData};
use crate::serving::with_dice;
use crate::state::AppState;

/// Body of `POST /api/v1/evaluate/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1,000 queries, each an object of the keys `GET /api/v1/evaluate` takes
    /// (`{"product": "Firefox", "version": "60.0", "channel": "release", …}`); values are
    /// strings, numbers or booleans.
    #[schema(value_type = Vec<Object>)]
    pub queries: Vec<Value>,
    /// Include each served release's blob (default true); false answers names only.
    #[serde(default = "include_blobs")]
    pub releases: bool,
}

fn include_blobs() -> bool {
    true
}

/// One query's answer, in the order the queries were given: `result` when it was evaluated,
/// `error` when it could not be read or compared.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    pub result: Option<EvaluationData>,
    pub error: Option<String>,
}

/// `data` of a batch evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchData {
    /// One answer per query, in the order given.
    pub results: Vec<BatchItem>,
}

/// Evaluate many queries in one request, against one snapshot of the rules.
#[utoipa::path(
    tag = "evaluation",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One answer per query, in order; a query that cannot be read has `error`", body = Envelope<BatchData>),
        (status = 400, description = "Not JSON, an unknown key, no queries or more than 1,000", body = FailureEnvelope),
    )
)]
#[post("/evaluate/batch")]
pub async fn evaluate_batch(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    let request: BatchRequest = serde_json::from_slice(&body).map_err(|e| {
        EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("Unable to parse supplied JSON: {e}"),
        )
    })?;
    if request.queries.is_empty() {
        return Err(EnvelopeError::bad_request("'queries' must not be empty"));
    }
    if request.queries.len() > MAX_LIST_ITEMS {
        return Err(EnvelopeError::bad_request(format!(
            "'queries' holds {} queries; at most {MAX_LIST_ITEMS} fit in one batch",
            request.queries.len()
        )));
    }
    let rules = state.rules.current(&state.store).await;
    let results = request
        .queries
        .iter()
        .map(|object| {
            let answer = parse_query_object(object)
                .map_err(|e| e.message().to_owned())
                .and_then(|owned| {
                    let query = owned.query();
                    let decision = with_dice(|dice| rules.set.evaluate(&query, dice));
                    state.metrics.evaluation(&query, decision.as_ref().ok());
                    decision
                        .map(|d| EvaluationData::from_decision(&d))
                        .map_err(|e| e.to_string())
                });
            match answer {
                Ok(mut data) => {
                    if !request.releases {
                        if let Some(release) = data.release.as_mut() {
                            release.data = Value::Null;
                        }
                    }
                    BatchItem {
                        result: Some(data),
                        error: None,
                    }
                }
                Err(error) => BatchItem {
                    result: None,
                    error: Some(error),
                },
            }
        })
        .collect();
    Ok(success(StatusCode::OK, BatchData { results }))
}
