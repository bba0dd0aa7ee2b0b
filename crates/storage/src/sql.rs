//! A small builder for dynamic SQL with bound parameters, for the queries whose shape depends on
//! the request (listing filters, statistics).
//!
//! diesel's boxed DSL cannot nest a boxed subquery under `MultiBackend`, and these queries are
//! mostly subqueries, so they are written as SQL text with every value bound — never
//! interpolated. Placeholders follow the backend (`$n` on PostgreSQL, `?` on SQLite); the SQL
//! itself sticks to what both dialects share.

use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
use time::PrimitiveDateTime;

use crate::connection::{Backend, MultiBackend};

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    /// Text or SQL NULL.
    OptText(Option<String>),
    BigInt(i64),
    Bool(bool),
    Timestamp(PrimitiveDateTime),
}

/// SQL text under construction, with its bound values in order.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    backend: Backend,
    text: String,
    binds: Vec<Value>,
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
        self.binds.push(value);
        match self.backend {
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.binds.len().to_string());
            }
            Backend::Sqlite => self.text.push('?'),
        }
        self
    }

    /// Appends another builder's text and binds (renumbering placeholders as needed).
    pub fn append(&mut self, other: &Sql) -> &mut Self {
        match self.backend {
            Backend::Sqlite => {
                self.text.push_str(&other.text);
                self.binds.extend(other.binds.iter().cloned());
            }
            Backend::Postgres => {
                let offset = self.binds.len();
                let mut chars = other.text.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                        let mut n = String::new();
                        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                            n.push(d);
                            chars.next();
                        }
                        let index: usize = n.parse().unwrap_or(0);
                        self.text.push('$');
                        self.text.push_str(&(index + offset).to_string());
                    } else {
                        self.text.push(c);
                    }
                }
                self.binds.extend(other.binds.iter().cloned());
            }
        }
        self
    }

    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The finished query, ready to `load` or `execute`.
    pub fn into_query(self) -> BoxedSqlQuery<'static, MultiBackend, SqlQuery> {
        let mut query = diesel::sql_query(self.text).into_boxed::<MultiBackend>();
        for value in self.binds {
            query = match value {
                Value::Text(v) => query.bind::<Text, _>(v),
                Value::OptText(v) => query.bind::<diesel::sql_types::Nullable<Text>, _>(v),
                Value::BigInt(v) => query.bind::<BigInt, _>(v),
                Value::Bool(v) => query.bind::<Bool, _>(v),
                Value::Timestamp(v) => query.bind::<Timestamp, _>(v),
            };
        }
        query
    }
}

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
    fn contains_patterns_escape_the_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
