//! Per-conversation facts, folded from the event log.
//!
//! [`Facts`] is a projection like [`Conversation`](crate::Conversation): the store folds every
//! conversation event into it, in the same transaction that appends the event, and keeps it in a
//! rollup table that the reports read. Replaying a conversation's events from scratch gives the
//! same facts, so the rollup can always be rebuilt from the log.

use crate::conversation::{Actor, AssignVia, DraftAction, EventKind, HandoffSource};
use crate::ids::{AgentId, QueueId};
use crate::time::Timestamp;
use crate::values::MessageRole;
use serde::{Deserialize, Serialize};

/// Everything the reports need to know about one conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// When it started.
    pub started_at: Timestamp,
    /// The channel it came in on.
    pub channel: String,
    /// Every handoff request, in order (a reopened conversation can be handed off again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handoffs: Vec<HandoffFact>,
    /// Every stretch of waiting in a queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<WaitFact>,
    /// Every offer made to an agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<OfferFact>,
    /// Every stretch an agent owned it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentFact>,
    /// Every time it was deferred to a follow-up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferrals: Vec<DeferralFact>,
    /// Every close.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closes: Vec<CloseFact>,
    /// Queues it waited in, in first-entered order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueId>,
    /// How often it was reopened.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reopens: u32,
    /// The latest CSAT score (1 to 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<u8>,
    /// Customer, bot and agent turns.
    #[serde(default)]
    pub messages: MessageCounts,
    /// When the customer last wrote (messaging windows such as WhatsApp's 24 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_customer_message_at: Option<Timestamp>,
    /// Copilot drafts and what the agent did with them.
    #[serde(default, skip_serializing_if = "DraftCounts::is_empty")]
    pub drafts: DraftCounts,
    /// Rules that fired in the latest escalation evaluation (carried into the next handoff).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_rules: Vec<String>,
}

/// One handoff request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffFact {
    /// When it was asked for.
    pub at: Timestamp,
    /// The machine-readable reason (`customer_request`, `sensitive_topic:refund`...).
    pub reason: String,
    /// Who asked.
    pub source: HandoffSource,
    /// The rules that fired on the turn that led to it (rule-decided handoffs).
    #[serde(default)]
    pub rules: Vec<String>,
    /// The queue asked for.
    pub queue: Option<QueueId>,
    /// The first agent message after it.
    pub first_response_at: Option<Timestamp>,
}

/// How a wait in a queue ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitEnd {
    /// An agent took it (offer, claim or transfer).
    Assigned,
    /// An agent took it over straight from the bot (no real wait).
    Takeover,
    /// The customer (or the channel on their behalf) left before an agent took it.
    Abandoned,
    /// An agent or supervisor closed it while it waited.
    Closed,
    /// It was deferred to a follow-up.
    Deferred,
}

/// One stretch in a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitFact {
    /// When it entered the queue.
    pub start: Timestamp,
    /// The queue.
    pub queue: Option<QueueId>,
    /// When it left the queue.
    pub end: Option<Timestamp>,
    /// How.
    pub ended: Option<WaitEnd>,
}

/// How an offer was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferEnd {
    /// Accepted.
    Accepted,
    /// Declined.
    Declined,
    /// Lapsed.
    Expired,
    /// Overtaken: claimed by someone else, deferred or closed first.
    Withdrawn,
}

/// One offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferFact {
    /// To whom.
    pub agent: AgentId,
    /// When.
    pub at: Timestamp,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
    /// How.
    pub ended: Option<OfferEnd>,
}

/// How an agent's ownership ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentEnd {
    /// The conversation was closed.
    Closed,
    /// It was transferred away.
    Transferred,
}

/// One stretch of ownership by an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentFact {
    /// The agent.
    pub agent: AgentId,
    /// How they got it.
    pub via: AssignVia,
    /// When.
    pub start: Timestamp,
    /// Their first message in it.
    pub first_response_at: Option<Timestamp>,
    /// When it ended.
    pub end: Option<Timestamp>,
    /// How.
    pub ended: Option<SegmentEnd>,
}

/// One deferral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferralFact {
    /// When it was deferred.
    pub at: Timestamp,
    /// The first human follow-up: an agent's reply or an agent taking it.
    pub followed_up_at: Option<Timestamp>,
}

/// One close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloseFact {
    /// When.
    pub at: Timestamp,
    /// The agent who owned it then, if any.
    pub agent: Option<AgentId>,
    /// Whether it was waiting in a queue then.
    pub while_queued: bool,
    /// Whether it had been handed off before.
    pub after_handoff: bool,
}

/// Transcript turns by role (notes and system lines excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// Customer turns.
    pub customer: u32,
    /// Bot turns.
    pub bot: u32,
    /// Agent turns.
    pub agent: u32,
}

/// Copilot drafts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftCounts {
    /// Sent unchanged.
    pub sent: u32,
    /// Edited, then sent.
    pub edited: u32,
    /// Not used.
    pub ignored: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl DraftCounts {
    fn is_empty(&self) -> bool {
        *self == DraftCounts::default()
    }
}

impl Facts {
    /// Folds one event. Total, like [`crate::conversation::apply`].
    pub fn apply(&mut self, event: &EventKind, actor: &Actor, at: Timestamp) {
        match event {
            EventKind::Started { channel, .. } => {
                self.started_at = at;
                self.channel = channel.clone();
            }
            EventKind::MessageAdded { message } => match message.role {
                MessageRole::Customer => {
                    self.messages.customer += 1;
                    self.last_customer_message_at = Some(at);
                }
                MessageRole::Bot => self.messages.bot += 1,
                MessageRole::Agent => {
                    self.messages.agent += 1;
                    self.agent_replied(message.agent.as_ref().or(actor.agent()), at);
                }
                MessageRole::System | MessageRole::Note => {}
            },
            EventKind::Reopened => self.reopens += 1,
            EventKind::HandoffRequested {
                reason,
                source,
                queue,
                ..
            } => {
                let rules = if *source == HandoffSource::Rule {
                    std::mem::take(&mut self.pending_rules)
                } else {
                    Vec::new()
                };
                self.handoffs.push(HandoffFact {
                    at,
                    reason: reason.clone(),
                    source: *source,
                    rules,
                    queue: queue.clone(),
                    first_response_at: None,
                });
                self.open_wait(queue.clone(), at);
            }
            EventKind::Offered { agent, .. } => {
                self.withdraw_offer(at);
                self.offers.push(OfferFact {
                    agent: agent.clone(),
                    at,
                    answered_at: None,
                    ended: None,
                });
            }
            EventKind::OfferDeclined { agent } => self.answer_offer(agent, OfferEnd::Declined, at),
            EventKind::OfferExpired { agent } => self.answer_offer(agent, OfferEnd::Expired, at),
            EventKind::Assigned { agent, via } => {
                if *via == AssignVia::Offer {
                    self.answer_offer(agent, OfferEnd::Accepted, at);
                }
                self.withdraw_offer(at);
                let end = if *via == AssignVia::Takeover {
                    WaitEnd::Takeover
                } else {
                    WaitEnd::Assigned
                };
                self.end_wait(at, end);
                self.follow_up(at);
                self.end_segment(at, SegmentEnd::Transferred);
                self.segments.push(SegmentFact {
                    agent: agent.clone(),
                    via: *via,
                    start: at,
                    first_response_at: None,
                    end: None,
                    ended: None,
                });
            }
            EventKind::Transferred {
                to_agent, to_queue, ..
            } => {
                if let Some(agent) = to_agent {
                    self.answer_offer(agent, OfferEnd::Accepted, at);
                }
                self.end_segment(at, SegmentEnd::Transferred);
                match to_agent {
                    Some(agent) => self.segments.push(SegmentFact {
                        agent: agent.clone(),
                        via: AssignVia::Transfer,
                        start: at,
                        first_response_at: None,
                        end: None,
                        ended: None,
                    }),
                    None => self.open_wait(to_queue.clone(), at),
                }
            }
            EventKind::Deferred { .. } => {
                self.withdraw_offer(at);
                self.end_wait(at, WaitEnd::Deferred);
                self.deferrals.push(DeferralFact {
                    at,
                    followed_up_at: None,
                });
            }
            EventKind::Requeued => {
                self.follow_up(at);
                self.open_wait(self.queues.last().cloned(), at);
            }
            EventKind::QueueChanged { queue } => {
                self.note_queue(Some(queue.clone()));
                if let Some(wait) = self.waits.last_mut().filter(|w| w.end.is_none()) {
                    wait.queue = Some(queue.clone());
                }
            }
            EventKind::Closed { .. } => {
                self.withdraw_offer(at);
                let while_queued = self.waits.last().is_some_and(|w| w.end.is_none());
                let by_agent = actor.agent().is_some();
                self.end_wait(
                    at,
                    if by_agent {
                        WaitEnd::Closed
                    } else {
                        WaitEnd::Abandoned
                    },
                );
                let agent = self
                    .segments
                    .last()
                    .filter(|s| s.end.is_none())
                    .map(|s| s.agent.clone());
                self.end_segment(at, SegmentEnd::Closed);
                self.closes.push(CloseFact {
                    at,
                    agent,
                    while_queued,
                    after_handoff: !self.handoffs.is_empty(),
                });
            }
            EventKind::CsatRecorded { score, .. } => self.csat = Some(i64::from(*score) as u8),
            EventKind::DraftUsed { action, .. } => match action {
                DraftAction::Sent => self.drafts.sent += 1,
                DraftAction::Edited => self.drafts.edited += 1,
                DraftAction::Ignored => self.drafts.ignored += 1,
            },
            EventKind::EscalationEvaluated { evaluation } => {
                self.pending_rules = evaluation
                    .get("fired")
                    .and_then(|f| f.as_array())
                    .map(|fired| {
                        fired
                            .iter()
                            .filter_map(|r| r.get("id").and_then(|v| v.as_str()))
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
            }
            EventKind::PriorityChanged { .. }
            | EventKind::BotReplyHeld { .. }
            | EventKind::BotReplyApproved { .. }
            | EventKind::BotReplyRejected { .. }
            | EventKind::BriefBuilt { .. }
            | EventKind::OverflowStep { .. }
            | EventKind::QueuePositions { .. }
            | EventKind::TransferRequested { .. }
            | EventKind::TransferCancelled { .. }
            | EventKind::CustomerEmailSet { .. }
            | EventKind::CapacityOverridden { .. }
            | EventKind::FirstReplyOverdue { .. } => {}
        }
    }

    /// Replays a conversation's events from the start.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = (&'a EventKind, &'a Actor, Timestamp)>,
    ) -> Facts {
        let mut facts = Facts::default();
        for (event, actor, at) in events {
            facts.apply(event, actor, at);
        }
        facts
    }

    /// Whether it was ever handed to a person.
    pub fn handed_off(&self) -> bool {
        !self.handoffs.is_empty()
    }

    /// The last close, if it is closed now (not reopened since).
    pub fn final_close(&self) -> Option<&CloseFact> {
        self.closes
            .last()
            .filter(|_| self.closes.len() > self.reopens as usize)
    }

    fn note_queue(&mut self, queue: Option<QueueId>) {
        if let Some(q) = queue
            && !self.queues.contains(&q)
        {
            self.queues.push(q);
        }
    }

    fn open_wait(&mut self, queue: Option<QueueId>, at: Timestamp) {
        self.note_queue(queue.clone());
        self.waits.push(WaitFact {
            start: at,
            queue,
            end: None,
            ended: None,
        });
    }

    fn end_wait(&mut self, at: Timestamp, how: WaitEnd) {
        if let Some(wait) = self.waits.last_mut().filter(|w| w.end.is_none()) {
            wait.end = Some(at);
            wait.ended = Some(how);
        }
    }

    fn end_segment(&mut self, at: Timestamp, how: SegmentEnd) {
        if let Some(seg) = self.segments.last_mut().filter(|s| s.end.is_none()) {
            seg.end = Some(at);
            seg.ended = Some(how);
        }
    }

    fn withdraw_offer(&mut self, at: Timestamp) {
        if let Some(offer) = self.offers.last_mut().filter(|o| o.ended.is_none()) {
            offer.ended = Some(OfferEnd::Withdrawn);
            offer.answered_at = Some(at);
        }
    }

    fn answer_offer(&mut self, agent: &AgentId, how: OfferEnd, at: Timestamp) {
        if let Some(offer) = self
            .offers
            .last_mut()
            .filter(|o| o.ended.is_none() && &o.agent == agent)
        {
            offer.ended = Some(how);
            offer.answered_at = Some(at);
        }
    }

    fn follow_up(&mut self, at: Timestamp) {
        if let Some(d) = self
            .deferrals
            .last_mut()
            .filter(|d| d.followed_up_at.is_none())
        {
            d.followed_up_at = Some(at);
        }
    }

    fn agent_replied(&mut self, agent: Option<&AgentId>, at: Timestamp) {
        if let Some(h) = self
            .handoffs
            .last_mut()
            .filter(|h| h.first_response_at.is_none())
        {
            h.first_response_at = Some(at);
        }
        if let Some(seg) = self
            .segments
            .last_mut()
            .filter(|s| s.end.is_none() && s.first_response_at.is_none())
            && agent.is_none_or(|a| a == &seg.agent)
        {
            seg.first_response_at = Some(at);
        }
        self.follow_up(at);
    }
}
