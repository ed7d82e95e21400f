//! Runs the tenant's bot on a customer message, off the request path.
//!
//! The turn is spawned after the customer message is stored; the HTTP response does not wait.
//! The reply is stored like any bot turn, through the escalation detector, so a bot's low
//! confidence counts toward escalation. Replies while the conversation waits for a person
//! (`queued` or `deferred`) are marked with the intent [`WHILE_WAITING`]; once a person owns
//! the conversation the core refuses bot turns (`bot_silenced`) and the reply is dropped. A bot
//! that fails (error, timeout, invalid reply) on a `bot` conversation hands it to a person with
//! the reason [`BOT_UNAVAILABLE`], after a short system message to the customer.

use super::{BotKind, BotOutcome, BotReply, HandoffRequest, kb, llm, webhook};
use crate::service::{self, NewMessage};
use crate::{Engine, now};
use baton_core::conversation::{Actor, BotTurn, Command, HandoffSource};
use baton_core::{
    Conversation, ConversationState, MessageId, MessageRole, QueueId, TenantId, TransitionError,
};
use baton_store::{Customer, Message, StoreError, StoreResult};
use tokio::task::JoinHandle;

/// Intent of bot turns written while the conversation waits for a person.
pub const WHILE_WAITING: &str = "while_waiting";
/// Handoff reason when the bot fails.
pub const BOT_UNAVAILABLE: &str = "bot_unavailable";
/// Transcript entries a bot sees (the webhook gets the last 10 before the message).
const HISTORY: usize = 20;
/// Longest bot reply stored, in characters.
const MAX_REPLY: usize = crate::wire::MAX_TEXT;

/// Everything a bot sees for one customer message.
#[derive(Debug, Clone)]
pub struct TurnContext {
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation as it is when the bot starts.
    pub conversation: Conversation,
    /// Its customer.
    pub customer: Option<Customer>,
    /// The customer message to answer.
    pub message: Message,
    /// Recent customer, bot, agent and system turns up to and including `message`, oldest first.
    pub transcript: Vec<Message>,
    /// The message is a "Talk to a person" button press: its text is the button's label, not
    /// the customer's words, so it is no question to search or answer.
    pub button: bool,
}

impl TurnContext {
    /// The conversation waits for a person: the bot may help meanwhile.
    pub fn waiting(&self) -> bool {
        matches!(
            self.conversation.state,
            ConversationState::Queued | ConversationState::Deferred
        )
    }

    /// The customer's language (primary subtag, lower-case), if known.
    pub fn language(&self) -> Option<String> {
        let lang = self.customer.as_ref()?.language.as_deref()?;
        let primary = lang.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        (!primary.is_empty()).then_some(primary)
    }

    /// Turns before the message, oldest first.
    pub fn history(&self) -> &[Message] {
        &self.transcript[..self.transcript.len().saturating_sub(1)]
    }
}

/// Runs the bot's turn that a customer message enqueued (its [`MessageOutcome::bot_job`]) at
/// once, on this instance, off the request path; the job's row is removed when the turn is
/// done. Should this instance die first, a job worker runs it after the lease
/// ([`service::BOT_JOB_LEASE_MS`]). Returns the task, which tests and callers may await (or
/// drop).
///
/// [`MessageOutcome::bot_job`]: crate::service::MessageOutcome::bot_job
pub fn start(engine: &Engine, job: String, message: &Message) -> JoinHandle<()> {
    let engine = engine.clone();
    let message = message.clone();
    let guard = engine.bots.track();
    tokio::spawn(async move {
        let _guard = guard;
        if let Err(e) = run_job(&engine, &message.tenant, &job).await {
            tracing::warn!(conversation = %message.conversation, error = %e, "bot turn failed to run; retried after the lease");
        }
    })
}

/// Runs a bot job ([`baton_store::BOT_JOB`]) to the end, then removes its row. A turn run
/// twice (its instance died after the reply and before the removal) stores its reply once:
/// the reply's `external_id` names the message it answers.
pub async fn run_job(engine: &Engine, tenant: &TenantId, job: &str) -> StoreResult<()> {
    if let Some((conversation, id, button)) = service::parse_bot_job(job)
        && let Some(message) = engine.store.message(tenant, &conversation, &id).await?
    {
        run_turn(engine, &message, button).await?;
    }
    service::drop_job(engine.store.as_ref(), tenant, job).await
}

/// The `external_id` of what the bot's turn on `message` writes (`what`: `reply` or
/// `connecting`), so that a turn run again stores it once.
fn answer_key(message: &MessageId, what: &str) -> String {
    format!("bot-{what}:{message}")
}

/// One bot turn for `message`, start to finish (`button`: a "Talk to a person" press).
pub async fn run_turn(engine: &Engine, message: &Message, button: bool) -> StoreResult<()> {
    let tenant = &message.tenant;
    if message.role != MessageRole::Customer {
        return Ok(());
    }
    let config = engine.bots.get(engine.store.as_ref(), tenant).await?;
    if config.kind == BotKind::None {
        return Ok(());
    }
    let Some(ctx) = context(engine, message, button).await? else {
        return Ok(());
    };
    if !(ctx.waiting() || ctx.conversation.state == ConversationState::Bot) {
        return Ok(());
    }
    let outcome = match config.kind {
        BotKind::None => return Ok(()),
        BotKind::Kb => kb::answer(engine, &config.kb, &ctx).await,
        BotKind::Webhook => match &config.webhook {
            Some(w) => match engine.outbound.refusal(&w.url) {
                Some(refused) => BotOutcome::Failed(refused),
                None => webhook::call(engine.bots.http(), w, &ctx, now()).await,
            },
            None => BotOutcome::Failed("no webhook configured".into()),
        },
        BotKind::Llm => match &config.llm {
            Some(l) => match engine.outbound.refusal(&l.base_url) {
                Some(refused) => BotOutcome::Failed(refused),
                None => llm::call(engine, l, &config.kb, &ctx).await,
            },
            None => BotOutcome::Failed("no LLM configured".into()),
        },
    };
    // Who asks when this bot hands off: an LLM's tool call is told apart in the analytics.
    let source = match config.kind {
        BotKind::Llm => HandoffSource::Llm,
        _ => HandoffSource::Bot,
    };
    apply(engine, &ctx, outcome, source).await
}

/// Loads the conversation, customer and recent transcript; `None` when the conversation is gone.
async fn context(
    engine: &Engine,
    message: &Message,
    button: bool,
) -> StoreResult<Option<TurnContext>> {
    let store = engine.store.as_ref();
    let tenant = &message.tenant;
    let Some(conversation) = store.conversation(tenant, &message.conversation).await? else {
        return Ok(None);
    };
    let customer = store.customer(tenant, &conversation.customer).await?;
    // The last HISTORY turns up to the message, oldest first, from the end of the transcript
    // (one read, however long the conversation): twice as many entries are read, as notes are
    // skipped and a turn run late may find entries written after its message.
    let mut transcript: Vec<Message> = store
        .recent_messages(tenant, &message.conversation, (2 * HISTORY) as u32)
        .await?
        .into_iter()
        .filter(|m| m.role != MessageRole::Note && m.seq <= message.seq)
        .collect();
    if let Some(extra) = transcript.len().checked_sub(HISTORY) {
        transcript.drain(..extra);
    }
    if transcript.last().map(|m| &m.id) != Some(&message.id) {
        transcript.push(message.clone());
    }
    Ok(Some(TurnContext {
        tenant: tenant.clone(),
        conversation,
        customer,
        message: message.clone(),
        transcript,
        button,
    }))
}

async fn apply(
    engine: &Engine,
    ctx: &TurnContext,
    outcome: BotOutcome,
    source: HandoffSource,
) -> StoreResult<()> {
    let id = &ctx.conversation.id;
    match outcome {
        BotOutcome::Silent => Ok(()),
        BotOutcome::Failed(why) => {
            tracing::warn!(conversation = %id, reason = %why, "bot failed");
            let current = engine
                .store
                .conversation(&ctx.tenant, id)
                .await?
                .map(|c| c.state);
            if current != Some(ConversationState::Bot) {
                // Already waiting for (or with) a person: nothing to hand over.
                return Ok(());
            }
            let text = kb::phrases(ctx.language().as_deref())
                .connecting
                .to_string();
            let system = NewMessage {
                role: MessageRole::System,
                text,
                external_id: Some(answer_key(&ctx.message.id, "connecting")),
                bot: None,
            };
            ignore_refusal(
                service::post_message(
                    engine.store.as_ref(),
                    &ctx.tenant,
                    id,
                    system,
                    &Actor::System,
                    now(),
                    None,
                )
                .await
                .map(|_| ()),
            )?;
            let handoff = HandoffRequest {
                reason: BOT_UNAVAILABLE.into(),
                queue: None,
                note: Some(why),
            };
            request_handoff(engine, ctx, handoff, HandoffSource::Bot).await
        }
        BotOutcome::Reply(reply) => {
            let BotReply {
                text,
                confidence,
                intent,
                fallback,
                handoff,
            } = reply;
            if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
                let turn = BotTurn {
                    confidence,
                    intent,
                    fallback,
                };
                if !post_reply(engine, ctx, text, turn).await? {
                    return Ok(());
                }
            }
            match handoff {
                Some(h) => request_handoff(engine, ctx, h, source).await,
                None => Ok(()),
            }
        }
    }
}

/// Stores the bot's reply through the detector. False when the core refused it (a person owns
/// the conversation now, or it closed).
async fn post_reply(
    engine: &Engine,
    ctx: &TurnContext,
    text: String,
    mut turn: BotTurn,
) -> StoreResult<bool> {
    let tenant = &ctx.tenant;
    let id = &ctx.conversation.id;
    let Some(current) = engine.store.conversation(tenant, id).await? else {
        return Ok(false);
    };
    if matches!(
        current.state,
        ConversationState::Queued | ConversationState::Deferred
    ) {
        turn.intent = Some(WHILE_WAITING.into());
    }
    let now = now();
    let detection = engine.detectors.get(engine.store.as_ref(), tenant).await?;
    let detection_input = service::Detection {
        detector: &detection.detector,
        business_open: detection.calendar.as_ref().map(|c| c.is_open(now)),
        payload: None,
        // Review mode holds low-confidence replies for an agent, as for API-posted bot turns.
        review_below: detection.review_below,
        bot: false,
    };
    let input = NewMessage {
        role: MessageRole::Bot,
        text: super::truncate(&text, MAX_REPLY),
        external_id: Some(answer_key(&ctx.message.id, "reply")),
        bot: Some(turn),
    };
    let posted = service::post_message(
        engine.store.as_ref(),
        tenant,
        id,
        input,
        &Actor::Bot,
        now,
        Some(detection_input),
    )
    .await;
    match posted {
        // The detector may have handed over on this turn (e.g. low confidence): the brief is
        // a follow-up job committed with it.
        Ok(_) => Ok(true),
        Err(e) if is_refusal(&e) => {
            tracing::debug!(conversation = %id, error = %e, "bot reply dropped");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Asks for a person on the bot's behalf, when the conversation is still the bot's (or deferred).
async fn request_handoff(
    engine: &Engine,
    ctx: &TurnContext,
    handoff: HandoffRequest,
    source: HandoffSource,
) -> StoreResult<()> {
    let tenant = &ctx.tenant;
    let id = &ctx.conversation.id;
    let Some(current) = engine.store.conversation(tenant, id).await? else {
        return Ok(());
    };
    if !matches!(
        current.state,
        ConversationState::Bot | ConversationState::Deferred
    ) {
        tracing::debug!(conversation = %id, state = %current.state, "bot handoff request ignored");
        return Ok(());
    }
    let mut queue = None;
    if let Some(raw) = &handoff.queue {
        match QueueId::parse(raw.as_str()) {
            Ok(q) if engine.store.queue(tenant, &q).await?.is_some() => queue = Some(q),
            _ => {
                tracing::debug!(conversation = %id, queue = %raw, "bot asked for an unknown queue")
            }
        }
    }
    let command = Command::RequestHandoff {
        reason: handoff.reason,
        source,
        queue,
        priority: None,
        note: handoff.note.map(|n| super::truncate(&n, 2000)),
    };
    let done = service::run_command(
        engine.store.as_ref(),
        tenant,
        id,
        &command,
        &Actor::Bot,
        now(),
    )
    .await;
    match done {
        Ok(_) => Ok(()),
        Err(e) => ignore_refusal(Err(e)),
    }
}

fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Transition(TransitionError::BotSilenced | TransitionError::InvalidState { .. })
    )
}

/// The conversation moved on meanwhile (assigned, closed): not an error for a background turn.
fn ignore_refusal(result: StoreResult<()>) -> StoreResult<()> {
    match result {
        Err(e) if is_refusal(&e) => {
            tracing::debug!(error = %e, "bot action refused: the conversation moved on");
            Ok(())
        }
        other => other,
    }
}
