//! Baton's application layer: the use cases between the HTTP server (which parses, authorizes
//! and maps errors) and the store (which only persists).
//!
//! - [`service`]: the commands. Each opens one transaction, loads and locks what it changes,
//!   lets the core decide, appends the core's events with their projections and follow-up
//!   jobs, and commits. Nothing else writes conversation state.
//! - [`pipeline`]: a turn or a lifecycle command the way every entry point runs it (the API,
//!   the widget, WhatsApp): the tenant's detector in the command's transaction, then the bot.
//! - [`routing`]: live routing. Each tenant's router in memory on the instance that holds the
//!   tenant's lease, fed by the event log, committing its decisions in fenced transactions.
//! - [`jobs`]: the follow-up job worker (the handoff [`brief`]).
//! - [`bots`]: the tenant's bot (knowledge base, webhook or LLM) answering customers.
//! - [`detection`] and [`knowledge`]: the per-tenant settings cache and knowledge-base index.
//! - [`outbound`]: the HTTP client every outbound request uses, which reaches public
//!   addresses only.
//!
//! Deliveries (webhooks, Slack/Teams, email, WhatsApp) still live in the server: their payloads
//! are the API's response shapes (see `../shared/DESIGN.md`).

pub mod bots;
pub mod brief;
pub mod detection;
pub mod jobs;
pub mod knowledge;
pub mod outbound;
pub mod pipeline;
pub mod routing;
pub mod service;
pub mod wire;

pub use routing::Routing;

use baton_core::Timestamp;
use baton_store::Store;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The engine of one instance: the store and what this instance keeps in memory for it (live
/// routing, compiled settings, the knowledge-base index, bot settings, the outbound client).
/// Cheap to clone: every part is shared.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Live routing of the tenants whose lease this instance holds.
    pub routing: Routing,
    /// Each tenant's compiled escalation settings.
    pub detectors: Arc<detection::Detectors>,
    /// The knowledge-base index.
    pub knowledge: knowledge::Knowledge,
    /// Each tenant's bot settings and the bots' HTTP client.
    pub bots: Arc<bots::Bots>,
    /// The policy (and client) of outbound requests.
    pub outbound: outbound::Outbound,
}

impl Engine {
    /// An engine over `store` whose outbound requests reach public addresses only.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let outbound = outbound::Outbound::default();
        Engine {
            routing: Routing::new(store.clone()),
            store,
            detectors: Arc::new(detection::Detectors::default()),
            knowledge: knowledge::Knowledge::default(),
            bots: Arc::new(bots::Bots::with_http(outbound.http().clone())),
            outbound,
        }
    }

    /// Lets outbound requests (bots, deliveries) reach internal addresses: for development
    /// and tests with local receivers.
    pub fn allow_private_targets(&mut self, allow: bool) {
        self.outbound = outbound::Outbound::new(allow);
        self.bots = Arc::new(bots::Bots::with_http(self.outbound.http().clone()));
    }

    /// Starts what keeps this instance's caches current: settings, the knowledge base and bot
    /// settings are dropped when an event (from any instance) says they changed.
    pub fn spawn_invalidation(&self) {
        detection::spawn_invalidation(
            self.store.clone(),
            self.detectors.clone(),
            self.knowledge.clone(),
        );
        bots::spawn_invalidation(self.store.clone(), self.bots.clone());
    }
}

/// The wall clock, as the core's timestamp.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp::from_millis(ms as i64)
}
