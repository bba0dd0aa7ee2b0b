//! Runs blocking storage calls, and CPU-heavy work on large inputs, on actix's blocking pool,
//! off the async workers (a worker busy for a second delays every connection it holds).

use actix_web::web;
use shiplog_domain::{Release, ReleaseId};
use shiplog_storage::{Backend, Page, ReleaseFilter, StorageError, Store};

/// Runs `f` with the store on the blocking pool. A panic or a cancelled task comes back as a
/// storage error, so callers handle exactly one error type.
pub(crate) async fn with_store<T, F>(store: &Store, f: F) -> Result<T, StorageError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    // First come, first served for the pool's connections (see `Store::admission`); the permit
    // goes with the work and is returned when it ends. The semaphore is never closed.
    let Ok(permit) = store.admission().acquire_owned().await else {
        return Err(StorageError::Corrupt(
            "the store's admission closed".to_owned(),
        ));
    };
    let store = store.clone();
    let result = match web::block(move || {
        let _permit = permit;
        f(&store)
    })
    .await
    {
        Ok(result) => result,
        Err(blocking) => {
            crate::ops::metrics::storage_error("blocking");
            return Err(StorageError::Corrupt(format!(
                "blocking task failed: {blocking}"
            )));
        }
    };
    if let Err(err) = &result {
        crate::ops::metrics::storage_error(err.kind());
    }
    result
}

/// Runs `f`, a read whose work is bounded and small (one object by key), with the store: inline
/// on the async worker when the store is SQLite, on the blocking pool otherwise.
///
/// A SQLite read of one object takes tens of microseconds in-process and, in WAL mode, never
/// waits for a writer; handing it to the blocking pool and back costs more than that (two thread
/// wake-ups: on this 2-core machine kind, about half the CPU time of `GET /releases/{id}`).
/// PostgreSQL reads wait on the network and stay off the workers, as does a SQLite read when
/// no pooled connection is idle. Only for reads whose size does
/// not grow with the data: a query that scans, or a page whose length the client chooses, goes
/// through [`with_store`].
pub(crate) async fn with_store_point_read<T, F>(store: &Store, f: F) -> Result<T, StorageError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    // With no idle connection the read would wait for one (or open one) on the worker.
    if store.backend() != Backend::Sqlite || !store.has_idle_connection() {
        return with_store(store, f).await;
    }
    let result = f(store);
    if let Err(err) = &result {
        crate::ops::metrics::storage_error(err.kind());
    }
    result
}

/// The release `id`, if it exists and matches `filter`, as `Store::find_release` reads it. With
/// no filter, on PostgreSQL, it is read together with other requests' without a thread of its
/// own (`Store::find_release_gathered`); anything else is a point read
/// ([`with_store_point_read`]).
pub(crate) async fn find_release(
    store: &Store,
    id: ReleaseId,
    filter: ReleaseFilter,
) -> Result<Option<Release>, StorageError> {
    if filter == ReleaseFilter::default() {
        if let Some(found) = store.find_release_gathered(id).await {
            return Ok(found);
        }
    }
    with_store_point_read(store, move |store| store.find_release(id, &filter)).await
}

/// A page of releases with the total of its list, as `Store::list_releases_counted` reads it:
/// on PostgreSQL a first page walking one index is read together with other requests' pages
/// without a thread of its own (`Store::list_releases_counted_gathered`); on SQLite such a
/// page is read on the worker ([`with_store_small_read`]); anything else on the blocking pool.
pub(crate) async fn list_releases_counted(
    store: &Store,
    filter: ReleaseFilter,
    page: Page,
) -> Result<(Vec<Release>, i64), StorageError> {
    if let Some(found) = store.list_releases_counted_gathered(&filter, &page).await {
        return Ok(found);
    }
    let small = |store: &Store| store.list_releases_counted_if_small(&filter, &page);
    with_store_small_read(store, small, {
        let filter = filter.clone();
        move |store| store.list_releases_counted(&filter, &page)
    })
    .await
}

/// Runs `small`, a read that answers `None` when it finds it would not be small work (see
/// `Store::list_releases_counted_if_small`), inline on the async worker when the store is
/// SQLite, as [`with_store_point_read`] does; runs `full` on the blocking pool when `small`
/// answered `None` or could not run inline. A page read on the blocking pool costs two thread
/// wake-ups more than on the worker: with its count kept, about a fifth of the CPU time of a
/// page of ten on SQLite on this 2-core machine kind.
pub(crate) async fn with_store_small_read<T, S, F>(
    store: &Store,
    small: S,
    full: F,
) -> Result<T, StorageError>
where
    S: FnOnce(&Store) -> Result<Option<T>, StorageError>,
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    if store.backend() == Backend::Sqlite && store.has_idle_connection() {
        match small(store) {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => {
                crate::ops::metrics::storage_error(err.kind());
                return Err(err);
            }
        }
    }
    with_store(store, full).await
}

/// Bodies up to this size are parsed and checked on the worker: it takes well under a
/// millisecond. Larger ones go to the blocking pool.
pub(crate) const INLINE_BODY_MAX: usize = 64 * 1024;

/// Runs `f` (parsing and checking a request body of `size` bytes) inline when the body is
/// small, and on the blocking pool when it is large. `internal` is the face's 500, for a
/// blocking task that panicked or was cancelled.
pub(crate) async fn cpu_bound<T, E, F>(size: usize, f: F, internal: fn() -> E) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    if size <= INLINE_BODY_MAX {
        return f();
    }
    match web::block(f).await {
        Ok(result) => result,
        Err(blocking) => {
            log::error!("blocking task failed: {blocking}");
            Err(internal())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use shiplog_storage::{PoolOptions, Store};

    use super::{with_store, with_store_small_read};

    /// With the pool's one connection taken, storage work queued behind it runs in the order it
    /// asked, not in whatever order threads wake up (`Store::admission`).
    #[actix_web::test]
    async fn storage_work_is_admitted_first_come_first_served() {
        let path = std::env::temp_dir().join(format!("shiplog-fair-{}.db", uuid::Uuid::new_v4()));
        let store = Store::connect(
            &path.to_string_lossy(),
            &PoolOptions {
                max_size: 1,
                min_idle: 0,
                ..PoolOptions::default()
            },
        )
        .expect("store");
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let first = {
            let (store, order) = (store.clone(), Arc::clone(&order));
            actix_web::rt::spawn(async move {
                with_store(&store, move |_| {
                    released.recv().ok();
                    order.lock().expect("order").push(0);
                    Ok(())
                })
                .await
            })
        };
        // The first holds the one permit before the others ask.
        for _ in 0..10_000 {
            if store.admission().available_permits() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            store.admission().available_permits(),
            0,
            "the first took the permit"
        );
        let mut queued = Vec::new();
        for n in 1..=6 {
            let (store, order) = (store.clone(), Arc::clone(&order));
            queued.push(actix_web::rt::spawn(async move {
                with_store(&store, move |_| {
                    order.lock().expect("order").push(n);
                    Ok(())
                })
                .await
            }));
            // Let it run up to its wait for a permit, so the queue holds them in this order.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        }
        release.send(()).expect("release");
        first.await.expect("task").expect("first");
        for task in queued {
            task.await.expect("task").expect("queued");
        }
        assert_eq!(*order.lock().expect("order"), [0, 1, 2, 3, 4, 5, 6]);
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    /// A small read answers on the calling thread; one that declines (`None`) is done in
    /// full on the blocking pool; an error of the small read is the answer.
    #[actix_web::test]
    async fn a_small_read_runs_here_and_a_declined_one_in_full_elsewhere() {
        let path = std::env::temp_dir().join(format!("shiplog-small-{}.db", uuid::Uuid::new_v4()));
        let store =
            Store::connect(&path.to_string_lossy(), &PoolOptions::default()).expect("store");
        // Migrating takes a pooled connection and gives it back: one is idle afterwards,
        // whatever the pool's background threads have opened by then.
        store.migrate().expect("migrate");
        assert!(store.has_idle_connection(), "an idle connection");
        let here = std::thread::current().id();
        let small = with_store_small_read(
            &store,
            |_| Ok(Some(std::thread::current().id())),
            |_| Ok(std::thread::current().id()),
        )
        .await
        .expect("small");
        assert_eq!(small, here);
        let full = with_store_small_read(&store, |_| Ok(None), |_| Ok(std::thread::current().id()))
            .await
            .expect("full");
        assert_ne!(full, here);
        let failed: Result<(), _> = with_store_small_read(
            &store,
            |_| Err(shiplog_storage::StorageError::Corrupt("small".to_owned())),
            |_| Ok(()),
        )
        .await;
        assert!(failed.is_err());
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
