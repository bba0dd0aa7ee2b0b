//! The headers every list endpoint sends, whatever its body shape: `X-Total-Count`, and for a
//! paged list an RFC 8288 `Link` with `first`, `prev`, `next` and `last`, built from the face's
//! own paging parameters (Orlo's `limit`/`offset`, Balrog's `page`/`limit`). The links keep the
//! request's path and every other query parameter as the client sent them, so following `next`
//! walks the same filtered list.

use actix_web::{HttpRequest, HttpResponseBuilder};

/// Where a page sits in its list, in the face's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// `?limit=&offset=` (Orlo). No limit: the whole list, no links.
    Offset { limit: Option<i64>, offset: i64 },
    /// `?page=&limit=`, pages counted from 1 (Balrog).
    Page { page: i64, limit: i64 },
}

/// Adds `X-Total-Count` alone: for a list that is never paged.
pub fn total_count(response: &mut HttpResponseBuilder, total: usize) {
    response.insert_header(("X-Total-Count", total.to_string()));
}

/// Adds `X-Total-Count` and the `Link` header of a page at `position` in a list of `total`.
pub fn paged(
    response: &mut HttpResponseBuilder,
    req: &HttpRequest,
    position: Position,
    total: i64,
) {
    response.insert_header(("X-Total-Count", total.max(0).to_string()));
    if let Some(link) = link(req.path(), req.query_string(), position, total) {
        response.insert_header(("Link", link));
    }
}

/// The `Link` value, or `None` for an unpaged list.
pub fn link(path: &str, query: &str, position: Position, total: i64) -> Option<String> {
    let total = total.max(0);
    // (parameter values of each page, rel), in the order RFC 8288 readers expect.
    let pages: Vec<([(&str, i64); 2], &str)> = match position {
        Position::Offset { limit: None, .. } => return None,
        Position::Offset {
            limit: Some(limit),
            offset,
        } => {
            let limit = limit.max(1);
            let last = if total == 0 {
                0
            } else {
                (total - 1) / limit * limit
            };
            let mut pages = vec![([("limit", limit), ("offset", 0)], "first")];
            if offset > 0 {
                pages.push((
                    [("limit", limit), ("offset", (offset - limit).max(0))],
                    "prev",
                ));
            }
            if offset + limit < total {
                pages.push(([("limit", limit), ("offset", offset + limit)], "next"));
            }
            pages.push(([("limit", limit), ("offset", last)], "last"));
            pages
        }
        Position::Page { page, limit } => {
            let limit = limit.max(1);
            let last = ((total + limit - 1) / limit).max(1);
            let mut pages = vec![([("page", 1), ("limit", limit)], "first")];
            if page > 1 {
                pages.push(([("page", (page - 1).min(last)), ("limit", limit)], "prev"));
            }
            if page < last {
                pages.push(([("page", page + 1), ("limit", limit)], "next"));
            }
            pages.push(([("page", last), ("limit", limit)], "last"));
            pages
        }
    };
    let paging_keys: Vec<&str> = pages[0].0.iter().map(|(key, _)| *key).collect();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !paging_keys.contains(&key)
        })
        .collect();
    let links: Vec<String> = pages
        .iter()
        .map(|(params, rel)| {
            let mut parts: Vec<String> = kept.iter().map(|p| (*p).to_owned()).collect();
            parts.extend(params.iter().map(|(key, value)| format!("{key}={value}")));
            format!("<{path}?{}>; rel=\"{rel}\"", parts.join("&"))
        })
        .collect();
    Some(links.join(", "))
}

/// The `Link` to the next page of a cursor-paged list (the feed): the same query with `key` set
/// to the last id shown.
pub fn cursor_link(path: &str, query: &str, key: &str, last: i64) -> String {
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split_once('=').map_or(*pair, |(k, _)| k) != key)
        .map(str::to_owned)
        .collect();
    parts.push(format!("{key}={last}"));
    format!("<{path}?{}>; rel=\"next\"", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_link_replaces_the_cursor_and_keeps_the_rest() {
        assert_eq!(
            cursor_link(
                "/api/v1/events",
                "after=3&type=release.*&limit=2",
                "after",
                9
            ),
            "</api/v1/events?type=release.*&limit=2&after=9>; rel=\"next\""
        );
        assert_eq!(
            cursor_link("/api/v1/events", "", "after", 1),
            "</api/v1/events?after=1>; rel=\"next\""
        );
    }

    #[test]
    fn offset_links_keep_filters_and_name_each_neighbour() {
        let link = link(
            "/releases",
            "user=alice&limit=2&offset=2&asc=true",
            Position::Offset {
                limit: Some(2),
                offset: 2,
            },
            5,
        )
        .expect("paged");
        assert_eq!(
            link,
            "</releases?user=alice&asc=true&limit=2&offset=0>; rel=\"first\", \
             </releases?user=alice&asc=true&limit=2&offset=0>; rel=\"prev\", \
             </releases?user=alice&asc=true&limit=2&offset=4>; rel=\"next\", \
             </releases?user=alice&asc=true&limit=2&offset=4>; rel=\"last\""
        );
    }

    #[test]
    fn the_first_and_last_pages_have_no_prev_or_next() {
        let first = link(
            "/packages",
            "",
            Position::Offset {
                limit: Some(10),
                offset: 0,
            },
            10,
        )
        .expect("paged");
        assert!(
            !first.contains("prev") && !first.contains("next"),
            "{first}"
        );
        let unpaged = link(
            "/releases",
            "limit=-1",
            Position::Offset {
                limit: None,
                offset: 0,
            },
            10,
        );
        assert_eq!(unpaged, None);
        let pages = link(
            "/api/rules/1/revisions",
            "",
            Position::Page { page: 1, limit: 10 },
            0,
        )
        .expect("paged");
        assert_eq!(
            pages,
            "</api/rules/1/revisions?page=1&limit=10>; rel=\"first\", \
             </api/rules/1/revisions?page=1&limit=10>; rel=\"last\""
        );
    }
}
