//! `GET /api/v1/evaluate?product=…&version=…`: which rule wins for a query and which release is
//! served, as JSON in the `/api/v1` envelope. The query keys are Balrog's, plus `clientId` for
//! sticky rules; an absent key is not an empty one (see [`shiplog_domain::balrog::Query`]).

use crate::caching::{not_modified, ETag};
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use shiplog_domain::balrog::{Decision, Force, PinVersion, Version, VersionScheme};
use utoipa::ToSchema;

use super::envelope::{success, Envelope, EnvelopeError, FailureEnvelope};
use crate::serving::with_dice;
use crate::state::AppState;
use shiplog_domain::balrog::OwnedQuery;

/// The release served.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServedRelease {
    pub name: String,
    pub product: String,
    /// The release blob.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// `data` of an evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationData {
    /// The winning rule (null under a shutoff or when no rule matches).
    pub rule_id: Option<i64>,
    pub rule_data_version: Option<i64>,
    /// The release actually served: the fallback when the background rate (or `force=-1`)
    /// sends the client there, the pinned release when the client's `pin` holds it back;
    /// null when nothing is served.
    pub mapping: Option<String>,
    /// Why, in words.
    pub reason: String,
    pub release: Option<ServedRelease>,
}

impl EvaluationData {
    pub fn from_decision(decision: &Decision<'_>) -> EvaluationData {
        EvaluationData {
            rule_id: decision.rule.map(|r| r.rule_id),
            rule_data_version: decision.rule.map(|r| r.data_version),
            mapping: decision.mapping().map(str::to_owned),
            reason: decision.reason.describe().to_owned(),
            release: decision.release.map(|r| ServedRelease {
                name: r.name.clone(),
                product: r.product.clone(),
                data: r.data.clone(),
            }),
        }
    }
}

/// The query keys: Balrog's, then `clientId` (shiplog's sticky rollouts).
const KEYS: [&str; 17] = [
    "product",
    "version",
    "buildID",
    "buildTarget",
    "locale",
    "channel",
    "osVersion",
    "distribution",
    "distVersion",
    "headerArchitecture",
    "instructionSet",
    "memory",
    "jaws",
    "mig64",
    "force",
    "pin",
    "clientId",
];

fn flag(key: &str, value: &str) -> Result<bool, EnvelopeError> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(EnvelopeError::bad_request(format!(
            "Parameter '{key}' must be 1, 0, true or false, not {value:?}"
        ))),
    }
}

/// Reads and checks the query string: unknown keys, a missing product or version, a version the
/// product's scheme cannot read, a memory that is not an integer and a flag that is not one are
/// refused.
pub fn parse_query(query_string: &str) -> Result<OwnedQuery, EnvelopeError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|e| EnvelopeError::bad_request(format!("Unreadable query string: {e}")))?
        .into_inner();
    parse_pairs(pairs)
}

/// Reads a query given as a JSON object with the same keys (`POST /api/v1/evaluate/batch`,
/// `shiplog rules test`): values are strings, numbers or booleans; null is an absent key.
pub fn parse_query_object(object: &Value) -> Result<OwnedQuery, EnvelopeError> {
    let Value::Object(map) = object else {
        return Err(EnvelopeError::bad_request(
            "A query must be a JSON object of Balrog's query keys",
        ));
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (key, value) in map {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(EnvelopeError::bad_request(format!(
                    "Parameter '{key}' must be a string, a number or a boolean"
                )))
            }
        };
        pairs.push((key.clone(), text));
    }
    parse_pairs(pairs)
}

/// Reads and checks query keys and values (see [`parse_query`]).
fn parse_pairs(pairs: Vec<(String, String)>) -> Result<OwnedQuery, EnvelopeError> {
    let mut query = OwnedQuery::default();
    let (mut product, mut version) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "product" => product = Some(value),
            "version" => version = Some(value),
            "buildID" => query.build_id = Some(value),
            "buildTarget" => query.build_target = Some(value),
            "locale" => query.locale = Some(value),
            "channel" => query.channel = Some(value),
            "osVersion" => query.os_version = Some(value),
            "distribution" => query.distribution = Some(value),
            "distVersion" => query.dist_version = Some(value),
            "headerArchitecture" => query.header_architecture = Some(value),
            "instructionSet" => query.instruction_set = Some(value),
            "memory" => {
                query.memory = Some(value.trim().parse().map_err(|_| {
                    EnvelopeError::bad_request(format!(
                        "Parameter 'memory' must be an integer, not {value:?}"
                    ))
                })?)
            }
            "jaws" => query.jaws = Some(flag("jaws", &value)?),
            "mig64" => query.mig64 = Some(flag("mig64", &value)?),
            "force" => query.force = Force::parse(&value),
            // Refused here when malformed, though the update URL only notices when a release
            // would be served past it: this face says what is wrong with a query up front.
            "pin" => {
                PinVersion::parse(&value).map_err(|_| {
                    EnvelopeError::bad_request(format!(
                        "Parameter 'pin' must be 'X.' or 'X.Y.' (a major or major.minor version with a trailing dot), not {value:?}"
                    ))
                })?;
                query.pin = Some(value);
            }
            // The identifier a client would send, for every sticky rule whatever source it
            // names; empty is none (the random roll).
            "clientId" => query.client_id = Some(value).filter(|v| !v.is_empty()),
            other => {
                return Err(EnvelopeError::bad_request(format!(
                    "Unknown parameter '{other}'; the parameters are {}",
                    KEYS.join(", ")
                )))
            }
        }
    }
    query.product = product
        .filter(|p| !p.is_empty())
        .ok_or_else(|| EnvelopeError::bad_request("Missing parameter 'product'"))?;
    query.version = version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| EnvelopeError::bad_request("Missing parameter 'version'"))?;
    if VersionScheme::for_product(&query.product) == VersionScheme::Mozilla {
        Version::parse(&query.version).map_err(|_| {
            EnvelopeError::bad_request(format!("Invalid version number {:?}", query.version))
        })?;
    }
    Ok(query)
}

/// Evaluate the rules for a client's query: the winning rule, the release served and why.
#[utoipa::path(
    tag = "evaluation",
    params(
        ("product" = String, Query, description = "Required"),
        ("version" = String, Query, description = "Required; a Mozilla version (60.0, 48.0a1), or any text for FirefoxVPN and Guardian"),
        ("buildID" = Option<String>, Query, description = "Compared as text; absent reads as \"\""),
        ("buildTarget" = Option<String>, Query, description = "Absent: only rules without one match"),
        ("locale" = Option<String>, Query),
        ("channel" = Option<String>, Query, description = "Also matches rules of its -cck- base channel"),
        ("osVersion" = Option<String>, Query),
        ("distribution" = Option<String>, Query),
        ("distVersion" = Option<String>, Query, description = "Absent: only rules without one match"),
        ("headerArchitecture" = Option<String>, Query, description = "Absent: only rules without one match"),
        ("instructionSet" = Option<String>, Query),
        ("memory" = Option<i64>, Query, description = "Absent: every memory condition matches"),
        ("jaws" = Option<bool>, Query, description = "1/0/true/false; absent matches only rules without one"),
        ("mig64" = Option<bool>, Query, description = "1/0/true/false; absent matches only rules without one"),
        ("force" = Option<String>, Query, description = "1: the main mapping; -1: the fallback"),
        ("pin" = Option<String>, Query, description = "`X.` or `X.Y.`: when the release served is newer, serve the release pinned for it (product, base channel) if one is"),
        ("clientId" = Option<String>, Query, description = "The client identifier a sticky rule (stickyBy) rolls from, whatever source the rule names; absent or empty: the random roll"),
    ),
    responses(
        (status = 200, description = "The winning rule, the release served and why", body = Envelope<EvaluationData>),
        (status = 400, description = "A missing or unreadable parameter, or a version a rule cannot compare", body = FailureEnvelope),
    )
)]
#[get("/evaluate")]
pub async fn evaluate(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, EnvelopeError> {
    let owned = parse_query(req.query_string())?;
    let rules = state.rules.current(&state.store).await;
    let query = owned.query();
    let decision = with_dice(|dice| rules.set.evaluate(&query, dice));
    state.metrics.evaluation(&query, decision.as_ref().ok());
    let decision = decision.map_err(|e| EnvelopeError::bad_request(e.to_string()))?;
    let tag = ETag::of_decision(rules.version, &decision);
    if tag.matches(&req) {
        return Ok(not_modified(&tag).finish());
    }
    let mut response = success(
        actix_web::http::StatusCode::OK,
        EvaluationData::from_decision(&decision),
    );
    for (name, value) in [tag.header(), ETag::cache_control()] {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}
