//! `POST` and `GET /api/v1/scheduled_changes/{table}/{sc_id}/preview`: what a pending rule or
//! emergency-shutoff change would do to the answers clients get, before it is enacted. The rule
//! set is compiled twice from one snapshot — as it is, and as the change would leave it — and
//! each query is evaluated against both with the same dice roll (so the background rate cannot
//! pass for a change), and the queries whose decision changes are listed, from what to what.
//! `POST` compares the queries sent; `GET` the ones this server answered lately for the
//! products the change touches (`recent_queries`).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shiplog_domain::balrog::{
    ChangeType, EmergencyShutoff, Force, OwnedQuery, Rule, RuleFields, RuleSet, ScTable,
    ScheduledChange, SplitMix64,
};
use shiplog_domain::input::MAX_LIST_ITEMS;
use utoipa::ToSchema;

use super::envelope::{success, Envelope, EnvelopeError, FailureEnvelope};
use super::evaluate::{parse_query_object, EvaluationData};
use crate::blocking::with_store;
use crate::state::AppState;

/// The id a rule the change inserts is shown with (it gets its real id when enacted).
pub const NEW_RULE_ID: i64 = 0;

/// Body of a preview: the queries to compare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// 1 to 1,000 queries, each an object of the keys `GET /api/v1/evaluate` takes.
    #[schema(value_type = Vec<Object>)]
    pub queries: Vec<Value>,
}

/// One query whose decision the change would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedAnswer {
    /// Its position in the request, from 0.
    pub index: usize,
    #[schema(value_type = Object)]
    pub query: Value,
    /// The decision now (the release's blob left out).
    pub before: EvaluationData,
    /// The decision once the change is enacted; a rule it inserts has `rule_id` 0.
    pub after: EvaluationData,
}

/// A query that could not be read or evaluated.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewError {
    pub index: usize,
    pub error: String,
}

/// `data` of a preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewData {
    pub sc_id: i64,
    pub table: String,
    /// How many queries were compared.
    pub queries: usize,
    /// How many get the same decision either way.
    pub unchanged: usize,
    pub changed: Vec<ChangedAnswer>,
    pub errors: Vec<PreviewError>,
}

fn rule_fields(base: &Map<String, Value>) -> Result<RuleFields, EnvelopeError> {
    let mut row = base.clone();
    row.remove("rule_id");
    row.remove("data_version");
    serde_json::from_value(Value::Object(row))
        .map_err(|e| EnvelopeError::unexpected(&e as &dyn std::error::Error))
}

/// The rules and shutoffs as `change` would leave them.
fn after_change(
    change: &ScheduledChange,
    mut rules: Vec<Rule>,
    mut shutoffs: Vec<EmergencyShutoff>,
) -> Result<(Vec<Rule>, Vec<EmergencyShutoff>), EnvelopeError> {
    let base = &change.base;
    let text = |key: &str| base.get(key).and_then(Value::as_str).unwrap_or_default();
    let rule_id = base.get("rule_id").and_then(Value::as_i64);
    match (change.table, change.change_type) {
        (ScTable::Rules, ChangeType::Insert) => rules.push(Rule {
            rule_id: NEW_RULE_ID,
            fields: rule_fields(base)?,
            data_version: 1,
        }),
        (ScTable::Rules, ChangeType::Update) => {
            let fields = rule_fields(base)?;
            for rule in rules.iter_mut().filter(|r| Some(r.rule_id) == rule_id) {
                rule.fields = fields.clone();
                rule.data_version += 1;
            }
        }
        (ScTable::Rules, ChangeType::Delete) => rules.retain(|r| Some(r.rule_id) != rule_id),
        (ScTable::EmergencyShutoff, ChangeType::Delete) => {
            shutoffs.retain(|s| !(s.product == text("product") && s.channel == text("channel")));
        }
        (ScTable::EmergencyShutoff, _) => {
            let comment = base.get("comment").and_then(Value::as_str);
            let shutoff = EmergencyShutoff::new(text("product"), text("channel"), comment)
                .map_err(|e| EnvelopeError::bad_request(e.to_string()))?;
            shutoffs.push(shutoff);
        }
        _ => {
            return Err(EnvelopeError::bad_request(
                "Only rule and emergency-shutoff changes can be previewed",
            ))
        }
    }
    Ok((rules, shutoffs))
}

fn without_blob(mut data: EvaluationData) -> EvaluationData {
    if let Some(release) = data.release.as_mut() {
        release.data = Value::Null;
    }
    data
}

/// A pending change's rule set as it is and as the change would leave it, from one snapshot.
struct Compared {
    change: ScheduledChange,
    /// The rules as they are now (to find the product a rule update or delete touches).
    rules_now: Vec<Rule>,
    before: RuleSet,
    after: RuleSet,
}

async fn compile_both(
    state: &AppState,
    table: &str,
    sc_id: &str,
) -> Result<Compared, EnvelopeError> {
    let table = ScTable::parse(table).ok_or_else(EnvelopeError::not_found)?;
    let sc_id: i64 = sc_id.parse().map_err(|_| EnvelopeError::not_found())?;
    let (found, snapshot) = with_store(&state.store, move |store| {
        Ok((
            store.find_scheduled_change(table, sc_id)?,
            store.load_evaluation_snapshot()?,
        ))
    })
    .await
    .map_err(|e| EnvelopeError::from_storage(&e))?;
    let (change, _) = found.ok_or_else(EnvelopeError::not_found)?;
    if change.complete {
        return Err(EnvelopeError::bad_request(
            "The scheduled change is complete; there is nothing to preview",
        ));
    }
    let (rules, shutoffs) =
        after_change(&change, snapshot.rules.clone(), snapshot.shutoffs.clone())?;
    let compile_error = |e: shiplog_domain::DomainError| EnvelopeError::bad_request(e.to_string());
    let before = RuleSet::compile(
        &snapshot.rules,
        &snapshot.shutoffs,
        snapshot.releases.clone(),
    )
    .map_err(compile_error)?
    .with_pins(&snapshot.pins);
    let after = RuleSet::compile(&rules, &shutoffs, snapshot.releases)
        .map_err(compile_error)?
        .with_pins(&snapshot.pins);
    Ok(Compared {
        change,
        rules_now: snapshot.rules,
        before,
        after,
    })
}

impl Compared {
    /// The products whose clients the change can affect; `None` when a rule without a product
    /// is involved (it applies to every product).
    fn products(&self) -> Option<Vec<String>> {
        let base = &self.change.base;
        let mut products = Vec::new();
        let own = base.get("product").and_then(Value::as_str);
        if self.change.table == ScTable::Rules {
            // A rule's product before the change counts too (an update may move it, and a
            // delete's base may not carry it).
            let rule_id = base.get("rule_id").and_then(Value::as_i64);
            if let Some(rule) = self.rules_now.iter().find(|r| Some(r.rule_id) == rule_id) {
                products.push(rule.fields.product.clone()?);
            }
            if self.change.change_type != ChangeType::Delete {
                products.push(own?.to_owned());
            }
        } else {
            products.push(own?.to_owned());
        }
        products.sort();
        products.dedup();
        Some(products)
    }

    /// Evaluates each query both ways and lists those whose decision changes. `queries` are
    /// each the query as shown and the query as read (or why it could not be read).
    fn compare(&self, queries: Vec<(Value, Result<OwnedQuery, String>)>) -> PreviewData {
        let mut data = PreviewData {
            sc_id: self.change.sc_id,
            table: self.change.table.as_str().to_owned(),
            queries: queries.len(),
            unchanged: 0,
            changed: Vec::new(),
            errors: Vec::new(),
        };
        for (index, (object, owned)) in queries.into_iter().enumerate() {
            let answers = owned.and_then(|owned| {
                let query = owned.query();
                // The same roll both ways: only the change can make the answers differ.
                let seed = u64::try_from(index).unwrap_or(u64::MAX);
                let now = self
                    .before
                    .evaluate(&query, &mut SplitMix64(seed))
                    .map(|d| EvaluationData::from_decision(&d));
                let then = self
                    .after
                    .evaluate(&query, &mut SplitMix64(seed))
                    .map(|d| EvaluationData::from_decision(&d));
                match (now, then) {
                    (Ok(now), Ok(then)) => Ok((now, then)),
                    (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
                }
            });
            match answers {
                Ok((now, then)) => {
                    let same = now.rule_id == then.rule_id
                        && now.mapping == then.mapping
                        && now.reason == then.reason;
                    if same {
                        data.unchanged += 1;
                    } else {
                        data.changed.push(ChangedAnswer {
                            index,
                            query: object,
                            before: without_blob(now),
                            after: without_blob(then),
                        });
                    }
                }
                Err(error) => data.errors.push(PreviewError { index, error }),
            }
        }
        data
    }
}

/// A query as `/api/v1/evaluate` takes it: Balrog's keys, absent ones left out.
fn query_object(query: &OwnedQuery) -> Value {
    let mut object = Map::new();
    let mut text = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            object.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    };
    text("product", Some(&query.product));
    text("version", Some(&query.version));
    text("buildID", query.build_id.as_deref());
    text("buildTarget", query.build_target.as_deref());
    text("locale", query.locale.as_deref());
    text("channel", query.channel.as_deref());
    text("osVersion", query.os_version.as_deref());
    text("distribution", query.distribution.as_deref());
    text("distVersion", query.dist_version.as_deref());
    text("headerArchitecture", query.header_architecture.as_deref());
    text("instructionSet", query.instruction_set.as_deref());
    text(
        "force",
        match query.force {
            Force::Main => Some("1"),
            Force::Fallback => Some("-1"),
            Force::None => None,
        },
    );
    text("pin", query.pin.as_deref());
    if let Some(memory) = query.memory {
        object.insert("memory".to_owned(), Value::from(memory));
    }
    if let Some(jaws) = query.jaws {
        object.insert("jaws".to_owned(), Value::Bool(jaws));
    }
    if let Some(mig64) = query.mig64 {
        object.insert("mig64".to_owned(), Value::Bool(mig64));
    }
    Value::Object(object)
}

/// Compare the answers to the queries sent before and after a pending rule or shutoff change.
#[utoipa::path(
    tag = "evaluation",
    params(
        ("table" = String, Path, description = "`rules` or `emergency_shutoff`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The queries whose decision the change would change", body = Envelope<PreviewData>),
        (status = 400, description = "Not JSON, no queries or more than 1,000, a completed change, a table that cannot be previewed", body = FailureEnvelope),
        (status = 404, description = "No such scheduled change", body = FailureEnvelope),
    )
)]
#[post("/scheduled_changes/{table}/{sc_id}/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    let (table, sc_id) = path.into_inner();
    let request: PreviewRequest = serde_json::from_slice(&body).map_err(|e| {
        EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("Unable to parse supplied JSON: {e}"),
        )
    })?;
    if request.queries.is_empty() || request.queries.len() > MAX_LIST_ITEMS {
        return Err(EnvelopeError::bad_request(format!(
            "'queries' must hold 1 to {MAX_LIST_ITEMS} queries"
        )));
    }
    let compared = compile_both(&state, &table, &sc_id).await?;
    let queries = request
        .queries
        .into_iter()
        .map(|object| {
            let owned = parse_query_object(&object).map_err(|e| e.message().to_owned());
            (object, owned)
        })
        .collect();
    Ok(success(StatusCode::OK, compared.compare(queries)))
}

/// Compare the answers this server gave lately before and after a pending rule or shutoff
/// change: the distinct update queries it answered for the products the change touches (every
/// product when a rule without one is involved), up to 1,000 per product, most recent last.
/// Each instance keeps its own: `queries` 0 means this one answered none for those products
/// since it started.
#[utoipa::path(
    tag = "evaluation",
    params(
        ("table" = String, Path, description = "`rules` or `emergency_shutoff`"),
        ("sc_id" = i64, Path, description = "Scheduled change id"),
    ),
    responses(
        (status = 200, description = "The recent queries whose decision the change would change", body = Envelope<PreviewData>),
        (status = 400, description = "A completed change, or a table that cannot be previewed", body = FailureEnvelope),
        (status = 404, description = "No such scheduled change", body = FailureEnvelope),
    )
)]
#[get("/scheduled_changes/{table}/{sc_id}/preview")]
pub async fn preview_recent(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, EnvelopeError> {
    let (table, sc_id) = path.into_inner();
    let compared = compile_both(&state, &table, &sc_id).await?;
    let products = compared.products();
    let wanted: Option<Vec<&str>> = products
        .as_ref()
        .map(|names| names.iter().map(String::as_str).collect());
    let queries = state
        .recent_queries
        .for_products(wanted.as_deref())
        .into_iter()
        .map(|query| (query_object(&query), Ok(query)))
        .collect();
    Ok(success(StatusCode::OK, compared.compare(queries)))
}
