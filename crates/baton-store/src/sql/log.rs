//! What appending an event does besides the insert, for both databases: chain the event's hash
//! to its predecessor, fold conversation events into the analytics facts, and enqueue the
//! outbox deliveries of matching subscriptions. Plus the one-off backfills `migrate` runs for
//! databases created before the hash chain and the facts existed.

use baton_core::analytics::Facts;
use baton_core::{Actor, EventKind, Timestamp};

/// A conversation's facts as loaded (or started) in a transaction.
pub(super) struct TxFacts {
    pub(super) tenant: String,
    pub(super) customer: Option<String>,
    pub(super) tier: Option<String>,
    pub(super) facts: Facts,
    pub(super) dirty: bool,
}

/// A stored event row with its hash, for replays and verification.
#[derive(sqlx::FromRow)]
pub(super) struct HashedRow {
    pub(super) seq: i64,
    pub(super) tenant: String,
    pub(super) conversation: Option<String>,
    pub(super) kind: String,
    pub(super) actor: String,
    pub(super) data: String,
    pub(super) at: i64,
    pub(super) hash: Option<String>,
}

impl HashedRow {
    pub(super) fn expected_hash(&self, prev: Option<&str>) -> String {
        crate::reports::event_hash(
            prev,
            &self.tenant,
            self.conversation.as_deref(),
            &self.kind,
            &self.actor,
            &self.data,
            self.at,
        )
    }

    /// The conversation event in it, if it is one the core knows.
    pub(super) fn conversation_event(&self) -> Option<(EventKind, Actor, Timestamp)> {
        let kind = serde_json::from_str::<EventKind>(&self.data).ok()?;
        let actor = serde_json::from_str::<Actor>(&self.actor).ok()?;
        Some((kind, actor, Timestamp::from_millis(self.at)))
    }
}

/// Replays facts from stored rows (oldest first).
pub(super) fn replay(rows: &[HashedRow]) -> Facts {
    let events: Vec<_> = rows
        .iter()
        .filter_map(HashedRow::conversation_event)
        .collect();
    Facts::replay(events.iter().map(|(kind, actor, at)| (kind, actor, *at)))
}

macro_rules! hashed_cols {
    () => {
        "seq, tenant, conversation, kind, actor, data, at, hash"
    };
}

macro_rules! log_backend {
    ($db:ty, for_update = $for_update:literal) => {
        impl SqlTx<$db> {
            /// The hash of the last event of a chain (`None` for a new chain). Takes the lock
            /// that serializes appends to it: the conversation row, or the tenant lock.
            async fn chain_head(
                &mut self,
                tenant: &TenantId,
                conversation: Option<&ConversationId>,
            ) -> StoreResult<Option<String>> {
                let key = (tenant.to_string(), conversation.map(ToString::to_string));
                if let Some(hash) = self.heads.get(&key) {
                    return Ok(hash.clone());
                }
                let head = match conversation {
                    Some(c) => {
                        sqlx::query(concat!("SELECT id FROM conversations WHERE id = $1", $for_update))
                            .bind(c.as_str())
                            .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                            .await?;
                        sqlx::query_scalar::<_, Option<String>>(
                            "SELECT hash FROM events WHERE tenant = $1 AND conversation = $2 \
                             ORDER BY seq DESC LIMIT 1",
                        )
                        .bind(tenant.as_str())
                        .bind(c.as_str())
                        .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                        .await?
                    }
                    None => {
                        <$db as Dialect>::lock_tenant(&mut self.tx, tenant).await?;
                        sqlx::query_scalar::<_, Option<String>>(
                            "SELECT hash FROM events WHERE tenant = $1 AND conversation IS NULL \
                             ORDER BY seq DESC LIMIT 1",
                        )
                        .bind(tenant.as_str())
                        .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                        .await?
                    }
                };
                Ok(head.flatten())
            }

            /// Makes sure a conversation's facts are loaded (replayed from its events when the
            /// conversation predates the facts table).
            async fn load_facts(
                &mut self,
                tenant: &TenantId,
                conversation: &ConversationId,
            ) -> StoreResult<()> {
                if self.facts.contains_key(conversation.as_str()) {
                    return Ok(());
                }
                let stored = sqlx::query_scalar::<_, String>(
                    "SELECT data FROM conversation_facts WHERE conversation = $1",
                )
                .bind(conversation.as_str())
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                let (customer, tier) = sqlx::query_as::<_, (String, Option<String>)>(
                    "SELECT c.customer_id, cu.tier FROM conversations c \
                     JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1",
                )
                .bind(conversation.as_str())
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .map_or((None, None), |(c, t)| (Some(c), t));
                let (facts, dirty) = match stored {
                    Some(data) => (serde_json::from_str::<Facts>(&data)?, false),
                    None => {
                        let rows = sqlx::query_as::<_, HashedRow>(concat!(
                            "SELECT ",
                            hashed_cols!(),
                            " FROM events WHERE tenant = $1 AND conversation = $2 ORDER BY seq"
                        ))
                        .bind(tenant.as_str())
                        .bind(conversation.as_str())
                        .fetch_all(<$db as Dialect>::conn(&mut self.tx).await?)
                        .await?;
                        (replay(&rows), true)
                    }
                };
                self.facts.insert(
                    conversation.to_string(),
                    TxFacts {
                        tenant: tenant.to_string(),
                        customer,
                        tier,
                        facts,
                        dirty,
                    },
                );
                Ok(())
            }

            /// One delivery row per enabled subscription of the tenant that wants this kind of
            /// event on this conversation's channel. The tenant's subscriptions are read once
            /// per transaction (most tenants have none: then no statement per event).
            async fn enqueue_deliveries(
                &mut self,
                seq: i64,
                event: &NewEvent,
                channel: &str,
            ) -> StoreResult<()> {
                if !self.subscriptions.contains_key(event.tenant.as_str()) {
                    let subs = sqlx::query_as::<_, (String, String, Option<String>)>(
                        "SELECT id, events, channel FROM subscriptions \
                         WHERE tenant = $1 AND enabled = 1 ORDER BY id",
                    )
                    .bind(event.tenant.as_str())
                    .fetch_all(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                    self.subscriptions.insert(event.tenant.to_string(), subs);
                }
                let wanted = format!(",{},", event.kind());
                let targets: Vec<String> = self.subscriptions[event.tenant.as_str()]
                    .iter()
                    .filter(|(_, events, on)| {
                        events.contains(&wanted) && on.as_deref().is_none_or(|c| c == channel)
                    })
                    .map(|(id, _, _)| id.clone())
                    .collect();
                for subscription in targets {
                    let stmt = Stmt::new(
                        "INSERT INTO deliveries (id, tenant, subscription, conversation, \
                         event_seq, state, attempts, next_attempt_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
                    )
                    .bind(format!("dlv_{seq}_{subscription}"))
                    .bind(event.tenant.as_str())
                    .bind(subscription)
                    .bind(event.conversation.as_ref().map(ConversationId::as_str))
                    .bind(seq)
                    .bind(event.at.millis());
                    <$db as Dialect>::defer(&mut self.tx, stmt).await?;
                }
                Ok(())
            }

            /// Writes the facts changed in this transaction.
            async fn flush_facts(&mut self) -> StoreResult<()> {
                let mut stmts = Vec::new();
                for (conversation, f) in self.facts.iter_mut().filter(|(_, f)| f.dirty) {
                    stmts.push(
                        Stmt::new(
                            "INSERT INTO conversation_facts (conversation, tenant, started_at, \
                             channel, data, customer, tier) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                             ON CONFLICT (conversation) DO UPDATE SET started_at = excluded.started_at, \
                             channel = excluded.channel, data = excluded.data, \
                             customer = excluded.customer, tier = excluded.tier",
                        )
                        .bind(conversation)
                        .bind(&f.tenant)
                        .bind(f.facts.started_at.millis())
                        .bind(&f.facts.channel)
                        .bind(serde_json::to_string(&f.facts)?)
                        .bind(f.customer.clone())
                        .bind(f.tier.clone()),
                    );
                    f.dirty = false;
                }
                for stmt in stmts {
                    <$db as Dialect>::defer(&mut self.tx, stmt).await?;
                }
                Ok(())
            }
        }

        impl SqlStore<$db> {
            /// Hashes events stored before the hash chain existed, in log order.
            async fn backfill_hashes(&self) -> StoreResult<u64> {
                let mut tx = self.begin_turn().await?;
                let rows = sqlx::query_as::<_, HashedRow>(concat!(
                    "SELECT ",
                    hashed_cols!(),
                    " FROM events WHERE hash IS NULL ORDER BY seq"
                ))
                .fetch_all(&mut *tx)
                .await?;
                let mut heads: std::collections::HashMap<(String, Option<String>), String> =
                    Default::default();
                for row in &rows {
                    let key = (row.tenant.clone(), row.conversation.clone());
                    let prev = match heads.get(&key) {
                        Some(h) => Some(h.clone()),
                        None => sqlx::query_scalar::<_, Option<String>>(
                            "SELECT hash FROM events WHERE tenant = $1 AND \
                             ((conversation IS NULL AND $2 IS NULL) OR conversation = $2) \
                             AND seq < $3 ORDER BY seq DESC LIMIT 1",
                        )
                        .bind(&row.tenant)
                        .bind(row.conversation.as_deref())
                        .bind(row.seq)
                        .fetch_optional(&mut *tx)
                        .await?
                        .flatten(),
                    };
                    let hash = row.expected_hash(prev.as_deref());
                    sqlx::query("UPDATE events SET hash = $1 WHERE seq = $2")
                        .bind(&hash)
                        .bind(row.seq)
                        .execute(&mut *tx)
                        .await?;
                    heads.insert(key, hash);
                }
                self.finish(tx).await?;
                Ok(rows.len() as u64)
            }

            /// Rebuilds facts for the given conversations (all of a tenant's, all, or only those
            /// without facts) from their events, 200 per transaction.
            async fn replay_facts(&self, only_missing: bool, tenant: Option<&TenantId>) -> StoreResult<u64> {
                let ids = sqlx::query_as::<_, (String, String, String, Option<String>)>(
                    "SELECT c.tenant, c.id, c.customer_id, (SELECT cu.tier FROM customers cu \
                     WHERE cu.id = c.customer_id) FROM conversations c WHERE ($1 IS NULL OR c.tenant = $1) \
                     AND ($2 = 0 OR NOT EXISTS (SELECT 1 FROM conversation_facts f \
                     WHERE f.conversation = c.id)) ORDER BY c.id",
                )
                .bind(tenant.map(TenantId::as_str))
                .bind(i64::from(only_missing))
                .fetch_all(&self.pool)
                .await?;
                for chunk in ids.chunks(200) {
                    let tx = self.begin_turn().await?;
                    let mut tx = SqlTx::<$db>::new(tx, self.shared.clone());
                    for (tenant, id, customer, tier) in chunk {
                        let rows = sqlx::query_as::<_, HashedRow>(concat!(
                            "SELECT ",
                            hashed_cols!(),
                            " FROM events WHERE tenant = $1 AND conversation = $2 ORDER BY seq"
                        ))
                        .bind(tenant)
                        .bind(id)
                        .fetch_all(<$db as Dialect>::conn(&mut tx.tx).await?)
                        .await?;
                        tx.facts.insert(
                            id.clone(),
                            TxFacts {
                                tenant: tenant.clone(),
                                customer: Some(customer.clone()),
                                tier: tier.clone(),
                                facts: replay(&rows),
                                dirty: true,
                            },
                        );
                    }
                    tx.flush_facts().await?;
                    self.finish(tx.tx).await?;
                }
                Ok(ids.len() as u64)
            }
        }
    };
}
