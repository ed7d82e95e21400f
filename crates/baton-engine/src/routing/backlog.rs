//! Which of a router's decisions a batch commits now, and which wait.
//!
//! A batch can be as long as a queue's line: a queue losing its last staffed agent defers
//! every conversation in it, staff coming back requeues them all. The agents' work goes first
//! (offers, assignments and their ends, agents set away), with the older decisions about the
//! same conversations in front of it; of the rest (requeues, deferrals, overflow steps, which
//! no agent waits on and a customer sees by position, read from the router), one chunk goes
//! with it, and the others wait in the [`Backlog`], kept in order per conversation, for the
//! next batches. Every step is linear in what the batch brings and commits, never in what
//! waits.

use super::decisions::transfer_decision;
use baton_core::ConversationId;
use baton_core::routing::Decision;
use std::collections::{HashMap, HashSet, VecDeque};

/// Decisions taken (the router's state has them) but not yet committed, none of them about an
/// agent's room.
#[derive(Debug, Default)]
pub struct Backlog {
    /// Conversations in the order their oldest waiting decision came (a conversation whose
    /// decisions were taken out early may still be listed: skipped when reached).
    order: VecDeque<ConversationId>,
    /// Each conversation's waiting decisions, oldest first.
    pending: HashMap<ConversationId, Vec<Decision>>,
}

impl Backlog {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Conversations with decisions waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    fn push(&mut self, id: ConversationId, decision: Decision) {
        match self.pending.get_mut(&id) {
            Some(waiting) => waiting.push(decision),
            None => {
                self.order.push_back(id.clone());
                self.pending.insert(id, vec![decision]);
            }
        }
    }

    /// Takes the conversation's waiting decisions out, oldest first.
    pub fn take(&mut self, id: &ConversationId) -> Vec<Decision> {
        self.pending.remove(id).unwrap_or_default()
    }

    /// Takes about `n` decisions out (whole conversations), in the order they came.
    fn take_front(&mut self, n: usize, out: &mut Vec<Decision>) {
        let until = out.len() + n;
        while out.len() < until {
            let Some(id) = self.order.pop_front() else {
                break;
            };
            if let Some(waiting) = self.pending.remove(&id) {
                out.extend(waiting);
            }
        }
        if self.pending.is_empty() {
            self.order.clear();
        }
    }

    /// The decisions a batch commits now, of its own `decisions` and those waiting: the
    /// agents' work with the older decisions about the same conversations in front of it, then
    /// up to `chunk` in all with the oldest waiting ones. The others wait.
    pub fn plan(&mut self, decisions: Vec<Decision>, chunk: usize) -> Vec<Decision> {
        let for_agents: HashSet<ConversationId> = decisions
            .iter()
            .filter(|d| touches_agent(d))
            .filter_map(|d| d.conversation().cloned())
            .collect();
        let mut now: Vec<Decision> = Vec::new();
        for id in &for_agents {
            now.extend(self.take(id));
        }
        for decision in decisions {
            match decision.conversation() {
                // A conversation with older decisions waiting: behind them.
                Some(id) if !for_agents.contains(id) => {
                    let id = id.clone();
                    self.push(id, decision);
                }
                _ => now.push(decision),
            }
        }
        let room = chunk.saturating_sub(now.len());
        self.take_front(room, &mut now);
        now
    }
}

/// Whether carrying out the decision takes or frees an agent's room (an offer or its end, the
/// decisions a transfer is allowed) or sets her away.
fn touches_agent(decision: &Decision) -> bool {
    transfer_decision(decision) || matches!(decision, Decision::AgentAway { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::routing::{Explanation, Strategy};
    use baton_core::{AgentId, QueueId, Timestamp};

    fn conv(n: u32) -> ConversationId {
        ConversationId::parse(format!("c{n}")).unwrap()
    }

    fn requeue(n: u32) -> Decision {
        Decision::Requeue {
            conversation: conv(n),
        }
    }

    fn defer(n: u32) -> Decision {
        Decision::Defer {
            conversation: conv(n),
            reason: "no_agent_available".into(),
        }
    }

    fn offer(n: u32) -> Decision {
        Decision::Offer {
            conversation: conv(n),
            agent: AgentId::parse("a1").unwrap(),
            expires_at: Timestamp::from_millis(1_000),
            explanation: Explanation {
                queue: QueueId::parse("support").unwrap(),
                strategy: Strategy::RoundRobin,
                candidates: Vec::new(),
                winner_reason: String::new(),
                relaxation: None,
            },
        }
    }

    #[test]
    fn agents_work_goes_first_one_chunk_beside_it_and_each_conversation_keeps_its_order() {
        let away = Decision::AgentAway {
            agent: AgentId::parse("a1").unwrap(),
            reason: "missed_offer".into(),
        };
        let mut backlog = Backlog::default();
        let batch = vec![
            requeue(1),
            requeue(2),
            requeue(3),
            offer(2),
            requeue(4),
            requeue(5),
            away.clone(),
        ];
        // The offer with its conversation's requeue, the agent set away, then one more
        // decision to fill a chunk of 4.
        assert_eq!(
            backlog.plan(batch, 4),
            vec![requeue(2), offer(2), away, requeue(1)]
        );
        assert_eq!(backlog.len(), 3);
        // A new decision about a waiting conversation goes behind its older one; an offer
        // brings its conversation's waiting decisions with it.
        let next = backlog.plan(vec![defer(3), offer(4)], 3);
        assert_eq!(next, vec![requeue(4), offer(4), requeue(3), defer(3)]);
        assert_eq!(backlog.len(), 1);
        // A conversation taken out early is skipped where it was listed.
        assert_eq!(backlog.take(&conv(5)), vec![requeue(5)]);
        assert!(backlog.is_empty());
        assert_eq!(backlog.plan(Vec::new(), 64), Vec::new());
        assert!(backlog.order.is_empty());
    }
}
