//! Balrog's JSON update protocol: `/json/1/{product}/{version}/{buildTarget}/{channel}/update.json`
//! and `/json/2/…/{channel}/{osVersion}/update.json`, which Guardian-style clients use
//! (docs/evaluation.md). The answer is the release's JSON with `Rule-ID` and
//! `Rule-Data-Version`; when nothing is served it is a 404 with an empty body, as Balrog
//! answers it.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use shiplog_domain::balrog::{update_json, Force, OwnedQuery, Query};
use shiplog_domain::{Action, PermissionName};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ascii, bad_request};
use crate::face::{AuthFailure, Face};
use crate::native::{EnvelopeError, Native};
use crate::serving::with_dice;
use crate::state::AppState;

/// The JSON update protocol at `/json`. Errors are plain text; an unknown URL is a 404 with an
/// empty body, like a query nothing is served for.
pub struct UpdateJson;

impl Face for UpdateJson {
    const MOUNT: &'static str = "/json";
    const NAME: &'static str = "json";
    type Error = EnvelopeError;

    fn routes(cfg: &mut ServiceConfig<'_>) {
        cfg.service(update_json_route);
    }

    fn unauthenticated(failure: &AuthFailure) -> EnvelopeError {
        <super::Update as Face>::unauthenticated(failure)
    }

    fn forbidden(
        user: &str,
        thing: PermissionName,
        action: Action,
        product: Option<&str>,
    ) -> EnvelopeError {
        Native::forbidden(user, thing, action, product)
    }

    fn internal() -> EnvelopeError {
        EnvelopeError::internal()
    }

    fn unavailable() -> EnvelopeError {
        EnvelopeError::unavailable()
    }

    fn not_found(req: &HttpRequest) -> HttpResponse {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            return HttpResponse::NotFound().finish();
        }
        let mut response = Self::request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            crate::face::METHOD_NOT_ALLOWED,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        response
    }

    fn request_error(status: StatusCode, message: &str) -> HttpResponse {
        HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(message.to_owned())
    }
}

/// Reads a JSON-protocol URL (after `/json/{n}/`, `update.json` last) into a query; `None` for
/// a form Balrog does not serve.
fn parse_url(form: &str, segments: &[&str], query_string: &str) -> Option<OwnedQuery> {
    let (last, values) = segments.split_last()?;
    if *last != "update.json" || values.iter().any(|v| v.is_empty()) {
        return None;
    }
    let with_os = match (form, values.len()) {
        ("1", 4) => false,
        ("2", 5) => true,
        _ => return None,
    };
    let value = |i: usize| ascii(values[i]);
    let mut query = OwnedQuery {
        product: value(0),
        version: value(1),
        build_target: Some(value(2)),
        channel: Some(value(3)),
        os_version: with_os.then(|| value(4)),
        ..OwnedQuery::default()
    };
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map(web::Query::into_inner)
        .unwrap_or_default();
    if let Some((_, force)) = pairs.iter().find(|(key, _)| key == "force") {
        query.force = Force::parse(force);
    }
    Some(query)
}

/// Balrog's JSON update check. Forms: 1 `{product}/{version}/{buildTarget}/{channel}`; 2 adds
/// `{osVersion}`; `update.json` last.
#[utoipa::path(
    tag = "evaluation",
    params(
        ("form" = String, Path, description = "1 or 2"),
        ("segments" = String, Path, description = "The form's segments, then update.json"),
        ("force" = Option<String>, Query, description = "1: the main mapping; -1: the fallback"),
    ),
    responses(
        (status = 200, description = "The release's JSON answer (Guardian: `{version, url, required, hashFunction, hashValue}`; `{}` when the release has no file for the platform), with `Rule-ID` and `Rule-Data-Version`", body = Object),
        (status = 400, description = "A version that cannot be compared (text/plain)", body = String, content_type = "text/plain"),
        (status = 404, description = "Nothing is served for this query, or the URL is none of the forms (empty body)"),
    )
)]
#[get("/{form}/{segments:.*}")]
pub async fn update_json_route(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (form, rest) = path.into_inner();
    let segments: Vec<&str> = rest.split('/').collect();
    let Some(mut owned) = parse_url(&form, &segments, req.query_string()) else {
        return HttpResponse::NotFound().finish();
    };
    let rules = state.rules.current(&state.store).await;
    // Kept for previews before the sticky identifiers are read: those are never kept.
    state.recent_queries.record(&rules.set, &owned);
    owned.client_ids = super::sticky::client_ids(&rules.set, &req);
    let query: Query<'_> = owned.query();
    let decision = with_dice(|dice| rules.set.evaluate(&query, dice));
    state.metrics.evaluation(&query, decision.as_ref().ok());
    let decision = match decision {
        Ok(decision) => decision,
        Err(err) => return bad_request(&err),
    };
    let Some(answer) = update_json(&rules.set, &decision, &query) else {
        return HttpResponse::NotFound().finish();
    };
    let (id, version) = match decision.rule {
        Some(rule) => (rule.rule_id.to_string(), rule.data_version.to_string()),
        None => ("unknown".to_owned(), "unknown".to_owned()),
    };
    HttpResponse::Ok()
        .insert_header(("Rule-ID", id))
        .insert_header(("Rule-Data-Version", version))
        .json(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(form: &str, path: &str, query: &str) -> Option<OwnedQuery> {
        let segments: Vec<&str> = path.split('/').collect();
        parse_url(form, &segments, query)
    }

    #[test]
    fn both_forms_read_their_segments() {
        let v1 = parse(
            "1",
            "Guardian/2.0.0/WINNT_x86_64/release/update.json",
            "force=1",
        )
        .expect("v1");
        assert_eq!(v1.product, "Guardian");
        assert_eq!(v1.version, "2.0.0");
        assert_eq!(v1.build_target.as_deref(), Some("WINNT_x86_64"));
        assert_eq!(v1.channel.as_deref(), Some("release"));
        assert_eq!(v1.os_version, None);
        assert_eq!(v1.force, Force::Main);
        let v2 = parse(
            "2",
            "Guardian/2.0.0/WINNT_x86_64/release/Windows 10/update.json",
            "",
        )
        .expect("v2");
        assert_eq!(v2.os_version.as_deref(), Some("Windows 10"));
        for (form, path) in [
            ("1", "Guardian/2.0.0/WINNT_x86_64/release/x/update.json"),
            ("2", "Guardian/2.0.0/WINNT_x86_64/release/update.json"),
            ("3", "Guardian/2.0.0/WINNT_x86_64/release/update.json"),
            ("1", "Guardian/2.0.0/WINNT_x86_64/release/update.xml"),
            ("1", "Guardian//WINNT_x86_64/release/update.json"),
        ] {
            assert!(parse(form, path, "").is_none(), "{form} {path}");
        }
    }
}
