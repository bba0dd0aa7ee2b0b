//! Whether a pooled PostgreSQL connection must prove it is alive (`SELECT 1`) before it is
//! handed out.
//!
//! The pool tested every PostgreSQL connection on checkout: a round trip before each request's
//! real work (one in eight of a `POST /releases`). A connection that answered a statement
//! without error a moment ago is as good as tested, so such a connection goes out untested.
//! Each connection carries a [`Liveness`] as its diesel instrumentation, which sees every
//! statement finish; the pool reads it back on checkout.
//!
//! What this gives up: a server that dies and comes back within [`TRUSTED_FOR`] of a
//! connection's last answer leaves that connection dead but untested, and the one request that
//! uses it fails (as unavailable, 503) instead of getting a fresh connection. diesel then marks
//! the connection broken (libpq reports its transaction status as unknown) and the pool drops
//! it; a connection whose last statement failed is always tested again. A restart takes longer
//! than the window, and under load the requests made while the server is away fail and drop
//! their connections first.

use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::Connection;

use crate::connection::AnyConnection;

/// How long after a connection's last successful statement it is handed out untested.
pub(crate) const TRUSTED_FOR: Duration = Duration::from_millis(500);

/// When a connection's last statement finished without error (`None`: it failed, or none ran).
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    answered: Option<Instant>,
    /// Statements finished, for tests that check whether a checkout ran one.
    #[cfg(test)]
    pub(crate) finished: u64,
}

impl Instrumentation for Liveness {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            self.answered = error.is_none().then(Instant::now);
            #[cfg(test)]
            {
                self.finished += 1;
            }
        }
    }
}

/// Whether `conn` answered so recently that it may skip its checkout test.
pub(crate) fn recently_answered(conn: &mut AnyConnection) -> bool {
    let AnyConnection::Postgresql(pg) = conn else {
        return false;
    };
    pg.instrumentation()
        .downcast_ref::<Liveness>()
        .and_then(|liveness| liveness.answered)
        .is_some_and(|at| at.elapsed() < TRUSTED_FOR)
}

/// The [`Liveness`] of a PostgreSQL connection, if it carries one.
#[cfg(test)]
pub(crate) fn of(conn: &mut AnyConnection) -> Option<&Liveness> {
    match conn {
        AnyConnection::Postgresql(pg) => pg.instrumentation().downcast_ref::<Liveness>(),
        AnyConnection::Sqlite(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Integer;
    use diesel::RunQueryDsl;

    use crate::connection::{PoolOptions, Store};
    use crate::testing::TestDb;
    use crate::Backend;

    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }

    /// The PostgreSQL database under test, if one is configured, and a store on it whose pool
    /// holds a single connection.
    fn one_connection_store() -> Option<(TestDb, Store)> {
        let db = TestDb::all()
            .into_iter()
            .find(|db| db.backend() == Backend::Postgres)?;
        let store = Store::connect(
            db.url(),
            &PoolOptions {
                max_size: 1,
                min_idle: 0,
                ..PoolOptions::default()
            },
        )
        .expect("connect");
        Some((db, store))
    }

    fn backend_pid(store: &Store) -> crate::StorageResult<i32> {
        store.read(|conn| {
            let row: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(conn)?;
            Ok(row.pid)
        })
    }

    /// Statements the pool's one connection has finished so far.
    fn finished(store: &Store) -> u64 {
        let mut conn = store.conn().expect("checkout");
        super::of(&mut conn)
            .expect("a PostgreSQL connection")
            .finished
    }

    #[test]
    fn a_connection_that_just_answered_goes_out_untested_and_one_that_failed_is_tested() {
        let Some((_db, store)) = one_connection_store() else {
            return;
        };
        backend_pid(&store).expect("first statement");
        let before = finished(&store);
        assert_eq!(finished(&store), before, "no SELECT 1 on a fresh answer");

        let failed = store.read(|conn| {
            diesel::sql_query("SELECT * FROM no_such_table").execute(conn)?;
            Ok(())
        });
        assert!(failed.is_err());
        let after_failure = finished(&store);
        // The failed statement, then the checkout's test of the connection.
        assert_eq!(after_failure, before + 2);
        assert_eq!(
            finished(&store),
            after_failure,
            "tested once, trusted again"
        );
    }

    #[test]
    fn a_connection_its_server_ended_fails_one_request_and_is_replaced() {
        let Some((db, store)) = one_connection_store() else {
            return;
        };
        let pid = backend_pid(&store).expect("pid");
        let admin = Store::connect(db.url(), &PoolOptions::default()).expect("admin");
        admin
            .read(|conn| {
                diesel::sql_query("SELECT pg_terminate_backend($1)")
                    .bind::<Integer, _>(pid)
                    .execute(conn)?;
                Ok(())
            })
            .expect("terminate");
        // pg_terminate_backend only signals: wait until the server process is gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let alive: i64 = admin
                .read(|conn| {
                    #[derive(diesel::QueryableByName)]
                    struct N {
                        #[diesel(sql_type = diesel::sql_types::BigInt)]
                        n: i64,
                    }
                    let row: N = diesel::sql_query(
                        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = $1",
                    )
                    .bind::<Integer, _>(pid)
                    .get_result(conn)?;
                    Ok(row.n)
                })
                .expect("pg_stat_activity");
            if alive == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "backend {pid} still there"
            );
            std::thread::yield_now();
        }

        // Whether the connection is tested depends on how long the wait above took; either
        // way a dead connection costs at most this one request, reported as unavailable.
        match backend_pid(&store) {
            Ok(new_pid) => assert_ne!(new_pid, pid, "tested and replaced"),
            Err(err) => assert!(err.is_unavailable(), "{err}"),
        }
        let replaced = backend_pid(&store).expect("a new connection");
        assert_ne!(replaced, pid);
    }
}
