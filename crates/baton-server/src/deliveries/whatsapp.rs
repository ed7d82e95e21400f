//! WhatsApp deliveries: bot and agent messages of `whatsapp` conversations go to the customer
//! through the Graph API messages endpoint (`routes::channels` stores the channel).
//!
//! Free-form messages only reach a customer within 24 hours of their last message. Outside
//! that window the tenant's fallback template is sent instead, when one is configured;
//! otherwise the delivery fails for good with an error that says so. The same applies when
//! Meta itself answers 131047 (its clock decides). Rate limits and outages are retried.

use super::{Attempt, Job};
use crate::AppState;
use crate::routes::channels::{
    HANDOFF_BUTTON_ID, HANDOFF_BUTTON_TITLE, WHATSAPP_CHANNEL, WhatsappConfig,
};
use baton_channels::whatsapp::{self, SendError};
use baton_core::conversation::EventKind;
use baton_core::{Conversation, ConversationState, MessageRole};

/// The error of a message that cannot be sent because the window closed.
pub const OUTSIDE_WINDOW: &str = "outside WhatsApp's 24-hour customer-service window; configure a fallback template (fallback_template in PUT /v1/channels/whatsapp)";

/// Sends one job.
pub async fn deliver(state: &AppState, job: &Job) -> Attempt {
    let Some(EventKind::MessageAdded { message }) = job.event.event() else {
        return Attempt::Skipped(format!("{} is not sent to WhatsApp", job.event.kind()));
    };
    if !matches!(message.role, MessageRole::Bot | MessageRole::Agent) {
        let role = message.role.as_str();
        return Attempt::Skipped(format!("{role} messages are not sent to the customer"));
    }
    let Some(conv) = &job.conversation else {
        return Attempt::Skipped("the conversation no longer exists".into());
    };
    if conv.channel != WHATSAPP_CHANNEL {
        return Attempt::Skipped(format!("a {} conversation", conv.channel));
    }
    let text = message.text.as_str();
    if text.trim().is_empty() {
        return Attempt::Skipped("an empty message".into());
    }
    let store = state.store().as_ref();
    let config = match WhatsappConfig::load(store, &conv.tenant).await {
        Ok(Some(config)) => config,
        Ok(None) => return Attempt::permanent("the WhatsApp channel is not configured"),
        Err(e) => return Attempt::retry(format!("reading the WhatsApp channel: {e}")),
    };
    let to = match store.customer(&conv.tenant, &conv.customer).await {
        Ok(Some(c)) => match c.external_id {
            Some(wa_id) if !wa_id.trim().is_empty() => wa_id,
            _ => return Attempt::permanent("the customer has no WhatsApp id"),
        },
        Ok(None) => return Attempt::permanent("the customer no longer exists"),
        Err(e) => return Attempt::retry(format!("reading the customer: {e}")),
    };
    let last_customer_message = match last_customer_message_ms(state, conv).await {
        Ok(at) => at,
        Err(e) => return Attempt::retry(e),
    };
    if let Some(refused) = config
        .api_base_url
        .as_deref()
        .and_then(|base| state.engine.outbound.refusal(base))
    {
        return Attempt::retry(refused);
    }
    let client = config.client(state.engine.bots.http().clone());
    let within = last_customer_message
        .is_some_and(|at| whatsapp::within_service_window(at, crate::now().millis()));
    if !within {
        return send_template(&client, &config, &to).await;
    }
    let offer_button = message.role == MessageRole::Bot
        && conv.state == ConversationState::Bot
        && config.offers_handoff_button()
        && text.chars().count() <= whatsapp::MAX_INTERACTIVE_BODY;
    let sent = if offer_button {
        client
            .send_buttons(&to, text, &[(HANDOFF_BUTTON_ID, HANDOFF_BUTTON_TITLE)])
            .await
    } else {
        client.send_text(&to, &truncate(text)).await
    };
    match sent {
        Ok(wamid) => {
            tracing::debug!(conversation = %conv.id, wamid, "WhatsApp message sent");
            Attempt::Delivered
        }
        // Meta's clock says the window closed: as if we had noticed it ourselves.
        Err(SendError::OutsideServiceWindow(_)) => send_template(&client, &config, &to).await,
        Err(e) => failed(e),
    }
}

/// Outside the window: the fallback template, or a permanent failure that says what to do.
async fn send_template(client: &whatsapp::Client, config: &WhatsappConfig, to: &str) -> Attempt {
    let Some(template) = &config.fallback_template else {
        return Attempt::permanent(OUTSIDE_WINDOW);
    };
    match client
        .send_template(to, &template.name, &template.language)
        .await
    {
        Ok(_) => Attempt::Delivered,
        Err(e) => failed(e),
    }
}

fn failed(e: SendError) -> Attempt {
    Attempt::Failed {
        retryable: e.retryable(),
        error: e.to_string(),
        retry_after: e.retry_after(),
    }
}

/// WhatsApp takes 4096 characters; longer agent replies are cut with an ellipsis.
fn truncate(text: &str) -> String {
    if text.chars().count() <= whatsapp::MAX_TEXT {
        return text.to_string();
    }
    let mut out: String = text.chars().take(whatsapp::MAX_TEXT - 1).collect();
    out.push('…');
    out
}

/// When the customer last wrote in this conversation (Unix ms), from its analytics facts.
async fn last_customer_message_ms(
    state: &AppState,
    conv: &Conversation,
) -> Result<Option<i64>, String> {
    let facts = state
        .store()
        .facts(&conv.tenant, &conv.id)
        .await
        .map_err(|e| format!("reading the conversation's facts: {e}"))?;
    Ok(facts
        .and_then(|f| f.last_customer_message_at)
        .map(|t| t.millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_are_cut_to_whatsapp_size() {
        assert_eq!(truncate("hello"), "hello");
        let long = "é".repeat(whatsapp::MAX_TEXT + 5);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), whatsapp::MAX_TEXT);
        assert!(cut.ends_with('…'));
    }
}
