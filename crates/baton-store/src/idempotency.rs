//! The `Idempotency-Key` a request runs under. The server's idempotency layer runs each keyed
//! request inside [`scoped`]; every transaction the request commits then marks the key as
//! committed in that same transaction ([`COMMITTED`]), so a crash between the command's commit
//! and the recording of its answer can never let a retry run the command again.

use std::future::Future;

/// The `status` a key holds once its request's command committed and before its answer is
/// recorded (real answers are HTTP statuses, 100-599).
pub const COMMITTED: i64 = 0;

tokio::task_local! {
    static CURRENT: (String, String);
}

/// Runs `request` with `(scope, key)` as its idempotency key.
pub async fn scoped<F: Future>(scope: String, key: String, request: F) -> F::Output {
    CURRENT.scope((scope, key), request).await
}

/// The key of the request running on this task, if any.
pub(crate) fn current() -> Option<(String, String)> {
    CURRENT.try_with(Clone::clone).ok()
}
