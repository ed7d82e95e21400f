//! The conversation lifecycle: states, commands, events, and the pure functions between them.
//!
//! `decide(conversation, command, actor, now)` validates a command against the current state and
//! returns the events it produces; `apply(conversation, event)` folds one event into the state.
//! The store persists both, in one transaction. Replaying a conversation's events from
//! [`Conversation::new`] rebuilds exactly the stored projection.

use crate::ids::{AgentId, ApiKeyId, ConversationId, CustomerId, MessageId, QueueId, TenantId};
use crate::time::Timestamp;
use crate::values::{CsatScore, EmailAddress, MessageRole, Priority};
use serde::{Deserialize, Serialize};
use std::fmt;

mod erase;
pub use erase::ERASED;

/// Where a conversation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// The bot is handling it.
    Bot,
    /// Waiting for a human (possibly with an offer out to one agent).
    Queued,
    /// A human agent owns it; the bot is silent toward the customer.
    Assigned,
    /// Nobody can take it now; someone follows up later.
    Deferred,
    /// Done. A new customer message reopens it.
    Closed,
}

impl ConversationState {
    /// Every state.
    pub const ALL: [ConversationState; 5] = [
        ConversationState::Bot,
        ConversationState::Queued,
        ConversationState::Assigned,
        ConversationState::Deferred,
        ConversationState::Closed,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::Queued => "queued",
            ConversationState::Assigned => "assigned",
            ConversationState::Deferred => "deferred",
            ConversationState::Closed => "closed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for ConversationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did something. Every event records one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// The customer, through a channel.
    Customer,
    /// The tenant's bot.
    Bot,
    /// A logged-in person.
    Agent {
        /// Which one.
        id: AgentId,
    },
    /// An integration authenticated with an API key.
    ApiKey {
        /// Which key.
        id: ApiKeyId,
    },
    /// Baton itself (router, timers, detector).
    System,
}

impl Actor {
    /// The agent behind this actor, if it is one.
    pub fn agent(&self) -> Option<&AgentId> {
        match self {
            Actor::Agent { id } => Some(id),
            _ => None,
        }
    }
}

/// Who asked for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffSource {
    /// The customer asked (explicitly or through a button).
    Customer,
    /// The bot asked.
    Bot,
    /// An LLM bot asked (its `handoff_to_human` tool).
    Llm,
    /// An agent took over.
    Agent,
    /// An API client asked.
    Api,
    /// Baton's escalation rules decided.
    Rule,
}

impl HandoffSource {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffSource::Customer => "customer",
            HandoffSource::Bot => "bot",
            HandoffSource::Llm => "llm",
            HandoffSource::Agent => "agent",
            HandoffSource::Api => "api",
            HandoffSource::Rule => "rule",
        }
    }
}

/// A pending offer: a reservation of a queued conversation for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The agent who may accept.
    pub agent: AgentId,
    /// When the offer lapses.
    pub expires_at: Timestamp,
}

/// An agent's explicit decline of an offer, and when. The router keeps her out of the
/// conversation for its queue's cool-down from `at` (a lapse is not a decline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    /// The agent.
    pub agent: AgentId,
    /// When she declined.
    pub at: Timestamp,
}

/// A transfer waiting for its target to accept. The conversation stays with `from_agent`
/// (state `assigned`) until then; a decline or lapse of an offer to a named agent cancels it,
/// a queue transfer is offered to the queue's agents one after another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTransfer {
    /// The owner who asked for it.
    pub from_agent: AgentId,
    /// The agent it goes to, if one was named.
    pub to_agent: Option<AgentId>,
    /// The queue it goes to, if one was named.
    pub to_queue: Option<QueueId>,
    /// Note for the next agent.
    pub note: String,
    /// When it was asked for.
    pub requested_at: Timestamp,
}

/// The latest handoff request, kept on the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffInfo {
    /// Machine-readable reason, e.g. `customer_request` or `sensitive_topic:refund`.
    pub reason: String,
    /// Who asked.
    pub source: HandoffSource,
    /// Free-text note for the agent.
    pub note: Option<String>,
    /// When it was asked.
    pub at: Timestamp,
}

/// How a conversation came to be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignVia {
    /// The agent claimed it from the queue.
    Claim,
    /// The agent accepted an offer.
    Offer,
    /// The agent took over a bot conversation.
    Takeover,
    /// Another agent transferred it.
    Transfer,
}

/// The conversation projection: what the store keeps per conversation, rebuilt by events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its customer.
    pub customer: CustomerId,
    /// The channel it arrived on (`web`, `whatsapp`, `api`, ...).
    pub channel: String,
    /// Free attributes given at start (page URL, order context, ...).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Current state.
    pub state: ConversationState,
    /// The queue it waits in or was handled from.
    pub queue: Option<QueueId>,
    /// Current priority.
    pub priority: Priority,
    /// The agent who owns it while `assigned`.
    pub assignee: Option<AgentId>,
    /// The pending offer: while `queued`, or while `assigned` with a transfer pending.
    pub offer: Option<Offer>,
    /// A transfer waiting for its target to accept (the assignee keeps it meanwhile).
    #[serde(default)]
    pub transfer: Option<PendingTransfer>,
    /// Agents who declined it since it was last queued (the latest decline of each). Lapsed
    /// offers are not declines.
    #[serde(default)]
    pub declines: Vec<Decline>,
    /// The latest handoff request.
    pub handoff: Option<HandoffInfo>,
    /// The resolution given at the last close.
    pub resolution: Option<String>,
    /// The CSAT score, once given (per closing).
    pub csat: Option<CsatScore>,
    /// The latest escalation evaluation (signals, fired rules, decision).
    pub escalation: Option<serde_json::Value>,
    /// Bot replies waiting for an agent's approval (review mode).
    #[serde(default)]
    pub held: Vec<HeldReply>,
    /// The LLM-written summary recorded with the handoff brief, when an LLM is configured.
    #[serde(default)]
    pub llm_summary: Option<String>,
    /// Transcript length (customer, bot, agent and system turns; notes excluded).
    pub message_count: u32,
    /// Number of events applied, i.e. the version of this projection.
    pub version: u32,
    /// When it started.
    pub created_at: Timestamp,
    /// When anything last happened.
    pub updated_at: Timestamp,
    /// When it last entered `queued`.
    pub queued_at: Option<Timestamp>,
    /// When it was last assigned.
    pub assigned_at: Option<Timestamp>,
    /// When it was last closed.
    pub closed_at: Option<Timestamp>,
    /// How many overflow steps of its current queue already ran (routing bookkeeping; reset
    /// when it enters a queue anew: handoff, requeue, queue change, transfer to a queue).
    #[serde(default)]
    pub overflow_stage: u32,
    /// When it entered its current queue (the overflow clock); `queued_at` when absent.
    #[serde(default)]
    pub entered_queue_at: Option<Timestamp>,
    /// Its place in line while waiting (1 is next), as last announced.
    #[serde(default)]
    pub position: Option<u32>,
    /// The estimated wait announced with `position`, in seconds.
    #[serde(default)]
    pub estimated_wait_secs: Option<u64>,
    /// Why the router made the pending offer, or how the owner got it (its explanation), if
    /// it was routed; dropped when a routed offer ends without an owner (it would name an
    /// agent who no longer has it).
    #[serde(default)]
    pub routing: Option<serde_json::Value>,
    /// While deferred: when the team is expected back, if known.
    #[serde(default)]
    pub back_at: Option<Timestamp>,
    /// Whether its owner has written to the customer since it was assigned to them (the
    /// first-reply timer).
    #[serde(default)]
    pub agent_replied: bool,
    /// Whether its owner was already told she is late with the first reply (the timer's first
    /// stage; the second offers it to the team).
    #[serde(default)]
    pub first_reply_alerted: bool,
}

impl Conversation {
    /// The state before its first event. `started` is always the first event applied.
    pub fn new(
        id: ConversationId,
        tenant: TenantId,
        customer: CustomerId,
        channel: String,
        now: Timestamp,
    ) -> Self {
        Conversation {
            id,
            tenant,
            customer,
            channel,
            attributes: serde_json::Map::new(),
            state: ConversationState::Bot,
            queue: None,
            priority: Priority::DEFAULT,
            assignee: None,
            offer: None,
            transfer: None,
            declines: Vec::new(),
            handoff: None,
            resolution: None,
            csat: None,
            escalation: None,
            held: Vec::new(),
            llm_summary: None,
            message_count: 0,
            version: 0,
            created_at: now,
            updated_at: now,
            queued_at: None,
            assigned_at: None,
            closed_at: None,
            overflow_stage: 0,
            entered_queue_at: None,
            position: None,
            estimated_wait_secs: None,
            routing: None,
            back_at: None,
            agent_replied: false,
            first_reply_alerted: false,
        }
    }

    /// Starts the routing bookkeeping over: it (re)entered a queue at `at`.
    fn entered_queue(&mut self, at: Timestamp) {
        self.overflow_stage = 0;
        self.entered_queue_at = Some(at);
    }

    /// A routed offer ended without an owner: its explanation (naming the agent it chose) is
    /// no longer true. The explanation of how an owner got the conversation stays.
    fn drop_stale_routing(&mut self) {
        if self.state == S::Queued {
            self.routing = None;
        }
    }

    /// It left the line: no position to announce any more.
    fn left_line(&mut self) {
        self.position = None;
        self.estimated_wait_secs = None;
    }
}

/// A message as recorded in an event (the transcript row holds the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Its id.
    pub id: MessageId,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text.
    pub text: String,
    /// The agent who wrote it, for agent turns and notes.
    pub agent: Option<AgentId>,
    /// The channel's own id for it, if any.
    pub external_id: Option<String>,
    /// Bot turn metadata.
    pub bot: Option<BotTurn>,
    /// The file this message carries (its text is then the file's name). Absent from the
    /// events of messages without one, so their recorded form is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentRef>,
}

/// A file attached to a message, as the transcript and events name it; the bytes are stored
/// apart (the store's attachments), fetched by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// The attachment's id.
    pub id: crate::AttachmentId,
    /// The file's name as uploaded (sanitised).
    pub filename: String,
    /// Its media type, as found in its content (`image/png`, `application/pdf`, ...).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A bot reply held by review mode until an agent approves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldReply {
    /// The message id it will have once approved.
    pub id: MessageId,
    /// The text the bot proposed.
    pub text: String,
    /// The bot's metadata.
    pub bot: Option<BotTurn>,
}

/// What an agent did with a copilot draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftAction {
    /// Sent unchanged.
    Sent,
    /// Edited, then sent.
    Edited,
    /// Not used.
    Ignored,
}

/// What the bot said about its own turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BotTurn {
    /// Confidence in [0, 1].
    pub confidence: Option<f64>,
    /// The intent it recognised.
    pub intent: Option<String>,
    /// Whether this was a fallback ("I didn't understand").
    #[serde(default)]
    pub fallback: bool,
}

/// Something that happened to a conversation. Stored in the append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The conversation began.
    Started {
        /// The channel.
        channel: String,
        /// Conversation attributes (page URL, order context, ...).
        #[serde(default)]
        attributes: serde_json::Map<String, serde_json::Value>,
    },
    /// A transcript entry was added (customer, bot, agent or system turn, or note).
    MessageAdded {
        /// The message.
        message: MessageRecord,
    },
    /// A closed conversation came back to life because the customer wrote again.
    Reopened,
    /// Someone asked for a human.
    HandoffRequested {
        /// Machine-readable reason.
        reason: String,
        /// Who asked.
        source: HandoffSource,
        /// Target queue, if chosen.
        queue: Option<QueueId>,
        /// Priority.
        priority: Priority,
        /// Note for the agent.
        note: Option<String>,
    },
    /// The conversation was offered to one agent.
    Offered {
        /// The agent.
        agent: AgentId,
        /// When the offer lapses.
        expires_at: Timestamp,
        /// Why the router chose this agent (its serialized explanation), if it did.
        #[serde(default)]
        explanation: Option<serde_json::Value>,
    },
    /// The offered agent declined.
    OfferDeclined {
        /// The agent.
        agent: AgentId,
    },
    /// The offer lapsed unanswered (or was withdrawn).
    OfferExpired {
        /// The agent.
        agent: AgentId,
    },
    /// An agent now owns the conversation.
    Assigned {
        /// The agent.
        agent: AgentId,
        /// How.
        via: AssignVia,
    },
    /// The owner asked to hand it on; they keep it until the target accepts. A transfer to a
    /// named agent is followed by an `offered` to that agent.
    TransferRequested {
        /// The owner.
        from_agent: AgentId,
        /// Target agent, if any.
        to_agent: Option<AgentId>,
        /// Target queue, if any.
        to_queue: Option<QueueId>,
        /// Note for the next agent.
        note: String,
    },
    /// A pending transfer ended without a new owner; the owner keeps the conversation.
    TransferCancelled {
        /// `declined` or `expired` (the named agent's answer), `withdrawn` (the owner or a
        /// supervisor took it back), `closed`.
        reason: String,
    },
    /// The target accepted a transfer and owns the conversation now. (Logs from before
    /// transfers waited for acceptance hold queue transfers with no `to_agent`: those put the
    /// conversation back in the queue.)
    Transferred {
        /// The previous owner.
        from_agent: AgentId,
        /// Target agent, if any.
        to_agent: Option<AgentId>,
        /// Target queue, if any.
        to_queue: Option<QueueId>,
        /// Note for the next agent.
        note: String,
    },
    /// Nobody can take it now; follow up later.
    Deferred {
        /// Why (e.g. `after_hours`, `no_agent_available`).
        reason: String,
        /// When the team is expected back (the next opening of the queue's hours), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        back_at: Option<Timestamp>,
    },
    /// A deferred conversation went back into its queue.
    Requeued,
    /// The priority changed.
    PriorityChanged {
        /// The new priority.
        priority: Priority,
    },
    /// Done.
    Closed {
        /// How it ended.
        resolution: Option<String>,
    },
    /// The escalation detector evaluated a turn: signals measured, rules fired, decision.
    EscalationEvaluated {
        /// The serialized [`crate::escalation::Evaluation`].
        evaluation: serde_json::Value,
    },
    /// Review mode held a low-confidence bot reply for an agent to approve.
    BotReplyHeld {
        /// The held reply.
        reply: HeldReply,
    },
    /// An agent approved (possibly edited) a held bot reply; a `message_added` follows.
    BotReplyApproved {
        /// Which reply.
        id: MessageId,
        /// Whether the agent changed the text.
        edited: bool,
    },
    /// An agent rejected a held bot reply; the customer never sees it.
    BotReplyRejected {
        /// Which reply.
        id: MessageId,
    },
    /// The handoff brief as built when the conversation was handed over.
    BriefBuilt {
        /// The serialized brief.
        brief: serde_json::Value,
    },
    /// The agent did something with a copilot draft.
    DraftUsed {
        /// The draft's id.
        draft_id: String,
        /// Where it came from (`kb`, `canned`, `llm`).
        source: String,
        /// `sent` as is, `edited` then sent, or `ignored`.
        action: DraftAction,
    },
    /// The customer rated the conversation.
    CsatRecorded {
        /// 1 to 5.
        score: CsatScore,
        /// Optional comment.
        comment: Option<String>,
    },
    /// Overflow moved the queued conversation to another queue (its overflow plan restarts).
    QueueChanged {
        /// The new queue.
        queue: QueueId,
    },
    /// An overflow step of the current queue ran (routing bookkeeping).
    OverflowStep {
        /// How many steps have run now.
        stage: u32,
    },
    /// The customer left an email address to be followed up at (the widget's form while the
    /// conversation is deferred); it is now the email on their profile.
    CustomerEmailSet {
        /// The address.
        email: EmailAddress,
    },
    /// The owner did not write to the customer within the queue's first-reply time: she is
    /// told so; if she still has not written after the queue's grace time, the router offers
    /// the conversation to someone else (a queue transfer by the system).
    FirstReplyOverdue {
        /// The owner.
        agent: AgentId,
        /// The queue's first-reply time.
        after_secs: u64,
    },
    /// A supervisor gave an agent this conversation beyond her capacity, on purpose
    /// (`override_capacity` on the request).
    CapacityOverridden {
        /// The agent.
        agent: AgentId,
        /// What she holds with it, in conversations.
        load: u32,
        /// Her capacity.
        capacity: u32,
    },
    /// The conversation's place in line (or its estimated wait) changed.
    QueuePositions {
        /// 1 is next.
        position: u32,
        /// Estimated seconds until an agent takes it; `None` when nobody is staffed.
        estimated_wait_secs: Option<u64>,
    },
}

impl EventKind {
    /// Whether the event names `agent` as the one it is about: offered to, declined or let
    /// lapse by, assigned to, transferred from or to, overdue or over capacity.
    pub fn names_agent(&self, agent: &AgentId) -> bool {
        match self {
            EventKind::Offered { agent: a, .. }
            | EventKind::OfferDeclined { agent: a }
            | EventKind::OfferExpired { agent: a }
            | EventKind::Assigned { agent: a, .. }
            | EventKind::FirstReplyOverdue { agent: a, .. }
            | EventKind::CapacityOverridden { agent: a, .. } => a == agent,
            EventKind::TransferRequested {
                from_agent,
                to_agent,
                ..
            }
            | EventKind::Transferred {
                from_agent,
                to_agent,
                ..
            } => from_agent == agent || to_agent.as_ref() == Some(agent),
            _ => false,
        }
    }

    /// The snake_case event name, as stored and streamed.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::MessageAdded { .. } => "message_added",
            EventKind::Reopened => "reopened",
            EventKind::HandoffRequested { .. } => "handoff_requested",
            EventKind::Offered { .. } => "offered",
            EventKind::OfferDeclined { .. } => "offer_declined",
            EventKind::OfferExpired { .. } => "offer_expired",
            EventKind::Assigned { .. } => "assigned",
            EventKind::TransferRequested { .. } => "transfer_requested",
            EventKind::TransferCancelled { .. } => "transfer_cancelled",
            EventKind::Transferred { .. } => "transferred",
            EventKind::Deferred { .. } => "deferred",
            EventKind::Requeued => "requeued",
            EventKind::PriorityChanged { .. } => "priority_changed",
            EventKind::Closed { .. } => "closed",
            EventKind::CsatRecorded { .. } => "csat_recorded",
            EventKind::BotReplyHeld { .. } => "bot_reply_held",
            EventKind::BotReplyApproved { .. } => "bot_reply_approved",
            EventKind::BotReplyRejected { .. } => "bot_reply_rejected",
            EventKind::DraftUsed { .. } => "draft_used",
            EventKind::BriefBuilt { .. } => "brief_built",
            EventKind::EscalationEvaluated { .. } => "escalation_evaluated",
            EventKind::QueueChanged { .. } => "queue_changed",
            EventKind::OverflowStep { .. } => "overflow_step",
            EventKind::QueuePositions { .. } => "queue_positions",
            EventKind::CustomerEmailSet { .. } => "customer_email_set",
            EventKind::CapacityOverridden { .. } => "capacity_overridden",
            EventKind::FirstReplyOverdue { .. } => "first_reply_overdue",
        }
    }
}

/// An intent to change a conversation. `decide` turns it into events or refuses it.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Add a customer, bot, agent or system turn, or an internal note.
    AddMessage(MessageRecord),
    /// Ask for a human.
    RequestHandoff {
        /// Machine-readable reason.
        reason: String,
        /// Who asked.
        source: HandoffSource,
        /// Target queue.
        queue: Option<QueueId>,
        /// Priority; default when absent.
        priority: Option<Priority>,
        /// Note for the agent.
        note: Option<String>,
    },
    /// An agent takes a queued (or deferred) conversation.
    Claim,
    /// Offer the queued conversation to an agent (router).
    Offer {
        /// The agent.
        agent: AgentId,
        /// When the offer lapses.
        expires_at: Timestamp,
        /// Why the router chose this agent, recorded with the offer.
        explanation: Option<serde_json::Value>,
    },
    /// The offered agent accepts.
    Accept,
    /// The offered agent declines.
    Decline,
    /// The offer lapsed (timer) or was withdrawn (agent went away).
    ExpireOffer,
    /// The owner asks to hand the conversation to another agent or queue; they keep it until
    /// the target accepts.
    Transfer {
        /// Target agent.
        to_agent: Option<AgentId>,
        /// Target queue.
        to_queue: Option<QueueId>,
        /// Note for the next agent.
        note: String,
        /// When the offer to `to_agent` lapses (ignored for a queue transfer, which the router
        /// offers).
        expires_at: Timestamp,
        /// The actor may act on another agent's conversation (supervisor).
        override_owner: bool,
    },
    /// Withdraw a pending transfer.
    CancelTransfer {
        /// The actor may act on another agent's conversation (supervisor).
        override_owner: bool,
    },
    /// Park the conversation until someone can take it.
    Defer {
        /// Why.
        reason: String,
        /// When the team is expected back, if known (told to the customer).
        back_at: Option<Timestamp>,
    },
    /// Put a deferred conversation back in its queue.
    Requeue,
    /// Change the priority.
    SetPriority(Priority),
    /// Close.
    Close {
        /// How it ended.
        resolution: Option<String>,
        /// The actor may act on another agent's conversation (supervisor).
        override_owner: bool,
    },
    /// Record an escalation evaluation.
    RecordEvaluation(serde_json::Value),
    /// Hold a bot reply for review instead of sending it.
    HoldBotReply(HeldReply),
    /// Approve a held reply (optionally with new text): it is added as a bot message.
    ApproveHeld {
        /// Which reply.
        id: MessageId,
        /// Replacement text, when the agent edited it.
        text: Option<String>,
    },
    /// Reject a held reply.
    RejectHeld {
        /// Which reply.
        id: MessageId,
    },
    /// Record the brief built at handoff.
    RecordBrief(serde_json::Value),
    /// Record what an agent did with a copilot draft.
    RecordDraftUse {
        /// The draft's id.
        draft_id: String,
        /// Its source.
        source: String,
        /// What the agent did.
        action: DraftAction,
    },
    /// Record the customer's rating.
    RecordCsat {
        /// 1 to 5.
        score: CsatScore,
        /// Optional comment.
        comment: Option<String>,
    },
    /// Overflow: move a queued conversation to another queue.
    ChangeQueue {
        /// The target queue.
        queue: QueueId,
    },
    /// Overflow: record that the current queue's overflow plan reached `stage`.
    RecordOverflowStep {
        /// Steps run so far.
        stage: u32,
    },
    /// The owner has not written to the customer within the queue's first-reply time (the
    /// router's timer): recorded once per assignment, refused once she has written.
    FlagFirstReplyOverdue {
        /// The queue's first-reply time.
        after_secs: u64,
    },
    /// Record the email address the customer left (their profile is updated with it).
    SetCustomerEmail {
        /// The address.
        email: EmailAddress,
    },
    /// Record a waiting conversation's place in line; nothing happens when it is unchanged.
    SetPosition {
        /// 1 is next.
        position: u32,
        /// Estimated wait in seconds.
        estimated_wait_secs: Option<u64>,
    },
}

/// Why a command was refused. Every variant is a conflict with the current state (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The command makes no sense in the current state.
    #[error("cannot {action} a conversation that is {state}")]
    InvalidState {
        /// What was attempted.
        action: &'static str,
        /// The state it is in.
        state: ConversationState,
    },
    /// The conversation belongs to another agent.
    #[error("conversation is assigned to another agent")]
    NotAssignee,
    /// The command needs an agent as actor.
    #[error("only an agent can {0}")]
    AgentRequired(&'static str),
    /// There is no offer for this agent.
    #[error("there is no pending offer for this agent")]
    NoOffer,
    /// Taking the conversation would put the agent over her capacity.
    #[error(
        "{who} is at capacity: {capacity} conversation(s) allowed and {held} held (assigned or offered); {what} would make {load}. A supervisor may override with \"override_capacity\": true"
    )]
    AgentAtCapacity {
        /// The agent, by name and id.
        who: String,
        /// What would have put her over (e.g. `claiming conv_...`).
        what: String,
        /// What she holds now.
        held: u32,
        /// What she would hold.
        load: u32,
        /// Her capacity.
        capacity: u32,
    },
    /// An offer is already out.
    #[error("the conversation is already offered to an agent")]
    AlreadyOffered,
    /// The conversation was already rated.
    #[error("the conversation was already rated")]
    CsatAlreadyRecorded,
    /// The bot may not write once a human owns the conversation.
    #[error("the bot cannot write to the customer while an agent owns the conversation")]
    BotSilenced,
    /// Transfer needs a target.
    #[error("a transfer needs to_agent or to_queue")]
    TransferTargetMissing,
    /// An offer must expire in the future.
    #[error("an offer must expire after now")]
    OfferInPast,
    /// No held bot reply with that id.
    #[error("there is no held bot reply with that id")]
    NoHeldReply,
    /// Transfer to oneself.
    #[error("cannot transfer a conversation to its current owner")]
    TransferToSelf,
    /// A transfer is already waiting for its target.
    #[error("a transfer of this conversation is already pending; cancel it first")]
    TransferPending,
    /// No transfer is pending.
    #[error("there is no pending transfer")]
    NoTransfer,
}

impl TransitionError {
    /// The machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::InvalidState { .. } => "invalid_state",
            TransitionError::NotAssignee => "not_assignee",
            TransitionError::AgentAtCapacity { .. } => "agent_at_capacity",
            TransitionError::AgentRequired(_) => "agent_required",
            TransitionError::NoOffer => "no_offer",
            TransitionError::AlreadyOffered => "already_offered",
            TransitionError::CsatAlreadyRecorded => "csat_already_recorded",
            TransitionError::BotSilenced => "bot_silenced",
            TransitionError::TransferTargetMissing => "transfer_target_missing",
            TransitionError::TransferToSelf => "transfer_to_self",
            TransitionError::TransferPending => "transfer_pending",
            TransitionError::NoTransfer => "no_transfer",
            TransitionError::OfferInPast => "offer_in_past",
            TransitionError::NoHeldReply => "no_held_reply",
        }
    }
}

use ConversationState as S;

fn invalid(action: &'static str, state: ConversationState) -> TransitionError {
    TransitionError::InvalidState { action, state }
}

fn require_agent<'a>(
    actor: &'a Actor,
    action: &'static str,
) -> Result<&'a AgentId, TransitionError> {
    actor.agent().ok_or(TransitionError::AgentRequired(action))
}

/// Validates `command` by `actor` against `conv` at `now` and returns the events it produces,
/// in order. Never mutates; apply the events with [`apply`].
pub fn decide(
    conv: &Conversation,
    command: &Command,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<EventKind>, TransitionError> {
    let state = conv.state;
    let events = match command {
        Command::AddMessage(message) => decide_message(conv, message, actor)?,
        Command::RequestHandoff {
            reason,
            source,
            queue,
            priority,
            note,
        } => {
            let requested = EventKind::HandoffRequested {
                reason: reason.clone(),
                source: *source,
                queue: queue.clone().or_else(|| conv.queue.clone()),
                priority: priority.unwrap_or(conv.priority),
                note: note.clone(),
            };
            match (state, actor.agent()) {
                // An agent asking for a handoff of a bot conversation takes it over.
                (S::Bot, Some(agent)) => vec![
                    requested,
                    EventKind::Assigned {
                        agent: agent.clone(),
                        via: AssignVia::Takeover,
                    },
                ],
                (S::Bot | S::Deferred, _) => vec![requested],
                (s, _) => return Err(invalid("hand off", s)),
            }
        }
        Command::Claim => {
            let agent = require_agent(actor, "claim")?;
            match state {
                S::Queued | S::Deferred => {
                    let mut events = Vec::new();
                    if let Some(offer) = &conv.offer
                        && &offer.agent != agent
                    {
                        events.push(EventKind::OfferExpired {
                            agent: offer.agent.clone(),
                        });
                    }
                    events.push(EventKind::Assigned {
                        agent: agent.clone(),
                        via: AssignVia::Claim,
                    });
                    events
                }
                S::Assigned if conv.assignee.as_ref() == Some(agent) => {
                    return Err(invalid("claim", state));
                }
                S::Assigned => return Err(TransitionError::NotAssignee),
                s => return Err(invalid("claim", s)),
            }
        }
        Command::Offer {
            agent,
            expires_at,
            explanation,
        } => {
            if *expires_at <= now {
                return Err(TransitionError::OfferInPast);
            }
            match (state, &conv.transfer) {
                (S::Queued, _) => {}
                // A queue transfer is offered to the queue's agents while the owner keeps it.
                (S::Assigned, Some(t)) if t.to_agent.is_none() => {
                    if &t.from_agent == agent {
                        return Err(TransitionError::TransferToSelf);
                    }
                }
                _ => return Err(invalid("offer", state)),
            }
            // Whether a decliner may be offered it again (after her cool-down) is the
            // router's to decide: the cool-down is queue configuration.
            if conv.offer.is_some() {
                return Err(TransitionError::AlreadyOffered);
            }
            vec![EventKind::Offered {
                agent: agent.clone(),
                expires_at: *expires_at,
                explanation: explanation.clone(),
            }]
        }
        Command::Accept | Command::Decline => {
            let agent = require_agent(actor, "answer an offer")?;
            match (&conv.offer, &conv.transfer) {
                (Some(offer), None) if &offer.agent == agent && state == S::Queued => {
                    if *command == Command::Accept {
                        vec![EventKind::Assigned {
                            agent: agent.clone(),
                            via: AssignVia::Offer,
                        }]
                    } else {
                        vec![EventKind::OfferDeclined {
                            agent: agent.clone(),
                        }]
                    }
                }
                (Some(offer), Some(t)) if &offer.agent == agent && state == S::Assigned => {
                    if *command == Command::Accept {
                        vec![EventKind::Transferred {
                            from_agent: t.from_agent.clone(),
                            to_agent: Some(agent.clone()),
                            to_queue: t.to_queue.clone(),
                            note: t.note.clone(),
                        }]
                    } else {
                        let mut events = vec![EventKind::OfferDeclined {
                            agent: agent.clone(),
                        }];
                        if t.to_agent.is_some() {
                            events.push(EventKind::TransferCancelled {
                                reason: "declined".into(),
                            });
                        }
                        events
                    }
                }
                _ => return Err(TransitionError::NoOffer),
            }
        }
        Command::ExpireOffer => match &conv.offer {
            Some(offer) => {
                let mut events = vec![EventKind::OfferExpired {
                    agent: offer.agent.clone(),
                }];
                if conv.transfer.as_ref().is_some_and(|t| t.to_agent.is_some()) {
                    events.push(EventKind::TransferCancelled {
                        reason: "expired".into(),
                    });
                }
                events
            }
            None => return Err(TransitionError::NoOffer),
        },
        Command::Transfer {
            to_agent,
            to_queue,
            note,
            expires_at,
            override_owner,
        } => {
            if state != S::Assigned {
                return Err(invalid("transfer", state));
            }
            check_owner(conv, actor, *override_owner)?;
            let from = conv.assignee.clone().ok_or(invalid("transfer", state))?;
            if to_agent.is_none() && to_queue.is_none() {
                return Err(TransitionError::TransferTargetMissing);
            }
            if to_agent.as_ref() == Some(&from) {
                return Err(TransitionError::TransferToSelf);
            }
            if conv.transfer.is_some() {
                return Err(TransitionError::TransferPending);
            }
            let mut events = vec![EventKind::TransferRequested {
                from_agent: from,
                to_agent: to_agent.clone(),
                to_queue: to_queue.clone(),
                note: note.clone(),
            }];
            if let Some(agent) = to_agent {
                if *expires_at <= now {
                    return Err(TransitionError::OfferInPast);
                }
                events.push(EventKind::Offered {
                    agent: agent.clone(),
                    expires_at: *expires_at,
                    explanation: None,
                });
            }
            events
        }
        Command::CancelTransfer { override_owner } => {
            if conv.transfer.is_none() {
                return Err(TransitionError::NoTransfer);
            }
            check_owner(conv, actor, *override_owner)?;
            cancel_transfer(conv, "withdrawn")
        }
        Command::Defer { reason, back_at } => match state {
            S::Queued | S::Bot => {
                let mut events = Vec::new();
                if let Some(offer) = &conv.offer {
                    events.push(EventKind::OfferExpired {
                        agent: offer.agent.clone(),
                    });
                }
                events.push(EventKind::Deferred {
                    reason: reason.clone(),
                    back_at: *back_at,
                });
                events
            }
            s => return Err(invalid("defer", s)),
        },
        Command::Requeue => match state {
            S::Deferred => vec![EventKind::Requeued],
            s => return Err(invalid("requeue", s)),
        },
        Command::SetPriority(p) => match state {
            S::Closed => return Err(invalid("reprioritise", state)),
            _ if *p == conv.priority => vec![],
            _ => vec![EventKind::PriorityChanged { priority: *p }],
        },
        Command::Close {
            resolution,
            override_owner,
        } => {
            if state == S::Closed {
                return Err(invalid("close", state));
            }
            check_owner(conv, actor, *override_owner)?;
            let mut events = if conv.transfer.is_some() {
                cancel_transfer(conv, "closed")
            } else {
                Vec::new()
            };
            events.push(EventKind::Closed {
                resolution: resolution.clone(),
            });
            events
        }
        Command::HoldBotReply(reply) => match state {
            S::Bot | S::Queued | S::Deferred => vec![EventKind::BotReplyHeld {
                reply: reply.clone(),
            }],
            S::Assigned => return Err(TransitionError::BotSilenced),
            s => return Err(invalid("hold a reply for", s)),
        },
        Command::ApproveHeld { id, text } => {
            require_agent(actor, "approve a bot reply")?;
            let held = conv
                .held
                .iter()
                .find(|h| &h.id == id)
                .ok_or(TransitionError::NoHeldReply)?;
            let message = MessageRecord {
                id: held.id.clone(),
                role: MessageRole::Bot,
                text: text.clone().unwrap_or_else(|| held.text.clone()),
                agent: None,
                external_id: None,
                bot: held.bot.clone(),
                attachment: None,
            };
            let mut events = vec![EventKind::BotReplyApproved {
                id: id.clone(),
                edited: text.as_ref().is_some_and(|t| t != &held.text),
            }];
            // The approved reply is a bot turn: refused like one once a human owns the chat.
            events.extend(decide_message(conv, &message, &Actor::Bot)?);
            events
        }
        Command::RejectHeld { id } => {
            require_agent(actor, "reject a bot reply")?;
            if !conv.held.iter().any(|h| &h.id == id) {
                return Err(TransitionError::NoHeldReply);
            }
            vec![EventKind::BotReplyRejected { id: id.clone() }]
        }
        Command::RecordDraftUse {
            draft_id,
            source,
            action,
        } => {
            let agent = require_agent(actor, "use a draft")?;
            if conv.state != S::Assigned || conv.assignee.as_ref() != Some(agent) {
                return Err(TransitionError::NotAssignee);
            }
            vec![EventKind::DraftUsed {
                draft_id: draft_id.clone(),
                source: source.clone(),
                action: *action,
            }]
        }
        Command::RecordBrief(brief) => vec![EventKind::BriefBuilt {
            brief: brief.clone(),
        }],
        Command::RecordEvaluation(evaluation) => {
            vec![EventKind::EscalationEvaluated {
                evaluation: evaluation.clone(),
            }]
        }
        Command::RecordCsat { score, comment } => {
            if state != S::Closed {
                return Err(invalid("rate", state));
            }
            if conv.csat.is_some() {
                return Err(TransitionError::CsatAlreadyRecorded);
            }
            vec![EventKind::CsatRecorded {
                score: *score,
                comment: comment.clone(),
            }]
        }
        Command::ChangeQueue { queue } => match state {
            S::Queued if conv.queue.as_ref() == Some(queue) => vec![],
            S::Queued => {
                let mut events = Vec::new();
                if let Some(offer) = &conv.offer {
                    events.push(EventKind::OfferExpired {
                        agent: offer.agent.clone(),
                    });
                }
                events.push(EventKind::QueueChanged {
                    queue: queue.clone(),
                });
                events
            }
            s => return Err(invalid("move", s)),
        },
        Command::RecordOverflowStep { stage } => match state {
            S::Queued | S::Deferred if *stage == conv.overflow_stage => vec![],
            S::Queued | S::Deferred => vec![EventKind::OverflowStep { stage: *stage }],
            s => return Err(invalid("escalate", s)),
        },
        Command::SetPosition {
            position,
            estimated_wait_secs,
        } => match state {
            S::Queued
                if conv.position == Some(*position)
                    && conv.estimated_wait_secs == *estimated_wait_secs =>
            {
                vec![]
            }
            S::Queued if conv.offer.is_none() => vec![EventKind::QueuePositions {
                position: *position,
                estimated_wait_secs: *estimated_wait_secs,
            }],
            S::Queued => return Err(TransitionError::AlreadyOffered),
            s => return Err(invalid("position", s)),
        },
        Command::FlagFirstReplyOverdue { after_secs } => match (state, &conv.assignee) {
            (S::Assigned, Some(agent))
                if !conv.agent_replied && !conv.first_reply_alerted && conv.transfer.is_none() =>
            {
                vec![EventKind::FirstReplyOverdue {
                    agent: agent.clone(),
                    after_secs: *after_secs,
                }]
            }
            (s, _) => return Err(invalid("flag a first reply as overdue for", s)),
        },
        // The customer may tell us where to reach them at any point of the conversation.
        Command::SetCustomerEmail { email } => vec![EventKind::CustomerEmailSet {
            email: email.clone(),
        }],
    };
    Ok(events)
}

/// An agent acting on an assigned conversation must own it, unless the caller's role allows
/// overriding (supervisors). Non-agent actors (integrations, system) are authorised upstream.
/// The events that end a pending transfer without a new owner (the offer out is withdrawn).
fn cancel_transfer(conv: &Conversation, reason: &str) -> Vec<EventKind> {
    let mut events = Vec::new();
    if let Some(offer) = &conv.offer {
        events.push(EventKind::OfferExpired {
            agent: offer.agent.clone(),
        });
    }
    events.push(EventKind::TransferCancelled {
        reason: reason.into(),
    });
    events
}

fn check_owner(
    conv: &Conversation,
    actor: &Actor,
    override_owner: bool,
) -> Result<(), TransitionError> {
    match (conv.state, actor.agent()) {
        (S::Assigned, Some(agent)) if !override_owner && conv.assignee.as_ref() != Some(agent) => {
            Err(TransitionError::NotAssignee)
        }
        _ => Ok(()),
    }
}

fn decide_message(
    conv: &Conversation,
    message: &MessageRecord,
    actor: &Actor,
) -> Result<Vec<EventKind>, TransitionError> {
    let state = conv.state;
    let added = EventKind::MessageAdded {
        message: message.clone(),
    };
    match message.role {
        MessageRole::Customer => Ok(if state == S::Closed {
            vec![EventKind::Reopened, added]
        } else {
            vec![added]
        }),
        MessageRole::Bot => match state {
            S::Bot | S::Queued | S::Deferred => Ok(vec![added]),
            S::Assigned => Err(TransitionError::BotSilenced),
            S::Closed => Err(invalid("add a bot message to", state)),
        },
        MessageRole::Agent => {
            let agent = require_agent(actor, "write as an agent")?;
            match state {
                S::Assigned if conv.assignee.as_ref() == Some(agent) => Ok(vec![added]),
                S::Assigned => Err(TransitionError::NotAssignee),
                s => Err(invalid("reply to", s)),
            }
        }
        MessageRole::System => match state {
            S::Closed => Err(invalid("add a system message to", state)),
            _ => Ok(vec![added]),
        },
        MessageRole::Note => {
            require_agent(actor, "write a note")?;
            Ok(vec![added])
        }
    }
}

/// Folds one event into the projection. Total: it never fails, so replay always succeeds.
pub fn apply(conv: &mut Conversation, event: &EventKind, at: Timestamp) {
    conv.version += 1;
    conv.updated_at = at;
    match event {
        EventKind::Started {
            channel,
            attributes,
        } => {
            conv.channel = channel.clone();
            conv.attributes = attributes.clone();
            conv.created_at = at;
        }
        EventKind::MessageAdded { message } => {
            if message.role != MessageRole::Note {
                conv.message_count += 1;
            }
            if message.role == MessageRole::Agent {
                conv.agent_replied = true;
            }
        }
        EventKind::Reopened => {
            conv.left_line();
            conv.state = S::Bot;
            conv.assignee = None;
            conv.offer = None;
            conv.transfer = None;
            conv.declines.clear();
            conv.csat = None;
            conv.resolution = None;
            conv.closed_at = None;
        }
        EventKind::HandoffRequested {
            reason,
            source,
            queue,
            priority,
            note,
        } => {
            conv.state = S::Queued;
            conv.queue = queue.clone();
            conv.priority = *priority;
            conv.queued_at = Some(at);
            conv.declines.clear();
            conv.entered_queue(at);
            conv.handoff = Some(HandoffInfo {
                reason: reason.clone(),
                source: *source,
                note: note.clone(),
                at,
            });
        }
        EventKind::Offered {
            agent,
            expires_at,
            explanation,
        } => {
            conv.offer = Some(Offer {
                agent: agent.clone(),
                expires_at: *expires_at,
            });
            conv.left_line();
            if explanation.is_some() {
                conv.routing = explanation.clone();
            }
        }
        EventKind::OfferDeclined { agent } => {
            conv.offer = None;
            conv.drop_stale_routing();
            conv.declines.retain(|d| &d.agent != agent);
            conv.declines.push(Decline {
                agent: agent.clone(),
                at,
            });
        }
        EventKind::OfferExpired { .. } => {
            conv.offer = None;
            conv.drop_stale_routing();
        }
        EventKind::Assigned { agent, .. } => {
            conv.agent_replied = false;
            conv.first_reply_alerted = false;
            conv.state = S::Assigned;
            conv.assignee = Some(agent.clone());
            conv.offer = None;
            conv.assigned_at = Some(at);
            conv.left_line();
        }
        EventKind::TransferRequested {
            from_agent,
            to_agent,
            to_queue,
            note,
        } => {
            conv.transfer = Some(PendingTransfer {
                from_agent: from_agent.clone(),
                to_agent: to_agent.clone(),
                to_queue: to_queue.clone(),
                note: note.clone(),
                requested_at: at,
            });
            conv.offer = None;
            conv.declines.clear();
        }
        EventKind::TransferCancelled { .. } => {
            conv.transfer = None;
            conv.offer = None;
            conv.declines.clear();
        }
        EventKind::Transferred {
            to_agent, to_queue, ..
        } => {
            if let Some(q) = to_queue {
                conv.queue = Some(q.clone());
            }
            conv.transfer = None;
            conv.offer = None;
            conv.agent_replied = false;
            conv.first_reply_alerted = false;
            match to_agent {
                Some(agent) => {
                    conv.assignee = Some(agent.clone());
                    conv.assigned_at = Some(at);
                    conv.declines.clear();
                }
                None => {
                    conv.state = S::Queued;
                    conv.assignee = None;
                    conv.queued_at = Some(at);
                    conv.declines.clear();
                    conv.entered_queue(at);
                }
            }
        }
        EventKind::Deferred { back_at, .. } => {
            conv.state = S::Deferred;
            conv.offer = None;
            conv.back_at = *back_at;
            conv.left_line();
        }
        EventKind::Requeued => {
            conv.state = S::Queued;
            conv.queued_at = Some(at);
            conv.declines.clear();
            conv.entered_queue(at);
        }
        EventKind::PriorityChanged { priority } => conv.priority = *priority,
        EventKind::Closed { resolution } => {
            conv.state = S::Closed;
            conv.assignee = None;
            conv.offer = None;
            conv.transfer = None;
            conv.resolution = resolution.clone();
            conv.closed_at = Some(at);
            conv.left_line();
        }
        EventKind::CsatRecorded { score, .. } => conv.csat = Some(*score),
        EventKind::BotReplyHeld { reply } => conv.held.push(reply.clone()),
        EventKind::BotReplyApproved { id, .. } | EventKind::BotReplyRejected { id } => {
            conv.held.retain(|h| &h.id != id);
        }
        EventKind::DraftUsed { .. }
        | EventKind::CustomerEmailSet { .. }
        | EventKind::CapacityOverridden { .. } => {}
        EventKind::FirstReplyOverdue { .. } => conv.first_reply_alerted = true,
        EventKind::BriefBuilt { brief } => {
            conv.llm_summary = (brief["summary_source"] == "llm")
                .then(|| brief["summary"].as_str().map(String::from))
                .flatten();
        }
        EventKind::EscalationEvaluated { evaluation } => {
            conv.escalation = Some(evaluation.clone());
        }
        EventKind::QueueChanged { queue } => {
            conv.queue = Some(queue.clone());
            conv.entered_queue(at);
            conv.left_line();
        }
        EventKind::OverflowStep { stage } => conv.overflow_stage = *stage,
        EventKind::QueuePositions {
            position,
            estimated_wait_secs,
        } => {
            conv.position = Some(*position);
            conv.estimated_wait_secs = *estimated_wait_secs;
        }
    }
    if conv.state != S::Deferred {
        conv.back_at = None;
    }
}

/// Whether the conversation counts against `agent`'s capacity: she owns it, or it is offered
/// to her (a pending transfer counts for both its owner and the agent it is offered to).
pub fn holds(conv: &Conversation, agent: &AgentId) -> bool {
    (conv.state == S::Assigned && conv.assignee.as_ref() == Some(agent))
        || conv.offer.as_ref().is_some_and(|o| &o.agent == agent)
}

/// The agents a command gives the conversation to (`before` → `after`): its owner after it,
/// or the agent it is offered to, unless they owned it before. Capacity is checked for them
/// ([`check_capacity`]).
pub fn new_holders(before: &Conversation, after: &Conversation) -> Vec<AgentId> {
    let owner_before = (before.state == S::Assigned)
        .then_some(before.assignee.as_ref())
        .flatten();
    let owner_after = (after.state == S::Assigned)
        .then_some(after.assignee.as_ref())
        .flatten();
    [owner_after, after.offer.as_ref().map(|o| &o.agent)]
        .into_iter()
        .flatten()
        .filter(|a| Some(*a) != owner_before)
        .cloned()
        .collect()
}

/// Capacity is a hard limit on every path that gives an agent a conversation (claim, accept,
/// directed transfer, takeover): `held` is what she holds by the stored count before the
/// command, `capacity` her limit. Within it: nothing to record. Over it: refused, unless a
/// supervisor overrides, which is recorded as a [`EventKind::CapacityOverridden`] event.
#[allow(clippy::too_many_arguments)]
pub fn check_capacity(
    before: &Conversation,
    after: &Conversation,
    agent: &AgentId,
    who: &str,
    held: u32,
    capacity: u32,
    override_capacity: bool,
) -> Result<Option<EventKind>, TransitionError> {
    let load = held - u32::from(holds(before, agent)).min(held) + u32::from(holds(after, agent));
    if load <= capacity {
        return Ok(None);
    }
    if override_capacity {
        return Ok(Some(EventKind::CapacityOverridden {
            agent: agent.clone(),
            load,
            capacity,
        }));
    }
    let what = match (after.state, &after.offer) {
        (S::Assigned, Some(o)) if &o.agent == agent => format!("offering {} to them", after.id),
        _ if before.offer.as_ref().is_some_and(|o| &o.agent == agent) => {
            format!("accepting {}", after.id)
        }
        _ if before.state == S::Bot => format!("taking over {}", after.id),
        _ => format!("taking {}", after.id),
    };
    Err(TransitionError::AgentAtCapacity {
        who: who.to_string(),
        what,
        held,
        load,
        capacity,
    })
}

/// Decides and applies in one step, returning the events. The usual way to run a command.
pub fn execute(
    conv: &mut Conversation,
    command: &Command,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<EventKind>, TransitionError> {
    let events = decide(conv, command, actor, now)?;
    for event in &events {
        apply(conv, event, now);
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
