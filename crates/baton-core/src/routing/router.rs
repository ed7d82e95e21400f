//! The router: an indexed, in-memory model of one tenant's routing state. Events in, decisions
//! out, time as a parameter.
//!
//! # Indexes (why no decision scans all agents or all conversations)
//!
//! A *pool* is one eligibility level of one queue: level 0 is the queue's own eligibility, and
//! every `widen` overflow step adds a level with the widened rules. Every pool keeps, per capacity
//! weight class (distinct channel weights), two ordered sets:
//!
//! - `waiting`: the conversations waiting at that level, keyed by `(Reverse(rank), queued_at,
//!   seq)`. With aging, effective priority is `priority + rate * waited`; multiplied by the
//!   (positive) time unit that is `priority*K + rate*now - rate*queued_at`, and since `rate*now`
//!   is the same for every conversation of a queue, `rank = priority*K - rate*queued_at` orders
//!   them the same way at every instant. The key is static, so nothing is re-sorted as time
//!   passes. Across queues (an agent in several teams) the heads are compared at `now`.
//! - `ready`: the eligible agents that are available with room for a conversation of that
//!   weight, keyed by the queue's strategy: idle-since (longest idle), last offer sequence from
//!   this queue (round robin), load ratio (least busy), or the conversation-independent part of
//!   the score (best match).
//!
//! Agents are (re)indexed only when their own state changes: O(memberships × classes × log n).
//! A conversation arriving takes the first non-declining agent of its pool's `ready` set; an
//! agent freeing capacity takes the best head among the `waiting` sets of its pools. Both are
//! O(log n) plus the decliners skipped. `best_match` scores the index in static-score order and
//! stops as soon as no remaining agent can beat the best total (only the language bonus depends
//! on the conversation; the previous agent is checked directly), or after 32 scored candidates.

use super::decision::{Candidate, Decision, Explanation, Position};
use super::model::{
    AgentInfo, AgentStats, ConversationInfo, Exclusion, MatchWeights, Memory, MissedOffer,
    OverflowAction, QueueConfig, QueueMemory, RouterConfig, RoutingState, SkillRequirement,
    Strategy,
};
use crate::ids::{AgentId, ConversationId, QueueId};
use crate::time::Timestamp;
use crate::values::{AgentStatus, Priority};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Why the router refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The queue is not configured.
    #[error("unknown queue '{0}'")]
    UnknownQueue(QueueId),
    /// Two queues share an id.
    #[error("duplicate queue '{0}'")]
    DuplicateQueue(QueueId),
    /// The router does not track this conversation.
    #[error("unknown conversation '{0}'")]
    UnknownConversation(ConversationId),
    /// The agent holds no pending offer for the conversation.
    #[error("agent '{agent}' has no pending offer for conversation '{conversation}'")]
    NoOffer {
        /// The conversation.
        conversation: ConversationId,
        /// The agent.
        agent: AgentId,
    },
}

/// Priority points are scaled by this (1000 for milli-points × 60,000 ms per minute) so that
/// `aging_per_minute` in milli-points per minute times milliseconds is on the same scale.
const PRIO_SCALE: i128 = 60_000_000;
/// At most this many agents are scored per `best_match` decision.
const BEST_MATCH_SCAN: usize = 32;
/// Assumed handle time until a queue has closed a conversation.
const DEFAULT_AHT_SECS: f64 = 300.0;
/// Weight of the newest handle time in the moving averages.
const AHT_ALPHA: f64 = 0.1;
/// Excluded candidates listed per explanation at most.
const MAX_EXCLUDED_LISTED: usize = 8;

type Slot = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct WaitKey {
    rank: Reverse<i128>,
    queued_at: i64,
    seq: u64,
    slot: Slot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct AgentKey {
    primary: i64,
    secondary: i64,
    slot: Slot,
}

#[derive(Debug)]
struct QueueState {
    cfg: QueueConfig,
    aging_milli: i128,
    level_of_stage: Vec<usize>,
    pools: Vec<usize>,
    aht_secs: f64,
    rr_last: HashMap<Slot, u64>,
    rr_next: u64,
    deferred: BTreeSet<(u64, Slot)>,
}

#[derive(Debug)]
struct Pool {
    queue: usize,
    required: Vec<SkillRequirement>,
    languages: Vec<String>,
    waiting: Vec<BTreeSet<WaitKey>>,
    ready: Vec<BTreeSet<AgentKey>>,
    staffed: u32,
    staffed_capacity: u64,
}

#[derive(Debug, Clone, Copy)]
struct Membership {
    pool: usize,
    key: AgentKey,
    classes: usize,
    staffed: bool,
}

#[derive(Debug)]
struct AgentState {
    info: AgentInfo,
    known: bool,
    load: u32,
    memberships: Vec<Membership>,
    offers: Vec<Slot>,
    sticky: BTreeSet<WaitKey>,
    indexed_capacity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    Detached,
    Waiting { pool: usize },
    Sticky { agent: Slot },
    Offered { agent: Slot, expires_at: Timestamp },
    Assigned { agent: Slot, since: Timestamp },
    Deferred,
}

#[derive(Debug)]
struct Conv {
    id: ConversationId,
    queue: usize,
    priority: Priority,
    queued_at: Timestamp,
    entered_at: Timestamp,
    stage: u32,
    /// Shared with every conversation of the same language or channel ([`Router::intern`]):
    /// few distinct values, held by each of a long line's entries.
    language: Option<Arc<str>>,
    channel: Arc<str>,
    class: usize,
    weight: u32,
    /// Agents kept out of it, and until when (a decline's cool-down, or for good).
    declined: Vec<(Slot, Timestamp)>,
    previous: Option<Slot>,
    sticky_done: bool,
    seq: u64,
    state: CState,
    key: WaitKey,
    timer: Option<Timestamp>,
}

impl Conv {
    /// Whether `a` is kept out of this conversation at `now`.
    fn excludes(&self, a: Slot, now: Timestamp) -> bool {
        self.declined
            .iter()
            .any(|&(s, until)| s == a && until > now)
    }

    /// When the earliest exclusion still in force at `now` ends (the conversation must be
    /// looked at again then: the agent may take it).
    fn next_exclusion_end(&self, now: Timestamp) -> Option<Timestamp> {
        self.declined
            .iter()
            .map(|&(_, until)| until)
            .filter(|&until| until > now && until != Exclusion::FOREVER)
            .min()
    }
}

/// Why an excluded agent is passed over, for explanations.
fn exclusion_reason(until: Timestamp, now: Timestamp) -> String {
    if until == Exclusion::FOREVER {
        "transfers this conversation away".to_string()
    } else {
        let secs = (until.millis_since(now).max(0) + 999) / 1000;
        format!("declined this conversation (cool-down, {secs} s left)")
    }
}

/// Where a conversation goes on transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Straight to this agent (assigned at once).
    Agent(AgentId),
    /// Back into this queue.
    Queue(QueueId),
}

/// One tenant's routing state and the engine that decides on it. See the module docs.
#[derive(Debug)]
pub struct Router {
    channel_weights: std::collections::BTreeMap<String, u32>,
    queues: Vec<QueueState>,
    queue_index: HashMap<QueueId, usize>,
    pools: Vec<Pool>,
    classes: Vec<u32>,
    agents: Vec<AgentState>,
    agent_index: HashMap<AgentId, Slot>,
    convs: Vec<Option<Conv>>,
    free_slots: Vec<Slot>,
    conv_index: HashMap<ConversationId, Slot>,
    timers: BTreeSet<(Timestamp, Slot)>,
    next_seq: u64,
    touched: Vec<bool>,
    touched_list: Vec<usize>,
    /// The languages and channels conversations name, each held once.
    names: HashSet<Arc<str>>,
    /// How many names were left by the last sweep of `names`.
    names_swept_at: usize,
}

fn eligible(info: &AgentInfo, queue: &QueueId, pool: &Pool) -> bool {
    info.queues.contains(queue)
        && pool
            .required
            .iter()
            .all(|r| info.skills.get(&r.skill).copied().unwrap_or(0) >= r.min_level)
        && (pool.languages.is_empty() || pool.languages.iter().any(|l| info.languages.contains(l)))
}

fn clamp_weights(w: &MatchWeights) -> MatchWeights {
    let f = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    MatchWeights {
        skill: f(w.skill),
        language: f(w.language),
        previous_agent: f(w.previous_agent),
        handle_time: f(w.handle_time),
        csat: f(w.csat),
    }
}

/// The conversation-independent part of the `best_match` score.
fn static_score(info: &AgentInfo, pool: &Pool, w: &MatchWeights) -> f64 {
    let skill = if pool.required.is_empty() {
        0.0
    } else {
        pool.required
            .iter()
            .map(|r| f64::from(info.skills.get(&r.skill).copied().unwrap_or(0).min(10)) / 10.0)
            .sum::<f64>()
            / pool.required.len() as f64
    };
    let handle = info
        .stats
        .recent_handle_secs
        .map_or(0.5, |s| 1.0 - (s.max(0.0) / 1800.0).min(1.0));
    let csat = info
        .stats
        .csat
        .map_or(0.5, |c| ((c - 1.0) / 4.0).clamp(0.0, 1.0));
    w.skill * skill + w.handle_time * handle + w.csat * csat
}

impl Router {
    /// Builds the router from plain data (as the server loads it from the store). Nothing is
    /// routed yet: call [`Router::route_all`] next.
    pub fn new(
        config: RouterConfig,
        agents: Vec<AgentInfo>,
        conversations: Vec<ConversationInfo>,
    ) -> Result<Router, RouterError> {
        let mut classes: Vec<u32> = vec![1];
        classes.extend(config.channel_weights.values().map(|w| (*w).max(1)));
        classes.sort_unstable();
        classes.dedup();
        let mut router = Router {
            channel_weights: config.channel_weights,
            queues: Vec::new(),
            queue_index: HashMap::new(),
            pools: Vec::new(),
            classes,
            agents: Vec::new(),
            agent_index: HashMap::new(),
            convs: Vec::new(),
            free_slots: Vec::new(),
            conv_index: HashMap::new(),
            timers: BTreeSet::new(),
            next_seq: 0,
            touched: Vec::new(),
            touched_list: Vec::new(),
            names: HashSet::new(),
            names_swept_at: 0,
        };
        for cfg in &config.queues {
            if router
                .queue_index
                .insert(cfg.id.clone(), router.queues.len())
                .is_some()
            {
                return Err(RouterError::DuplicateQueue(cfg.id.clone()));
            }
            router.queues.push(QueueState {
                cfg: cfg.clone(),
                aging_milli: 0,
                level_of_stage: Vec::new(),
                pools: Vec::new(),
                aht_secs: DEFAULT_AHT_SECS,
                rr_last: HashMap::new(),
                rr_next: 0,
                deferred: BTreeSet::new(),
            });
            router.touched.push(false);
        }
        for qi in 0..router.queues.len() {
            router.build_pools(qi)?;
        }
        for info in agents {
            let a = router.agent_slot(&info.id);
            let st = &mut router.agents[a as usize];
            st.info = info;
            st.known = true;
            router.rebuild_memberships(a);
        }
        for info in conversations {
            router.insert_conversation(info)?;
        }
        for a in 0..router.agents.len() {
            router.reindex_keys(a as Slot);
        }
        router.touched.iter_mut().for_each(|t| *t = false);
        router.touched_list.clear();
        Ok(router)
    }

    fn build_pools(&mut self, qi: usize) -> Result<(), RouterError> {
        let q = &mut self.queues[qi];
        q.cfg.overflow.sort_by_key(|s| s.after_secs);
        q.aging_milli = if q.cfg.aging_per_minute.is_finite() {
            (q.cfg.aging_per_minute.max(0.0) * 1000.0).round() as i128
        } else {
            0
        };
        for step in &q.cfg.overflow {
            if let OverflowAction::MoveToQueue { queue } = &step.action
                && !self.queue_index.contains_key(queue)
            {
                return Err(RouterError::UnknownQueue(queue.clone()));
            }
        }
        let n = self.classes.len();
        let new_pool = |required: Vec<SkillRequirement>, languages: Vec<String>| Pool {
            queue: qi,
            required,
            languages,
            waiting: (0..n).map(|_| BTreeSet::new()).collect(),
            ready: (0..n).map(|_| BTreeSet::new()).collect(),
            staffed: 0,
            staffed_capacity: 0,
        };
        let mut required = q.cfg.eligibility.required_skills.clone();
        let mut languages = q.cfg.eligibility.languages.clone();
        q.pools = vec![self.pools.len()];
        self.pools
            .push(new_pool(required.clone(), languages.clone()));
        q.level_of_stage = vec![0];
        for step in &q.cfg.overflow {
            if let OverflowAction::Widen {
                lower_skills,
                add_languages,
                any_language,
            } = &step.action
            {
                for low in lower_skills {
                    if let Some(r) = required.iter_mut().find(|r| r.skill == low.skill) {
                        r.min_level = r.min_level.min(low.min_level);
                    }
                }
                required.retain(|r| r.min_level > 0);
                if *any_language {
                    languages.clear();
                } else if !languages.is_empty() {
                    for l in add_languages {
                        if !languages.contains(l) {
                            languages.push(l.clone());
                        }
                    }
                }
                q.pools.push(self.pools.len());
                self.pools
                    .push(new_pool(required.clone(), languages.clone()));
            }
            q.level_of_stage.push(q.pools.len() - 1);
        }
        Ok(())
    }

    fn agent_slot(&mut self, id: &AgentId) -> Slot {
        if let Some(&a) = self.agent_index.get(id) {
            return a;
        }
        let a = self.agents.len() as Slot;
        self.agents.push(AgentState {
            info: AgentInfo {
                id: id.clone(),
                status: AgentStatus::Offline,
                skills: Default::default(),
                languages: Vec::new(),
                queues: Vec::new(),
                capacity: 0,
                idle_since: Timestamp::EPOCH,
                stats: AgentStats::default(),
            },
            known: false,
            load: 0,
            memberships: Vec::new(),
            offers: Vec::new(),
            sticky: BTreeSet::new(),
            indexed_capacity: 0,
        });
        self.agent_index.insert(id.clone(), a);
        a
    }

    fn conv(&self, c: Slot) -> &Conv {
        self.convs[c as usize]
            .as_ref()
            .expect("live conversation slot")
    }

    fn conv_mut(&mut self, c: Slot) -> &mut Conv {
        self.convs[c as usize]
            .as_mut()
            .expect("live conversation slot")
    }

    fn weight_of(&self, channel: &str) -> (u32, usize) {
        let w = self
            .channel_weights
            .get(channel)
            .copied()
            .unwrap_or(1)
            .max(1);
        let class = self.classes.binary_search(&w).unwrap_or(0);
        (w, class)
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Creates (or replaces) a conversation from data, without routing it.
    fn insert_conversation(
        &mut self,
        info: ConversationInfo,
    ) -> Result<(Slot, Option<Slot>), RouterError> {
        let qi = *self
            .queue_index
            .get(&info.queue)
            .ok_or_else(|| RouterError::UnknownQueue(info.queue.clone()))?;
        let mut freed = None;
        let c = if let Some(&c) = self.conv_index.get(&info.id) {
            freed = self.detach(c);
            c
        } else if let Some(c) = self.free_slots.pop() {
            c
        } else {
            self.convs.push(None);
            (self.convs.len() - 1) as Slot
        };
        let (weight, class) = self.weight_of(&info.channel);
        let declined = info
            .excluded
            .iter()
            .map(|x| (self.agent_slot(&x.agent), x.until))
            .collect();
        let previous = info.previous_agent.as_ref().map(|a| self.agent_slot(a));
        let seq = self.next_seq();
        let stage = info
            .overflow_stage
            .min(self.queues[qi].cfg.overflow.len() as u32);
        self.conv_index.insert(info.id.clone(), c);
        self.convs[c as usize] = Some(Conv {
            id: info.id,
            queue: qi,
            priority: info.priority,
            queued_at: info.queued_at,
            entered_at: info.entered_queue_at.unwrap_or(info.queued_at),
            stage,
            language: info.language.map(|l| self.intern(l)),
            channel: self.intern(info.channel),
            class,
            weight,
            declined,
            previous,
            sticky_done: false,
            seq,
            state: CState::Detached,
            key: WaitKey {
                rank: Reverse(0),
                queued_at: 0,
                seq,
                slot: c,
            },
            timer: None,
        });
        match info.state {
            RoutingState::Waiting => {
                let pool = self.pool_of(c);
                // Placed as given; `route_all` routes it (and prunes ended exclusions).
                self.insert_waiting(c, pool, Timestamp::EPOCH);
            }
            RoutingState::Offered { agent, expires_at } => {
                let a = self.agent_slot(&agent);
                self.agents[a as usize].load += weight;
                self.agents[a as usize].offers.push(c);
                self.conv_mut(c).state = CState::Offered {
                    agent: a,
                    expires_at,
                };
                self.set_timer(c, expires_at);
            }
            RoutingState::Assigned { agent, since } => {
                let a = self.agent_slot(&agent);
                self.agents[a as usize].load += weight;
                self.conv_mut(c).state = CState::Assigned { agent: a, since };
            }
            RoutingState::Deferred => {
                self.queues[qi].deferred.insert((seq, c));
                self.conv_mut(c).state = CState::Deferred;
            }
        }
        // The caller re-indexes `freed` once the conversation is placed (see `release_offers`).
        Ok((c, freed))
    }

    // ----- indexes -------------------------------------------------------------------------

    fn pool_of(&self, c: Slot) -> usize {
        let cv = self.conv(c);
        let q = &self.queues[cv.queue];
        q.pools[q.level_of_stage[cv.stage as usize]]
    }

    fn agent_ready(&self, a: Slot) -> bool {
        let ag = &self.agents[a as usize];
        ag.known && ag.info.status == AgentStatus::Available
    }

    fn agent_classes(&self, a: Slot) -> usize {
        if !self.agent_ready(a) {
            return 0;
        }
        let ag = &self.agents[a as usize];
        let free = ag.info.capacity.saturating_sub(ag.load);
        self.classes.partition_point(|&w| w <= free)
    }

    fn agent_key(&self, a: Slot, pool: usize) -> AgentKey {
        let ag = &self.agents[a as usize];
        let q = &self.queues[self.pools[pool].queue];
        let idle = ag.info.idle_since.millis();
        let (primary, secondary) = match q.cfg.strategy {
            Strategy::LongestIdle => (idle, 0),
            Strategy::RoundRobin => (q.rr_last.get(&a).copied().unwrap_or(0) as i64, idle),
            Strategy::LeastBusy => (
                i64::from(ag.load) * 1_000_000 / i64::from(ag.info.capacity.max(1)),
                idle,
            ),
            Strategy::BestMatch => {
                let w = clamp_weights(&q.cfg.weights);
                (
                    -(static_score(&ag.info, &self.pools[pool], &w) * 1e6).round() as i64,
                    idle,
                )
            }
        };
        AgentKey {
            primary,
            secondary,
            slot: a,
        }
    }

    /// Re-keys an agent in every pool it belongs to (after load, idle or rotation changes).
    fn reindex_keys(&mut self, a: Slot) {
        let classes = self.agent_classes(a);
        for i in 0..self.agents[a as usize].memberships.len() {
            let m = self.agents[a as usize].memberships[i];
            let key = self.agent_key(a, m.pool);
            let pool = &mut self.pools[m.pool];
            for k in 0..m.classes {
                pool.ready[k].remove(&m.key);
            }
            for k in 0..classes {
                pool.ready[k].insert(key);
            }
            let m = &mut self.agents[a as usize].memberships[i];
            m.key = key;
            m.classes = classes;
        }
    }

    /// Recomputes which pools an agent belongs to (after status, skills, queues or capacity
    /// changes). Returns the pools that gained their first and lost their last staffed agent.
    fn rebuild_memberships(&mut self, a: Slot) -> (Vec<usize>, Vec<usize>) {
        let old = std::mem::take(&mut self.agents[a as usize].memberships);
        let mut before = Vec::with_capacity(old.len());
        for m in &old {
            let pool = &mut self.pools[m.pool];
            for k in 0..m.classes {
                pool.ready[k].remove(&m.key);
            }
            if m.staffed {
                before.push(m.pool);
                pool.staffed -= 1;
                pool.staffed_capacity -= u64::from(self.agents[a as usize].indexed_capacity);
            }
        }
        let ag = &self.agents[a as usize];
        // Staffed: `available` or `busy`. Someone `away` or `offline` does not keep a queue
        // staffed, so its conversations are deferred rather than left waiting for nobody.
        let staffed =
            ag.known && matches!(ag.info.status, AgentStatus::Available | AgentStatus::Busy);
        let mut memberships = Vec::new();
        if ag.known {
            for qid in &ag.info.queues {
                let Some(&qi) = self.queue_index.get(qid) else {
                    continue;
                };
                for &p in &self.queues[qi].pools {
                    if eligible(&ag.info, qid, &self.pools[p]) {
                        memberships.push(Membership {
                            pool: p,
                            key: AgentKey {
                                primary: 0,
                                secondary: 0,
                                slot: a,
                            },
                            classes: 0,
                            staffed,
                        });
                    }
                }
            }
        }
        let capacity = u64::from(ag.info.capacity);
        self.agents[a as usize].indexed_capacity = ag.info.capacity;
        let mut gained = Vec::new();
        for m in &memberships {
            if staffed {
                let pool = &mut self.pools[m.pool];
                if pool.staffed == 0 && !before.contains(&m.pool) {
                    gained.push(m.pool);
                }
                pool.staffed += 1;
                pool.staffed_capacity += capacity;
            }
        }
        let lost = before
            .into_iter()
            .filter(|p| self.pools[*p].staffed == 0)
            .collect();
        self.agents[a as usize].memberships = memberships;
        self.reindex_keys(a);
        (gained, lost)
    }

    fn set_timer(&mut self, c: Slot, at: Timestamp) {
        if let Some(old) = self.conv(c).timer {
            self.timers.remove(&(old, c));
        }
        self.timers.insert((at, c));
        self.conv_mut(c).timer = Some(at);
    }

    fn clear_timer(&mut self, c: Slot) {
        if let Some(old) = self.conv_mut(c).timer.take() {
            self.timers.remove(&(old, c));
        }
    }

    fn touch(&mut self, q: usize) {
        if !self.touched[q] {
            self.touched[q] = true;
            self.touched_list.push(q);
        }
    }

    fn flush(&mut self, out: &mut Vec<Decision>) {
        for q in std::mem::take(&mut self.touched_list) {
            self.touched[q] = false;
            out.push(Decision::PositionsChanged {
                queue: self.queues[q].cfg.id.clone(),
            });
        }
    }

    fn wait_key(&self, c: Slot) -> WaitKey {
        let cv = self.conv(c);
        let aging = self.queues[cv.queue].aging_milli;
        let rank =
            i128::from(cv.priority.get()) * PRIO_SCALE - aging * i128::from(cv.queued_at.millis());
        WaitKey {
            rank: Reverse(rank),
            queued_at: cv.queued_at.millis(),
            seq: cv.seq,
            slot: c,
        }
    }

    /// Effective priority at `now`, scaled (comparable across queues).
    fn effective(&self, key: &WaitKey, queue: usize, now: Timestamp) -> i128 {
        key.rank.0 + self.queues[queue].aging_milli * i128::from(now.millis())
    }

    /// Puts a conversation in its pool's waiting set. Its timer is the next overflow step or
    /// the end of the earliest exclusion in force at `now`, whichever comes first: when a
    /// decliner's cool-down ends she may take it.
    fn insert_waiting(&mut self, c: Slot, pool: usize, now: Timestamp) {
        let key = self.wait_key(c);
        let class = self.conv(c).class;
        self.pools[pool].waiting[class].insert(key);
        let cv = self.conv_mut(c);
        cv.declined.retain(|&(_, until)| until > now);
        cv.key = key;
        cv.state = CState::Waiting { pool };
        let (qi, stage, entered) = (cv.queue, cv.stage as usize, cv.entered_at);
        let cooled = cv.next_exclusion_end(now);
        let q = &self.queues[qi];
        let step = q
            .cfg
            .overflow
            .get(stage)
            .map(|step| entered.plus_millis((step.after_secs as i64).saturating_mul(1000)));
        if let Some(due) = [step, cooled].into_iter().flatten().min() {
            self.set_timer(c, due);
        }
        self.touch(qi);
    }

    /// Takes a conversation out of every index. Returns the agent whose load it released.
    fn detach(&mut self, c: Slot) -> Option<Slot> {
        self.clear_timer(c);
        let cv = self.conv(c);
        let (state, key, class, weight, qi, seq) =
            (cv.state, cv.key, cv.class, cv.weight, cv.queue, cv.seq);
        self.conv_mut(c).state = CState::Detached;
        match state {
            CState::Detached => None,
            CState::Waiting { pool } => {
                self.pools[pool].waiting[class].remove(&key);
                self.touch(qi);
                None
            }
            CState::Sticky { agent } => {
                self.agents[agent as usize].sticky.remove(&key);
                None
            }
            CState::Deferred => {
                self.queues[qi].deferred.remove(&(seq, c));
                None
            }
            CState::Offered { agent, .. } => {
                let ag = &mut self.agents[agent as usize];
                ag.load = ag.load.saturating_sub(weight);
                ag.offers.retain(|&o| o != c);
                Some(agent)
            }
            CState::Assigned { agent, .. } => {
                let ag = &mut self.agents[agent as usize];
                ag.load = ag.load.saturating_sub(weight);
                Some(agent)
            }
        }
    }

    fn remove_conversation(&mut self, c: Slot) -> Option<Slot> {
        let freed = self.detach(c);
        if let Some(cv) = self.convs[c as usize].take() {
            self.conv_index.remove(&cv.id);
            self.free_slots.push(c);
        }
        freed
    }

    // ----- routing -------------------------------------------------------------------------

    /// Puts a detached conversation where it belongs: overflow steps that are due (or skipped
    /// for lack of staff), deferral, its previous agent, an agent, or the waiting set.
    fn enqueue(&mut self, c: Slot, now: Timestamp, out: &mut Vec<Decision>) {
        let mut moves = 0;
        loop {
            let (qi, stage, entered) = {
                let cv = self.conv(c);
                (cv.queue, cv.stage as usize, cv.entered_at)
            };
            if !self.queues[qi].cfg.open {
                self.defer(c, "after_hours", out);
                return;
            }
            let pool = self.pool_of(c);
            if let Some(step) = self.queues[qi].cfg.overflow.get(stage) {
                let due = entered.plus_millis((step.after_secs as i64).saturating_mul(1000)) <= now;
                if due || self.pools[pool].staffed == 0 {
                    if self.apply_step(c, now, out) {
                        moves += 1;
                        if moves > self.queues.len() {
                            self.defer(c, "no_agent_available", out);
                            return;
                        }
                    }
                    continue;
                }
            }
            if self.pools[pool].staffed == 0 {
                self.defer(c, "no_agent_available", out);
                return;
            }
            if self.try_sticky(c, pool, now, out) {
                return;
            }
            if let Some((a, explanation)) = self.pick_agent(c, pool, now) {
                self.offer(c, a, explanation, now, out);
                return;
            }
            self.insert_waiting(c, pool, now);
            return;
        }
    }

    /// Runs the conversation's next overflow step. Returns whether it moved queue.
    fn apply_step(&mut self, c: Slot, now: Timestamp, out: &mut Vec<Decision>) -> bool {
        let (qi, stage) = (self.conv(c).queue, self.conv(c).stage as usize);
        let action = self.queues[qi].cfg.overflow[stage].action.clone();
        let id = self.conv(c).id.clone();
        let reached = stage as u32 + 1;
        self.conv_mut(c).stage = reached;
        match action {
            OverflowAction::Widen { .. } => {
                out.push(Decision::Widen {
                    conversation: id,
                    stage: reached,
                });
                false
            }
            OverflowAction::RaisePriority { by } => {
                let cv = self.conv_mut(c);
                let p = Priority::new(i64::from(cv.priority.get()) + i64::from(by))
                    .unwrap_or(Priority::MAX);
                cv.priority = p;
                out.push(Decision::RaisePriority {
                    conversation: id,
                    priority: p,
                    stage: reached,
                });
                false
            }
            OverflowAction::MoveToQueue { queue } => {
                let target = self.queue_index[&queue];
                let cv = self.conv_mut(c);
                cv.queue = target;
                cv.stage = 0;
                cv.entered_at = now;
                out.push(Decision::MoveQueue {
                    conversation: id,
                    queue,
                    stage: reached,
                });
                true
            }
        }
    }

    fn defer(&mut self, c: Slot, reason: &str, out: &mut Vec<Decision>) {
        let cv = self.conv_mut(c);
        cv.state = CState::Deferred;
        let (qi, seq, id) = (cv.queue, cv.seq, cv.id.clone());
        self.queues[qi].deferred.insert((seq, c));
        out.push(Decision::Defer {
            conversation: id,
            reason: reason.to_string(),
        });
    }

    fn membership(&self, a: Slot, pool: usize) -> Option<Membership> {
        self.agents[a as usize]
            .memberships
            .iter()
            .find(|m| m.pool == pool)
            .copied()
    }

    fn try_sticky(
        &mut self,
        c: Slot,
        pool: usize,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) -> bool {
        let cv = self.conv(c);
        let window = self.queues[cv.queue].cfg.sticky_window_secs;
        if window == 0 || cv.sticky_done {
            return false;
        }
        let Some(p) = cv.previous else { return false };
        let until = cv
            .queued_at
            .plus_millis((window as i64).saturating_mul(1000));
        let class = cv.class;
        let usable = until > now && !cv.excludes(p, now);
        let member = self.membership(p, pool).filter(|m| m.staffed);
        let (Some(m), true) = (member, usable) else {
            self.conv_mut(c).sticky_done = true;
            return false;
        };
        if m.classes > class {
            let explanation = Explanation {
                queue: self.queues[self.conv(c).queue].cfg.id.clone(),
                strategy: self.queues[self.conv(c).queue].cfg.strategy,
                candidates: vec![Candidate {
                    agent: self.agents[p as usize].info.id.clone(),
                    score: None,
                    excluded: None,
                }],
                winner_reason: "previous agent of this customer (sticky routing)".to_string(),
                relaxation: None,
            };
            self.offer(c, p, explanation, now, out);
            return true;
        }
        let key = self.wait_key(c);
        self.agents[p as usize].sticky.insert(key);
        let cv = self.conv_mut(c);
        cv.key = key;
        cv.state = CState::Sticky { agent: p };
        self.set_timer(c, until);
        true
    }

    fn pick_agent(&self, c: Slot, pool: usize, now: Timestamp) -> Option<(Slot, Explanation)> {
        let cv = self.conv(c);
        let q = &self.queues[cv.queue];
        let set = &self.pools[pool].ready[cv.class];
        if q.cfg.strategy == Strategy::BestMatch {
            return self.best_match(c, pool, now);
        }
        let mut candidates = Vec::new();
        let mut excluded = 0;
        let mut winner = None;
        for k in set {
            if let Some(&(_, until)) = cv
                .declined
                .iter()
                .find(|&&(s, until)| s == k.slot && until > now)
            {
                if excluded < MAX_EXCLUDED_LISTED {
                    candidates.push(Candidate {
                        agent: self.agents[k.slot as usize].info.id.clone(),
                        score: None,
                        excluded: Some(exclusion_reason(until, now)),
                    });
                }
                excluded += 1;
                continue;
            }
            winner = Some(*k);
            break;
        }
        let k = winner?;
        let ag = &self.agents[k.slot as usize];
        let (score, reason) = match q.cfg.strategy {
            Strategy::LongestIdle => {
                let idle = now.millis_since(ag.info.idle_since).max(0) as f64 / 1000.0;
                (
                    Some(idle),
                    format!("longest idle eligible agent ({idle:.0} s idle)"),
                )
            }
            Strategy::LeastBusy => {
                let ratio = k.primary as f64 / 1e6;
                (
                    Some(ratio),
                    format!("least busy eligible agent (load {:.0}%)", ratio * 100.0),
                )
            }
            _ => (None, "next eligible agent in round-robin order".to_string()),
        };
        candidates.insert(
            0,
            Candidate {
                agent: ag.info.id.clone(),
                score,
                excluded: None,
            },
        );
        let explanation = Explanation {
            queue: q.cfg.id.clone(),
            strategy: q.cfg.strategy,
            candidates,
            winner_reason: reason,
            relaxation: None,
        };
        Some((k.slot, explanation))
    }

    fn dynamic_score(&self, c: Slot, a: Slot, w: &MatchWeights) -> f64 {
        let cv = self.conv(c);
        let ag = &self.agents[a as usize];
        let lang = match &cv.language {
            Some(l) if ag.info.languages.iter().any(|x| x.as_str() == &**l) => w.language,
            _ => 0.0,
        };
        let prev = if cv.previous == Some(a) {
            w.previous_agent
        } else {
            0.0
        };
        lang + prev
    }

    fn best_match(&self, c: Slot, pool: usize, now: Timestamp) -> Option<(Slot, Explanation)> {
        let cv = self.conv(c);
        let q = &self.queues[cv.queue];
        let w = clamp_weights(&q.cfg.weights);
        let bound = if cv.language.is_some() {
            w.language
        } else {
            0.0
        };
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut best: Option<(f64, Slot)> = None;
        let mut scanned = 0;
        let mut excluded = 0;
        let mut previous_scored = false;
        let consider = |a: Slot,
                        stat: f64,
                        candidates: &mut Vec<Candidate>,
                        best: &mut Option<(f64, Slot)>| {
            let total = stat + self.dynamic_score(c, a, &w);
            candidates.push(Candidate {
                agent: self.agents[a as usize].info.id.clone(),
                score: Some(total),
                excluded: None,
            });
            if best.is_none_or(|(b, _)| total > b) {
                *best = Some((total, a));
            }
        };
        for k in &self.pools[pool].ready[cv.class] {
            if let Some(&(_, until)) = cv
                .declined
                .iter()
                .find(|&&(s, until)| s == k.slot && until > now)
            {
                if excluded < MAX_EXCLUDED_LISTED {
                    candidates.push(Candidate {
                        agent: self.agents[k.slot as usize].info.id.clone(),
                        score: None,
                        excluded: Some(exclusion_reason(until, now)),
                    });
                }
                excluded += 1;
                continue;
            }
            let stat = -(k.primary as f64) / 1e6;
            if scanned >= BEST_MATCH_SCAN || best.is_some_and(|(b, _)| stat + bound <= b) {
                break;
            }
            scanned += 1;
            previous_scored |= cv.previous == Some(k.slot);
            consider(k.slot, stat, &mut candidates, &mut best);
        }
        if let Some(p) = cv.previous
            && !previous_scored
            && !cv.excludes(p, now)
            && let Some(m) = self.membership(p, pool)
            && m.classes > cv.class
        {
            consider(p, -(m.key.primary as f64) / 1e6, &mut candidates, &mut best);
        }
        let (total, winner) = best?;
        candidates.sort_by(|x, y| match (x.score, y.score) {
            (Some(a), Some(b)) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        let mut why = format!("highest best_match score {total:.3} of {scanned} scored");
        if cv.previous == Some(winner) {
            why.push_str("; previous agent of this customer");
        }
        Some((
            winner,
            Explanation {
                queue: q.cfg.id.clone(),
                strategy: q.cfg.strategy,
                candidates,
                winner_reason: why,
                relaxation: None,
            },
        ))
    }

    /// The relaxation step a conversation is routed under, in words, when its queue's
    /// requirements were relaxed by waiting (see [`Explanation::relaxation`]).
    fn relaxation(&self, c: Slot) -> Option<String> {
        let cv = self.conv(c);
        let q = &self.queues[cv.queue];
        let level = *q.level_of_stage.get(cv.stage as usize)?;
        if level == 0 {
            return None;
        }
        // The widen step that made this level: the `level`-th widen of the plan.
        let after = q
            .cfg
            .overflow
            .iter()
            .filter(|s| matches!(s.action, OverflowAction::Widen { .. }))
            .nth(level - 1)
            .map_or(0, |s| s.after_secs);
        let pool = &self.pools[q.pools[level]];
        let skills = if pool.required.is_empty() {
            "no skill required".to_string()
        } else {
            pool.required
                .iter()
                .map(|r| format!("{} >= {}", r.skill, r.min_level))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let languages = if pool.languages.is_empty() {
            "any language".to_string()
        } else {
            format!("languages {}", pool.languages.join(", "))
        };
        Some(format!(
            "step {level} (after {after} s waiting): {skills}; {languages}"
        ))
    }

    fn offer(
        &mut self,
        c: Slot,
        a: Slot,
        mut explanation: Explanation,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        explanation.relaxation = self.relaxation(c);
        let (qi, weight, id) = {
            let cv = self.conv(c);
            (cv.queue, cv.weight, cv.id.clone())
        };
        let agent_id = self.agents[a as usize].info.id.clone();
        let ag = &mut self.agents[a as usize];
        ag.load += weight;
        debug_assert!(ag.load <= ag.info.capacity, "offer beyond capacity");
        ag.info.idle_since = now;
        let q = &mut self.queues[qi];
        q.rr_next += 1;
        q.rr_last.insert(a, q.rr_next);
        if q.cfg.auto_accept {
            self.conv_mut(c).state = CState::Assigned {
                agent: a,
                since: now,
            };
            out.push(Decision::Assign {
                conversation: id,
                agent: agent_id,
                explanation,
            });
        } else {
            let expires_at = now.plus_millis((q.cfg.offer_timeout_secs.max(1) as i64) * 1000);
            self.conv_mut(c).state = CState::Offered {
                agent: a,
                expires_at,
            };
            self.agents[a as usize].offers.push(c);
            self.set_timer(c, expires_at);
            out.push(Decision::Offer {
                conversation: id,
                agent: agent_id,
                expires_at,
                explanation,
            });
        }
        self.reindex_keys(a);
    }

    /// Offers waiting conversations to an agent while it has room: its sticky customers first,
    /// then the highest effective priority among the heads of its pools.
    fn route_agent(&mut self, a: Slot, now: Timestamp, out: &mut Vec<Decision>) {
        loop {
            if !self.agent_ready(a) {
                return;
            }
            let ag = &self.agents[a as usize];
            let free = ag.info.capacity.saturating_sub(ag.load);
            if free == 0 {
                return;
            }
            let mut sticky = false;
            let mut best: Option<(i128, WaitKey, usize)> = None;
            if let Some(k) = ag.sticky.iter().find(|k| self.conv(k.slot).weight <= free) {
                sticky = true;
                best = Some((0, *k, self.conv(k.slot).queue));
            } else {
                for m in &ag.memberships {
                    let qi = self.pools[m.pool].queue;
                    for class in 0..m.classes {
                        let head = self.pools[m.pool].waiting[class]
                            .iter()
                            .find(|k| !self.conv(k.slot).excludes(a, now));
                        if let Some(k) = head {
                            let eff = self.effective(k, qi, now);
                            let better = best.is_none_or(|(e, bk, _)| {
                                (Reverse(eff), k.queued_at, k.seq)
                                    < (Reverse(e), bk.queued_at, bk.seq)
                            });
                            if better {
                                best = Some((eff, *k, qi));
                            }
                        }
                    }
                }
            }
            let Some((eff, key, qi)) = best else { return };
            let c = key.slot;
            self.detach(c);
            let q = &self.queues[qi];
            let waited = now.millis_since(key.queued_at_ts()).max(0) / 1000;
            let reason = if sticky {
                "previous agent of this customer became free (sticky routing)".to_string()
            } else {
                format!(
                    "agent became free; highest effective priority waiting ({:.1}, waited {waited} s)",
                    eff as f64 / PRIO_SCALE as f64
                )
            };
            let explanation = Explanation {
                queue: q.cfg.id.clone(),
                strategy: q.cfg.strategy,
                candidates: vec![Candidate {
                    agent: self.agents[a as usize].info.id.clone(),
                    score: None,
                    excluded: None,
                }],
                winner_reason: reason,
                relaxation: None,
            };
            self.offer(c, a, explanation, now, out);
        }
    }

    fn requeue_deferred(&mut self, qi: usize, now: Timestamp, out: &mut Vec<Decision>) {
        let q = &self.queues[qi];
        if !q.cfg.open
            || q.deferred.is_empty()
            || q.pools.iter().all(|&p| self.pools[p].staffed == 0)
        {
            return;
        }
        // Oldest first: they get their new places in line in that order; then the ones at the
        // front of the line (priority, then that order) are routed first.
        let deferred: Vec<Slot> = q.deferred.iter().map(|&(_, c)| c).collect();
        for &c in &deferred {
            self.detach(c);
            let seq = self.next_seq();
            let cv = self.conv_mut(c);
            cv.queued_at = now;
            cv.entered_at = now;
            cv.stage = 0;
            cv.seq = seq;
            cv.declined.clear();
            cv.sticky_done = false;
            out.push(Decision::Requeue {
                conversation: cv.id.clone(),
            });
        }
        self.enqueue_batch(deferred, now, out);
    }

    /// Enqueues detached conversations, the highest effective priority first, so that a batch
    /// (expiries at one instant, requeues, a queue losing staff) respects priority order.
    fn enqueue_batch(&mut self, mut slots: Vec<Slot>, now: Timestamp, out: &mut Vec<Decision>) {
        if slots.len() > 1 {
            // Steps that are due change priorities and queues: run them before ordering. As in
            // `enqueue`, a step is due on its timer or at once when its pool has no staff.
            for &c in &slots {
                let mut moves = 0;
                while moves <= self.queues.len() {
                    let unstaffed = self.pools[self.pool_of(c)].staffed == 0;
                    let cv = self.conv(c);
                    let q = &self.queues[cv.queue];
                    let due = q.cfg.open
                        && q.cfg.overflow.get(cv.stage as usize).is_some_and(|step| {
                            unstaffed
                                || cv
                                    .entered_at
                                    .plus_millis((step.after_secs as i64).saturating_mul(1000))
                                    <= now
                        });
                    if !due {
                        break;
                    }
                    if self.apply_step(c, now, out) {
                        moves += 1;
                    }
                }
            }
        }
        slots.sort_by_cached_key(|&c| {
            let key = self.wait_key(c);
            (
                Reverse(self.effective(&key, self.conv(c).queue, now)),
                key.queued_at,
                key.seq,
            )
        });
        for c in slots {
            self.enqueue(c, now, out);
        }
    }

    fn reroute(&mut self, slots: Vec<Slot>, now: Timestamp, out: &mut Vec<Decision>) {
        let slots: Vec<Slot> = slots
            .into_iter()
            .filter(|&c| self.convs[c as usize].is_some())
            .collect();
        for &c in &slots {
            self.detach(c);
        }
        self.enqueue_batch(slots, now, out);
    }

    /// Withdraws offers (decline, expiry, agent away) in one batch: every conversation goes
    /// back in line first, then the freed agents take what they can. Only a decline keeps the
    /// agent out of the conversation, for its queue's cool-down.
    fn release_offers(
        &mut self,
        slots: Vec<Slot>,
        mut also: Vec<Slot>,
        declined: bool,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        let mut freed = Vec::new();
        for &c in &slots {
            if let Some(a) = self.detach(c) {
                if declined {
                    let secs = self.queues[self.conv(c).queue].cfg.decline_cooldown_secs;
                    let until = now.plus_millis((secs as i64).saturating_mul(1000));
                    let cv = self.conv_mut(c);
                    cv.declined.retain(|&(s, _)| s != a);
                    cv.declined.push((a, until));
                }
                if !freed.contains(&a) {
                    freed.push(a);
                }
            }
        }
        // Freed agents stay indexed as they were (not ready) until the batch is back in line,
        // so that they then take the highest priority work rather than whichever conversation
        // of the batch happens to be placed first.
        also.extend(slots);
        self.enqueue_batch(also, now, out);
        for &a in &freed {
            self.reindex_keys(a);
        }
        for a in freed {
            self.route_agent(a, now, out);
        }
    }

    fn waiting_in_pools(&self, pools: &[usize]) -> Vec<Slot> {
        let mut keys: Vec<WaitKey> = pools
            .iter()
            .flat_map(|&p| self.pools[p].waiting.iter().flatten().copied())
            .collect();
        keys.sort();
        keys.into_iter().map(|k| k.slot).collect()
    }

    // ----- events --------------------------------------------------------------------------

    // ----- events --------------------------------------------------------------------------

    /// Routes everything that can be routed now: waiting conversations in priority order,
    /// deferred ones whose queue is open and staffed, and due timers. Call it once after
    /// [`Router::new`] when the server starts.
    pub fn route_all(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        let mut waiting: Vec<(Reverse<i128>, i64, u64, Slot)> = Vec::new();
        for (c, cv) in self.convs.iter().enumerate() {
            if let Some(cv) = cv
                && matches!(cv.state, CState::Waiting { .. } | CState::Sticky { .. })
            {
                let key = self.wait_key(c as Slot);
                waiting.push((
                    Reverse(self.effective(&key, cv.queue, now)),
                    key.queued_at,
                    key.seq,
                    c as Slot,
                ));
            }
        }
        waiting.sort_unstable();
        self.reroute(waiting.into_iter().map(|w| w.3).collect(), now, &mut out);
        for qi in 0..self.queues.len() {
            self.requeue_deferred(qi, now, &mut out);
        }
        let mut rest = self.tick(now);
        out.append(&mut rest);
        self.flush(&mut out);
        out
    }

    /// A conversation entered `queued` (handoff, or back in line for any reason): route it.
    /// Replaces whatever the router knew about it; `info.state` is ignored.
    pub fn conversation_queued(
        &mut self,
        mut info: ConversationInfo,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        info.state = RoutingState::Waiting;
        let mut out = Vec::new();
        let (c, freed) = self.insert_conversation(info)?;
        self.detach(c);
        self.enqueue(c, now, &mut out);
        if let Some(a) = freed {
            self.reindex_keys(a);
            self.route_agent(a, now, &mut out);
        }
        self.flush(&mut out);
        Ok(out)
    }

    /// Tracks a conversation in the state given by `info.state` without routing it, e.g. a bot
    /// conversation an agent took over (`Assigned`), so that it counts against capacity.
    pub fn upsert_conversation(
        &mut self,
        info: ConversationInfo,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let mut out = Vec::new();
        let (_, freed) = self.insert_conversation(info)?;
        if let Some(a) = freed {
            self.reindex_keys(a);
            self.route_agent(a, now, &mut out);
        }
        self.flush(&mut out);
        Ok(out)
    }

    fn slot_of(&self, id: &ConversationId) -> Result<Slot, RouterError> {
        self.conv_index
            .get(id)
            .copied()
            .ok_or_else(|| RouterError::UnknownConversation(id.clone()))
    }

    /// An agent now owns the conversation: accepted offer, claim, or takeover of a tracked one.
    /// A claim over someone else's pending offer frees that agent.
    pub fn conversation_assigned(
        &mut self,
        id: &ConversationId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let mut out = Vec::new();
        let a = self.agent_slot(agent);
        if let CState::Assigned { agent: owner, .. } = self.conv(c).state
            && owner == a
        {
            return Ok(out);
        }
        let freed = self.detach(c);
        let since = now;
        let weight = self.conv(c).weight;
        self.conv_mut(c).state = CState::Assigned { agent: a, since };
        self.agents[a as usize].load += weight;
        self.reindex_keys(a);
        if let Some(f) = freed.filter(|&f| f != a) {
            self.reindex_keys(f);
            self.route_agent(f, now, &mut out);
        }
        self.flush(&mut out);
        Ok(out)
    }

    /// The offered agent declined: re-offer to the next agent. She is kept out of it for the
    /// queue's cool-down; after it, it may come back to her if it still waits.
    pub fn offer_declined(
        &mut self,
        id: &ConversationId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let offered_to = match self.conv(c).state {
            CState::Offered { agent: a, .. } => Some(a),
            _ => None,
        };
        if offered_to.is_none() || offered_to != self.agent_index.get(agent).copied() {
            return Err(RouterError::NoOffer {
                conversation: id.clone(),
                agent: agent.clone(),
            });
        }
        let mut out = Vec::new();
        self.release_offers(vec![c], Vec::new(), true, now, &mut out);
        self.flush(&mut out);
        Ok(out)
    }

    /// The offer lapsed (the caller's timer fired first, or it applied `ExpireOffer` itself).
    /// [`Router::tick`] does the same for offers it finds due, and also applies the queue's
    /// [`MissedOffer`] policy; here the agent's presence is the caller's to report.
    pub fn offer_expired(
        &mut self,
        id: &ConversationId,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let mut out = Vec::new();
        if matches!(self.conv(c).state, CState::Offered { .. }) {
            self.release_offers(vec![c], Vec::new(), false, now, &mut out);
        }
        self.flush(&mut out);
        Ok(out)
    }

    /// The conversation closed (or the customer left the queue): free its capacity, learn its
    /// handle time, and forget it. Unknown conversations are ignored.
    pub fn conversation_closed(&mut self, id: &ConversationId, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(&c) = self.conv_index.get(id) else {
            return out;
        };
        let (state, qi) = (self.conv(c).state, self.conv(c).queue);
        let freed = self.remove_conversation(c);
        if let CState::Assigned { since, .. } = state {
            let handle = now.millis_since(since).max(0) as f64 / 1000.0;
            self.learn_handle_time(qi, freed, handle);
        }
        if let Some(a) = freed {
            if matches!(state, CState::Assigned { .. }) {
                self.agents[a as usize].info.idle_since = now;
            }
            self.reindex_keys(a);
            self.route_agent(a, now, &mut out);
        }
        self.flush(&mut out);
        out
    }

    /// A conversation of `queue` that `agent` handled for `secs` seconds ended outside this
    /// router's view (a caller that rebuilds the router learns closes this way). Unknown queues
    /// are ignored; an unknown agent only teaches the queue.
    pub fn record_handle_time(&mut self, queue: &QueueId, agent: &AgentId, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        let Some(&qi) = self.queue_index.get(queue) else {
            return;
        };
        let a = self.agent_index.get(agent).copied();
        self.learn_handle_time(qi, a, secs);
        if let Some(a) = a {
            self.reindex_keys(a);
        }
    }

    fn learn_handle_time(&mut self, qi: usize, agent: Option<Slot>, handle: f64) {
        let q = &mut self.queues[qi];
        q.aht_secs = (1.0 - AHT_ALPHA) * q.aht_secs + AHT_ALPHA * handle;
        if q.pools
            .iter()
            .any(|&p| self.pools[p].waiting.iter().any(|w| !w.is_empty()))
        {
            self.touch(qi);
        }
        if let Some(a) = agent {
            let stats = &mut self.agents[a as usize].info.stats;
            stats.recent_handle_secs = Some(match stats.recent_handle_secs {
                Some(h) => (1.0 - AHT_ALPHA) * h + AHT_ALPHA * handle,
                None => handle,
            });
        }
    }

    /// What this router learned (see [`Memory`]), to hand to the next one built from the
    /// same tenant's data.
    pub fn memory(&self) -> Memory {
        let id = |a: &Slot| self.agents[*a as usize].info.id.clone();
        Memory {
            queues: self
                .queues
                .iter()
                .map(|q| {
                    (
                        q.cfg.id.clone(),
                        QueueMemory {
                            aht_secs: q.aht_secs,
                            rr_next: q.rr_next,
                            rr_last: q.rr_last.iter().map(|(a, n)| (id(a), *n)).collect(),
                        },
                    )
                })
                .collect(),
            agent_handle_secs: self
                .agents
                .iter()
                .filter(|a| a.known)
                .filter_map(|a| Some((a.info.id.clone(), a.info.stats.recent_handle_secs?)))
                .collect(),
        }
    }

    /// Takes over what an earlier router learned (see [`Memory`]); call it right after
    /// [`Router::new`], before routing. Queues and agents this router does not know are
    /// skipped; an agent's own `stats.recent_handle_secs`, when given, wins.
    pub fn remember(&mut self, memory: &Memory) {
        for (queue, m) in &memory.queues {
            let Some(&qi) = self.queue_index.get(queue) else {
                continue;
            };
            let rr_last: HashMap<Slot, u64> = m
                .rr_last
                .iter()
                .filter_map(|(a, n)| Some((*self.agent_index.get(a)?, *n)))
                .collect();
            let q = &mut self.queues[qi];
            if m.aht_secs.is_finite() && m.aht_secs > 0.0 {
                q.aht_secs = m.aht_secs;
            }
            q.rr_next = m.rr_next;
            q.rr_last = rr_last;
        }
        for (agent, secs) in &memory.agent_handle_secs {
            if let Some(&a) = self.agent_index.get(agent) {
                let stats = &mut self.agents[a as usize].info.stats;
                if stats.recent_handle_secs.is_none() && secs.is_finite() {
                    stats.recent_handle_secs = Some(*secs);
                }
            }
        }
        for a in 0..self.agents.len() {
            self.reindex_keys(a as Slot);
        }
    }

    /// The owner transferred the conversation to another agent (assigned at once) or a queue
    /// (routed again, with a fresh decline list, as the core state machine does).
    pub fn conversation_transferred(
        &mut self,
        id: &ConversationId,
        target: &TransferTarget,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let mut out = Vec::new();
        match target {
            TransferTarget::Agent(agent) => {
                out = self.conversation_assigned(id, agent, now)?;
            }
            TransferTarget::Queue(queue) => {
                let qi = *self
                    .queue_index
                    .get(queue)
                    .ok_or_else(|| RouterError::UnknownQueue(queue.clone()))?;
                let freed = self.detach(c);
                let seq = self.next_seq();
                let cv = self.conv_mut(c);
                cv.queue = qi;
                cv.queued_at = now;
                cv.entered_at = now;
                cv.stage = 0;
                cv.seq = seq;
                cv.declined.clear();
                cv.sticky_done = true;
                self.enqueue(c, now, &mut out);
                if let Some(a) = freed {
                    self.reindex_keys(a);
                    self.route_agent(a, now, &mut out);
                }
                self.flush(&mut out);
            }
        }
        Ok(out)
    }

    /// The conversation was deferred by someone else (e.g. the customer chose an email
    /// follow-up). It re-enters when its queue opens or gains staff.
    pub fn conversation_deferred(
        &mut self,
        id: &ConversationId,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let mut out = Vec::new();
        let freed = self.detach(c);
        let cv = self.conv_mut(c);
        cv.state = CState::Deferred;
        let (qi, seq) = (cv.queue, cv.seq);
        self.queues[qi].deferred.insert((seq, c));
        if let Some(a) = freed {
            self.reindex_keys(a);
            self.route_agent(a, now, &mut out);
        }
        self.flush(&mut out);
        Ok(out)
    }

    /// A deferred conversation was put back in its queue by someone else (`Command::Requeue`).
    pub fn conversation_requeued(
        &mut self,
        id: &ConversationId,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let mut out = Vec::new();
        if self.conv(c).state == CState::Deferred {
            self.detach(c);
            let seq = self.next_seq();
            let cv = self.conv_mut(c);
            cv.queued_at = now;
            cv.entered_at = now;
            cv.stage = 0;
            cv.seq = seq;
            cv.declined.clear();
            cv.sticky_done = false;
            self.enqueue(c, now, &mut out);
        }
        self.flush(&mut out);
        Ok(out)
    }

    /// The base priority changed (rules or API).
    pub fn priority_changed(
        &mut self,
        id: &ConversationId,
        priority: Priority,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let c = self.slot_of(id)?;
        let mut out = Vec::new();
        let state = self.conv(c).state;
        self.conv_mut(c).priority = priority;
        match state {
            CState::Waiting { pool } => {
                self.detach(c);
                self.insert_waiting(c, pool, now);
            }
            CState::Sticky { agent } => {
                let old = self.conv(c).key;
                let key = self.wait_key(c);
                let ag = &mut self.agents[agent as usize];
                ag.sticky.remove(&old);
                ag.sticky.insert(key);
                self.conv_mut(c).key = key;
            }
            _ => {}
        }
        // A re-keyed conversation cannot meet a free agent (none is free for it while it
        // waits), so nothing routes.
        self.flush(&mut out);
        Ok(out)
    }

    /// An agent appeared or changed: presence, skills, languages, queues, capacity or stats.
    /// Away or offline releases their pending offers; offline also releases customers waiting
    /// for them (sticky). Becoming available or gaining capacity routes work to them at once.
    pub fn agent_changed(&mut self, info: AgentInfo, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        self.agent_changed_into(info, &[], now, &mut out);
        self.flush(&mut out);
        out
    }

    /// [`Router::agent_changed`], where `lapsed` are offers of hers that just lapsed (reported
    /// as [`Decision::OfferExpired`] rather than released).
    fn agent_changed_into(
        &mut self,
        info: AgentInfo,
        lapsed: &[Slot],
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        let (a, released, also, gained) = self.agent_update(info, lapsed, now, out);
        self.release_offers(released, also, false, now, out);
        let mut queues: Vec<usize> = gained.iter().map(|&p| self.pools[p].queue).collect();
        queues.dedup();
        for qi in queues {
            self.requeue_deferred(qi, now, out);
        }
        self.route_agent(a, now, out);
    }

    /// The first half of [`Router::agent_changed`]: takes the agent's new data, and returns
    /// her slot, the offers to release (reported in `out`), the conversations that must go
    /// back in line with them (sticky customers, whatever waited in pools she alone staffed),
    /// and the pools that gained their first staffed agent. The caller releases them in one
    /// batch (several agents' at once when offers lapse together).
    fn agent_update(
        &mut self,
        info: AgentInfo,
        lapsed: &[Slot],
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) -> (Slot, Vec<Slot>, Vec<Slot>, Vec<usize>) {
        let a = self.agent_slot(&info.id);
        let ag = &mut self.agents[a as usize];
        let was_available = ag.known && ag.info.status == AgentStatus::Available;
        let known = ag.known;
        let idle_since = if info.status == AgentStatus::Available && !was_available {
            now
        } else if known {
            ag.info.idle_since
        } else {
            info.idle_since
        };
        ag.info = AgentInfo { idle_since, ..info };
        ag.known = true;
        let status = ag.info.status;
        let released: Vec<Slot> = if matches!(status, AgentStatus::Away | AgentStatus::Offline) {
            ag.offers.clone()
        } else {
            Vec::new()
        };
        let (gained, lost) = self.rebuild_memberships(a);
        let sticky_released: Vec<Slot> = {
            let ag = &self.agents[a as usize];
            ag.sticky
                .iter()
                .filter(|k| {
                    status == AgentStatus::Offline
                        || !ag
                            .memberships
                            .iter()
                            .any(|m| m.pool == self.pool_of(k.slot))
                })
                .map(|k| k.slot)
                .collect()
        };
        let reason = if status == AgentStatus::Offline {
            "agent_offline"
        } else {
            "agent_away"
        };
        for &c in &released {
            let conversation = self.conv(c).id.clone();
            let agent = self.agents[a as usize].info.id.clone();
            out.push(if lapsed.contains(&c) {
                Decision::OfferExpired {
                    conversation,
                    agent,
                }
            } else {
                Decision::ReleaseOffer {
                    conversation,
                    agent,
                    reason: reason.to_string(),
                }
            });
        }
        for &c in &sticky_released {
            self.detach(c);
            self.conv_mut(c).sticky_done = true;
        }
        // Whatever waited in a pool that lost its last staffed agent goes back in line in the
        // same batch as the released offers and sticky customers: they all overflow at this
        // instant, and a batch is placed highest effective priority first. Placed one group
        // after the other, a released low-priority offer could take the one free agent of
        // the overflow queue ahead of a higher-priority conversation that waited all along.
        let mut also = sticky_released;
        if !lost.is_empty() {
            let stranded = self.waiting_in_pools(&lost);
            for &c in &stranded {
                self.detach(c);
            }
            also.extend(stranded);
        }
        (a, released, also, gained)
    }

    /// Shorthand for [`Router::agent_changed`] with only the presence changed.
    pub fn agent_status(
        &mut self,
        agent: &AgentId,
        status: AgentStatus,
        now: Timestamp,
    ) -> Vec<Decision> {
        let Some(&a) = self.agent_index.get(agent) else {
            return Vec::new();
        };
        if !self.agents[a as usize].known {
            return Vec::new();
        }
        let info = AgentInfo {
            status,
            ..self.agents[a as usize].info.clone()
        };
        self.agent_changed(info, now)
    }

    /// The queue opened or closed (the caller evaluates business hours). Closing defers its
    /// waiting conversations (`after_hours`); opening requeues deferred ones, oldest first.
    pub fn set_queue_open(
        &mut self,
        queue: &QueueId,
        open: bool,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let qi = *self
            .queue_index
            .get(queue)
            .ok_or_else(|| RouterError::UnknownQueue(queue.clone()))?;
        let mut out = Vec::new();
        if self.queues[qi].cfg.open != open {
            self.queues[qi].cfg.open = open;
            if open {
                self.requeue_deferred(qi, now, &mut out);
            } else {
                let pools = self.queues[qi].pools.clone();
                let mut slots = self.waiting_in_pools(&pools);
                slots.extend(self.convs.iter().enumerate().filter_map(|(c, cv)| {
                    let cv = cv.as_ref()?;
                    (cv.queue == qi && matches!(cv.state, CState::Sticky { .. }))
                        .then_some(c as Slot)
                }));
                self.reroute(slots, now, &mut out);
            }
        }
        self.flush(&mut out);
        Ok(out)
    }

    /// A queue was added or reconfigured: rebuilds the indexes (O(n log n), configuration
    /// changes are rare) and routes whatever became routable.
    pub fn queue_changed(
        &mut self,
        queue: QueueConfig,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let (mut config, agents, convs) = self.snapshot();
        match config.queues.iter_mut().find(|q| q.id == queue.id) {
            Some(q) => *q = queue,
            None => config.queues.push(queue),
        }
        self.rebuild(config, agents, convs, now)
    }

    /// Replaces the whole routing configuration (queues and channel weights).
    pub fn set_config(
        &mut self,
        config: RouterConfig,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let (_, agents, convs) = self.snapshot();
        self.rebuild(config, agents, convs, now)
    }

    fn rebuild(
        &mut self,
        config: RouterConfig,
        agents: Vec<AgentInfo>,
        convs: Vec<ConversationInfo>,
        now: Timestamp,
    ) -> Result<Vec<Decision>, RouterError> {
        let mut fresh = Router::new(config, agents, convs)?;
        for q in fresh.queues.iter_mut() {
            if let Some(&old) = self.queue_index.get(&q.cfg.id) {
                q.aht_secs = self.queues[old].aht_secs;
            }
        }
        *self = fresh;
        Ok(self.route_all(now))
    }

    /// Fires every timer due at `now`: offer expiries (re-offered onward), overflow steps and
    /// sticky windows. The server persists [`Router::next_timer`] and calls this when it fires.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        let mut due = Vec::new();
        while let Some(&(at, c)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.conv_mut(c).timer = None;
            due.push(c);
        }
        let mut expired = Vec::new();
        // Agents set away for a missed offer: every offer of theirs lapsing now goes with
        // them (their other offers are released as they go away).
        let mut missed: Vec<(Slot, Vec<Slot>)> = Vec::new();
        for &c in &due {
            if let CState::Offered { agent, .. } = self.conv(c).state
                && self.queues[self.conv(c).queue].cfg.missed_offer == MissedOffer::SetAway
                && self.agents[agent as usize].known
                // Only someone `available` is set away (as the store does): a `busy` agent
                // keeps her status, the offer simply lapses.
                && self.agents[agent as usize].info.status == AgentStatus::Available
                && !missed.iter().any(|(a, _)| *a == agent)
            {
                missed.push((agent, Vec::new()));
            }
        }
        let mut rest = Vec::new();
        for c in due {
            match self.conv(c).state {
                CState::Offered { agent, .. } => {
                    if let Some((_, lapsed)) = missed.iter_mut().find(|(a, _)| *a == agent) {
                        lapsed.push(c);
                        continue;
                    }
                    out.push(Decision::OfferExpired {
                        conversation: self.conv(c).id.clone(),
                        agent: self.agents[agent as usize].info.id.clone(),
                    });
                    expired.push(c);
                }
                CState::Waiting { .. } => {
                    self.detach(c);
                    rest.push(c);
                }
                CState::Sticky { .. } => {
                    self.detach(c);
                    self.conv_mut(c).sticky_done = true;
                    rest.push(c);
                }
                _ => {}
            }
        }
        // Agents who let an offer lapse in a `set_away` queue are set away first, so the batch
        // below never hands the conversation straight back to them; everything that goes
        // back in line now does so in one batch, highest priority first.
        for (a, lapsed) in missed {
            let agent = self.agents[a as usize].info.id.clone();
            out.push(Decision::AgentAway {
                agent,
                reason: "missed_offer".to_string(),
            });
            let info = AgentInfo {
                status: AgentStatus::Away,
                ..self.agents[a as usize].info.clone()
            };
            let (_, released, also, _) = self.agent_update(info, &lapsed, now, &mut out);
            expired.extend(released);
            rest.extend(also);
        }
        self.release_offers(expired, rest, false, now, &mut out);
        self.flush(&mut out);
        out
    }

    // ----- queries -------------------------------------------------------------------------

    /// When [`Router::tick`] next has something to do.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Everyone waiting in a queue, in the order they will be served, with estimated waits
    /// (position × recent mean handle time ÷ staffed capacity). O(n log n) in the queue's
    /// length: the server calls it when pushing after [`Decision::PositionsChanged`].
    pub fn queue_positions(&self, queue: &QueueId) -> Vec<Position> {
        let Some(&qi) = self.queue_index.get(queue) else {
            return Vec::new();
        };
        let q = &self.queues[qi];
        let capacity = q
            .pools
            .iter()
            .map(|&p| self.pools[p].staffed_capacity)
            .max()
            .unwrap_or(0);
        self.waiting_in_pools(&q.pools)
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let position = i as u32 + 1;
                Position {
                    conversation: self.conv(c).id.clone(),
                    position,
                    estimated_wait_secs: (capacity > 0).then(|| {
                        (f64::from(position) * q.aht_secs / capacity as f64).round() as u64
                    }),
                }
            })
            .collect()
    }

    /// Why `agent` is not offered the conversation at `now`, as the router sees it: each
    /// reason in words (her status, queue, skills, languages, capacity, a cool-down, the
    /// queue's hours, or others ahead of it). Empty when nothing keeps her from it (it is
    /// hers, or she is next). `None` when the router does not track the conversation.
    pub fn why_not(
        &self,
        id: &ConversationId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Option<Vec<String>> {
        let c = *self.conv_index.get(id)?;
        let cv = self.conv(c);
        let q = &self.queues[cv.queue];
        let mut why = Vec::new();
        let a = self.agent_index.get(agent).copied();
        match cv.state {
            CState::Offered { agent: o, .. } if Some(o) == a => return Some(why),
            CState::Assigned { agent: o, .. } if Some(o) == a => return Some(why),
            CState::Offered { agent: o, .. } => why.push(format!(
                "it is offered to {} right now",
                self.agents[o as usize].info.id
            )),
            CState::Assigned { agent: o, .. } => {
                why.push(format!("{} owns it", self.agents[o as usize].info.id))
            }
            CState::Deferred => why.push(if q.cfg.open {
                "it is deferred: nobody who may take it was available or busy".to_string()
            } else {
                "it is deferred: its queue is closed (business hours)".to_string()
            }),
            _ => {}
        }
        if !q.cfg.open && cv.state != CState::Deferred {
            why.push(format!("queue {} is closed (business hours)", q.cfg.id));
        }
        let Some(a) = a.filter(|&a| self.agents[a as usize].known) else {
            why.push("you take no conversations from this tenant's queues".to_string());
            return Some(why);
        };
        let ag = &self.agents[a as usize];
        if ag.info.status != AgentStatus::Available {
            why.push(format!(
                "your status is {} (offers go to available agents)",
                ag.info.status.as_str()
            ));
        }
        if !ag.info.queues.contains(&q.cfg.id) {
            why.push(format!("you do not work queue {}", q.cfg.id));
        }
        let pool = &self.pools[self.pool_of(c)];
        for r in &pool.required {
            let level = ag.info.skills.get(&r.skill).copied().unwrap_or(0);
            if level < r.min_level {
                why.push(format!(
                    "it needs skill {} at level {} or more (yours: {level})",
                    r.skill, r.min_level
                ));
            }
        }
        if !pool.languages.is_empty()
            && !pool.languages.iter().any(|l| ag.info.languages.contains(l))
        {
            why.push(format!(
                "it needs one of the languages {}",
                pool.languages.join(", ")
            ));
        }
        let free = ag.info.capacity.saturating_sub(ag.load);
        if free < cv.weight {
            why.push(format!(
                "you are at capacity ({} of {} in use)",
                ag.load, ag.info.capacity
            ));
        }
        if let Some(&(_, until)) = cv.declined.iter().find(|&&(s, u)| s == a && u > now) {
            why.push(format!(
                "you {}",
                exclusion_reason(until, now).replace("transfers", "transfer")
            ));
        }
        if why.is_empty()
            && let Some(p) = self.position_of(id)
            && p.position > 1
        {
            why.push(format!(
                "{} conversation(s) are ahead of it in line",
                p.position - 1
            ));
        }
        Some(why)
    }

    /// One conversation's place in line, if it is waiting.
    pub fn position_of(&self, id: &ConversationId) -> Option<Position> {
        let c = *self.conv_index.get(id)?;
        let queue = &self.queues[self.conv(c).queue].cfg.id;
        self.queue_positions(queue)
            .into_iter()
            .find(|p| &p.conversation == id)
    }

    /// `name`, shared with every other use of the same text. Names no conversation holds any
    /// more are dropped whenever the set has doubled since the last such sweep, so channel
    /// names sent by clients cannot grow it without bound.
    fn intern(&mut self, name: String) -> Arc<str> {
        if let Some(held) = self.names.get(name.as_str()) {
            return held.clone();
        }
        if self.names.len() >= self.names_swept_at.max(32) * 2 {
            self.names.retain(|n| Arc::strong_count(n) > 1);
            self.names_swept_at = self.names.len();
        }
        let held: Arc<str> = name.into();
        self.names.insert(held.clone());
        held
    }

    /// The queue a conversation is routed in and its priority as the router holds them
    /// (overflow may have raised it). `None` when the router does not hold it.
    pub fn placement(&self, id: &ConversationId) -> Option<(&QueueId, Priority)> {
        let c = self.conv(*self.conv_index.get(id)?);
        Some((&self.queues[c.queue].cfg.id, c.priority))
    }

    /// The customer's language and previous agent the router holds for a conversation (as
    /// its [`ConversationInfo`] gave them). `None` when the router does not hold it.
    pub fn customer_of(&self, id: &ConversationId) -> Option<(Option<&str>, Option<&AgentId>)> {
        let c = self.conv(*self.conv_index.get(id)?);
        Some(self.customer(c))
    }

    /// [`Router::customer_of`] for every conversation the router holds, in no order.
    pub fn customers(
        &self,
    ) -> impl Iterator<Item = (&ConversationId, Option<&str>, Option<&AgentId>)> {
        self.convs.iter().flatten().map(|c| {
            let (language, previous) = self.customer(c);
            (&c.id, language, previous)
        })
    }

    fn customer<'a>(&'a self, c: &'a Conv) -> (Option<&'a str>, Option<&'a AgentId>) {
        let previous = c.previous.map(|a| &self.agents[a as usize].info.id);
        (c.language.as_deref(), previous)
    }

    /// Where the router thinks a conversation stands.
    pub fn conversation_state(&self, id: &ConversationId) -> Option<RoutingState> {
        let c = *self.conv_index.get(id)?;
        Some(self.routing_state(c))
    }

    fn routing_state(&self, c: Slot) -> RoutingState {
        let agent = |a: Slot| self.agents[a as usize].info.id.clone();
        match self.conv(c).state {
            CState::Detached | CState::Waiting { .. } | CState::Sticky { .. } => {
                RoutingState::Waiting
            }
            CState::Offered {
                agent: a,
                expires_at,
            } => RoutingState::Offered {
                agent: agent(a),
                expires_at,
            },
            CState::Assigned { agent: a, since } => RoutingState::Assigned {
                agent: agent(a),
                since,
            },
            CState::Deferred => RoutingState::Deferred,
        }
    }

    /// An agent's load in capacity units (assigned plus offered).
    pub fn agent_load(&self, agent: &AgentId) -> Option<u32> {
        self.agent_index
            .get(agent)
            .map(|&a| self.agents[a as usize].load)
    }

    /// How many conversations wait in line (not offered, assigned or deferred).
    pub fn waiting_count(&self) -> usize {
        self.pools
            .iter()
            .flat_map(|p| p.waiting.iter())
            .map(BTreeSet::len)
            .sum::<usize>()
            + self.agents.iter().map(|a| a.sticky.len()).sum::<usize>()
    }

    /// The router's state as plain data, e.g. to rebuild it with another configuration.
    pub fn snapshot(&self) -> (RouterConfig, Vec<AgentInfo>, Vec<ConversationInfo>) {
        let config = RouterConfig {
            queues: self.queues.iter().map(|q| q.cfg.clone()).collect(),
            channel_weights: self.channel_weights.clone(),
        };
        let agents = self
            .agents
            .iter()
            .filter(|a| a.known)
            .map(|a| a.info.clone())
            .collect();
        let convs = self
            .convs
            .iter()
            .enumerate()
            .filter_map(|(c, cv)| {
                let cv = cv.as_ref()?;
                let agent = |a: &Slot| self.agents[*a as usize].info.id.clone();
                let (language, previous_agent) = self.customer(cv);
                Some(ConversationInfo {
                    id: cv.id.clone(),
                    queue: self.queues[cv.queue].cfg.id.clone(),
                    priority: cv.priority,
                    queued_at: cv.queued_at,
                    language: language.map(String::from),
                    channel: cv.channel.to_string(),
                    excluded: cv
                        .declined
                        .iter()
                        .map(|(a, until)| Exclusion {
                            agent: agent(a),
                            until: *until,
                        })
                        .collect(),
                    previous_agent: previous_agent.cloned(),
                    overflow_stage: cv.stage,
                    entered_queue_at: Some(cv.entered_at),
                    state: self.routing_state(c as Slot),
                })
            })
            .collect();
        (config, agents, convs)
    }

    /// Checks the router's internal consistency and its routing invariants at `now` (after
    /// [`Router::tick`] at `now`); used by the property tests. Errors describe the first
    /// violation. Among them: no conversation waits while an agent who may take it (not
    /// within a cool-down) is available with room, and every cool-down that keeps an agent
    /// out of a waiting conversation has a timer at its end.
    pub fn check_invariants(&self, now: Timestamp) -> Result<(), String> {
        let mut load = vec![0u32; self.agents.len()];
        let mut waiting = 0usize;
        for (c, cv) in self.convs.iter().enumerate() {
            let Some(cv) = cv else { continue };
            match cv.state {
                CState::Detached => return Err(format!("{} left detached", cv.id)),
                CState::Offered { agent, .. } | CState::Assigned { agent, .. } => {
                    load[agent as usize] += cv.weight;
                }
                CState::Waiting { pool } => {
                    waiting += 1;
                    if !self.pools[pool].waiting[cv.class].contains(&cv.key) {
                        return Err(format!("{} missing from its waiting set", cv.id));
                    }
                    if let Some(end) = cv.next_exclusion_end(now)
                        && cv.timer.is_none_or(|t| t > end)
                    {
                        return Err(format!("{} has no timer at its cool-down end", cv.id));
                    }
                    if let Some(k) = self.pools[pool].ready[cv.class]
                        .iter()
                        .find(|k| !cv.excludes(k.slot, now))
                    {
                        return Err(format!(
                            "{} waits while eligible agent {} is free",
                            cv.id, self.agents[k.slot as usize].info.id
                        ));
                    }
                }
                CState::Sticky { agent } => {
                    if !self.agents[agent as usize].sticky.contains(&cv.key) {
                        return Err(format!("{} missing from sticky set", cv.id));
                    }
                }
                CState::Deferred => {
                    if !self.queues[cv.queue]
                        .deferred
                        .contains(&(cv.seq, c as Slot))
                    {
                        return Err(format!("{} missing from deferred set", cv.id));
                    }
                }
            }
        }
        let in_sets: usize = self
            .pools
            .iter()
            .flat_map(|p| p.waiting.iter())
            .map(BTreeSet::len)
            .sum();
        if in_sets != waiting {
            return Err(format!(
                "{in_sets} entries in waiting sets for {waiting} waiting"
            ));
        }
        for (a, ag) in self.agents.iter().enumerate() {
            if ag.load != load[a] {
                return Err(format!(
                    "agent {} load {} but holds {}",
                    ag.info.id, ag.load, load[a]
                ));
            }
            let classes = self.agent_classes(a as Slot);
            for m in &ag.memberships {
                if m.classes != classes || m.key != self.agent_key(a as Slot, m.pool) {
                    return Err(format!("agent {} stale in pool {}", ag.info.id, m.pool));
                }
                for k in 0..self.classes.len() {
                    if self.pools[m.pool].ready[k].contains(&m.key) != (k < classes) {
                        return Err(format!("agent {} ready sets wrong", ag.info.id));
                    }
                }
            }
        }
        let ready: usize = self
            .pools
            .iter()
            .flat_map(|p| p.ready.iter())
            .map(BTreeSet::len)
            .sum();
        let expected: usize = self
            .agents
            .iter()
            .map(|a| a.memberships.iter().map(|m| m.classes).sum::<usize>())
            .sum();
        if ready != expected {
            return Err(format!("{ready} ready entries, expected {expected}"));
        }
        Ok(())
    }
}

impl WaitKey {
    fn queued_at_ts(&self) -> Timestamp {
        Timestamp::from_millis(self.queued_at)
    }
}

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn interned_names_are_shared_and_unheld_ones_swept() {
        let mut router = Router::new(RouterConfig::default(), Vec::new(), Vec::new()).unwrap();
        let web = router.intern("web".to_string());
        assert!(Arc::ptr_eq(&web, &router.intern("web".to_string())));
        // Names a hostile client makes up and no conversation holds any more do not pile up.
        for i in 0..10_000 {
            drop(router.intern(format!("channel-{i}")));
        }
        assert!(
            router.names.len() <= 64,
            "{} names held",
            router.names.len()
        );
        assert!(Arc::ptr_eq(&web, &router.intern("web".to_string())));
    }
}
