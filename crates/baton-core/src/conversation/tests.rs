use super::*;
use crate::values::CsatScore;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// When the conversation started.
const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
/// When the commands of the unit tests run.
const NOW: Timestamp = Timestamp::from_millis(1_700_000_060_000);

fn later(ms: i64) -> Timestamp {
    NOW.plus_millis(ms)
}

fn agent_id(n: u8) -> AgentId {
    AgentId::parse(format!("agt_{n}")).unwrap()
}

fn agent(n: u8) -> Actor {
    Actor::Agent { id: agent_id(n) }
}

fn api() -> Actor {
    Actor::ApiKey {
        id: ApiKeyId::parse("key_1").unwrap(),
    }
}

fn queue(n: u8) -> QueueId {
    QueueId::parse(format!("q_{n}")).unwrap()
}

fn prio(v: i64) -> Priority {
    Priority::new(v).unwrap()
}

fn score(v: i64) -> CsatScore {
    CsatScore::new(v).unwrap()
}

fn started_event() -> EventKind {
    let mut attributes = serde_json::Map::new();
    attributes.insert("page".into(), serde_json::json!("/checkout"));
    EventKind::Started {
        channel: "web".into(),
        attributes,
    }
}

fn blank() -> Conversation {
    Conversation::new(
        ConversationId::parse("conv_1").unwrap(),
        TenantId::parse("ten_1").unwrap(),
        CustomerId::parse("cus_1").unwrap(),
        "web".into(),
        T0,
    )
}

/// A started conversation, in state `bot`.
fn conv() -> Conversation {
    let mut c = blank();
    apply(&mut c, &started_event(), T0);
    c
}

fn msg(role: MessageRole, agent: Option<u8>) -> MessageRecord {
    MessageRecord {
        id: MessageId::parse(format!("msg_{}", role.as_str())).unwrap(),
        role,
        text: format!("a {role} turn"),
        agent: agent.map(agent_id),
        external_id: None,
        bot: (role == MessageRole::Bot).then(|| BotTurn {
            confidence: Some(0.5),
            intent: Some("greeting".into()),
            fallback: false,
        }),
        attachment: None,
    }
}

fn say(role: MessageRole) -> Command {
    Command::AddMessage(msg(role, None))
}

fn agent_says(n: u8) -> Command {
    Command::AddMessage(msg(MessageRole::Agent, Some(n)))
}

fn note_by(n: u8) -> Command {
    Command::AddMessage(msg(MessageRole::Note, Some(n)))
}

fn handoff(queue: Option<QueueId>, priority: Option<Priority>) -> Command {
    Command::RequestHandoff {
        reason: "customer_request".into(),
        source: HandoffSource::Customer,
        queue,
        priority,
        note: Some("wants a refund".into()),
    }
}

fn offer_to(n: u8) -> Command {
    Command::Offer {
        agent: agent_id(n),
        expires_at: later(30_000),
        explanation: None,
    }
}

fn transfer(to_agent: Option<u8>, to_queue: Option<u8>, override_owner: bool) -> Command {
    Command::Transfer {
        to_agent: to_agent.map(agent_id),
        to_queue: to_queue.map(queue),
        note: "over to you".into(),
        expires_at: later(30_000),
        override_owner,
    }
}

fn cancel_transfer(override_owner: bool) -> Command {
    Command::CancelTransfer { override_owner }
}

fn close(override_owner: bool) -> Command {
    Command::Close {
        resolution: Some("solved".into()),
        override_owner,
    }
}

fn defer() -> Command {
    Command::Defer {
        reason: "after_hours".into(),
        back_at: Some(NOW.plus_millis(3_600_000)),
    }
}

fn csat(v: i64) -> Command {
    Command::RecordCsat {
        score: score(v),
        comment: Some("thanks".into()),
    }
}

/// Runs a command that must succeed, returning its events.
#[track_caller]
fn ok(c: &mut Conversation, command: &Command, actor: &Actor) -> Vec<EventKind> {
    match execute(c, command, actor, NOW) {
        Ok(events) => events,
        Err(e) => panic!("{command:?} by {actor:?} in {} refused: {e}", c.state),
    }
}

/// Runs a command that must be refused, checking the conversation is untouched.
#[track_caller]
fn refused(c: &Conversation, command: &Command, actor: &Actor) -> TransitionError {
    let mut after = c.clone();
    let err = match execute(&mut after, command, actor, NOW) {
        Ok(events) => panic!(
            "{command:?} by {actor:?} in {} accepted: {events:?}",
            c.state
        ),
        Err(e) => e,
    };
    assert_eq!(&after, c, "a refused command changed the conversation");
    err
}

/// Queued in `q_1` at the default priority, by a rule.
fn queued() -> Conversation {
    let mut c = conv();
    ok(&mut c, &handoff(Some(queue(1)), None), &Actor::System);
    c
}

/// Queued with a pending offer to agent `n`.
fn offered(n: u8) -> Conversation {
    let mut c = queued();
    ok(&mut c, &offer_to(n), &Actor::System);
    c
}

/// Assigned to agent `n` (claimed from `q_1`).
fn assigned(n: u8) -> Conversation {
    let mut c = queued();
    ok(&mut c, &Command::Claim, &agent(n));
    c
}

/// Deferred from the bot.
fn deferred() -> Conversation {
    let mut c = conv();
    ok(&mut c, &defer(), &Actor::System);
    c
}

/// Closed after having been assigned to agent 1.
fn closed() -> Conversation {
    let mut c = assigned(1);
    ok(&mut c, &close(false), &agent(1));
    c
}

/// A conversation in `state` (assigned to agent 1 when assigned).
fn in_state(state: ConversationState) -> Conversation {
    match state {
        S::Bot => conv(),
        S::Queued => queued(),
        S::Assigned => assigned(1),
        S::Deferred => deferred(),
        S::Closed => closed(),
    }
}

fn added(command: &Command) -> EventKind {
    match command {
        Command::AddMessage(message) => EventKind::MessageAdded {
            message: message.clone(),
        },
        other => panic!("not a message: {other:?}"),
    }
}

fn invalid_state(action: &'static str, state: ConversationState) -> TransitionError {
    TransitionError::InvalidState { action, state }
}

fn not_closed() -> [ConversationState; 4] {
    [S::Bot, S::Queued, S::Assigned, S::Deferred]
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

#[test]
fn started_conversation_is_with_the_bot() {
    let c = conv();
    assert_eq!(c.state, S::Bot);
    assert_eq!(c.version, 1);
    assert_eq!(c.message_count, 0);
    assert_eq!(c.priority, Priority::DEFAULT);
    assert_eq!(c.attributes["page"], "/checkout");
    assert_eq!((c.created_at, c.updated_at), (T0, T0));
    assert!(c.assignee.is_none() && c.offer.is_none() && c.queue.is_none());
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

#[test]
fn customer_message_is_added_in_every_open_state() {
    for state in not_closed() {
        let mut c = in_state(state);
        let before = c.clone();
        let cmd = say(MessageRole::Customer);
        assert_eq!(
            ok(&mut c, &cmd, &Actor::Customer),
            vec![added(&cmd)],
            "{state}"
        );
        assert_eq!(c.state, state);
        assert_eq!(c.assignee, before.assignee);
        assert_eq!(c.message_count, before.message_count + 1);
        assert_eq!(c.version, before.version + 1);
        assert_eq!(c.updated_at, NOW);
    }
}

#[test]
fn customer_message_reopens_a_closed_conversation() {
    let mut c = closed();
    ok(&mut c, &csat(4), &Actor::Customer);
    assert_eq!(c.csat, Some(score(4)));
    let count = c.message_count;

    let cmd = say(MessageRole::Customer);
    let events = ok(&mut c, &cmd, &Actor::Customer);

    assert_eq!(events, vec![EventKind::Reopened, added(&cmd)]);
    assert_eq!(c.state, S::Bot);
    assert_eq!(c.assignee, None);
    assert_eq!(c.offer, None);
    assert_eq!(c.csat, None);
    assert_eq!(c.resolution, None);
    assert_eq!(c.closed_at, None);
    assert!(c.declines.is_empty());
    assert_eq!(c.message_count, count + 1);
}

#[test]
fn bot_message_is_allowed_until_a_human_owns_the_conversation() {
    for state in [S::Bot, S::Queued, S::Deferred] {
        let mut c = in_state(state);
        let cmd = say(MessageRole::Bot);
        assert_eq!(ok(&mut c, &cmd, &Actor::Bot), vec![added(&cmd)], "{state}");
        assert_eq!(c.state, state);
    }
    let cmd = say(MessageRole::Bot);
    assert_eq!(
        refused(&assigned(1), &cmd, &Actor::Bot),
        TransitionError::BotSilenced
    );
    assert_eq!(
        refused(&closed(), &cmd, &Actor::Bot),
        invalid_state("add a bot message to", S::Closed)
    );
}

#[test]
fn system_message_is_allowed_unless_closed() {
    for state in not_closed() {
        let mut c = in_state(state);
        let cmd = say(MessageRole::System);
        assert_eq!(
            ok(&mut c, &cmd, &Actor::System),
            vec![added(&cmd)],
            "{state}"
        );
    }
    assert_eq!(
        refused(&closed(), &say(MessageRole::System), &Actor::System),
        invalid_state("add a system message to", S::Closed)
    );
}

#[test]
fn agent_message_only_by_the_assignee() {
    let mut c = assigned(1);
    let count = c.message_count;
    assert_eq!(
        ok(&mut c, &agent_says(1), &agent(1)),
        vec![added(&agent_says(1))]
    );
    assert_eq!(c.message_count, count + 1);

    assert_eq!(
        refused(&c, &agent_says(2), &agent(2)),
        TransitionError::NotAssignee
    );
    for actor in [Actor::Customer, Actor::Bot, Actor::System, api()] {
        assert_eq!(
            refused(&c, &agent_says(1), &actor),
            TransitionError::AgentRequired("write as an agent")
        );
    }
}

#[test]
fn agent_message_needs_an_assigned_conversation() {
    for state in [S::Bot, S::Queued, S::Deferred, S::Closed] {
        assert_eq!(
            refused(&in_state(state), &agent_says(1), &agent(1)),
            invalid_state("reply to", state)
        );
    }
}

#[test]
fn notes_need_an_agent_and_are_allowed_in_every_state_without_counting() {
    for state in ConversationState::ALL {
        let mut c = in_state(state);
        let before = c.clone();
        // Any agent may leave a note, not only the assignee.
        for n in [1, 2] {
            assert_eq!(
                ok(&mut c, &note_by(n), &agent(n)),
                vec![added(&note_by(n))],
                "{state}"
            );
        }
        assert_eq!(c.state, state);
        assert_eq!(
            c.message_count, before.message_count,
            "notes are not transcript turns"
        );
        assert_eq!(c.version, before.version + 2);

        for actor in [Actor::Customer, Actor::Bot, Actor::System, api()] {
            assert_eq!(
                refused(&c, &note_by(1), &actor),
                TransitionError::AgentRequired("write a note")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handoff
// ---------------------------------------------------------------------------------------------

#[test]
fn handoff_from_bot_queues_and_records_the_request() {
    let mut c = conv();
    let cmd = Command::RequestHandoff {
        reason: "sensitive_topic:refund".into(),
        source: HandoffSource::Bot,
        queue: Some(queue(2)),
        priority: Some(prio(80)),
        note: Some("angry".into()),
    };
    let events = ok(&mut c, &cmd, &Actor::Bot);
    assert_eq!(
        events,
        vec![EventKind::HandoffRequested {
            reason: "sensitive_topic:refund".into(),
            source: HandoffSource::Bot,
            queue: Some(queue(2)),
            priority: prio(80),
            note: Some("angry".into()),
        }]
    );
    assert_eq!(c.state, S::Queued);
    assert_eq!(c.queue, Some(queue(2)));
    assert_eq!(c.priority, prio(80));
    assert_eq!(c.queued_at, Some(NOW));
    assert_eq!(
        c.handoff,
        Some(HandoffInfo {
            reason: "sensitive_topic:refund".into(),
            source: HandoffSource::Bot,
            note: Some("angry".into()),
            at: NOW,
        })
    );
    assert_eq!(c.assignee, None);
}

#[test]
fn handoff_defaults_to_the_previous_queue_and_current_priority() {
    // Queued once in q_2, closed, reopened by the customer: back with the bot, queue kept.
    let mut c = conv();
    ok(&mut c, &handoff(Some(queue(2)), None), &Actor::System);
    ok(&mut c, &close(false), &Actor::System);
    ok(&mut c, &say(MessageRole::Customer), &Actor::Customer);
    ok(&mut c, &Command::SetPriority(prio(90)), &Actor::System);
    assert_eq!((c.state, c.queue.clone()), (S::Bot, Some(queue(2))));

    let events = ok(&mut c, &handoff(None, None), &Actor::Customer);
    match &events[..] {
        [
            EventKind::HandoffRequested {
                queue: q, priority, ..
            },
        ] => {
            assert_eq!(q, &Some(queue(2)));
            assert_eq!(*priority, prio(90));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.queue, Some(queue(2)));
    assert_eq!(c.priority, prio(90));

    // Without any previous queue, none is chosen.
    let mut fresh = conv();
    ok(&mut fresh, &handoff(None, None), &Actor::Customer);
    assert_eq!(fresh.queue, None);
    assert_eq!(fresh.priority, Priority::DEFAULT);
}

#[test]
fn handoff_from_deferred_queues_again() {
    let mut c = queued();
    ok(&mut c, &defer(), &Actor::System);
    assert_eq!(c.state, S::Deferred);
    let events = ok(&mut c, &handoff(None, Some(prio(10))), &Actor::Customer);
    assert!(
        matches!(&events[..], [EventKind::HandoffRequested { .. }]),
        "{events:?}"
    );
    assert_eq!(c.state, S::Queued);
    assert_eq!(c.queue, Some(queue(1)));
    assert_eq!(c.priority, prio(10));

    // An agent asking on a deferred conversation only queues it: no takeover.
    let mut c = deferred();
    let events = ok(&mut c, &handoff(None, None), &agent(1));
    assert_eq!(events.len(), 1);
    assert_eq!((c.state, c.assignee.clone()), (S::Queued, None));
}

#[test]
fn handoff_is_refused_once_queued_assigned_or_closed() {
    for state in [S::Queued, S::Assigned, S::Closed] {
        for actor in [Actor::Customer, agent(2)] {
            assert_eq!(
                refused(&in_state(state), &handoff(None, None), &actor),
                invalid_state("hand off", state)
            );
        }
    }
}

#[test]
fn handoff_by_an_agent_on_a_bot_conversation_is_a_takeover() {
    let mut c = conv();
    let cmd = Command::RequestHandoff {
        reason: "takeover".into(),
        source: HandoffSource::Agent,
        queue: Some(queue(1)),
        priority: None,
        note: None,
    };
    let events = ok(&mut c, &cmd, &agent(3));
    assert_eq!(
        events,
        vec![
            EventKind::HandoffRequested {
                reason: "takeover".into(),
                source: HandoffSource::Agent,
                queue: Some(queue(1)),
                priority: Priority::DEFAULT,
                note: None,
            },
            EventKind::Assigned {
                agent: agent_id(3),
                via: AssignVia::Takeover
            },
        ]
    );
    assert_eq!(c.state, S::Assigned);
    assert_eq!(c.assignee, Some(agent_id(3)));
    assert_eq!(c.assigned_at, Some(NOW));
    assert_eq!(
        c.handoff.as_ref().map(|h| h.source),
        Some(HandoffSource::Agent)
    );
    assert_eq!(c.version, 3);
}

// ---------------------------------------------------------------------------------------------
// Claim
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_from_queued_and_deferred() {
    for state in [S::Queued, S::Deferred] {
        let mut c = in_state(state);
        let events = ok(&mut c, &Command::Claim, &agent(2));
        assert_eq!(
            events,
            vec![EventKind::Assigned {
                agent: agent_id(2),
                via: AssignVia::Claim
            }]
        );
        assert_eq!(c.state, S::Assigned);
        assert_eq!(c.assignee, Some(agent_id(2)));
        assert_eq!(c.assigned_at, Some(NOW));
    }
}

#[test]
fn claim_expires_another_agents_pending_offer() {
    let mut c = offered(1);
    let events = ok(&mut c, &Command::Claim, &agent(2));
    assert_eq!(
        events,
        vec![
            EventKind::OfferExpired { agent: agent_id(1) },
            EventKind::Assigned {
                agent: agent_id(2),
                via: AssignVia::Claim
            },
        ]
    );
    assert_eq!(c.offer, None);
    assert_eq!(c.assignee, Some(agent_id(2)));
    // Overtaken by a claim, the offer lapsed: not a decline.
    assert!(c.declines.is_empty());
}

#[test]
fn claim_by_the_offered_agent_takes_the_offer() {
    let mut c = offered(1);
    let events = ok(&mut c, &Command::Claim, &agent(1));
    assert_eq!(
        events,
        vec![EventKind::Assigned {
            agent: agent_id(1),
            via: AssignVia::Claim
        }]
    );
    assert_eq!(c.offer, None);
    assert!(c.declines.is_empty());
}

#[test]
fn claim_refusals() {
    let c = assigned(1);
    assert_eq!(
        refused(&c, &Command::Claim, &agent(2)),
        TransitionError::NotAssignee
    );
    assert_eq!(
        refused(&c, &Command::Claim, &agent(1)),
        invalid_state("claim", S::Assigned)
    );
    for state in [S::Bot, S::Closed] {
        assert_eq!(
            refused(&in_state(state), &Command::Claim, &agent(1)),
            invalid_state("claim", state)
        );
    }
    for actor in [Actor::Customer, Actor::Bot, Actor::System, api()] {
        assert_eq!(
            refused(&queued(), &Command::Claim, &actor),
            TransitionError::AgentRequired("claim")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Offers
// ---------------------------------------------------------------------------------------------

#[test]
fn offer_a_queued_conversation() {
    let mut c = queued();
    let events = ok(&mut c, &offer_to(2), &Actor::System);
    assert_eq!(
        events,
        vec![EventKind::Offered {
            agent: agent_id(2),
            expires_at: later(30_000),
            explanation: None,
        }]
    );
    assert_eq!(c.state, S::Queued);
    assert_eq!(
        c.offer,
        Some(Offer {
            agent: agent_id(2),
            expires_at: later(30_000)
        })
    );
}

#[test]
fn offer_only_when_queued() {
    for state in [S::Bot, S::Assigned, S::Deferred, S::Closed] {
        assert_eq!(
            refused(&in_state(state), &offer_to(2), &Actor::System),
            invalid_state("offer", state)
        );
    }
}

#[test]
fn offer_refusals() {
    assert_eq!(
        refused(&offered(1), &offer_to(2), &Actor::System),
        TransitionError::AlreadyOffered
    );
    assert_eq!(
        refused(&offered(1), &offer_to(1), &Actor::System),
        TransitionError::AlreadyOffered
    );

    for expires_at in [NOW, later(-1), T0] {
        let cmd = Command::Offer {
            agent: agent_id(1),
            expires_at,
            explanation: None,
        };
        assert_eq!(
            refused(&queued(), &cmd, &Actor::System),
            TransitionError::OfferInPast
        );
    }
    let just_after = Command::Offer {
        agent: agent_id(1),
        expires_at: later(1),
        explanation: None,
    };
    ok(&mut queued(), &just_after, &Actor::System);
}

fn decliners(c: &Conversation) -> Vec<AgentId> {
    c.declines.iter().map(|d| d.agent.clone()).collect()
}

#[test]
fn a_decline_is_recorded_with_its_time_and_a_lapse_is_not_a_decline() {
    let mut c = offered(1);
    ok(&mut c, &Command::Decline, &agent(1));
    ok(&mut c, &offer_to(2), &Actor::System);
    ok(&mut c, &Command::ExpireOffer, &Actor::System);
    assert_eq!(
        c.declines,
        vec![Decline {
            agent: agent_id(1),
            at: NOW
        }]
    );
    // The router decides when a decliner may have it again (after the queue's cool-down).
    ok(&mut c.clone(), &offer_to(1), &Actor::System);
    ok(&mut c.clone(), &offer_to(2), &Actor::System);

    // Leaving the queue and coming back forgets the declines.
    ok(&mut c, &defer(), &Actor::System);
    ok(&mut c, &Command::Requeue, &Actor::System);
    assert!(c.declines.is_empty());
    ok(&mut c, &offer_to(1), &Actor::System);
}

#[test]
fn accept_assigns_to_the_offered_agent() {
    let mut c = offered(2);
    let events = ok(&mut c, &Command::Accept, &agent(2));
    assert_eq!(
        events,
        vec![EventKind::Assigned {
            agent: agent_id(2),
            via: AssignVia::Offer
        }]
    );
    assert_eq!(c.state, S::Assigned);
    assert_eq!(c.assignee, Some(agent_id(2)));
    assert_eq!(c.offer, None);
}

#[test]
fn decline_records_the_agent_and_stays_queued() {
    let mut c = offered(2);
    let events = ok(&mut c, &Command::Decline, &agent(2));
    assert_eq!(
        events,
        vec![EventKind::OfferDeclined { agent: agent_id(2) }]
    );
    assert_eq!(c.state, S::Queued);
    assert_eq!(c.offer, None);
    assert_eq!(decliners(&c), vec![agent_id(2)]);
}

#[test]
fn accept_and_decline_only_by_the_offered_agent() {
    for cmd in [Command::Accept, Command::Decline] {
        assert_eq!(
            refused(&offered(1), &cmd, &agent(2)),
            TransitionError::NoOffer
        );
        for state in ConversationState::ALL {
            assert_eq!(
                refused(&in_state(state), &cmd, &agent(1)),
                TransitionError::NoOffer,
                "{state}"
            );
        }
        for actor in [Actor::Customer, Actor::Bot, Actor::System, api()] {
            assert_eq!(
                refused(&offered(1), &cmd, &actor),
                TransitionError::AgentRequired("answer an offer")
            );
        }
    }
}

#[test]
fn expire_offer() {
    let mut c = offered(3);
    let events = ok(&mut c, &Command::ExpireOffer, &Actor::System);
    assert_eq!(events, vec![EventKind::OfferExpired { agent: agent_id(3) }]);
    assert_eq!(c.state, S::Queued);
    assert_eq!(c.offer, None);
    assert!(c.declines.is_empty(), "a lapse is not a decline");

    for state in ConversationState::ALL {
        assert_eq!(
            refused(&in_state(state), &Command::ExpireOffer, &Actor::System),
            TransitionError::NoOffer
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Transfer
// ---------------------------------------------------------------------------------------------

#[test]
fn transfer_to_an_agent_waits_for_their_accept() {
    let mut c = assigned(1);
    let events = ok(&mut c, &transfer(Some(2), None, false), &agent(1));
    assert_eq!(
        events,
        vec![
            EventKind::TransferRequested {
                from_agent: agent_id(1),
                to_agent: Some(agent_id(2)),
                to_queue: None,
                note: "over to you".into(),
            },
            EventKind::Offered {
                agent: agent_id(2),
                expires_at: later(30_000),
                explanation: None,
            }
        ]
    );
    // The original agent keeps it (and may still write) until the target accepts.
    assert_eq!(c.state, S::Assigned);
    assert_eq!(c.assignee, Some(agent_id(1)));
    assert!(c.transfer.is_some());
    ok(&mut c, &agent_says(1), &agent(1));
    assert_eq!(
        refused(&c, &transfer(Some(3), None, false), &agent(1)),
        TransitionError::TransferPending
    );
    assert_eq!(
        refused(&c, &Command::Accept, &agent(3)),
        TransitionError::NoOffer
    );
    let events = ok(&mut c, &Command::Accept, &agent(2));
    assert_eq!(
        events,
        vec![EventKind::Transferred {
            from_agent: agent_id(1),
            to_agent: Some(agent_id(2)),
            to_queue: None,
            note: "over to you".into(),
        }]
    );
    assert_eq!(c.state, S::Assigned);
    assert_eq!(c.assignee, Some(agent_id(2)));
    assert_eq!(c.queue, Some(queue(1)));
    assert_eq!(c.assigned_at, Some(NOW));
    assert_eq!((&c.transfer, &c.offer), (&None, &None));
}

#[test]
fn a_declined_or_lapsed_transfer_to_an_agent_stays_with_the_owner() {
    for (command, actor, reason, ended) in [
        (
            Command::Decline,
            agent(2),
            "declined",
            EventKind::OfferDeclined { agent: agent_id(2) },
        ),
        (
            Command::ExpireOffer,
            Actor::System,
            "expired",
            EventKind::OfferExpired { agent: agent_id(2) },
        ),
    ] {
        let mut c = assigned(1);
        ok(&mut c, &transfer(Some(2), None, false), &agent(1));
        let events = ok(&mut c, &command, &actor);
        assert_eq!(
            events,
            vec![
                ended,
                EventKind::TransferCancelled {
                    reason: reason.into()
                }
            ]
        );
        assert_eq!(c.assignee, Some(agent_id(1)));
        assert_eq!((&c.transfer, &c.offer), (&None, &None));
        assert!(c.declines.is_empty());
        // A new transfer may be asked for.
        ok(&mut c, &transfer(Some(3), None, false), &agent(1));
    }
}

#[test]
fn a_queue_transfer_is_offered_in_turn_until_someone_accepts() {
    let mut c = assigned(1);
    let events = ok(&mut c, &transfer(None, Some(2), false), &agent(1));
    assert!(matches!(&events[..], [EventKind::TransferRequested { .. }]));
    assert_eq!((c.state, c.queue.clone()), (S::Assigned, Some(queue(1))));
    // Never back to the owner.
    assert_eq!(
        refused(&c, &offer_to(1), &Actor::System),
        TransitionError::TransferToSelf
    );
    ok(&mut c, &offer_to(2), &Actor::System);
    // A decline does not end a queue transfer: the next agent is offered it.
    let events = ok(&mut c, &Command::Decline, &agent(2));
    assert_eq!(
        events,
        vec![EventKind::OfferDeclined { agent: agent_id(2) }]
    );
    assert!(c.transfer.is_some());
    assert_eq!(decliners(&c), vec![agent_id(2)]);
    ok(&mut c, &offer_to(3), &Actor::System);
    ok(&mut c, &Command::Accept, &agent(3));
    assert_eq!(c.assignee, Some(agent_id(3)));
    assert_eq!(c.queue, Some(queue(2)));
    assert!(c.transfer.is_none() && c.declines.is_empty());
}

#[test]
fn a_pending_transfer_can_be_withdrawn_and_ends_with_a_close() {
    let mut c = assigned(1);
    ok(&mut c, &transfer(Some(2), None, false), &agent(1));
    assert_eq!(
        refused(&c, &cancel_transfer(false), &agent(3)),
        TransitionError::NotAssignee
    );
    let events = ok(&mut c, &cancel_transfer(false), &agent(1));
    assert_eq!(
        events,
        vec![
            EventKind::OfferExpired { agent: agent_id(2) },
            EventKind::TransferCancelled {
                reason: "withdrawn".into()
            }
        ]
    );
    assert_eq!(
        refused(&c, &cancel_transfer(false), &agent(1)),
        TransitionError::NoTransfer
    );
    ok(&mut c, &transfer(None, Some(2), false), &agent(1));
    let events = ok(&mut c, &close(false), &agent(1));
    assert_eq!(
        events,
        vec![
            EventKind::TransferCancelled {
                reason: "closed".into()
            },
            EventKind::Closed {
                resolution: Some("solved".into())
            }
        ]
    );
    assert!(c.transfer.is_none());
}

#[test]
fn transfers_in_logs_from_before_acceptance_still_replay() {
    // Older logs put a queue transfer straight back in the queue.
    let mut c = assigned(1);
    apply(
        &mut c,
        &EventKind::Transferred {
            from_agent: agent_id(1),
            to_agent: None,
            to_queue: Some(queue(2)),
            note: "n".into(),
        },
        NOW,
    );
    assert_eq!((c.state, c.assignee.clone()), (S::Queued, None));
    assert_eq!(c.queue, Some(queue(2)));
}

#[test]
fn transfer_refusals() {
    let c = assigned(1);
    assert_eq!(
        refused(&c, &transfer(None, None, false), &agent(1)),
        TransitionError::TransferTargetMissing
    );
    assert_eq!(
        refused(&c, &transfer(Some(1), None, false), &agent(1)),
        TransitionError::TransferToSelf
    );
    assert_eq!(
        refused(&c, &transfer(Some(1), Some(2), false), &agent(1)),
        TransitionError::TransferToSelf
    );
    assert_eq!(
        refused(&c, &transfer(Some(3), None, false), &agent(2)),
        TransitionError::NotAssignee
    );
    for state in [S::Bot, S::Queued, S::Deferred, S::Closed] {
        assert_eq!(
            refused(&in_state(state), &transfer(Some(2), None, true), &agent(1)),
            invalid_state("transfer", state)
        );
    }
}

#[test]
fn transfer_of_another_agents_conversation_with_override() {
    let mut c = assigned(1);
    let events = ok(&mut c, &transfer(Some(3), None, true), &agent(2));
    assert!(
        matches!(&events[..], [EventKind::TransferRequested { from_agent, .. }, EventKind::Offered { .. }] if *from_agent == agent_id(1)),
        "{events:?}"
    );
    ok(&mut c, &cancel_transfer(true), &agent(2));
    // The supervisor may take it themselves.
    ok(&mut c, &transfer(Some(2), None, true), &agent(2));
    ok(&mut c, &Command::Accept, &agent(2));
    assert_eq!(c.assignee, Some(agent_id(2)));
}

#[test]
fn transfer_by_integrations_is_authorised_upstream() {
    for actor in [Actor::System, api()] {
        let mut c = assigned(1);
        ok(&mut c, &transfer(None, Some(2), false), &actor);
        assert!(c.transfer.is_some());
        ok(&mut c, &cancel_transfer(false), &actor);
    }
}

// ---------------------------------------------------------------------------------------------
// Defer and requeue
// ---------------------------------------------------------------------------------------------

#[test]
fn defer_from_bot_and_queued() {
    for state in [S::Bot, S::Queued] {
        let mut c = in_state(state);
        let events = ok(&mut c, &defer(), &Actor::System);
        assert_eq!(
            events,
            vec![EventKind::Deferred {
                reason: "after_hours".into(),
                back_at: Some(NOW.plus_millis(3_600_000)),
            }],
            "{state}"
        );
        assert_eq!(c.state, S::Deferred);
        assert_eq!(c.back_at, Some(NOW.plus_millis(3_600_000)));
        ok(&mut c, &Command::Requeue, &Actor::System);
        assert_eq!(c.back_at, None, "only while deferred");
    }
}

#[test]
fn defer_expires_a_pending_offer() {
    let mut c = offered(2);
    let events = ok(&mut c, &defer(), &Actor::System);
    assert_eq!(
        events,
        vec![
            EventKind::OfferExpired { agent: agent_id(2) },
            EventKind::Deferred {
                reason: "after_hours".into(),
                back_at: Some(NOW.plus_millis(3_600_000)),
            },
        ]
    );
    assert_eq!(c.state, S::Deferred);
    assert_eq!(c.offer, None);
}

#[test]
fn defer_refused_when_assigned_deferred_or_closed() {
    for state in [S::Assigned, S::Deferred, S::Closed] {
        assert_eq!(
            refused(&in_state(state), &defer(), &Actor::System),
            invalid_state("defer", state)
        );
    }
}

#[test]
fn requeue_a_deferred_conversation() {
    let mut c = offered(1);
    ok(&mut c, &Command::Decline, &agent(1));
    ok(&mut c, &defer(), &Actor::System);
    assert_eq!(decliners(&c), vec![agent_id(1)]);
    let events = ok(&mut c, &Command::Requeue, &Actor::System);
    assert_eq!(events, vec![EventKind::Requeued]);
    assert_eq!(c.state, S::Queued);
    assert_eq!(c.queue, Some(queue(1)));
    assert_eq!(c.queued_at, Some(NOW));
    assert!(c.declines.is_empty());

    for state in [S::Bot, S::Queued, S::Assigned, S::Closed] {
        assert_eq!(
            refused(&in_state(state), &Command::Requeue, &Actor::System),
            invalid_state("requeue", state)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Priority
// ---------------------------------------------------------------------------------------------

#[test]
fn set_priority_in_every_open_state() {
    for state in not_closed() {
        let mut c = in_state(state);
        let events = ok(&mut c, &Command::SetPriority(prio(99)), &Actor::System);
        assert_eq!(
            events,
            vec![EventKind::PriorityChanged { priority: prio(99) }],
            "{state}"
        );
        assert_eq!(c.priority, prio(99));
        assert_eq!(c.state, state);
    }
}

#[test]
fn set_priority_to_the_same_value_produces_nothing() {
    let mut c = queued();
    let before = c.clone();
    assert_eq!(
        ok(
            &mut c,
            &Command::SetPriority(Priority::DEFAULT),
            &Actor::System
        ),
        vec![]
    );
    assert_eq!(c, before, "no event, no version bump");
}

#[test]
fn set_priority_refused_when_closed() {
    assert_eq!(
        refused(&closed(), &Command::SetPriority(prio(1)), &Actor::System),
        invalid_state("reprioritise", S::Closed)
    );
}

// ---------------------------------------------------------------------------------------------
// Close
// ---------------------------------------------------------------------------------------------

#[test]
fn close_from_every_open_state() {
    for state in not_closed() {
        let mut c = in_state(state);
        let events = ok(&mut c, &close(false), &Actor::System);
        assert_eq!(
            events,
            vec![EventKind::Closed {
                resolution: Some("solved".into())
            }],
            "{state}"
        );
        assert_eq!(c.state, S::Closed);
        assert_eq!(c.assignee, None);
        assert_eq!(c.offer, None);
        assert_eq!(c.resolution.as_deref(), Some("solved"));
        assert_eq!(c.closed_at, Some(NOW));
    }
}

#[test]
fn close_withdraws_a_pending_offer() {
    let mut c = offered(1);
    ok(&mut c, &close(false), &Actor::System);
    assert_eq!(c.offer, None);
}

#[test]
fn close_by_the_owner_or_with_override() {
    let c = assigned(1);
    assert_eq!(
        refused(&c, &close(false), &agent(2)),
        TransitionError::NotAssignee
    );
    ok(&mut c.clone(), &close(false), &agent(1));
    ok(&mut c.clone(), &close(true), &agent(2));
    ok(&mut c.clone(), &close(false), &api());
    // Unassigned conversations may be closed by any agent.
    ok(&mut queued(), &close(false), &agent(2));
}

#[test]
fn close_refused_when_closed() {
    for actor in [Actor::System, agent(1)] {
        assert_eq!(
            refused(&closed(), &close(true), &actor),
            invalid_state("close", S::Closed)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CSAT
// ---------------------------------------------------------------------------------------------

#[test]
fn csat_only_when_closed_and_only_once() {
    let mut c = closed();
    let events = ok(&mut c, &csat(5), &Actor::Customer);
    assert_eq!(
        events,
        vec![EventKind::CsatRecorded {
            score: score(5),
            comment: Some("thanks".into())
        }]
    );
    assert_eq!(c.csat, Some(score(5)));
    assert_eq!(
        refused(&c, &csat(1), &Actor::Customer),
        TransitionError::CsatAlreadyRecorded
    );

    for state in not_closed() {
        assert_eq!(
            refused(&in_state(state), &csat(3), &Actor::Customer),
            invalid_state("rate", state)
        );
    }
}

#[test]
fn reopening_clears_csat_so_the_next_closing_can_be_rated() {
    let mut c = closed();
    ok(&mut c, &csat(2), &Actor::Customer);
    ok(&mut c, &say(MessageRole::Customer), &Actor::Customer);
    assert_eq!(c.csat, None);
    ok(&mut c, &close(false), &Actor::System);
    ok(&mut c, &csat(5), &Actor::Customer);
    assert_eq!(c.csat, Some(score(5)));
}

// ---------------------------------------------------------------------------------------------
// Small pieces
// ---------------------------------------------------------------------------------------------

#[test]
fn state_names_round_trip() {
    for state in ConversationState::ALL {
        assert_eq!(ConversationState::parse(state.as_str()), Some(state));
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
    }
    assert_eq!(ConversationState::parse("open"), None);
}

#[test]
fn error_codes_and_messages() {
    let err = invalid_state("close", S::Closed);
    assert_eq!(err.code(), "invalid_state");
    assert_eq!(
        err.to_string(),
        "cannot close a conversation that is closed"
    );
    assert_eq!(
        TransitionError::AgentRequired("claim").to_string(),
        "only an agent can claim"
    );
    assert_eq!(TransitionError::TransferToSelf.code(), "transfer_to_self");
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// One generated step: how long after the previous one, what, by whom.
///
/// `Command::Offer::expires_at` is generated *relative* to the step's time (as milliseconds)
/// and made absolute by [`Step::command_at`], so offers are mostly, but not always, valid.
#[derive(Debug, Clone)]
struct Step {
    gap_ms: i64,
    command: Command,
    actor: Actor,
}

impl Step {
    fn command_at(&self, now: Timestamp) -> Command {
        match &self.command {
            Command::Offer {
                agent,
                expires_at,
                explanation,
            } => Command::Offer {
                agent: agent.clone(),
                expires_at: now.plus_millis(expires_at.millis()),
                explanation: explanation.clone(),
            },
            Command::Transfer {
                to_agent,
                to_queue,
                note,
                expires_at,
                override_owner,
            } => Command::Transfer {
                to_agent: to_agent.clone(),
                to_queue: to_queue.clone(),
                note: note.clone(),
                expires_at: now.plus_millis(expires_at.millis()),
                override_owner: *override_owner,
            },
            other => other.clone(),
        }
    }
}

fn arb_agent_id() -> impl Strategy<Value = AgentId> {
    (1u8..=3).prop_map(agent_id)
}

fn arb_queue() -> impl Strategy<Value = Option<QueueId>> {
    prop::option::of((1u8..=2).prop_map(queue))
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        2 => Just(Actor::Customer),
        1 => Just(Actor::Bot),
        1 => Just(Actor::System),
        1 => Just(api()),
        6 => arb_agent_id().prop_map(|id| Actor::Agent { id }),
    ]
}

fn arb_priority() -> impl Strategy<Value = Priority> {
    prop_oneof![Just(0i64), Just(50), Just(80), 0i64..=100].prop_map(prio)
}

fn arb_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![Just("".to_string()), "[a-z é]{1,8}"])
}

fn arb_message() -> impl Strategy<Value = MessageRecord> {
    // Customer turns are the most common, and the only way out of `closed`.
    let role = prop_oneof![
        3 => Just(MessageRole::Customer),
        1 => prop::sample::select(MessageRole::ALL.to_vec()),
    ];
    let bot = prop::option::of(
        (
            prop::option::of(prop_oneof![Just(0.0), Just(0.25), Just(1.0)]),
            arb_text(),
            any::<bool>(),
        )
            .prop_map(|(confidence, intent, fallback)| BotTurn {
                confidence,
                intent,
                fallback,
            }),
    );
    (
        role,
        0u32..1000,
        prop::option::of(arb_agent_id()),
        arb_text(),
        bot,
    )
        .prop_map(|(role, n, agent, external_id, bot)| MessageRecord {
            id: MessageId::parse(format!("msg_{n}")).unwrap(),
            role,
            text: format!("turn {n}"),
            agent,
            external_id,
            bot,
            attachment: None,
        })
}

fn arb_command() -> impl Strategy<Value = Command> {
    let handoff_source = prop::sample::select(vec![
        HandoffSource::Customer,
        HandoffSource::Bot,
        HandoffSource::Agent,
        HandoffSource::Api,
        HandoffSource::Rule,
    ]);
    prop_oneof![
        6 => arb_message().prop_map(Command::AddMessage),
        3 => (
            prop::sample::select(vec!["customer_request", "sensitive_topic:refund"]),
            handoff_source,
            arb_queue(),
            prop::option::of(arb_priority()),
            arb_text()
        )
            .prop_map(|(reason, source, queue, priority, note)| Command::RequestHandoff {
                reason: reason.into(),
                source,
                queue,
                priority,
                note,
            }),
        3 => Just(Command::Claim),
        // expires_at relative to the step's time; see `Step`.
        5 => (arb_agent_id(), -1_000i64..60_000).prop_map(|(agent, rel)| Command::Offer {
            agent,
            expires_at: Timestamp::from_millis(rel),
            explanation: None,
        }),
        4 => Just(Command::Accept),
        4 => Just(Command::Decline),
        2 => Just(Command::ExpireOffer),
        3 => (prop::option::of(arb_agent_id()), arb_queue(), any::<bool>()).prop_map(
            |(to_agent, to_queue, override_owner)| Command::Transfer {
                to_agent,
                to_queue,
                note: "handing over".into(),
                expires_at: Timestamp::from_millis(30_000),
                override_owner,
            }
        ),
        1 => any::<bool>().prop_map(|override_owner| Command::CancelTransfer { override_owner }),
        1 => prop::sample::select(vec!["after_hours", "no_agent_available"])
            .prop_map(|r| Command::Defer { reason: r.into(), back_at: None }),
        2 => Just(Command::Requeue),
        1 => arb_priority().prop_map(Command::SetPriority),
        1 => (prop::option::of(Just("solved".to_string())), any::<bool>())
            .prop_map(|(resolution, override_owner)| Command::Close { resolution, override_owner }),
        1 => ((1i64..=5).prop_map(score), arb_text())
            .prop_map(|(score, comment)| Command::RecordCsat { score, comment }),
    ]
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (1i64..=5_000, arb_command(), arb_actor()).prop_map(|(gap_ms, command, actor)| Step {
            gap_ms,
            command,
            actor,
        }),
        1..80,
    )
}

/// The invariants every reachable conversation satisfies.
fn check_invariants(c: &Conversation, log: &[(EventKind, Timestamp)]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        c.state == S::Assigned,
        c.assignee.is_some(),
        "assignee iff assigned: {:?}",
        c
    );
    if let Some(t) = &c.transfer {
        prop_assert_eq!(
            c.state,
            S::Assigned,
            "transfer of an unowned conversation: {:?}",
            c
        );
        prop_assert_eq!(
            c.assignee.as_ref(),
            Some(&t.from_agent),
            "owner changed: {:?}",
            c
        );
        if let (Some(to), Some(offer)) = (&t.to_agent, &c.offer) {
            prop_assert_eq!(
                to,
                &offer.agent,
                "transfer offered to someone else: {:?}",
                c
            );
        }
    }
    if let Some(offer) = &c.offer {
        prop_assert!(
            c.state == S::Queued || c.transfer.is_some(),
            "offer outside the queue: {:?}",
            c
        );
        prop_assert!(
            c.assignee.as_ref() != Some(&offer.agent),
            "offer to the owner: {:?}",
            c
        );
    }
    if c.state == S::Closed {
        prop_assert!(
            c.assignee.is_none() && c.offer.is_none(),
            "closed but held: {:?}",
            c
        );
        prop_assert!(c.closed_at.is_some());
    } else {
        prop_assert!(
            c.closed_at.is_none() && c.resolution.is_none(),
            "stale close data: {:?}",
            c
        );
    }
    if c.csat.is_some() {
        prop_assert_eq!(c.state, S::Closed, "csat on an open conversation");
    }
    let mut declined = decliners(c);
    declined.sort();
    declined.dedup();
    prop_assert_eq!(declined.len(), c.declines.len(), "duplicate declines");

    prop_assert_eq!(c.version as usize, log.len(), "version counts events");
    let turns = log
        .iter()
        .filter(|(e, _)| matches!(e, EventKind::MessageAdded { message } if message.role != MessageRole::Note))
        .count();
    prop_assert_eq!(
        c.message_count as usize,
        turns,
        "message_count counts non-note messages"
    );
    prop_assert_eq!(c.updated_at, log.last().map(|(_, at)| *at).unwrap());
    Ok(())
}

fn check_serde_round_trip(event: &EventKind) -> Result<(), TestCaseError> {
    let value = serde_json::to_value(event).unwrap();
    prop_assert_eq!(
        value["type"].as_str(),
        Some(event.name()),
        "tag is the event name"
    );
    let back: EventKind = serde_json::from_value(value.clone()).unwrap();
    prop_assert_eq!(&back, event, "serde round trip via {}", value);
    Ok(())
}

// ---------------------------------------------------------------- routing bookkeeping

#[test]
fn handoff_starts_the_overflow_clock() {
    let c = queued();
    assert_eq!(c.overflow_stage, 0);
    assert_eq!(c.entered_queue_at, Some(NOW));
    assert_eq!(c.position, None);
}

#[test]
fn change_queue_moves_a_queued_conversation_and_resets_overflow() {
    let mut c = queued();
    ok(
        &mut c,
        &Command::RecordOverflowStep { stage: 2 },
        &Actor::System,
    );
    assert_eq!(c.overflow_stage, 2);
    ok(
        &mut c,
        &Command::SetPosition {
            position: 3,
            estimated_wait_secs: Some(60),
        },
        &Actor::System,
    );
    let events = ok(
        &mut c,
        &Command::ChangeQueue { queue: queue(2) },
        &Actor::System,
    );
    assert_eq!(events, vec![EventKind::QueueChanged { queue: queue(2) }]);
    assert_eq!(c.queue, Some(queue(2)));
    assert_eq!(c.overflow_stage, 0);
    assert_eq!(c.entered_queue_at, Some(NOW));
    assert_eq!((c.position, c.estimated_wait_secs), (None, None));
    assert_eq!(c.state, S::Queued);
    // Same queue: nothing to record.
    assert!(
        ok(
            &mut c,
            &Command::ChangeQueue { queue: queue(2) },
            &Actor::System
        )
        .is_empty()
    );
}

#[test]
fn change_queue_withdraws_a_pending_offer() {
    let mut c = queued();
    ok(&mut c, &offer_to(2), &Actor::System);
    let events = ok(
        &mut c,
        &Command::ChangeQueue { queue: queue(3) },
        &Actor::System,
    );
    assert_eq!(
        events,
        vec![
            EventKind::OfferExpired { agent: agent_id(2) },
            EventKind::QueueChanged { queue: queue(3) },
        ]
    );
    assert_eq!(c.offer, None);
}

#[test]
fn change_queue_only_while_queued() {
    let mut c = queued();
    ok(&mut c, &Command::Claim, &agent(1));
    assert!(matches!(
        refused(
            &c,
            &Command::ChangeQueue { queue: queue(2) },
            &Actor::System
        ),
        TransitionError::InvalidState { .. }
    ));
    assert!(matches!(
        refused(
            &conv(),
            &Command::ChangeQueue { queue: queue(2) },
            &Actor::System
        ),
        TransitionError::InvalidState { .. }
    ));
}

#[test]
fn overflow_step_recorded_while_waiting_and_reset_on_requeue() {
    let mut c = queued();
    let events = ok(
        &mut c,
        &Command::RecordOverflowStep { stage: 1 },
        &Actor::System,
    );
    assert_eq!(events, vec![EventKind::OverflowStep { stage: 1 }]);
    assert!(
        ok(
            &mut c,
            &Command::RecordOverflowStep { stage: 1 },
            &Actor::System
        )
        .is_empty()
    );
    ok(&mut c, &defer(), &Actor::System);
    ok(
        &mut c,
        &Command::RecordOverflowStep { stage: 2 },
        &Actor::System,
    );
    assert_eq!(c.overflow_stage, 2);
    ok(&mut c, &Command::Requeue, &Actor::System);
    assert_eq!(c.overflow_stage, 0);
    ok(&mut c, &Command::Claim, &agent(1));
    assert!(matches!(
        refused(
            &c,
            &Command::RecordOverflowStep { stage: 1 },
            &Actor::System
        ),
        TransitionError::InvalidState { .. }
    ));
}

#[test]
fn transfer_to_a_queue_resets_overflow() {
    let mut c = queued();
    ok(
        &mut c,
        &Command::RecordOverflowStep { stage: 1 },
        &Actor::System,
    );
    ok(&mut c, &Command::Claim, &agent(1));
    apply(
        &mut c,
        &EventKind::Transferred {
            from_agent: agent_id(1),
            to_agent: None,
            to_queue: Some(queue(2)),
            note: "n".into(),
        },
        NOW,
    );
    assert_eq!(c.state, S::Queued);
    assert_eq!(c.overflow_stage, 0);
    assert_eq!(c.entered_queue_at, Some(NOW));
}

#[test]
fn positions_recorded_only_when_changed_and_cleared_on_leaving_the_line() {
    let mut c = queued();
    let set = |p, w| Command::SetPosition {
        position: p,
        estimated_wait_secs: w,
    };
    assert_eq!(
        ok(&mut c, &set(2, Some(300)), &Actor::System),
        vec![EventKind::QueuePositions {
            position: 2,
            estimated_wait_secs: Some(300)
        }]
    );
    assert!(ok(&mut c, &set(2, Some(300)), &Actor::System).is_empty());
    assert_eq!(ok(&mut c, &set(1, Some(150)), &Actor::System).len(), 1);
    assert_eq!((c.position, c.estimated_wait_secs), (Some(1), Some(150)));
    ok(&mut c, &offer_to(2), &Actor::System);
    assert_eq!(c.position, None);
    assert_eq!(
        refused(&c, &set(1, None), &Actor::System),
        TransitionError::AlreadyOffered
    );
    ok(&mut c, &Command::Accept, &agent(2));
    assert!(matches!(
        refused(&c, &set(1, None), &Actor::System),
        TransitionError::InvalidState { .. }
    ));
}

#[test]
fn offer_explanation_is_kept_on_the_projection() {
    let mut c = queued();
    let why = serde_json::json!({"winner_reason": "longest idle"});
    let cmd = Command::Offer {
        agent: agent_id(2),
        expires_at: later(30_000),
        explanation: Some(why.clone()),
    };
    let events = ok(&mut c, &cmd, &Actor::System);
    assert_eq!(
        events,
        vec![EventKind::Offered {
            agent: agent_id(2),
            expires_at: later(30_000),
            explanation: Some(why.clone()),
        }]
    );
    assert_eq!(c.routing, Some(why.clone()));
    // It lapses: the explanation naming agent 2 is no longer true.
    let mut lapsed = c.clone();
    ok(&mut lapsed, &Command::ExpireOffer, &Actor::System);
    assert_eq!(lapsed.routing, None);
    // Accepted, it stays: it explains how she got it.
    let mut taken = c.clone();
    ok(&mut taken, &Command::Accept, &agent(2));
    assert_eq!(taken.routing, Some(why));
    // Events stored before the field existed still parse.
    let old = serde_json::json!({"type": "offered", "agent": "agt_2", "expires_at": later(1)});
    let parsed: EventKind = serde_json::from_value(old).unwrap();
    assert!(matches!(
        parsed,
        EventKind::Offered {
            explanation: None,
            ..
        }
    ));
    // Projections stored before the routing fields existed still parse.
    let mut value = serde_json::to_value(&c).unwrap();
    for field in [
        "overflow_stage",
        "entered_queue_at",
        "position",
        "estimated_wait_secs",
        "routing",
    ] {
        value.as_object_mut().unwrap().remove(field);
    }
    let back: Conversation = serde_json::from_value(value).unwrap();
    assert_eq!(back.overflow_stage, 0);
    assert_eq!(back.routing, None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_histories_keep_the_invariants_and_replay(steps in arb_steps()) {
        let mut c = conv();
        let mut log = vec![(started_event(), T0)];
        let mut now = T0;
        check_invariants(&c, &log)?;

        for step in &steps {
            now = now.plus_millis(step.gap_ms);
            let command = step.command_at(now);
            let before = c.clone();
            let decided = decide(&c, &command, &step.actor, now);
            // `decide` borrows the state immutably (the compiler proves it changes nothing);
            // what a test can check is that it is a function of its inputs alone.
            prop_assert_eq!(
                &decide(&c, &command, &step.actor, now),
                &decided,
                "decide is deterministic"
            );

            match execute(&mut c, &command, &step.actor, now) {
                Ok(events) => {
                    prop_assert_eq!(Ok(events.clone()), decided, "execute applies what decide says");
                    prop_assert_eq!(c.version, before.version + events.len() as u32);
                    for event in events {
                        prop_assert!(!matches!(event, EventKind::Started { .. }), "decide never starts");
                        check_serde_round_trip(&event)?;
                        log.push((event, now));
                    }
                }
                Err(err) => {
                    prop_assert_eq!(Err(err), decided);
                    prop_assert_eq!(&c, &before, "a refused command leaves it unchanged");
                }
            }
            check_invariants(&c, &log)?;
        }

        // Replaying the log from scratch rebuilds the same projection.
        let mut replayed = blank();
        for (event, at) in &log {
            apply(&mut replayed, event, *at);
        }
        prop_assert_eq!(&replayed, &c);

        // The projection itself survives the store's JSON round trip.
        let back: Conversation = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        prop_assert_eq!(back, c);
    }
}

#[test]
fn a_first_reply_is_overdue_only_until_the_owner_writes() {
    let mut c = assigned(1);
    assert!(!c.agent_replied);
    let overdue = Command::FlagFirstReplyOverdue { after_secs: 60 };
    let events = ok(&mut c.clone(), &overdue, &Actor::System);
    assert_eq!(
        events,
        vec![EventKind::FirstReplyOverdue {
            agent: agent_id(1),
            after_secs: 60
        }]
    );
    // Told once: a second flag for the same assignment is refused.
    let mut flagged = c.clone();
    ok(&mut flagged, &overdue, &Actor::System);
    assert!(flagged.first_reply_alerted);
    refused(&flagged, &overdue, &Actor::System);
    ok(&mut c, &agent_says(1), &agent(1));
    assert!(c.agent_replied);
    assert!(matches!(
        refused(&c, &overdue, &Actor::System),
        TransitionError::InvalidState { .. }
    ));
    // A new owner must write for herself.
    ok(&mut c, &transfer(Some(2), None, false), &agent(1));
    ok(&mut c, &Command::Accept, &agent(2));
    assert!(!c.agent_replied);
    // The new owner is told for herself, even after her predecessor was.
    let mut late = flagged;
    ok(&mut late, &transfer(Some(2), None, false), &agent(1));
    ok(&mut late, &Command::Accept, &agent(2));
    assert!(!late.first_reply_alerted);
    ok(&mut late, &overdue, &Actor::System);
    refused(&in_state(S::Queued), &overdue, &Actor::System);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Capacity is a hard limit on every path: whatever commands run on several conversations
    /// (claims, offers, accepts, directed transfers, takeovers...), when each is checked as the
    /// store checks it ([`new_holders`], [`check_capacity`] against the count of what the agent
    /// holds) no agent ever holds more than her capacity, unless a supervisor overrode it, which
    /// is then recorded.
    #[test]
    fn capacity_holds_on_every_path(
        caps in prop::collection::vec(0u32..3, 3),
        steps in prop::collection::vec((0usize..4, any::<bool>()), 1..120),
        commands in arb_steps(),
    ) {
        let mut convs: Vec<Conversation> = (0..4)
            .map(|i| {
                let mut c = conv();
                c.id = ConversationId::parse(format!("conv_{i}")).unwrap();
                c
            })
            .collect();
        let mut now = T0;
        let mut overridden = 0;
        for ((i, override_capacity), step) in steps.iter().zip(commands.iter().cycle()) {
            now = now.plus_millis(step.gap_ms);
            let command = step.command_at(now);
            let before = convs[*i].clone();
            let mut after = before.clone();
            let Ok(mut events) = execute(&mut after, &command, &step.actor, now) else {
                continue;
            };
            let mut refused = false;
            for agent in new_holders(&before, &after) {
                let n = agent.as_str()[4..].parse::<usize>().unwrap() - 1;
                let held = convs.iter().filter(|c| holds(c, &agent)).count() as u32;
                match check_capacity(&before, &after, &agent, "who", held, caps[n], *override_capacity) {
                    Ok(Some(event)) => {
                        apply(&mut after, &event, now);
                        events.push(event);
                        overridden += 1;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        prop_assert_eq!(e.code(), "agent_at_capacity");
                        refused = true;
                    }
                }
            }
            if refused {
                continue;
            }
            convs[*i] = after;
            for (n, cap) in caps.iter().enumerate() {
                let agent = agent_id(n as u8 + 1);
                let held = convs.iter().filter(|c| holds(c, &agent)).count() as u32;
                prop_assert!(
                    held <= *cap || overridden > 0,
                    "{} holds {} over capacity {} without an override",
                    agent,
                    held,
                    cap
                );
            }
        }
    }
}
