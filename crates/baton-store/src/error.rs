//! The store's error type.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist (in this tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was violated; the code names which.
    #[error("{message}")]
    Conflict {
        /// Machine-readable code, e.g. `email_taken`.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The core refused the command in the current state.
    #[error(transparent)]
    Transition(#[from] baton_core::TransitionError),
    /// The database is unreachable or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be decoded (a bug or a hand-edited database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The connection string is not one Baton understands, or the database it names cannot
    /// be reached at start-up.
    #[error("{0}")]
    Config(String),
    /// What a transaction took as read outside it (to spare reading it again) changed before
    /// its commit: nothing of it was written. The engine runs the command again, reading
    /// under the transaction's lock; this reaches a caller only if that is not possible.
    #[error("{0} changed while this request ran; send it again")]
    Stale(&'static str),
    /// The caller passed something malformed (e.g. a page cursor that is not one of ours).
    #[error("{0}")]
    InvalidInput(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing the request).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
            )
        )
    }
}
