//! Balrog's public update protocol: `/update/{1..6}/…/update.xml` (docs/evaluation.md;
//! §a.4). The URL's segments and query arguments become a [`Query`] the way Balrog reads them;
//! the answer is Balrog's XML with `Rule-ID`, `Rule-Data-Version` and
//! `Cache-Control: public, max-age=90` and an `ETag` (a 304 for `If-None-Match`, see
//! `caching`), and the empty `<updates>` document (200) when nothing is
//! served or the URL is none of the known forms.

mod json;
pub(crate) mod sticky;

pub use json::UpdateJson;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use shiplog_domain::balrog::{update_xml as render, Force, Query, EMPTY_UPDATES};

use actix_web::http::{Method, StatusCode};
use shiplog_domain::{Action, PermissionName};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::caching::{not_modified, ETag};
use crate::face::{AuthFailure, Face};
use crate::native::{EnvelopeError, Native};
use crate::serving::with_dice;
use crate::state::AppState;
use shiplog_domain::balrog::OwnedQuery;

/// Balrog's public update protocol at `/update`: answers are XML, errors plain text, and a URL
/// of no known form gets the empty `<updates>` document, as Balrog answers it. Nothing here
/// writes, so the credential answers exist only for `--auth all`.
pub struct Update;

impl Face for Update {
    const MOUNT: &'static str = "/update";
    const NAME: &'static str = "update";
    type Error = EnvelopeError;

    fn routes(cfg: &mut ServiceConfig<'_>) {
        cfg.service(update_xml);
    }

    fn unauthenticated(failure: &AuthFailure) -> EnvelopeError {
        EnvelopeError::new(
            StatusCode::UNAUTHORIZED,
            "bearer-token-invalid",
            failure.message(),
        )
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

    /// Balrog answers every GET of an unknown `/update` URL with the empty document (its 404
    /// handler does, a form number out of range included); other methods are refused there.
    fn not_found(req: &HttpRequest) -> HttpResponse {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            return unknown_update_route();
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

/// Non-ASCII characters become `?`, as Balrog encodes them. Nearly every segment is ASCII
/// already and is copied as it is (collecting chars one by one was 2 % of an update check).
fn ascii(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    text.chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

/// The locale without the "x86 " some Avast versions put in it.
fn without_x86_prefix(locale: String) -> String {
    if locale.contains("x86 ") {
        locale.replace("x86 ", "")
    } else {
        locale
    }
}

/// `ISET:SSE3,MEM:8192,JAWS:1` (new form) or `SSE3` / `SSE3,8192` (old form). Unreadable parts
/// are left unknown.
fn system_capabilities(text: &str, query: &mut OwnedQuery) {
    if text.starts_with("ISET:") {
        for part in text.split(',') {
            let Some((key, value)) = part.split_once(':') else {
                continue;
            };
            match key {
                "ISET" => query.instruction_set = Some(value.to_owned()),
                "MEM" => query.memory = value.parse().ok(),
                "JAWS" => query.jaws = value.parse::<i64>().ok().map(|n| n != 0),
                _ => {}
            }
        }
        return;
    }
    let parts: Vec<&str> = text.split(',').collect();
    match parts.as_slice() {
        [set] => query.instruction_set = Some((*set).to_owned()),
        [set, memory] => {
            query.instruction_set = Some((*set).to_owned());
            query.memory = memory.parse().ok();
        }
        _ => {}
    }
}

/// Reads a URL's segments (after `/update/{n}/`, `update.xml` last) into a query; `None` for a
/// form Balrog does not serve.
fn parse_url(
    form: &str,
    segments: &[&str],
    query_string: &str,
    user_agent: Option<&str>,
) -> Option<OwnedQuery> {
    let (last, values) = segments.split_last()?;
    if *last != "update.xml" || values.iter().any(|v| v.is_empty()) {
        return None;
    }
    let names: &[&str] = match (form, values.len()) {
        ("1", 6) => &[],
        ("2", 7) => &["osVersion"],
        ("3", 9) => &["osVersion", "distribution", "distVersion"],
        ("4", 10) => &[
            "osVersion",
            "distribution",
            "distVersion",
            "platformVersion",
        ],
        ("5", 11) => &[
            "osVersion",
            "distribution",
            "distVersion",
            "platformVersion",
            "IMEI",
        ],
        ("6", 10) => &[
            "osVersion",
            "systemCapabilities",
            "distribution",
            "distVersion",
        ],
        _ => return None,
    };
    let value = |i: usize| ascii(values[i]);
    let mut version = value(1);
    // Old nightly ESR builds asked with `…/3/{product}/{version}esrpre/…`; Balrog has a route
    // for them that reads the version without the suffix.
    if form == "3" {
        if let Some(stripped) = version.strip_suffix("esrpre").filter(|v| !v.is_empty()) {
            version = stripped.to_owned();
        }
    }
    let mut query = OwnedQuery {
        product: value(0),
        version,
        build_id: Some(value(2)),
        build_target: Some(value(3)),
        // Some Avast versions prepend "x86 " to the locale.
        locale: Some(without_x86_prefix(value(4))),
        channel: Some(value(5)),
        // Version 1 URLs carry no osVersion; Balrog reads it as "".
        os_version: (form == "1").then(String::new),
        ..OwnedQuery::default()
    };
    for (offset, name) in names.iter().enumerate() {
        let text = value(6 + offset);
        match *name {
            "osVersion" => query.os_version = Some(text),
            "distribution" => query.distribution = Some(text),
            "distVersion" => query.dist_version = Some(text),
            "systemCapabilities" => system_capabilities(&text, &mut query),
            // platformVersion and IMEI are read and ignored.
            _ => {}
        }
    }
    let is_darwin = query
        .build_target
        .as_deref()
        .is_some_and(|t| t.starts_with("Darwin"));
    let ppc = is_darwin && user_agent.is_some_and(|ua| ua.contains("PPC"));
    query.header_architecture = Some(if ppc { "PPC" } else { "Intel" }.to_owned());
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map(web::Query::into_inner)
        .unwrap_or_default();
    for (key, value) in pairs {
        match key.as_str() {
            // `force=1?avast=1`: Avast appends its own argument after a second `?`.
            "force" => query.force = Force::parse(value.split('?').next().unwrap_or("")),
            "mig64" => query.mig64 = Some(value == "1"),
            // Checked only when a release would be served past it (see `pin.rs` in the domain).
            "pin" => query.pin = Some(value),
            _ => {}
        }
    }
    Some(query)
}

/// Balrog's `Cache-Control` on update answers: any cache may keep one for 90 seconds.
const CACHE_CONTROL: &str = "public, max-age=90";

/// The headers of an update answer, on a 200 and on a 304 alike.
fn update_headers(
    mut response: HttpResponseBuilder,
    rule: Option<(i64, i64)>,
    tag: &ETag,
) -> HttpResponseBuilder {
    let (id, version) = match rule {
        Some((id, version)) => (id.to_string(), version.to_string()),
        None => ("unknown".to_owned(), "unknown".to_owned()),
    };
    response
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header(tag.header())
        .insert_header(("Rule-ID", id))
        .insert_header(("Rule-Data-Version", version));
    response
}

/// The answer to an `/update` URL that is none of the known forms: the empty document, 200.
fn unknown_update_route() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml")
        .body(EMPTY_UPDATES)
}

/// Balrog's update check. Forms (every segment required, `update.xml` last):
/// 1 `{product}/{version}/{buildID}/{buildTarget}/{locale}/{channel}`;
/// 2 adds `{osVersion}`; 3 adds `{distribution}/{distVersion}`; 4 adds `{platformVersion}`
/// (ignored); 5 adds `{IMEI}`; 6 is
/// `…/{channel}/{osVersion}/{systemCapabilities}/{distribution}/{distVersion}`.
#[utoipa::path(
    tag = "evaluation",
    params(
        ("form" = String, Path, description = "1 to 6"),
        ("segments" = String, Path, description = "The form's segments, then update.xml"),
        ("force" = Option<String>, Query, description = "1: the main mapping; -1: the fallback"),
        ("mig64" = Option<String>, Query, description = "1: true; anything else: false"),
        ("pin" = Option<String>, Query, description = "`X.` or `X.Y.`: when the release served is newer, serve the release pinned for it on this product and (base) channel, if one is; not accepted by form 2"),
    ),
    responses(
        (status = 200, description = "Balrog's update.xml (`<updates>` empty when nothing is served), with `Rule-ID` and `Rule-Data-Version` (and `Vary: NAME` when the winning rule is sticky by header NAME). Sticky rules (stickyBy) also read the query parameter or header they name", body = String, content_type = "text/xml"),
        (status = 400, description = "A version that cannot be compared, a malformed `pin` where a release would be served past it, or `pin` on form 2 (text/plain)", body = String, content_type = "text/plain"),
    )
)]
#[get("/{form}/{segments:.*}")]
pub async fn update_xml(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (form, rest) = path.into_inner();
    let segments: Vec<&str> = rest.split('/').collect();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let Some(mut owned) = parse_url(&form, &segments, req.query_string(), user_agent) else {
        return unknown_update_route();
    };
    // Balrog's form 2 does not declare `pin`, and its strict parameter check refuses it.
    if form == "2" && owned.pin.is_some() {
        return HttpResponse::BadRequest()
            .content_type("text/plain")
            .body("Extra query parameter(s) pin not in spec");
    }
    let rules = state.rules.current(&state.store).await;
    // Kept for previews before the sticky identifiers are read: those are never kept.
    state.recent_queries.record(&rules.set, &owned);
    owned.client_ids = sticky::client_ids(&rules.set, &req);
    let query: Query<'_> = owned.query();
    let answer = with_dice(|dice| {
        let decision = rules.set.evaluate(&query, dice);
        state.metrics.evaluation(&query, decision.as_ref().ok());
        let decision = decision?;
        let tag = ETag::of_decision(rules.version, &decision);
        let rule = decision.rule.map(|r| (r.rule_id, r.data_version));
        // The client's copy is current: no XML to render.
        let mut response = if tag.matches(&req) {
            update_headers(not_modified(&tag), rule, &tag).finish()
        } else {
            // A superblob evaluates other products with the same dice.
            let xml = render(&rules.set, &decision, &query, dice)?;
            update_headers(HttpResponse::Ok(), rule, &tag)
                .content_type("text/xml")
                .body(xml)
        };
        sticky::vary(&mut response, &decision);
        Ok(response)
    });
    answer.unwrap_or_else(|err| bad_request(&err))
}

/// An evaluation that failed (a version that cannot be compared, a blob that lacks what its
/// answer needs): 400 with the reason as text, as Balrog answers it.
fn bad_request(err: &shiplog_domain::balrog::EvaluationError) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain")
        .body(escape_text(&err.to_string()))
}

/// Balrog escapes error messages before answering them: they may echo client input.
fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(form: &str, path: &str, query: &str, ua: Option<&str>) -> Option<OwnedQuery> {
        let segments: Vec<&str> = path.split('/').collect();
        parse_url(form, &segments, query, ua)
    }

    #[test]
    fn every_form_reads_its_segments() {
        let v1 = parse(
            "1",
            "Firefox/60.0/2018/WINNT_x86-msvc/de/release/update.xml",
            "",
            None,
        )
        .expect("v1");
        assert_eq!(v1.os_version.as_deref(), Some(""));
        assert_eq!(v1.dist_version, None);
        assert_eq!(v1.header_architecture.as_deref(), Some("Intel"));
        let v3 = parse(
            "3",
            "Firefox/60.0/2018/WINNT_x86-msvc/de/release/Windows_NT 10.0/default/1.0/update.xml",
            "",
            None,
        )
        .expect("v3");
        assert_eq!(v3.distribution.as_deref(), Some("default"));
        assert_eq!(v3.dist_version.as_deref(), Some("1.0"));
        let v6 = parse(
            "6",
            "Firefox/60.0/2018/Darwin_x86-gcc3/x86 de/release/OS/ISET:SSE3,MEM:8192,JAWS:1,junk/default/1.0/update.xml",
            "force=1?avast=1&mig64=yes&pin=60.",
            Some("Mozilla/5.0 (PPC Mac)"),
        )
        .expect("v6");
        assert_eq!(v6.instruction_set.as_deref(), Some("SSE3"));
        assert_eq!(v6.memory, Some(8192));
        assert_eq!(v6.jaws, Some(true));
        assert_eq!(v6.locale.as_deref(), Some("de"));
        assert_eq!(v6.header_architecture.as_deref(), Some("PPC"));
        assert_eq!(v6.force, Force::Main);
        assert_eq!(v6.mig64, Some(false));
        assert_eq!(v6.pin.as_deref(), Some("60."));
        let old_caps = parse(
            "6",
            "Firefox/60.0/2018/WINNT/de/release/OS/SSE2,lots/default/1.0/update.xml",
            "mig64=1",
            None,
        )
        .expect("v6 old");
        assert_eq!(old_caps.instruction_set.as_deref(), Some("SSE2"));
        assert_eq!(old_caps.memory, None);
        assert_eq!(old_caps.mig64, Some(true));
        let esr = parse(
            "3",
            "Firefox/45.0esrpre/2018/WINNT/de/esr/OS/default/1.0/update.xml",
            "",
            None,
        )
        .expect("esrpre");
        assert_eq!(esr.version, "45.0");
        let other_form = parse(
            "2",
            "Firefox/45.0esrpre/2018/WINNT/de/esr/OS/update.xml",
            "",
            None,
        )
        .expect("v2");
        assert_eq!(other_form.version, "45.0esrpre");
        for (form, path) in [
            ("1", "Firefox/60.0/2018/WINNT/de/update.xml"),
            ("2", "Firefox/60.0/2018/WINNT/de/release/update.xml"),
            ("7", "Firefox/60.0/2018/WINNT/de/release/update.xml"),
            ("1", "Firefox/60.0/2018/WINNT/de/release/update.json"),
            ("1", "Firefox/60.0//WINNT/de/release/update.xml"),
        ] {
            assert!(parse(form, path, "", None).is_none(), "{form} {path}");
        }
        assert_eq!(ascii("déjà"), "d?j?");
    }

    proptest::proptest! {
        /// Any URL a client sends reads as a query or as no known form, never a panic.
        #[test]
        fn any_url_parses_or_is_no_form(
            form in "[0-9]{1,2}",
            segments in proptest::collection::vec("\\PC{0,12}", 0..14),
            query in "\\PC{0,40}",
            ua in proptest::option::of("\\PC{0,20}"),
        ) {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let _ = parse_url(&form, &segments, &query, ua.as_deref());
        }
    }
}
