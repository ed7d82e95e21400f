//! Stale presence: an agent who is `available` or `busy` and whose last live WebSocket to
//! **this instance** closed more than `stale_presence_ms` ago is set `away` (an
//! `agent_status_changed` event by the system, which the live router learns from: their
//! pending offers are released). Each instance knows only its own sockets: an agent who never
//! connected to this instance, or who is still connected to another one, is left alone by it.

use crate::{AppState, now};
use baton_core::conversation::Actor;
use baton_core::{AgentId, AgentStatus, TenantId, Timestamp};
use baton_store::service;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// The longest the worker sleeps before looking again.
const MAX_SLEEP: Duration = Duration::from_secs(1);

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

/// The presence worker of one instance; returns when `stop` turns true.
pub async fn run_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        mark_stale(&state, now()).await;
        let mut sleep = MAX_SLEEP;
        if let Some(at) = state.presence.next_stale(state.stale_presence_ms) {
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
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%tenant, %agent, error = %e, "cannot mark a stale agent away"),
        }
    }
}
