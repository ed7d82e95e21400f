//! Email deliveries through the instance's SMTP server (`[smtp]`; `routes::channels` turns email
//! on per tenant):
//!
//! - `handoff_requested`: the agents who opted in (`notify_agents`) get a notification with the
//!   reason, the brief's summary and a link that opens the conversation in the console.
//! - `message_added` by an agent, in a conversation followed up by email (it was `deferred` at
//!   some point, or its channel is `email`): the customer gets the reply, with the case reference
//!   in the subject and `In-Reply-To`/`References` so their mail client threads the case.
//! - `closed`, for such conversations: the customer gets the transcript with the case reference.
//!
//! The customer's address is their profile's email (the widget's "leave your email" form sets it
//! through `POST /v1/conversations/{id}/contact`), or else the last address they wrote in the
//! conversation. WhatsApp conversations are answered on WhatsApp, never by email.

use super::{Attempt, Job};
use crate::AppState;
use crate::dto::rfc3339;
use baton_channels::email::{self, Email, Mailer};
use baton_core::conversation::{EventKind, MessageRecord};
use baton_core::{AgentId, Conversation, MessageRole};
use baton_store::{Message, PageRequest};
use std::collections::HashMap;

/// The error when there is something to send but no SMTP server.
pub const NO_SMTP: &str = "SMTP is not configured: set [smtp] in the config file or BATON_SMTP_HOST and BATON_SMTP_FROM, then redeliver";

/// Sends one job.
pub async fn deliver(state: &AppState, job: &Job) -> Attempt {
    let Some(conv) = &job.conversation else {
        return Attempt::Skipped("not a conversation event".into());
    };
    let emails = match job.event.event() {
        Some(EventKind::HandoffRequested { reason, .. }) => {
            handoff_notifications(state, job, conv, reason).await
        }
        Some(EventKind::MessageAdded { message }) => agent_reply(state, message, conv).await,
        Some(EventKind::Closed { .. }) => transcript(state, conv).await,
        _ => Ok(Plan::Skip(format!("{} sends no email", job.event.kind()))),
    };
    let emails = match emails {
        Ok(Plan::Send(emails)) => emails,
        Ok(Plan::Skip(why)) => return Attempt::Skipped(why),
        Err(e) => return Attempt::retry(e),
    };
    let Some(mailer) = &state.mailer else {
        return Attempt::permanent(NO_SMTP);
    };
    for email in &emails {
        if let Err(e) = mailer.send(&threaded(mailer, email)).await {
            return Attempt::Failed {
                retryable: e.retryable(),
                error: format!("sending to {}: {e}", email.to),
                retry_after: e.retry_after(),
            };
        }
    }
    Attempt::Delivered
}

/// What to send for an event.
enum Plan {
    Send(Vec<Email>),
    Skip(String),
}

/// The case reference of a conversation: its id without the prefix, upper-cased
/// (`conv_01jx…` is `01JX…`), so support can find the conversation from an email subject.
pub fn case_reference(conv: &Conversation) -> String {
    let id = conv.id.as_str();
    id.split_once('_')
        .map_or(id, |(_, rest)| rest)
        .to_ascii_uppercase()
}

/// Fills in message ids for threading: the `Message-ID` the renderer left out is derived from
/// the thread key kept in `message_id` (`<key@sender-domain>`), and so are the references.
fn threaded(mailer: &Mailer, email: &Email) -> Email {
    let domain = mailer.from().email.domain().to_string();
    let id = |key: &str| format!("<{key}@{domain}>");
    let mut email = email.clone();
    email.message_id = email.message_id.as_deref().map(id);
    email.in_reply_to = email.in_reply_to.as_deref().map(id);
    email.references = email.references.as_deref().map(|keys| {
        keys.split_whitespace()
            .map(id)
            .collect::<Vec<_>>()
            .join(" ")
    });
    email
}

async fn handoff_notifications(
    state: &AppState,
    job: &Job,
    conv: &Conversation,
    reason: &str,
) -> Result<Plan, String> {
    let ids: Vec<String> = job.subscription.config["notify_agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let store = state.store().as_ref();
    let mut agents = Vec::new();
    for id in ids {
        let Ok(id) = AgentId::parse(id) else { continue };
        match store.agent(&conv.tenant, &id).await {
            Ok(Some(agent)) if agent.email.contains('@') => agents.push(agent),
            Ok(_) => {}
            Err(e) => return Err(format!("reading agent {id}: {e}")),
        }
    }
    if agents.is_empty() {
        return Ok(Plan::Skip("no agent with an email opted in".into()));
    }
    let customer = store
        .customer(&conv.tenant, &conv.customer)
        .await
        .map_err(|e| format!("reading the customer: {e}"))?;
    let customer_name = customer
        .and_then(|c| c.name)
        .unwrap_or_else(|| "A customer".into());
    let reason = match reason {
        "" => "a person was requested".to_string(),
        reason => reason.replace('_', " "),
    };
    let brief = baton_engine::brief::build(&state.engine, conv, None, crate::now())
        .await
        .map_err(|e| format!("building the brief: {e}"))?;
    let summary = brief.map(|b| b.summary);
    let link = format!(
        "{}/console#c/{}",
        state.public_url.trim_end_matches('/'),
        conv.id
    );
    Ok(Plan::Send(
        agents
            .iter()
            .map(|agent| {
                email::handoff_notification(
                    &agent.email,
                    &agent.name,
                    &customer_name,
                    &reason,
                    summary.as_deref(),
                    &link,
                )
            })
            .collect(),
    ))
}

/// The customer's address and name, for a conversation followed up by email.
struct Recipient {
    email: String,
    name: String,
}

/// Whether a conversation is followed up by email, and where to: `Skip` says why not.
async fn follow_up_recipient(
    state: &AppState,
    conv: &Conversation,
    transcript: &[Message],
) -> Result<Result<Recipient, String>, String> {
    if conv.channel == "whatsapp" {
        return Ok(Err("WhatsApp conversations are answered on WhatsApp".into()));
    }
    if conv.channel != "email" && !was_deferred(state, conv).await? {
        return Ok(Err(
            "the conversation was never deferred and is not an email conversation".into(),
        ));
    }
    let customer = state
        .store()
        .customer(&conv.tenant, &conv.customer)
        .await
        .map_err(|e| format!("reading the customer: {e}"))?;
    let name = customer
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| "there".into());
    let profile = customer
        .and_then(|c| c.email)
        .filter(|e| looks_like_email(e));
    let left = transcript
        .iter()
        .rev()
        .filter(|m| m.role == MessageRole::Customer)
        .find_map(|m| email_in(&m.text));
    Ok(match profile.or(left) {
        Some(email) => Ok(Recipient { email, name }),
        None => Err("the customer left no email address".into()),
    })
}

async fn agent_reply(
    state: &AppState,
    message: &MessageRecord,
    conv: &Conversation,
) -> Result<Plan, String> {
    if message.role != MessageRole::Agent {
        return Ok(Plan::Skip("only agent replies are emailed".into()));
    }
    let text = message.text.as_str();
    let message_id = message.id.as_str();
    let transcript = transcript_of(state, conv).await?;
    let recipient = match follow_up_recipient(state, conv, &transcript).await? {
        Ok(r) => r,
        Err(why) => return Ok(Plan::Skip(why)),
    };
    let agent_name = match &message.agent {
        Some(agent) => state
            .store()
            .agent(&conv.tenant, agent)
            .await
            .map_err(|e| format!("reading the agent: {e}"))?
            .map(|a| a.name),
        None => None,
    }
    .unwrap_or_else(|| "Support".into());
    let reference = case_reference(conv);
    let mut email = email::agent_reply(
        &recipient.email,
        &recipient.name,
        &agent_name,
        text,
        &reference,
    );
    // Threading keys (made into `<key@domain>` ids by `threaded`): every email of a case refers
    // to the case's root, and to the agent reply before it.
    let root = format!("case-{}", reference.to_ascii_lowercase());
    let previous = transcript
        .iter()
        .filter(|m| m.role == MessageRole::Agent)
        .take_while(|m| m.id.as_str() != message_id)
        .last()
        .map(|m| format!("reply-{}", m.id));
    email.message_id = Some(format!("reply-{message_id}"));
    email.in_reply_to = Some(previous.clone().unwrap_or_else(|| root.clone()));
    email.references = Some(match previous {
        Some(previous) => format!("{root} {previous}"),
        None => root,
    });
    Ok(Plan::Send(vec![email]))
}

async fn transcript(state: &AppState, conv: &Conversation) -> Result<Plan, String> {
    let messages = transcript_of(state, conv).await?;
    let recipient = match follow_up_recipient(state, conv, &messages).await? {
        Ok(r) => r,
        Err(why) => return Ok(Plan::Skip(why)),
    };
    let mut names: HashMap<AgentId, String> = HashMap::new();
    let mut lines: Vec<(String, String, String)> = Vec::new();
    for m in &messages {
        let who = match m.role {
            MessageRole::Customer => recipient.name.clone(),
            MessageRole::Bot => "Assistant".into(),
            MessageRole::Agent => {
                let name = match &m.agent {
                    Some(agent) => {
                        if !names.contains_key(agent) {
                            let name = state
                                .store()
                                .agent(&conv.tenant, agent)
                                .await
                                .map_err(|e| format!("reading an agent: {e}"))?
                                .map_or_else(|| "Support".into(), |a| a.name);
                            names.insert(agent.clone(), name);
                        }
                        names[agent].clone()
                    }
                    None => "Support".into(),
                };
                format!("{name} (agent)")
            }
            // Internal notes and system lines are not part of what the customer saw.
            _ => continue,
        };
        lines.push((who, rfc3339(m.created_at), m.text.clone()));
    }
    let lines: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let reference = case_reference(conv);
    let mut email = email::transcript(&recipient.email, &recipient.name, &reference, &lines);
    let root = format!("case-{}", reference.to_ascii_lowercase());
    email.message_id = Some(format!(
        "transcript-{}-{}",
        reference.to_ascii_lowercase(),
        conv.closed_at.map_or(0, |t| t.millis())
    ));
    email.in_reply_to = Some(root.clone());
    email.references = Some(root);
    Ok(Plan::Send(vec![email]))
}

/// The whole transcript, oldest first.
async fn transcript_of(state: &AppState, conv: &Conversation) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: 500,
        cursor: None,
    };
    loop {
        let found = state
            .store()
            .messages(&conv.tenant, &conv.id, &page)
            .await
            .map_err(|e| format!("reading the transcript: {e}"))?;
        out.extend(found.items);
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(out),
        }
    }
}

/// Whether the conversation was ever deferred (from its analytics facts, not its event log).
async fn was_deferred(state: &AppState, conv: &Conversation) -> Result<bool, String> {
    if conv.state == baton_core::ConversationState::Deferred {
        return Ok(true);
    }
    let facts = state
        .store()
        .facts(&conv.tenant, &conv.id)
        .await
        .map_err(|e| format!("reading the conversation's facts: {e}"))?;
    Ok(facts.is_some_and(|f| !f.deferrals.is_empty()))
}

/// The last email address in a text ("My email is ann@example.com."), if any.
fn email_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .rev()
        .map(|w| {
            w.trim_matches(|c: char| {
                !(c.is_alphanumeric() || matches!(c, '@' | '.' | '_' | '-' | '+'))
            })
            .trim_end_matches('.')
        })
        .find(|w| looks_like_email(w))
        .map(str::to_string)
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.trim().split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_a_customer_left() {
        assert_eq!(
            email_in("My email is ann@example.com.").as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(
            email_in("write to <bob.smith+x@mail.example.org>, thanks").as_deref(),
            Some("bob.smith+x@mail.example.org")
        );
        assert_eq!(email_in("I am @home, email me"), None);
        assert_eq!(email_in("a@b"), None);
    }

    #[test]
    fn case_reference_is_the_id_without_prefix() {
        let conv = Conversation::new(
            baton_core::ConversationId::parse("conv_01jxabc").unwrap(),
            baton_core::TenantId::parse("ten_1").unwrap(),
            baton_core::CustomerId::parse("cus_1").unwrap(),
            "web".into(),
            baton_core::Timestamp::from_millis(0),
        );
        assert_eq!(case_reference(&conv), "01JXABC");
    }
}
