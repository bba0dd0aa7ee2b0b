//! First pages of releases on PostgreSQL, read for many requests in one statement
//! (`ledger::gathered` queues them).
//!
//! A page that walks one index in its order (`filter::one_index_page`: no filter, or one id,
//! user or team) is the same statement for every value but its value. Pages of one shape
//! (which column, limit, offset, order) asked for at the same moment are read together: each
//! value is a row of a `VALUES` list, its count and its page are `LATERAL` subqueries of it,
//! and the rows come back in the order of the values and then of each page. The count is
//! skipped, as on a page of its own, when the snapshot a kept count was taken in is the
//! statement's (`count_memo`). The releases then come from the release cache, or whole in one
//! more statement for every page of the batch (`releases::keyed_releases`).

use std::collections::HashMap;

use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::RunQueryDsl;
use shiplog_domain::Release;

use super::cache::ReleaseCache;
use super::count::releases_count;
use super::count_memo::CountMemo;
use super::filter::one_index_page;
use super::releases::{keyed_releases, ReleaseKey};
use crate::connection::{AnyConnection, Backend};
use crate::error::StorageResult;
use crate::query::{Page, ReleaseFilter};
use crate::sql::{ByPosition, Sql, Value};

/// The index a gathered page walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Walk {
    All,
    Id,
    User,
    Team,
}

impl Walk {
    /// The condition on `r` for the value `w.v`.
    fn condition(self) -> &'static str {
        match self {
            Walk::All => "",
            Walk::Id => " WHERE r.id = w.v",
            Walk::User => " WHERE r.user_name = w.v",
            Walk::Team => " WHERE r.team = w.v",
        }
    }
}

/// What pages read in one statement share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    walk: Walk,
    limit: i64,
    offset: i64,
    ascending: bool,
}

/// A page a request wants: its shape, the value its index is walked for, and its filter (whose
/// count is kept under the same key as a page read on its own).
#[derive(Debug, Clone)]
pub(crate) struct PageWanted {
    pub shape: Shape,
    value: String,
    filter: ReleaseFilter,
}

impl PageWanted {
    /// The page as one to gather, or `None` when it is not a first page walking one index (a
    /// team that is none is not gathered either).
    pub(crate) fn of(filter: &ReleaseFilter, page: &Page) -> Option<PageWanted> {
        if !one_index_page(filter, page) {
            return None;
        }
        let (walk, value) = match (&filter.id, &filter.user, &filter.team) {
            (Some(id), None, None) => (Walk::Id, id.to_string()),
            (None, Some(user), None) => (Walk::User, user.clone()),
            (None, None, Some(Some(team))) => (Walk::Team, team.clone()),
            (None, None, None) => (Walk::All, String::new()),
            _ => return None,
        };
        Some(PageWanted {
            shape: Shape {
                walk,
                limit: page.limit?,
                offset: page.offset,
                ascending: page.ascending,
            },
            value,
            filter: filter.clone(),
        })
    }

    /// Whether `other` asks for exactly this page.
    pub(crate) fn same_as(&self, other: &PageWanted) -> bool {
        self.shape == other.shape && self.value == other.value
    }
}

/// A row of the statement: the value's number, a release of its page (none for an empty
/// page), the statement's snapshot and the value's count (null when the kept one stands).
type RowSql = (
    Integer,
    Nullable<Text>,
    Nullable<BigInt>,
    Nullable<Text>,
    Nullable<BigInt>,
);
type Row = (
    i32,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// Reads `pages`, all of one shape and each value once, and their totals, in their order.
pub(crate) fn read_pages(
    conn: &mut AnyConnection,
    cache: &ReleaseCache,
    memo: &CountMemo,
    pages: &[&PageWanted],
) -> StorageResult<Vec<(Vec<Release>, i64)>> {
    let Some(first) = pages.first() else {
        return Ok(Vec::new());
    };
    let shape = first.shape;
    let counts: Vec<Sql> = pages
        .iter()
        .map(|page| releases_count(Backend::Postgres, &page.filter))
        .collect();
    let handed: Vec<_> = counts.iter().map(|count| memo.latest(count)).collect();

    let mut sql = Sql::new(Backend::Postgres);
    sql.push(
        "SELECT w.n, k.id, k.revision, CASE WHEN pg_current_xact_id_if_assigned() IS NULL \
              THEN pg_current_snapshot()::text END AS snapshot, c.total FROM (VALUES ",
    );
    for (n, (page, kept)) in pages.iter().zip(&handed).enumerate() {
        if n > 0 {
            sql.push(", ");
        }
        // The numbers are the list's own positions, never input.
        sql.push(&format!("({n}, "))
            .bind(Value::Text(page.value.clone()))
            .push(", ")
            .bind(Value::OptText(
                kept.as_ref().map(|kept| kept.snapshot.to_string()),
            ))
            .push(")");
    }
    sql.push(
        ") AS w(n, v, kept) CROSS JOIN LATERAL (SELECT CASE WHEN \
         pg_current_xact_id_if_assigned() IS NULL AND pg_current_snapshot()::text = w.kept \
         THEN NULL ELSE (SELECT COUNT(*) FROM releases r",
    )
    .push(shape.walk.condition())
    .push(") END AS total) c LEFT JOIN LATERAL (SELECT r.id, r.revision, r.stime FROM releases r")
    .push(shape.walk.condition());
    let order = if shape.ascending { "ASC" } else { "DESC" };
    sql.push(&format!(" ORDER BY r.stime {order}, r.id {order} LIMIT "))
        .bind(Value::BigInt(shape.limit));
    if shape.offset > 0 {
        sql.push(" OFFSET ").bind(Value::BigInt(shape.offset));
    }
    sql.push(&format!(
        ") k ON TRUE ORDER BY w.n, k.stime {order}, k.id {order}"
    ));
    let rows: Vec<Row> = ByPosition::<_, RowSql>::new(sql.into_key_lookup()).load(conn)?;

    // Each value's keys and its total, as the rows give them.
    let mut keys: Vec<Vec<ReleaseKey>> = (0..pages.len()).map(|_| Vec::new()).collect();
    let mut totals: HashMap<usize, (Option<i64>, Option<String>)> = HashMap::new();
    for (n, id, revision, snapshot, total) in rows {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let Some(wanted) = keys.get_mut(n) else {
            continue;
        };
        totals.entry(n).or_insert((total, snapshot));
        if let (Some(id), Some(revision)) = (id, revision) {
            wanted.push(ReleaseKey { id, revision });
        }
    }
    let releases = keyed_releases(conn, cache, keys)?;
    releases
        .into_iter()
        .zip(counts.into_iter().zip(handed))
        .enumerate()
        .map(|(n, (page, (count, handed)))| {
            let (column, snapshot) = totals.remove(&n).unwrap_or((None, None));
            Ok((page, memo.settle(count, handed, column, snapshot)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use shiplog_domain::{NewRelease, Release};
    use time::{Duration, OffsetDateTime};

    use super::{read_pages, PageWanted};
    use crate::connection::Backend;
    use crate::query::{Page, ReleaseFilter};
    use crate::testing::TestDb;
    use crate::Store;

    /// Releases of three users over two teams, started a minute apart.
    fn seed(store: &Store) -> Vec<NewRelease> {
        let start = OffsetDateTime::now_utc() - Duration::hours(1);
        let batch: Vec<_> = (0..12)
            .map(|i| {
                let mut new = NewRelease::new(
                    &format!("user{}", i % 3),
                    vec!["site0".to_owned()],
                    start + Duration::minutes(i),
                )
                .expect("release");
                new.team = Some(format!("team{}", i % 2));
                new
            })
            .collect();
        store.import_releases(&batch).expect("import");
        batch
    }

    fn page(limit: i64, offset: i64, ascending: bool) -> Page {
        Page {
            limit: Some(limit),
            offset,
            ascending,
        }
    }

    /// The pages the tests ask for: every shape gathered, several values of one, a value no
    /// release has, and one page twice.
    fn asked(batch: &[NewRelease]) -> Vec<(ReleaseFilter, Page)> {
        let user = |name: &str| ReleaseFilter {
            user: Some(name.to_owned()),
            ..ReleaseFilter::default()
        };
        let team = ReleaseFilter {
            team: Some(Some("team1".to_owned())),
            ..ReleaseFilter::default()
        };
        let id = ReleaseFilter {
            id: Some(batch[4].id),
            ..ReleaseFilter::default()
        };
        vec![
            (user("user0"), page(3, 0, false)),
            (user("user1"), page(3, 0, false)),
            (user("nobody"), page(3, 0, false)),
            (user("user0"), page(3, 0, false)),
            (user("user2"), page(2, 3, false)),
            (user("user2"), page(10, 0, true)),
            (team, page(4, 1, false)),
            (id, page(1, 0, false)),
            (ReleaseFilter::default(), page(5, 0, false)),
            (ReleaseFilter::default(), page(5, 10, true)),
        ]
    }

    fn ids(releases: &[Release]) -> Vec<String> {
        releases.iter().map(|r| r.id.to_string()).collect()
    }

    /// Pages read in one statement per shape are the pages, and totals, read one by one,
    /// however the requests arrive: all at once, after writes through another store.
    #[test]
    fn pages_read_together_are_the_pages_read_alone() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for db in TestDb::all() {
            if db.backend() != Backend::Postgres {
                continue;
            }
            let (ours, theirs) = (db.store(), db.store());
            let batch = seed(&ours);
            let asked = asked(&batch);
            for round in 0..3 {
                let answers = runtime.block_on(async {
                    let tasks: Vec<_> = asked
                        .iter()
                        .cloned()
                        .map(|(filter, page)| {
                            let ours = ours.clone();
                            tokio::spawn(async move {
                                ours.list_releases_counted_gathered(&filter, &page).await
                            })
                        })
                        .collect();
                    let mut answers = Vec::new();
                    for task in tasks {
                        answers.push(task.await.expect("task"));
                    }
                    answers
                });
                for ((filter, page), answer) in asked.iter().zip(answers) {
                    let (releases, total) = answer.expect("gathered");
                    let (alone, alone_total) =
                        theirs.list_releases_counted(filter, page).expect("alone");
                    assert_eq!(
                        ids(&releases),
                        ids(&alone),
                        "round {round}: {filter:?} {page:?}"
                    );
                    assert_eq!(releases, alone, "round {round}");
                    assert_eq!(total, alone_total, "round {round}: {filter:?} {page:?}");
                }
                // Another instance writes: a new release of user0, a note on one of user2.
                let mut new =
                    NewRelease::new("user0", vec!["site0".to_owned()], OffsetDateTime::now_utc())
                        .expect("release");
                new.team = Some("team1".to_owned());
                theirs.insert_release(&new).expect("insert");
                theirs.add_note(batch[2].id, "later").expect("note");
            }
            assert!(ours.gathered_reads().reads >= 30);
        }
    }

    /// In one snapshot (a repeatable read transaction), the second read of the same pages
    /// leaves every count out and tells the kept ones.
    #[test]
    fn pages_read_again_in_the_same_snapshot_tell_their_kept_counts() {
        for db in TestDb::all() {
            if db.backend() != Backend::Postgres {
                continue;
            }
            let store = db.store();
            let batch = seed(&store);
            let asked = asked(&batch);
            let wanted: Vec<PageWanted> = asked[..3]
                .iter()
                .map(|(filter, page)| PageWanted::of(filter, page).expect("gathered"))
                .collect();
            let wanted: Vec<&PageWanted> = wanted.iter().collect();
            let mut conn = store.conn().expect("connection");
            let conn = &mut *conn;
            diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(conn)
                .expect("begin");
            let (cache, memo) = (store.releases(), store.counts());
            let first = read_pages(conn, cache, memo, &wanted).expect("first");
            let before = store.count_memo();
            let again = read_pages(conn, cache, memo, &wanted).expect("again");
            let after = store.count_memo();
            diesel::sql_query("COMMIT").execute(conn).expect("commit");
            assert_eq!(first, again);
            let totals: Vec<i64> = first.iter().map(|(_, total)| *total).collect();
            assert_eq!(totals, [4, 4, 0]);
            assert_eq!(
                (after.hits - before.hits, after.misses - before.misses),
                (3, 0)
            );
        }
    }

    /// Only first pages walking one index are gathered.
    #[test]
    fn only_first_pages_walking_one_index_are_gathered() {
        let user = ReleaseFilter {
            user: Some("ana".to_owned()),
            ..ReleaseFilter::default()
        };
        assert!(PageWanted::of(&user, &page(10, 0, false)).is_some());
        assert!(PageWanted::of(&user, &page(10, 95, false)).is_none());
        assert!(PageWanted::of(
            &user,
            &Page {
                limit: None,
                offset: 0,
                ascending: false
            }
        )
        .is_none());
        let two = ReleaseFilter {
            team: Some(Some("t".to_owned())),
            ..user.clone()
        };
        assert!(PageWanted::of(&two, &page(10, 0, false)).is_none());
        let no_team = ReleaseFilter {
            team: Some(None),
            ..ReleaseFilter::default()
        };
        assert!(PageWanted::of(&no_team, &page(10, 0, false)).is_none());
        let platform = ReleaseFilter {
            platform: Some("eu".to_owned()),
            ..ReleaseFilter::default()
        };
        assert!(PageWanted::of(&platform, &page(10, 0, false)).is_none());
    }
}
