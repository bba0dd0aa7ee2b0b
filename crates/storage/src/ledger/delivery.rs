//! Delivery metrics from the ledger: finds a window's deployments (and what recovery and lead
//! time need of them) in SQL, and hands them to `shiplog_domain::delivery`, which owns the
//! definitions.
//!
//! Only the window's deployments are loaded — releases finished in the window with a final
//! status, filtered in SQL — with their platforms, package names, the two metadata keys the
//! figures read and the creation times of the tickets they reference. A failed deployment
//! recovered by a later deployment of the same window needs nothing more; one that is not is
//! looked up after the window with one indexed query (first matching release by `ftime`).

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use shiplog_domain::delivery::{
    change_time, figures, is_unplanned, recoveries_within, ticket_references, Deployment, Figures,
    GroupBy, Window, COMMIT_TIME_KEY, UNPLANNED_KEY,
};
use shiplog_domain::{PackageStatus, ReleaseId};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::filter::release_conditions;
use super::rows::{from_db, parse_uuid, ReleaseEntry};
use crate::connection::{AnyConnection, Backend, Store};
use crate::error::{StorageError, StorageResult};
use crate::query::{PackageFilter, ReleaseFilter, TimeRange};
use crate::sql::{Conditions, Sql, Value};
use crate::stored_time::{MaybeStoredTime, StoredTime};

/// How many ticket ids go into one `IN (…)` list.
const TICKET_CHUNK: usize = 500;

/// What the delivery metrics are asked for: a window, filters that all apply (to deployments
/// and to the releases that may recover them), and an optional grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryQuery {
    pub window: Window,
    pub team: Option<String>,
    pub platform: Option<String>,
    /// The release has a package of this name.
    pub package: Option<String>,
    pub user: Option<String>,
    pub group_by: Option<GroupBy>,
}

impl DeliveryQuery {
    /// Every deployment of `window`, unfiltered and ungrouped.
    pub fn new(window: Window) -> Self {
        DeliveryQuery {
            window,
            team: None,
            platform: None,
            package: None,
            user: None,
            group_by: None,
        }
    }

    fn filter(&self) -> ReleaseFilter {
        ReleaseFilter {
            user: self.user.clone(),
            team: self.team.clone().map(Some),
            platform: self.platform.clone(),
            package: PackageFilter {
                name: self.package.clone(),
                ..PackageFilter::default()
            },
            ..ReleaseFilter::default()
        }
    }
}

/// The figures overall and, when grouped, per key (keys ascending).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub figures: Figures,
    pub groups: Option<Vec<(String, Figures)>>,
}

#[derive(QueryableByName)]
struct DeploymentRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = Text)]
    refs: String,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    stime: PrimitiveDateTime,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    ftime: PrimitiveDateTime,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    has_rollback: bool,
}

#[derive(QueryableByName)]
struct TicketTime {
    #[diesel(sql_type = BigInt)]
    request_id: i64,
    #[diesel(sql_type = Timestamp)]
    #[diesel(deserialize_as = StoredTime)]
    date: PrimitiveDateTime,
}

#[derive(QueryableByName)]
struct Latest {
    #[diesel(sql_type = Nullable<Timestamp>)]
    #[diesel(deserialize_as = MaybeStoredTime)]
    ftime: Option<PrimitiveDateTime>,
}

/// A release filter plus, for a group, the group's key as one more condition (written here
/// because a filter holds one platform and one package name, and a group may add a second).
struct Scope<'a> {
    filter: &'a ReleaseFilter,
    group: Option<(GroupBy, &'a str)>,
}

impl Scope<'_> {
    /// The conditions on releases aliased `r`, with `ftime` bounded by `ftime`.
    fn conditions(&self, backend: Backend, ftime: TimeRange) -> Conditions {
        let filter = ReleaseFilter {
            ftime,
            ..self.filter.clone()
        };
        let mut conditions = release_conditions(backend, &filter);
        match self.group {
            Some((GroupBy::Team, key)) => {
                conditions
                    .and()
                    .push("r.team = ")
                    .bind(Value::Text(key.to_owned()));
            }
            Some((GroupBy::Platform, key)) => {
                conditions
                    .and()
                    .push("r.id IN (SELECT gp.release_id FROM release_platforms gp WHERE gp.platform = ")
                    .bind(Value::Text(key.to_owned()))
                    .push(")");
            }
            Some((GroupBy::Package, key)) => {
                conditions
                    .and()
                    .push("r.id IN (SELECT gk.release_id FROM packages gk WHERE gk.name = ")
                    .bind(Value::Text(key.to_owned()))
                    .push(")");
            }
            None => {}
        }
        conditions
    }
}

fn window_range(window: &Window) -> TimeRange {
    TimeRange {
        not_before: Some(window.from()),
        before: Some(window.to()),
        ..TimeRange::default()
    }
}

impl Store {
    /// The delivery metrics for `query` (see `shiplog_domain::delivery` for the definitions),
    /// read from one snapshot of the ledger.
    pub fn delivery(&self, query: &DeliveryQuery) -> StorageResult<DeliveryReport> {
        let groupings: Vec<GroupBy> = query.group_by.into_iter().collect();
        let (figures, mut grouped) = self.delivery_grouped(query, &groupings)?;
        Ok(DeliveryReport {
            figures,
            groups: query.group_by.map(|_| grouped.remove(0)),
        })
    }

    /// The figures for `query` (its `group_by` ignored) and, for each of `groupings`, its
    /// groups (as [`DeliveryReport::groups`]), from one load of the window's deployments: the
    /// dashboard's overview shows two groupings and pays for one load.
    pub fn delivery_grouped(
        &self,
        query: &DeliveryQuery,
        groupings: &[GroupBy],
    ) -> StorageResult<GroupedFigures> {
        let backend = self.backend();
        let filter = query.filter();
        let window = query.window;
        self.read_snapshot(|conn| {
            let deployments = load_deployments(conn, backend, &filter, &window)?;
            // Nothing finished after the window: no recovery can be found there.
            let look_after = latest_ftime(conn, backend)?.is_some_and(|at| at >= window.to());
            let mut compute = |scope: Scope<'_>, subset: Vec<&Deployment>| {
                let mut recovered = recoveries_within(&subset);
                if look_after {
                    for failed in subset.iter().filter(|d| d.failed()) {
                        if recovered.contains_key(&failed.id) {
                            continue;
                        }
                        if let Some(at) = recovery_after(conn, backend, &scope, &window, failed)? {
                            recovered.insert(failed.id, at);
                        }
                    }
                }
                Ok::<_, StorageError>(figures(&window, &subset, &recovered))
            };
            let overall = compute(
                Scope {
                    filter: &filter,
                    group: None,
                },
                deployments.iter().collect(),
            )?;
            let mut all_groups = Vec::with_capacity(groupings.len());
            for &group_by in groupings {
                let keys: BTreeSet<&str> =
                    deployments.iter().flat_map(|d| group_by.keys(d)).collect();
                let mut groups = Vec::with_capacity(keys.len());
                for key in keys {
                    let subset = deployments
                        .iter()
                        .filter(|d| group_by.keys(d).contains(&key))
                        .collect();
                    let scope = Scope {
                        filter: &filter,
                        group: Some((group_by, key)),
                    };
                    groups.push((key.to_owned(), compute(scope, subset)?));
                }
                all_groups.push(groups);
            }
            Ok((overall, all_groups))
        })
    }
}

/// The overall figures, and per grouping asked for, each key's figures.
pub type GroupedFigures = (Figures, Vec<Vec<(String, Figures)>>);

/// The window's deployments matching `filter`, each with its platforms, package names,
/// `unplanned` flag and change time.
fn load_deployments(
    conn: &mut AnyConnection,
    backend: Backend,
    filter: &ReleaseFilter,
    window: &Window,
) -> StorageResult<Vec<Deployment>> {
    let scope = Scope {
        filter,
        group: None,
    };
    let mut conditions = scope.conditions(backend, window_range(window));
    conditions
        .and()
        .push("r.status IN ('SUCCESSFUL', 'FAILED')");
    let mut ids = Sql::new(backend);
    ids.push("SELECT r.id FROM releases r");
    conditions.write_where(&mut ids);

    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT r.id, r.team, r.refs, r.stime, r.ftime, r.status, r.has_rollback FROM releases r",
    );
    conditions.write_where(&mut sql);
    let rows: Vec<DeploymentRow> = sql.into_query().load(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let related = |head: &str, tail: &str, conn: &mut AnyConnection| {
        let mut sql = Sql::new(backend);
        sql.push(head)
            .push(" IN (")
            .append(&ids)
            .push(")")
            .push(tail);
        sql.into_query().load::<ReleaseEntry>(conn)
    };
    let mut platforms: HashMap<String, Vec<String>> = HashMap::new();
    for row in related(
        "SELECT rp.release_id AS release_id, '' AS key, rp.platform AS value \
         FROM release_platforms rp WHERE rp.release_id",
        "",
        conn,
    )? {
        platforms.entry(row.release_id).or_default().push(row.value);
    }
    let mut packages: HashMap<String, Vec<String>> = HashMap::new();
    for row in related(
        "SELECT pk.release_id AS release_id, '' AS key, pk.name AS value \
         FROM packages pk WHERE pk.release_id",
        "",
        conn,
    )? {
        packages.entry(row.release_id).or_default().push(row.value);
    }
    let mut metadata: HashMap<(String, String), String> = HashMap::new();
    let keys = format!(
        "SELECT m.release_id AS release_id, m.key AS key, m.value AS value \
         FROM release_metadata m WHERE m.key IN ('{COMMIT_TIME_KEY}', '{UNPLANNED_KEY}') AND m.release_id"
    );
    for row in related(&keys, "", conn)? {
        metadata.insert((row.release_id, row.key), row.value);
    }

    let mut references: HashMap<String, Vec<i64>> = HashMap::new();
    for row in &rows {
        let refs: Vec<String> = serde_json::from_str(&row.refs).map_err(|_| {
            StorageError::Corrupt(format!("release {} has references {:?}", row.id, row.refs))
        })?;
        let tickets: Vec<i64> = ticket_references(&refs)
            .into_iter()
            .map(|t| t.get())
            .collect();
        if !tickets.is_empty() {
            references.insert(row.id.clone(), tickets);
        }
    }
    let ticket_times = load_ticket_times(conn, backend, references.values().flatten())?;

    rows.into_iter()
        .map(|row| {
            let status: PackageStatus = row.status.parse().map_err(|_| {
                StorageError::Corrupt(format!("release {} has status {:?}", row.id, row.status))
            })?;
            let commit = metadata.remove(&(row.id.clone(), COMMIT_TIME_KEY.to_owned()));
            let unplanned = metadata.remove(&(row.id.clone(), UNPLANNED_KEY.to_owned()));
            let tickets = references
                .get(&row.id)
                .into_iter()
                .flatten()
                .filter_map(|id| ticket_times.get(id).copied());
            let mut names = packages.remove(&row.id).unwrap_or_default();
            // Deduplicated here rather than by DISTINCT, which costs SQLite a temporary B-tree.
            names.sort();
            names.dedup();
            Ok(Deployment {
                id: parse_uuid::<ReleaseId>(&row.id)?,
                stime: from_db(row.stime),
                ftime: from_db(row.ftime),
                status,
                has_rollback: row.has_rollback,
                unplanned: is_unplanned(unplanned.as_deref()),
                change_time: change_time(commit.as_deref(), tickets),
                team: row.team,
                platforms: platforms.remove(&row.id).unwrap_or_default(),
                packages: names,
            })
        })
        .collect()
}

/// Creation times of the given tickets (those that exist).
fn load_ticket_times<'a>(
    conn: &mut AnyConnection,
    backend: Backend,
    ids: impl Iterator<Item = &'a i64>,
) -> StorageResult<HashMap<i64, OffsetDateTime>> {
    let ids: Vec<i64> = ids.copied().collect::<BTreeSet<_>>().into_iter().collect();
    let mut times = HashMap::new();
    for chunk in ids.chunks(TICKET_CHUNK) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT t.request_id AS request_id, t.date AS date FROM tickets t WHERE t.request_id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::BigInt(*id));
        }
        sql.push(")");
        for row in sql.into_query().load::<TicketTime>(conn)? {
            times.insert(row.request_id, from_db(row.date));
        }
    }
    Ok(times)
}

/// The latest finish time in the ledger, if any release has finished.
fn latest_ftime(
    conn: &mut AnyConnection,
    backend: Backend,
) -> StorageResult<Option<OffsetDateTime>> {
    let mut sql = Sql::new(backend);
    sql.push("SELECT MAX(r.ftime) AS ftime FROM releases r");
    let latest: Latest = sql.into_query().get_result(conn)?;
    Ok(latest.ftime.map(from_db))
}

/// The finish time of the first release after the window (in `scope`) that recovers `failed`:
/// SUCCESSFUL, no rollback, sharing a platform and a package name. Walks the `ftime` index
/// from the window's end and stops at the first match: the shared platform and package are
/// correlated EXISTS checks on purpose, since as `IN` lists SQLite would drive the query from
/// every release of those platforms and sort them (100 times slower on 100,000 releases).
fn recovery_after(
    conn: &mut AnyConnection,
    backend: Backend,
    scope: &Scope<'_>,
    window: &Window,
    failed: &Deployment,
) -> StorageResult<Option<OffsetDateTime>> {
    if failed.platforms.is_empty() || failed.packages.is_empty() {
        return Ok(None);
    }
    let after = TimeRange {
        not_before: Some(window.to()),
        ..TimeRange::default()
    };
    let mut conditions = scope.conditions(backend, after);
    conditions
        .and()
        .push("r.status = 'SUCCESSFUL' AND NOT r.has_rollback");
    let any_of = |sql: &mut Sql, values: &[String]| {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::Text(value.clone()));
        }
    };
    let sql = conditions
        .and()
        .push("EXISTS (SELECT 1 FROM release_platforms sp WHERE sp.release_id = r.id AND sp.platform IN (");
    any_of(sql, &failed.platforms);
    sql.push("))");
    let sql = conditions
        .and()
        .push("EXISTS (SELECT 1 FROM packages sk WHERE sk.release_id = r.id AND sk.name IN (");
    any_of(sql, &failed.packages);
    sql.push("))");
    let mut sql = Sql::new(backend);
    sql.push("SELECT r.ftime AS ftime FROM releases r");
    if backend == Backend::Sqlite {
        // With a team or user filter SQLite prefers that column's index and sorts every release
        // of the team; walking `ftime` stops at the first match instead (20–300 times faster
        // on the benchmark's ledger). PostgreSQL's cost model chooses the walk by itself.
        sql.push(" INDEXED BY releases_ftime_idx");
    }
    conditions.write_where(&mut sql);
    sql.push(" ORDER BY r.ftime LIMIT 1");
    let found: Option<Latest> = sql.into_query().get_result(conn).optional()?;
    Ok(found.and_then(|f| f.ftime).map(from_db))
}
