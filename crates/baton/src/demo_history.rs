//! A month of past traffic for the demo tenant, written through the same commands the server
//! runs (the pure core decides each transition; the store folds the analytics facts), with the
//! clock set in the past: arrivals that follow the hour of day and the weekday, bot-only
//! conversations, handoffs for several reasons, queue waits, some customers who give up,
//! deferrals outside office hours followed up in the morning, handle times, CSAT.
//!
//! Deterministic (a fixed seed), so every demo shows the same month relative to its first start.

use baton_core::conversation::{Actor, BotTurn, Command, HandoffSource};
use baton_core::{AgentId, ConversationId, CsatScore, MessageRole, QueueId, TenantId, Timestamp};
use baton_engine::service::{self, CustomerInput, NewMessage};
use baton_store::Store;
use std::sync::Arc;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// How many days of history.
pub const DAYS: i64 = 30;

/// A small deterministic generator (xorshift64*): the demo needs variety, not secrecy.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.unit() * (hi - lo) as f64) as i64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Relative arrival rate by hour of day (UTC, the demo's time zone): quiet nights, a morning
/// peak and an afternoon peak.
const HOURLY: [f64; 24] = [
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.8, 1.4, 1.8, 1.9, 1.7, 1.2, 1.3, 1.6, 1.7, 1.5, 1.2,
    0.9, 0.7, 0.6, 0.5, 0.35, 0.25,
];

/// Conversations on an ordinary weekday.
const PER_WEEKDAY: f64 = 16.0;

/// Office hours of the demo team (UTC), Monday to Friday: handoffs outside them are deferred.
const OPEN_HOUR: i64 = 8;
const CLOSE_HOUR: i64 = 18;

/// What the customer came for: their first message, the queue, a topic-specific handoff reason.
const TOPICS: &[(&str, &str, &str)] = &[
    (
        "Where is my order #A-{n}? It was due yesterday.",
        "general",
        "customer_request",
    ),
    (
        "I was charged twice for order {n}, please refund one.",
        "billing",
        "sensitive_topic:refund",
    ),
    (
        "How do I cancel my subscription?",
        "billing",
        "sensitive_topic:cancellation",
    ),
    (
        "The app crashes when I open my invoices.",
        "technical",
        "customer_request",
    ),
    (
        "I can't log in, it says my account is locked.",
        "technical",
        "low_confidence",
    ),
    (
        "Can I change the delivery address of order {n}?",
        "general",
        "customer_request",
    ),
    ("Do you ship to Canada?", "general", "customer_request"),
    (
        "My discount code SAVE{n} doesn't work at checkout.",
        "billing",
        "frustration",
    ),
    ("How do I export my data?", "technical", "low_confidence"),
    (
        "I want to return a damaged item from order {n}.",
        "general",
        "sensitive_topic:refund",
    ),
];

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Mia", "Lucas", "Sofia", "Mateo", "Amelia", "Leon", "Chloe",
    "Hugo", "Ines", "Yuki", "Omar", "Lena", "Ravi", "Zoe", "Diego", "Hannah",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Garcia", "Müller", "Rossi", "Silva", "Dubois", "Kowalski", "Tanaka", "Khan",
    "Nguyen", "Jensen", "Costa",
];

/// The people who answer, by queue.
#[derive(Debug, Clone)]
pub struct Team {
    /// Agents who work each queue, first choice first.
    pub by_queue: Vec<(QueueId, Vec<AgentId>)>,
}

impl Team {
    fn agents(&self, queue: &QueueId) -> &[AgentId] {
        self.by_queue
            .iter()
            .find(|(q, _)| q == queue)
            .map(|(_, a)| a.as_slice())
            .unwrap_or(&[])
    }
}

/// What was written, for the banner and the tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    /// Conversations.
    pub conversations: usize,
    /// Of which handed to a person.
    pub handed_off: usize,
    /// Of which deferred.
    pub deferred: usize,
    /// Of which abandoned while waiting.
    pub abandoned: usize,
}

/// Writes [`DAYS`] days of history ending at the start of `now`'s day.
pub async fn seed(
    store: Arc<dyn Store>,
    tenant: &TenantId,
    team: &Team,
    api: &Actor,
    now: Timestamp,
) -> anyhow::Result<Written> {
    let today = now.millis() - now.millis().rem_euclid(DAY);
    let mut plans = Vec::new();
    let mut rng = Rng(0x00BA_7041_DE40_0001);
    for days_ago in (1..=DAYS).rev() {
        let day = today - days_ago * DAY;
        // 1970-01-01 was a Thursday: 0 = Monday ... 6 = Sunday.
        let weekday = (day / DAY + 3).rem_euclid(7);
        let volume = match weekday {
            5 => 0.45,
            6 => 0.3,
            _ => 1.0,
        } * PER_WEEKDAY
            * (0.85 + 0.3 * rng.unit());
        let total: f64 = HOURLY.iter().sum();
        for (hour, weight) in HOURLY.iter().enumerate() {
            let expected = volume * weight / total;
            let mut n = expected.floor() as usize;
            if rng.unit() < expected.fract() {
                n += 1;
            }
            for _ in 0..n {
                let at = day + hour as i64 * HOUR + rng.between(0, HOUR);
                plans.push((at, weekday, rng.next()));
            }
        }
    }
    // Several writers at once: SQLite's group commit shares one fsync among them.
    let chunks = 6;
    let mut tasks = Vec::new();
    for part in 0..chunks {
        let mine: Vec<_> = plans.iter().skip(part).step_by(chunks).copied().collect();
        let store = store.clone();
        let tenant = tenant.clone();
        let team = team.clone();
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Written::default();
            for (at, weekday, seed) in mine {
                conversation(
                    store.as_ref(),
                    &tenant,
                    &team,
                    &api,
                    Timestamp::from_millis(at),
                    weekday,
                    &mut Rng(seed | 1),
                    &mut written,
                )
                .await?;
            }
            anyhow::Ok(written)
        }));
    }
    let mut total = Written::default();
    for task in tasks {
        let w = task.await??;
        total.conversations += w.conversations;
        total.handed_off += w.handed_off;
        total.deferred += w.deferred;
        total.abandoned += w.abandoned;
    }
    Ok(total)
}

/// The conversation's own clock: each step moves it forward by a random delay.
#[derive(Debug)]
struct Clock(Timestamp);

impl Clock {
    fn step(&mut self, rng: &mut Rng, lo: i64, hi: i64) -> Timestamp {
        self.0 = self.0.plus_millis(rng.between(lo, hi));
        self.0
    }
}

fn bot(text: &str, confidence: f64, fallback: bool) -> NewMessage {
    NewMessage {
        role: MessageRole::Bot,
        text: text.into(),
        external_id: None,
        bot: Some(BotTurn {
            confidence: Some(confidence),
            intent: None,
            fallback,
        }),
    }
}

fn said(role: MessageRole, text: &str) -> NewMessage {
    NewMessage {
        role,
        text: text.into(),
        external_id: None,
        bot: None,
    }
}

/// One conversation from its first message to its end.
#[allow(clippy::too_many_arguments)]
async fn conversation(
    store: &dyn Store,
    tenant: &TenantId,
    team: &Team,
    api: &Actor,
    start: Timestamp,
    weekday: i64,
    rng: &mut Rng,
    written: &mut Written,
) -> anyhow::Result<()> {
    let (template, queue, topic_reason) = *rng.pick(TOPICS);
    let n = rng.between(1000, 9999);
    let question = template.replace("{n}", &n.to_string());
    // A customer base of 180 people, some of whom come back.
    let who = rng.below(180);
    let first = FIRST_NAMES[who % FIRST_NAMES.len()];
    let last = LAST_NAMES[(who / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let customer = CustomerInput {
        external_id: Some(format!("hist-{who}")),
        name: Some(format!("{first} {last}")),
        email: Some(format!("{}.{}@example.com", first.to_lowercase(), who)),
        language: Some("en".into()),
        tier: who.is_multiple_of(17).then(|| "vip".to_string()),
        ..Default::default()
    };
    let channel = *rng.pick(&["web", "web", "web", "whatsapp", "email", "api"]);
    let (started, _) = service::start_conversation(
        store,
        tenant,
        customer,
        channel.into(),
        serde_json::Map::new(),
        api,
        start,
    )
    .await?;
    let id: ConversationId = started.conversation.id;
    written.conversations += 1;
    let mut clock = Clock(start);
    let at = clock.step(rng, 0, 1_000);
    service::post_message(
        store,
        tenant,
        &id,
        said(MessageRole::Customer, &question),
        &Actor::Customer,
        at,
        None,
    )
    .await?;

    if rng.unit() < 0.55 {
        // The bot answers well; the channel closes it a few minutes later.
        let at = clock.step(rng, 1_000, 4_000);
        let answer =
            "Here's what I found in our help centre: the steps are in the article linked below.";
        service::post_message(
            store,
            tenant,
            &id,
            bot(answer, 0.7 + 0.25 * rng.unit(), false),
            &Actor::Bot,
            at,
            None,
        )
        .await?;
        if rng.unit() < 0.5 {
            let at = clock.step(rng, 20_000, 3 * MINUTE);
            service::post_message(
                store,
                tenant,
                &id,
                said(MessageRole::Customer, "Great, thanks!"),
                &Actor::Customer,
                at,
                None,
            )
            .await?;
        }
        let at = clock.step(rng, 2 * MINUTE, 10 * MINUTE);
        close(store, tenant, &id, "resolved_by_bot", api, at).await?;
        if rng.unit() < 0.35 {
            let score = *rng.pick(&[5, 5, 5, 4, 4, 4, 3, 2]);
            csat(
                store,
                tenant,
                &id,
                score,
                api,
                clock.step(rng, 10_000, MINUTE),
            )
            .await?;
        }
        return Ok(());
    }

    // The bot is unsure; the customer, the bot or a rule asks for a person.
    let at = clock.step(rng, 1_000, 4_000);
    service::post_message(
        store,
        tenant,
        &id,
        bot(
            "I'm not sure I understood. Could you tell me a bit more?",
            0.25 + 0.2 * rng.unit(),
            true,
        ),
        &Actor::Bot,
        at,
        None,
    )
    .await?;
    let at = clock.step(rng, 15_000, 90_000);
    let (reason, source, text) = match rng.below(10) {
        0..=4 => (
            "customer_request",
            HandoffSource::Customer,
            "I'd like to talk to a person, please.",
        ),
        5 | 6 => (
            topic_reason,
            HandoffSource::Rule,
            "This is the second time I'm asking about this.",
        ),
        7 => (
            "frustration",
            HandoffSource::Rule,
            "This is ridiculous, nothing works!",
        ),
        _ => (
            "low_confidence",
            HandoffSource::Bot,
            "Still not what I asked.",
        ),
    };
    service::post_message(
        store,
        tenant,
        &id,
        said(MessageRole::Customer, text),
        &Actor::Customer,
        at,
        None,
    )
    .await?;
    let queue = QueueId::parse(queue)?;
    let requester = match source {
        HandoffSource::Customer => Actor::Customer,
        HandoffSource::Bot => Actor::Bot,
        _ => Actor::System,
    };
    run(
        store,
        tenant,
        &id,
        Command::RequestHandoff {
            reason: reason.into(),
            source,
            queue: Some(queue.clone()),
            priority: None,
            note: None,
        },
        &requester,
        clock.step(rng, 0, 500),
    )
    .await?;
    written.handed_off += 1;

    let hour = clock.0.millis().rem_euclid(DAY) / HOUR;
    let open = weekday < 5 && (OPEN_HOUR..CLOSE_HOUR).contains(&hour);
    let picked_up_at = if open {
        // Waits grow with the queue at the peaks; some customers give up.
        let peak = HOURLY[hour as usize];
        let wait = rng.between(20_000, (90_000.0 + 240_000.0 * peak) as i64);
        if rng.unit() < 0.12 {
            let at = clock.step(rng, wait / 2, wait * 2);
            close(store, tenant, &id, "abandoned", api, at).await?;
            written.abandoned += 1;
            return Ok(());
        }
        clock.step(rng, wait, wait + 1)
    } else {
        // Nobody staffed: deferred until the next opening, followed up then.
        let now = clock.0.millis();
        let mut back = now - now.rem_euclid(DAY) + OPEN_HOUR * HOUR;
        if back <= now {
            back += DAY;
        }
        while ((back / DAY) + 3).rem_euclid(7) >= 5 {
            back += DAY;
        }
        run(
            store,
            tenant,
            &id,
            Command::Defer {
                reason: "after_hours".into(),
                back_at: Some(Timestamp::from_millis(back)),
            },
            &Actor::System,
            clock.step(rng, 100, 1_000),
        )
        .await?;
        written.deferred += 1;
        if rng.unit() < 0.5 {
            let at = clock.step(rng, 30_000, 2 * MINUTE);
            let email = service::post_message(
                store,
                tenant,
                &id,
                said(
                    MessageRole::Customer,
                    "OK, please email me when you're back.",
                ),
                &Actor::Customer,
                at,
                None,
            );
            email.await?;
        }
        clock.0 = Timestamp::from_millis(back);
        clock.step(rng, 2 * MINUTE, 40 * MINUTE)
    };

    // An agent of the queue takes it (the first one with room), answers and closes it.
    let agents = team.agents(&queue);
    let mut agent = None;
    for attempt in 0..40 {
        let candidate = agents[(rng.below(agents.len()) + attempt) % agents.len()].clone();
        let actor = Actor::Agent {
            id: candidate.clone(),
        };
        match service::run_command(store, tenant, &id, &Command::Claim, &actor, picked_up_at).await
        {
            Ok(_) => {
                agent = Some(actor);
                break;
            }
            // Another writer's conversation holds her capacity for now: try someone else.
            Err(e) if e.to_string().contains("capacity") => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    let Some(agent) = agent else {
        close(
            store,
            tenant,
            &id,
            "abandoned",
            api,
            clock.step(rng, MINUTE, 5 * MINUTE),
        )
        .await?;
        written.abandoned += 1;
        return Ok(());
    };
    let at = clock.step(rng, 20_000, 3 * MINUTE);
    let reply = "Hi, thanks for waiting. I'm looking at this now and will sort it out for you.";
    service::post_message(
        store,
        tenant,
        &id,
        said(MessageRole::Agent, reply),
        &agent,
        at,
        None,
    )
    .await?;
    let at = clock.step(rng, MINUTE, 4 * MINUTE);
    service::post_message(
        store,
        tenant,
        &id,
        said(MessageRole::Customer, "Thank you!"),
        &Actor::Customer,
        at,
        None,
    )
    .await?;
    let handle = rng.between(3 * MINUTE, 22 * MINUTE);
    let at = clock.step(rng, handle, handle + 1);
    close(store, tenant, &id, "resolved", &agent, at).await?;
    if rng.unit() < 0.6 {
        let score = *rng.pick(&[5, 5, 5, 5, 4, 4, 4, 3, 3, 2, 1]);
        csat(
            store,
            tenant,
            &id,
            score,
            api,
            clock.step(rng, 10_000, 2 * MINUTE),
        )
        .await?;
    }
    Ok(())
}

async fn run(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    command: Command,
    actor: &Actor,
    at: Timestamp,
) -> anyhow::Result<()> {
    service::run_command(store, tenant, id, &command, actor, at).await?;
    Ok(())
}

async fn close(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    resolution: &str,
    actor: &Actor,
    at: Timestamp,
) -> anyhow::Result<()> {
    let command = Command::Close {
        resolution: Some(resolution.into()),
        override_owner: false,
    };
    run(store, tenant, id, command, actor, at).await
}

async fn csat(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    score: i64,
    api: &Actor,
    at: Timestamp,
) -> anyhow::Result<()> {
    let command = Command::RecordCsat {
        score: CsatScore::new(score)?,
        comment: None,
    };
    run(store, tenant, id, command, api, at).await
}
