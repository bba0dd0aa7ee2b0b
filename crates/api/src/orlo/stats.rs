//! `/stats`: releases counted by outcome — overall, per user, team, platform or package, and
//! per calendar bucket.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use shiplog_domain::timestamp;
use shiplog_storage::{DateBucket, DateUnit, ReleaseCounts, ReleaseFilter, StatsSubject};

use super::error::OrloError;
use super::json::{parse_bool, ErrorBody};
use super::params::{pairs, release_filter};
use crate::blocking::with_store;
use crate::state::AppState;

/// Orlo's stats block for one set of counts.
fn block(c: &ReleaseCounts) -> Value {
    json!({"releases": {
        "normal": {"successful": c.normal_successful, "failed": c.normal_failed},
        "rollback": {"successful": c.rollback_successful, "failed": c.rollback_failed},
        "total": {
            "successful": c.normal_successful + c.rollback_successful,
            "failed": c.normal_failed + c.rollback_failed,
        },
    }})
}

/// The release filter of a `/stats` request: `stime` and `ftime` are inclusive bounds on the
/// release start time; every other release filter of `GET /releases` applies too.
fn stats_filter(req: &HttpRequest) -> Result<ReleaseFilter, OrloError> {
    let pairs = pairs(req.query_string())?;
    let mut filter = release_filter(&pairs, &["stime", "ftime"])?;
    let bad_time = || {
        OrloError::bad_request(
            "invalid_timestamp",
            "A badly formatted datetime string was given",
        )
    };
    for (name, value) in &pairs {
        match name.as_str() {
            "stime" if filter.stime.not_before.is_none() => {
                filter.stime.not_before = Some(timestamp::parse(value).map_err(|_| bad_time())?);
            }
            "ftime" if filter.stime.not_after.is_none() => {
                filter.stime.not_after = Some(timestamp::parse(value).map_err(|_| bad_time())?);
            }
            _ => {}
        }
    }
    Ok(filter)
}

fn subject(name: &str) -> Option<StatsSubject> {
    Some(match name {
        "user" => StatsSubject::User,
        "team" => StatsSubject::Team,
        "platform" => StatsSubject::Platform,
        "package" => StatsSubject::Package,
        _ => return None,
    })
}

/// Release outcomes over everything (or the filtered releases).
#[utoipa::path(
    tag = "orlo: stats",
    params(
        ("stime" = Option<String>, Query, description = "Releases started at or after"),
        ("ftime" = Option<String>, Query, description = "Releases started at or before"),
    ),
    responses(
        (status = 200, description = "`{\"global\": stats}`"),
        (status = 400, description = "A malformed time or filter", body = ErrorBody),
    )
)]
#[get("/stats")]
pub async fn stats_global(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    let filter = stats_filter(&req)?;
    let counts = with_store(&state.store, move |s| s.release_counts(&filter)).await?;
    Ok(HttpResponse::Ok().json(json!({ "global": block(&counts) })))
}

async fn by_subject(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    only: Option<String>,
) -> Result<HttpResponse, OrloError> {
    let subject =
        subject(kind).ok_or_else(|| OrloError::unknown_route(req.full_url().to_string()))?;
    let filter = stats_filter(req)?;
    let counts = with_store(&state.store, move |s| {
        s.release_counts_by(subject, only.as_deref(), &filter)
    })
    .await?;
    let body: BTreeMap<String, Value> = counts
        .iter()
        .map(|(name, c)| (name.clone(), block(c)))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Release outcomes for every user, team, platform or package that ever appeared.
#[utoipa::path(
    tag = "orlo: stats",
    params(
        ("subject" = String, Path, description = "user, team, platform or package (any other is a 404)"),
        ("stime" = Option<String>, Query, description = "Releases started at or after"),
        ("ftime" = Option<String>, Query, description = "Releases started at or before"),
    ),
    responses(
        (status = 200, description = "`{name: stats, …}`"),
        (status = 400, description = "A malformed time or filter", body = ErrorBody),
        (status = 404, description = "Not one of the subjects", body = ErrorBody),
    )
)]
#[get("/stats/{subject}")]
pub async fn stats_by_subject(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    by_subject(&state, &req, &path, None).await
}

/// Release outcomes for one user, team, platform or package (zeros if it never appeared).
#[utoipa::path(
    tag = "orlo: stats",
    params(
        ("subject" = String, Path, description = "user, team, platform or package (any other is a 404)"),
        ("name" = String, Path, description = "The user, team, platform or package name"),
        ("stime" = Option<String>, Query, description = "Releases started at or after"),
        ("ftime" = Option<String>, Query, description = "Releases started at or before"),
    ),
    responses(
        (status = 200, description = "`{name: stats}`"),
        (status = 400, description = "A malformed time or filter", body = ErrorBody),
        (status = 404, description = "Not one of the subjects", body = ErrorBody),
    )
)]
#[get("/stats/{subject}/{name}")]
pub async fn stats_for_one(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, OrloError> {
    let (kind, name) = path.into_inner();
    by_subject(&state, &req, &kind, Some(name)).await
}

/// Nests bucket counts under their date path (and package name), keeping only non-zero leaves.
fn nest(buckets: &[DateBucket], summarize: bool) -> Value {
    let mut root = Map::new();
    for bucket in buckets {
        let path: &[i64] = if summarize {
            &bucket.path[bucket.path.len() - 1..]
        } else {
            &bucket.path
        };
        let mut node = &mut root;
        for key in path
            .iter()
            .map(ToString::to_string)
            .chain(bucket.package.clone())
        {
            node = node
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("object node");
        }
        let category = if bucket.rollback {
            "rollback"
        } else {
            "normal"
        };
        let leaf = node
            .entry(category)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("object leaf");
        for (name, n) in [("successful", bucket.successful), ("failed", bucket.failed)] {
            if n > 0 {
                let total = leaf.get(name).and_then(Value::as_i64).unwrap_or(0) + n;
                leaf.insert(name.to_owned(), json!(total));
            }
        }
    }
    Value::Object(root)
}

async fn by_date(
    state: &AppState,
    req: &HttpRequest,
    subject: &str,
) -> Result<HttpResponse, OrloError> {
    let by_package = match subject {
        "release" => false,
        "package" => true,
        other => {
            return Err(OrloError::bad_request(
                "invalid_subject",
                format!(
                "Invalid subject \"{other}\" specified for stats breakdown: use release or package"
            ),
            ))
        }
    };
    let pairs = pairs(req.query_string())?;
    let mut unit = DateUnit::Month;
    let mut summarize = false;
    for (name, value) in &pairs {
        match name.as_str() {
            "unit" => {
                unit = DateUnit::parse(value).ok_or_else(|| {
                    OrloError::bad_request(
                        "invalid_unit",
                        format!("Invalid unit \"{value}\" specified for {subject} breakdown"),
                    )
                })?;
            }
            // A bare `summarize_by_unit` turns it on; `false` really turns it off (Orlo's B14).
            "summarize_by_unit" => {
                summarize = value.is_empty()
                    || parse_bool(value).ok_or_else(|| {
                        OrloError::bad_request(
                            "invalid_parameter",
                            "summarize_by_unit must be a boolean value",
                        )
                    })?;
            }
            _ => {}
        }
    }
    let filter = release_filter(&pairs, &["unit", "summarize_by_unit"])?;
    let buckets = with_store(&state.store, move |s| {
        s.release_counts_by_date(unit, by_package, &filter)
    })
    .await?;
    Ok(HttpResponse::Ok().json(nest(&buckets, summarize)))
}

/// Release outcomes by calendar bucket of the release start time.
#[utoipa::path(
    tag = "orlo: stats",
    params(
        ("unit" = Option<String>, Query, description = "year, month (default), week, day, hour or iso"),
        ("summarize_by_unit" = Option<bool>, Query, description = "Key by the unit alone, merging years"),
    ),
    responses(
        (status = 200, description = "Nested `{year: {month: {normal|rollback: {successful|failed: n}}}}`"),
        (status = 400, description = "A bad unit, subject or filter", body = ErrorBody),
    )
)]
#[get("/stats/by_date")]
pub async fn stats_by_date_default(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, OrloError> {
    by_date(&state, &req, "release").await
}

/// Release outcomes by calendar bucket: `release` by release start time, `package` by package
/// start time and name (under the release's outcome). Takes every `GET /releases` filter.
#[utoipa::path(
    tag = "orlo: stats",
    params(
        ("subject" = String, Path, description = "release or package"),
        ("unit" = Option<String>, Query, description = "year, month (default), week, day, hour or iso"),
        ("summarize_by_unit" = Option<bool>, Query, description = "Key by the unit alone, merging years"),
    ),
    responses(
        (status = 200, description = "Nested `{year: {month: {normal|rollback: {successful|failed: n}}}}`"),
        (status = 400, description = "A bad unit, subject or filter", body = ErrorBody),
    )
)]
#[get("/stats/by_date/{subject}")]
pub async fn stats_by_date(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrloError> {
    by_date(&state, &req, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_keeps_only_nonzero_leaves_and_merges_when_summarized() {
        let bucket = |path: Vec<i64>, rollback, successful, failed| DateBucket {
            path,
            package: None,
            rollback,
            successful,
            failed,
        };
        let buckets = [
            bucket(vec![2015, 12], false, 1, 0),
            bucket(vec![2016, 12], false, 2, 1),
            bucket(vec![2016, 1], true, 0, 1),
        ];
        assert_eq!(
            nest(&buckets, false),
            json!({"2015": {"12": {"normal": {"successful": 1}}},
                   "2016": {"12": {"normal": {"successful": 2, "failed": 1}}, "1": {"rollback": {"failed": 1}}}})
        );
        assert_eq!(
            nest(&buckets, true),
            json!({"12": {"normal": {"successful": 3, "failed": 1}}, "1": {"rollback": {"failed": 1}}})
        );
    }
}
