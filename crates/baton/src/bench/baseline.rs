//! The physical baseline, measured in the same run on the same disk or database server:
//! single-row INSERT commits in a loop, one connection, with the durability Baton uses.

use super::Backend;
use serde::Serialize;
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// What the baseline measured.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What was measured.
    pub what: String,
    /// Rows committed.
    pub rows: u64,
    /// Seconds spent.
    pub seconds: f64,
    /// Commits per second.
    pub rows_per_sec: f64,
}

/// A message-sized row.
const PAYLOAD: &str =
    "what are your opening hours? I would like to come by the shop on Saturday morning.";

/// SQLite: a separate file `baseline.db` in `dir` (WAL, synchronous=FULL, as the server
/// opens its database); PostgreSQL: a scratch table in the database at `url` (autocommit).
pub async fn measure(
    backend: Backend,
    dir: &Path,
    url: &str,
    duration: Duration,
) -> anyhow::Result<Baseline> {
    match backend {
        Backend::Sqlite => {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            let options = SqliteConnectOptions::new()
                .filename(dir.join("baseline.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            sqlx::query(
                "CREATE TABLE rows (id INTEGER PRIMARY KEY, conversation TEXT NOT NULL, \
                 text TEXT NOT NULL, at INTEGER NOT NULL)",
            )
            .execute(&mut conn)
            .await?;
            let (rows, seconds) = insert_loop(duration, async |i| {
                sqlx::query("INSERT INTO rows (conversation, text, at) VALUES (?, ?, ?)")
                    .bind(format!("conv_{}", i % 500))
                    .bind(PAYLOAD)
                    .bind(i as i64)
                    .execute(&mut conn)
                    .await
                    .map(drop)
            })
            .await?;
            conn.close().await.ok();
            Ok(Baseline {
                what: "SQLite, separate file in the same folder, WAL, synchronous=FULL: \
                       single-row INSERT commits, one connection"
                    .into(),
                rows,
                seconds,
                rows_per_sec: per_sec(rows, seconds),
            })
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query(
                "CREATE TABLE bench_baseline (id BIGSERIAL PRIMARY KEY, conversation TEXT NOT NULL, \
                 text TEXT NOT NULL, at BIGINT NOT NULL)",
            )
            .execute(&mut conn)
            .await?;
            let (rows, seconds) = insert_loop(duration, async |i| {
                sqlx::query(
                    "INSERT INTO bench_baseline (conversation, text, at) VALUES ($1, $2, $3)",
                )
                .bind(format!("conv_{}", i % 500))
                .bind(PAYLOAD)
                .bind(i as i64)
                .execute(&mut conn)
                .await
                .map(drop)
            })
            .await?;
            sqlx::query("DROP TABLE bench_baseline")
                .execute(&mut conn)
                .await?;
            conn.close().await.ok();
            Ok(Baseline {
                what: "PostgreSQL, scratch table in the bench database: single-row INSERT \
                       commits (autocommit), one connection"
                    .into(),
                rows,
                seconds,
                rows_per_sec: per_sec(rows, seconds),
            })
        }
    }
}

async fn insert_loop(
    duration: Duration,
    mut insert: impl AsyncFnMut(u64) -> Result<(), sqlx::Error>,
) -> anyhow::Result<(u64, f64)> {
    let start = Instant::now();
    let mut rows = 0;
    while start.elapsed() < duration {
        insert(rows).await?;
        rows += 1;
    }
    Ok((rows, start.elapsed().as_secs_f64()))
}

fn per_sec(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (rows as f64 / seconds * 10.0).round() / 10.0
    } else {
        0.0
    }
}
