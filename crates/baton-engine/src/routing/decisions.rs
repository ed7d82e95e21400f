//! What a router [`Decision`] does to a conversation: the core commands (and actors) it maps
//! to.
//!
//! | decision | command |
//! |---|---|
//! | `Offer` | `Offer` with the explanation (shown as `routing` on the conversation) |
//! | `Assign` (auto-accept) | `Offer`, then `Accept` as that agent |
//! | `OfferExpired`, `ReleaseOffer` | `ExpireOffer` (only if that agent's offer is still out) |
//! | `Defer` (`after_hours`: the queue is closed; `no_agent_available`: nobody who may take it is staffed, i.e. `available` or `busy`; `away` and `offline` are not) | `Defer` with `back_at`, the next opening of the queue's hours (its own, else the tenant's) when it is closed: the customer is told when the team is back and asked for an email, the bot keeps helping |
//! | `Requeue` (the queue opened or an eligible agent came online; oldest first) | `Requeue` |
//! | `RaisePriority` | `SetPriority`, then `RecordOverflowStep` |
//! | `MoveQueue` | `ChangeQueue` (the overflow plan restarts in the new queue) |
//! | `Widen` | `RecordOverflowStep` |
//! | `AgentAway` (a missed offer in a `set_away` queue) | none: the agent is set `away` in the same transaction (`service::set_agent_away`, an `agent_status_changed` event with the reason) |
//! | `PositionsChanged` | nothing: positions are computed when read |

use baton_core::QueueId;
use baton_core::Timestamp;
use baton_core::conversation::{Actor, Command};
use baton_core::routing::Decision;
use std::collections::HashMap;

/// Whether a router decision about a pending queue transfer is carried out: offers and their
/// end. A transfer is not deferred, requeued, moved or reprioritised (see the module docs).
pub fn transfer_decision(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Offer { .. }
            | Decision::Assign { .. }
            | Decision::OfferExpired { .. }
            | Decision::ReleaseOffer { .. }
    )
}

/// The commands (and their actors) a decision maps to. See the module docs. `back_at` is when
/// the team of the conversation's queue is back (told with a deferral), if known.
pub fn commands(
    decision: &Decision,
    timeouts: &HashMap<QueueId, u64>,
    back_at: Option<Timestamp>,
    now: Timestamp,
) -> Vec<(Command, Actor)> {
    let system = |c| (c, Actor::System);
    match decision {
        Decision::Offer {
            agent,
            expires_at,
            explanation,
            ..
        } => vec![system(Command::Offer {
            agent: agent.clone(),
            expires_at: *expires_at,
            explanation: serde_json::to_value(explanation).ok(),
        })],
        Decision::Assign {
            agent, explanation, ..
        } => {
            let secs = timeouts
                .get(&explanation.queue)
                .copied()
                .unwrap_or(30)
                .max(1);
            vec![
                system(Command::Offer {
                    agent: agent.clone(),
                    expires_at: now.plus_millis((secs as i64) * 1000),
                    explanation: serde_json::to_value(explanation).ok(),
                }),
                (Command::Accept, Actor::Agent { id: agent.clone() }),
            ]
        }
        Decision::OfferExpired { .. } | Decision::ReleaseOffer { .. } => {
            vec![system(Command::ExpireOffer)]
        }
        Decision::Defer { reason, .. } => vec![system(Command::Defer {
            reason: reason.clone(),
            back_at,
        })],
        Decision::Requeue { .. } => vec![system(Command::Requeue)],
        Decision::RaisePriority {
            priority, stage, ..
        } => vec![
            system(Command::SetPriority(*priority)),
            system(Command::RecordOverflowStep { stage: *stage }),
        ],
        Decision::MoveQueue { queue, .. } => {
            vec![system(Command::ChangeQueue {
                queue: queue.clone(),
            })]
        }
        Decision::Widen { stage, .. } => {
            vec![system(Command::RecordOverflowStep { stage: *stage })]
        }
        Decision::PositionsChanged { .. } | Decision::AgentAway { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::routing::Strategy;
    use baton_core::{AgentId, ConversationId};

    fn q(s: &str) -> QueueId {
        QueueId::parse(s).unwrap()
    }

    #[test]
    fn assign_is_offer_then_accept_by_the_agent() {
        let agent = AgentId::parse("agt_1").unwrap();
        let decision = Decision::Assign {
            conversation: ConversationId::parse("conv_1").unwrap(),
            agent: agent.clone(),
            explanation: baton_core::routing::Explanation {
                queue: q("billing"),
                strategy: Strategy::LongestIdle,
                candidates: vec![],
                winner_reason: "only one".into(),
                relaxation: None,
            },
        };
        let now = Timestamp::from_millis(1_000);
        let cmds = commands(&decision, &HashMap::new(), None, now);
        assert!(matches!(
            &cmds[0],
            (
                Command::Offer {
                    explanation: Some(_),
                    ..
                },
                Actor::System
            )
        ));
        assert_eq!(cmds[1], (Command::Accept, Actor::Agent { id: agent }));
        let defer = |reason: &str| Decision::Defer {
            conversation: ConversationId::parse("conv_1").unwrap(),
            reason: reason.into(),
        };
        for reason in ["no_agent_available", "after_hours"] {
            let back = Some(now.plus_millis(60_000));
            assert_eq!(
                commands(&defer(reason), &HashMap::new(), back, now),
                vec![(
                    Command::Defer {
                        reason: reason.into(),
                        back_at: back,
                    },
                    Actor::System
                )]
            );
        }
    }
}
