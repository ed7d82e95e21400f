//! The outbox queries (subscriptions and deliveries), for both databases.

use crate::outbox::*;
use crate::{StoreError, StoreResult};
use baton_core::{ConversationId, TenantId, Timestamp};

macro_rules! subscription_cols {
    () => {
        "id, tenant, kind, events, channel, config, enabled, created_at"
    };
}

macro_rules! delivery_cols {
    () => {
        "id, tenant, subscription, conversation, event_seq, state, attempts, next_attempt_at, \
         last_error, created_at, finished_at"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct SubscriptionRow {
    id: String,
    tenant: String,
    kind: String,
    events: String,
    channel: Option<String>,
    config: String,
    enabled: i64,
    created_at: i64,
}

impl SubscriptionRow {
    pub(super) fn into_model(self) -> StoreResult<Subscription> {
        Ok(Subscription {
            id: self.id,
            tenant: TenantId::parse(self.tenant)
                .map_err(|e| StoreError::Corrupt(format!("subscription tenant: {e}")))?,
            kind: SubscriptionKind::parse(&self.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown subscription kind '{}'", self.kind))
            })?,
            events: self
                .events
                .split(',')
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
            channel: self.channel,
            config: serde_json::from_str(&self.config)?,
            enabled: self.enabled != 0,
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    id: String,
    tenant: String,
    subscription: String,
    conversation: Option<String>,
    event_seq: i64,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

impl DeliveryRow {
    pub(super) fn into_model(self) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: self.id,
            tenant: TenantId::parse(self.tenant)
                .map_err(|e| StoreError::Corrupt(format!("delivery tenant: {e}")))?,
            subscription: self.subscription,
            conversation: self
                .conversation
                .map(ConversationId::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("delivery conversation: {e}")))?,
            event_seq: self.event_seq,
            state: DeliveryState::parse(&self.state).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown delivery state '{}'", self.state))
            })?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            next_attempt_at: Timestamp::from_millis(self.next_attempt_at),
            last_error: self.last_error,
            created_at: Timestamp::from_millis(self.created_at),
            finished_at: self.finished_at.map(Timestamp::from_millis),
        })
    }
}

macro_rules! outbox_backend {
    ($db:ty, skip_locked = $skip_locked:literal) => {
        #[async_trait]
        impl Outbox for SqlStore<$db> {
            async fn subscriptions(
                &self,
                tenant: &TenantId,
                kind: Option<SubscriptionKind>,
            ) -> StoreResult<Vec<Subscription>> {
                sqlx::query_as::<_, SubscriptionRow>(concat!(
                    "SELECT ",
                    subscription_cols!(),
                    " FROM subscriptions WHERE tenant = $1 AND ($2 IS NULL OR kind = $2) \
                     ORDER BY created_at, id"
                ))
                .bind(tenant.as_str())
                .bind(kind.map(SubscriptionKind::as_str))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(SubscriptionRow::into_model)
                .collect()
            }

            async fn subscription(
                &self,
                tenant: &TenantId,
                id: &str,
            ) -> StoreResult<Option<Subscription>> {
                sqlx::query_as::<_, SubscriptionRow>(concat!(
                    "SELECT ",
                    subscription_cols!(),
                    " FROM subscriptions WHERE tenant = $1 AND id = $2"
                ))
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(SubscriptionRow::into_model)
                .transpose()
            }

            async fn deliveries(
                &self,
                tenant: &TenantId,
                state: Option<DeliveryState>,
                page: &PageRequest,
            ) -> StoreResult<Page<Delivery>> {
                let limit = page_limit(page);
                let before = seq_cursor_desc(page)?;
                let rows = sqlx::query_as::<_, DeliveryRow>(concat!(
                    "SELECT ",
                    delivery_cols!(),
                    " FROM deliveries WHERE tenant = $1 AND ($2 IS NULL OR state = $2) \
                     AND event_seq < $3 ORDER BY event_seq DESC, id LIMIT $4"
                ))
                .bind(tenant.as_str())
                .bind(state.map(DeliveryState::as_str))
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(DeliveryRow::into_model)
                .collect::<StoreResult<Vec<_>>>()?;
                // A cursor of event seqs may split one event's deliveries: page by whole events.
                let mut page = into_page(rows, limit, |d| d.event_seq.to_string());
                if let (Some(_), Some(last)) = (&page.next_cursor, page.items.last()) {
                    let seq = last.event_seq;
                    if page.items.iter().any(|d| d.event_seq != seq) {
                        page.items.retain(|d| d.event_seq != seq);
                        page.next_cursor = Some((seq + 1).to_string());
                    }
                }
                Ok(page)
            }

            async fn delivery(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<Delivery>> {
                sqlx::query_as::<_, DeliveryRow>(concat!(
                    "SELECT ",
                    delivery_cols!(),
                    " FROM deliveries WHERE tenant = $1 AND id = $2"
                ))
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(DeliveryRow::into_model)
                .transpose()
            }

            async fn claim_deliveries(
                &self,
                now: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<Delivery>> {
                let mut tx = self.begin_turn().await?;
                let rows = sqlx::query_as::<_, DeliveryRow>(concat!(
                    "SELECT ",
                    delivery_cols!(),
                    " FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE \
                     e.subscription = d.subscription AND e.conversation = d.conversation \
                     AND e.state = 'pending' AND e.event_seq < d.event_seq) \
                     ORDER BY d.event_seq LIMIT $2",
                    $skip_locked
                ))
                .bind(now.millis())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut d = row.into_model()?;
                    d.next_attempt_at = now.plus_millis(DELIVERY_LEASE_MS);
                    sqlx::query("UPDATE deliveries SET next_attempt_at = $2 WHERE id = $1")
                        .bind(&d.id)
                        .bind(d.next_attempt_at.millis())
                        .execute(&mut *tx)
                        .await?;
                    out.push(d);
                }
                self.finish(tx).await?;
                Ok(out)
            }

            async fn finish_delivery(
                &self,
                id: &str,
                outcome: &DeliveryOutcome,
                now: Timestamp,
            ) -> StoreResult<()> {
                let (state, attempt, next, error) = match outcome {
                    DeliveryOutcome::Delivered => ("delivered", 1, now, None),
                    DeliveryOutcome::Skipped(why) => ("skipped", 0, now, Some(why.as_str())),
                    DeliveryOutcome::Retry { at, error } => ("pending", 1, *at, Some(error.as_str())),
                    DeliveryOutcome::Dead(error) => ("dead", 1, now, Some(error.as_str())),
                };
                let finished = (state != "pending").then_some(now.millis());
                let mut w = self.begin_turn().await?;
                sqlx::query(
                    "UPDATE deliveries SET state = $2, attempts = attempts + $3, \
                     next_attempt_at = $4, last_error = $5, finished_at = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(state)
                .bind(attempt)
                .bind(next.millis())
                .bind(error)
                .bind(finished)
                .execute(&mut *w)
                .await?;
                self.finish(w).await?;
                Ok(())
            }

            async fn redeliver(&self, tenant: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool> {
                let mut w = self.begin_turn().await?;
                let n = sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = $3, \
                     finished_at = NULL WHERE tenant = $1 AND id = $2 AND state <> 'pending'",
                )
                .bind(tenant.as_str())
                .bind(id)
                .bind(now.millis())
                .execute(&mut *w)
                .await?
                .rows_affected();
                self.finish(w).await?;
                Ok(n > 0)
            }

            async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
                let due = sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(due.map(Timestamp::from_millis))
            }

            async fn delivery_stats(&self) -> StoreResult<Vec<DeliveryStats>> {
                let rows = sqlx::query_as::<_, (String, i64, Option<i64>, Option<i64>)>(
                    "SELECT state, COUNT(*), CAST(SUM(attempts) AS BIGINT), MIN(created_at) \
                     FROM deliveries GROUP BY state ORDER BY state",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(state, count, attempts, oldest)| {
                        Ok(DeliveryStats {
                            state: DeliveryState::parse(&state).ok_or_else(|| {
                                StoreError::Corrupt(format!("unknown delivery state '{state}'"))
                            })?,
                            count,
                            attempts: attempts.unwrap_or(0),
                            oldest: oldest.map(Timestamp::from_millis),
                        })
                    })
                    .collect()
            }
        }
    };
}
