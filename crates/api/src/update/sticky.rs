//! The client identifiers sticky rules read from a request (a shiplog extension): each
//! `stickyBy` source the rule set names (`query:NAME`, `header:NAME`) looked up in the update
//! request, and the `Vary` header an answer decided by a header needs so that a shared cache
//! does not hand one client's answer to another.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use shiplog_domain::balrog::syntax::StickySource;
use shiplog_domain::balrog::{Decision, RuleSet};

/// The identifiers the request carries, by source, for the sources `set`'s rules name. Nothing
/// is read (and nothing allocated) when no rule is sticky.
pub(crate) fn client_ids(set: &RuleSet, req: &HttpRequest) -> Vec<(String, String)> {
    let sources = set.sticky_sources();
    if sources.is_empty() {
        return Vec::new();
    }
    let mut pairs: Option<Vec<(String, String)>> = None;
    let mut found = Vec::new();
    for source in sources {
        let value = match StickySource::parse(source) {
            Ok(StickySource::Header(name)) => req
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Ok(StickySource::Query(name)) => pairs
                .get_or_insert_with(|| {
                    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                        .map(web::Query::into_inner)
                        .unwrap_or_default()
                })
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone()),
            // Stored values were checked on write; one that is not readable names nothing.
            Err(_) => None,
        };
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            found.push((source.to_string(), value));
        }
    }
    found
}

/// Adds `Vary: NAME` when the winning rule is sticky by header `NAME`: the answer depends on a
/// header the URL does not show, and update answers are publicly cacheable.
pub(crate) fn vary(response: &mut HttpResponse, decision: &Decision<'_>) {
    let header = decision
        .rule
        .and_then(|rule| rule.fields.sticky_by.as_deref())
        .and_then(|source| match StickySource::parse(source) {
            Ok(StickySource::Header(name)) => Some(name),
            _ => None,
        });
    if let Some(name) = header {
        if let Ok(value) = HeaderValue::from_str(name) {
            response
                .headers_mut()
                .append(HeaderName::from_static("vary"), value);
        }
    }
}
