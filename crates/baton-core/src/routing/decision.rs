//! What the router decides: data the server turns into conversation commands and pushes.

use super::model::Strategy;
use crate::ids::{AgentId, ConversationId, QueueId};
use crate::time::Timestamp;
use crate::values::Priority;
use serde::{Deserialize, Serialize};

/// One agent the router looked at for an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The agent.
    pub agent: AgentId,
    /// Its score (`best_match`), or the strategy's ordering value otherwise.
    pub score: Option<f64>,
    /// Why it was passed over, if it was.
    pub excluded: Option<String>,
}

/// Why an offer or assignment went where it went. Stored with the decision; the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The queue it was routed from.
    pub queue: QueueId,
    /// The queue's strategy.
    pub strategy: Strategy,
    /// The candidates considered, best first, with scores and exclusions.
    pub candidates: Vec<Candidate>,
    /// Why the winner won.
    pub winner_reason: String,
    /// The skill relaxation step in force when the queue's requirements were relaxed by
    /// waiting (overflow `widen` steps), e.g. `step 1 (after 60 s waiting): billing >= 3, any
    /// language`; absent at the queue's own requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relaxation: Option<String>,
}

/// Something the caller must do. Each maps to one conversation command or a live push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Decision {
    /// Offer the conversation to the agent (`Command::Offer`); persist the expiry timer.
    Offer {
        /// The conversation.
        conversation: ConversationId,
        /// The agent.
        agent: AgentId,
        /// When the offer lapses.
        expires_at: Timestamp,
        /// Why this agent.
        explanation: Explanation,
    },
    /// Assign at once (the queue auto-accepts): `Command::Offer` then `Command::Accept`.
    Assign {
        /// The conversation.
        conversation: ConversationId,
        /// The agent.
        agent: AgentId,
        /// Why this agent.
        explanation: Explanation,
    },
    /// The offer lapsed (`Command::ExpireOffer`); the router already routed it onward.
    OfferExpired {
        /// The conversation.
        conversation: ConversationId,
        /// The agent whose offer lapsed.
        agent: AgentId,
    },
    /// Withdraw a pending offer because the agent went away or offline (`Command::ExpireOffer`).
    ReleaseOffer {
        /// The conversation.
        conversation: ConversationId,
        /// The agent.
        agent: AgentId,
        /// Why (`agent_away`, `agent_offline`).
        reason: String,
    },
    /// The agent let an offer lapse in a queue whose `missed_offer` is `set_away`: set her
    /// `away` (with an event she sees). The router already counts her away; the lapsed offers
    /// follow as [`Decision::OfferExpired`].
    AgentAway {
        /// The agent.
        agent: AgentId,
        /// Why (`missed_offer`).
        reason: String,
    },
    /// Nobody can take it now (`Command::Defer`).
    Defer {
        /// The conversation.
        conversation: ConversationId,
        /// `after_hours` or `no_agent_available`.
        reason: String,
    },
    /// A deferred conversation goes back into its queue (`Command::Requeue`).
    Requeue {
        /// The conversation.
        conversation: ConversationId,
    },
    /// Overflow: move it to another queue (set the conversation's queue; record `stage`).
    MoveQueue {
        /// The conversation.
        conversation: ConversationId,
        /// The new queue.
        queue: QueueId,
        /// The overflow stage reached in the old queue (it restarts at 0 in the new one).
        stage: u32,
    },
    /// Overflow: raise the base priority (`Command::SetPriority`; record `stage`).
    RaisePriority {
        /// The conversation.
        conversation: ConversationId,
        /// The new base priority.
        priority: Priority,
        /// The overflow stage reached.
        stage: u32,
    },
    /// Overflow: eligibility widened for this conversation (record `stage`).
    Widen {
        /// The conversation.
        conversation: ConversationId,
        /// The overflow stage reached.
        stage: u32,
    },
    /// Positions or estimated waits in this queue changed: push
    /// [`Router::queue_positions`](super::Router::queue_positions) to the waiting customers.
    PositionsChanged {
        /// The queue.
        queue: QueueId,
    },
}

impl Decision {
    /// The conversation this decision is about, if any.
    pub fn conversation(&self) -> Option<&ConversationId> {
        match self {
            Decision::Offer { conversation, .. }
            | Decision::Assign { conversation, .. }
            | Decision::OfferExpired { conversation, .. }
            | Decision::ReleaseOffer { conversation, .. }
            | Decision::Defer { conversation, .. }
            | Decision::Requeue { conversation }
            | Decision::MoveQueue { conversation, .. }
            | Decision::RaisePriority { conversation, .. }
            | Decision::Widen { conversation, .. } => Some(conversation),
            Decision::PositionsChanged { .. } | Decision::AgentAway { .. } => None,
        }
    }
}

/// A waiting conversation's place in line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The conversation.
    pub conversation: ConversationId,
    /// 1 is next.
    pub position: u32,
    /// Estimated seconds until an agent takes it, from recent handle times and staffed
    /// capacity; `None` when nobody is staffed.
    pub estimated_wait_secs: Option<u64>,
}
