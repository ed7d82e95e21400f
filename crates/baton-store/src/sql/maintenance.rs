//! Database upkeep for both databases: backups, migration state, clocks and retention pruning.
//! Pruning runs in bounded transactions; on PostgreSQL each batch skips rows another instance
//! has locked, so two instances pruning at once share the work instead of waiting on it.

use super::log::HashedRow;
use super::{Dialect, SqlStore, SqlTx};
use crate::maintenance::*;
use crate::{NewEvent, Tx};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use baton_core::{Actor, Conversation, ConversationId, CustomerId, EventKind, TenantId, Timestamp};
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{Postgres, Sqlite};
use std::collections::HashMap;

/// Compares what a database recorded (`version`, `checksum`, `success`) with a build's
/// migrations.
pub(super) fn migration_status(
    migrator: &Migrator,
    recorded: &[(i64, Vec<u8>, bool)],
) -> MigrationStatus {
    let known: HashMap<i64, &[u8]> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    let mut status = MigrationStatus::default();
    for (version, checksum, success) in recorded {
        match known.get(version) {
            None => status.unknown.push(*version),
            Some(_) if !success => status.failed.push(*version),
            Some(k) if *k != checksum.as_slice() => status.changed.push(*version),
            Some(_) => status.applied.push(*version),
        }
    }
    let mut pending: Vec<i64> = known
        .keys()
        .filter(|v| !recorded.iter().any(|(r, _, _)| r == *v))
        .copied()
        .collect();
    pending.sort_unstable();
    status.pending = pending;
    status
}

/// An event's data with the customer's personal content erased; `None` when nothing in it is
/// personal (or it is already erased, or not an event the core knows).
fn erased_data(data: &str) -> StoreResult<Option<String>> {
    let Ok(kind) = serde_json::from_str::<EventKind>(data) else {
        return Ok(None);
    };
    let before: Value = serde_json::from_str(data)?;
    let after = serde_json::to_value(kind.erased())?;
    Ok((after != before).then(|| after.to_string()))
}

macro_rules! maintenance_backend {
    ($db:ty, skip_locked = $skip_locked:literal, for_update = $for_update:literal,
     migrations_table = $exists:literal) => {
        impl SqlStore<$db> {
            /// Runs `DELETE ... WHERE key IN (SELECT key ... LIMIT batch)` until a batch comes
            /// back short; each batch is one transaction. `$1` is the cutoff, `$2` the batch.
            async fn prune_batches(&self, sql: &'static str, cutoff: i64, batch: u32) -> StoreResult<u64> {
                let mut total = 0;
                loop {
                    let mut w = self.begin_turn().await?;
                    let n = sqlx::query(sql)
                        .bind(cutoff)
                        .bind(i64::from(batch))
                        .execute(&mut *w)
                        .await?
                        .rows_affected();
                    self.finish(w).await?;
                    total += n;
                    if n < u64::from(batch) {
                        return Ok(total);
                    }
                }
            }

            /// Deletes closed conversations last changed before `cutoff`, with everything that
            /// hangs off them, `batch` conversations per transaction.
            async fn prune_conversations(&self, cutoff: i64, batch: u32) -> StoreResult<u64> {
                let mut total = 0;
                loop {
                    let mut w = self.begin_turn().await?;
                    let ids = sqlx::query_scalar::<_, String>(concat!(
                        "SELECT id FROM conversations WHERE state = 'closed' AND updated_at < $1 \
                         ORDER BY updated_at LIMIT $2",
                        $skip_locked
                    ))
                    .bind(cutoff)
                    .bind(i64::from(batch))
                    .fetch_all(&mut *w)
                    .await?;
                    for id in &ids {
                        for sql in [
                            "DELETE FROM deliveries WHERE conversation = $1",
                            "DELETE FROM attachments WHERE conversation = $1",
                            "DELETE FROM messages WHERE conversation = $1",
                            "DELETE FROM events WHERE conversation = $1",
                            "DELETE FROM conversation_facts WHERE conversation = $1",
                            "DELETE FROM customer_tokens WHERE conversation = $1",
                            "DELETE FROM conversations WHERE id = $1",
                        ] {
                            sqlx::query(sql).bind(id).execute(&mut *w).await?;
                        }
                    }
                    self.finish(w).await?;
                    total += ids.len() as u64;
                    if ids.len() < batch as usize {
                        return Ok(total);
                    }
                }
            }
        }

        #[async_trait]
        impl Maintenance for SqlStore<$db> {
            async fn backup_to(&self, dest: &std::path::Path) -> StoreResult<()> {
                self.backup_file(dest).await
            }

            async fn migration_status(&self) -> StoreResult<MigrationStatus> {
                let exists = sqlx::query_scalar::<_, i64>($exists)
                    .fetch_one(&self.pool)
                    .await?;
                let recorded = if exists > 0 {
                    sqlx::query_as::<_, (i64, Vec<u8>, bool)>(
                        "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
                    )
                    .fetch_all(&self.pool)
                    .await?
                } else {
                    Vec::new()
                };
                Ok(super::maintenance::migration_status(
                    <$db as Dialect>::migrator(),
                    &recorded,
                ))
            }

            async fn database_now(&self) -> StoreResult<Option<Timestamp>> {
                self.clock().await
            }

            async fn newest_event_at(&self) -> StoreResult<Option<Timestamp>> {
                let at = sqlx::query_scalar::<_, i64>(
                    "SELECT at FROM events ORDER BY seq DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                Ok(at.map(Timestamp::from_millis))
            }

            async fn prune(
                &self,
                retention: &Retention,
                now: Timestamp,
                batch: u32,
            ) -> StoreResult<Pruned> {
                let batch = batch.max(1);
                let cutoff = |keep: i64| now.millis().saturating_sub(keep);
                let mut pruned = Pruned::default();
                if let Some(keep) = retention.deliveries_ms {
                    pruned.deliveries = self
                        .prune_batches(
                            concat!(
                                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
                                 WHERE state IN ('delivered', 'skipped', 'dead') \
                                 AND finished_at < $1 LIMIT $2",
                                $skip_locked,
                                ")"
                            ),
                            cutoff(keep),
                            batch,
                        )
                        .await?;
                }
                if let Some(keep) = retention.idempotency_ms {
                    pruned.idempotency = self
                        .prune_batches(
                            concat!(
                                "DELETE FROM idempotency WHERE (scope, idem_key) IN \
                                 (SELECT scope, idem_key FROM idempotency WHERE created_at < $1 \
                                 LIMIT $2",
                                $skip_locked,
                                ")"
                            ),
                            cutoff(keep),
                            batch,
                        )
                        .await?;
                }
                if let Some(keep) = retention.expired_sessions_ms {
                    let at = cutoff(keep);
                    pruned.sessions = self
                        .prune_batches(
                            concat!(
                                "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash \
                                 FROM sessions WHERE expires_at < $1 LIMIT $2",
                                $skip_locked,
                                ")"
                            ),
                            at,
                            batch,
                        )
                        .await?
                        + self
                            .prune_batches(
                                concat!(
                                    "DELETE FROM customer_tokens WHERE token_hash IN (SELECT \
                                     token_hash FROM customer_tokens WHERE expires_at < $1 \
                                     LIMIT $2",
                                    $skip_locked,
                                    ")"
                                ),
                                at,
                                batch,
                            )
                            .await?
                        + self
                            .prune_batches(
                                concat!(
                                    "DELETE FROM login_failures WHERE key IN (SELECT key FROM \
                                     login_failures WHERE locked_until < $1 AND window_start < $1 \
                                     LIMIT $2",
                                    $skip_locked,
                                    ")"
                                ),
                                at,
                                batch,
                            )
                            .await?;
                }
                if let Some(keep) = retention.closed_conversations_ms {
                    pruned.conversations = self.prune_conversations(cutoff(keep), batch).await?;
                }
                Ok(pruned)
            }

            async fn erase_customer(
                &self,
                tenant: &TenantId,
                customer: &CustomerId,
                actor: &Actor,
                now: Timestamp,
            ) -> StoreResult<Erasure> {
                let w = self.begin_turn().await?;
                let mut tx = SqlTx::<$db>::new(w, self.shared.clone());
                let found = sqlx::query_scalar::<_, String>(concat!(
                    "SELECT id FROM customers WHERE tenant = $1 AND id = $2",
                    $for_update
                ))
                .bind(tenant.as_str())
                .bind(customer.as_str())
                .fetch_optional(<$db as Dialect>::conn(&mut tx.tx).await?)
                .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("customer"));
                }
                let conversations = sqlx::query_as::<_, (String, String, String)>(concat!(
                    "SELECT id, state, data FROM conversations WHERE tenant = $1 \
                     AND customer_id = $2 ORDER BY id",
                    $for_update
                ))
                .bind(tenant.as_str())
                .bind(customer.as_str())
                .fetch_all(<$db as Dialect>::conn(&mut tx.tx).await?)
                .await?;
                let open: Vec<&str> = conversations
                    .iter()
                    .filter(|(_, state, _)| state != "closed")
                    .map(|(id, _, _)| id.as_str())
                    .collect();
                if !open.is_empty() {
                    return Err(StoreError::Conflict {
                        code: "customer_has_open_conversations",
                        message: format!(
                            "close the customer's open conversations first: {}",
                            open.join(", ")
                        ),
                    });
                }
                let mut erased_events = Vec::new();
                let mut messages = 0;
                let mut attachments = 0;
                for (id, _, data) in &conversations {
                    // A brief job still pending would write the text back after the erasure.
                    crate::Tx::take_timer(&mut tx, tenant, &format!("{}{id}", crate::BRIEF_JOB))
                        .await?;
                    let rows = sqlx::query_as::<_, HashedRow>(concat!(
                        "SELECT ",
                        hashed_cols!(),
                        " FROM events WHERE tenant = $1 AND conversation = $2 ORDER BY seq"
                    ))
                    .bind(tenant.as_str())
                    .bind(id)
                    .fetch_all(<$db as Dialect>::conn(&mut tx.tx).await?)
                    .await?;
                    let mut prev: Option<String> = None;
                    for row in &rows {
                        let erased = erased_data(&row.data)?;
                        let follows = row.hash.as_deref() == Some(row.expected_hash(prev.as_deref()).as_str());
                        // An event erased before no longer recomputes; its earlier erasure
                        // record vouches for it (and `verify_log` checks that record).
                        if !follows && erased.is_some() {
                            return Err(StoreError::Corrupt(format!(
                                "the event log of conversation {id} does not verify at event seq \
                                 {}; nothing was erased (run baton audit verify)",
                                row.seq
                            )));
                        }
                        let before = std::mem::replace(&mut prev, row.hash.clone());
                        if let Some(new_data) = erased {
                            sqlx::query("UPDATE events SET data = $1 WHERE seq = $2")
                                .bind(&new_data)
                                .bind(row.seq)
                                .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                                .await?;
                            erased_events.push(json!({
                                "seq": row.seq,
                                "prev": before,
                                "hash": row.hash,
                                "data_sha256": crate::reports::data_digest(&new_data),
                            }));
                        }
                    }
                    // The files go with the text: their bytes and names are the customer's.
                    attachments += sqlx::query(
                        "DELETE FROM attachments WHERE tenant = $1 AND conversation = $2",
                    )
                    .bind(tenant.as_str())
                    .bind(id)
                    .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                    .await?
                    .rows_affected();
                    messages += sqlx::query(
                        "UPDATE messages SET text = $3, attachment = NULL \
                         WHERE tenant = $1 AND conversation = $2",
                    )
                    .bind(tenant.as_str())
                    .bind(id)
                    .bind(baton_core::conversation::ERASED)
                    .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                    .await?
                    .rows_affected();
                    let mut conv: Conversation = serde_json::from_str(data)?;
                    conv.erase_personal_data();
                    sqlx::query("UPDATE conversations SET data = $3 WHERE tenant = $1 AND id = $2")
                        .bind(tenant.as_str())
                        .bind(id)
                        .bind(serde_json::to_string(&conv)?)
                        .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                        .await?;
                    for sql in [
                        "DELETE FROM customer_tokens WHERE tenant = $1 AND conversation = $2",
                        // Stored answers of idempotent requests about the conversation.
                        "DELETE FROM idempotency WHERE body LIKE '%' || $2 || '%' AND $1 <> ''",
                    ] {
                        sqlx::query(sql)
                            .bind(tenant.as_str())
                            .bind(id)
                            .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                            .await?;
                    }
                }
                sqlx::query(
                    "UPDATE customers SET external_id = NULL, name = NULL, email = NULL, \
                     phone = NULL, language = NULL, attributes = '{}' \
                     WHERE tenant = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(customer.as_str())
                .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                .await?;
                sqlx::query("DELETE FROM idempotency WHERE body LIKE '%' || $1 || '%'")
                    .bind(customer.as_str())
                    .execute(<$db as Dialect>::conn(&mut tx.tx).await?)
                    .await?;
                let ids: Vec<ConversationId> = conversations
                    .iter()
                    .map(|(id, _, _)| ConversationId::parse(id.as_str()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| StoreError::Corrupt(format!("conversation id: {e}")))?;
                let count = erased_events.len() as u64;
                let stored = tx
                    .append_event(&NewEvent::tenant(
                        tenant,
                        CUSTOMER_ERASED,
                        actor,
                        json!({
                            "customer": customer,
                            "conversations": ids,
                            "messages": messages,
                            "attachments": attachments,
                            "events": erased_events,
                        }),
                        now,
                    ))
                    .await?;
                Box::new(tx).commit().await?;
                Ok(Erasure {
                    customer: customer.clone(),
                    conversations: ids,
                    messages,
                    events: count,
                    event_seq: stored.seq,
                    at: now,
                })
            }
        }
    };
}

impl SqlStore<Sqlite> {
    /// `VACUUM INTO` reads the database in one transaction (a consistent snapshot beside the
    /// writer, WAL included) and writes a compact standalone copy.
    async fn backup_file(&self, dest: &std::path::Path) -> StoreResult<()> {
        let dest = dest.to_str().ok_or_else(|| {
            StoreError::InvalidInput(format!("{} is not a UTF-8 path", dest.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn clock(&self) -> StoreResult<Option<Timestamp>> {
        Ok(None)
    }
}

impl SqlStore<Postgres> {
    async fn backup_file(&self, _: &std::path::Path) -> StoreResult<()> {
        Err(StoreError::Config(
            "baton backup copies SQLite databases; back PostgreSQL up with pg_dump \
             (pg_dump --format=custom --file=baton.dump DATABASE_URL) and restore with \
             pg_restore (see docs/operations.md)"
                .into(),
        ))
    }

    async fn clock(&self) -> StoreResult<Option<Timestamp>> {
        let ms = sqlx::query_scalar::<_, i64>(
            "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(Timestamp::from_millis(ms)))
    }
}

maintenance_backend!(
    Sqlite,
    skip_locked = "",
    for_update = "",
    migrations_table =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
);
maintenance_backend!(
    Postgres,
    skip_locked = " FOR UPDATE SKIP LOCKED",
    for_update = " FOR UPDATE",
    migrations_table = "SELECT COUNT(*) FROM information_schema.tables \
                        WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
);
