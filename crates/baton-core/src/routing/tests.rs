use super::Strategy as RouteStrategy;
use super::sim::{SimConfig, simulate};
use super::*;
use crate::ids::{AgentId, ConversationId, QueueId};
use crate::time::Timestamp;
use crate::values::{AgentStatus, Priority};
use proptest::prelude::{Strategy, *};
use std::collections::{BTreeMap, HashMap};

fn q(s: &str) -> QueueId {
    QueueId::parse(s).unwrap()
}
fn a(s: &str) -> AgentId {
    AgentId::parse(s).unwrap()
}
fn c(s: &str) -> ConversationId {
    ConversationId::parse(s).unwrap()
}
fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}
fn agent(id: &str, queues: &[&str], idle: i64) -> AgentInfo {
    AgentInfo::new(a(id), queues.iter().map(|s| q(s)).collect(), t(idle))
}
fn waiting(id: &str, queue: &str, at: i64) -> ConversationInfo {
    ConversationInfo::waiting(c(id), q(queue), t(at))
}
fn router(queues: Vec<QueueConfig>, agents: Vec<AgentInfo>) -> Router {
    let mut r = Router::new(
        RouterConfig {
            queues,
            ..Default::default()
        },
        agents,
        vec![],
    )
    .unwrap();
    assert!(r.route_all(t(0)).is_empty());
    r
}
fn offers(ds: &[Decision]) -> Vec<(String, String)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Offer {
                conversation,
                agent,
                ..
            }
            | Decision::Assign {
                conversation,
                agent,
                ..
            } => Some((conversation.to_string(), agent.to_string())),
            _ => None,
        })
        .collect()
}
fn pair(conv: &str, agent: &str) -> (String, String) {
    (conv.to_string(), agent.to_string())
}

#[test]
fn a_decline_cools_down_and_a_lapse_sets_the_agent_away() {
    let mut r = router(
        vec![QueueConfig::new(q("support"))],
        vec![
            agent("ann", &["support"], 30),
            agent("bob", &["support"], 10),
            agent("cy", &["support"], 20),
        ],
    );
    let d = r
        .conversation_queued(waiting("c1", "support", 100), t(100))
        .unwrap();
    assert_eq!(offers(&d), vec![pair("c1", "bob")]);
    let Decision::Offer {
        expires_at,
        explanation,
        ..
    } = &d[0]
    else {
        panic!("{d:?}")
    };
    assert_eq!(*expires_at, t(130));
    assert_eq!(explanation.strategy, RouteStrategy::LongestIdle);
    assert!(
        explanation.winner_reason.contains("longest idle"),
        "{explanation:?}"
    );

    let d = r.offer_declined(&c("c1"), &a("bob"), t(105)).unwrap();
    assert_eq!(offers(&d), vec![pair("c1", "cy")]);
    assert_eq!(r.next_timer(), Some(t(135)));
    // cy lets it lapse: she is set away (default `missed_offer`), and it goes on at once.
    let d = r.tick(t(135));
    assert!(
        matches!(&d[0], Decision::AgentAway { agent, reason } if agent.as_str() == "cy" && reason == "missed_offer"),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::OfferExpired { agent, .. } if agent.as_str() == "cy")),
        "{d:?}"
    );
    assert_eq!(offers(&d), vec![pair("c1", "ann")]);
    r.check_invariants(t(135)).unwrap();
    // ann lets it lapse too: set away. bob is within his cool-down: it waits, with a timer at
    // the end of the cool-down (declined at 105 + 300 s).
    let d = r.tick(t(165));
    assert!(offers(&d).is_empty(), "{d:?}");
    assert_eq!(r.conversation_state(&c("c1")), Some(RoutingState::Waiting));
    assert_eq!(r.next_timer(), Some(t(405)));
    assert!(r.offer_declined(&c("c1"), &a("ann"), t(170)).is_err());
    r.check_invariants(t(170)).unwrap();
    // Nobody else may take it: after the cool-down it comes back to bob.
    let d = r.tick(t(405));
    assert_eq!(offers(&d), vec![pair("c1", "bob")], "{d:?}");
    r.check_invariants(t(405)).unwrap();
    // Back from away, cy may be offered it again (bob declines once more).
    r.agent_status(&a("cy"), AgentStatus::Available, t(406));
    let d = r.offer_declined(&c("c1"), &a("bob"), t(407)).unwrap();
    assert_eq!(offers(&d), vec![pair("c1", "cy")], "{d:?}");
    r.check_invariants(t(407)).unwrap();
}

#[test]
fn why_not_says_what_keeps_an_agent_from_a_conversation() {
    let mut qc = QueueConfig::new(q("billing"));
    qc.eligibility.required_skills = vec![SkillRequirement {
        skill: "billing".into(),
        min_level: 5,
    }];
    let mut ann = agent("ann", &["billing"], 0);
    ann.skills = BTreeMap::from([("billing".to_string(), 7)]);
    let mut bob = agent("bob", &["billing"], 5);
    bob.skills = BTreeMap::from([("billing".to_string(), 2)]);
    let mut r = router(vec![qc], vec![ann, bob, agent("cy", &["other"], 0)]);
    r.conversation_queued(waiting("c1", "billing", 10), t(10))
        .unwrap();
    assert_eq!(r.why_not(&c("c1"), &a("ann"), t(10)), Some(vec![]));
    let bob_why = r.why_not(&c("c1"), &a("bob"), t(10)).unwrap();
    assert!(
        bob_why.iter().any(|w| w.contains("offered to ann")),
        "{bob_why:?}"
    );
    assert!(
        bob_why
            .iter()
            .any(|w| w.contains("skill billing at level 5")),
        "{bob_why:?}"
    );
    let cy_why = r.why_not(&c("c1"), &a("cy"), t(10)).unwrap();
    assert!(
        cy_why
            .iter()
            .any(|w| w.contains("do not work queue billing")),
        "{cy_why:?}"
    );
    r.offer_declined(&c("c1"), &a("ann"), t(11)).unwrap();
    let ann_why = r.why_not(&c("c1"), &a("ann"), t(11)).unwrap();
    assert!(
        ann_why.iter().any(|w| w.contains("cool-down, 300 s left")),
        "{ann_why:?}"
    );
    assert_eq!(r.why_not(&c("nope"), &a("ann"), t(11)), None);
}

#[test]
fn keep_available_lets_a_lapsed_offer_come_back_when_nobody_else_may_take_it() {
    let mut qc = QueueConfig::new(q("support"));
    qc.missed_offer = MissedOffer::KeepAvailable;
    let mut r = router(vec![qc], vec![agent("ann", &["support"], 0)]);
    let d = r
        .conversation_queued(waiting("c1", "support", 1), t(1))
        .unwrap();
    assert_eq!(offers(&d), vec![pair("c1", "ann")]);
    let d = r.tick(t(31));
    assert!(!d.iter().any(|d| matches!(d, Decision::AgentAway { .. })));
    assert_eq!(offers(&d), vec![pair("c1", "ann")], "{d:?}");
    r.check_invariants(t(31)).unwrap();
}

#[test]
fn a_busy_agent_whose_offer_lapses_stays_busy() {
    let mut r = router(
        vec![QueueConfig::new(q("support"))],
        vec![agent("ann", &["support"], 0)],
    );
    let d = r
        .conversation_queued(waiting("c1", "support", 1), t(1))
        .unwrap();
    assert_eq!(offers(&d), vec![pair("c1", "ann")]);
    r.agent_status(&a("ann"), AgentStatus::Busy, t(2));
    let d = r.tick(t(31));
    assert!(
        !d.iter().any(|d| matches!(d, Decision::AgentAway { .. })),
        "{d:?}"
    );
    assert!(
        d.iter().any(|d| matches!(d, Decision::OfferExpired { .. })),
        "{d:?}"
    );
    // Busy still staffs the queue: it waits rather than being deferred.
    assert_eq!(r.conversation_state(&c("c1")), Some(RoutingState::Waiting));
    r.check_invariants(t(31)).unwrap();
}

#[test]
fn only_available_or_busy_agents_staff_a_queue() {
    let mut r = router(
        vec![QueueConfig::new(q("support"))],
        vec![agent("ann", &["support"], 0)],
    );
    r.agent_status(&a("ann"), AgentStatus::Away, t(1));
    let d = r
        .conversation_queued(waiting("c1", "support", 2), t(2))
        .unwrap();
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::Defer { reason, .. } if reason == "no_agent_available")),
        "{d:?}"
    );
    // Busy staffs the queue (no offers): a new one waits instead of being deferred, and the
    // deferred one is requeued.
    let d = r.agent_status(&a("ann"), AgentStatus::Busy, t(3));
    assert!(
        d.iter().any(|d| matches!(d, Decision::Requeue { .. })),
        "{d:?}"
    );
    assert_eq!(r.conversation_state(&c("c1")), Some(RoutingState::Waiting));
    r.check_invariants(t(3)).unwrap();
}

#[test]
fn capacity_is_never_exceeded_and_frees_on_close_and_transfer() {
    let mut ann = agent("ann", &["support"], 0);
    ann.capacity = 2;
    let mut qc = QueueConfig::new(q("support"));
    qc.auto_accept = true;
    let mut r = router(vec![qc, QueueConfig::new(q("billing"))], vec![ann]);
    for (i, id) in ["c1", "c2", "c3"].iter().enumerate() {
        r.conversation_queued(waiting(id, "support", i as i64), t(i as i64))
            .unwrap();
    }
    assert_eq!(r.agent_load(&a("ann")), Some(2));
    assert_eq!(r.conversation_state(&c("c3")), Some(RoutingState::Waiting));
    let d = r.conversation_closed(&c("c1"), t(60));
    assert_eq!(offers(&d), vec![pair("c3", "ann")]);
    r.conversation_queued(waiting("c4", "support", 61), t(61))
        .unwrap();
    // Transfer to a queue with nobody frees capacity: c4 goes to ann, c2 is deferred.
    let d = r
        .conversation_transferred(&c("c2"), &TransferTarget::Queue(q("billing")), t(70))
        .unwrap();
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::Defer { reason, .. } if reason == "no_agent_available")),
        "{d:?}"
    );
    assert_eq!(offers(&d), vec![pair("c4", "ann")]);
    assert_eq!(r.agent_load(&a("ann")), Some(2));
    r.check_invariants(t(70)).unwrap();
}

#[test]
fn priority_first_fifo_within_equal_priority_and_aging_prevents_starvation() {
    let mut qc = QueueConfig::new(q("support"));
    qc.aging_per_minute = 1.0;
    let mut r = router(vec![qc], vec![]);
    let mut low = waiting("low", "support", 0);
    low.priority = Priority::new(40).unwrap();
    r.conversation_queued(low, t(0)).unwrap();
    r.conversation_queued(waiting("mid1", "support", 1), t(1))
        .unwrap();
    r.conversation_queued(waiting("mid2", "support", 2), t(2))
        .unwrap();
    let mut vip = waiting("vip", "support", 3);
    vip.priority = Priority::new(90).unwrap();
    r.conversation_queued(vip, t(3)).unwrap();
    // Agents appear one by one, no agent yet so everything was deferred; requeue keeps order.
    let d = r.agent_changed(agent("ann", &["support"], 0), t(10));
    let order: Vec<_> = d
        .iter()
        .filter_map(|d| match d {
            Decision::Requeue { conversation } => Some(conversation.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["low", "mid1", "mid2", "vip"]);
    // Requeue restarts the clock; the vip still goes first.
    assert_eq!(offers(&d), vec![pair("vip", "ann")]);
    r.conversation_assigned(&c("vip"), &a("ann"), t(11))
        .unwrap();
    let d = r.conversation_closed(&c("vip"), t(20));
    assert_eq!(offers(&d), vec![pair("mid1", "ann")]);
    // 10 points below, `low` overtakes newer priority-50 work after ~10 minutes of waiting.
    r.conversation_assigned(&c("mid1"), &a("ann"), t(21))
        .unwrap();
    r.conversation_queued(waiting("fresh", "support", 700), t(700))
        .unwrap();
    let d = r.conversation_closed(&c("mid1"), t(700));
    assert_eq!(offers(&d), vec![pair("mid2", "ann")]);
    r.conversation_assigned(&c("mid2"), &a("ann"), t(701))
        .unwrap();
    let d = r.conversation_closed(&c("mid2"), t(702));
    assert_eq!(
        offers(&d),
        vec![pair("low", "ann")],
        "aged low priority beats a fresh 50"
    );
    let positions = r.queue_positions(&q("support"));
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].position, 1);
    r.check_invariants(t(702)).unwrap();
}

#[test]
fn away_releases_offers_and_offline_triggers_overflow() {
    let mut support = QueueConfig::new(q("support"));
    support.overflow = vec![OverflowStep {
        after_secs: 120,
        action: OverflowAction::MoveToQueue {
            queue: q("general"),
        },
    }];
    let mut r = router(
        vec![support, QueueConfig::new(q("general"))],
        vec![agent("ann", &["support"], 0), agent("gus", &["general"], 0)],
    );
    r.agent_status(&a("gus"), AgentStatus::Busy, t(0));
    let d = r
        .conversation_queued(waiting("c1", "support", 5), t(5))
        .unwrap();
    assert_eq!(offers(&d), vec![pair("c1", "ann")]);
    // The last eligible agent goes away (away does not staff a queue): her offer is released
    // and the overflow step runs at once instead of at its timer (move queue).
    let d = r.agent_status(&a("ann"), AgentStatus::Away, t(10));
    assert!(matches!(&d[0], Decision::ReleaseOffer { reason, .. } if reason == "agent_away"));
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::MoveQueue { queue, .. } if queue.as_str() == "general")),
        "{d:?}"
    );
    assert!(
        r.agent_status(&a("ann"), AgentStatus::Offline, t(20))
            .is_empty()
    );
    let d = r.agent_status(&a("gus"), AgentStatus::Available, t(30));
    assert_eq!(offers(&d), vec![pair("c1", "gus")]);
    r.check_invariants(t(30)).unwrap();
}

#[test]
fn last_agent_going_offline_overflows_its_offer_and_its_queue_in_priority_order() {
    // ann alone works vip, whose conversations move to general when nobody staffs it; gus
    // works general and has room for one.
    let mut vip = QueueConfig::new(q("vip"));
    vip.overflow = vec![OverflowStep {
        after_secs: 60,
        action: OverflowAction::MoveToQueue {
            queue: q("general"),
        },
    }];
    let mut r = router(
        vec![vip, QueueConfig::new(q("general"))],
        vec![agent("ann", &["vip"], 0), agent("gus", &["general"], 0)],
    );
    let mut urgent = waiting("urgent", "vip", 10);
    urgent.priority = Priority::new(32).unwrap();
    let d = r.conversation_queued(urgent, t(10)).unwrap();
    assert_eq!(offers(&d), vec![pair("urgent", "ann")]);
    let mut low = waiting("low", "vip", 10);
    low.priority = Priority::new(0).unwrap();
    r.conversation_queued(low, t(10)).unwrap();
    // ann declines the urgent one, so she may take the low one (the urgent one is not hers
    // to take any more).
    let d = r.offer_declined(&c("urgent"), &a("ann"), t(11)).unwrap();
    assert_eq!(offers(&d), vec![pair("low", "ann")]);
    // Then ann goes offline holding the low one's offer. Both conversations leave vip for
    // general at the same instant: gus gets the urgent one, the low one waits behind it.
    let d = r.agent_status(&a("ann"), AgentStatus::Offline, t(12));
    assert_eq!(offers(&d), vec![pair("urgent", "gus")], "{d:?}");
    assert_eq!(r.conversation_state(&c("low")), Some(RoutingState::Waiting));
    let positions = r.queue_positions(&q("general"));
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].conversation, c("low"));
    r.check_invariants(t(12)).unwrap();
}

#[test]
fn widen_and_raise_priority_steps_run_on_their_timers() {
    let mut qc = QueueConfig::new(q("support"));
    qc.eligibility = Eligibility {
        required_skills: vec![SkillRequirement {
            skill: "billing".into(),
            min_level: 8,
        }],
        languages: vec!["de".into()],
    };
    qc.overflow = vec![
        OverflowStep {
            after_secs: 60,
            action: OverflowAction::RaisePriority { by: 20 },
        },
        OverflowStep {
            after_secs: 120,
            action: OverflowAction::Widen {
                lower_skills: vec![SkillRequirement {
                    skill: "billing".into(),
                    min_level: 5,
                }],
                add_languages: vec!["en".into()],
                any_language: false,
            },
        },
        OverflowStep {
            after_secs: 180,
            action: OverflowAction::Widen {
                lower_skills: vec![SkillRequirement {
                    skill: "billing".into(),
                    min_level: 0,
                }],
                add_languages: vec![],
                any_language: true,
            },
        },
    ];
    let mut expert = agent("exp", &["support"], 0);
    expert.skills = BTreeMap::from([("billing".to_string(), 9)]);
    expert.languages = vec!["de".into()];
    expert.status = AgentStatus::Busy;
    let mut junior = agent("jun", &["support"], 0);
    junior.skills = BTreeMap::from([("billing".to_string(), 5)]);
    junior.languages = vec!["en".into()];
    let mut r = router(vec![qc], vec![expert, junior]);
    let d = r
        .conversation_queued(waiting("c1", "support", 0), t(0))
        .unwrap();
    assert!(offers(&d).is_empty());
    let d = r.tick(t(60));
    assert!(d.iter().any(|d| matches!(d, Decision::RaisePriority { priority, stage: 1, .. } if priority.get() == 70)), "{d:?}");
    let d = r.tick(t(120));
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::Widen { stage: 2, .. })),
        "{d:?}"
    );
    assert_eq!(offers(&d), vec![pair("c1", "jun")]);
    // The explanation shows the relaxation step in force.
    let relaxed = d.iter().find_map(|d| match d {
        Decision::Offer { explanation, .. } => explanation.relaxation.clone(),
        _ => None,
    });
    assert_eq!(
        relaxed.as_deref(),
        Some("step 1 (after 120 s waiting): billing >= 5; languages de, en")
    );
    r.check_invariants(t(120)).unwrap();
    // jun declines; the next step drops the skill and the language: anyone in the queue.
    r.offer_declined(&c("c1"), &a("jun"), t(121)).unwrap();
    r.agent_changed(agent("any", &["support"], 0), t(122));
    let d = r.tick(t(180));
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::Widen { stage: 3, .. })),
        "{d:?}"
    );
    let relaxed = d.iter().find_map(|d| match d {
        Decision::Offer {
            agent, explanation, ..
        } if agent.as_str() == "any" => explanation.relaxation.clone(),
        _ => None,
    });
    assert_eq!(
        relaxed.as_deref(),
        Some("step 2 (after 180 s waiting): no skill required; any language"),
        "{d:?}"
    );
    r.check_invariants(t(180)).unwrap();
}

#[test]
fn closed_queue_defers_and_opening_requeues_oldest_first() {
    let mut r = router(
        vec![QueueConfig::new(q("support"))],
        vec![agent("ann", &["support"], 0)],
    );
    r.agent_status(&a("ann"), AgentStatus::Busy, t(0));
    r.conversation_queued(waiting("c1", "support", 1), t(1))
        .unwrap();
    let d = r.set_queue_open(&q("support"), false, t(2)).unwrap();
    assert!(
        matches!(&d[0], Decision::Defer { reason, .. } if reason == "after_hours"),
        "{d:?}"
    );
    let d = r
        .conversation_queued(waiting("c2", "support", 3), t(3))
        .unwrap();
    assert!(matches!(&d[0], Decision::Defer { reason, .. } if reason == "after_hours"));
    r.agent_status(&a("ann"), AgentStatus::Available, t(4));
    let d = r.set_queue_open(&q("support"), true, t(5)).unwrap();
    assert!(
        matches!(&d[0], Decision::Requeue { conversation } if conversation.as_str() == "c1"),
        "{d:?}"
    );
    assert_eq!(offers(&d), vec![pair("c1", "ann")]);
    let positions = r.queue_positions(&q("support"));
    assert_eq!(positions[0].conversation, c("c2"));
    assert_eq!(positions[0].estimated_wait_secs, Some(300));
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::PositionsChanged { .. }))
    );
    r.check_invariants(t(5)).unwrap();
}

#[test]
fn sticky_routing_waits_for_the_previous_agent_within_the_window() {
    let mut qc = QueueConfig::new(q("support"));
    qc.sticky_window_secs = 60;
    let mut r = router(
        vec![qc],
        vec![agent("ann", &["support"], 0), agent("bob", &["support"], 5)],
    );
    r.agent_status(&a("ann"), AgentStatus::Busy, t(0));
    let mut c1 = waiting("c1", "support", 10);
    c1.previous_agent = Some(a("ann"));
    let d = r.conversation_queued(c1, t(10)).unwrap();
    assert!(offers(&d).is_empty(), "waits for ann although bob is free");
    let d = r.agent_status(&a("ann"), AgentStatus::Available, t(20));
    assert_eq!(offers(&d), vec![pair("c1", "ann")]);
    // Window lapses: someone else takes it.
    r.conversation_assigned(&c("c1"), &a("ann"), t(21)).unwrap();
    let mut c2 = waiting("c2", "support", 30);
    c2.previous_agent = Some(a("ann"));
    r.conversation_queued(c2, t(30)).unwrap();
    let d = r.tick(t(90));
    assert_eq!(offers(&d), vec![pair("c2", "bob")]);
    r.check_invariants(t(90)).unwrap();
}

/// The router gives back the customer's language and previous agent it was given, also a
/// previous agent it does not know (gone since), and forgets them when the conversation closes.
#[test]
fn the_customer_of_a_conversation_is_what_it_was_given() {
    let mut r = router(
        vec![QueueConfig::new(q("support"))],
        vec![agent("ann", &["support"], 0)],
    );
    r.agent_status(&a("ann"), AgentStatus::Busy, t(0));
    let mut c1 = waiting("c1", "support", 10);
    c1.language = Some("es".into());
    c1.previous_agent = Some(a("gone"));
    r.conversation_queued(c1, t(10)).unwrap();
    r.conversation_queued(waiting("c2", "support", 11), t(11))
        .unwrap();
    assert_eq!(
        r.customer_of(&c("c1")),
        Some((Some("es"), Some(&a("gone"))))
    );
    assert_eq!(r.customer_of(&c("c2")), Some((None, None)));
    assert_eq!(r.customer_of(&c("c3")), None);
    let mut all: Vec<_> = r.customers().map(|(id, l, p)| (id.clone(), l, p)).collect();
    all.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        all,
        vec![
            (c("c1"), Some("es"), Some(&a("gone"))),
            (c("c2"), None, None)
        ]
    );
    r.conversation_closed(&c("c1"), t(12));
    assert_eq!(r.customer_of(&c("c1")), None);
    assert_eq!(r.customers().count(), 1);
}

#[test]
fn best_match_scores_and_explains() {
    let mut qc = QueueConfig::new(q("support"));
    qc.strategy = RouteStrategy::BestMatch;
    qc.eligibility.required_skills = vec![SkillRequirement {
        skill: "tech".into(),
        min_level: 3,
    }];
    let mk = |id: &str, level: u8, langs: &[&str]| {
        let mut x = agent(id, &["support"], 0);
        x.skills = BTreeMap::from([("tech".to_string(), level)]);
        x.languages = langs.iter().map(|s| s.to_string()).collect();
        x
    };
    let agents = vec![
        mk("pro", 10, &["en"]),
        mk("mid", 6, &["fr"]),
        mk("low", 2, &["fr"]),
    ];
    let mut r = router(vec![qc], agents);
    let mut c1 = waiting("c1", "support", 0);
    c1.language = Some("fr".into());
    let d = r.conversation_queued(c1, t(0)).unwrap();
    // mid: 0.6 + 1 (language) beats pro: 1.0; low is not eligible (level 2 < 3).
    let Decision::Offer {
        agent, explanation, ..
    } = &d[0]
    else {
        panic!("{d:?}")
    };
    assert_eq!(agent.as_str(), "mid");
    assert_eq!(explanation.candidates.len(), 2);
    assert!(explanation.candidates[0].score > explanation.candidates[1].score);
    let mut c2 = waiting("c2", "support", 1);
    c2.language = Some("fr".into());
    let d = r.conversation_queued(c2, t(1)).unwrap();
    assert_eq!(offers(&d), vec![pair("c2", "pro")]);
    let json = serde_json::to_string(&d[0]).unwrap();
    assert!(json.contains("\"winner_reason\""), "{json}");
}

#[test]
fn round_robin_rotates() {
    let mut qc = QueueConfig::new(q("support"));
    qc.strategy = RouteStrategy::RoundRobin;
    qc.auto_accept = true;
    let mut r = router(
        vec![qc],
        (0..3)
            .map(|i| agent(&format!("a{i}"), &["support"], i))
            .collect(),
    );
    let mut got = Vec::new();
    for i in 0..6 {
        let id = format!("c{i}");
        let d = r
            .conversation_queued(waiting(&id, "support", i), t(i))
            .unwrap();
        got.push(offers(&d)[0].1.clone());
        r.conversation_closed(&c(&id), t(i));
    }
    assert_eq!(got, ["a0", "a1", "a2", "a0", "a1", "a2"]);
}

#[test]
fn memory_carries_rotation_and_handle_times_across_rebuilds() {
    // The server rebuilds the router on every pass; what it learned must survive that.
    let config = || {
        let mut qc = QueueConfig::new(q("support"));
        qc.strategy = RouteStrategy::RoundRobin;
        qc.auto_accept = true;
        RouterConfig {
            queues: vec![qc],
            ..Default::default()
        }
    };
    let agents = || {
        (0..3)
            .map(|i| agent(&format!("a{i}"), &["support"], i))
            .collect::<Vec<_>>()
    };
    let mut memory = Memory::default();
    let mut got = Vec::new();
    for i in 0..6 {
        let mut r = Router::new(config(), agents(), vec![]).unwrap();
        r.remember(&memory);
        let id = format!("c{i}");
        let d = r
            .conversation_queued(waiting(&id, "support", i), t(i))
            .unwrap();
        got.push(offers(&d)[0].1.clone());
        memory = r.memory();
    }
    assert_eq!(got, ["a0", "a1", "a2", "a0", "a1", "a2"]);
    // Handle times learned from closes outside the router (600 s each) move the estimate.
    let mut r = Router::new(config(), agents(), vec![]).unwrap();
    r.remember(&memory);
    for _ in 0..30 {
        r.record_handle_time(&q("support"), &a("a0"), 600.0);
    }
    r.record_handle_time(&q("unknown"), &a("a0"), 1.0);
    r.record_handle_time(&q("support"), &a("a1"), f64::NAN);
    let memory = r.memory();
    let aht = memory.queues[&q("support")].aht_secs;
    assert!((550.0..600.0).contains(&aht), "{aht}");
    assert!(memory.agent_handle_secs[&a("a0")] > 550.0);
    assert!(!memory.agent_handle_secs.contains_key(&a("a1")));
    let json = serde_json::to_string(&memory).unwrap();
    assert_eq!(serde_json::from_str::<Memory>(&json).unwrap(), memory);
    // The estimate of a newly built router uses the remembered handle time: with one agent
    // busy and nobody else free, the second in line waits about two handle times / 3 agents.
    let mut r = Router::new(config(), vec![agent("a0", &["support"], 0)], vec![]).unwrap();
    r.remember(&memory);
    r.route_all(t(0));
    for (i, id) in ["w1", "w2", "w3"].iter().enumerate() {
        r.conversation_queued(waiting(id, "support", i as i64), t(i as i64))
            .unwrap();
    }
    let positions = r.queue_positions(&q("support"));
    assert_eq!(positions.len(), 2);
    let wait = positions[1].estimated_wait_secs.unwrap();
    assert!((1000..=1300).contains(&wait), "{wait}");
}

#[test]
fn channel_weights_use_capacity_units() {
    let mut ann = agent("ann", &["support"], 0);
    ann.capacity = 3;
    let mut qc = QueueConfig::new(q("support"));
    qc.auto_accept = true;
    let config = RouterConfig {
        queues: vec![qc],
        channel_weights: BTreeMap::from([("voice".into(), 3)]),
    };
    let mut r = Router::new(config, vec![ann], vec![]).unwrap();
    r.conversation_queued(waiting("chat", "support", 0), t(0))
        .unwrap();
    let mut voice = waiting("voice", "support", 1);
    voice.channel = "voice".into();
    let d = r.conversation_queued(voice, t(1)).unwrap();
    assert!(offers(&d).is_empty(), "voice needs 3 free units");
    let d = r
        .conversation_queued(waiting("chat2", "support", 2), t(2))
        .unwrap();
    assert_eq!(offers(&d), vec![pair("chat2", "ann")], "a chat still fits");
    r.conversation_closed(&c("chat"), t(3));
    let d = r.conversation_closed(&c("chat2"), t(4));
    assert_eq!(offers(&d), vec![pair("voice", "ann")]);
    r.check_invariants(t(4)).unwrap();
}

#[test]
fn rebuilding_from_a_snapshot_keeps_offers_and_timers() {
    let mut r = router(
        vec![QueueConfig::new(q("support"))],
        vec![agent("ann", &["support"], 0)],
    );
    r.conversation_queued(waiting("c1", "support", 0), t(0))
        .unwrap();
    r.conversation_queued(waiting("c2", "support", 1), t(1))
        .unwrap();
    let (config, agents, convs) = r.snapshot();
    let json = serde_json::to_string(&(&config, &agents, &convs)).unwrap();
    let (config, agents, convs): (RouterConfig, Vec<AgentInfo>, Vec<ConversationInfo>) =
        serde_json::from_str(&json).unwrap();
    let mut restarted = Router::new(config, agents, convs).unwrap();
    assert!(
        restarted
            .route_all(t(5))
            .iter()
            .all(|d| matches!(d, Decision::PositionsChanged { .. }))
    );
    assert_eq!(restarted.next_timer(), Some(t(30)));
    let d = restarted.tick(t(31));
    assert!(matches!(&d[0], Decision::AgentAway { .. }), "{d:?}");
    assert!(matches!(&d[1], Decision::OfferExpired { .. }), "{d:?}");
    // ann let c1 lapse and is away: nobody staffs the queue, both are deferred.
    assert!(offers(&d).is_empty(), "{d:?}");
    assert_eq!(
        restarted.conversation_state(&c("c1")),
        Some(RoutingState::Deferred)
    );
    assert_eq!(
        restarted.conversation_state(&c("c2")),
        Some(RoutingState::Deferred)
    );
    restarted.check_invariants(t(31)).unwrap();
}

#[test]
fn erlang_c_matches_known_values() {
    // M/M/1: P(wait) = rho, Wq = rho / (mu - lambda).
    let (p, w) = erlang_c(1, 0.5, 1.0);
    assert!((p - 0.5).abs() < 1e-12 && (w - 1.0).abs() < 1e-12);
    // Textbook: c = 2, a = 1: C = 1/3.
    let (p, _) = erlang_c(2, 1.0, 1.0);
    assert!((p - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(erlang_c(3, 3.0, 1.0).0, 1.0);
}

/// Mean P(wait), mean wait and utilization over `seeds` runs of an M/M/10 queue at load `rho`
/// (5-minute mean handle time), with the Erlang C values.
fn mm10(rho: f64, hours: f64, seeds: std::ops::RangeInclusive<u64>) -> [(f64, f64); 3] {
    let (c, mu) = (10, 1.0 / 300.0);
    let lambda = rho * f64::from(c) * mu;
    let (p_wait, mean_wait) = erlang_c(c, lambda, mu);
    let n = seeds.clone().count() as f64;
    let mut sums = [0.0; 3];
    for seed in seeds {
        let config = SimConfig {
            agents: c,
            arrivals_per_hour: lambda * 3600.0,
            mean_handle_secs: 300.0,
            hours,
            warmup_hours: 10.0,
            seed,
            ..SimConfig::default()
        };
        let s = simulate(&config, &mut |_| {}).unwrap();
        assert_eq!(s.abandoned, 0);
        assert_eq!(s.answered, s.offered);
        sums[0] += s.probability_of_waiting / n;
        sums[1] += s.mean_wait_seconds / n;
        sums[2] += s.utilization / n;
    }
    [(sums[0], p_wait), (sums[1], mean_wait), (sums[2], rho)]
}

fn assert_close(rho: f64, what: &str, (sim, exact): (f64, f64), tolerance: f64) {
    let rel = (sim - exact).abs() / exact;
    assert!(
        rel < tolerance,
        "rho {rho}: {what} simulated {sim:.4} vs Erlang C {exact:.4} ({:+.1}%)",
        rel * 100.0
    );
}

#[test]
fn simulation_matches_erlang_c() {
    // Fixed seed, long enough runs (about 470,000 conversations in all, a few seconds in a
    // debug build) for the estimates to settle within a few percent.
    for (rho, hours) in [(0.7, 2000.0), (0.85, 3000.0)] {
        let [p, w, u] = mm10(rho, hours, 1..=1);
        assert_close(rho, "P(wait)", p, 0.03);
        assert_close(rho, "mean wait", w, 0.06);
        assert_close(rho, "utilization", u, 0.01);
    }
}

/// Near saturation the mean wait converges slowly (relaxation time grows like 1/(1-sqrt(rho))^2),
/// so this needs about 9 million simulated conversations: release builds only
/// (`cargo test --release -p baton-core routing`).
#[test]
#[cfg_attr(debug_assertions, ignore = "long: run with --release")]
fn simulation_matches_erlang_c_near_saturation() {
    for (rho, hours) in [(0.9, 10_000.0), (0.95, 10_000.0)] {
        let [p, w, u] = mm10(rho, hours, 1..=4);
        assert_close(rho, "P(wait)", p, 0.03);
        assert_close(rho, "mean wait", w, 0.08);
        assert_close(rho, "utilization", u, 0.01);
    }
}

#[test]
fn simulation_with_patience_abandons_and_validates_input() {
    let config = SimConfig {
        agents: 2,
        arrivals_per_hour: 40.0,
        mean_handle_secs: 300.0,
        hours: 200.0,
        patience_secs: Some(60.0),
        ..SimConfig::default()
    };
    let stats = simulate(&config, &mut |_| {}).unwrap();
    assert!(
        stats.abandonment_rate > 0.05 && stats.abandonment_rate < 0.9,
        "{stats:?}"
    );
    assert_eq!(stats.answered + stats.abandoned, stats.offered);
    let bad = SimConfig {
        agents: 0,
        ..SimConfig::default()
    };
    assert!(
        simulate(&bad, &mut |_| {})
            .unwrap_err()
            .to_string()
            .contains("agents")
    );
}

// ----- property tests ------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Arrive {
        queue: usize,
        priority: i64,
        voice: bool,
        language: usize,
    },
    Accept(usize),
    Decline(usize),
    Close(usize),
    Status {
        agent: usize,
        status: usize,
    },
    Open {
        queue: usize,
        open: bool,
    },
    Transfer {
        conv: usize,
        queue: usize,
    },
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..=100i64, prop::bool::weighted(0.2), 0..3usize)
            .prop_map(|(queue, priority, voice, language)| Op::Arrive { queue, priority, voice, language }),
        3 => any::<usize>().prop_map(Op::Accept),
        2 => any::<usize>().prop_map(Op::Decline),
        3 => any::<usize>().prop_map(Op::Close),
        2 => (any::<usize>(), 0..4usize).prop_map(|(agent, status)| Op::Status { agent, status }),
        1 => (0..3usize, prop::bool::weighted(0.7)).prop_map(|(queue, open)| Op::Open { queue, open }),
        1 => (any::<usize>(), 0..3usize).prop_map(|(conv, queue)| Op::Transfer { conv, queue }),
        2 => (1..90i64).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    strategies: Vec<usize>,
    auto_accept: Vec<bool>,
    overflow: Vec<usize>,
    agents: Vec<(u32, u8, usize, usize)>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::collection::vec(0..4usize, 3),
        prop::collection::vec(prop::bool::weighted(0.3), 3),
        prop::collection::vec(0..4usize, 3),
        prop::collection::vec((1..4u32, 0..10u8, 1..8usize, 0..3usize), 1..7),
    )
        .prop_map(|(strategies, auto_accept, overflow, agents)| Setup {
            strategies,
            auto_accept,
            overflow,
            agents,
        })
}

const LANGS: [&str; 3] = ["en", "fr", "de"];
/// The decline cool-down of the generated queues.
const COOLDOWN_SECS: i64 = 60;

fn build(s: &Setup) -> Router {
    let queues = (0..3)
        .map(|i| {
            let mut qc = QueueConfig::new(q(&format!("q{i}")));
            qc.strategy = RouteStrategy::ALL[s.strategies[i]];
            qc.auto_accept = s.auto_accept[i];
            qc.decline_cooldown_secs = COOLDOWN_SECS as u64;
            if i == 2 {
                qc.missed_offer = MissedOffer::KeepAvailable;
            }
            if i == 1 {
                qc.eligibility.required_skills = vec![SkillRequirement {
                    skill: "x".into(),
                    min_level: 5,
                }];
            }
            qc.overflow = match s.overflow[i] {
                0 => vec![],
                1 => vec![OverflowStep {
                    after_secs: 60,
                    action: OverflowAction::MoveToQueue {
                        queue: q(&format!("q{}", (i + 1) % 3)),
                    },
                }],
                2 => vec![OverflowStep {
                    after_secs: 30,
                    action: OverflowAction::RaisePriority { by: 30 },
                }],
                _ => vec![OverflowStep {
                    after_secs: 45,
                    action: OverflowAction::Widen {
                        lower_skills: vec![SkillRequirement {
                            skill: "x".into(),
                            min_level: 1,
                        }],
                        add_languages: vec![],
                        any_language: false,
                    },
                }],
            };
            qc
        })
        .collect();
    let agents = s
        .agents
        .iter()
        .enumerate()
        .map(|(i, &(capacity, level, queues, lang))| {
            let member: Vec<&str> = ["q0", "q1", "q2"]
                .into_iter()
                .enumerate()
                .filter(|(b, _)| queues & (1 << b) != 0)
                .map(|x| x.1)
                .collect();
            let mut info = agent(&format!("a{i}"), &member, i as i64);
            info.capacity = capacity;
            info.skills = BTreeMap::from([("x".to_string(), level)]);
            info.languages = vec![LANGS[lang].to_string()];
            info
        })
        .collect();
    let config = RouterConfig {
        queues,
        channel_weights: BTreeMap::from([("voice".into(), 2)]),
    };
    Router::new(config, agents, vec![]).unwrap()
}

/// What the caller knows from applying the decisions, checked against what the router does.
#[derive(Debug, Default)]
struct Model {
    offered: HashMap<String, String>,
    assigned: HashMap<String, String>,
    /// Per conversation, who declined it and until when they are kept out.
    declined: HashMap<String, HashMap<String, Timestamp>>,
    live: Vec<String>,
}

impl Model {
    fn apply(&mut self, r: &Router, ds: &[Decision], now: Timestamp) -> Result<(), TestCaseError> {
        for d in ds {
            match d {
                Decision::Offer {
                    conversation,
                    agent,
                    ..
                }
                | Decision::Assign {
                    conversation,
                    agent,
                    ..
                } => {
                    let (conv, ag) = (conversation.to_string(), agent.to_string());
                    prop_assert!(!self.offered.contains_key(&conv), "{conv} offered twice");
                    prop_assert!(
                        !self.assigned.contains_key(&conv),
                        "{conv} offered while owned"
                    );
                    prop_assert!(
                        self.declined
                            .get(&conv)
                            .and_then(|s| s.get(&ag))
                            .is_none_or(|until| *until <= now),
                        "{conv} re-offered to decliner {ag} within the cool-down"
                    );
                    if matches!(d, Decision::Offer { .. }) {
                        self.offered.insert(conv, ag);
                    } else {
                        self.assigned.insert(conv, ag);
                    }
                    check_priority_respected(r, conversation, agent, now)?;
                }
                Decision::OfferExpired {
                    conversation,
                    agent,
                }
                | Decision::ReleaseOffer {
                    conversation,
                    agent,
                    ..
                } => {
                    // A lapse or a withdrawal keeps nobody out of the conversation.
                    let conv = conversation.to_string();
                    prop_assert_eq!(self.offered.remove(&conv), Some(agent.to_string()));
                }
                Decision::Defer { conversation, .. } => {
                    prop_assert!(!self.offered.contains_key(conversation.as_str()));
                }
                Decision::Requeue { conversation } => {
                    self.declined.remove(conversation.as_str());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The agent got the highest effective-priority conversation it could take, unless the
/// conversation chose the agent (then nothing it could take was waiting).
fn check_priority_respected(
    r: &Router,
    conv: &ConversationId,
    agent: &AgentId,
    now: Timestamp,
) -> Result<(), TestCaseError> {
    let (_, _, convs) = r.snapshot();
    let queue_of: HashMap<_, _> = convs.iter().map(|c| (c.id.clone(), c.clone())).collect();
    let chosen = &queue_of[conv];
    let eff = |c: &ConversationInfo| {
        f64::from(c.priority.get()) + now.millis_since(c.queued_at) as f64 / 60_000.0
    };
    for c in &convs {
        if c.state == RoutingState::Waiting
            && c.queue == chosen.queue
            && c.channel == chosen.channel
            && !c
                .excluded
                .iter()
                .any(|x| &x.agent == agent && x.until > now)
            && c.overflow_stage == chosen.overflow_stage
        {
            prop_assert!(
                eff(c) <= eff(chosen) + 1e-9,
                "{} (eff {}) still waits while {} (eff {}) went to {}",
                c.id,
                eff(c),
                conv,
                eff(chosen),
                agent
            );
        }
    }
    Ok(())
}

/// Checked from the router's plain snapshot, independently of its indexes: no conversation
/// waits while an agent who may take it is `available` with room and not within a decline
/// cool-down (so, with timers fired at `now`, none waits longer than the offer timing allows).
fn check_nobody_stranded(s: &Setup, r: &Router, now: Timestamp) -> Result<(), TestCaseError> {
    let (_, agents, convs) = r.snapshot();
    for c in convs.iter().filter(|c| c.state == RoutingState::Waiting) {
        let weight = if c.channel == "voice" { 2 } else { 1 };
        let min_level = match c.queue.as_str() {
            "q1" if s.overflow[1] == 3 && c.overflow_stage >= 1 => 1,
            "q1" => 5,
            _ => 0,
        };
        for ag in &agents {
            let free = ag.capacity - r.agent_load(&ag.id).unwrap_or(0).min(ag.capacity);
            let may = ag.status == AgentStatus::Available
                && ag.queues.contains(&c.queue)
                && ag.skills.get("x").copied().unwrap_or(0) >= min_level
                && free >= weight
                && !c.excluded.iter().any(|x| x.agent == ag.id && x.until > now);
            prop_assert!(
                !may,
                "{} waits in {} while {} is available with room",
                c.id,
                c.queue,
                ag.id
            );
        }
    }
    Ok(())
}

fn pick(v: &[String], i: usize) -> Option<String> {
    (!v.is_empty()).then(|| v[i % v.len()].clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn router_invariants_hold(s in setup(), ops in prop::collection::vec(op(), 1..80)) {
        let mut r = build(&s);
        let mut now = t(1000);
        let mut m = Model::default();
        let ds = r.route_all(now);
        m.apply(&r, &ds, now)?;
        let mut n = 0;
        for op in ops {
            let ds = match op {
                Op::Arrive { queue, priority, voice, language } => {
                    n += 1;
                    let id = format!("c{n}");
                    let mut info = waiting(&id, &format!("q{queue}"), now.millis() / 1000);
                    info.priority = Priority::new(priority).unwrap();
                    info.channel = if voice { "voice".into() } else { "chat".into() };
                    info.language = Some(LANGS[language].to_string());
                    m.live.push(id);
                    r.conversation_queued(info, now).unwrap()
                }
                Op::Accept(i) => {
                    let mut offered: Vec<String> = m.offered.keys().cloned().collect();
                    offered.sort();
                    match pick(&offered, i) {
                        Some(conv) => {
                            let ag = m.offered.remove(&conv).unwrap();
                            m.assigned.insert(conv.clone(), ag.clone());
                            r.conversation_assigned(&c(&conv), &a(&ag), now).unwrap()
                        }
                        None => vec![],
                    }
                }
                Op::Decline(i) => {
                    let mut offered: Vec<String> = m.offered.keys().cloned().collect();
                    offered.sort();
                    match pick(&offered, i) {
                        Some(conv) => {
                            let ag = m.offered.remove(&conv).unwrap();
                            m.declined
                                .entry(conv.clone())
                                .or_default()
                                .insert(ag.clone(), now.plus_millis(COOLDOWN_SECS * 1000));
                            r.offer_declined(&c(&conv), &a(&ag), now).unwrap()
                        }
                        None => vec![],
                    }
                }
                Op::Close(i) => match pick(&m.live, i) {
                    Some(conv) => {
                        m.live.retain(|x| x != &conv);
                        m.offered.remove(&conv);
                        m.assigned.remove(&conv);
                        r.conversation_closed(&c(&conv), now)
                    }
                    None => vec![],
                },
                Op::Status { agent, status } => {
                    let id = format!("a{}", agent % s.agents.len());
                    r.agent_status(&a(&id), AgentStatus::ALL[status], now)
                }
                Op::Open { queue, open } => r.set_queue_open(&q(&format!("q{queue}")), open, now).unwrap(),
                Op::Transfer { conv, queue } => {
                    let mut owned: Vec<String> = m.assigned.keys().cloned().collect();
                    owned.sort();
                    match pick(&owned, conv) {
                        Some(conv) => {
                            m.assigned.remove(&conv);
                            m.declined.remove(&conv);
                            r.conversation_transferred(&c(&conv), &TransferTarget::Queue(q(&format!("q{queue}"))), now).unwrap()
                        }
                        None => vec![],
                    }
                }
                Op::Advance(secs) => {
                    now = now.plus_millis(secs * 1000);
                    r.tick(now)
                }
            };
            m.apply(&r, &ds, now)?;
            if let Err(e) = r.check_invariants(now) {
                prop_assert!(false, "{}", e);
            }
            check_nobody_stranded(&s, &r, now)?;
            for (i, &(capacity, ..)) in s.agents.iter().enumerate() {
                let load = r.agent_load(&a(&format!("a{i}"))).unwrap();
                prop_assert!(load <= capacity, "a{} load {} > capacity {}", i, load, capacity);
            }
            // The caller's view and the router's agree on owners and offers.
            for (conv, ag) in m.offered.iter() {
                let is_offered = matches!(r.conversation_state(&c(conv)), Some(RoutingState::Offered { agent, .. }) if agent.as_str() == ag);
                prop_assert!(is_offered, "{} should be offered to {}", conv, ag);
            }
            for (conv, ag) in m.assigned.iter() {
                let is_assigned = matches!(r.conversation_state(&c(conv)), Some(RoutingState::Assigned { agent, .. }) if agent.as_str() == ag);
                prop_assert!(is_assigned, "{} should be assigned to {}", conv, ag);
            }
        }
    }

    #[test]
    fn round_robin_is_fair(agents in 2..8usize, rounds in 1..40usize, skip in prop::collection::vec(any::<bool>(), 40)) {
        let mut qc = QueueConfig::new(q("q"));
        qc.strategy = RouteStrategy::RoundRobin;
        let mut r = router(vec![qc], (0..agents).map(|i| agent(&format!("a{i}"), &["q"], 0)).collect());
        let mut count = vec![0usize; agents];
        let mut now = t(10);
        for (i, &accept) in skip.iter().enumerate().take(rounds) {
            let id = format!("c{i}");
            let ds = r.conversation_queued(waiting(&id, "q", now.millis() / 1000), now).unwrap();
            let (_, ag) = offers(&ds)[0].clone();
            count[ag[1..].parse::<usize>().unwrap()] += 1;
            if accept {
                r.conversation_assigned(&c(&id), &a(&ag), now).unwrap();
            }
            r.conversation_closed(&c(&id), now);
            now = now.plus_millis(1000);
        }
        let (min, max) = (count.iter().min().unwrap(), count.iter().max().unwrap());
        prop_assert!(max - min <= 1, "offers per agent {:?}", count);
    }
}
