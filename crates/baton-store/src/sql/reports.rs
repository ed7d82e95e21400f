//! The reporting queries (analytics facts, audit view, chain verification, gauges), for both
//! databases.

macro_rules! reports_backend {
    ($db:ty) => {
        #[async_trait]
        impl Reports for SqlStore<$db> {
            async fn facts_rows(
                &self,
                tenant: &TenantId,
                from: Timestamp,
                to: Timestamp,
            ) -> StoreResult<Vec<FactsRow>> {
                // One table, read in the order of conversation_facts_range (tenant, started_at,
                // conversation): one row per conversation, however many events it had.
                let rows = sqlx::query_as::<_, (String, Option<String>, String)>(
                    "SELECT conversation, tier, data FROM conversation_facts \
                     WHERE tenant = $1 AND started_at >= $2 AND started_at < $3 \
                     ORDER BY started_at, conversation",
                )
                .bind(tenant.as_str())
                .bind(from.millis())
                .bind(to.millis())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(conversation, tier, data)| {
                        Ok(FactsRow {
                            conversation: ConversationId::parse(conversation).map_err(|e| {
                                StoreError::Corrupt(format!("facts conversation: {e}"))
                            })?,
                            tier,
                            facts: serde_json::from_str::<Facts>(&data)?,
                        })
                    })
                    .collect()
            }

            async fn facts(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
            ) -> StoreResult<Option<Facts>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT data FROM conversation_facts WHERE tenant = $1 AND conversation = $2",
                )
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|data| serde_json::from_str::<Facts>(&data).map_err(StoreError::from))
                .transpose()
            }

            async fn audit_events(
                &self,
                tenant: &TenantId,
                filter: &AuditFilter,
                page: &PageRequest,
            ) -> StoreResult<Page<StoredEvent>> {
                let limit = page_limit(page);
                let before = seq_cursor_desc(page)?;
                let prefix = filter.kind.as_ref().map(|k| format!("{k}_%"));
                // The actor column holds the serialized actor: compare with the same serialization.
                let actor = filter
                    .agent
                    .as_ref()
                    .map(|id| serde_json::to_string(&baton_core::Actor::Agent { id: id.clone() }))
                    .transpose()?;
                let rows = sqlx::query_as::<_, EventRow>(concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE tenant = $1 AND conversation IS NULL AND seq < $2 \
                     AND ($3 IS NULL OR kind = $3 OR kind LIKE $4) \
                     AND ($5 IS NULL OR actor = $5) \
                     AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
                     ORDER BY seq DESC LIMIT $8"
                ))
                .bind(tenant.as_str())
                .bind(before)
                .bind(filter.kind.as_deref())
                .bind(prefix)
                .bind(actor)
                .bind(filter.since.map(Timestamp::millis))
                .bind(filter.until.map(Timestamp::millis))
                .bind(i64::from(limit) + 1)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(EventRow::into_model)
                .collect::<StoreResult<Vec<_>>>()?;
                Ok(into_page(rows, limit, |e| e.seq.to_string()))
            }

            async fn verify_log(&self) -> StoreResult<ChainReport> {
                use futures::TryStreamExt;
                let mut heads: HashMap<(String, Option<String>), String> = HashMap::new();
                let mut report = ChainReport {
                    events: 0,
                    chains: 0,
                    broken: None,
                };
                // Events changed by an erasure: (their hash, the digest of their erased data),
                // by seq, from the erasure records. Those records are checked in their own
                // chain below like every event.
                type Record = (Option<String>, Option<String>, Option<String>);
                let mut erased: HashMap<i64, Record> = HashMap::new();
                let records = sqlx::query_scalar::<_, String>(
                    "SELECT data FROM events WHERE kind = $1 ORDER BY seq",
                )
                .bind(crate::maintenance::CUSTOMER_ERASED)
                .fetch_all(&self.pool)
                .await?;
                for record in records {
                    let record: serde_json::Value = serde_json::from_str(&record)?;
                    for e in record["events"].as_array().into_iter().flatten() {
                        if let Some(seq) = e["seq"].as_i64() {
                            erased.insert(
                                seq,
                                (
                                    e["prev"].as_str().map(String::from),
                                    e["hash"].as_str().map(String::from),
                                    e["data_sha256"].as_str().map(String::from),
                                ),
                            );
                        }
                    }
                }
                let mut rows = sqlx::query_as::<_, HashedRow>(concat!(
                    "SELECT ",
                    hashed_cols!(),
                    " FROM events ORDER BY seq"
                ))
                .fetch(&self.pool);
                while let Some(row) = rows.try_next().await? {
                    report.events += 1;
                    let key = (row.tenant.clone(), row.conversation.clone());
                    let prev = heads.get(&key).cloned();
                    if prev.is_none() {
                        report.chains += 1;
                    }
                    if let Some((was_after, hash, digest)) = erased.get(&row.seq) {
                        // Erased: its content no longer recomputes its hash; the erasure
                        // record names the hash it had, the one before it in its chain, and
                        // the digest of what replaced its content.
                        let problem = if row.hash.is_none() || *hash != row.hash {
                            Some("its hash differs from the one its erasure recorded")
                        } else if *was_after != prev {
                            Some("the event before it in its chain is not the one its erasure recorded")
                        } else if digest.as_deref()
                            != Some(crate::reports::data_digest(&row.data).as_str())
                        {
                            Some("its content was changed after it was erased")
                        } else {
                            None
                        };
                        if let Some(problem) = problem {
                            report.broken = Some(BrokenLink {
                                seq: row.seq,
                                tenant: row.tenant,
                                conversation: row.conversation,
                                kind: row.kind,
                                problem: problem.to_string(),
                            });
                            break;
                        }
                        heads.insert(key, row.hash.clone().unwrap_or_default());
                        continue;
                    }
                    let expected = row.expected_hash(prev.as_deref());
                    let problem = match &row.hash {
                        None => Some("the event has no hash".to_string()),
                        Some(h) if *h != expected => Some(if prev.is_none() {
                            "its hash does not match its content: it was changed, or events \
                             before it in its chain were removed"
                                .to_string()
                        } else {
                            "its hash does not match its content and the previous event of its \
                             chain: it (or the event before it) was changed, or an event between \
                             them was removed"
                                .to_string()
                        }),
                        Some(_) => None,
                    };
                    if let Some(problem) = problem {
                        report.broken = Some(BrokenLink {
                            seq: row.seq,
                            tenant: row.tenant,
                            conversation: row.conversation,
                            kind: row.kind,
                            problem,
                        });
                        break;
                    }
                    heads.insert(key, expected);
                }
                Ok(report)
            }

            async fn rebuild_facts(&self, tenant: Option<&TenantId>) -> StoreResult<u64> {
                self.replay_facts(false, tenant).await
            }

            async fn gauges(&self) -> StoreResult<Gauges> {
                let conversations = self.conversation_counts().await?;
                let agents = sqlx::query_as::<_, (String, i64)>(
                    "SELECT status, COUNT(*) FROM agents GROUP BY status ORDER BY status",
                )
                .fetch_all(&self.pool)
                .await?;
                // One aggregate: nothing per waiting conversation is read into memory.
                let waiting = sqlx::query_as::<_, (String, String, i64, i64, Option<i64>)>(
                    "SELECT tenant, COALESCE(queue, ''), COUNT(*), \
                     SUM(CASE WHEN offer_agent IS NULL THEN 0 ELSE 1 END), MIN(waiting_since) \
                     FROM conversations WHERE state = 'queued' \
                     GROUP BY tenant, COALESCE(queue, '') ORDER BY 1, 2",
                )
                .fetch_all(&self.pool)
                .await?;
                let offers_pending = waiting.iter().map(|w| w.3).sum();
                Ok(Gauges {
                    conversations,
                    queues: waiting
                        .into_iter()
                        .map(|(tenant, queue, depth, _, oldest)| QueueGauge {
                            tenant,
                            queue,
                            depth,
                            oldest: oldest.map(Timestamp::from_millis),
                        })
                        .collect(),
                    agents,
                    offers_pending,
                })
            }
        }
    };
}
