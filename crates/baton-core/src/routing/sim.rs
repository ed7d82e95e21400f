//! A discrete-event simulation of one queue, driving the same [`Router`] the server runs.
//!
//! Poisson arrivals, exponential (or fixed) handle times, identical agents that are always
//! available, optional exponential patience (abandonment). Offers are auto-accepted so that with
//! capacity 1 and infinite patience the system is exactly M/M/c and can be checked against
//! [`erlang_c`](super::erlang_c).

use super::decision::Decision;
use super::model::{AgentInfo, ConversationInfo, QueueConfig, RouterConfig, Strategy};
use super::router::{Router, RouterError};
use crate::ids::{AgentId, ConversationId, QueueId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A small seeded PRNG (xoshiro256**, seeded through SplitMix64): reproducible runs with no
/// dependency.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator from a seed; equal seeds give equal streams.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with the given mean, by inverse CDF.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next_f64()).ln()
    }
}

/// How handle times are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleTime {
    /// Exponential with the configured mean (M/M/c).
    #[default]
    Exponential,
    /// Always exactly the mean (M/D/c).
    Fixed,
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Number of agents.
    pub agents: u32,
    /// Mean arrivals per hour (Poisson).
    pub arrivals_per_hour: f64,
    /// Mean handle time in seconds.
    pub mean_handle_secs: f64,
    /// Handle time distribution.
    pub handle_time: HandleTime,
    /// Simulated hours of arrivals (the queue then drains).
    pub hours: f64,
    /// Hours at the start left out of the statistics (the system starts empty).
    pub warmup_hours: f64,
    /// PRNG seed.
    pub seed: u64,
    /// Mean patience in seconds (exponential); `None` waits forever.
    pub patience_secs: Option<f64>,
    /// The queue's strategy.
    pub strategy: Strategy,
    /// Concurrent conversations per agent.
    pub capacity: u32,
    /// Service level threshold: answered within this many seconds.
    pub service_level_secs: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            agents: 10,
            arrivals_per_hour: 100.0,
            mean_handle_secs: 300.0,
            handle_time: HandleTime::Exponential,
            hours: 8.0,
            warmup_hours: 0.0,
            seed: 1,
            patience_secs: None,
            strategy: Strategy::LongestIdle,
            capacity: 1,
            service_level_secs: 20.0,
        }
    }
}

impl SimConfig {
    /// Offered load per unit of capacity (`lambda / (c * mu)`); 1 or more grows without bound.
    pub fn load(&self) -> f64 {
        self.arrivals_per_hour * self.mean_handle_secs
            / 3600.0
            / (f64::from(self.agents) * f64::from(self.capacity.max(1)))
    }
}

/// Why a simulation cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The router refused the set-up (a bug if it happens).
    #[error(transparent)]
    Router(#[from] RouterError),
}

/// What a simulation measured, over the conversations that arrived after the warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// Conversations that arrived.
    pub offered: u64,
    /// Conversations an agent took.
    pub answered: u64,
    /// Conversations whose customer gave up.
    pub abandoned: u64,
    /// Mean wait of answered conversations.
    pub mean_wait_seconds: f64,
    /// 90th percentile wait of answered conversations.
    pub p90_wait_seconds: f64,
    /// Longest wait of an answered conversation.
    pub max_wait_seconds: f64,
    /// Share of answered conversations that waited at all.
    pub probability_of_waiting: f64,
    /// Share of offered conversations abandoned.
    pub abandonment_rate: f64,
    /// Share of agent capacity in use.
    pub utilization: f64,
    /// Share of offered conversations answered within the threshold.
    pub service_level: f64,
    /// The threshold of `service_level`.
    pub service_level_seconds: f64,
    /// Most conversations waiting at once.
    pub max_queue_length: u64,
    /// Simulated hours of arrivals measured.
    pub measured_hours: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Done(u32),
    Abandon(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Answered,
    Abandoned,
}

/// Runs the simulation. `progress` is called with the share of simulated time done, at most
/// about a hundred times.
pub fn simulate(config: &SimConfig, progress: &mut dyn FnMut(f64)) -> Result<SimStats, SimError> {
    validate(config)?;
    let queue = QueueId::parse("q_sim").expect("valid id");
    let mut qc = QueueConfig::new(queue.clone());
    qc.strategy = config.strategy;
    qc.auto_accept = true;
    let agents = (0..config.agents)
        .map(|i| {
            let id = AgentId::parse(format!("a{i}")).expect("valid id");
            let mut a = AgentInfo::new(id, vec![queue.clone()], Timestamp::EPOCH);
            a.capacity = config.capacity;
            a
        })
        .collect();
    let mut router = Router::new(
        RouterConfig {
            queues: vec![qc],
            ..Default::default()
        },
        agents,
        Vec::new(),
    )?;
    router.route_all(Timestamp::EPOCH);

    let mut rng = Rng::new(config.seed);
    let end = (config.hours * 3_600_000.0) as i64;
    let warmup = (config.warmup_hours * 3_600_000.0) as i64;
    let mean_gap = 3_600_000.0 / config.arrivals_per_hour;
    let mut heap: BinaryHeap<Reverse<(i64, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, t: i64, e: Event| {
        seq += 1;
        heap.push(Reverse((t, seq, e)));
    };
    push(
        &mut heap,
        rng.exponential(mean_gap).round() as i64,
        Event::Arrival,
    );

    let mut arrived_at: Vec<i64> = Vec::new();
    let mut fate: Vec<Fate> = Vec::new();
    let mut waits: Vec<f64> = Vec::new();
    let (mut offered, mut abandoned, mut within_sl, mut waited) = (0u64, 0u64, 0u64, 0u64);
    let mut busy: u64 = 0;
    let mut busy_area = 0.0f64;
    let mut last_t = 0i64;
    let mut queue_len: u64 = 0;
    let mut max_queue: u64 = 0;
    let mut next_progress = 0.01;
    let sl_ms = config.service_level_secs * 1000.0;
    let measured = |n: u32, arrived_at: &Vec<i64>| arrived_at[n as usize] >= warmup;

    while let Some(Reverse((t, _, event))) = heap.pop() {
        let lo = last_t.clamp(warmup, end);
        let hi = t.clamp(warmup, end);
        busy_area += busy as f64 * (hi - lo) as f64;
        last_t = t;
        if end > 0 && t as f64 / end as f64 >= next_progress {
            progress((t as f64 / end as f64).min(1.0));
            next_progress = (t as f64 / end as f64 * 100.0).floor() / 100.0 + 0.01;
        }
        let now = Timestamp::from_millis(t);
        let decisions = match event {
            Event::Arrival => {
                let n = arrived_at.len() as u32;
                arrived_at.push(t);
                fate.push(Fate::Waiting);
                if t >= warmup {
                    offered += 1;
                }
                queue_len += 1;
                if let Some(p) = config.patience_secs {
                    let patience = rng.exponential(p * 1000.0).round() as i64;
                    push(&mut heap, t + patience, Event::Abandon(n));
                }
                let next = t + rng.exponential(mean_gap).round().max(1.0) as i64;
                if next < end {
                    push(&mut heap, next, Event::Arrival);
                }
                router.conversation_queued(
                    ConversationInfo::waiting(conv_id(n), queue.clone(), now),
                    now,
                )?
            }
            Event::Done(n) => {
                busy -= 1;
                router.conversation_closed(&conv_id(n), now)
            }
            Event::Abandon(n) => {
                if fate[n as usize] != Fate::Waiting {
                    continue;
                }
                fate[n as usize] = Fate::Abandoned;
                queue_len -= 1;
                if measured(n, &arrived_at) {
                    abandoned += 1;
                }
                router.conversation_closed(&conv_id(n), now)
            }
        };
        max_queue = max_queue.max(queue_len);
        let mut pending = decisions;
        if router.next_timer().is_some_and(|at| at <= now) {
            pending.extend(router.tick(now));
        }
        for d in pending {
            let conversation = match d {
                Decision::Assign { conversation, .. } => conversation,
                Decision::PositionsChanged { .. } => continue,
                other => {
                    return Err(SimError::Invalid(format!(
                        "unexpected decision in simulation: {other:?}"
                    )));
                }
            };
            let n = conv_number(&conversation);
            fate[n as usize] = Fate::Answered;
            queue_len -= 1;
            busy += 1;
            let handle = match config.handle_time {
                HandleTime::Exponential => rng.exponential(config.mean_handle_secs * 1000.0),
                HandleTime::Fixed => config.mean_handle_secs * 1000.0,
            };
            push(
                &mut heap,
                t + handle.round().max(1.0) as i64,
                Event::Done(n),
            );
            if measured(n, &arrived_at) {
                let wait = (t - arrived_at[n as usize]) as f64;
                if wait > 0.0 {
                    waited += 1;
                }
                if wait <= sl_ms {
                    within_sl += 1;
                }
                waits.push(wait / 1000.0);
            }
        }
    }
    progress(1.0);

    let answered = waits.len() as u64;
    let mean = if answered > 0 {
        waits.iter().sum::<f64>() / answered as f64
    } else {
        0.0
    };
    waits.sort_unstable_by(f64::total_cmp);
    let p90 = percentile(&waits, 0.9);
    let span = (end - warmup).max(1) as f64;
    let units = f64::from(config.agents) * f64::from(config.capacity);
    let ratio = |x: u64, of: u64| if of > 0 { x as f64 / of as f64 } else { 0.0 };
    Ok(SimStats {
        offered,
        answered,
        abandoned,
        mean_wait_seconds: mean,
        p90_wait_seconds: p90,
        max_wait_seconds: waits.last().copied().unwrap_or(0.0),
        probability_of_waiting: ratio(waited, answered),
        abandonment_rate: ratio(abandoned, offered),
        utilization: busy_area / (span * units),
        service_level: ratio(within_sl, offered),
        service_level_seconds: config.service_level_secs,
        max_queue_length: max_queue,
        measured_hours: span / 3_600_000.0,
    })
}

fn validate(c: &SimConfig) -> Result<(), SimError> {
    let bad = |m: &str| Err(SimError::Invalid(m.to_string()));
    if c.agents == 0 {
        return bad("agents must be at least 1");
    }
    if c.capacity == 0 {
        return bad("capacity must be at least 1");
    }
    if !(c.arrivals_per_hour.is_finite() && c.arrivals_per_hour > 0.0) {
        return bad("arrivals per hour must be a positive number");
    }
    if !(c.mean_handle_secs.is_finite() && c.mean_handle_secs > 0.0) {
        return bad("mean handle time must be a positive number");
    }
    if !(c.hours.is_finite() && c.hours > 0.0 && c.hours <= 1_000_000.0) {
        return bad("hours must be positive (and at most 1,000,000)");
    }
    if !(c.warmup_hours.is_finite() && c.warmup_hours >= 0.0 && c.warmup_hours < c.hours) {
        return bad("warm-up hours must be at least 0 and less than hours");
    }
    if c.patience_secs.is_some_and(|p| !(p.is_finite() && p > 0.0)) {
        return bad("patience must be a positive number");
    }
    if !(c.service_level_secs.is_finite() && c.service_level_secs >= 0.0) {
        return bad("service level seconds must be at least 0");
    }
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn conv_id(n: u32) -> ConversationId {
    ConversationId::parse(format!("c{n}")).expect("valid id")
}

fn conv_number(id: &ConversationId) -> u32 {
    id.as_str()[1..].parse().expect("simulation id")
}
