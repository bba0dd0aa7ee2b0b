//! Conditional reads where clients poll: an `ETag` on update checks (`/update/…`), on
//! `/api/v1/evaluate` and on Balrog's rule and release reads, and `304 Not Modified` when the
//! request's `If-None-Match` names it.
//!
//! Tags are built from data versions, never by hashing a body, so a 304 costs no rendering:
//! - Balrog's reads use the rule-set counter, which every write to rules, named releases and
//!   shutoffs moves, on any instance. It is read before the data, so a write landing between the
//!   two gives a tag older than the data (the next request gets a 200 again), never the reverse.
//!   A rule's or release's own `data_version` would not do: a release deleted and made again
//!   starts over at 1, and SQLite may give a deleted rule's id to the next rule.
//! - Evaluations use the counter of the compiled set that answered and what it decided (rule
//!   and its data version, reason, release served): the background rate's dice can decide
//!   differently for the same URL and rules, and the tag must tell those answers apart.
//!
//! The tags are weak (`W/"…"`): they stand for the data an answer shows, not its bytes, and
//! `If-None-Match` compares weakly anyway. A strong tag would promise byte-identical bodies,
//! which a compression layer or a change in JSON formatting between versions would break.

use std::hash::Hasher;

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpRequest;
use shiplog_domain::balrog::Decision;
use shiplog_storage::{StorageError, Store};

use crate::blocking::with_store;

/// `Cache-Control` of the tagged answers other than `/update`'s: a browser may keep them but
/// must ask (with `If-None-Match`) before each use, and shared caches keep none (under `--auth
/// all` these reads carry a credential). Without it every answer is `no-store`
/// (`security_headers`), and a browser would never revalidate.
pub const REVALIDATE: &str = "private, no-cache";

/// A weak entity tag, as sent in `ETag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(String);

impl ETag {
    /// For Balrog's rule and release reads: the rule-set counter.
    pub fn of_counter(version: i64) -> ETag {
        ETag(format!("W/\"rs{version}\""))
    }

    /// For an evaluation: the compiled set's counter and what it decided.
    pub fn of_decision(version: i64, decision: &Decision<'_>) -> ETag {
        let mut hash = Fnv1a::default();
        if let Some(rule) = decision.rule {
            hash.write(&rule.rule_id.to_le_bytes());
            hash.write(&rule.data_version.to_le_bytes());
        }
        hash.write(decision.reason.describe().as_bytes());
        hash.write(&[0]);
        hash.write(decision.mapping().unwrap_or_default().as_bytes());
        ETag(format!("W/\"ev{version}-{:016x}\"", hash.0))
    }

    /// `Cache-Control` for a tagged answer (see [`REVALIDATE`]).
    pub fn cache_control() -> (header::HeaderName, HeaderValue) {
        (header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE))
    }

    /// The `ETag` header.
    pub fn header(&self) -> (header::HeaderName, HeaderValue) {
        (
            header::ETAG,
            HeaderValue::from_str(&self.0).unwrap_or(HeaderValue::from_static("W/\"\"")),
        )
    }

    /// Whether `If-None-Match` (any of its values) names this tag, by weak comparison, or is
    /// `*` (the resource exists, and this is only asked of one that does).
    pub fn matches(&self, req: &HttpRequest) -> bool {
        self.matches_any(&IfNoneMatch::of(req))
    }

    fn matches_any(&self, wanted: &IfNoneMatch) -> bool {
        match wanted {
            IfNoneMatch::None => false,
            IfNoneMatch::Any => true,
            IfNoneMatch::Tags(tags) => tags.iter().any(|t| t == opaque(&self.0)),
        }
    }
}

/// What a request's `If-None-Match` asks, read before going to the blocking pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IfNoneMatch {
    None,
    Any,
    /// The opaque parts (quotes included, `W/` dropped) of the tags listed.
    Tags(Vec<String>),
}

impl IfNoneMatch {
    pub(crate) fn of(req: &HttpRequest) -> IfNoneMatch {
        let mut tags = Vec::new();
        for value in req.headers().get_all(header::IF_NONE_MATCH) {
            let Ok(text) = value.to_str() else { continue };
            if text.trim() == "*" {
                return IfNoneMatch::Any;
            }
            tags.extend(parse_tags(text));
        }
        if tags.is_empty() {
            IfNoneMatch::None
        } else {
            IfNoneMatch::Tags(tags)
        }
    }
}

/// A tag without its weakness mark.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The entity tags of a list (`W/"a", "b,c"`): a quoted tag may hold a comma, so the list is
/// read quote by quote rather than split. Stops at the first thing that is not a tag.
fn parse_tags(text: &str) -> Vec<String> {
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let unweak = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(inner) = unweak.strip_prefix('"') else {
            return tags;
        };
        let Some(end) = inner.find('"') else {
            return tags;
        };
        tags.push(format!("\"{}\"", &inner[..end]));
        rest = &inner[end + 1..];
    }
}

/// A Balrog read guarded by the rule-set counter: the counter, and the data unless the client
/// already holds that version.
pub(crate) enum Guarded<T> {
    NotModified(ETag),
    Read(ETag, T),
}

/// Reads the counter and then, unless `req`'s `If-None-Match` names it, `f`; both in one trip
/// to the blocking pool. `If-None-Match: *` still reads: only the caller knows whether what it
/// asked for exists (then [`ETag::matches`] makes it a 304).
pub(crate) async fn read_guarded<T, F>(
    store: &Store,
    req: &HttpRequest,
    f: F,
) -> Result<Guarded<T>, StorageError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    let wanted = IfNoneMatch::of(req);
    with_store(store, move |store| {
        let tag = ETag::of_counter(store.ruleset_version()?);
        if matches!(wanted, IfNoneMatch::Tags(_)) && tag.matches_any(&wanted) {
            return Ok(Guarded::NotModified(tag));
        }
        Ok(Guarded::Read(tag, f(store)?))
    })
    .await
}

/// The answer to a request whose `If-None-Match` names `tag`, with the headers a 200 would
/// have carried that a cache updates from it.
pub(crate) fn not_modified(tag: &ETag) -> actix_web::HttpResponseBuilder {
    let mut response = actix_web::HttpResponse::NotModified();
    response
        .insert_header(tag.header())
        .insert_header((header::CACHE_CONTROL, REVALIDATE));
    response
}

/// 64-bit FNV-1a: a few lines, stable across builds and platforms (unlike `DefaultHasher`),
/// enough to tell a handful of decisions or queries apart (not a defence against anyone), and
/// a fifth of the instructions of `DefaultHasher`'s SipHash on short keys.
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn asked(values: &[&str]) -> IfNoneMatch {
        let mut req = TestRequest::get();
        for v in values {
            req = req.append_header((header::IF_NONE_MATCH, *v));
        }
        IfNoneMatch::of(&req.to_http_request())
    }

    #[test]
    fn if_none_match_lists_are_read_quote_by_quote() {
        assert_eq!(asked(&[]), IfNoneMatch::None);
        assert_eq!(asked(&[" * "]), IfNoneMatch::Any);
        assert_eq!(
            asked(&[r#"W/"rs1", "a,b""#, r#""c""#]),
            IfNoneMatch::Tags(vec![
                "\"rs1\"".to_owned(),
                "\"a,b\"".to_owned(),
                "\"c\"".to_owned()
            ])
        );
        assert_eq!(asked(&["garbage"]), IfNoneMatch::None);
    }

    #[test]
    fn weak_comparison_ignores_the_weakness_mark() {
        let tag = ETag::of_counter(7);
        assert_eq!(tag.0, "W/\"rs7\"");
        assert!(tag.matches_any(&asked(&["W/\"rs7\""])));
        assert!(tag.matches_any(&asked(&["\"rs7\""])));
        assert!(tag.matches_any(&asked(&["\"x\", W/\"rs7\""])));
        assert!(!tag.matches_any(&asked(&["W/\"rs8\""])));
        assert!(!tag.matches_any(&asked(&[])));
        assert!(tag.matches_any(&asked(&["*"])));
    }
}
