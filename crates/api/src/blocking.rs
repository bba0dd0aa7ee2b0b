//! Runs blocking storage calls on actix's blocking pool, off the async workers.

use actix_web::web;
use shiplog_storage::{StorageError, Store};

/// Runs `f` with the store on the blocking pool. A panic or a cancelled task comes back as a
/// storage error, so callers handle exactly one error type.
pub(crate) async fn with_store<T, F>(store: &Store, f: F) -> Result<T, StorageError>
where
    F: FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    let store = store.clone();
    match web::block(move || f(&store)).await {
        Ok(result) => result,
        Err(blocking) => Err(StorageError::Corrupt(format!(
            "blocking task failed: {blocking}"
        ))),
    }
}
