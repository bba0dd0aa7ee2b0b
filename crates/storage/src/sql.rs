//! A small builder for dynamic SQL with bound parameters, for the queries whose shape depends on
//! the request (listing filters, statistics, `IN` lists).
//!
//! diesel's boxed DSL cannot nest a boxed subquery under `MultiBackend`, and these queries are
//! mostly subqueries, so they are written as SQL text with every value bound — never
//! interpolated. The text holds no placeholders: each value remembers where it goes, and the
//! backend's query builder writes the placeholder there (`$n` on PostgreSQL, `?` on SQLite).
//! The SQL itself sticks to what both dialects share.
//!
//! On SQLite a finished query keeps its prepared statement on the connection, keyed by its
//! text, as diesel's DSL queries do: preparing (parsing and planning) was a tenth of a filtered
//! page's CPU. The text depends only on which filters a request uses, never on their values,
//! and the number of texts a process caches is capped ([`CACHED_TEXTS`]), so a client varying
//! its filters cannot grow the caches without bound. On PostgreSQL only statements by key stay
//! prepared ([`Sql::into_key_lookup`]), and pages whose one plan is an index walked in their
//! order (`filter::one_index_page`); any other filtered query is prepared each time, because
//! after a few runs of one prepared statement PostgreSQL may switch to a generic plan, which
//! for a skewed filter value (a rare status, one busy user) can be far worse than the plan for
//! that value. Planning a page of ten by user took PostgreSQL about 150 µs, three times its
//! execution. A text that depends on the backend alone (a release's lookup by id) is kept on both
//! backends under a type instead of its text ([`FixedQuery`]), and a query whose select list
//! is known can be read by column position ([`ByPosition`]).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::marker::PhantomData;
use std::sync::{LazyLock, RwLock};

use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::{QueryResult, RunQueryDsl};
use time::PrimitiveDateTime;

use crate::connection::{Backend, MultiBackend};
use crate::stored_time::WriteTime;

/// How many distinct query texts a process lets its connections keep prepared.
pub(crate) const CACHED_TEXTS: usize = 512;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Text(String),
    /// Text or SQL NULL.
    OptText(Option<String>),
    BigInt(i64),
    /// A bigint or SQL NULL.
    OptBigInt(Option<i64>),
    Integer(i32),
    Bool(bool),
    /// A time (see [`Value::timestamp`]).
    Timestamp(WriteTime),
    /// A time or SQL NULL (see [`Value::opt_timestamp`]).
    OptTimestamp(Option<WriteTime>),
}

impl Value {
    /// A time, bound as a `TIMESTAMP` (on SQLite rendered by hand, see `stored_time`).
    pub fn timestamp(at: PrimitiveDateTime) -> Value {
        Value::Timestamp(WriteTime(at))
    }

    /// A time or SQL NULL.
    pub fn opt_timestamp(at: Option<PrimitiveDateTime>) -> Value {
        Value::OptTimestamp(at.map(WriteTime))
    }
}

/// SQL text under construction, with its bound values and where each goes. Two are equal when
/// they would run the same statement with the same values (the key of a kept count,
/// `ledger::count_memo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sql {
    backend: Backend,
    text: String,
    /// Each value with the byte offset in `text` of its placeholder.
    binds: Vec<(usize, Value)>,
}

impl Sql {
    pub fn new(backend: Backend) -> Self {
        Sql {
            backend,
            text: String::with_capacity(256),
            binds: Vec::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends SQL text (never user input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: Value) -> &mut Self {
        self.binds.push((self.text.len(), value));
        self
    }

    /// Appends `?, ?, …` binding `values` in order: one row's values in an INSERT (no
    /// parentheses, no padding).
    pub fn bind_row(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self
    }

    /// Appends `(?, ?, …)` binding `values`, padded with copies of the last one to the next of
    /// a few fixed lengths, so lists of similar lengths share one prepared statement. An empty
    /// list is `(NULL)`, which `IN` never matches, on both backends.
    pub fn bind_list(&mut self, values: impl ExactSizeIterator<Item = Value>) -> &mut Self {
        let len = values.len();
        if len == 0 {
            return self.push("(NULL)");
        }
        let padded = padded_length(len);
        self.push("(");
        for (i, value) in values.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        if let Some((_, last)) = self.binds.last().cloned() {
            for _ in len..padded {
                self.push(", ");
                self.bind(last.clone());
            }
        }
        self.push(")")
    }

    /// Appends another builder's text and binds.
    pub fn append(&mut self, other: &Sql) -> &mut Self {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.binds.extend(
            other
                .binds
                .iter()
                .map(|(at, value)| (base + at, value.clone())),
        );
        self
    }

    /// The text with the backend's placeholders, as the database receives it.
    #[cfg(test)]
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut from = 0;
        for (n, (at, _)) in self.binds.iter().enumerate() {
            out.push_str(&self.text[from..*at]);
            match self.backend {
                Backend::Postgres => out.push_str(&format!("${}", n + 1)),
                Backend::Sqlite => out.push('?'),
            }
            from = *at;
        }
        out.push_str(&self.text[from..]);
        out
    }

    /// The finished query, ready to `load` or `execute`.
    pub fn into_query(self) -> DynamicQuery {
        let keep = self.backend == Backend::Sqlite;
        self.finish(keep)
    }

    /// The finished query, kept prepared on PostgreSQL too: for lookups, inserts and updates by
    /// key, whose best plan is the same whatever the values (see the module documentation).
    /// diesel's own `UPDATE`s are never kept, so the hot ones are written here.
    pub fn into_key_lookup(self) -> DynamicQuery {
        self.finish(true)
    }

    /// The finished query, kept prepared under the type `K` rather than under its text (see
    /// [`FixedQuery`]). Only for a text fixed by the one function that builds it.
    pub fn into_fixed<K: 'static>(self) -> FixedQuery<K> {
        FixedQuery {
            query: DynamicQuery {
                text: self.text,
                binds: self.binds,
                keep_prepared: true,
            },
            key: PhantomData,
        }
    }

    fn finish(self, keep: bool) -> DynamicQuery {
        let keep_prepared = keep && may_keep_prepared(&self.text);
        DynamicQuery {
            text: self.text,
            binds: self.binds,
            keep_prepared,
        }
    }
}

/// The lengths an `IN` list is padded to: powers of two up to 64, then multiples of 64.
fn padded_length(len: usize) -> usize {
    if len <= 64 {
        len.next_power_of_two()
    } else {
        len.div_ceil(64) * 64
    }
}

/// Whether a query with this text may stay prepared: yes for the first [`CACHED_TEXTS`]
/// distinct texts the process sees, and for those alone.
fn may_keep_prepared(text: &str) -> bool {
    static TEXTS: LazyLock<KeptTexts> = LazyLock::new(|| KeptTexts::new(CACHED_TEXTS));
    TEXTS.admit(text)
}

/// The texts (by hash) whose statements may stay prepared, at most `cap` of them.
struct KeptTexts {
    cap: usize,
    hasher: RandomState,
    hashes: RwLock<HashSet<u64>>,
}

impl KeptTexts {
    fn new(cap: usize) -> Self {
        KeptTexts {
            cap,
            hasher: RandomState::new(),
            hashes: RwLock::new(HashSet::new()),
        }
    }

    /// Whether `text` is kept, adding it while there is room.
    fn admit(&self, text: &str) -> bool {
        let key = self.hasher.hash_one(text);
        if self.hashes.read().is_ok_and(|set| set.contains(&key)) {
            return true;
        }
        let Ok(mut set) = self.hashes.write() else {
            return false;
        };
        if set.len() < self.cap {
            set.insert(key);
        }
        set.contains(&key)
    }
}

/// A query built by [`Sql`]: text, bound values and whether its statement may be kept.
pub(crate) struct DynamicQuery {
    text: String,
    binds: Vec<(usize, Value)>,
    keep_prepared: bool,
}

impl QueryFragment<MultiBackend> for DynamicQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        if !self.keep_prepared {
            out.unsafe_to_cache_prepared();
        }
        let mut from = 0;
        for (at, value) in &self.binds {
            out.push_sql(&self.text[from..*at]);
            match value {
                Value::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Value::OptText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Value::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Value::OptBigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Value::Integer(v) => out.push_bind_param::<Integer, _>(v)?,
                Value::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Value::Timestamp(v) => out.push_bind_param::<Timestamp, _>(v)?,
                Value::OptTimestamp(v) => out.push_bind_param::<Nullable<Timestamp>, _>(v)?,
            }
            from = *at;
        }
        out.push_sql(&self.text[from..]);
        Ok(())
    }
}

impl QueryId for DynamicQuery {
    type QueryId = ();
    // No static id: a statement kept prepared is found again by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for DynamicQuery {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for DynamicQuery {}

/// A query whose text depends on nothing but the backend (a lookup by key), kept prepared on
/// both backends under the type `K`. diesel finds a statement kept under a type by the type
/// alone: it neither writes the text out nor hashes it, which a statement kept under its text
/// costs on every run (hashing a release's lookup text twice, writing it out and comparing
/// it were 5 % of the instructions of `GET /releases/{id}` on SQLite). `K` is a marker type
/// that only the one function building the text uses, so one key never names two texts.
pub(crate) struct FixedQuery<K> {
    query: DynamicQuery,
    key: PhantomData<fn() -> K>,
}

impl<K> QueryFragment<MultiBackend> for FixedQuery<K> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        self.query.walk_ast(out)
    }
}

impl<K: 'static> QueryId for FixedQuery<K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K> Query for FixedQuery<K> {
    type SqlType = Untyped;
}

impl<K, Conn> RunQueryDsl<Conn> for FixedQuery<K> {}

/// `Q` read by position, as rows of the SQL types `ST` (a tuple, nested for an embedded row):
/// diesel takes each column by its index. A query read by name (`Untyped`, into a
/// `QueryableByName`) finds every column of every row by comparing its name with each column's
/// in turn: 5 % of the instructions of a release's read by id, 2 % of a page's. The select
/// list must hold the columns in `ST`'s order; the row type's tests read it both ways.
pub(crate) struct ByPosition<Q, ST> {
    query: Q,
    row: PhantomData<fn() -> ST>,
}

impl<Q, ST> ByPosition<Q, ST> {
    pub fn new(query: Q) -> Self {
        ByPosition {
            query,
            row: PhantomData,
        }
    }
}

impl<Q: QueryFragment<MultiBackend>, ST> QueryFragment<MultiBackend> for ByPosition<Q, ST> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        self.query.walk_ast(out)
    }
}

impl<Q: QueryId, ST> QueryId for ByPosition<Q, ST> {
    // The statement is the query's: the same text, prepared once whichever way it is read.
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q, ST> Query for ByPosition<Q, ST> {
    type SqlType = ST;
}

impl<Q, ST, Conn> RunQueryDsl<Conn> for ByPosition<Q, ST> {}

/// A list of conditions joined by AND.
#[derive(Debug, Clone)]
pub(crate) struct Conditions {
    sql: Sql,
    count: usize,
}

impl Conditions {
    pub fn new(backend: Backend) -> Self {
        Conditions {
            sql: Sql::new(backend),
            count: 0,
        }
    }

    /// Starts a new condition and returns the builder to write it into.
    pub fn and(&mut self) -> &mut Sql {
        if self.count > 0 {
            self.sql.push(" AND ");
        }
        self.count += 1;
        &mut self.sql
    }

    /// ` WHERE …` (or nothing) appended to `into`.
    pub fn write_where(&self, into: &mut Sql) {
        if self.count > 0 {
            into.push(" WHERE ");
            into.append(&self.sql);
        }
    }

    /// The conditions alone (`1 = 1` when there are none).
    pub fn write_all(&self, into: &mut Sql) {
        if self.count > 0 {
            into.append(&self.sql);
        } else {
            into.push("1 = 1");
        }
    }
}

/// `LIKE` pattern matching `needle` anywhere, with `\` escaping the wildcards in it; use it with
/// `ESCAPE '\'` (the default escape on PostgreSQL, but SQLite has none unless told).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use diesel::connection::{Connection, InstrumentationEvent};

    #[test]
    fn postgres_placeholders_are_numbered_across_appends() {
        let mut inner = Sql::new(Backend::Postgres);
        inner
            .push("a = ")
            .bind(Value::BigInt(1))
            .push(" AND b = ")
            .bind(Value::BigInt(2));
        let mut outer = Sql::new(Backend::Postgres);
        outer
            .push("x = ")
            .bind(Value::Text("x".into()))
            .push(" AND ")
            .append(&inner);
        assert_eq!(outer.text(), "x = $1 AND a = $2 AND b = $3");
    }

    #[test]
    fn sqlite_placeholders_are_question_marks() {
        let mut conditions = Conditions::new(Backend::Sqlite);
        conditions.and().push("a = ").bind(Value::Bool(true));
        conditions.and().push("b = ").bind(Value::BigInt(3));
        let mut sql = Sql::new(Backend::Sqlite);
        sql.push("SELECT 1 FROM t");
        conditions.write_where(&mut sql);
        assert_eq!(sql.text(), "SELECT 1 FROM t WHERE a = ? AND b = ?");
    }

    #[test]
    fn a_row_binds_its_values_in_order_without_parentheses_or_padding() {
        let mut sql = Sql::new(Backend::Postgres);
        sql.push("VALUES (")
            .bind_row([Value::BigInt(7), Value::Bool(true), Value::BigInt(9)])
            .push(")");
        assert_eq!(sql.text(), "VALUES ($1, $2, $3)");
        assert_eq!(sql.binds.len(), 3);
        let mut sqlite = Sql::new(Backend::Sqlite);
        sqlite.bind_row([Value::BigInt(1)]);
        assert_eq!(sqlite.text(), "?");
    }

    #[test]
    fn in_lists_are_padded_to_a_few_lengths() {
        let lengths: Vec<usize> = [1, 2, 3, 5, 9, 64, 65, 128, 129, 500]
            .into_iter()
            .map(padded_length)
            .collect();
        assert_eq!(lengths, [1, 2, 4, 8, 16, 64, 128, 128, 192, 512]);
        let mut sql = Sql::new(Backend::Postgres);
        sql.push("x IN ")
            .bind_list([1, 2, 3].into_iter().map(Value::BigInt))
            .push(" AND y = ")
            .bind(Value::Bool(true));
        assert_eq!(sql.text(), "x IN ($1, $2, $3, $4) AND y = $5");
        let padding: Vec<i64> = sql.binds[..4]
            .iter()
            .map(|(_, value)| match value {
                Value::BigInt(n) => *n,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(padding, [1, 2, 3, 3], "padded with the last value");
        let mut empty = Sql::new(Backend::Sqlite);
        empty
            .push("x = ")
            .bind(Value::BigInt(1))
            .push(" AND y IN ")
            .bind_list(std::iter::empty());
        assert_eq!(empty.text(), "x = ? AND y IN (NULL)");
    }

    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// A count of the statements a connection puts in its cache, and the instrumentation that
    /// counts them.
    fn cache_events() -> (
        Arc<AtomicUsize>,
        impl FnMut(InstrumentationEvent<'_>) + Send + 'static,
    ) {
        let cached = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&cached);
        let instrumentation = move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { .. } = event {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        };
        (cached, instrumentation)
    }

    /// Runs `SELECT ? + ? AS n` (a shape no other test uses) with the values of `pairs` on one
    /// connection, and counts the statements that connection put in its cache.
    fn cached_statements(db: &crate::testing::TestDb, pairs: &[(i64, i64)]) -> (Vec<i64>, usize) {
        let store = db.store();
        let mut conn = store.conn().expect("connection");
        let (cached, counter) = cache_events();
        conn.set_instrumentation(counter);
        let sums = pairs
            .iter()
            .map(|&(a, b)| {
                let mut sql = Sql::new(db.backend());
                sql.push("SELECT ")
                    .bind(Value::BigInt(a))
                    .push(" + ")
                    .bind(Value::BigInt(b))
                    .push(" AS n");
                let row: Number = sql.into_query().get_result(&mut *conn).expect("query");
                row.n
            })
            .collect();
        (sums, cached.load(Ordering::SeqCst))
    }

    #[derive(diesel::QueryableByName)]
    struct Times {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        #[diesel(deserialize_as = crate::stored_time::StoredTime)]
        at: time::PrimitiveDateTime,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
        #[diesel(deserialize_as = crate::stored_time::MaybeStoredTime)]
        maybe: Option<time::PrimitiveDateTime>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
        #[diesel(deserialize_as = crate::stored_time::MaybeStoredTime)]
        none: Option<time::PrimitiveDateTime>,
    }

    /// Times bound by the builder (rendered by hand on SQLite, through diesel on PostgreSQL)
    /// come back as they went in on both backends, NULL included.
    #[test]
    fn bound_times_read_back_unchanged() {
        for db in crate::testing::TestDb::all() {
            let store = db.store();
            let mut conn = store.conn().expect("connection");
            for at in [
                time::macros::datetime!(2026-12-07 08:15:00),
                time::macros::datetime!(2026-12-07 08:15:00.000120),
                time::macros::datetime!(1999-01-31 23:59:59.999999),
            ] {
                let mut sql = Sql::new(db.backend());
                let cast = match db.backend() {
                    Backend::Sqlite => "",
                    Backend::Postgres => "::timestamp",
                };
                sql.push("SELECT ")
                    .bind(Value::timestamp(at))
                    .push(cast)
                    .push(" AS at, ")
                    .bind(Value::opt_timestamp(Some(at)))
                    .push(cast)
                    .push(" AS maybe, ")
                    .bind(Value::opt_timestamp(None))
                    .push(cast)
                    .push(" AS none");
                let row: Times = sql.into_query().get_result(&mut *conn).expect("query");
                assert_eq!(
                    (row.at, row.maybe, row.none),
                    (at, Some(at), None),
                    "{:?}",
                    db.backend()
                );
            }
        }
    }

    /// A fixed query is kept prepared under its key type, on both backends and through the
    /// connection wrapper: its statement is prepared once, and found again by the key alone,
    /// whatever the text. That is why a key must name one text: here a second text under the
    /// same key runs the first's statement.
    #[test]
    fn a_fixed_query_is_found_again_by_its_key_alone() {
        struct Key;
        for db in crate::testing::TestDb::all() {
            let store = db.store();
            let mut conn = store.conn().expect("connection");
            let (cached, counter) = cache_events();
            conn.set_instrumentation(counter);
            let mut run = |text: &str, n: i64| {
                let mut sql = Sql::new(db.backend());
                sql.push(text).bind(Value::BigInt(n)).push(" AS n");
                let row: Number = sql
                    .into_fixed::<Key>()
                    .get_result(&mut *conn)
                    .expect("query");
                row.n
            };
            let sums = [
                run("SELECT 1 + ", 1),
                run("SELECT 1 + ", 41),
                run("SELECT 100 + ", 1),
            ];
            assert_eq!(sums, [2, 42, 2], "{:?}", db.backend());
            assert_eq!(cached.load(Ordering::SeqCst), 1, "{:?}", db.backend());
        }
    }

    #[test]
    fn sqlite_keeps_a_dynamic_statement_prepared_and_postgres_does_not() {
        for db in crate::testing::TestDb::all() {
            let (sums, cached) = cached_statements(&db, &[(1, 2), (40, 2), (-5, 5)]);
            assert_eq!(sums, [3, 42, 0], "{:?}", db.backend());
            let expected = match db.backend() {
                Backend::Sqlite => 1,
                Backend::Postgres => 0,
            };
            assert_eq!(cached, expected, "{:?}", db.backend());
        }
    }

    #[test]
    fn key_lookups_stay_prepared_on_every_backend() {
        for db in crate::testing::TestDb::all() {
            let store = db.store();
            let mut conn = store.conn().expect("connection");
            let (events, counter) = cache_events();
            conn.set_instrumentation(counter);
            for id in ["a", "b", "c"] {
                let mut sql = Sql::new(db.backend());
                sql.push("SELECT COUNT(*) AS n FROM releases WHERE id IN ")
                    .bind_list([Value::Text(id.to_owned())].into_iter());
                let row: Number = sql.into_key_lookup().get_result(&mut *conn).expect("query");
                assert_eq!(row.n, 0);
            }
            assert_eq!(events.load(Ordering::SeqCst), 1, "{:?}", db.backend());
        }
    }

    #[test]
    fn only_so_many_texts_stay_prepared() {
        let kept = KeptTexts::new(3);
        let texts = ["SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4"];
        let admitted: Vec<bool> = texts.iter().map(|t| kept.admit(t)).collect();
        assert_eq!(admitted, [true, true, true, false]);
        assert!(kept.admit("SELECT 2"), "a text kept once stays kept");
        assert!(!kept.admit("SELECT 4"), "and one refused stays refused");
    }

    #[test]
    fn contains_patterns_escape_the_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
