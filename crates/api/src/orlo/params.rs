//! Query strings of the Orlo listings: every parameter is a filter on the column of that name,
//! with `_before`/`_after`/`_lt`/`_gt` suffixes for strict comparisons, `package_` for the
//! release's packages, and `limit`/`offset`/`asc` for the page (docs/orlo.md).
//!
//! Unlike Orlo, a malformed value (time, integer, boolean, status, id) is a 400 naming the
//! parameter, never a 500 (its bug B3), and `asc=false` sorts descending (its bug B9).

use std::collections::HashSet;

use actix_web::web;
use shiplog_domain::{timestamp, PackageStatus};
use shiplog_storage::{IntRange, PackageFilter, Page, ReleaseFilter, TimeRange};

use super::error::OrloError;
use super::json::parse_bool;

/// The decoded `key=value` pairs of a query string, in order.
pub fn pairs(query_string: &str) -> Result<Vec<(String, String)>, OrloError> {
    web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map(web::Query::into_inner)
        .map_err(|_| {
            OrloError::bad_request("invalid_query", "The query string could not be decoded")
        })
}

/// A comparison suffix on a parameter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Exact,
    Below,
    Above,
}

fn split_op(name: &str) -> (&str, Op) {
    for (suffix, op) in [
        ("_before", Op::Below),
        ("_lt", Op::Below),
        ("_after", Op::Above),
        ("_gt", Op::Above),
    ] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(base, "stime" | "ftime" | "duration") {
                return (base, op);
            }
        }
    }
    (name, Op::Exact)
}

/// Orlo reads `null` and `none` (any case) as SQL NULL.
fn is_null_word(value: &str) -> bool {
    value.eq_ignore_ascii_case("null") || value.eq_ignore_ascii_case("none")
}

fn time_into(range: &mut TimeRange, op: Op, value: &str) -> Result<(), OrloError> {
    if op == Op::Exact && is_null_word(value) {
        range.is_null = Some(true);
        return Ok(());
    }
    let at = timestamp::parse(value)?;
    match op {
        Op::Exact => range.exact = Some(at),
        Op::Below => range.before = Some(at),
        Op::Above => range.after = Some(at),
    }
    Ok(())
}

fn int_into(range: &mut IntRange, name: &str, op: Op, value: &str) -> Result<(), OrloError> {
    let n: i64 = value.trim().parse().map_err(|_| {
        OrloError::bad_request(
            "invalid_filter",
            format!("{name} must be a valid integer value"),
        )
    })?;
    match op {
        Op::Exact => range.exact = Some(n),
        Op::Below => range.lt = Some(n),
        Op::Above => range.gt = Some(n),
    }
    Ok(())
}

fn bool_value(name: &str, value: &str) -> Result<bool, OrloError> {
    parse_bool(value).ok_or_else(|| {
        OrloError::bad_request("invalid_filter", format!("{name} must be a boolean value"))
    })
}

fn invalid_field(table: &str, name: &str) -> OrloError {
    OrloError::bad_request(
        "invalid_field",
        format!("An invalid field for table {table} was specified: {name}"),
    )
}

/// Applies a `limit`, `offset`, `asc` or `latest` parameter; false if `name` is none of them.
fn page_param(page: &mut Page, name: &str, value: &str) -> Result<bool, OrloError> {
    match name {
        "limit" => {
            let n: i64 = value.trim().parse().map_err(|_| {
                OrloError::bad_request("invalid_limit", "limit must be a valid integer value")
            })?;
            page.limit = match n {
                -1 => None,
                n if n < 0 => {
                    return Err(OrloError::bad_request(
                        "invalid_limit",
                        "limit must be a valid integer value",
                    ))
                }
                n => Some(n),
            };
        }
        "offset" => {
            page.offset = value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    OrloError::bad_request("invalid_offset", "offset must be a valid integer value")
                })?;
        }
        // A bare `asc` asks for ascending order.
        "asc" => page.ascending = value.is_empty() || bool_value("asc", value)?,
        // Accepted and ignored, as Orlo does.
        "latest" => {}
        _ => return Ok(false),
    }
    Ok(true)
}

fn package_param(
    filter: &mut PackageFilter,
    table: &str,
    name: &str,
    value: &str,
) -> Result<(), OrloError> {
    let (base, op) = split_op(name);
    match (base, op) {
        ("id", Op::Exact) => filter.id = Some(value.parse()?),
        ("release_id", Op::Exact) => filter.release_id = Some(value.parse()?),
        ("name", Op::Exact) => filter.name = Some(value.to_owned()),
        ("version", Op::Exact) => filter.version = Some(value.to_owned()),
        ("status", Op::Exact) => filter.status = Some(value.parse::<PackageStatus>()?),
        ("rollback", Op::Exact) => filter.rollback = Some(bool_value(name, value)?),
        ("diff_url", Op::Exact) => {
            filter.diff_url = Some(if is_null_word(value) {
                None
            } else {
                Some(value.to_owned())
            });
        }
        ("stime", _) => time_into(&mut filter.stime, op, value)?,
        ("ftime", _) => time_into(&mut filter.ftime, op, value)?,
        ("duration", _) => int_into(&mut filter.duration, name, op, value)?,
        _ => return Err(invalid_field(table, name)),
    }
    Ok(())
}

fn release_param(filter: &mut ReleaseFilter, name: &str, value: &str) -> Result<(), OrloError> {
    if let Some(package_name) = name.strip_prefix("package_") {
        return package_param(&mut filter.package, "package", package_name, value);
    }
    let (base, op) = split_op(name);
    match (base, op) {
        ("id", Op::Exact) => filter.id = Some(value.parse()?),
        ("user", Op::Exact) => filter.user = Some(value.to_owned()),
        ("team", Op::Exact) => {
            filter.team = Some(if is_null_word(value) {
                None
            } else {
                Some(value.to_owned())
            })
        }
        ("platform", Op::Exact) => filter.platform = Some(value.to_owned()),
        ("reference", Op::Exact) => filter.reference = Some(value.to_owned()),
        ("status", Op::Exact) => filter.status = Some(value.parse::<PackageStatus>()?),
        ("stime", _) => time_into(&mut filter.stime, op, value)?,
        ("ftime", _) => time_into(&mut filter.ftime, op, value)?,
        ("duration", _) => int_into(&mut filter.duration, name, op, value)?,
        _ => return Err(invalid_field("release", name)),
    }
    Ok(())
}

/// The filter and page of a release listing.
pub fn release_query(pairs: &[(String, String)]) -> Result<(ReleaseFilter, Page), OrloError> {
    let mut filter = ReleaseFilter::default();
    let mut page = Page::default();
    for (name, value) in first_of_each(pairs) {
        if !page_param(&mut page, name, value)? {
            release_param(&mut filter, name, value)?;
        }
    }
    Ok((filter, page))
}

/// The filter of a release-scoped query that takes no page (statistics): the same parameters as
/// a listing, without `limit`, `offset` and `asc`.
pub fn release_filter(
    pairs: &[(String, String)],
    skip: &[&str],
) -> Result<ReleaseFilter, OrloError> {
    let mut filter = ReleaseFilter::default();
    for (name, value) in first_of_each(pairs) {
        if !skip.contains(&name) {
            release_param(&mut filter, name, value)?;
        }
    }
    Ok(filter)
}

/// The filter and page of a package listing.
pub fn package_query(pairs: &[(String, String)]) -> Result<(PackageFilter, Page), OrloError> {
    let mut filter = PackageFilter::default();
    let mut page = Page::default();
    for (name, value) in first_of_each(pairs) {
        if page_param(&mut page, name, value)? {
            continue;
        }
        if name.starts_with("package_") {
            return Err(OrloError::bad_request(
                "invalid_field",
                "'package_' parameters are only valid for Release queries. (hint: retry without the package_ prefix)",
            ));
        }
        package_param(&mut filter, "package", name, value)?;
    }
    Ok((filter, page))
}

/// Like Flask's `request.args`, the first value of a repeated parameter wins. A set, not a
/// list: a 64 KiB query string can hold 16,000 parameters.
fn first_of_each(pairs: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    let mut seen: HashSet<&str> = HashSet::new();
    pairs
        .iter()
        .filter(move |(name, _)| seen.insert(name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<(String, String)> {
        pairs(s).expect("decodable")
    }

    #[test]
    fn release_filters_parse_with_suffixes_and_package_prefix() {
        let (filter, page) = release_query(&q(
            "user=alice&team=null&stime_after=2015-12-17T17:02:04Z&duration_lt=60&package_name=web&package_rollback=f&status=FAILED&limit=5&offset=2&asc=true",
        ))
        .expect("valid");
        assert_eq!(filter.user.as_deref(), Some("alice"));
        assert_eq!(filter.team, Some(None));
        assert!(filter.stime.after.is_some());
        assert_eq!(filter.duration.lt, Some(60));
        assert_eq!(filter.package.name.as_deref(), Some("web"));
        assert_eq!(filter.package.rollback, Some(false));
        assert_eq!(filter.status, Some(PackageStatus::Failed));
        assert_eq!(
            page,
            Page {
                limit: Some(5),
                offset: 2,
                ascending: true
            }
        );
    }

    #[test]
    fn paging_defaults_and_edge_values() {
        let (_, page) = release_query(&q("")).expect("valid");
        assert_eq!(page, Page::default());
        assert_eq!(release_query(&q("limit=-1")).expect("valid").1.limit, None);
        assert!(
            !release_query(&q("asc=false")).expect("valid").1.ascending,
            "Orlo bug B9 fixed"
        );
        assert!(release_query(&q("asc")).expect("valid").1.ascending);
    }

    #[test]
    fn bad_values_are_clear_400s() {
        for (query, message) in [
            ("limit=x", "limit must be a valid integer value"),
            ("offset=-3", "offset must be a valid integer value"),
            ("bogus=1", "An invalid field for table release was specified: bogus"),
            ("package_bogus=1", "An invalid field for table package was specified: bogus"),
            ("duration_gt=soon", "duration_gt must be a valid integer value"),
            ("package_rollback=maybe", "rollback must be a boolean value"),
            ("status=BOGUS", "Invalid package status, BOGUS is not in ['NOT_STARTED', 'IN_PROGRESS', 'SUCCESSFUL', 'FAILED']"),
            ("id=nope", "Release ID given is not a valid UUID"),
        ] {
            let err = release_query(&q(query)).expect_err(query);
            assert_eq!(err.message(), message, "{query}");
        }
        let err = release_query(&q("stime_before=garbage")).expect_err("bad time");
        assert!(err
            .message()
            .starts_with("A badly formatted datetime string was given"));
    }

    #[test]
    fn package_listing_refuses_the_package_prefix() {
        let err = package_query(&q("package_name=web")).expect_err("refused");
        assert!(err
            .message()
            .starts_with("'package_' parameters are only valid for Release queries."));
        let (filter, _) =
            package_query(&q("name=web&status=SUCCESSFUL&rollback=1")).expect("valid");
        assert_eq!(filter.name.as_deref(), Some("web"));
        assert_eq!(filter.rollback, Some(true));
        assert_eq!(
            package_query(&q("user=x")).expect_err("unknown").message(),
            "An invalid field for table package was specified: user"
        );
    }
}
