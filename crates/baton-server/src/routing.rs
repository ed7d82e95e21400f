//! Routing in the server: a routing pass after every change that can affect who gets what
//! ([`after_change`]), and a worker that wakes on persisted timers ([`run_worker`]).
//!
//! The passes themselves are [`baton_store::routing::Dispatcher::route`]: one transaction
//! under the tenant lock, so any number of instances may run them concurrently.
//!
//! The worker sleeps until the earliest persisted timer of any tenant (read from the store,
//! re-read at least every second so timers set by other instances are seen), claims the due
//! ones (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and routes those tenants. Offers that expired
//! while no instance ran are expired on the first pass after start: their expiry is in the
//! projection and their timer in the database.
//!
//! It also marks stale presence: an agent who is `available` or `busy` and whose last live
//! WebSocket to **this instance** closed more than `stale_presence_ms` ago is set `away` (an
//! `agent_status_changed` event by the system), which releases their pending offers. Each
//! instance knows only its own sockets: an agent who never connected to this instance, or who
//! is still connected to another one, is left alone by it.

use crate::{AppState, now};
use baton_core::conversation::Actor;
use baton_core::{AgentId, AgentStatus, TenantId, Timestamp};
use baton_store::routing::ROUTING_TIMER;
use baton_store::service;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// The longest the worker sleeps before looking at the timers again.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Timers claimed per round.
const CLAIM_BATCH: u32 = 64;

/// Conversation events after which a message triggers a routing pass (the escalation detector
/// handed over, deferred or reprioritised in the message's transaction).
pub const ROUTING_EVENTS: [&str; 4] = [
    "handoff_requested",
    "assigned",
    "deferred",
    "priority_changed",
];

/// Runs a routing pass for the tenant after a successful change. Errors are logged: the change
/// itself succeeded, and the tenant's timer (or the next change) routes again.
pub async fn after_change(state: &AppState, tenant: &TenantId) {
    if let Err(e) = state
        .dispatcher
        .route(state.store.as_ref(), tenant, now())
        .await
    {
        tracing::warn!(%tenant, error = %e, "routing pass failed; it is retried on the next change or timer");
    }
}

/// Live connections of agents to this instance.
#[derive(Debug, Default)]
pub struct Presence {
    agents: Mutex<HashMap<(TenantId, AgentId), Connections>>,
}

#[derive(Debug, Default)]
struct Connections {
    open: usize,
    /// When the last connection closed (while `open == 0`).
    gone_since: Option<Timestamp>,
}

impl Presence {
    /// An agent's live socket opened.
    pub fn connected(&self, tenant: &TenantId, agent: &AgentId) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let c = agents.entry((tenant.clone(), agent.clone())).or_default();
        c.open += 1;
        c.gone_since = None;
    }

    /// An agent's live socket closed at `at`.
    pub fn disconnected(&self, tenant: &TenantId, agent: &AgentId, at: Timestamp) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = agents.get_mut(&(tenant.clone(), agent.clone())) {
            c.open = c.open.saturating_sub(1);
            if c.open == 0 {
                c.gone_since = Some(at);
            }
        }
    }

    /// Agents whose last socket closed at or before `cutoff`; they are forgotten.
    fn take_stale(&self, cutoff: Timestamp) -> Vec<(TenantId, AgentId)> {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let stale: Vec<_> = agents
            .iter()
            .filter(|(_, c)| c.open == 0 && c.gone_since.is_some_and(|t| t <= cutoff))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            agents.remove(k);
        }
        stale
    }

    /// The earliest time a disconnected agent becomes stale, given the threshold.
    fn next_stale(&self, stale_ms: i64) -> Option<Timestamp> {
        let agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents
            .values()
            .filter_map(|c| c.gone_since)
            .min()
            .map(|t| t.plus_millis(stale_ms))
    }
}

/// The timer and presence worker of one instance; returns when `stop` turns true.
pub async fn run_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = now();
        mark_stale(&state, now).await;
        let mut full = false;
        match state.store.due_timers(now, CLAIM_BATCH).await {
            Ok(due) => {
                full = due.len() == CLAIM_BATCH as usize;
                for (tenant, kind) in due {
                    if kind == ROUTING_TIMER {
                        after_change(&state, &tenant).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot claim due timers"),
        }
        if full {
            continue;
        }
        let mut sleep = MAX_SLEEP;
        let next = match state.store.next_timer_due().await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next timer");
                None
            }
        };
        let stale = state.presence.next_stale(state.stale_presence_ms);
        if let Some(at) = next.into_iter().chain(stale).min() {
            let wait = at.millis().saturating_sub(crate::now().millis()).max(0);
            sleep = sleep.min(Duration::from_millis(wait as u64));
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn mark_stale(state: &AppState, now: Timestamp) {
    for (tenant, agent) in state
        .presence
        .take_stale(now.plus_millis(-state.stale_presence_ms))
    {
        let mut changed = false;
        let updated = service::update_agent(
            state.store.as_ref(),
            &tenant,
            &agent,
            &Actor::System,
            now,
            None,
            |a| {
                if matches!(a.status, AgentStatus::Available | AgentStatus::Busy) {
                    a.status = AgentStatus::Away;
                    changed = true;
                }
            },
        )
        .await;
        match updated {
            Ok(_) if changed => {
                tracing::info!(%tenant, %agent, "live connection gone; agent set away");
                after_change(state, &tenant).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%tenant, %agent, error = %e, "cannot mark a stale agent away"),
        }
    }
}
