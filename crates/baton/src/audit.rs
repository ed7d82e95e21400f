//! `baton audit verify` and `baton analytics rebuild|bench`: the log's integrity, the analytics
//! rollup, and the benchmark of the main report.

use anyhow::Context;
use baton_core::analytics::report::{self, Filter};
use baton_core::conversation::{self, Actor, AssignVia, EventKind, HandoffSource, MessageRecord};
use baton_core::hours::Calendar;
use baton_core::{
    AgentId, Conversation, ConversationId, CsatScore, MessageId, MessageRole, Priority, QueueId,
    TenantId, Timestamp,
};
use baton_engine::service;
use baton_store::ids::new_suffix;
use baton_store::{Customer, NewEvent, Store};
use std::time::Instant;

/// Checks every hash chain; an error names the first broken link.
pub async fn verify(store: &dyn Store) -> anyhow::Result<()> {
    let report = store.verify_log().await.context("reading the event log")?;
    match report.broken {
        None => {
            println!(
                "ok: {} events in {} chains, every hash follows from its predecessor",
                report.events, report.chains
            );
            Ok(())
        }
        Some(b) => anyhow::bail!(
            "the event log was altered: first broken link at event seq {} (tenant {}, {}, kind \
             {}): {}. {} events before it check out.",
            b.seq,
            b.tenant,
            b.conversation.map_or_else(
                || "tenant-wide chain".to_string(),
                |c| format!("conversation {c}")
            ),
            b.kind,
            b.problem,
            report.events.saturating_sub(1)
        ),
    }
}

/// Rebuilds the analytics facts from the log.
pub async fn rebuild(store: &dyn Store, tenant: Option<&str>) -> anyhow::Result<()> {
    let tenant = tenant
        .map(|t| TenantId::parse(t).map_err(|_| anyhow::anyhow!("'{t}' is not a tenant id")))
        .transpose()?;
    let n = store.rebuild_facts(tenant.as_ref()).await?;
    println!("rebuilt the analytics facts of {n} conversations from their events");
    Ok(())
}

/// A tiny deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn message(role: MessageRole, agent: Option<&AgentId>, text: &str) -> EventKind {
    EventKind::MessageAdded {
        message: MessageRecord {
            id: MessageId::with_suffix(&new_suffix()),
            role,
            text: text.into(),
            agent: agent.cloned(),
            external_id: None,
            bot: None,
            attachment: None,
        },
    }
}

/// One synthetic conversation's history: bot-only or handed off, with offers, waits, agent
/// replies, transfers, abandonment and CSAT in realistic proportions.
fn history(
    rng: &mut Rng,
    agents: &[AgentId],
    queues: &[QueueId],
    t0: i64,
) -> Vec<(i64, Actor, EventKind)> {
    let mut h = vec![(
        t0,
        Actor::Customer,
        EventKind::Started {
            channel: ["web", "whatsapp", "api"][rng.below(3) as usize].into(),
            attributes: Default::default(),
        },
    )];
    let mut t = t0;
    let mut step = |rng: &mut Rng, max_s: u64| {
        t += 1_000 + rng.below(max_s * 1000) as i64;
        t
    };
    h.push((
        step(rng, 5),
        Actor::Customer,
        message(MessageRole::Customer, None, "Hello, I need help"),
    ));
    h.push((
        step(rng, 3),
        Actor::Bot,
        message(MessageRole::Bot, None, "Happy to help."),
    ));
    if rng.below(100) < 35 {
        h.push((
            step(rng, 60),
            Actor::Customer,
            message(MessageRole::Customer, None, "Thanks"),
        ));
        h.push((
            step(rng, 60),
            Actor::Customer,
            EventKind::Closed { resolution: None },
        ));
        if rng.below(4) == 0 {
            let score = CsatScore::new(3 + rng.below(3) as i64).expect("1..=5");
            h.push((
                step(rng, 30),
                Actor::Customer,
                EventKind::CsatRecorded {
                    score,
                    comment: None,
                },
            ));
        }
        return h;
    }
    let reasons = [
        "customer_request",
        "sensitive_topic:refund",
        "frustration",
        "low_confidence",
    ];
    let reason = reasons[rng.below(4) as usize];
    let queue = queues[rng.below(queues.len() as u64) as usize].clone();
    h.push((
        step(rng, 10),
        Actor::System,
        EventKind::HandoffRequested {
            reason: reason.into(),
            source: if reason == "customer_request" {
                HandoffSource::Customer
            } else {
                HandoffSource::Rule
            },
            queue: Some(queue),
            priority: Priority::default(),
            note: None,
        },
    ));
    if rng.below(100) < 8 {
        h.push((
            step(rng, 600),
            Actor::Customer,
            EventKind::Closed { resolution: None },
        ));
        return h;
    }
    let agent = agents[rng.below(agents.len() as u64) as usize].clone();
    let me = Actor::Agent { id: agent.clone() };
    let offered = step(rng, 120);
    h.push((
        offered,
        Actor::System,
        EventKind::Offered {
            agent: agent.clone(),
            expires_at: Timestamp::from_millis(offered + 30_000),
            explanation: None,
        },
    ));
    h.push((
        step(rng, 20),
        me.clone(),
        EventKind::Assigned {
            agent: agent.clone(),
            via: AssignVia::Offer,
        },
    ));
    h.push((
        step(rng, 90),
        me.clone(),
        message(MessageRole::Agent, Some(&agent), "Hi, I'm on it"),
    ));
    h.push((
        step(rng, 300),
        me.clone(),
        EventKind::Closed {
            resolution: Some("solved".into()),
        },
    ));
    if rng.below(3) == 0 {
        let score = CsatScore::new(1 + rng.below(5) as i64).expect("1..=5");
        h.push((
            step(rng, 30),
            Actor::Customer,
            EventKind::CsatRecorded {
                score,
                comment: None,
            },
        ));
    }
    h
}

/// Writes about `events` events of synthetic history through the store's write path (events,
/// projections, hash chain, facts, outbox), then times the main report.
pub async fn bench(
    store: &dyn Store,
    events: u64,
    runs: usize,
    existing: Option<&str>,
) -> anyhow::Result<()> {
    let start_ms: i64 = 1_767_225_600_000; // 2026-01-01
    let span_ms: i64 = 90 * 86_400_000;
    if let Some(tenant) = existing {
        let tenant = TenantId::parse(tenant)
            .map_err(|_| anyhow::anyhow!("'{tenant}' is not a tenant id"))?;
        return time_report(store, &tenant, start_ms, span_ms, runs, 0).await;
    }
    let created = service::create_tenant(
        store,
        "Bench",
        &format!("bench-{}@bench.example", new_suffix()),
        "x",
        Timestamp::from_millis(0),
    )
    .await?;
    let tenant = created.tenant.id;
    let agents: Vec<AgentId> = (0..20)
        .map(|i| AgentId::with_suffix(&format!("bench{i}")))
        .collect();
    let queues: Vec<QueueId> = ["support", "billing", "vip"]
        .iter()
        .map(|q| QueueId::with_suffix(q))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut written, mut conversations) = (0u64, 0u64);
    let started = Instant::now();
    while written < events {
        let mut tx = store.begin().await?;
        for _ in 0..500 {
            if written >= events {
                break;
            }
            let t0 = start_ms + (rng.next() % span_ms as u64) as i64;
            let customer = Customer {
                id: baton_core::CustomerId::with_suffix(&new_suffix()),
                tenant: tenant.clone(),
                external_id: None,
                name: None,
                email: None,
                phone: None,
                language: None,
                tier: Some(["free", "pro", "enterprise"][rng.below(3) as usize].into()),
                attributes: Default::default(),
                created_at: Timestamp::from_millis(t0),
            };
            tx.upsert_customer(&customer).await?;
            let id = ConversationId::with_suffix(&new_suffix());
            let mut conv = Conversation::new(
                id.clone(),
                tenant.clone(),
                customer.id.clone(),
                "web".into(),
                Timestamp::from_millis(t0),
            );
            let h = history(&mut rng, &agents, &queues, t0);
            let (first_at, first_actor, first) = &h[0];
            conversation::apply(&mut conv, first, Timestamp::from_millis(*first_at));
            tx.insert_conversation(&conv).await?;
            tx.append_event(&NewEvent::conversation(
                &tenant,
                &id,
                first,
                first_actor,
                Timestamp::from_millis(*first_at),
            ))
            .await?;
            for (at, actor, event) in &h[1..] {
                let at = Timestamp::from_millis(*at);
                conversation::apply(&mut conv, event, at);
                tx.append_event(&NewEvent::conversation(&tenant, &id, event, actor, at))
                    .await?;
            }
            tx.save_conversation(&conv).await?;
            written += h.len() as u64;
            conversations += 1;
        }
        tx.commit().await?;
        eprint!("\r  wrote {written} events in {conversations} conversations");
    }
    eprintln!();
    let write = started.elapsed();
    println!(
        "wrote {written} events ({conversations} conversations) through the store in {:.1} s ({:.0} events/s)",
        write.as_secs_f64(),
        written as f64 / write.as_secs_f64()
    );
    println!("(tenant {tenant}: time the report again with --tenant {tenant})");
    time_report(store, &tenant, start_ms, span_ms, runs, written).await
}

async fn time_report(
    store: &dyn Store,
    tenant: &TenantId,
    start_ms: i64,
    span_ms: i64,
    runs: usize,
    written: u64,
) -> anyhow::Result<()> {
    let calendar = Calendar::always_open();
    let (from, to) = (
        Timestamp::from_millis(start_ms),
        Timestamp::from_millis(start_ms + span_ms + 86_400_000),
    );
    let mut times = Vec::with_capacity(runs);
    let mut loads = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let rows = store.facts_rows(tenant, from, to).await?;
        loads.push(t.elapsed().as_secs_f64());
        let summary = report::summary(&rows, &Filter::default(), &calendar);
        let agents = report::agents(&rows, &Filter::default());
        let series = report::timeseries(&rows, &Filter::default(), &calendar, from, to);
        times.push(t.elapsed().as_secs_f64());
        last = Some((rows.len(), summary, agents.len(), series.len()));
    }
    times.sort_by(f64::total_cmp);
    loads.sort_by(f64::total_cmp);
    let (rows, summary, agents, days) = last.expect("at least one run");
    println!(
        "main report (summary + per agent + daily series) over {rows} conversations / {written} events, {runs} runs: median {:.3} s, min {:.3} s, max {:.3} s",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    println!(
        "  of which reading the facts rows: median {:.3} s",
        loads[loads.len() / 2]
    );
    println!(
        "  handoff rate {:.3}, containment {:.3}, median first response {:?} s, abandonment {:.3}, {agents} agents, {days} days",
        summary.handoff_rate.unwrap_or(0.0),
        summary.containment_rate.unwrap_or(0.0),
        summary.median_first_response_seconds,
        summary.abandonment_rate.unwrap_or(0.0)
    );
    Ok(())
}
