//! Data lifecycle: the retention settings (`[retention]` in the config file) and the worker
//! that prunes what they no longer keep, in bounded batches (see
//! [`baton_store::Maintenance::prune`]). Every instance runs it; on PostgreSQL they skip each
//! other's locked rows, so running two at once is safe.

use crate::{AppState, now};
use baton_store::maintenance::Retention;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::watch;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How long finished data is kept, as configured; 0 keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days a delivered, skipped or dead outbox row is kept after it finished (dead letters
    /// can be redelivered until then). `BATON_RETENTION_DELIVERIES_DAYS`.
    pub deliveries_days: u32,
    /// Hours an `Idempotency-Key` is remembered (a retry after that runs as a new request).
    /// `BATON_RETENTION_IDEMPOTENCY_HOURS`.
    pub idempotency_hours: u32,
    /// Days an expired login session or widget customer token is kept after its expiry.
    /// `BATON_RETENTION_EXPIRED_SESSIONS_DAYS`.
    pub expired_sessions_days: u32,
    /// Days a closed conversation (messages, events, analytics facts, deliveries) is kept
    /// after its last change; 0 (the default) keeps them forever.
    /// `BATON_RETENTION_CLOSED_CONVERSATIONS_DAYS`.
    pub closed_conversations_days: u32,
    /// Seconds between pruning passes. `BATON_RETENTION_INTERVAL_SECS`.
    pub interval_secs: u32,
    /// Rows per transaction. `BATON_RETENTION_BATCH`.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            deliveries_days: 30,
            idempotency_hours: 48,
            expired_sessions_days: 7,
            closed_conversations_days: 0,
            interval_secs: 3600,
            batch: 500,
        }
    }
}

impl RetentionConfig {
    /// The store's policy.
    pub fn policy(&self) -> Retention {
        let keep = |n: u32, unit: i64| (n > 0).then(|| i64::from(n) * unit);
        Retention {
            deliveries_ms: keep(self.deliveries_days, DAY_MS),
            idempotency_ms: keep(self.idempotency_hours, HOUR_MS),
            expired_sessions_ms: keep(self.expired_sessions_days, DAY_MS),
            closed_conversations_ms: keep(self.closed_conversations_days, DAY_MS),
        }
    }

    /// Applies one `BATON_RETENTION_*` variable; false when `name` is not one.
    pub(crate) fn set_env(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let field = match name {
            "BATON_RETENTION_DELIVERIES_DAYS" => &mut self.deliveries_days,
            "BATON_RETENTION_IDEMPOTENCY_HOURS" => &mut self.idempotency_hours,
            "BATON_RETENTION_EXPIRED_SESSIONS_DAYS" => &mut self.expired_sessions_days,
            "BATON_RETENTION_CLOSED_CONVERSATIONS_DAYS" => &mut self.closed_conversations_days,
            "BATON_RETENTION_INTERVAL_SECS" => &mut self.interval_secs,
            "BATON_RETENTION_BATCH" => &mut self.batch,
            _ => return Ok(false),
        };
        *field = value
            .trim()
            .parse()
            .map_err(|_| format!("'{value}' is not a whole number (0: keep forever)"))?;
        Ok(true)
    }

    /// What is wrong with these settings, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.interval_secs == 0 {
            return Some("retention.interval_secs must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.batch) {
            return Some("retention.batch must be from 1 to 10000".into());
        }
        None
    }
}

/// When and how the pruning worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruning {
    /// What is kept.
    pub policy: Retention,
    /// Time between passes (the first runs right after start).
    pub interval: Duration,
    /// Rows per transaction.
    pub batch: u32,
}

impl Default for Pruning {
    fn default() -> Self {
        Pruning::from(&RetentionConfig::default())
    }
}

impl From<&RetentionConfig> for Pruning {
    fn from(c: &RetentionConfig) -> Self {
        Pruning {
            policy: c.policy(),
            interval: Duration::from_secs(u64::from(c.interval_secs.max(1))),
            batch: c.batch.max(1),
        }
    }
}

/// Prunes every `interval` until `stopped` turns true. A failed pass is logged and tried
/// again at the next one.
pub(crate) async fn run_worker(state: AppState, mut stopped: watch::Receiver<bool>) {
    let Some(pruning) = state.pruning else {
        return;
    };
    loop {
        match state
            .store()
            .prune(&pruning.policy, now(), pruning.batch)
            .await
        {
            Ok(pruned) if pruned.is_empty() => {}
            Ok(pruned) => tracing::info!(
                deliveries = pruned.deliveries,
                idempotency = pruned.idempotency,
                sessions = pruned.sessions,
                conversations = pruned.conversations,
                "retention: pruned"
            ),
            Err(e) => tracing::warn!(error = %e, "retention: pruning failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pruning.interval) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
