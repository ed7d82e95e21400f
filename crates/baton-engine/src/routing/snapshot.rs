//! How stored records become the router's inputs: the tenant's queues as a [`RouterConfig`]
//! (with business hours), an [`Agent`] as an [`AgentInfo`], a [`Conversation`] as a
//! [`ConversationInfo`]. Pure: the live router calls the same conversions when it is built
//! and when one record changes, so a rebuilt router and an incrementally fed one agree.

use super::settings::{
    BUILTIN_QUEUE, BUSINESS_HOURS, QueueSettings, lenient_settings, parse_queue_settings,
    primary_language,
};
use baton_core::conversation::{self, Conversation};
use baton_core::hours::{Calendar, CalendarSpec};
use baton_core::routing::{
    AgentInfo, AgentStats, ConversationInfo, Eligibility, Exclusion, Memory, QueueConfig,
    RouterConfig, RoutingState, SkillRequirement, Strategy,
};
use baton_core::{AgentId, ConversationState, QueueId, TenantId, Timestamp};
use baton_store::{Agent, Queue, Store, StoreResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What a tenant's router remembers across restarts and takeovers (the `routing_memory`
/// table): the round-robin rotation and moving handle times ([`Memory`]), and what was looked
/// up once about each waiting customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoutingMemory {
    /// What the router learned.
    #[serde(default)]
    pub router: Memory,
    /// What was looked up once about each waiting conversation.
    #[serde(default)]
    pub seen: BTreeMap<baton_core::ConversationId, Seen>,
}

/// What the router needs to know about a waiting conversation's customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Seen {
    /// The customer's language (primary subtag, lowercase).
    #[serde(default)]
    pub language: Option<String>,
    /// The agent of the customer's latest earlier conversation.
    #[serde(default)]
    pub previous_agent: Option<AgentId>,
}

/// The tenant's routing configuration as the router needs it.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Queue configurations, with `open` evaluated at build time.
    pub config: RouterConfig,
    /// The tenant's queue ids (empty: only the built-in queue).
    pub queue_ids: Vec<QueueId>,
    /// Where conversations without a known queue wait.
    pub default_queue: QueueId,
    /// Offer timeout per queue (for auto-accepted assignments).
    pub timeouts: HashMap<QueueId, u64>,
    /// The calendar each queue follows, if any (its own hours, else the tenant's).
    pub calendars: Vec<(QueueId, Calendar)>,
    /// The first-reply time of each queue that has one.
    pub first_reply: HashMap<QueueId, FirstReply>,
}

/// A queue's first-reply timer (`first_reply_secs`, `first_reply_grace_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstReply {
    /// Seconds after the assignment at which the owner is alerted.
    pub after_secs: u64,
    /// Seconds after the alert at which the conversation is offered to the team.
    pub grace_secs: u64,
}

/// `first_reply_grace_secs` when a queue does not set it.
pub const DEFAULT_FIRST_REPLY_GRACE_SECS: u64 = 60;

impl FirstReply {
    /// When the next stage is due for a conversation assigned at `assigned_at`: the alert,
    /// or once she was alerted, the offer to the team.
    pub fn due(&self, assigned_at: Timestamp, alerted: bool) -> Timestamp {
        let secs = if alerted {
            self.after_secs.saturating_add(self.grace_secs)
        } else {
            self.after_secs
        };
        assigned_at.plus_millis(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
    }
}

impl Setup {
    /// When the team of `queue` is back, as told to a customer deferred at `now`: the next
    /// opening of the queue's hours while they are closed; `None` while open (nobody staffed
    /// now, and nobody knows when) or when the queue has no hours.
    pub fn back_at(&self, queue: &QueueId, now: Timestamp) -> Option<Timestamp> {
        let (_, calendar) = self.calendars.iter().find(|(q, _)| q == queue)?;
        if calendar.is_open(now) {
            return None;
        }
        calendar.next_open(now)
    }

    /// The decline cool-down of a queue (the default when unknown).
    pub fn cooldown_secs(&self, queue: &QueueId) -> u64 {
        self.config
            .queues
            .iter()
            .find(|q| &q.id == queue)
            .map_or(QueueConfig::new(queue.clone()).decline_cooldown_secs, |q| {
                q.decline_cooldown_secs
            })
    }

    /// The conversation's declines as the router's exclusions: each ends the queue's
    /// cool-down after it.
    fn exclusions(&self, c: &Conversation, queue: &QueueId) -> Vec<Exclusion> {
        let ms = (self.cooldown_secs(queue) as i64).saturating_mul(1000);
        c.declines
            .iter()
            .map(|d| Exclusion {
                agent: d.agent.clone(),
                until: d.at.plus_millis(ms),
            })
            .collect()
    }

    /// When the next queue opens, among those closed at `now`.
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        self.calendars
            .iter()
            .filter(|(_, c)| !c.is_open(now))
            .filter_map(|(_, c)| c.next_open(now))
            .min()
    }
}

/// The tenant's business hours, when set and valid.
pub async fn tenant_calendar(
    store: &dyn Store,
    tenant: &TenantId,
) -> StoreResult<Option<Calendar>> {
    let Some(value) = store.setting(tenant, BUSINESS_HOURS).await? else {
        return Ok(None);
    };
    let calendar = serde_json::from_value::<CalendarSpec>(value)
        .map_err(|e| e.to_string())
        .and_then(|spec| Calendar::new(spec).map_err(|e| e.to_string()));
    Ok(calendar
        .map_err(|e| {
            tracing::warn!(%tenant, error = %e, "stored business hours invalid; queues without hours stay open");
        })
        .ok())
}

/// The queue a conversation without a (known) queue waits in: the first queue by id, or the
/// built-in one.
pub fn default_queue(queues: &[Queue]) -> QueueId {
    queues
        .first()
        .map(|q| q.id.clone())
        .unwrap_or_else(|| QueueId::parse(BUILTIN_QUEUE).expect("valid id"))
}

/// The router configuration of a tenant's queues at `now` (pure).
pub fn setup(queues: &[Queue], business_hours: Option<&Calendar>, now: Timestamp) -> Setup {
    let ids: Vec<QueueId> = queues.iter().map(|q| q.id.clone()).collect();
    let mut configs = Vec::new();
    let mut timeouts = HashMap::new();
    let mut calendars = Vec::new();
    let mut first_reply = HashMap::new();
    for q in queues {
        let settings: QueueSettings = parse_queue_settings(&q.settings, &q.id, &ids)
            .unwrap_or_else(|e| {
                // Validated on the way in; a later deletion of an overflow target lands here.
                tracing::warn!(tenant = %q.tenant, queue = %q.id, error = %e,
                    "queue settings partly invalid; ignoring the invalid overflow steps");
                lenient_settings(&q.settings, &ids)
            });
        let mut cfg = QueueConfig::new(q.id.clone());
        cfg.strategy = Strategy::parse(&q.strategy).unwrap_or_default();
        cfg.eligibility = Eligibility {
            required_skills: q
                .skills
                .iter()
                .map(|s| SkillRequirement {
                    skill: s.name.clone(),
                    min_level: s.level,
                })
                .collect(),
            languages: q
                .languages
                .iter()
                .filter_map(|l| primary_language(l))
                .collect(),
        };
        cfg.offer_timeout_secs = u64::from(q.offer_timeout_secs.max(1));
        cfg.auto_accept = settings.auto_accept;
        cfg.overflow = settings.overflow;
        if let Some(a) = settings.aging_per_minute {
            cfg.aging_per_minute = a;
        }
        cfg.sticky_window_secs = settings.sticky_window_secs;
        if let Some(w) = settings.weights {
            cfg.weights = w;
        }
        if let Some(secs) = settings.decline_cooldown_secs {
            cfg.decline_cooldown_secs = secs;
        }
        cfg.missed_offer = settings.missed_offer;
        if let Some(after_secs) = settings.first_reply_secs {
            let grace_secs = settings
                .first_reply_grace_secs
                .unwrap_or(DEFAULT_FIRST_REPLY_GRACE_SECS);
            first_reply.insert(
                q.id.clone(),
                FirstReply {
                    after_secs,
                    grace_secs,
                },
            );
        }
        let own = settings.hours.and_then(|h| Calendar::new(h).ok());
        if let Some(calendar) = own.or_else(|| business_hours.cloned()) {
            cfg.open = calendar.is_open(now);
            calendars.push((q.id.clone(), calendar));
        }
        timeouts.insert(q.id.clone(), cfg.offer_timeout_secs);
        configs.push(cfg);
    }
    if queues.is_empty() {
        let builtin = QueueId::parse(BUILTIN_QUEUE).expect("valid id");
        let mut cfg = QueueConfig::new(builtin.clone());
        if let Some(calendar) = business_hours {
            cfg.open = calendar.is_open(now);
            calendars.push((builtin.clone(), calendar.clone()));
        }
        timeouts.insert(builtin, cfg.offer_timeout_secs);
        configs.push(cfg);
    }
    Setup {
        config: RouterConfig {
            queues: configs,
            channel_weights: BTreeMap::new(),
        },
        queue_ids: ids,
        default_queue: default_queue(queues),
        timeouts,
        calendars,
        first_reply,
    }
}

/// An agent as the router sees them. `transferring` counts the conversations that take their
/// capacity outside the router's view (see [`held_outside`]): those they asked to transfer to
/// a queue (they keep them until someone accepts, while the router sees them waiting in the
/// target queue), and transfers offered to them by name.
pub fn agent_info(a: &Agent, setup: &Setup, transferring: u32, idle_since: Timestamp) -> AgentInfo {
    let mut member: Vec<QueueId> = a
        .queues
        .iter()
        .filter(|q| setup.queue_ids.contains(q))
        .cloned()
        .collect();
    if member.is_empty() {
        member.push(setup.default_queue.clone());
    }
    AgentInfo {
        id: a.id.clone(),
        status: a.status,
        skills: a
            .skills
            .iter()
            .map(|s| (s.name.clone(), s.level))
            .collect::<BTreeMap<_, _>>(),
        languages: a
            .languages
            .iter()
            .filter_map(|l| primary_language(l))
            .collect(),
        queues: member,
        capacity: a.capacity.saturating_sub(transferring),
        idle_since,
        stats: AgentStats::default(),
    }
}

/// The agent a pending transfer counts against beside what the router tracks of it: the
/// owner of a queue transfer (the router sees the conversation waiting in the target queue),
/// or the agent a transfer is offered to by name (the router sees it with its owner).
pub fn held_outside(c: &Conversation) -> Option<&AgentId> {
    match (&c.transfer, c.state) {
        (Some(t), ConversationState::Assigned) if t.to_agent.is_none() => Some(&t.from_agent),
        (Some(t), ConversationState::Assigned) => {
            c.offer.as_ref().map(|o| &o.agent).or(t.to_agent.as_ref())
        }
        _ => None,
    }
}

/// A conversation as the router tracks it, or `None` when routing has nothing to do with it
/// (in the bot, closed). A transfer to a named agent stays with its owner until she accepts
/// (the target's offer counts against her through [`held_outside`]).
pub fn conversation_info(
    c: &Conversation,
    setup: &Setup,
    seen: Option<&Seen>,
) -> Option<ConversationInfo> {
    if let Some(t) = &c.transfer
        && t.to_agent.is_none()
    {
        return queue_transfer(c, t, setup, seen);
    }
    let state = match (c.state, &c.offer, &c.assignee) {
        (ConversationState::Assigned, _, Some(agent)) => RoutingState::Assigned {
            agent: agent.clone(),
            since: c.assigned_at.unwrap_or(c.updated_at),
        },
        (ConversationState::Queued, Some(offer), _) => RoutingState::Offered {
            agent: offer.agent.clone(),
            expires_at: offer.expires_at,
        },
        (ConversationState::Queued, None, _) => RoutingState::Waiting,
        (ConversationState::Deferred, _, _) => RoutingState::Deferred,
        _ => return None,
    };
    let queue = c
        .queue
        .clone()
        .filter(|q| setup.queue_ids.contains(q))
        .unwrap_or_else(|| setup.default_queue.clone());
    let stays_in_queue = c.queue.as_ref() == Some(&queue);
    let excluded = setup.exclusions(c, &queue);
    Some(ConversationInfo {
        id: c.id.clone(),
        queue,
        priority: c.priority,
        queued_at: c.queued_at.unwrap_or(c.created_at),
        language: seen.and_then(|s| s.language.clone()),
        channel: c.channel.clone(),
        excluded,
        previous_agent: seen.and_then(|s| s.previous_agent.clone()),
        overflow_stage: if stays_in_queue { c.overflow_stage } else { 0 },
        entered_queue_at: c.entered_queue_at,
        state,
    })
}

/// A pending transfer to a queue, as the router sees it: waiting (or offered) in the target
/// queue, never to its owner, with no overflow.
fn queue_transfer(
    c: &Conversation,
    t: &conversation::PendingTransfer,
    setup: &Setup,
    seen: Option<&Seen>,
) -> Option<ConversationInfo> {
    let queue = t.to_queue.clone().filter(|q| setup.queue_ids.contains(q))?;
    if c.state != ConversationState::Assigned {
        return None;
    }
    let state = match &c.offer {
        Some(offer) => RoutingState::Offered {
            agent: offer.agent.clone(),
            expires_at: offer.expires_at,
        },
        None => RoutingState::Waiting,
    };
    let mut excluded = setup.exclusions(c, &queue);
    excluded.push(Exclusion {
        agent: t.from_agent.clone(),
        until: Exclusion::FOREVER,
    });
    Some(ConversationInfo {
        id: c.id.clone(),
        queue,
        priority: c.priority,
        queued_at: t.requested_at,
        language: seen.and_then(|s| s.language.clone()),
        channel: c.channel.clone(),
        excluded,
        previous_agent: None,
        overflow_stage: u32::MAX,
        entered_queue_at: Some(t.requested_at),
        state,
    })
}

/// Whether a conversation is one the router looks up the customer for (waiting somewhere).
pub fn waiting(c: &Conversation) -> bool {
    matches!(
        c.state,
        ConversationState::Queued | ConversationState::Deferred
    ) || c.transfer.is_some()
}
