//! The set-up shared by every mode (tenant, servers, agents, conversations), and the `load`
//! and `ingest` modes.

use super::agents::{self, Agent, AgentFigures, Observed};
use super::api::{self, Api, WriterReading};
use super::driver::{self, OpFigures, OpResult};
use super::env::Env;
use super::report::{Report, SetupFigures};
use super::stats::{Latency, Samples};
use super::{HandoffVia, LoadArgs};
use anyhow::Context;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// The seeded tenant and the client for the servers.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The servers.
    pub api: Api,
    /// The tenant's API key.
    pub key: String,
    /// The admin's session.
    pub admin_token: String,
    /// Every bench agent's password.
    pub password: String,
}

/// Creates the tenant with `baton tenant create` (as an operator does), starts the servers and
/// logs the admin in.
pub async fn seed(env: &mut Env, args: &LoadArgs) -> anyhow::Result<Tenant> {
    let out = env
        .run_cli(&[
            "tenant",
            "create",
            "Bench",
            "--admin-email",
            "admin@bench.example",
            "--json",
        ])
        .await?;
    let created: Value = serde_json::from_str(out.trim())
        .with_context(|| format!("`baton tenant create --json` printed {out}"))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (key, email, password) = (
        text(&created["api_key"]),
        text(&created["admin"]["email"]),
        text(&created["admin"]["password"]),
    );
    anyhow::ensure!(
        !key.is_empty() && !password.is_empty(),
        "unexpected `baton tenant create --json` output: {out}"
    );
    eprintln!("bench: starting {} server(s)", args.instances);
    env.start_servers(args.instances).await?;
    let api = Api::new(
        env.servers.iter().map(|s| s.base.clone()).collect(),
        args.request_timeout(),
        args.max_in_flight.max(args.concurrency),
    )?;
    let (_, admin_token) = api.login(0, &email, &password).await?;
    Ok(Tenant {
        api,
        key,
        admin_token,
        password: format!("bench-{}", baton_store::ids::new_suffix()),
    })
}

/// Creates `count` agents (role `agent`, English; `capacity` or the server's default) and logs
/// them in, agent `j` on server `j` modulo the number of servers.
pub async fn create_agents(
    tenant: &Tenant,
    count: usize,
    capacity: Option<u32>,
    limit: Duration,
) -> anyhow::Result<Vec<Agent>> {
    let t = tenant.clone();
    driver::each(count, 4, limit, move |j| {
        let t = t.clone();
        async move {
            let email = format!("agent-{j}@bench.example");
            let mut body = json!({
                "email": email, "name": format!("Agent {j}"), "password": t.password,
                "role": "agent", "languages": ["en"],
            });
            if let Some(c) = capacity {
                body["capacity"] = json!(c);
            }
            let instance = j % t.api.instances();
            let created = t
                .api
                .setup(
                    instance,
                    Method::POST,
                    "/v1/agents",
                    &t.admin_token,
                    Some(body),
                    201,
                )
                .await?;
            let (id, token) = t.api.login(instance, &email, &t.password).await?;
            Ok(Agent {
                id,
                token,
                instance,
                capacity: created["capacity"]
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok()),
            })
        }
    })
    .await
}

/// Starts conversations for customers `first..first + count` (state `bot`); their ids.
pub async fn create_conversations(
    tenant: &Tenant,
    first: usize,
    count: usize,
    concurrency: usize,
    limit: Duration,
) -> anyhow::Result<Vec<String>> {
    let t = tenant.clone();
    driver::each(count, concurrency, limit, move |n| {
        let t = t.clone();
        async move {
            let n = first + n;
            t.api.start_conversation(n, &t.key, n).await
        }
    })
    .await
}

/// `POST /v1/conversations` for customer `n` on server `n` (modulo): the conversation id, or
/// the kind of failure.
pub async fn start_op(api: &Api, key: &str, n: usize) -> Result<String, String> {
    match api
        .call(
            n,
            Method::POST,
            "/v1/conversations",
            key,
            Some(api::start_body(n)),
        )
        .await
    {
        Ok(a) if a.status.as_u16() == 201 => a.body["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "start without id".to_string()),
        Ok(a) => Err(format!("start {}", a.status.as_u16())),
        Err(e) => Err(format!("start {}", e.kind())),
    }
}

/// One ordinary customer message, which must leave the conversation with the bot.
pub async fn message_op(
    api: Api,
    i: usize,
    key: String,
    conversation: String,
    text: &'static str,
) -> OpResult {
    let path = format!("/v1/conversations/{conversation}/messages");
    // Unique in the run: the server deduplicates on it.
    let body = api::customer_message(text, &format!("bench-m-{i}-{conversation}"));
    match api.call(i, Method::POST, &path, &key, Some(body)).await {
        Ok(a) if a.status.as_u16() == 201 && a.body["state"] == "bot" => Ok(()),
        // Stored, but the detector took an ordinary question for a reason to hand off.
        Ok(a) if a.status.as_u16() == 201 => Err("unexpected_handoff".into()),
        Ok(a) => Err(a.status.as_u16().to_string()),
        Err(e) => Err(e.kind().into()),
    }
}

/// One customer message to a conversation that waits for an agent (any state is fine).
pub async fn waiting_message_op(api: Api, i: usize, key: String, conversation: String) -> OpResult {
    let path = format!("/v1/conversations/{conversation}/messages");
    let body = api::customer_message("Any news on my refund?", &format!("bench-w-{i}"));
    match api.call(i, Method::POST, &path, &key, Some(body)).await {
        Ok(a) if a.status.as_u16() == 201 => Ok(()),
        Ok(a) => Err(a.status.as_u16().to_string()),
        Err(e) => Err(e.kind().into()),
    }
}

/// One handoff of `conversation` (in state `bot`), as `via` says; the state it answered with
/// (`queued`, `deferred`...), or why it failed (`not_escalated` when the answer shows no
/// handoff).
pub async fn handoff_op(
    api: Api,
    i: usize,
    key: String,
    conversation: String,
    via: HandoffVia,
) -> Result<String, String> {
    let (path, body, expect) = match via {
        HandoffVia::Message => (
            format!("/v1/conversations/{conversation}/messages"),
            api::customer_message(api::HUMAN_REQUEST, &format!("bench-h-{conversation}")),
            201,
        ),
        HandoffVia::Api => (
            format!("/v1/conversations/{conversation}/handoff"),
            api::handoff_request(),
            200,
        ),
    };
    match api.call(i, Method::POST, &path, &key, Some(body)).await {
        Ok(a) if a.status.as_u16() == expect => match a.body["state"].as_str() {
            Some(state) if state != "bot" => Ok(state.to_string()),
            _ => Err("not_escalated".into()),
        },
        Ok(a) => Err(a.status.as_u16().to_string()),
        Err(e) => Err(e.kind().into()),
    }
}

/// `--mode load` figures.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    /// Customer messages to the pool conversations (open loop).
    pub messages: OpFigures,
    /// Handoffs (open loop); `ok` are the answers that showed the handoff.
    pub handoffs: OpFigures,
    /// `message` or `api`.
    pub handoff_via: &'static str,
    /// From a handoff's scheduled time to the first offer of its conversation on an agent's
    /// WebSocket.
    pub trigger_to_offer: TriggerToOffer,
    /// What the agents did.
    pub agents: AgentFigures,
    /// Failures of messages, handoffs, accepts and closes, except accepts and closes
    /// answered 409 (an offer that expired or was taken is not a server error).
    pub errors: u64,
    /// Conversations by state at the end (the server's `/metrics`).
    pub states_at_end: Option<std::collections::BTreeMap<String, i64>>,
}

/// How a handoff request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handoff {
    /// The answer showed the handoff.
    Escalated,
    /// No answer (timeout, transport): it may or may not have been committed.
    Unanswered,
    /// Refused, not escalated, or never sent.
    Failed,
}

/// Trigger → offer.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerToOffer {
    /// Handoffs whose answer showed the handoff.
    pub handed_off: u64,
    /// Handoffs that got no answer (timeout, transport); the drain waits for them too.
    pub unanswered: u64,
    /// Of those, offered all the same by the end of the drain.
    pub unanswered_offered: u64,
    /// Handoff conversations offered to an agent by the end of the drain (any of them).
    pub offered: u64,
    /// Handed off but never offered by the end of the drain.
    pub never_offered: u64,
    /// Seconds waited after the load for the last offers (at most `--drain`).
    pub drain_seconds: f64,
    /// Scheduled handoff → offer seen on the WebSocket.
    pub latency: Latency,
    /// Why the handoffs waited for (handed off or unanswered) were not seen offered, asked of
    /// the server after the drain: `offer out, not seen on a WebSocket`, `queued, no offer`,
    /// `not queued` (or `unknown` when the server did not answer).
    pub not_offered_why: std::collections::BTreeMap<String, u64>,
}

/// `--mode ingest` figures.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    /// Customer messages, closed loop.
    pub messages: OpFigures,
    /// Requests in flight.
    pub concurrency: usize,
    /// Messages per second over the raw baseline's commits per second.
    pub ratio_to_baseline: Option<f64>,
    /// SQLite: what the server's one writer did during the loop.
    pub writer: Option<WriterFigures>,
}

/// SQLite's group commit during a run, from the server's `/metrics` before and after.
#[derive(Debug, Clone, Serialize)]
pub struct WriterFigures {
    /// Write transactions committed.
    pub transactions: u64,
    /// Commits (fsyncs).
    pub commits: u64,
    /// Transactions per commit.
    pub per_commit: f64,
    /// Share of the run the writer was held by transactions.
    pub held_share: f64,
    /// Share of the run spent committing.
    pub commit_share: f64,
    /// Mean time a transaction held the writer, in microseconds.
    pub held_us_per_transaction: f64,
    /// Mean time of a commit, in microseconds.
    pub commit_us: f64,
}

impl WriterFigures {
    fn between(before: WriterReading, after: WriterReading, seconds: f64) -> Option<Self> {
        let transactions = after.transactions - before.transactions;
        let commits = after.commits - before.commits;
        if commits <= 0.0 || transactions <= 0.0 || seconds <= 0.0 {
            return None;
        }
        let held = after.held_seconds - before.held_seconds;
        let commit = after.commit_seconds - before.commit_seconds;
        Some(WriterFigures {
            transactions: transactions as u64,
            commits: commits as u64,
            per_commit: transactions / commits,
            held_share: held / seconds,
            commit_share: commit / seconds,
            held_us_per_transaction: held / transactions * 1e6,
            commit_us: commit / commits * 1e6,
        })
    }
}

/// `--mode load`.
pub async fn run_load(
    env: &mut Env,
    args: &LoadArgs,
    tenant: &Tenant,
    report: &mut Report,
) -> anyhow::Result<()> {
    let handoff_count = ((args.handoffs * args.duration as f64).round() as u64).max(1);
    let message_count = ((args.rate * args.duration as f64).round() as u64).max(1);
    let started = Instant::now();
    eprintln!(
        "bench: creating {} agents, {} conversations and {handoff_count} to hand off",
        args.agents, args.conversations
    );
    let agents = create_agents(tenant, args.agents, None, args.setup_timeout()).await?;
    let pool = create_conversations(
        tenant,
        0,
        args.conversations,
        args.concurrency,
        args.setup_timeout(),
    )
    .await?;
    let handoff_conversations = create_conversations(
        tenant,
        args.conversations,
        handoff_count as usize,
        args.concurrency,
        args.setup_timeout(),
    )
    .await?;
    let observed = Arc::new(Observed::new(handoff_conversations.iter().cloned()));
    let (stop, stopped) = watch::channel(false);
    let mut workers = tokio::task::JoinSet::new();
    for agent in agents {
        let socket = agents::connect(
            tenant.api.addr(agent.instance),
            &agent.token,
            args.request_timeout(),
        )
        .await?;
        // Available only once listening, so no offer is missed.
        tenant
            .api
            .set_status(agent.instance, &agent.token, "available")
            .await?;
        workers.spawn(agents::work(
            tenant.api.clone(),
            agent,
            socket,
            observed.clone(),
            Duration::from_millis(args.handle_ms),
            stopped.clone(),
        ));
    }
    report.setup = Some(SetupFigures {
        agents: args.agents,
        conversations: args.conversations + handoff_count as usize,
        seconds: started.elapsed().as_secs_f64(),
    });
    env.ensure_alive()?;

    eprintln!(
        "bench: load for {} s: {} messages/s over {} conversations, {} handoffs/s (via {})",
        args.duration,
        args.rate,
        args.conversations,
        args.handoffs,
        via_name(args.handoff_via)
    );
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight));
    let start = Instant::now() + Duration::from_millis(100);
    let pool = Arc::new(pool);
    let messages = {
        let (api, key, pool) = (tenant.api.clone(), tenant.key.clone(), pool.clone());
        driver::open_loop(
            start,
            args.rate,
            message_count,
            in_flight.clone(),
            move |i| {
                let i = i as usize;
                let (c, k) = (i % pool.len(), i / pool.len());
                message_op(
                    api.clone(),
                    i,
                    key.clone(),
                    pool[c].clone(),
                    api::question(c, k),
                )
            },
        )
    };
    let outcomes = Arc::new(Mutex::new(vec![Handoff::Failed; handoff_count as usize]));
    let handoffs = {
        let (api, key, via) = (tenant.api.clone(), tenant.key.clone(), args.handoff_via);
        let (conversations, outcomes) = (Arc::new(handoff_conversations.clone()), outcomes.clone());
        driver::open_loop(start, args.handoffs, handoff_count, in_flight, move |i| {
            let i = i as usize;
            let fut = handoff_op(api.clone(), i, key.clone(), conversations[i].clone(), via);
            let outcomes = outcomes.clone();
            async move {
                let result = fut.await;
                outcomes.lock().unwrap_or_else(|e| e.into_inner())[i] = match &result {
                    Ok(_) => Handoff::Escalated,
                    Err(kind) if kind == "timeout" || kind == "transport" => Handoff::Unanswered,
                    Err(_) => Handoff::Failed,
                };
                result.map(drop)
            }
        })
    };
    let (messages, handoffs) = tokio::join!(messages, handoffs);

    // Drain: wait (bounded) until every handed-off conversation was offered, and those whose
    // handoff got no answer (it may have committed all the same).
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    let awaited: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i] != Handoff::Failed)
        .collect();
    let drain_start = Instant::now();
    let deadline = drain_start + Duration::from_secs(args.drain);
    let mut offers = observed.offered_handoffs();
    let not_offered = |observed: &Observed, of: Handoff| {
        awaited
            .iter()
            .filter(|&&i| outcomes[i] == of)
            .filter(|&&i| observed.first_offer(&handoff_conversations[i]).is_none())
            .count()
    };
    let pending = |observed: &Observed| {
        not_offered(observed, Handoff::Escalated) + not_offered(observed, Handoff::Unanswered)
    };
    while pending(&observed) > 0 {
        if tokio::time::timeout_at(deadline, offers.changed())
            .await
            .is_err()
        {
            break;
        }
    }
    let drain_seconds = drain_start.elapsed().as_secs_f64();
    // Let the agents close what they hold (bounded: one handling time and one request).
    let closing = Instant::now() + Duration::from_millis(args.handle_ms) + args.request_timeout();
    while observed.in_hand() > 0 && Instant::now() < closing {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    while tokio::time::timeout(Duration::from_secs(10), workers.join_next())
        .await
        .ok()
        .flatten()
        .is_some()
    {}

    // What became of the handoffs nobody was seen to be offered.
    let unseen: Vec<&String> = awaited
        .iter()
        .map(|&i| &handoff_conversations[i])
        .filter(|c| observed.first_offer(c).is_none())
        .collect();
    let mut not_offered_why = std::collections::BTreeMap::new();
    if !unseen.is_empty() {
        let queued = tenant
            .api
            .conversations_in(&tenant.admin_token, "queued", 40)
            .await;
        for c in unseen {
            let why = match queued.as_ref().map(|q| q.get(c)) {
                None => "unknown",
                Some(Some(Some(_))) => "offer out, not seen on a WebSocket",
                Some(Some(None)) => "queued, no offer",
                Some(None) => "not queued",
            };
            *not_offered_why.entry(why.to_string()).or_insert(0u64) += 1;
        }
    }

    let mut latency = Samples::default();
    let mut offered = 0;
    for (i, conversation) in handoff_conversations.iter().enumerate() {
        if let Some(at) = observed.first_offer(conversation) {
            offered += 1;
            let scheduled = start + Duration::from_secs_f64(i as f64 / args.handoffs);
            latency.push(at.saturating_duration_since(scheduled));
        }
    }
    let count = |of: Handoff| outcomes.iter().filter(|&&o| o == of).count() as u64;
    let agents = observed.figures();
    let errors = messages.errors + handoffs.errors + agents.errors;
    report.load = Some(LoadFigures {
        trigger_to_offer: TriggerToOffer {
            handed_off: count(Handoff::Escalated),
            unanswered: count(Handoff::Unanswered),
            unanswered_offered: count(Handoff::Unanswered)
                - not_offered(&observed, Handoff::Unanswered) as u64,
            offered,
            never_offered: not_offered(&observed, Handoff::Escalated) as u64,
            drain_seconds: (drain_seconds * 1000.0).round() / 1000.0,
            latency: latency.summary(),
            not_offered_why,
        },
        messages,
        handoffs,
        handoff_via: via_name(args.handoff_via),
        agents,
        errors,
        states_at_end: tenant.api.states(0).await,
    });
    Ok(())
}

/// `--mode ingest`.
pub async fn run_ingest(
    env: &mut Env,
    args: &LoadArgs,
    tenant: &Tenant,
    report: &mut Report,
) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("bench: creating {} conversations", args.conversations);
    let pool = create_conversations(
        tenant,
        0,
        args.conversations,
        args.concurrency,
        args.setup_timeout(),
    )
    .await?;
    report.setup = Some(SetupFigures {
        agents: 0,
        conversations: args.conversations,
        seconds: started.elapsed().as_secs_f64(),
    });
    env.ensure_alive()?;
    eprintln!(
        "bench: ingest for {} s, {} requests in flight",
        args.duration, args.concurrency
    );
    let pool = Arc::new(pool);
    let (api, key) = (tenant.api.clone(), tenant.key.clone());
    let writer_before = tenant.api.writer(0).await;
    let looped = Instant::now();
    let messages = driver::closed_loop(
        args.concurrency,
        Duration::from_secs(args.duration),
        move |i| {
            let i = i as usize;
            let (c, k) = (i % pool.len(), i / pool.len());
            message_op(
                api.clone(),
                i,
                key.clone(),
                pool[c].clone(),
                api::question(c, k),
            )
        },
    )
    .await;
    let seconds = looped.elapsed().as_secs_f64();
    let writer = match (writer_before, tenant.api.writer(0).await) {
        (Some(before), Some(after)) => WriterFigures::between(before, after, seconds),
        _ => None,
    };
    let ratio = report
        .baseline
        .as_ref()
        .filter(|b| b.rows_per_sec > 0.0)
        .map(|b| (messages.ok_per_sec / b.rows_per_sec * 1000.0).round() / 1000.0);
    report.ingest = Some(IngestFigures {
        messages,
        concurrency: args.concurrency,
        ratio_to_baseline: ratio,
        writer,
    });
    Ok(())
}

/// The name of a handoff trigger.
pub fn via_name(via: HandoffVia) -> &'static str {
    match via {
        HandoffVia::Message => "message",
        HandoffVia::Api => "api",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_figures_are_the_difference_of_two_readings() {
        let before = WriterReading {
            transactions: 100.0,
            commits: 20.0,
            held_seconds: 0.5,
            commit_seconds: 0.1,
        };
        let after = WriterReading {
            transactions: 900.0,
            commits: 120.0,
            held_seconds: 1.3,
            commit_seconds: 0.25,
        };
        let w = WriterFigures::between(before, after, 1.0).unwrap();
        assert_eq!((w.transactions, w.commits), (800, 100));
        assert!((w.per_commit - 8.0).abs() < 1e-9);
        assert!((w.held_share - 0.8).abs() < 1e-9);
        assert!((w.held_us_per_transaction - 1000.0).abs() < 1e-6);
        assert!((w.commit_us - 1500.0).abs() < 1e-6);
        // Nothing committed in between: no figures.
        assert!(WriterFigures::between(after, after, 1.0).is_none());
    }
}
