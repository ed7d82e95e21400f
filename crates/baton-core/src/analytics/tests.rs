//! Known event histories, each figure checked exactly.

use super::report::{self, Drill, Filter};
use super::*;
use crate::conversation::{AssignVia, DraftAction, EventKind, HandoffSource, MessageRecord};
use crate::hours::{Calendar, CalendarSpec};
use crate::values::{CsatScore, MessageRole, Priority};
use crate::{Actor, AgentId, ConversationId, MessageId, QueueId, Timestamp};

const MIN: i64 = 60_000;

fn agent(s: &str) -> AgentId {
    AgentId::parse(s).unwrap()
}

fn me(a: &str) -> Actor {
    Actor::Agent { id: agent(a) }
}

/// A conversation history written as (minute, actor, event).
struct History {
    t0: i64,
    events: Vec<(i64, Actor, EventKind)>,
}

impl History {
    fn new(t0: i64, channel: &str) -> History {
        let mut h = History { t0, events: vec![] };
        h.at(
            0,
            Actor::System,
            EventKind::Started {
                channel: channel.into(),
                attributes: Default::default(),
            },
        );
        h
    }
    fn at(&mut self, minute: i64, actor: Actor, e: EventKind) -> &mut Self {
        self.events.push((self.t0 + minute * MIN, actor, e));
        self
    }
    fn msg(&mut self, minute: i64, role: MessageRole, from: Option<&str>) -> &mut Self {
        let actor = match (role, from) {
            (_, Some(a)) => me(a),
            (MessageRole::Bot, _) => Actor::Bot,
            _ => Actor::Customer,
        };
        self.at(
            minute,
            actor,
            EventKind::MessageAdded {
                message: MessageRecord {
                    id: MessageId::parse(format!("msg_{minute}_{}", self.events.len())).unwrap(),
                    role,
                    text: "hi".into(),
                    agent: from.map(agent),
                    external_id: None,
                    bot: None,
                    attachment: None,
                },
            },
        )
    }
    fn handoff(&mut self, minute: i64, reason: &str, source: HandoffSource) -> &mut Self {
        self.at(
            minute,
            Actor::System,
            EventKind::HandoffRequested {
                reason: reason.into(),
                source,
                queue: Some(QueueId::parse("support").unwrap()),
                priority: Priority::default(),
                note: None,
            },
        )
    }
    fn assign(&mut self, minute: i64, a: &str, via: AssignVia) -> &mut Self {
        self.at(
            minute,
            me(a),
            EventKind::Assigned {
                agent: agent(a),
                via,
            },
        )
    }
    fn offer(&mut self, minute: i64, a: &str) -> &mut Self {
        self.at(
            minute,
            Actor::System,
            EventKind::Offered {
                agent: agent(a),
                expires_at: Timestamp::from_millis(self.t0 + (minute + 1) * MIN),
                explanation: None,
            },
        )
    }
    fn close(&mut self, minute: i64, by: Actor) -> &mut Self {
        self.at(minute, by, EventKind::Closed { resolution: None })
    }
    fn csat(&mut self, minute: i64, score: i64) -> &mut Self {
        self.at(
            minute,
            Actor::Customer,
            EventKind::CsatRecorded {
                score: CsatScore::new(score).unwrap(),
                comment: None,
            },
        )
    }
    fn facts(&self) -> Facts {
        Facts::replay(
            self.events
                .iter()
                .map(|(at, a, e)| (e, a, Timestamp::from_millis(*at))),
        )
    }
    fn row(&self, id: &str, tier: Option<&str>) -> FactsRow {
        FactsRow {
            conversation: ConversationId::parse(id).unwrap(),
            tier: tier.map(String::from),
            facts: self.facts(),
        }
    }
}

/// Five conversations that exercise every figure.
fn fixture() -> Vec<FactsRow> {
    let t0 = 1_700_000_000_000;
    // 1. Contained by the bot, rated 5.
    let mut bot_only = History::new(t0, "web");
    bot_only
        .msg(0, MessageRole::Customer, None)
        .msg(0, MessageRole::Bot, None)
        .close(2, Actor::Customer)
        .csat(3, 5);
    // 2. Rule handoff, offer declined then accepted, first reply after 4 min, closed by the agent,
    // rated 3; a copilot draft sent as is and one ignored.
    let mut rule = History::new(t0 + MIN, "web");
    rule.msg(0, MessageRole::Customer, None)
        .at(
            0,
            Actor::System,
            EventKind::EscalationEvaluated {
                evaluation: serde_json::json!({"fired": [{"id": "refund", "name": "Refunds"}]}),
            },
        )
        .handoff(0, "sensitive_topic:refund", HandoffSource::Rule)
        .offer(1, "agt_ana")
        .at(
            1,
            me("agt_ana"),
            EventKind::OfferDeclined {
                agent: agent("agt_ana"),
            },
        )
        .offer(2, "agt_bo")
        .assign(3, "agt_bo", AssignVia::Offer)
        .msg(4, MessageRole::Agent, Some("agt_bo"))
        .at(
            5,
            me("agt_bo"),
            EventKind::DraftUsed {
                draft_id: "d1".into(),
                source: "kb".into(),
                action: DraftAction::Sent,
            },
        )
        .at(
            6,
            me("agt_bo"),
            EventKind::DraftUsed {
                draft_id: "d2".into(),
                source: "kb".into(),
                action: DraftAction::Ignored,
            },
        )
        .close(10, me("agt_bo"))
        .csat(11, 3);
    // 3. Customer asks, waits 7 minutes, leaves (abandonment).
    let mut left = History::new(t0 + 2 * MIN, "whatsapp");
    left.msg(0, MessageRole::Customer, None)
        .handoff(0, "customer_request", HandoffSource::Customer)
        .offer(2, "agt_ana")
        .at(
            3,
            Actor::System,
            EventKind::OfferExpired {
                agent: agent("agt_ana"),
            },
        )
        .close(7, Actor::Customer);
    // 4. LLM hands off; claimed after 2 min; ana replies after 1 more, transfers to bo, who
    // replies and closes. Then it is reopened (the last close still counts once).
    let mut transfer = History::new(t0 + 3 * MIN, "web");
    transfer
        .handoff(0, "llm_tool", HandoffSource::Llm)
        .assign(2, "agt_ana", AssignVia::Claim)
        .msg(3, MessageRole::Agent, Some("agt_ana"))
        .at(
            5,
            me("agt_ana"),
            EventKind::Transferred {
                from_agent: agent("agt_ana"),
                to_agent: Some(agent("agt_bo")),
                to_queue: None,
                note: "billing".into(),
            },
        )
        .msg(6, MessageRole::Agent, Some("agt_bo"))
        .close(20, me("agt_bo"))
        .at(30, Actor::Customer, EventKind::Reopened);
    // 5. Deferred after hours; followed up 90 minutes later by an agent claiming it.
    let mut deferred = History::new(t0 + 4 * MIN, "email");
    deferred
        .at(
            0,
            Actor::System,
            EventKind::Deferred {
                reason: "after_hours".into(),
                back_at: None,
            },
        )
        .assign(90, "agt_ana", AssignVia::Claim);
    vec![
        bot_only.row("conv_1", Some("gold")),
        rule.row("conv_2", Some("gold")),
        left.row("conv_3", None),
        transfer.row("conv_4", None),
        deferred.row("conv_5", None),
    ]
}

#[test]
fn summary_figures_are_exact() {
    let rows = fixture();
    let s = report::summary(&rows, &Filter::default(), &Calendar::always_open());
    assert_eq!(s.conversations, 5);
    assert_eq!(s.handed_off, 3);
    assert_eq!(s.handoff_rate, Some(0.6));
    // Only the bot-only one is closed without a handoff (4 was reopened: not closed now).
    assert_eq!(s.contained, 1);
    assert_eq!(s.containment_rate, Some(0.2));
    let reasons: Vec<_> = s
        .reasons
        .iter()
        .map(|r| (r.key.as_str(), r.count))
        .collect();
    assert_eq!(
        reasons,
        [
            ("customer_request", 1),
            ("llm_tool", 1),
            ("sensitive_topic:refund", 1)
        ]
    );
    let who: Vec<_> = s.requested_by.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(who, ["customer", "llm", "rule"]);
    assert_eq!(s.rules[0].key, "refund");
    // First responses: 4 min (conv 2) and 3 min (conv 4).
    assert_eq!(s.first_response.count, 2);
    assert_eq!(s.median_first_response_seconds, Some(180.0));
    assert_eq!(s.first_response.p90_seconds, Some(240.0));
    assert_eq!(s.first_response_business_hours.median_seconds, Some(180.0));
    // Queue waits ending in an assignment: 3 min (offer) and 2 min (claim).
    assert_eq!(s.queue_wait.count, 2);
    assert_eq!(s.queue_wait.median_seconds, Some(120.0));
    assert_eq!(s.queue_wait.mean_seconds, Some(150.0));
    assert_eq!(s.offers.made, 3);
    assert_eq!(
        (s.offers.accepted, s.offers.declined, s.offers.expired),
        (1, 1, 1)
    );
    assert_eq!(s.offer_acceptance.median_seconds, Some(60.0));
    assert_eq!(s.abandoned, 1);
    assert_eq!(s.abandonment_rate, Some(1.0 / 3.0));
    assert_eq!(s.abandoned_after.median_seconds, Some(420.0));
    // Resolved after handoff: conv 2 only (conv 4 is open again).
    assert_eq!(s.resolved_after_handoff, 1);
    assert_eq!(s.time_to_resolution.median_seconds, Some(600.0));
    assert_eq!(s.csat_after_handoff, Some(3.0));
    assert_eq!(s.csat_bot_only, Some(5.0));
    assert_eq!(s.deferred.conversations, 1);
    assert_eq!(s.deferred.follow_up.median_seconds, Some(5400.0));
    assert_eq!(
        (s.copilot.sent_as_is, s.copilot.edited, s.copilot.ignored),
        (1, 0, 1)
    );
    // The customer's last message: conv 2's only one, at its start (t0 + 1 min).
    assert_eq!(
        rows[1].facts.last_customer_message_at,
        Some(Timestamp::from_millis(1_700_000_000_000 + MIN))
    );
    assert_eq!(rows[3].facts.last_customer_message_at, None);
}

#[test]
fn per_agent_figures_follow_ownership_through_transfers() {
    let rows = fixture();
    let agents = report::agents(&rows, &Filter::default());
    let ana = agents
        .iter()
        .find(|a| a.agent.as_str() == "agt_ana")
        .unwrap();
    let bo = agents
        .iter()
        .find(|a| a.agent.as_str() == "agt_bo")
        .unwrap();
    assert_eq!(ana.conversations, 2);
    assert_eq!(ana.transfers_out, 1);
    assert_eq!(ana.first_response.median_seconds, Some(60.0));
    // Ana's ended stretch: 3 minutes before the transfer (the deferred one is still open).
    assert_eq!(ana.handle_time.count, 1);
    assert_eq!(ana.handle_time.median_seconds, Some(180.0));
    assert_eq!(bo.conversations, 2);
    assert_eq!(bo.transfers_in, 1);
    assert_eq!(bo.closed, 2);
    assert_eq!(bo.csat, Some(3.0));
    assert_eq!(bo.handle_time.count, 2);
    assert_eq!(bo.handle_time.median_seconds, Some(420.0));
}

#[test]
fn filters_and_drill_down_name_the_conversations() {
    let rows = fixture();
    let ids = |f: &Filter, d: &str| -> Vec<String> {
        report::drill(&rows, f, &Drill::parse(d).unwrap())
            .into_iter()
            .map(|c| c.to_string())
            .collect()
    };
    let all = Filter::default();
    assert_eq!(ids(&all, "abandoned"), ["conv_3"]);
    assert_eq!(ids(&all, "handed_off"), ["conv_2", "conv_3", "conv_4"]);
    assert_eq!(ids(&all, "requested_by:llm"), ["conv_4"]);
    assert_eq!(ids(&all, "rule:refund"), ["conv_2"]);
    assert_eq!(ids(&all, "offer:declined"), ["conv_2"]);
    assert_eq!(ids(&all, "waited"), ["conv_2", "conv_4"]);
    assert_eq!(ids(&all, "responded"), ["conv_2", "conv_4"]);
    assert_eq!(ids(&all, "copilot"), ["conv_2"]);
    let gold = Filter {
        tier: Some("gold".into()),
        ..Filter::default()
    };
    assert_eq!(ids(&gold, "conversations"), ["conv_1", "conv_2"]);
    let refunds = Filter {
        reason: Some("sensitive_topic".into()),
        ..Filter::default()
    };
    assert_eq!(ids(&refunds, "conversations"), ["conv_2"]);
    let bo = Filter {
        agent: Some(agent("agt_bo")),
        ..Filter::default()
    };
    assert_eq!(ids(&bo, "conversations"), ["conv_2", "conv_4"]);
    let wa = Filter {
        channel: Some("whatsapp".into()),
        ..Filter::default()
    };
    let s = report::summary(&rows, &wa, &Calendar::always_open());
    assert_eq!((s.conversations, s.abandoned), (1, 1));
    assert!(Drill::parse("nonsense").unwrap_err().contains("handed_off"));
}

#[test]
fn an_agent_closing_a_waiting_conversation_is_not_abandonment() {
    let mut h = History::new(0, "web");
    h.handoff(0, "customer_request", HandoffSource::Customer)
        .close(5, me("agt_sup"));
    let f = h.facts();
    assert!(!report::abandoned(&f));
    assert_eq!(f.waits[0].ended, Some(WaitEnd::Closed));
}

#[test]
fn a_reopened_and_handed_off_again_conversation_counts_once() {
    let mut h = History::new(0, "web");
    h.close(1, Actor::Customer)
        .at(2, Actor::Customer, EventKind::Reopened)
        .handoff(3, "customer_request", HandoffSource::Customer)
        .assign(4, "agt_ana", AssignVia::Claim)
        .msg(9, MessageRole::Agent, Some("agt_ana"))
        .close(10, me("agt_ana"));
    let rows = vec![h.row("conv_9", None)];
    let s = report::summary(&rows, &Filter::default(), &Calendar::always_open());
    assert_eq!((s.conversations, s.handed_off, s.contained), (1, 1, 0));
    assert_eq!(s.resolved_after_handoff, 1);
    assert_eq!(s.median_first_response_seconds, Some(360.0));
    assert_eq!(s.time_to_resolution.median_seconds, Some(600.0));
}

fn berlin_9_to_17() -> Calendar {
    let weekly = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| {
            (
                d.to_string(),
                vec![["09:00".to_string(), "17:00".to_string()]],
            )
        })
        .collect();
    Calendar::new(CalendarSpec {
        tz: "Europe/Berlin".into(),
        weekly,
        holidays: vec![],
    })
    .unwrap()
}

fn utc(s: &str) -> Timestamp {
    Timestamp::from_millis(s.parse::<jiff::Timestamp>().unwrap().as_millisecond())
}

#[test]
fn business_hours_first_response_skips_the_night_across_a_dst_change() {
    // Saturday 2025-03-29 16:00 Berlin (CET, 15:00 UTC) to Sunday 2025-03-30 10:00 Berlin (CEST,
    // 08:00 UTC): clocks went forward that night. Open time: 1 h on Saturday + 1 h on Sunday.
    let cal = berlin_9_to_17();
    let asked = utc("2025-03-29T15:00:00Z");
    let answered = utc("2025-03-30T08:00:00Z");
    assert_eq!(cal.open_millis_between(asked, answered), 2 * 3_600_000);
    let mut h = History::new(asked.millis(), "web");
    h.handoff(0, "customer_request", HandoffSource::Customer)
        .assign(1, "agt_ana", AssignVia::Claim);
    h.at(
        17 * 60,
        me("agt_ana"),
        EventKind::MessageAdded {
            message: MessageRecord {
                id: MessageId::parse("msg_x").unwrap(),
                role: MessageRole::Agent,
                text: "morning".into(),
                agent: Some(agent("agt_ana")),
                external_id: None,
                bot: None,
                attachment: None,
            },
        },
    );
    let s = report::summary(&[h.row("conv_d", None)], &Filter::default(), &cal);
    assert_eq!(s.first_response.median_seconds, Some(17.0 * 3600.0));
    assert_eq!(s.first_response_business_hours.median_seconds, Some(7200.0));
    // The autumn change: Saturday 2025-10-25 16:00 CEST to Sunday 10:00 CET, again 2 open hours
    // although 19 hours passed on the clock.
    let asked = utc("2025-10-25T14:00:00Z");
    let answered = utc("2025-10-26T09:00:00Z");
    assert_eq!(cal.open_millis_between(asked, answered), 2 * 3_600_000);
}

#[test]
fn timeseries_buckets_by_local_day_including_empty_days() {
    let rows = fixture();
    let cal = berlin_9_to_17();
    let from = rows[0].facts.started_at;
    let to = from.plus_millis(2 * 86_400_000);
    let points = report::timeseries(&rows, &Filter::default(), &cal, from, to);
    assert_eq!(points.len(), 3);
    assert_eq!(points[0].conversations, 5);
    assert_eq!(points[0].handed_off, 3);
    assert_eq!(points[0].median_wait_seconds, Some(120.0));
    assert_eq!(points[1].conversations, 0);
    assert_eq!(points[1].handoff_rate, None);
}

#[test]
fn facts_round_trip_through_json() {
    for row in fixture() {
        let json = serde_json::to_string(&row.facts).unwrap();
        let back: Facts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, row.facts);
    }
}
