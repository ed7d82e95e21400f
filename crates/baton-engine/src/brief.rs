//! Builds the handoff brief of a conversation from what the store and the knowledge base know:
//! the transcript, the customer and their past conversations, the escalation evaluation, and
//! related articles. The brief itself is computed by the pure core (`baton_core::brief`).

use crate::Engine;
use baton_core::brief::{
    self, ArticleRef, Brief, BriefInput, CustomerProfile, HandoffRequest, PastConversation, Reason,
    Turn,
};
use baton_core::conversation::Conversation;
use baton_core::escalation::sentiment::polarity_scores;
use baton_core::{ConversationState, MessageRole, Timestamp};
use baton_kb::SearchOptions;
use baton_store::{ConversationFilter, Customer, Message, PageRequest, StoreResult};
use serde_json::Value;

/// How much transcript a brief reads.
const TRANSCRIPT_LIMIT: u32 = 500;
/// How many past conversations the profile lists.
const PAST_LIMIT: u32 = 20;

/// The brief of `conv`, or `None` while nobody asked for a person.
pub async fn build(
    engine: &Engine,
    conv: &Conversation,
    agent_name: Option<&str>,
    now: Timestamp,
) -> StoreResult<Option<Brief>> {
    let Some(handoff) = &conv.handoff else {
        return Ok(None);
    };
    let store = engine.store.as_ref();
    let tenant = &conv.tenant;
    let page = PageRequest {
        limit: TRANSCRIPT_LIMIT,
        cursor: None,
    };
    // Files carry no words the brief reads (their text is only the file's name).
    let messages: Vec<_> = store
        .messages(tenant, &conv.id, &page)
        .await?
        .items
        .into_iter()
        .filter(|m| m.attachment.is_none())
        .collect();
    let customer = store.customer(tenant, &conv.customer).await?;
    let filter = ConversationFilter {
        customer: Some(conv.customer.clone()),
        ..Default::default()
    };
    let past_rows = store
        .conversations(
            tenant,
            &filter,
            &PageRequest {
                limit: PAST_LIMIT,
                cursor: None,
            },
        )
        .await?
        .items;
    let past: Vec<PastConversation<'_>> = past_rows
        .iter()
        .filter(|c| c.id != conv.id && c.state == ConversationState::Closed)
        .filter_map(|c| {
            Some(PastConversation {
                id: c.id.as_str(),
                closed_at: c.closed_at?,
                resolution: c.resolution.as_deref(),
                csat: c.csat.map(|s| s.get()),
            })
        })
        .collect();
    let turns: Vec<Turn<'_>> = messages
        .iter()
        .filter(|m| m.role != MessageRole::Note)
        .map(|m| match m.role {
            MessageRole::Customer => Turn::customer(
                m.id.as_str(),
                &m.text,
                m.created_at,
                Some(polarity_scores(&m.text).compound),
            ),
            MessageRole::Bot => Turn {
                bot_intent: m.bot.as_ref().and_then(|b| b.intent.as_deref()),
                fallback: m.bot.as_ref().is_some_and(|b| b.fallback),
                ..Turn::bot(
                    m.id.as_str(),
                    &m.text,
                    m.created_at,
                    m.bot.as_ref().and_then(|b| b.confidence),
                )
            },
            role => Turn::other(m.id.as_str(), role, &m.text, m.created_at),
        })
        .collect();
    let evaluation = conv.escalation.as_ref();
    let reasons: Vec<Reason> = evaluation
        .and_then(|e| e["fired"].as_array())
        .map(|fired| {
            fired
                .iter()
                .filter_map(|r| {
                    Some(Reason {
                        rule: r["id"].as_str()?.to_string(),
                        detail: r["name"].as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let topic_names: Vec<String> = evaluation
        .and_then(|e| e["signals"]["topics"].as_array())
        .map(|t| {
            t.iter()
                .filter_map(|m| m["topic"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let topics: Vec<&str> = topic_names.iter().map(String::as_str).collect();
    // Related articles: what the customer said most recently, in their words.
    let query: String = messages
        .iter()
        .rev()
        .filter(|m| m.role == MessageRole::Customer)
        .take(3)
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // In the language the customer is answered in (as the brief's `reply_language`).
    let language = reply_language(customer.as_ref(), &messages);
    let opts = SearchOptions {
        limit: 3,
        language,
        ..Default::default()
    };
    let articles: Vec<ArticleRef> = engine
        .knowledge
        .search(store, tenant, &query, &opts)
        .await?
        .into_iter()
        .map(|h| ArticleRef {
            id: h.id,
            title: h.title,
            score: f64::from(h.score),
        })
        .collect();
    let settings = engine.detectors.get(store, tenant).await?;
    let mut input = BriefInput::new(&turns, &settings.extractors, now);
    input.customer = CustomerProfile {
        name: customer.as_ref().and_then(|c| c.name.as_deref()),
        tier: customer.as_ref().and_then(|c| c.tier.as_deref()),
        language: customer.as_ref().and_then(|c| c.language.as_deref()),
        email: customer.as_ref().and_then(|c| c.email.as_deref()),
    };
    input.past = &past;
    input.handoff = Some(HandoffRequest {
        reason: &handoff.reason,
        source: handoff.source,
        note: handoff.note.as_deref(),
        at: handoff.at,
    });
    input.reasons = &reasons;
    input.articles = &articles;
    input.topics = &topics;
    input.agent_name = agent_name;
    let built = brief::build_brief(&input);
    Ok(Some(match &conv.llm_summary {
        Some(summary) => built.with_summary(summary.clone()),
        None => built,
    }))
}

/// A brief as the API, webhooks and the event log show it: its times in RFC 3339.
pub fn to_json(brief: &Brief) -> Value {
    let mut value = serde_json::to_value(brief).expect("briefs serialize");
    crate::wire::times_to_rfc3339(&mut value);
    value
}

/// The brief recorded after a handoff (the follow-up job in [`crate::jobs`]): the brief with
/// the LLM-written summary when the tenant configured an LLM. `None` when the conversation has
/// no handoff to brief on.
pub async fn build_for_handoff(engine: &Engine, conv: &Conversation) -> StoreResult<Option<Brief>> {
    let Some(brief) = build(engine, conv, None, crate::now()).await? else {
        return Ok(None);
    };
    Ok(Some(match llm_summary(engine, conv).await {
        Some(summary) => brief.with_summary(summary),
        None => brief,
    }))
}

/// Instructions for the LLM-written summary.
const SUMMARY_PROMPT: &str = "You write handoff notes for customer support agents. In 2 or 3 \
plain sentences (no lists, under 400 characters) say what the customer wants (with order \
numbers or amounts they gave), what the bot already tried, and where it stands (mood, who asked \
for a person and why). Never invent facts.";

/// An LLM-written summary, when the tenant configured an LLM; `None` (logged) otherwise or on
/// failure, so the template summary stands.
async fn llm_summary(engine: &Engine, conv: &Conversation) -> Option<String> {
    let config = engine
        .bots
        .get(engine.store.as_ref(), &conv.tenant)
        .await
        .ok()?;
    let settings = config.llm.as_ref()?;
    let page = PageRequest {
        limit: TRANSCRIPT_LIMIT,
        cursor: None,
    };
    let messages = engine
        .store
        .messages(&conv.tenant, &conv.id, &page)
        .await
        .ok()?
        .items;
    let transcript = crate::bots::llm::transcript_text(&messages, 12_000);
    match crate::bots::llm::complete(engine, settings, SUMMARY_PROMPT, &transcript).await {
        Ok(text) => Some(text.chars().take(600).collect()),
        Err(e) => {
            tracing::warn!(conversation = %conv.id, error = %e, "LLM summary failed; keeping the template summary");
            None
        }
    }
}

/// The language to answer the customer in: their profile's, else the one they write in when
/// it can be told ([`baton_core::language::of_customer`], as the brief's `reply_language`).
pub fn reply_language(customer: Option<&Customer>, messages: &[Message]) -> Option<String> {
    baton_core::language::of_customer(
        customer.and_then(|c| c.language.as_deref()),
        messages
            .iter()
            .filter(|m| m.role == MessageRole::Customer)
            .map(|m| m.text.as_str()),
    )
}
