//! Stale presence: an agent who is `available` or `busy` and whose last live WebSocket to
//! **this instance** closed more than `stale_presence_ms` ago is set `away`; one whose
//! connection has been gone `offline_presence_ms` (longer; 0: never) is set `offline`. Each is
//! an `agent_status_changed` event by the system, which the live router learns from: their
//! pending offers are released, and a queue nobody `available` or `busy` staffs defers its
//! conversations. Each instance knows only its own sockets: an agent who never connected to
//! this instance, or who is still connected to another one, is left alone by it.

use crate::{AppState, now};
use baton_core::conversation::Actor;
use baton_core::{AgentId, AgentStatus, TenantId, Timestamp};
use baton_engine::service;
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
    /// Already set away for this absence.
    away_done: bool,
}

/// What a stale agent is set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    Away,
    Offline,
}

impl Presence {
    /// An agent's live socket opened.
    pub fn connected(&self, tenant: &TenantId, agent: &AgentId) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let c = agents.entry((tenant.clone(), agent.clone())).or_default();
        c.open += 1;
        c.gone_since = None;
        c.away_done = false;
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

    /// Agents gone long enough at `now` to be set away (`stale_ms`) or offline
    /// (`offline_ms`, 0: never). Agents set offline, or away with no offline step to come,
    /// are forgotten.
    fn take_stale(
        &self,
        now: Timestamp,
        stale_ms: i64,
        offline_ms: i64,
    ) -> Vec<(TenantId, AgentId, Stale)> {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        agents.retain(|(tenant, agent), c| {
            let Some(gone) = c.gone_since.filter(|_| c.open == 0) else {
                return true;
            };
            if offline_ms > 0 && gone.plus_millis(offline_ms) <= now {
                out.push((tenant.clone(), agent.clone(), Stale::Offline));
                return false;
            }
            if !c.away_done && gone.plus_millis(stale_ms) <= now {
                out.push((tenant.clone(), agent.clone(), Stale::Away));
                c.away_done = true;
                return offline_ms > 0;
            }
            true
        });
        out
    }

    /// The earliest time a disconnected agent is due for a change.
    fn next_stale(&self, stale_ms: i64, offline_ms: i64) -> Option<Timestamp> {
        let agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents
            .values()
            .filter(|c| c.open == 0)
            .filter_map(|c| {
                let gone = c.gone_since?;
                Some(if c.away_done {
                    gone.plus_millis(offline_ms)
                } else {
                    gone.plus_millis(stale_ms)
                })
            })
            .min()
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
        if let Some(at) = state
            .presence
            .next_stale(state.stale_presence_ms, state.offline_presence_ms)
        {
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
    for (tenant, agent, stale) in
        state
            .presence
            .take_stale(now, state.stale_presence_ms, state.offline_presence_ms)
    {
        let mut changed = false;
        let updated = service::update_agent(
            state.store().as_ref(),
            &tenant,
            &agent,
            &Actor::System,
            now,
            None,
            |a| match stale {
                Stale::Away if matches!(a.status, AgentStatus::Available | AgentStatus::Busy) => {
                    a.status = AgentStatus::Away;
                    changed = true;
                }
                Stale::Offline if a.status != AgentStatus::Offline => {
                    a.status = AgentStatus::Offline;
                    changed = true;
                }
                _ => {}
            },
        )
        .await;
        match updated {
            Ok(_) if changed => {
                tracing::info!(%tenant, %agent, ?stale, "live connection gone; agent status changed");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%tenant, %agent, error = %e, "cannot mark a stale agent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn away_after_the_stale_delay_then_offline_after_the_longer_one() {
        let p = Presence::default();
        let (t, a) = (
            TenantId::parse("tnt_1").unwrap(),
            AgentId::parse("agt_1").unwrap(),
        );
        p.connected(&t, &a);
        p.disconnected(&t, &a, Timestamp::from_millis(1_000));
        assert!(
            p.take_stale(Timestamp::from_millis(1_500), 1_000, 5_000)
                .is_empty()
        );
        assert_eq!(
            p.next_stale(1_000, 5_000),
            Some(Timestamp::from_millis(2_000))
        );
        let away = p.take_stale(Timestamp::from_millis(2_000), 1_000, 5_000);
        assert_eq!(away.len(), 1);
        assert_eq!(away[0].2, Stale::Away);
        assert_eq!(
            p.next_stale(1_000, 5_000),
            Some(Timestamp::from_millis(6_000))
        );
        assert!(
            p.take_stale(Timestamp::from_millis(3_000), 1_000, 5_000)
                .is_empty()
        );
        let offline = p.take_stale(Timestamp::from_millis(6_000), 1_000, 5_000);
        assert_eq!(offline[0].2, Stale::Offline);
        assert_eq!(p.next_stale(1_000, 5_000), None, "forgotten");
        // Reconnecting in between starts over.
        p.connected(&t, &a);
        p.disconnected(&t, &a, Timestamp::from_millis(10_000));
        p.take_stale(Timestamp::from_millis(11_000), 1_000, 5_000);
        p.connected(&t, &a);
        assert!(
            p.take_stale(Timestamp::from_millis(20_000), 1_000, 5_000)
                .is_empty()
        );
    }
}
