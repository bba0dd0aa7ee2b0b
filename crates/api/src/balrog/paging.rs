//! Query strings, pages of revisions and the list headers every listing sends:
//! `X-Total-Count`, and an RFC 8288 `Link` (first/prev/next/last) when the list is paged.

use actix_web::{web, HttpRequest, HttpResponseBuilder};
use shiplog_storage::MAX_REVISION_LIMIT;

use super::error::BalrogError;

/// The decoded `key=value` pairs of a query string, in order.
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, BalrogError> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| BalrogError::bad_request("The query string could not be decoded"))
}

/// The last value of a query parameter.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Which page of revisions: Balrog's `?page` (from 1) and `?limit` (default 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub limit: i64,
}

impl PageRequest {
    pub fn from_query(pairs: &[(String, String)]) -> Result<PageRequest, BalrogError> {
        let read = |key: &str, default: i64, max: i64| -> Result<i64, BalrogError> {
            match query_value(pairs, key) {
                None => Ok(default),
                Some(text) => text
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        BalrogError::bad_request(format!(
                            "{key} must be an integer between 1 and {max}"
                        ))
                    }),
            }
        };
        Ok(PageRequest {
            page: read("page", 1, i64::MAX / MAX_REVISION_LIMIT)?,
            limit: read("limit", 10, MAX_REVISION_LIMIT)?,
        })
    }

    pub fn offset(&self) -> i64 {
        self.limit * (self.page - 1)
    }
}

pub use crate::paging::total_count;

/// Adds `X-Total-Count` and a `Link` header with the first, previous, next and last pages of a
/// paged list (see [`crate::paging`]).
pub fn paged(response: &mut HttpResponseBuilder, req: &HttpRequest, page: PageRequest, total: i64) {
    crate::paging::paged(
        response,
        req,
        crate::paging::Position::Page {
            page: page.page,
            limit: page.limit,
        },
        total,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::HttpResponse;

    fn pairs(query: &str) -> Vec<(String, String)> {
        web::Query::<Vec<(String, String)>>::from_query(query)
            .expect("decodes")
            .into_inner()
    }

    #[test]
    fn pages_default_to_the_first_ten() {
        assert_eq!(
            PageRequest::from_query(&pairs("")).expect("valid"),
            PageRequest { page: 1, limit: 10 }
        );
        let page = PageRequest::from_query(&pairs("page=3&limit=5")).expect("valid");
        assert_eq!(page.offset(), 10);
        for bad in ["page=0", "limit=0", "page=x", "limit=-1", "limit=100000"] {
            assert!(PageRequest::from_query(&pairs(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_name_the_neighbouring_pages() {
        let mut response = HttpResponse::Ok();
        let req = actix_web::test::TestRequest::get()
            .uri("/api/rules/1/revisions")
            .to_http_request();
        paged(&mut response, &req, PageRequest { page: 2, limit: 2 }, 5);
        let response = response.finish();
        let link = response
            .headers()
            .get("Link")
            .and_then(|v| v.to_str().ok())
            .expect("link");
        assert_eq!(
            link,
            "</api/rules/1/revisions?page=1&limit=2>; rel=\"first\", \
             </api/rules/1/revisions?page=1&limit=2>; rel=\"prev\", \
             </api/rules/1/revisions?page=3&limit=2>; rel=\"next\", \
             </api/rules/1/revisions?page=3&limit=2>; rel=\"last\""
        );
        assert_eq!(
            response
                .headers()
                .get("X-Total-Count")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
    }
}
