//! Prometheus metrics of one instance: request counts and latency, conversations by state.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindOutcomeLabels {
    kind: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    tenant: String,
    queue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
    source: String,
}

/// The instance's metric registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    conversations: Family<StateLabels, Gauge>,
    delivery_attempts: Family<KindOutcomeLabels, Counter>,
    deliveries: Family<StateLabels, Gauge>,
    delivery_attempts_made: Family<StateLabels, Gauge>,
    oldest_pending_delivery: Gauge<f64, std::sync::atomic::AtomicU64>,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_oldest_wait: Family<QueueLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    agents: Family<StatusLabels, Gauge>,
    offers_pending: Gauge,
    handoffs: Family<ReasonLabels, Counter>,
    whatsapp_statuses: Family<StatusLabels, Counter>,
    /// SQLite's writer, as last read from the store (at scrape time).
    writer: std::sync::Arc<WriterCollector>,
    /// Whether queue gauges carry the tenant id and queue (`metrics_per_tenant`); otherwise
    /// one series sums every queue, so the exposition names no tenant.
    per_tenant: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("baton");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let conversations = Family::<StateLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "conversations",
            "Conversations by state",
            conversations.clone(),
        );
        let delivery_attempts = Family::<KindOutcomeLabels, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Outbox delivery attempts by subscription kind and outcome (delivered, skipped, \
             deferred, failed, retry)",
            delivery_attempts.clone(),
        );
        let deliveries = Family::<StateLabels, Gauge>::default();
        registry.register(
            "deliveries",
            "Outbox rows by state (pending is the backlog, dead the dead letters)",
            deliveries.clone(),
        );
        let delivery_attempts_made = Family::<StateLabels, Gauge>::default();
        registry.register(
            "delivery_attempts_made",
            "Attempts recorded on the outbox rows, by state",
            delivery_attempts_made.clone(),
        );
        let oldest_pending_delivery = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "oldest_pending_delivery_age_seconds",
            "Age of the oldest undelivered event in the outbox",
            oldest_pending_delivery.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Conversations waiting per queue",
            queue_depth.clone(),
        );
        let queue_oldest_wait =
            Family::<QueueLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "queue_oldest_wait_seconds",
            "How long the longest-waiting conversation of each queue has waited",
            queue_oldest_wait.clone(),
        );
        let agents = Family::<StatusLabels, Gauge>::default();
        registry.register("agents", "Agents by status", agents.clone());
        let offers_pending = Gauge::default();
        registry.register(
            "offers_pending",
            "Offers waiting for an agent's answer",
            offers_pending.clone(),
        );
        let handoffs = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "handoffs",
            "Handoff requests seen by this instance, by reason and source (on PostgreSQL every \
             instance sees every event: aggregate with max, not sum)",
            handoffs.clone(),
        );
        let whatsapp_statuses = Family::<StatusLabels, Counter>::default();
        registry.register(
            "whatsapp_statuses",
            "WhatsApp delivery receipts received (sent, delivered, read, failed, \
             failed_outside_window for error 131047)",
            whatsapp_statuses.clone(),
        );
        let writer = std::sync::Arc::new(WriterCollector::default());
        registry.register_collector(Box::new(writer.clone()));
        Metrics {
            registry,
            writer,
            requests,
            latency,
            conversations,
            delivery_attempts,
            deliveries,
            delivery_attempts_made,
            oldest_pending_delivery,
            queue_depth,
            queue_oldest_wait,
            agents,
            offers_pending,
            handoffs,
            whatsapp_statuses,
            per_tenant: false,
        }
    }
}

impl Metrics {
    /// Metrics whose queue gauges are labelled by tenant and queue (`per_tenant`), or summed
    /// over all of them (the default).
    pub fn with_tenant_labels(per_tenant: bool) -> Self {
        Metrics {
            per_tenant,
            ..Metrics::default()
        }
    }

    /// Counts a WhatsApp delivery receipt.
    pub fn whatsapp_status(&self, status: &str) {
        self.whatsapp_statuses
            .get_or_create(&StatusLabels {
                status: status.to_string(),
            })
            .inc();
    }

    /// Sets the conversations-by-state gauges (read from the store at scrape time).
    pub fn set_conversations(&self, counts: &[(String, i64)]) {
        for state in baton_core::ConversationState::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            self.conversations
                .get_or_create(&StateLabels {
                    state: state.as_str().into(),
                })
                .set(n);
        }
    }

    /// Counts one delivery attempt.
    pub fn delivery_attempt(&self, kind: &str, attempt: &crate::deliveries::Attempt) {
        use crate::deliveries::Attempt;
        let outcome = match attempt {
            Attempt::Delivered => "delivered",
            Attempt::Skipped(_) => "skipped",
            Attempt::Deferred { .. } => "deferred",
            Attempt::Failed {
                retryable: true, ..
            } => "retry",
            Attempt::Failed { .. } => "failed",
        };
        self.delivery_attempts
            .get_or_create(&KindOutcomeLabels {
                kind: kind.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts a handoff request seen on the event stream.
    pub fn handoff(&self, reason: &str, source: &str) {
        self.handoffs
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
                source: source.into(),
            })
            .inc();
    }

    /// Sets what SQLite's writer has done (read from the store at scrape time; `None` on
    /// PostgreSQL, where these series are left out).
    pub fn set_writer(&self, stats: Option<baton_store::WriterStats>) {
        *self
            .writer
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stats;
    }

    /// Sets the operational gauges read from the store at scrape time.
    pub fn set_gauges(
        &self,
        gauges: &baton_store::reports::Gauges,
        deliveries: &[baton_store::outbox::DeliveryStats],
        now: baton_core::Timestamp,
    ) {
        self.set_conversations(&gauges.conversations);
        self.queue_depth.clear();
        self.queue_oldest_wait.clear();
        for q in &gauges.queues {
            let labels = if self.per_tenant {
                QueueLabels {
                    tenant: q.tenant.clone(),
                    queue: q.queue.clone(),
                }
            } else {
                QueueLabels {
                    tenant: "all".into(),
                    queue: "all".into(),
                }
            };
            self.queue_depth.get_or_create(&labels).inc_by(q.depth);
            let age = q
                .oldest
                .map_or(0.0, |t| now.millis_since(t) as f64 / 1000.0);
            let oldest = self.queue_oldest_wait.get_or_create(&labels);
            if age > oldest.get() {
                oldest.set(age);
            }
        }
        for status in baton_core::AgentStatus::ALL {
            let n = gauges
                .agents
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            self.agents
                .get_or_create(&StatusLabels {
                    status: status.as_str().into(),
                })
                .set(n);
        }
        self.offers_pending.set(gauges.offers_pending);
        let mut oldest_pending = 0.0;
        for state in ["pending", "delivered", "skipped", "dead"] {
            let s = deliveries.iter().find(|d| d.state.as_str() == state);
            let labels = StateLabels {
                state: state.into(),
            };
            self.deliveries
                .get_or_create(&labels)
                .set(s.map_or(0, |s| s.count));
            self.delivery_attempts_made
                .get_or_create(&labels)
                .set(s.map_or(0, |s| s.attempts));
            if state == "pending"
                && let Some(t) = s.and_then(|s| s.oldest)
            {
                oldest_pending = now.millis_since(t) as f64 / 1000.0;
            }
        }
        self.oldest_pending_delivery.set(oldest_pending);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// SQLite's group commit: transactions, commits, and the time the writer was held and spent
/// committing (counters kept by the store, exposed as read at the last scrape).
#[derive(Debug, Default)]
struct WriterCollector(std::sync::Mutex<Option<baton_store::WriterStats>>);

impl Collector for WriterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        else {
            return Ok(());
        };
        fn counter<N: prometheus_client::encoding::EncodeCounterValue + Copy>(
            encoder: &mut DescriptorEncoder,
            name: &str,
            help: &str,
            value: N,
        ) -> Result<(), std::fmt::Error> {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
        }
        counter(
            &mut encoder,
            "sqlite_write_transactions",
            "SQLite write transactions committed",
            stats.transactions,
        )?;
        counter(
            &mut encoder,
            "sqlite_write_commits",
            "SQLite commits, one fsync each (transactions / commits: the group-commit batch)",
            stats.commits,
        )?;
        counter(
            &mut encoder,
            "sqlite_writer_held_seconds",
            "Seconds SQLite's one writer was held by write transactions",
            stats.held_seconds,
        )?;
        counter(
            &mut encoder,
            "sqlite_commit_seconds",
            "Seconds SQLite's writer spent in round trips that committed (a COMMIT alone, or with the writes of the batch's last transactions)",
            stats.commit_seconds,
        )?;
        Ok(())
    }
}

/// Middleware: counts requests and observes latency per matched route.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let m = &state.metrics;
    m.latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Counts handoff requests from the store's event stream until the stream closes.
pub fn spawn_event_counter(
    store: std::sync::Arc<dyn baton_store::Store>,
    metrics: std::sync::Arc<Metrics>,
) {
    let mut events = store.subscribe();
    tokio::spawn(async move {
        use baton_core::conversation::EventKind;
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(EventKind::HandoffRequested { reason, source, .. }) = e.event() {
                        metrics.handoff(reason, source.as_str());
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
}
