//! Routing data: queue configuration, agents and conversations as the router sees them.
//!
//! Everything here is plain serializable data so the server can rebuild a
//! [`Router`](super::Router) from the store on start.

use crate::ids::{AgentId, ConversationId, QueueId};
use crate::time::Timestamp;
use crate::values::{AgentStatus, Priority};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How a queue picks among several free eligible agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Agents take turns: the one offered least recently from this queue goes next.
    RoundRobin,
    /// The agent free for the longest time goes first ("first available").
    #[default]
    LongestIdle,
    /// The agent with the lowest load relative to capacity goes first.
    LeastBusy,
    /// The highest score over skills, language, previous agent and agent stats.
    BestMatch,
}

impl Strategy {
    /// Every strategy.
    pub const ALL: [Strategy; 4] = [
        Strategy::RoundRobin,
        Strategy::LongestIdle,
        Strategy::LeastBusy,
        Strategy::BestMatch,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LongestIdle => "longest_idle",
            Strategy::LeastBusy => "least_busy",
            Strategy::BestMatch => "best_match",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A skill an agent must have, at least at `min_level`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkillRequirement {
    /// The skill name, e.g. `billing`.
    pub skill: String,
    /// The minimum level (agents' levels are 0-10 by convention).
    pub min_level: u8,
}

/// Who may take conversations from a queue, besides being a member of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Eligibility {
    /// Every listed skill is required at its minimum level.
    #[serde(default)]
    pub required_skills: Vec<SkillRequirement>,
    /// The agent must speak at least one of these; empty means any.
    #[serde(default)]
    pub languages: Vec<String>,
}

/// Weights of the `best_match` score. Each factor is in [0, 1] before weighting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchWeights {
    /// Skill level above the queue's minimum, averaged over required skills (levels out of 10).
    pub skill: f64,
    /// The agent speaks the conversation's language.
    pub language: f64,
    /// The agent handled this customer before.
    pub previous_agent: f64,
    /// Faster recent handle time (1 at 0 s, 0 at 30 minutes or more).
    pub handle_time: f64,
    /// Higher recent CSAT (1 at 5, 0 at 1).
    pub csat: f64,
}

impl Default for MatchWeights {
    fn default() -> Self {
        MatchWeights {
            skill: 1.0,
            language: 1.0,
            previous_agent: 2.0,
            handle_time: 0.5,
            csat: 0.5,
        }
    }
}

/// What an overflow step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OverflowAction {
    /// Widen eligibility for this conversation: lower skill minimums, accept more languages.
    Widen {
        /// New (lower) minimum levels for these skills; a skill at level 0 is dropped.
        #[serde(default)]
        lower_skills: Vec<SkillRequirement>,
        /// Languages added to the accepted set.
        #[serde(default)]
        add_languages: Vec<String>,
        /// Drop the language requirement: any language will do.
        #[serde(default)]
        any_language: bool,
    },
    /// Move the conversation to another queue (its overflow plan starts over there).
    MoveToQueue {
        /// The target queue.
        queue: QueueId,
    },
    /// Raise the conversation's base priority (capped at 100).
    RaisePriority {
        /// Points added.
        by: u8,
    },
}

/// One step of a queue's overflow plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverflowStep {
    /// Seconds after the conversation entered this queue. When no eligible agent is staffed at
    /// all, the step runs at once instead.
    pub after_secs: u64,
    /// What happens.
    pub action: OverflowAction,
}

/// What happens to an agent who lets an offer lapse unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissedOffer {
    /// The agent is set `away` (and told so); the conversation goes to the next eligible agent
    /// at once. Back `available`, she may be offered it again.
    #[default]
    SetAway,
    /// The agent stays `available`; the conversation goes to the next eligible agent, or back
    /// to her when nobody else may take it.
    KeepAvailable,
}

impl MissedOffer {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedOffer::SetAway => "set_away",
            MissedOffer::KeepAvailable => "keep_available",
        }
    }
}

/// An agent kept out of one conversation until `until`: the cool-down of a decline, or for
/// good ([`Exclusion::FOREVER`]), as the owner of a conversation they transfer to a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The agent.
    pub agent: AgentId,
    /// When they may be offered the conversation again.
    pub until: Timestamp,
}

impl Exclusion {
    /// An `until` that never comes.
    pub const FOREVER: Timestamp = Timestamp::from_millis(i64::MAX);
}

/// A queue (team) and how it routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// Its id.
    pub id: QueueId,
    /// How it picks agents.
    #[serde(default)]
    pub strategy: Strategy,
    /// Who may take its conversations (besides membership).
    #[serde(default)]
    pub eligibility: Eligibility,
    /// Whether it is open now (computed by the caller from its business hours).
    #[serde(default = "yes")]
    pub open: bool,
    /// How long an agent has to accept an offer.
    #[serde(default = "default_offer_timeout")]
    pub offer_timeout_secs: u64,
    /// Offers are accepted on the agent's behalf at once.
    #[serde(default)]
    pub auto_accept: bool,
    /// Overflow steps, in order of `after_secs`.
    #[serde(default)]
    pub overflow: Vec<OverflowStep>,
    /// Priority points gained per minute of waiting, so long waits rise and nothing starves.
    #[serde(default = "default_aging")]
    pub aging_per_minute: f64,
    /// A returning customer waits this long for their previous agent (0: off).
    #[serde(default)]
    pub sticky_window_secs: u64,
    /// Weights of the `best_match` score.
    #[serde(default)]
    pub weights: MatchWeights,
    /// How long an agent who declined a conversation is kept out of it.
    #[serde(default = "default_decline_cooldown")]
    pub decline_cooldown_secs: u64,
    /// What a lapsed offer does to the agent.
    #[serde(default)]
    pub missed_offer: MissedOffer,
}

fn default_decline_cooldown() -> u64 {
    300
}

fn yes() -> bool {
    true
}

fn default_offer_timeout() -> u64 {
    30
}

fn default_aging() -> f64 {
    1.0
}

impl QueueConfig {
    /// A queue with the defaults: longest idle, open, 30 s offers, aging 1 point a minute,
    /// 300 s decline cool-down, a missed offer sets the agent away.
    pub fn new(id: QueueId) -> Self {
        QueueConfig {
            id,
            strategy: Strategy::default(),
            eligibility: Eligibility::default(),
            open: true,
            offer_timeout_secs: default_offer_timeout(),
            auto_accept: false,
            overflow: Vec::new(),
            aging_per_minute: default_aging(),
            sticky_window_secs: 0,
            weights: MatchWeights::default(),
            decline_cooldown_secs: default_decline_cooldown(),
            missed_offer: MissedOffer::default(),
        }
    }
}

/// Tenant-wide routing configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RouterConfig {
    /// The queues.
    pub queues: Vec<QueueConfig>,
    /// Capacity units a conversation on this channel uses (default 1), e.g. `voice = 3`.
    #[serde(default)]
    pub channel_weights: BTreeMap<String, u32>,
}

/// Recent performance figures used by `best_match`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentStats {
    /// Recent mean handle time in seconds.
    pub recent_handle_secs: Option<f64>,
    /// Recent mean CSAT, 1-5.
    pub csat: Option<f64>,
}

/// What a router learns while it runs and its inputs do not carry: per queue the moving mean
/// handle time and the round-robin rotation, per agent the moving handle time. A caller that
/// rebuilds the router from stored data keeps it between rebuilds ([`crate::routing::Router::memory`],
/// [`crate::routing::Router::remember`]), so neither starts over.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Per queue.
    #[serde(default)]
    pub queues: BTreeMap<QueueId, QueueMemory>,
    /// Per agent: recent mean handle time in seconds.
    #[serde(default)]
    pub agent_handle_secs: BTreeMap<AgentId, f64>,
}

/// What a router learned about one queue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueMemory {
    /// Moving mean handle time in seconds (estimated waits).
    pub aht_secs: f64,
    /// Round-robin: offers made so far.
    pub rr_next: u64,
    /// Round-robin: the sequence number of each agent's latest offer from this queue.
    #[serde(default)]
    pub rr_last: BTreeMap<AgentId, u64>,
}

/// An agent as the router sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Its id.
    pub id: AgentId,
    /// Presence.
    pub status: AgentStatus,
    /// Skill levels (0-10 by convention).
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Languages spoken.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Queues (teams) the agent works.
    pub queues: Vec<QueueId>,
    /// Maximum concurrent load, in capacity units.
    pub capacity: u32,
    /// Since when the agent has been free (longest-idle order). The router keeps it up to date.
    pub idle_since: Timestamp,
    /// Recent performance.
    #[serde(default)]
    pub stats: AgentStats,
}

impl AgentInfo {
    /// An available agent with capacity 1 in `queues`, idle since `since`.
    pub fn new(id: AgentId, queues: Vec<QueueId>, since: Timestamp) -> Self {
        AgentInfo {
            id,
            status: AgentStatus::Available,
            skills: BTreeMap::new(),
            languages: Vec::new(),
            queues,
            capacity: 1,
            idle_since: since,
            stats: AgentStats::default(),
        }
    }
}

/// Where a conversation the router tracks stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RoutingState {
    /// Waiting in its queue.
    Waiting,
    /// Reserved for one agent until `expires_at`.
    Offered {
        /// The agent.
        agent: AgentId,
        /// When the offer lapses.
        expires_at: Timestamp,
    },
    /// Owned by an agent (uses their capacity).
    Assigned {
        /// The agent.
        agent: AgentId,
        /// Since when.
        since: Timestamp,
    },
    /// Parked until the queue opens or an agent appears.
    Deferred,
}

/// A conversation as the router sees it (queued, offered, assigned or deferred).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    /// Its id.
    pub id: ConversationId,
    /// The queue it waits in or was handled from.
    pub queue: QueueId,
    /// Base priority (aging is added by the router).
    pub priority: Priority,
    /// When it entered `queued` (FIFO and aging).
    pub queued_at: Timestamp,
    /// The customer's language, if known (a `best_match` factor).
    #[serde(default)]
    pub language: Option<String>,
    /// The channel (for its capacity weight).
    #[serde(default)]
    pub channel: String,
    /// Agents kept out of it for now: declines within their cool-down, the owner of a pending
    /// transfer. Exclusions that ended are ignored.
    #[serde(default)]
    pub excluded: Vec<Exclusion>,
    /// The agent who last handled this customer (sticky routing, `best_match`).
    #[serde(default)]
    pub previous_agent: Option<AgentId>,
    /// How many overflow steps of its queue already ran.
    #[serde(default)]
    pub overflow_stage: u32,
    /// When it entered its current queue (overflow clock); `queued_at` when absent.
    #[serde(default)]
    pub entered_queue_at: Option<Timestamp>,
    /// Where it stands.
    pub state: RoutingState,
}

impl ConversationInfo {
    /// A fresh waiting conversation with default priority.
    pub fn waiting(id: ConversationId, queue: QueueId, queued_at: Timestamp) -> Self {
        ConversationInfo {
            id,
            queue,
            priority: Priority::DEFAULT,
            queued_at,
            language: None,
            channel: String::new(),
            excluded: Vec::new(),
            previous_agent: None,
            overflow_stage: 0,
            entered_queue_at: None,
            state: RoutingState::Waiting,
        }
    }
}
