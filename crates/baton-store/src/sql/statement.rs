//! Statements handed to a write transaction as values, so that several can travel together.
//!
//! On SQLite every statement is a round trip to the connection's own thread, and those round
//! trips, not SQLite's work, were most of a write transaction's time (BENCHMARKS.md, sessions 12
//! and 13). So a write transaction on SQLite *defers* the writes whose outcome it does not need
//! at once (a conversation's new state, its analytics facts, a delivery, a timer) and sends
//! them, in order, in front of its next statement that returns rows, or with its `RELEASE`:
//! one round trip for many statements (sqlx's SQLite driver runs the statements of one query
//! string in turn, binding `$n` across them). On PostgreSQL a deferred write simply runs at
//! once.

use crate::{StoreError, StoreResult};
use std::borrow::Cow;

/// A value bound to a [`Stmt`]: text or an integer, either possibly NULL (typed, so that
/// PostgreSQL reads a NULL as the column's type).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

/// What it means when a statement that must change a row changed none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Unchanged {
    /// The thing is not there.
    NotFound(&'static str),
    /// The thing changed since the transaction read it ([`StoreError::Stale`]).
    Stale(&'static str),
}

impl Unchanged {
    pub fn error(self) -> StoreError {
        match self {
            Unchanged::NotFound(what) => StoreError::NotFound(what),
            Unchanged::Stale(what) => StoreError::Stale(what),
        }
    }
}

/// One statement, its values (`$1`, `$2`... in its text) and what its outcome means.
#[derive(Debug, Clone)]
pub(super) struct Stmt {
    pub sql: Cow<'static, str>,
    pub values: Vec<Value>,
    /// It must change a row, else this is the error.
    pub must_change: Option<Unchanged>,
    /// A unique violation is this conflict (code, message).
    pub unique: Option<(&'static str, &'static str)>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Stmt {
            sql: sql.into(),
            values: Vec::new(),
            must_change: None,
            unique: None,
        }
    }

    /// Binds the next `$n`.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// It must change a row, else `what` is not found.
    pub fn or_not_found(mut self, what: &'static str) -> Self {
        self.must_change = Some(Unchanged::NotFound(what));
        self
    }

    /// It must change a row, else `what` changed since it was read (the transaction fails
    /// with [`StoreError::Stale`]).
    pub fn or_stale(mut self, what: &'static str) -> Self {
        self.must_change = Some(Unchanged::Stale(what));
        self
    }

    /// A unique violation is the conflict `code`.
    pub fn unique_as(mut self, code: &'static str, message: &'static str) -> Self {
        self.unique = Some((code, message));
        self
    }

    /// The error a failure of this statement is.
    pub fn error(&self, e: sqlx::Error) -> StoreError {
        match (&e, self.unique) {
            (sqlx::Error::Database(d), Some((code, message))) if d.is_unique_violation() => {
                StoreError::Conflict {
                    code,
                    message: message.to_string(),
                }
            }
            _ => StoreError::Database(e),
        }
    }

    /// Checks what it changed.
    pub fn check(&self, rows_affected: u64) -> StoreResult<()> {
        match self.must_change {
            Some(unchanged) if rows_affected == 0 => Err(unchanged.error()),
            _ => Ok(()),
        }
    }
}

/// `sql` with each placeholder `$n` renumbered `$(n + offset)`, to follow `offset` values of
/// the statements before it in one query. The store's statements hold no `$` in literals.
pub(super) fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let n: usize = rest[..digits].parse().expect("ascii digits");
            out.push_str(&(n + offset).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_shifts_every_placeholder() {
        assert_eq!(renumber("SELECT $1, $2", 0), "SELECT $1, $2");
        assert_eq!(
            renumber("UPDATE t SET a = $2, b = $10 WHERE id = $1", 3),
            "UPDATE t SET a = $5, b = $13 WHERE id = $4"
        );
        assert_eq!(renumber("SELECT '$' || $1", 1), "SELECT '$' || $2");
    }

    #[test]
    fn outcomes_map_to_store_errors() {
        let stmt = Stmt::new("UPDATE t SET a = 1").or_not_found("conversation");
        assert!(matches!(
            stmt.check(0),
            Err(StoreError::NotFound("conversation"))
        ));
        assert!(stmt.check(1).is_ok());
        let guard = Stmt::new("INSERT INTO t SELECT 1 WHERE 0").or_stale("conversation");
        assert!(matches!(
            guard.check(0),
            Err(StoreError::Stale("conversation"))
        ));
        assert!(Stmt::new("DELETE FROM t").check(0).is_ok());
    }
}
