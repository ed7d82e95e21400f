//! A turn or a lifecycle command the way every entry point runs it (the API, the widget,
//! WhatsApp), so that they behave alike.

use crate::bots::BotKind;
use crate::service::{self, MessageOutcome, NewMessage, Outcome};
use crate::{Engine, now};
use baton_core::conversation::{Actor, Command};
use baton_core::{ConversationId, TenantId};
use baton_store::StoreResult;

/// Adds a customer, bot or agent turn the way the API does: escalation detection (with the
/// button `payload`, if any) in the same transaction, with the bot's turn on a new customer
/// message as a job, which this instance then runs in the background. Routing and the handoff
/// brief follow from the events.
/// Channels (WhatsApp) call this for inbound customer messages, so they behave exactly like
/// `POST /v1/conversations/{id}/messages`. A duplicate `external_id` runs nothing again.
pub async fn add_turn(
    engine: &Engine,
    tenant: &TenantId,
    id: &ConversationId,
    input: NewMessage,
    actor: &Actor,
    payload: Option<&serde_json::Value>,
) -> StoreResult<MessageOutcome> {
    let now = now();
    let tenant_detection = engine.detectors.get(engine.store.as_ref(), tenant).await?;
    let bot = engine.bots.get(engine.store.as_ref(), tenant).await?;
    let detection = service::Detection {
        detector: &tenant_detection.detector,
        business_open: tenant_detection.calendar.as_ref().map(|c| c.is_open(now)),
        payload,
        review_below: tenant_detection.review_below,
        bot: bot.kind != BotKind::None,
    };
    let outcome = service::post_message(
        engine.store.as_ref(),
        tenant,
        id,
        input,
        actor,
        now,
        Some(detection),
    )
    .await?;
    if let Some(job) = &outcome.bot_job {
        // The bot answers in the background; the response does not wait for it.
        crate::bots::runner::start(engine, job.clone(), &outcome.message);
    }
    Ok(outcome)
}

/// Runs a lifecycle command the way the API does: the command in one transaction (capacity
/// enforced unless `override_capacity`) with its follow-up jobs (the handoff brief). Routing
/// follows from its events. Channels (WhatsApp's "Talk to a person" button) call this too.
pub async fn apply_command(
    engine: &Engine,
    tenant: &TenantId,
    id: &ConversationId,
    command: Command,
    actor: &Actor,
    override_capacity: bool,
) -> StoreResult<Outcome> {
    service::run_commands_as(
        engine.store.as_ref(),
        tenant,
        id,
        std::slice::from_ref(&command),
        actor,
        now(),
        override_capacity,
    )
    .await
}
