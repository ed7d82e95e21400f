//! Backend-agnostic command orchestration: open a transaction, load and lock, let the core
//! decide, persist events and projections, commit. The server and the CLI call these; nothing
//! else writes conversation state.

use baton_core::conversation::{self, Actor, BotTurn, Command, EventKind, MessageRecord};
use baton_core::escalation::{self, Detector};
use baton_core::{
    AgentId, AgentStatus, ApiKeyId, Conversation, ConversationId, ConversationState, CustomerId,
    MessageId, MessageRole, QueueId, Role, TenantId, Timestamp,
};
use baton_store::ids::{hash_secret, new_secret, new_suffix};
use baton_store::model::*;
use baton_store::{Store, StoreError, StoreResult, Tx};
use std::collections::{BTreeSet, HashMap};

/// Customer details given when a conversation starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerInput {
    /// The tenant's id for the customer; a known one reuses (and updates) the customer.
    pub external_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Free attributes (merged into the stored ones).
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// The result of a conversation command.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The conversation after the command.
    pub conversation: Conversation,
    /// The events appended, in order.
    pub events: Vec<StoredEvent>,
}

/// The result of posting a message.
#[derive(Debug, Clone)]
pub struct MessageOutcome {
    /// The stored message (the earlier one for a duplicate).
    pub message: Message,
    /// The conversation after it.
    pub conversation: Conversation,
    /// True when `external_id` matched an earlier message and nothing was written.
    pub duplicate: bool,
    /// The events appended.
    pub events: Vec<StoredEvent>,
    /// The escalation evaluation of this turn, when the detector ran.
    pub evaluation: Option<escalation::Evaluation>,
    /// True when review mode held this bot reply for an agent (not in the transcript yet).
    pub held: bool,
    /// The conversation's customer, when it was read for detection (saves the caller a read).
    pub customer: Option<Customer>,
    /// The bot's turn on this message, enqueued as a job in its transaction: the caller runs
    /// it at once ([`crate::bots::runner::start`]).
    pub bot_job: Option<String>,
}

/// A message to add to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Who writes.
    pub role: MessageRole,
    /// The text.
    pub text: String,
    /// The channel's id for deduplication.
    pub external_id: Option<String>,
    /// Bot metadata (bot turns only).
    pub bot: Option<BotTurn>,
}

/// Starts a conversation for a (new or returning) customer.
pub async fn start_conversation(
    store: &dyn Store,
    tenant: &TenantId,
    customer: CustomerInput,
    channel: String,
    attributes: serde_json::Map<String, serde_json::Value>,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(Outcome, Customer)> {
    let mut tx = store.begin().await?;
    let started = start_conversation_in(
        tx.as_mut(),
        tenant,
        customer,
        channel,
        attributes,
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(started)
}

/// The customer's open conversation on `channel`, or a new one (with the customer created or
/// updated from `customer`, whose `external_id` is required). Atomic across instances: two
/// messages of one customer arriving at once on two instances never open two conversations.
/// Returns the conversation and whether it was started here.
pub async fn open_channel_conversation(
    store: &dyn Store,
    tenant: &TenantId,
    customer: CustomerInput,
    channel: &str,
    attributes: serde_json::Map<String, serde_json::Value>,
    now: Timestamp,
) -> StoreResult<(ConversationId, bool)> {
    let Some(external_id) = customer.external_id.clone() else {
        return Err(StoreError::InvalidInput(
            "a channel customer needs an external id".into(),
        ));
    };
    let mut tx = store.begin().await?;
    tx.lock_key(&format!(
        "channel-customer:{tenant}:{channel}:{external_id}"
    ))
    .await?;
    if let Some(known) = tx.customer_by_external_id(tenant, &external_id).await?
        && let Some(open) = tx.open_conversation_on(tenant, &known.id, channel).await?
    {
        return Ok((open, false));
    }
    let (outcome, _) = start_conversation_in(
        tx.as_mut(),
        tenant,
        customer,
        channel.to_string(),
        attributes,
        &Actor::Customer,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((outcome.conversation.id, true))
}

/// A conversation started (or resumed) by a customer of the web widget, with the customer
/// token that lets them use it.
#[derive(Debug, Clone)]
pub struct WidgetStart {
    /// The conversation and its `started` event (no events when resumed).
    pub outcome: Outcome,
    /// The customer.
    pub customer: Customer,
    /// True when this is the verified customer's open conversation, not a new one.
    pub resumed: bool,
}

/// What a widget session may do with a customer's existing conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidgetOpen {
    /// Always a new conversation (anonymous or unverified visitors).
    Start,
    /// The verified customer's open web conversation if they have one, else a new one.
    StartOrResume,
    /// Only the verified customer's open web conversation; nothing is written without one.
    ResumeOnly,
}

/// Starts a conversation and stores the hash of its customer token (expiring at
/// `token_expires_at`) in the same transaction: either both exist or neither does.
pub async fn start_widget_conversation(
    store: &dyn Store,
    tenant: &TenantId,
    customer: CustomerInput,
    attributes: serde_json::Map<String, serde_json::Value>,
    token_hash: &str,
    token_expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<WidgetStart> {
    open_widget_conversation(
        store,
        tenant,
        customer,
        attributes,
        WidgetOpen::Start,
        token_hash,
        token_expires_at,
        now,
    )
    .await?
    .ok_or(StoreError::NotFound("conversation"))
}

/// Opens a widget conversation as `mode` says, with a customer token for it, in one
/// transaction. A verified customer (`StartOrResume`, `ResumeOnly`, which need
/// `customer.external_id`) continues their newest open web conversation, on any device, and
/// their profile takes what the site says now. `None` only for `ResumeOnly` without an open
/// conversation (nothing is written then).
#[allow(clippy::too_many_arguments)]
pub async fn open_widget_conversation(
    store: &dyn Store,
    tenant: &TenantId,
    customer: CustomerInput,
    attributes: serde_json::Map<String, serde_json::Value>,
    mode: WidgetOpen,
    token_hash: &str,
    token_expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<Option<WidgetStart>> {
    let mut tx = store.begin().await?;
    if mode != WidgetOpen::Start {
        let Some(external_id) = customer.external_id.clone() else {
            return Err(StoreError::InvalidInput(
                "resuming a widget conversation needs the customer's external id".into(),
            ));
        };
        // Two tabs of one customer opening at once resume or start one conversation.
        tx.lock_key(&format!("widget-customer:{tenant}:{external_id}"))
            .await?;
        let known = tx.customer_by_external_id(tenant, &external_id).await?;
        let open = match &known {
            Some(c) => tx.open_conversation_on(tenant, &c.id, "web").await?,
            None => None,
        };
        match open {
            Some(id) => {
                let conversation = load(tx.as_mut(), tenant, &id).await?;
                let customer = upsert_customer(tx.as_mut(), tenant, customer, now).await?;
                tx.insert_customer_token(token_hash, tenant, &id, token_expires_at)
                    .await?;
                tx.commit().await?;
                return Ok(Some(WidgetStart {
                    outcome: Outcome {
                        conversation,
                        events: Vec::new(),
                    },
                    customer,
                    resumed: true,
                }));
            }
            None if mode == WidgetOpen::ResumeOnly => return Ok(None),
            None => {}
        }
    }
    let (outcome, customer) = start_conversation_in(
        tx.as_mut(),
        tenant,
        customer,
        "web".into(),
        attributes,
        &Actor::Customer,
        now,
    )
    .await?;
    tx.insert_customer_token(
        token_hash,
        tenant,
        &outcome.conversation.id,
        token_expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(WidgetStart {
        outcome,
        customer,
        resumed: false,
    }))
}

/// [`start_conversation`] inside the caller's transaction (nothing is committed here).
pub async fn start_conversation_in(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    customer: CustomerInput,
    channel: String,
    attributes: serde_json::Map<String, serde_json::Value>,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(Outcome, Customer)> {
    let customer = upsert_customer(tx, tenant, customer, now).await?;
    let id = ConversationId::with_suffix(&new_suffix());
    let mut conv = Conversation::new(
        id,
        tenant.clone(),
        customer.id.clone(),
        channel.clone(),
        now,
    );
    let started = EventKind::Started {
        channel,
        attributes,
    };
    conversation::apply(&mut conv, &started, now);
    tx.insert_conversation(&conv).await?;
    let event = tx
        .append_event(&NewEvent::conversation(
            tenant, &conv.id, &started, actor, now,
        ))
        .await?;
    Ok((
        Outcome {
            conversation: conv,
            events: vec![event],
        },
        customer,
    ))
}

async fn upsert_customer(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    input: CustomerInput,
    now: Timestamp,
) -> StoreResult<Customer> {
    let existing = match &input.external_id {
        Some(ext) => tx.customer_by_external_id(tenant, ext).await?,
        None => None,
    };
    let customer = match existing {
        Some(mut c) => {
            // A returning customer: what the channel knows now wins, nothing known is erased.
            c.name = input.name.or(c.name);
            c.email = input.email.or(c.email);
            c.phone = input.phone.or(c.phone);
            c.language = input.language.or(c.language);
            c.tier = input.tier.or(c.tier);
            c.attributes.extend(input.attributes);
            c
        }
        None => Customer {
            id: CustomerId::with_suffix(&new_suffix()),
            tenant: tenant.clone(),
            external_id: input.external_id,
            name: input.name,
            email: input.email,
            phone: input.phone,
            language: input.language,
            tier: input.tier,
            attributes: input.attributes,
            created_at: now,
        },
    };
    tx.upsert_customer(&customer).await?;
    Ok(customer)
}

/// Locks and reads a conversation in the transaction; a missing one is `NotFound`.
pub async fn load(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    id: &ConversationId,
) -> StoreResult<Conversation> {
    tx.conversation_for_update(tenant, id)
        .await?
        .ok_or(StoreError::NotFound("conversation"))
}

/// Appends the core's events for `conv` and saves its projection (and the messages they add).
pub async fn persist(
    tx: &mut dyn Tx,
    conv: &Conversation,
    events: &[EventKind],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Vec<StoredEvent>> {
    Ok(persist_with_messages(tx, conv, events, actor, now).await?.0)
}

/// Appends events and saves the projection; the transcript is the projection of
/// `message_added` events, so each one also inserts its message row (returned with its seq).
async fn persist_with_messages(
    tx: &mut dyn Tx,
    conv: &Conversation,
    events: &[EventKind],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(Vec<StoredEvent>, Vec<Message>)> {
    let appended = append_with_messages(tx, conv, events, actor, now).await?;
    tx.save_conversation(conv).await?;
    Ok(appended)
}

/// Appends events (and the messages they add) without saving the projection: for a command
/// that appends in several steps and saves once.
async fn append_with_messages(
    tx: &mut dyn Tx,
    conv: &Conversation,
    events: &[EventKind],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(Vec<StoredEvent>, Vec<Message>)> {
    append_batches(tx, conv, &[(events, actor)], now).await
}

/// [`append_with_messages`] for events of several actors, in order: the messages they add,
/// then every event in one statement (on SQLite, all in one round trip).
async fn append_batches(
    tx: &mut dyn Tx,
    conv: &Conversation,
    batches: &[(&[EventKind], &Actor)],
    now: Timestamp,
) -> StoreResult<(Vec<StoredEvent>, Vec<Message>)> {
    let (mut messages, appended) = appendable(tx, conv, batches, now).await?;
    let stored = tx.append(&mut messages, &appended).await?;
    Ok((stored, messages))
}

/// What appending events of several actors writes: the transcript rows of the messages they
/// add and the events, in order; the brief job of a handoff among them is set.
async fn appendable(
    tx: &mut dyn Tx,
    conv: &Conversation,
    batches: &[(&[EventKind], &Actor)],
    now: Timestamp,
) -> StoreResult<(Vec<Message>, Vec<NewEvent>)> {
    let mut appended = Vec::new();
    let mut messages = Vec::new();
    for (events, actor) in batches {
        for event in *events {
            if matches!(event, EventKind::HandoffRequested { .. }) {
                // The brief is a follow-up job, committed with the handoff (see BRIEF_JOB).
                let job = format!("{}{}", baton_store::BRIEF_JOB, conv.id);
                tx.set_timer(&conv.tenant, &job, Some(now)).await?;
            }
            if let EventKind::MessageAdded { message: record } = event {
                messages.push(message_of(conv, record, now));
            }
            appended.push(NewEvent::conversation(
                &conv.tenant,
                &conv.id,
                event,
                actor,
                now,
            ));
        }
    }
    Ok((messages, appended))
}

/// The transcript row of a `message_added` event (its `seq` is 0 until inserted).
fn message_of(conv: &Conversation, record: &MessageRecord, now: Timestamp) -> Message {
    Message {
        id: record.id.clone(),
        tenant: conv.tenant.clone(),
        conversation: conv.id.clone(),
        seq: 0,
        role: record.role,
        text: record.text.clone(),
        agent: record.agent.clone(),
        external_id: record.external_id.clone(),
        bot: record.bot.clone(),
        attachment: record.attachment.clone(),
        created_at: now,
    }
}

/// Runs one command on a conversation in one transaction.
pub async fn run_command(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    command: &Command,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Outcome> {
    run_commands(store, tenant, id, std::slice::from_ref(command), actor, now).await
}

/// Runs several commands on one conversation, in order, in one transaction: all of them or
/// none (e.g. an agent's reply and the record that it came from a draft). An agent they give
/// the conversation to must have room ([`run_commands_as`]).
pub async fn run_commands(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    commands: &[Command],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Outcome> {
    run_commands_as(store, tenant, id, commands, actor, now, false).await
}

/// [`run_commands`], where `override_capacity` (a supervisor's explicit choice) lets an agent
/// be given the conversation beyond her capacity, recorded as a `capacity_overridden` event.
/// Without it, a command that would put an agent over capacity (claim, accept, directed
/// transfer, takeover) is refused: `agent_at_capacity`. Checked under the tenant lock with the
/// agent's row locked, against the stored count of what she owns and is offered.
pub async fn run_commands_as(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    commands: &[Command],
    actor: &Actor,
    now: Timestamp,
    override_capacity: bool,
) -> StoreResult<Outcome> {
    // No tenant-wide lock: capacity is guarded by the agents' rows, each conversation by its
    // own. Locks are taken in one order everywhere, the agents' rows (sorted) before the
    // conversation's, as the router does (`LiveRouter::apply`), so a command and a routing
    // batch cannot deadlock. Which agents the commands give the conversation to is read
    // before the transaction (no connection held while waiting for another); when the locked
    // conversation has moved on and names someone else, the attempt is rolled back and made
    // again with them.
    let mut planned: BTreeSet<AgentId> = BTreeSet::new();
    if commands.iter().any(routes)
        && let Some(mut seen) = store.conversation(tenant, id).await?
    {
        let seen_before = seen.clone();
        let mut applies = true;
        for command in commands {
            if conversation::execute(&mut seen, command, actor, now).is_err() {
                applies = false;
                break;
            }
        }
        if applies {
            planned.extend(conversation::new_holders(&seen_before, &seen));
        }
    }
    for _attempt in 0..MAX_HOLDER_ATTEMPTS {
        match run_commands_once(
            store,
            tenant,
            id,
            commands,
            actor,
            now,
            override_capacity,
            &planned,
        )
        .await?
        {
            Attempt::Done(outcome) => return Ok(*outcome),
            Attempt::Unplanned(more) => planned.extend(more),
        }
    }
    Err(StoreError::Conflict {
        code: "conversation_busy",
        message: "the conversation kept changing hands while this was applied; try again".into(),
    })
}

/// How often [`run_commands_as`] starts over because the conversation changed hands between
/// its read and its lock.
const MAX_HOLDER_ATTEMPTS: usize = 4;

enum Attempt {
    Done(Box<Outcome>),
    /// New holders whose rows were not locked first: try again with them.
    Unplanned(Vec<AgentId>),
}

#[allow(clippy::too_many_arguments)]
async fn run_commands_once(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    commands: &[Command],
    actor: &Actor,
    now: Timestamp,
    override_capacity: bool,
    planned: &BTreeSet<AgentId>,
) -> StoreResult<Attempt> {
    let mut tx = store.begin().await?;
    let mut records = HashMap::new();
    for agent in planned {
        records.insert(agent.clone(), tx.agent_for_update(tenant, agent).await?);
    }
    let mut conv = load(tx.as_mut(), tenant, id).await?;
    let before = conv.clone();
    let mut events = Vec::new();
    for command in commands {
        events.extend(conversation::execute(&mut conv, command, actor, now)?);
    }
    let holders = conversation::new_holders(&before, &conv);
    let unplanned: Vec<AgentId> = holders
        .iter()
        .filter(|a| !planned.contains(*a))
        .cloned()
        .collect();
    if !unplanned.is_empty() {
        drop(tx); // rolled back
        return Ok(Attempt::Unplanned(unplanned));
    }
    for agent in holders {
        // Locked before the conversation, so read after the lock: current.
        let Some(Some(record)) = records.remove(&agent) else {
            continue;
        };
        let held = tx.agent_load(tenant, &agent).await?;
        let who = format!("{} ({agent})", record.name);
        if let Some(event) = conversation::check_capacity(
            &before,
            &conv,
            &agent,
            &who,
            held,
            record.capacity,
            override_capacity,
        )? {
            conversation::apply(&mut conv, &event, now);
            events.push(event);
        }
    }
    let stored = persist(tx.as_mut(), &conv, &events, actor, now).await?;
    tx.commit().await?;
    Ok(Attempt::Done(Box::new(Outcome {
        conversation: conv,
        events: stored,
    })))
}

/// The last step of a conversation's brief job ([`baton_store::BRIEF_JOB`]): takes the job's timer
/// and records the brief (`brief_built`) in one transaction. False when there was nothing to
/// do: another worker took the job first, the conversation is gone, or it no longer takes a
/// brief (the job is dropped then too).
pub async fn record_brief(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    brief: serde_json::Value,
    now: Timestamp,
) -> StoreResult<bool> {
    let mut tx = store.begin().await?;
    if !tx
        .take_timer(tenant, &format!("{}{id}", baton_store::BRIEF_JOB))
        .await?
    {
        return Ok(false);
    }
    let Some(mut conv) = tx.conversation_for_update(tenant, id).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    let command = Command::RecordBrief(brief);
    let recorded = match conversation::execute(&mut conv, &command, &Actor::System, now) {
        Ok(events) => {
            persist(tx.as_mut(), &conv, &events, &Actor::System, now).await?;
            true
        }
        Err(_) => false,
    };
    tx.commit().await?;
    Ok(recorded)
}

/// Drops a follow-up job nobody can run (an unknown kind, e.g. left by an older version).
pub async fn drop_job(store: &dyn Store, tenant: &TenantId, kind: &str) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    tx.take_timer(tenant, kind).await?;
    tx.commit().await
}

/// When the offer of a transfer to a named agent lapses if `now` is when it is asked for: the
/// accept window of the target queue, else of the conversation's queue, else 30 s.
pub async fn transfer_expiry(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    to_queue: Option<&QueueId>,
    now: Timestamp,
) -> StoreResult<Timestamp> {
    let queue = match to_queue {
        Some(q) => Some(q.clone()),
        None => store
            .conversation(tenant, id)
            .await?
            .ok_or(StoreError::NotFound("conversation"))?
            .queue
            .clone(),
    };
    let secs = match queue {
        Some(q) => store
            .queue(tenant, &q)
            .await?
            .map_or(30, |q| q.offer_timeout_secs.max(1)),
        None => 30,
    };
    Ok(now.plus_millis(i64::from(secs) * 1000))
}

/// Sets the email on the profile of a conversation's customer and records it on the
/// conversation (`customer_email_set`), in one transaction. Returns the conversation and the
/// updated customer.
pub async fn set_customer_email(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    email: &baton_core::EmailAddress,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(Outcome, Customer)> {
    let mut tx = store.begin().await?;
    let mut conv = load(tx.as_mut(), tenant, id).await?;
    let mut customer = tx
        .customer_for_update(tenant, &conv.customer)
        .await?
        .ok_or(StoreError::NotFound("customer"))?;
    let command = Command::SetCustomerEmail {
        email: email.clone(),
    };
    let events = conversation::execute(&mut conv, &command, actor, now)?;
    customer.email = Some(email.to_string());
    tx.upsert_customer(&customer).await?;
    let stored = persist(tx.as_mut(), &conv, &events, actor, now).await?;
    tx.commit().await?;
    Ok((
        Outcome {
            conversation: conv,
            events: stored,
        },
        customer,
    ))
}

/// What the person `agent` may see: `None` for supervisors and admins (everything), their
/// [`AgentScope`] for agents. An unknown agent sees nothing of the tenant's conversations.
pub async fn agent_scope(
    store: &dyn Store,
    tenant: &TenantId,
    agent: &AgentId,
) -> StoreResult<Option<AgentScope>> {
    let Some(agent) = store.agent(tenant, agent).await? else {
        return Ok(Some(AgentScope {
            agent: agent.clone(),
            queues: Vec::new(),
            default_queue: false,
        }));
    };
    if agent.role.at_least(Role::Supervisor) {
        return Ok(None);
    }
    let queues: Vec<QueueId> = store
        .queues(tenant)
        .await?
        .into_iter()
        .map(|q| q.id)
        .collect();
    Ok(Some(AgentScope::new(&agent, &queues)))
}

/// Commands that change who owns what are serialized per tenant, so two instances never
/// assign one conversation twice or overfill an agent.
fn routes(command: &Command) -> bool {
    !matches!(
        command,
        Command::AddMessage(_) | Command::RecordCsat { .. } | Command::SetPriority(_)
    )
}

/// What the escalation detector needs beside the message itself.
#[derive(Debug, Clone, Copy)]
pub struct Detection<'a> {
    /// The tenant's compiled detector.
    pub detector: &'a Detector,
    /// Whether the tenant is within business hours now (`None`: no calendar).
    pub business_open: Option<bool>,
    /// A button or quick-reply payload sent with the message (`"talk_to_human"`).
    pub payload: Option<&'a serde_json::Value>,
    /// Review mode: bot replies with a confidence below this are held for an agent.
    pub review_below: Option<f64>,
    /// The tenant runs a bot: a new customer message that the bot may answer (the
    /// conversation is with the bot or waiting for a person) enqueues the bot's turn as a job
    /// ([`baton_store::BOT_JOB`]) in the message's transaction.
    pub bot: bool,
}

/// How long a bot turn's job stays with the instance that took the message before any job
/// worker may run it: longer than the slowest bot may take (the webhook bot's timeout is at
/// most 30 s), so it runs again only when that instance died.
pub const BOT_JOB_LEASE_MS: i64 = 60_000;

/// The bot job of a customer message (see [`baton_store::BOT_JOB`]).
pub fn bot_job(conversation: &ConversationId, message: &MessageId, button: bool) -> String {
    let suffix = if button { ":button" } else { "" };
    format!("{}{conversation}:{message}{suffix}", baton_store::BOT_JOB)
}

/// The conversation and message of a bot job, and whether the message was a button press.
pub fn parse_bot_job(kind: &str) -> Option<(ConversationId, MessageId, bool)> {
    let rest = kind.strip_prefix(baton_store::BOT_JOB)?;
    let (rest, button) = match rest.strip_suffix(":button") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (conversation, message) = rest.split_once(':')?;
    Some((
        ConversationId::parse(conversation).ok()?,
        MessageId::parse(message).ok()?,
        button,
    ))
}

/// Whether the bot may answer a customer message in a conversation in this state: while it
/// has the conversation, and while the customer waits for a person.
pub fn bot_may_answer(state: &ConversationState) -> bool {
    matches!(
        state,
        ConversationState::Bot | ConversationState::Queued | ConversationState::Deferred
    )
}

/// How many earlier turns the detector sees.
const DETECTION_HISTORY: u32 = 30;

/// Adds a message (or note) to a conversation. A message whose `external_id` was seen before in
/// this tenant is not stored again: the first one is returned with `duplicate: true`.
///
/// With `detection`, customer and bot turns are evaluated before the write transaction (again
/// inside it if the conversation moved meanwhile) and committed with the message: the
/// evaluation is recorded as an event and its decision (hand over, raise priority, defer) is
/// applied at once, so a message is never stored without its consequence.
///
/// The conversation is read once, before the transaction, which adopts that read
/// ([`Tx::adopt`]): it does not read it again, and checks before its commit that nothing of it
/// changed (the message commits in one round trip to SQLite's writer; on PostgreSQL the
/// conversation's update makes the check). If it did change, nothing was written and the
/// message goes again through the transaction's locked read.
pub async fn post_message(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    input: NewMessage,
    actor: &Actor,
    now: Timestamp,
    detection: Option<Detection<'_>>,
) -> StoreResult<MessageOutcome> {
    let detected =
        detection.filter(|_| matches!(input.role, MessageRole::Customer | MessageRole::Bot));
    let record = MessageRecord {
        id: MessageId::with_suffix(&new_suffix()),
        role: input.role,
        text: input.text,
        agent: actor.agent().cloned(),
        external_id: input.external_id,
        bot: input.bot,
        attachment: None,
    };
    // Review mode: a low-confidence bot reply waits for an agent instead of reaching the customer.
    let hold = record.role == MessageRole::Bot
        && detected
            .and_then(|d| d.review_below)
            .is_some_and(|threshold| {
                record
                    .bot
                    .as_ref()
                    .and_then(|b| b.confidence)
                    .unwrap_or(0.0)
                    < threshold
            });
    let evaluate_early = detected.is_some() && !hold;
    let history = if evaluate_early { DETECTION_HISTORY } else { 0 };
    let read = store
        .conversation_read(tenant, id, record.external_id.as_deref(), history)
        .await?
        .ok_or(StoreError::NotFound("conversation"))?;
    if let Some(message) = read.existing.clone() {
        return duplicate(id, message, read.conversation.clone());
    }
    // The turn is evaluated before the write transaction, on what was read before it, so that
    // SQLite's one writer is not held while the detector runs. What the evaluation reads (the
    // transcript, the customer, the conversation's channel and attributes) can only have
    // changed if the conversation's version moved: then it is evaluated again once locked.
    let early = match detected.filter(|_| !hold) {
        Some(detection) => {
            let conv = &read.conversation;
            let mut history = read.recent.clone();
            let message = message_of(conv, &record, now);
            history.push(message.clone());
            let evaluation = evaluate(
                conv,
                &message,
                &history,
                read.customer.as_ref(),
                detection,
                now,
            );
            Some((conv.version, evaluation))
        }
        None => None,
    };
    let mut adopt = true;
    loop {
        let mut adopted = false;
        let attempt = async {
            let mut tx = store.begin().await?;
            adopted = adopt && tx.adopt(&read).await?;
            let (conv, existing) = if adopted {
                (read.conversation.clone(), None)
            } else {
                tx.conversation_for_message(tenant, id, record.external_id.as_deref())
                    .await?
                    .ok_or(StoreError::NotFound("conversation"))?
            };
            if let Some(message) = existing {
                return duplicate(id, message, conv);
            }
            add_message(
                tx,
                conv,
                record.clone(),
                hold,
                actor,
                now,
                detected.map(|d| (d, early.as_ref(), read.customer.as_ref())),
            )
            .await
        };
        match attempt.await {
            // What was read changed (or a concurrent message took the same external_id):
            // nothing was written; again, reading under the transaction's lock.
            Err(
                StoreError::Stale(_)
                | StoreError::Conflict {
                    code: "external_id_reused",
                    ..
                },
            ) if adopted => {
                adopt = false;
            }
            outcome => return outcome,
        }
    }
}

/// The answer to a message whose `external_id` was seen before: the earlier message, unless it
/// belongs to another conversation (`409 external_id_reused`).
fn duplicate(
    id: &ConversationId,
    message: Message,
    conversation: Conversation,
) -> StoreResult<MessageOutcome> {
    if &message.conversation != id {
        let ext = message.external_id.as_deref().unwrap_or_default();
        return Err(StoreError::Conflict {
            code: "external_id_reused",
            message: format!(
                "external_id '{ext}' already belongs to a message of another conversation"
            ),
        });
    }
    Ok(MessageOutcome {
        message,
        conversation,
        duplicate: true,
        events: vec![],
        evaluation: None,
        held: false,
        customer: None,
        bot_job: None,
    })
}

/// The evaluation of a turn made before its transaction: on the conversation at this version.
type EarlyEvaluation = (u32, escalation::Evaluation);

/// [`post_message`] in its transaction, on `conv` as the transaction has it: the message, its
/// evaluation and what that calls for, committed together.
async fn add_message(
    mut tx: Box<dyn Tx>,
    mut conv: Conversation,
    record: MessageRecord,
    hold: bool,
    actor: &Actor,
    now: Timestamp,
    detected: Option<(Detection<'_>, Option<&EarlyEvaluation>, Option<&Customer>)>,
) -> StoreResult<MessageOutcome> {
    let tenant = &conv.tenant.clone();
    let id = &conv.id.clone();
    let read_version = conv.version;
    let command = if hold {
        Command::HoldBotReply(conversation::HeldReply {
            id: record.id.clone(),
            text: record.text.clone(),
            bot: record.bot.clone(),
        })
    } else {
        Command::AddMessage(record.clone())
    };
    let events = conversation::execute(&mut conv, &command, actor, now)?;
    let added = events.iter().find_map(|e| match e {
        EventKind::MessageAdded { message } => Some(message_of(&conv, message, now)),
        _ => None,
    });
    let Some(message) = added else {
        // Held: nothing reaches the transcript (or the detector) until an agent approves.
        let (stored, _) = append_with_messages(tx.as_mut(), &conv, &events, actor, now).await?;
        tx.save_conversation(&conv).await?;
        tx.commit().await?;
        // Not in the transcript: no seq yet, and no agent wrote it.
        let message = Message {
            agent: None,
            ..message_of(&conv, &record, now)
        };
        return Ok(MessageOutcome {
            message,
            conversation: conv,
            duplicate: false,
            events: stored,
            evaluation: None,
            held: true,
            customer: None,
            bot_job: None,
        });
    };
    // The message is evaluated before anything is written, so that the message, its
    // evaluation and what it calls for go in with one insert of events.
    let mut evaluation = None;
    let mut known_customer = None;
    let mut follow_events = Vec::new();
    if let Some((detection, Some((version, early)), customer)) = detected {
        let evaluation_of_turn = if *version == read_version {
            early.clone()
        } else {
            let mut history = tx.recent_messages(tenant, id, DETECTION_HISTORY).await?;
            history.push(message.clone());
            evaluate(&conv, &message, &history, customer, detection, now)
        };
        let follow_up = match &evaluation_of_turn.decision {
            Some(decision) => {
                // A rule may name a queue: it is used if it exists (else the default queue).
                let queues: Vec<QueueId> = match &decision.queue {
                    Some(_) => tx
                        .tenant_queues(tenant)
                        .await?
                        .into_iter()
                        .map(|q| q.id)
                        .collect(),
                    None => Vec::new(),
                };
                escalation::plan::command_for(&conv, decision, |q| queues.contains(q))
            }
            None => None,
        };
        // The event keeps the evaluation as the API shows it (JSON); the engine's callers get
        // it typed.
        let recorded = serde_json::to_value(&evaluation_of_turn).unwrap_or(serde_json::Value::Null);
        follow_events = conversation::execute(
            &mut conv,
            &Command::RecordEvaluation(recorded),
            &Actor::System,
            now,
        )?;
        if let Some(command) = follow_up {
            follow_events.extend(conversation::execute(
                &mut conv,
                &command,
                &Actor::System,
                now,
            )?);
        }
        evaluation = Some(evaluation_of_turn);
        known_customer = customer.cloned();
    }
    let (mut inserted, appended) = appendable(
        tx.as_mut(),
        &conv,
        &[(&events, actor), (&follow_events, &Actor::System)],
        now,
    )
    .await?;
    let mut bot = None;
    if detected.is_some_and(|(d, _, _)| d.bot)
        && message.role == MessageRole::Customer
        && bot_may_answer(&conv.state)
    {
        let button = evaluation.as_ref().is_some_and(|e| e.signals.button);
        let job = bot_job(id, &message.id, button);
        tx.set_timer(tenant, &job, Some(now.plus_millis(BOT_JOB_LEASE_MS)))
            .await?;
        bot = Some(job);
    }
    tx.save_conversation(&conv).await?;
    // The message, its events and the projections in one commit (one round trip on SQLite).
    let stored = tx.append_and_commit(&mut inserted, &appended).await?;
    let message = inserted
        .into_iter()
        .next()
        .expect("a message_added event inserts its message");
    Ok(MessageOutcome {
        message,
        conversation: conv,
        duplicate: false,
        events: stored,
        evaluation,
        held: false,
        customer: known_customer,
        bot_job: bot,
    })
}

/// A file to attach to a conversation, already checked by the caller (type found in its
/// content, size within the limit, name sanitised).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    /// Who sends it (`customer` or `agent`).
    pub role: MessageRole,
    /// The file's name; it is also the text of the message that carries it.
    pub filename: String,
    /// Its media type.
    pub content_type: String,
    /// Hex SHA-256 of `bytes` (computed by the caller, off the async runtime).
    pub sha256: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// Adds a message carrying a file to a conversation, and stores the file, in one
/// transaction: the transcript, the event log and live views see an ordinary message (its text
/// is the file's name) with an `attachment` reference. The core checks the turn as for any
/// message (nobody writes to a closed conversation). No escalation detection runs: a file holds
/// no text the detector reads. A conversation holds at most `max_total` bytes of files
/// (`409 attachments_full` beyond), so one token cannot fill the database.
pub async fn post_attachment(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    file: NewAttachment,
    max_total: u64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<MessageOutcome> {
    let mut tx = store.begin().await?;
    let mut conv = load(tx.as_mut(), tenant, id).await?;
    let (_, used) = tx.attachment_usage(tenant, id).await?;
    if used + file.bytes.len() as u64 > max_total {
        return Err(StoreError::Conflict {
            code: "attachments_full",
            message: format!(
                "this conversation already holds {used} bytes of files; the limit is \
                 {max_total} bytes per conversation"
            ),
        });
    }
    let attachment_id = baton_core::AttachmentId::with_suffix(&new_suffix());
    let size = file.bytes.len() as u64;
    let record = MessageRecord {
        id: MessageId::with_suffix(&new_suffix()),
        role: file.role,
        text: file.filename.clone(),
        agent: actor.agent().cloned(),
        external_id: None,
        bot: None,
        attachment: Some(conversation::AttachmentRef {
            id: attachment_id.clone(),
            filename: file.filename.clone(),
            content_type: file.content_type.clone(),
            size,
        }),
    };
    let events = conversation::execute(&mut conv, &Command::AddMessage(record), actor, now)?;
    let (stored, inserted) = persist_with_messages(tx.as_mut(), &conv, &events, actor, now).await?;
    let message = inserted
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("an added message was not stored".into()))?;
    let attachment = baton_store::Attachment {
        id: attachment_id,
        tenant: tenant.clone(),
        conversation: id.clone(),
        message: message.id.clone(),
        uploader: actor.clone(),
        filename: file.filename,
        content_type: file.content_type,
        size,
        sha256: file.sha256,
        created_at: now,
    };
    tx.insert_attachment(&attachment, &file.bytes).await?;
    tx.commit().await?;
    Ok(MessageOutcome {
        message,
        conversation: conv,
        duplicate: false,
        events: stored,
        evaluation: None,
        held: false,
        customer: None,
        bot_job: None,
    })
}

fn turn_of(m: &Message) -> Option<escalation::Turn<'_>> {
    let role = match m.role {
        MessageRole::Customer => escalation::TurnRole::Customer,
        MessageRole::Bot => escalation::TurnRole::Bot,
        _ => return None,
    };
    Some(escalation::Turn {
        role,
        text: &m.text,
        confidence: m.bot.as_ref().and_then(|b| b.confidence),
        fallback: m.bot.as_ref().is_some_and(|b| b.fallback),
        at: m.created_at,
    })
}

/// Runs the detector on the new message with the transcript before it.
fn evaluate(
    conv: &Conversation,
    message: &Message,
    transcript: &[Message],
    customer: Option<&Customer>,
    detection: Detection<'_>,
    now: Timestamp,
) -> escalation::Evaluation {
    let history: Vec<escalation::Turn<'_>> = transcript
        .iter()
        .filter(|m| m.id != message.id)
        .filter_map(turn_of)
        .collect();
    let count = |role| history.iter().filter(|t| t.role == role).count() as u32;
    let turn = turn_of(message).expect("only customer and bot turns are evaluated");
    let input = escalation::TurnInput {
        turn,
        payload: detection.payload,
        history: &history,
        customer: escalation::CustomerInfo {
            tier: customer.and_then(|c| c.tier.as_deref()),
            language: customer.and_then(|c| c.language.as_deref()),
            attributes: customer.map(|c| &c.attributes),
        },
        conversation: escalation::ConversationInfo {
            channel: &conv.channel,
            attributes: Some(&conv.attributes),
            started_at: conv.created_at,
            bot_turns: count(escalation::TurnRole::Bot)
                + u32::from(turn.role == escalation::TurnRole::Bot),
            customer_turns: count(escalation::TurnRole::Customer)
                + u32::from(turn.role == escalation::TurnRole::Customer),
        },
        now,
        business_open: detection.business_open,
        explicit: None,
    };
    detection.detector.evaluate(&input)
}

/// What `create_tenant` made: the admin's password and the API key secret are shown once.
#[derive(Debug, Clone)]
pub struct CreatedTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// Its first admin.
    pub admin: Agent,
    /// Its first API key (record).
    pub api_key: ApiKey,
    /// The key's secret; only its hash is stored.
    pub api_key_secret: String,
}

/// A new agent's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgent {
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Skills.
    pub skills: Vec<Skill>,
    /// Languages.
    pub languages: Vec<String>,
    /// Queues.
    pub queues: Vec<baton_core::QueueId>,
    /// Capacity.
    pub capacity: u32,
}

/// Creates a tenant with its first admin (whose password hash the caller computed) and an
/// API key, in one transaction.
pub async fn create_tenant(
    store: &dyn Store,
    name: &str,
    admin_email: &str,
    admin_password_hash: &str,
    now: Timestamp,
) -> StoreResult<CreatedTenant> {
    let tenant = Tenant {
        id: TenantId::with_suffix(&new_suffix()),
        name: name.to_string(),
        created_at: now,
    };
    let mut tx = store.begin().await?;
    tx.insert_tenant(&tenant).await?;
    let admin = NewAgent {
        email: admin_email.to_string(),
        name: "Admin".to_string(),
        role: Role::Admin,
        skills: vec![],
        languages: vec!["en".to_string()],
        queues: vec![],
        capacity: 5,
    };
    let admin = insert_agent(tx.as_mut(), &tenant.id, admin, admin_password_hash, now).await?;
    let (api_key, api_key_secret) = insert_api_key(tx.as_mut(), &tenant.id, "default", now).await?;
    tx.commit().await?;
    Ok(CreatedTenant {
        tenant,
        admin,
        api_key,
        api_key_secret,
    })
}

async fn insert_agent(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    new: NewAgent,
    password_hash: &str,
    now: Timestamp,
) -> StoreResult<Agent> {
    let agent = Agent {
        id: AgentId::with_suffix(&new_suffix()),
        tenant: tenant.clone(),
        email: new.email.trim().to_ascii_lowercase(),
        name: new.name,
        role: new.role,
        status: AgentStatus::Offline,
        status_changed_at: now,
        skills: new.skills,
        languages: new.languages,
        queues: new.queues,
        capacity: new.capacity,
        created_at: now,
        deactivated_at: None,
    };
    tx.insert_agent(&agent, password_hash).await?;
    Ok(agent)
}

async fn insert_api_key(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    name: &str,
    now: Timestamp,
) -> StoreResult<(ApiKey, String)> {
    let secret = new_secret("bk_");
    let key = ApiKey {
        id: ApiKeyId::with_suffix(&new_suffix()),
        tenant: tenant.clone(),
        name: name.to_string(),
        prefix: secret[..10].to_string(),
        created_at: now,
        revoked_at: None,
    };
    tx.insert_api_key(&key, &hash_secret(&secret)).await?;
    Ok((key, secret))
}

/// Creates an agent; the caller hashed the password.
pub async fn create_agent(
    store: &dyn Store,
    tenant: &TenantId,
    new: NewAgent,
    password_hash: &str,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Agent> {
    let mut tx = store.begin().await?;
    let agent = insert_agent(tx.as_mut(), tenant, new, password_hash, now).await?;
    tx.append_event(&NewEvent::tenant(
        tenant,
        "agent_created",
        actor,
        serde_json::json!({ "after": &agent }),
        now,
    ))
    .await?;
    tx.commit().await?;
    Ok(agent)
}

/// Applies `change` (and a new password hash, if given) to an agent under a row lock, in one
/// transaction, and records before and after (never the password).
pub async fn update_agent(
    store: &dyn Store,
    tenant: &TenantId,
    id: &AgentId,
    actor: &Actor,
    now: Timestamp,
    password_hash: Option<String>,
    change: impl FnOnce(&mut Agent) + Send,
) -> StoreResult<Agent> {
    let mut tx = store.begin().await?;
    tx.lock_tenant(tenant).await?;
    let before = tx
        .agent_for_update(tenant, id)
        .await?
        .ok_or(StoreError::NotFound("agent"))?;
    let mut agent = before.clone();
    change(&mut agent);
    if agent.status != before.status {
        agent.status_changed_at = now;
    }
    if let Some(hash) = &password_hash {
        tx.set_agent_password(tenant, id, hash).await?;
    }
    if agent == before && password_hash.is_none() {
        return Ok(agent);
    }
    // A new password or a lower role ends every session of the agent (their live sockets
    // close on the event below).
    let revoke = password_hash.is_some()
        || !agent.role.at_least(before.role)
        || (agent.deactivated_at.is_some() && before.deactivated_at.is_none());
    if revoke {
        tx.delete_agent_sessions(tenant, id).await?;
    }
    tx.update_agent(&agent).await?;
    let kind = if agent.status != before.status {
        "agent_status_changed"
    } else {
        "agent_updated"
    };
    tx.append_event(&NewEvent::tenant(
        tenant,
        kind,
        actor,
        serde_json::json!({
            "agent": id,
            "before": before,
            "after": &agent,
            "password_changed": password_hash.is_some(),
            "sessions_revoked": revoke,
        }),
        now,
    ))
    .await?;
    tx.commit().await?;
    Ok(agent)
}

/// Sets an `available` agent `away` inside `tx`, recording an `agent_status_changed` event by
/// the system with `reason` (e.g. `missed_offer`: the router's doing when she let an offer
/// lapse). An agent who is not `available` any more is left as she is. Returns whether she
/// was set away.
pub async fn set_agent_away(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    id: &AgentId,
    reason: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let Some(before) = tx.agent_for_update(tenant, id).await? else {
        return Ok(false);
    };
    if before.status != AgentStatus::Available {
        return Ok(false);
    }
    let mut agent = before.clone();
    agent.status = AgentStatus::Away;
    agent.status_changed_at = now;
    tx.update_agent(&agent).await?;
    tx.append_event(&NewEvent::tenant(
        tenant,
        "agent_status_changed",
        &Actor::System,
        serde_json::json!({
            "agent": id,
            "before": before,
            "after": &agent,
            "reason": reason,
            "password_changed": false,
        }),
        now,
    ))
    .await?;
    Ok(true)
}

/// Creates an API key; returns the record and the secret (shown once).
pub async fn create_api_key(
    store: &dyn Store,
    tenant: &TenantId,
    name: &str,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(ApiKey, String)> {
    let mut tx = store.begin().await?;
    let (key, secret) = insert_api_key(tx.as_mut(), tenant, name, now).await?;
    tx.append_event(&NewEvent::tenant(
        tenant,
        "api_key_created",
        actor,
        serde_json::json!({ "after": &key }),
        now,
    ))
    .await?;
    tx.commit().await?;
    Ok((key, secret))
}

/// Revokes an API key.
pub async fn revoke_api_key(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ApiKeyId,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    if !tx.revoke_api_key(tenant, id, now).await? {
        return Err(StoreError::NotFound("api key"));
    }
    tx.append_event(&NewEvent::tenant(
        tenant,
        "api_key_revoked",
        actor,
        serde_json::json!({ "api_key": id }),
        now,
    ))
    .await?;
    tx.commit().await
}

/// Stores tenant configuration documents (key, value) in one transaction, recording before and
/// after for each: either all change or none.
pub async fn put_settings(
    store: &dyn Store,
    tenant: &TenantId,
    settings: &[(&str, serde_json::Value)],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let mut before = Vec::with_capacity(settings.len());
    for (key, _) in settings {
        before.push(store.setting(tenant, key).await?);
    }
    let mut tx = store.begin().await?;
    for ((key, value), before) in settings.iter().zip(before) {
        tx.put_setting(tenant, key, value, now).await?;
        tx.append_event(&NewEvent::tenant(
            tenant,
            format!("{key}_updated"),
            actor,
            serde_json::json!({ "key": key, "before": before, "after": value }),
            now,
        ))
        .await?;
    }
    tx.commit().await
}

/// Creates or replaces a queue, recording before and after.
pub async fn save_queue(
    store: &dyn Store,
    queue: &Queue,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let before = store.queue(&queue.tenant, &queue.id).await?;
    let mut tx = store.begin().await?;
    tx.upsert_queue(queue).await?;
    let kind = if before.is_some() {
        "queue_updated"
    } else {
        "queue_created"
    };
    tx.append_event(&NewEvent::tenant(
        &queue.tenant,
        kind,
        actor,
        serde_json::json!({ "queue": &queue.id, "before": before, "after": queue }),
        now,
    ))
    .await?;
    tx.commit().await
}

/// Deletes a queue.
pub async fn delete_queue(
    store: &dyn Store,
    tenant: &TenantId,
    id: &baton_core::QueueId,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let before = store
        .queue(tenant, id)
        .await?
        .ok_or(StoreError::NotFound("queue"))?;
    let mut tx = store.begin().await?;
    if !tx.delete_queue(tenant, id).await? {
        return Err(StoreError::NotFound("queue"));
    }
    tx.append_event(&NewEvent::tenant(
        tenant,
        "queue_deleted",
        actor,
        serde_json::json!({ "queue": id, "before": before }),
        now,
    ))
    .await?;
    tx.commit().await
}

/// Opens a session for an agent; returns the token (shown once).
pub async fn open_session(
    store: &dyn Store,
    agent: &Agent,
    ttl_ms: i64,
    now: Timestamp,
) -> StoreResult<String> {
    let token = new_secret("bs_");
    let session = Session {
        tenant: agent.tenant.clone(),
        agent: agent.id.clone(),
        expires_at: now.plus_millis(ttl_ms),
    };
    let mut tx = store.begin().await?;
    tx.insert_session(&hash_secret(&token), &session).await?;
    tx.commit().await?;
    Ok(token)
}

/// Ends a session; a `session_closed` event (the agent's id, never the token) lets the live
/// sockets opened with it close.
pub async fn close_session(store: &dyn Store, token: &str, now: Timestamp) -> StoreResult<()> {
    let hash = hash_secret(token);
    let Some(session) = store.session(&hash, now).await? else {
        return Ok(());
    };
    let mut tx = store.begin().await?;
    tx.delete_session(&hash).await?;
    tx.append_event(&NewEvent::tenant(
        &session.tenant,
        "session_closed",
        &Actor::Agent {
            id: session.agent.clone(),
        },
        serde_json::json!({ "agent": session.agent }),
        now,
    ))
    .await?;
    tx.commit().await
}

/// Saves knowledge-base articles in one transaction (one audit event each).
pub async fn save_kb_articles(
    store: &dyn Store,
    tenant: &TenantId,
    articles: &[KbArticle],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    for article in articles {
        tx.put_kb_article(article).await?;
        tx.append_event(&NewEvent::tenant(
            tenant,
            "kb_article_saved",
            actor,
            serde_json::json!({ "article": article.id, "title": article.title }),
            now,
        ))
        .await?;
    }
    tx.commit().await
}

/// Creates a knowledge-base article; `409 article_exists` when its id is taken, also when
/// two creates race (the insert itself decides, in the transaction).
pub async fn create_kb_article(
    store: &dyn Store,
    article: &KbArticle,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    if !tx.insert_kb_article(article).await? {
        return Err(StoreError::Conflict {
            code: "article_exists",
            message: format!("an article '{}' already exists", article.id),
        });
    }
    tx.append_event(&NewEvent::tenant(
        &article.tenant,
        "kb_article_saved",
        actor,
        serde_json::json!({ "article": article.id, "title": article.title }),
        now,
    ))
    .await?;
    tx.commit().await
}

/// Deletes a knowledge-base article.
pub async fn delete_kb_article(
    store: &dyn Store,
    tenant: &TenantId,
    id: &str,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    if !tx.delete_kb_article(tenant, id).await? {
        return Err(StoreError::NotFound("article"));
    }
    tx.append_event(&NewEvent::tenant(
        tenant,
        "kb_article_deleted",
        actor,
        serde_json::json!({ "article": id }),
        now,
    ))
    .await?;
    tx.commit().await
}

/// The audit family of a subscription kind: `webhook_created`, `notification_deleted`...
fn subscription_family(kind: baton_store::outbox::SubscriptionKind) -> &'static str {
    use baton_store::outbox::SubscriptionKind as K;
    match kind {
        K::Webhook => "webhook",
        K::Slack | K::Teams => "notification",
        K::Email => "email_notification",
        K::Whatsapp => "whatsapp_channel",
    }
}

/// A subscription as the audit trail shows it: the signing secret never, and for kinds whose
/// URL is itself a secret (Slack, Teams), only the URL's host.
pub fn redacted_subscription(sub: &baton_store::outbox::Subscription) -> serde_json::Value {
    let mut value = serde_json::to_value(sub).unwrap_or(serde_json::Value::Null);
    if let Some(config) = value
        .get_mut("config")
        .and_then(serde_json::Value::as_object_mut)
    {
        for (key, v) in config.iter_mut() {
            let secret = key.contains("secret") || key.contains("token") || key == "password";
            if secret && !v.is_null() {
                *v = serde_json::Value::String("[redacted]".into());
            }
        }
        if sub.kind != baton_store::outbox::SubscriptionKind::Webhook
            && let Some(url) = config.get_mut("url")
            && let Some(text) = url.as_str()
        {
            *url = serde_json::Value::String(url_host(text));
        }
    }
    value
}

/// `https://hooks.slack.com/services/...` → `hooks.slack.com`.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.to_string()
}

/// Creates or replaces an outbox subscription (webhook, Slack, Teams...), recording before and
/// after with secrets redacted (`webhook_created`, `webhook_updated`, `notification_created`...).
/// `change` says what changed beyond the fields, e.g. `{"secret_rotated": true}`.
pub async fn save_subscription(
    store: &dyn Store,
    sub: &baton_store::outbox::Subscription,
    change: Option<serde_json::Value>,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let before = store.subscription(&sub.tenant, &sub.id).await?;
    if before.as_ref().is_some_and(|b| b.kind != sub.kind) {
        return Err(StoreError::Conflict {
            code: "subscription_kind",
            message: "a subscription cannot change its kind".into(),
        });
    }
    let mut tx = store.begin().await?;
    tx.put_subscription(sub).await?;
    let family = subscription_family(sub.kind);
    let kind = if before.is_some() {
        format!("{family}_updated")
    } else {
        format!("{family}_created")
    };
    let mut data = serde_json::json!({
        "subscription": sub.id,
        "before": before.as_ref().map(redacted_subscription),
        "after": redacted_subscription(sub),
    });
    if let Some(change) = change {
        data["change"] = change;
    }
    tx.append_event(&NewEvent::tenant(&sub.tenant, &kind, actor, data, now))
        .await?;
    tx.commit().await
}

/// Deletes a subscription of `kinds` (and its undelivered deliveries), recording what it was.
/// Another kind's id is [`StoreError::NotFound`], as is an unknown one.
pub async fn delete_subscription(
    store: &dyn Store,
    tenant: &TenantId,
    id: &str,
    kinds: &[baton_store::outbox::SubscriptionKind],
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<()> {
    let before = store
        .subscription(tenant, id)
        .await?
        .filter(|s| kinds.contains(&s.kind))
        .ok_or(StoreError::NotFound("subscription"))?;
    let mut tx = store.begin().await?;
    if !tx.delete_subscription(tenant, id).await? {
        return Err(StoreError::NotFound("subscription"));
    }
    let kind = format!("{}_deleted", subscription_family(before.kind));
    tx.append_event(&NewEvent::tenant(
        tenant,
        &kind,
        actor,
        serde_json::json!({ "subscription": id, "before": redacted_subscription(&before) }),
        now,
    ))
    .await?;
    tx.commit().await
}
