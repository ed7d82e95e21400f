//! One routing decision against a large tenant: 100,000 conversations waiting and 100 to 10,000
//! agents. Each iteration is a full cycle of router events so the state stays the same size:
//!
//! - `agent_frees_capacity`: an agent closes a conversation and is offered the head of the
//!   100,000-long line (the decision), accepts it, and a new conversation joins the tail.
//! - `conversation_queued/*`: a conversation arrives while agents are free and is offered to
//!   one of N agents by the queue's strategy (the decision); it then closes, freeing the agent.
//!   The 100,000 waiting conversations sit in a second queue whose agents are all busy.
//!
//! Run with `cargo bench -p baton-core --bench routing`.

use baton_core::routing::{
    AgentInfo, ConversationInfo, Decision, QueueConfig, Router, RouterConfig, RoutingState,
    SkillRequirement, Strategy,
};
use baton_core::{AgentId, ConversationId, QueueId, Timestamp};
use std::collections::BTreeMap;

const WAITING: usize = 100_000;
const AGENTS: &[usize] = &[100, 1_000, 10_000];

fn main() {
    divan::main();
}

fn qid(s: &str) -> QueueId {
    QueueId::parse(s).unwrap()
}

fn conv(n: usize) -> ConversationId {
    ConversationId::parse(format!("c{n}")).unwrap()
}

fn agent_id(n: usize) -> AgentId {
    AgentId::parse(format!("a{n}")).unwrap()
}

fn ms(t: i64) -> Timestamp {
    Timestamp::from_millis(t)
}

fn agent(n: usize, queue: &str, strategy_skills: bool) -> AgentInfo {
    let mut a = AgentInfo::new(agent_id(n), vec![qid(queue)], ms(n as i64));
    if strategy_skills {
        a.skills = BTreeMap::from([("tech".to_string(), (n % 10) as u8 + 1)]);
        a.languages = vec![["en", "fr", "de"][n % 3].to_string()];
        a.stats.recent_handle_secs = Some(120.0 + (n % 17) as f64 * 20.0);
        a.stats.csat = Some(1.0 + (n % 5) as f64);
    }
    a
}

/// `agents` busy agents in `backlog` (each owning one conversation) and `WAITING` conversations
/// waiting there; plus `free_agents` available agents in `front`, with the given strategy.
fn tenant(agents: usize, free_agents: usize, strategy: Strategy) -> Router {
    let mut backlog = QueueConfig::new(qid("backlog"));
    backlog.strategy = Strategy::LongestIdle;
    let mut front = QueueConfig::new(qid("front"));
    front.strategy = strategy;
    front.auto_accept = false;
    if strategy == Strategy::BestMatch {
        front.eligibility.required_skills = vec![SkillRequirement {
            skill: "tech".into(),
            min_level: 1,
        }];
    }
    let mut infos: Vec<AgentInfo> = (0..agents).map(|n| agent(n, "backlog", false)).collect();
    infos.extend((0..free_agents).map(|n| agent(agents + n, "front", true)));
    let mut convs = Vec::with_capacity(WAITING + agents);
    for n in 0..agents {
        let mut c = ConversationInfo::waiting(conv(n), qid("backlog"), ms(0));
        c.state = RoutingState::Assigned {
            agent: agent_id(n),
            since: ms(0),
        };
        convs.push(c);
    }
    for n in agents..agents + WAITING {
        let mut c = ConversationInfo::waiting(conv(n), qid("backlog"), ms(n as i64));
        c.priority = baton_core::Priority::new((n % 7) as i64 * 10).unwrap();
        convs.push(c);
    }
    let config = RouterConfig {
        queues: vec![backlog, front],
        ..Default::default()
    };
    let mut router = Router::new(config, infos, convs).unwrap();
    router.route_all(ms(1_000_000));
    assert_eq!(router.waiting_count(), WAITING);
    router
}

#[divan::bench(args = AGENTS, sample_count = 200, sample_size = 50)]
fn agent_frees_capacity(bencher: divan::Bencher, agents: usize) {
    let mut router = tenant(agents, 0, Strategy::LongestIdle);
    // owner[i] = the conversation agent i owns.
    let mut owner: Vec<usize> = (0..agents).collect();
    let mut next = agents + WAITING;
    let mut now = 2_000_000i64;
    let mut i = 0usize;
    bencher.bench_local(|| {
        now += 1;
        let t = ms(now);
        let a = i % agents;
        i += 1;
        let decisions = router.conversation_closed(&conv(owner[a]), t);
        let offered = decisions
            .iter()
            .find_map(|d| match d {
                Decision::Offer { conversation, .. } => Some(conversation.clone()),
                _ => None,
            })
            .expect("offer");
        router
            .conversation_assigned(&offered, &agent_id(a), t)
            .unwrap();
        owner[a] = offered.as_str()[1..].parse().unwrap();
        let c = ConversationInfo::waiting(conv(next), qid("backlog"), t);
        next += 1;
        router.conversation_queued(c, t).unwrap();
        divan::black_box(decisions);
    });
}

fn conversation_queued(bencher: divan::Bencher, agents: usize, strategy: Strategy) {
    // The 100,000-long backlog has 100 busy agents; `agents` free agents serve `front`.
    let mut router = tenant(100, agents, strategy);
    let mut next = 10_000_000usize;
    let mut now = 2_000_000i64;
    bencher.bench_local(|| {
        now += 1;
        let t = ms(now);
        let mut c = ConversationInfo::waiting(conv(next), qid("front"), t);
        c.language = Some("fr".into());
        next += 1;
        let id = c.id.clone();
        let decisions = router.conversation_queued(c, t).unwrap();
        debug_assert!(matches!(decisions[0], Decision::Offer { .. }));
        router.conversation_closed(&id, t);
        divan::black_box(decisions);
    });
}

#[divan::bench(args = AGENTS, sample_count = 200, sample_size = 50)]
fn conversation_queued_longest_idle(bencher: divan::Bencher, agents: usize) {
    conversation_queued(bencher, agents, Strategy::LongestIdle);
}

#[divan::bench(args = AGENTS, sample_count = 200, sample_size = 50)]
fn conversation_queued_round_robin(bencher: divan::Bencher, agents: usize) {
    conversation_queued(bencher, agents, Strategy::RoundRobin);
}

#[divan::bench(args = AGENTS, sample_count = 200, sample_size = 50)]
fn conversation_queued_least_busy(bencher: divan::Bencher, agents: usize) {
    conversation_queued(bencher, agents, Strategy::LeastBusy);
}

#[divan::bench(args = AGENTS, sample_count = 200, sample_size = 50)]
fn conversation_queued_best_match(bencher: divan::Bencher, agents: usize) {
    conversation_queued(bencher, agents, Strategy::BestMatch);
}
