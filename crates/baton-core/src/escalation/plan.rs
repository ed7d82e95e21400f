//! From a detector decision to the conversation command it calls for. Pure: the store runs the
//! command in the same transaction as the message that triggered it.

use super::{Decision, DecisionAction};
use crate::conversation::{Command, Conversation, ConversationState};
use crate::ids::QueueId;

/// The command a decision calls for on `conv`, if any. `queue_exists` says whether a queue id
/// named by a rule exists in the tenant (an unknown one falls back to no specific queue, so a
/// rule naming a missing team still hands over instead of failing).
pub fn command_for(
    conv: &Conversation,
    decision: &Decision,
    queue_exists: impl Fn(&QueueId) -> bool,
) -> Option<Command> {
    let queue = decision
        .queue
        .as_deref()
        .and_then(|q| QueueId::parse(q).ok())
        .filter(|q| queue_exists(q));
    match (decision.action, conv.state) {
        (DecisionAction::Escalate, ConversationState::Bot | ConversationState::Deferred) => {
            Some(Command::RequestHandoff {
                reason: decision.reason.clone(),
                source: decision.source,
                queue,
                priority: decision.priority,
                note: None,
            })
        }
        // Already waiting: a rule may still raise (never lower) the priority.
        (DecisionAction::Escalate, ConversationState::Queued) => decision
            .priority
            .filter(|p| *p > conv.priority)
            .map(Command::SetPriority),
        (DecisionAction::Defer, ConversationState::Bot) => Some(Command::Defer {
            reason: decision.reason.clone(),
            back_at: None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{self, Actor, EventKind, HandoffSource};
    use crate::values::Priority;
    use crate::{ConversationId, CustomerId, TenantId, Timestamp};

    fn conv() -> Conversation {
        Conversation::new(
            ConversationId::parse("conv_1").unwrap(),
            TenantId::parse("ten_1").unwrap(),
            CustomerId::parse("cus_1").unwrap(),
            "web".into(),
            Timestamp::EPOCH,
        )
    }

    fn decision(action: DecisionAction, queue: Option<&str>, priority: Option<u8>) -> Decision {
        Decision {
            action,
            reason: "sensitive_topic:refund".into(),
            source: HandoffSource::Rule,
            rule: Some("refund".into()),
            queue: queue.map(String::from),
            priority: priority.map(|p| Priority::new(p.into()).unwrap()),
            tags: vec![],
            notify: vec![],
            capture_email: false,
        }
    }

    #[test]
    fn escalation_hands_over_to_an_existing_queue_only() {
        let d = decision(DecisionAction::Escalate, Some("billing"), Some(70));
        let Some(Command::RequestHandoff {
            queue,
            priority,
            reason,
            source,
            ..
        }) = command_for(&conv(), &d, |q| q.as_str() == "billing")
        else {
            panic!("expected a handoff")
        };
        assert_eq!(queue.unwrap().as_str(), "billing");
        assert_eq!(priority.unwrap().get(), 70);
        assert_eq!(reason, "sensitive_topic:refund");
        assert_eq!(source, HandoffSource::Rule);
        let Some(Command::RequestHandoff { queue, .. }) = command_for(&conv(), &d, |_| false)
        else {
            panic!("expected a handoff")
        };
        assert!(
            queue.is_none(),
            "an unknown queue falls back to the default"
        );
    }

    #[test]
    fn queued_conversations_only_gain_priority() {
        let mut c = conv();
        let handoff = Command::RequestHandoff {
            reason: "x".into(),
            source: HandoffSource::Api,
            queue: None,
            priority: Some(Priority::new(60).unwrap()),
            note: None,
        };
        conversation::execute(&mut c, &handoff, &Actor::System, Timestamp::EPOCH).unwrap();
        let higher = decision(DecisionAction::Escalate, None, Some(80));
        assert_eq!(
            command_for(&c, &higher, |_| true),
            Some(Command::SetPriority(Priority::new(80).unwrap()))
        );
        let lower = decision(DecisionAction::Escalate, None, Some(40));
        assert_eq!(command_for(&c, &lower, |_| true), None);
    }

    #[test]
    fn offers_and_closed_or_assigned_states_change_nothing() {
        assert_eq!(
            command_for(
                &conv(),
                &decision(DecisionAction::OfferHuman, None, None),
                |_| true
            ),
            None
        );
        let d = decision(DecisionAction::Defer, None, None);
        assert!(matches!(
            command_for(&conv(), &d, |_| true),
            Some(Command::Defer { .. })
        ));
        let mut c = conv();
        let events = conversation::decide(
            &c,
            &Command::Close {
                resolution: None,
                override_owner: false,
            },
            &Actor::System,
            Timestamp::EPOCH,
        )
        .unwrap();
        for e in &events {
            conversation::apply(&mut c, e, Timestamp::EPOCH);
        }
        assert!(matches!(events[0], EventKind::Closed { .. }));
        assert_eq!(
            command_for(&c, &decision(DecisionAction::Escalate, None, None), |_| {
                true
            }),
            None
        );
    }
}
