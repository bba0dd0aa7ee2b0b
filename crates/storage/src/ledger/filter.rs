//! Turns listing filters into SQL conditions.
//!
//! Conditions on a release's packages are `r.id IN (SELECT release_id FROM packages …)`
//! subqueries rather than joins, so a LIMIT counts releases, not joined rows (Orlo's bug B11),
//! and no DISTINCT is needed. Releases are aliased `r`, packages `p`.

use time::Duration;

use super::rows::to_db;
use crate::connection::Backend;
use crate::query::{IntRange, PackageFilter, Page, ReleaseFilter, TimeRange};
use crate::sql::{contains_pattern, Conditions, Sql, Value};

/// Columns of a release row, in `ReleaseRow` order.
pub(crate) const RELEASE_COLUMNS: &str =
    "r.id, r.user_name, r.team, r.refs, r.stime, r.ftime, r.duration_secs, r.recorded_by";
/// What a read selects of each release it wants, in `ReleaseKey` order: its id and the
/// revision its row stores (see `ledger::cache`).
pub(crate) const KEY_COLUMNS: &str = "r.id, r.revision";
/// Columns of a package row, in `PackageRow` order.
pub(crate) const PACKAGE_COLUMNS: &str =
    "p.id, p.release_id, p.name, p.version, p.status, p.rollback, p.diff_url, p.stime, p.ftime, p.duration_secs";

fn time_conditions(out: &mut Conditions, column: &str, range: &TimeRange) {
    if let Some(at) = range.exact {
        if at.nanosecond() == 0 {
            out.and()
                .push(column)
                .push(" >= ")
                .bind(Value::timestamp(to_db(at)));
            out.and()
                .push(column)
                .push(" < ")
                .bind(Value::timestamp(to_db(at + Duration::SECOND)));
        } else {
            out.and()
                .push(column)
                .push(" = ")
                .bind(Value::timestamp(to_db(at)));
        }
    }
    if let Some(before) = range.before {
        out.and()
            .push(column)
            .push(" < ")
            .bind(Value::timestamp(to_db(before)));
    }
    if let Some(after) = range.after {
        out.and()
            .push(column)
            .push(" > ")
            .bind(Value::timestamp(to_db(after)));
    }
    if let Some(from) = range.not_before {
        out.and()
            .push(column)
            .push(" >= ")
            .bind(Value::timestamp(to_db(from)));
    }
    if let Some(until) = range.not_after {
        out.and()
            .push(column)
            .push(" <= ")
            .bind(Value::timestamp(to_db(until)));
    }
    match range.is_null {
        Some(true) => {
            out.and().push(column).push(" IS NULL");
        }
        Some(false) => {
            out.and().push(column).push(" IS NOT NULL");
        }
        None => {}
    }
}

fn int_conditions(out: &mut Conditions, column: &str, range: IntRange) {
    for (op, value) in [(" = ", range.exact), (" < ", range.lt), (" > ", range.gt)] {
        if let Some(value) = value {
            out.and().push(column).push(op).bind(Value::BigInt(value));
        }
    }
}

fn eq_text(out: &mut Conditions, column: &str, value: &str) {
    out.and()
        .push(column)
        .push(" = ")
        .bind(Value::Text(value.to_owned()));
}

/// Every condition of a package filter, on packages aliased `p`.
pub(crate) fn package_conditions(backend: Backend, f: &PackageFilter) -> Conditions {
    let mut out = Conditions::new(backend);
    if let Some(id) = f.id {
        eq_text(&mut out, "p.id", &id.to_string());
    }
    if let Some(id) = f.release_id {
        eq_text(&mut out, "p.release_id", &id.to_string());
    }
    if let Some(name) = &f.name {
        eq_text(&mut out, "p.name", name);
    }
    if let Some(version) = &f.version {
        eq_text(&mut out, "p.version", version);
    }
    if let Some(status) = f.status {
        eq_text(&mut out, "p.status", status.as_str());
    }
    if let Some(rollback) = f.rollback {
        out.and().push("p.rollback = ").bind(Value::Bool(rollback));
    }
    match &f.diff_url {
        Some(Some(url)) => eq_text(&mut out, "p.diff_url", url),
        Some(None) => {
            out.and().push("p.diff_url IS NULL");
        }
        None => {}
    }
    time_conditions(&mut out, "p.stime", &f.stime);
    time_conditions(&mut out, "p.ftime", &f.ftime);
    int_conditions(&mut out, "p.duration_secs", f.duration);
    out
}

/// A page's count as two more columns of its statement (PostgreSQL, see `count::Counted`):
/// `count`, the `COUNT(*)` of its list, and `kept`, the snapshot a value of that count was
/// taken in (`count_memo::CountMemo::latest`).
pub(crate) struct CountColumn<'a> {
    pub count: &'a Sql,
    pub kept: Option<&'a str>,
}

/// `, snapshot, total` after a select list, when there is a count. `snapshot` is the
/// statement's (null in a transaction that has written: its own rows are not in it); `total`
/// is the count, a scalar subquery that does not depend on the row, which PostgreSQL runs at
/// most once for the statement, and not at all when the snapshot is the one handed as `kept`:
/// then `total` is null and the kept value stands (see `count_memo`).
fn push_total(sql: &mut Sql, total: Option<&CountColumn<'_>>) {
    let Some(CountColumn { count, kept }) = total else {
        return;
    };
    sql.push(
        ", CASE WHEN pg_current_xact_id_if_assigned() IS NULL \
         THEN pg_current_snapshot()::text END AS snapshot, \
         CASE WHEN pg_current_xact_id_if_assigned() IS NULL AND pg_current_snapshot()::text = ",
    )
    .bind(Value::OptText(kept.map(str::to_owned)))
    .push(" THEN NULL ELSE (")
    .append(count)
    .push(") END AS total");
}

fn page_clause(sql: &mut Sql, page: &Page) {
    match (page.limit, sql.backend()) {
        (Some(limit), _) => {
            sql.push(" LIMIT ").bind(Value::BigInt(limit));
        }
        // SQLite needs a LIMIT before an OFFSET; -1 means none.
        (None, Backend::Sqlite) if page.offset > 0 => {
            sql.push(" LIMIT -1");
        }
        (None, _) => {}
    }
    if page.offset > 0 {
        sql.push(" OFFSET ").bind(Value::BigInt(page.offset));
    }
}

/// Packages matching a filter, newest start first (never-started packages last).
pub(crate) fn packages_query(backend: Backend, f: &PackageFilter, page: &Page) -> Sql {
    packages_page(backend, f, page, None)
}

/// [`packages_query`] with the number of packages the filter matches in all as columns (see
/// [`CountColumn`]).
pub(crate) fn packages_query_counted(
    backend: Backend,
    f: &PackageFilter,
    page: &Page,
    count: &CountColumn<'_>,
) -> Sql {
    packages_page(backend, f, page, Some(count))
}

fn packages_page(
    backend: Backend,
    f: &PackageFilter,
    page: &Page,
    total: Option<&CountColumn<'_>>,
) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ").push(PACKAGE_COLUMNS);
    push_total(&mut sql, total);
    sql.push(" FROM packages p");
    package_conditions(backend, f).write_where(&mut sql);
    sql.push(if page.ascending {
        " ORDER BY (p.stime IS NULL), p.stime ASC, p.id ASC"
    } else {
        " ORDER BY (p.stime IS NULL), p.stime DESC, p.id DESC"
    });
    page_clause(&mut sql, page);
    sql
}

/// How a condition on a release's platforms or packages is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Related {
    /// `r.id IN (SELECT release_id …)`: every matching id is collected first (on SQLite into
    /// a temporary index), then releases are looked up by it. Right when the releases looked
    /// at are many or the matches few.
    Collected,
    /// `EXISTS (SELECT … WHERE release_id = r.id …)`: one index seek per release looked at.
    /// Right for [`newest_first_probe`], which looks at a bounded number of releases: for a
    /// package name most releases have, collecting its ids took four times as long as the
    /// probe's seeks (8.3 against 1.9 ms on 25,000 releases).
    PerRelease,
}

/// Every condition of a release filter, on releases aliased `r`.
pub(crate) fn release_conditions(backend: Backend, f: &ReleaseFilter) -> Conditions {
    conditions_of(backend, f, Related::Collected)
}

fn conditions_of(backend: Backend, f: &ReleaseFilter, related: Related) -> Conditions {
    let mut out = Conditions::new(backend);
    if let Some(id) = f.id {
        eq_text(&mut out, "r.id", &id.to_string());
    }
    if let Some(user) = &f.user {
        eq_text(&mut out, "r.user_name", user);
    }
    match &f.team {
        Some(Some(team)) => eq_text(&mut out, "r.team", team),
        Some(None) => {
            out.and().push("r.team IS NULL");
        }
        None => {}
    }
    if let Some(platform) = &f.platform {
        let sql = out.and();
        match related {
            Related::Collected => sql.push(
                "r.id IN (SELECT rp.release_id FROM release_platforms rp WHERE rp.platform = ",
            ),
            Related::PerRelease => sql.push(
                "EXISTS (SELECT 1 FROM release_platforms rp \
                 WHERE rp.release_id = r.id AND rp.platform = ",
            ),
        };
        sql.bind(Value::Text(platform.clone())).push(")");
    }
    if let Some(reference) = &f.reference {
        // Case-insensitive on both backends, as Orlo's LIKE was on SQLite.
        out.and()
            .push("LOWER(r.refs) LIKE LOWER(")
            .bind(Value::Text(contains_pattern(reference)))
            .push(") ESCAPE '\\'");
    }
    time_conditions(&mut out, "r.stime", &f.stime);
    time_conditions(&mut out, "r.ftime", &f.ftime);
    int_conditions(&mut out, "r.duration_secs", f.duration);
    // The derived status is kept on the release row (see `packages::Summary`).
    if let Some(status) = f.status {
        eq_text(&mut out, "r.status", status.as_str());
    }
    if !f.package.is_empty() {
        let matching = package_conditions(backend, &f.package);
        let sql = out.and();
        match related {
            Related::Collected => {
                sql.push("r.id IN (SELECT p.release_id FROM packages p WHERE ");
            }
            Related::PerRelease => {
                sql.push("EXISTS (SELECT 1 FROM packages p WHERE p.release_id = r.id AND ");
            }
        }
        matching.write_all(sql);
        sql.push(")");
        if f.package.rollback == Some(false) {
            out.and().push("NOT r.has_rollback");
        }
    }
    out
}

/// The ids and revisions ([`KEY_COLUMNS`]) of the releases matching a filter, ordered by start
/// time (then id, for stable pages) and paged: the releases themselves come whole from
/// `ledger::cache` or `whole::by_ids`.
pub(crate) fn release_keys_query(backend: Backend, f: &ReleaseFilter, page: &Page) -> Sql {
    let mut from = Sql::new(backend);
    from.push("releases r");
    releases_from(f, page, &from, Related::Collected, None)
}

/// [`release_keys_query`] with the number of releases the filter matches in all as columns
/// (see [`CountColumn`]).
pub(crate) fn release_keys_query_counted(
    backend: Backend,
    f: &ReleaseFilter,
    page: &Page,
    count: &CountColumn<'_>,
) -> Sql {
    let mut from = Sql::new(backend);
    from.push("releases r");
    releases_from(f, page, &from, Related::Collected, Some(count))
}

/// The keys ([`KEY_COLUMNS`]) of the page of releases matching `f`, read from `from` (a table
/// or subquery named `r`), with `total` as a column when given.
fn releases_from(
    f: &ReleaseFilter,
    page: &Page,
    from: &Sql,
    related: Related,
    total: Option<&CountColumn<'_>>,
) -> Sql {
    let backend = from.backend();
    let mut sql = Sql::new(backend);
    sql.push("SELECT ").push(KEY_COLUMNS);
    push_total(&mut sql, total);
    sql.push(" FROM ");
    sql.append(from);
    conditions_of(backend, f, related).write_where(&mut sql);
    sql.push(if page.ascending {
        " ORDER BY r.stime ASC, r.id ASC"
    } else {
        " ORDER BY r.stime DESC, r.id DESC"
    });
    page_clause(&mut sql, page);
    sql
}

/// The most rows, offset included, a page may ask for and still count as small work (see
/// [`bounded_page`]).
pub(crate) const BOUNDED_WANTED: i64 = 100;

/// Whether the page of releases matching `f` walks one index in its order and reads little:
/// at most [`BOUNDED_WANTED`] rows asked for, offset included, and a filter that is one index
/// walked in the page's order and nothing else to check: none, an id, a user, or a team (each
/// has an index by start time, `releases_stime_idx`, `releases_user_idx`,
/// `releases_team_idx`). Such a page's keys read as many index entries as it asks for and
/// stop, however many releases match, and its count is the same index's entries for the
/// value; any other condition could make the database read through every release of the
/// user, or all of them, before the page is full. So its best plan is the same whatever the
/// values: PostgreSQL keeps its statement prepared (see `sql`), and on SQLite it is small work
/// ([`bounded_page`]).
pub(crate) fn one_index_page(f: &ReleaseFilter, page: &Page) -> bool {
    let Some(limit) = page.limit else {
        return false;
    };
    let small = limit > 0
        && page
            .offset
            .checked_add(limit)
            .is_some_and(|wanted| wanted <= BOUNDED_WANTED);
    let walked =
        usize::from(f.id.is_some()) + usize::from(f.user.is_some()) + usize::from(f.team.is_some());
    let rest = ReleaseFilter {
        id: None,
        user: None,
        team: None,
        ..f.clone()
    };
    small && walked <= 1 && rest == ReleaseFilter::default()
}

/// Whether the page of releases matching `f` is small work on SQLite, to be read on the thread
/// that took the request: a [`one_index_page`].
pub(crate) fn bounded_page(backend: Backend, f: &ReleaseFilter, page: &Page) -> bool {
    backend == Backend::Sqlite && one_index_page(f, page)
}

/// The most rows, offset included, a page may ask for and still be tried on the newest
/// releases first (see [`newest_first_probe`]).
const PROBE_MAX_WANTED: i64 = 1_000;

/// How many of the newest (or, ascending, oldest) releases the probe reads: enough to fill
/// the page with a value that one release in sixteen has.
fn probe_size(wanted: i64) -> i64 {
    (wanted * 16).max(256)
}

/// On SQLite, for a page filtered by platform or package (and not by id, user, team or start
/// time), the same page read from the newest [`probe_size`] releases only (the oldest, for an
/// ascending page); `None` when not worth it.
///
/// SQLite cannot tell how common a platform or package name is. For `r.id IN (SELECT …)` it
/// always collects every matching release, looks each one up and sorts them all: right for a
/// rare value, slow for a common one (a platform most releases go to meant thousands of
/// lookups for a page of 100). Walking the newest releases in order and keeping the matches
/// reads a few hundred rows instead, each checked by an index seek ([`Related::PerRelease`]).
///
/// The probe's answer is exact when it fills the page: the matches among the newest releases
/// come, in the page's order, before every other match, so when they reach past the page's
/// end the page is the same. When it returns fewer rows, the caller runs [`release_keys_query`].
pub(crate) fn newest_first_probe(backend: Backend, f: &ReleaseFilter, page: &Page) -> Option<Sql> {
    let limit = page.limit?;
    let wanted = page.offset.checked_add(limit)?;
    let by_subquery = f.platform.is_some() || !f.package.is_empty();
    // An id, a user, a team or a start time range has an index of its own that SQLite walks
    // instead, in order already; the newest releases would mostly not match.
    let by_index =
        f.id.is_some() || f.user.is_some() || f.team.is_some() || f.stime != TimeRange::default();
    if backend != Backend::Sqlite
        || !by_subquery
        || by_index
        || limit <= 0
        || wanted > PROBE_MAX_WANTED
    {
        return None;
    }
    let mut newest = Sql::new(backend);
    newest
        .push("(SELECT * FROM releases ORDER BY ")
        .push(if page.ascending {
            "stime ASC, id ASC"
        } else {
            "stime DESC, id DESC"
        })
        .push(" LIMIT ")
        .bind(Value::BigInt(probe_size(wanted)))
        .push(") r");
    Some(releases_from(f, page, &newest, Related::PerRelease, None))
}
