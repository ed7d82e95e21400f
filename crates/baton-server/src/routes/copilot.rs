//! The agent copilot: drafted replies (knowledge base and canned responses) with every choice
//! recorded, and review mode (approve or reject bot replies held for low confidence).

use super::{visible_conversation, visible_id};
use crate::auth::Principal;
use crate::dto::{ConversationView, MAX_TEXT, MessageView, optional_text, required_text, token};
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_core::conversation::{Command, DraftAction};
use baton_core::{MessageId, MessageRole, Role};
use baton_engine::detection::{self, REVIEW, ReviewSettings};
use baton_engine::service;
use baton_kb::SearchOptions;
use baton_store::{Message, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Setting key of the tenant's canned responses.
pub const CANNED: &str = "canned_responses";

/// The copilot routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(drafts))
        .routes(routes!(use_draft))
        .routes(routes!(approve_held))
        .routes(routes!(reject_held))
        .routes(routes!(get_canned, put_canned))
        .routes(routes!(get_review, put_review))
}

/// A canned response: its text's variables (`{{customer.name}}`, `{{customer.first_name}}`,
/// `{{customer.email}}`, `{{agent.name}}`, `{{agent.first_name}}`; the older
/// `{customer_name}` and `{agent_name}` are first names) are filled in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// Id: 1-60 of `a-z`, `0-9`, `_`, `-`, `:`, `.`; unique in the list.
    #[schema(pattern = "^[a-z0-9_:.-]{1,60}$")]
    pub id: String,
    /// Title.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// Text with placeholders.
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub text: String,
    /// Words that make it relevant.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The language it is written in (BCP 47, `es`, `pt-BR`); drafts offer it only to
    /// customers of that language. Absent: English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^\s*[A-Za-z0-9-]{1,16}\s*$")]
    pub language: Option<String>,
}

/// A drafted reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct Draft {
    /// Stable id (`kb:<article>` or `canned:<id>`).
    pub id: String,
    /// `kb` or `canned`.
    pub source: String,
    /// The reply text, ready to send or edit.
    pub text: String,
    /// Where it comes from (article or canned response title).
    pub title: String,
    /// Relevance in [0, 1].
    pub score: f64,
}

/// Drafts for a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftsResponse {
    /// Best first.
    pub items: Vec<Draft>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect()
}

/// Whether a word the customer wrote is a canned response's word: the same, or one a form of
/// the other ("charge", "charged", "charges"), not merely sharing a start ("pause", "paused"
/// yes; "card", "cardigan" no: at most three more letters).
fn same_word(asked: &str, word: &str) -> bool {
    let (short, long) = if asked.len() <= word.len() {
        (asked, word)
    } else {
        (word, asked)
    };
    long.starts_with(short) && long.chars().count() - short.chars().count() <= 3
}

/// An article match too weak to draft a reply from, as `1 − e^(−score/10)` (see
/// [`baton_kb::confidence`]): a score under about 2, one common word in a large knowledge base.
/// (BM25 scores are low in a small one, so the bar is low.)
const MIN_ARTICLE_STRENGTH: f64 = 0.2;
/// A second article is drafted only when it scores at least this share of the first.
const SECOND_ARTICLE_SHARE: f32 = 0.6;
/// The most a canned response scores: an article with a confidence above this answers the
/// question better than any canned response matched on its title and tags.
const CANNED_CEILING: f64 = 0.45;

/// The whole sentences of a search passage: without the marks of a cut (`…`) and without a
/// sentence cut short at either end; `None` when no whole sentence is left.
fn whole_sentences(passage: &str) -> Option<String> {
    let mut text = passage.trim();
    if let Some(rest) = text.strip_prefix('…') {
        // The passage starts at a sentence (see baton_kb's snippets); only the mark goes.
        text = rest.trim_start();
    }
    if let Some(rest) = text.strip_suffix('…') {
        // Cut inside a sentence: keep up to the last sentence end.
        let end = rest.rfind(['.', '!', '?'])?;
        text = &rest[..=end];
    }
    let text = text.trim();
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_numeric() || !c.is_alphabetic());
    (starts_well && text.ends_with(['.', '!', '?'])).then(|| text.to_owned())
}

/// The variables a canned response may use, as `{{customer.name}}`.
pub const CANNED_VARIABLES: &[&str] = &[
    "customer.name",
    "customer.first_name",
    "customer.email",
    "agent.name",
    "agent.first_name",
];

/// What a canned response's variables are filled with.
#[derive(Debug, Clone, Copy)]
pub struct FillWith<'a> {
    /// The customer's full name, if known ("there" otherwise: "Hi there").
    pub customer_name: Option<&'a str>,
    /// The customer's email, if known (empty otherwise).
    pub customer_email: Option<&'a str>,
    /// The agent's full name.
    pub agent_name: &'a str,
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

impl FillWith<'_> {
    fn value(&self, variable: &str) -> Option<String> {
        let customer = self.customer_name.map(str::trim).filter(|n| !n.is_empty());
        Some(match variable {
            "customer.name" => customer.unwrap_or("there").to_string(),
            "customer.first_name" => customer.map(first_word).unwrap_or("there").to_string(),
            "customer.email" => self.customer_email.unwrap_or("").to_string(),
            "agent.name" => self.agent_name.trim().to_string(),
            "agent.first_name" => first_word(self.agent_name).to_string(),
            _ => return None,
        })
    }
}

/// The `{{...}}` variables of a template, trimmed, in order.
fn variables(template: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + template[at..].find("{{")?;
        let end = start + 2 + template[start + 2..].find("}}")?;
        at = end + 2;
        Some((start..end + 2, template[start + 2..end].trim()))
    })
}

/// A template's unknown variable, if it has one (so an admin's typo is a 422, not a reply
/// with `{{custmer.name}}` in it).
pub fn unknown_variable(template: &str) -> Option<String> {
    variables(template)
        .map(|(_, v)| v)
        .find(|v| !CANNED_VARIABLES.contains(v))
        .map(String::from)
}

/// Fills `{{customer.name}}`-style variables (and the older `{customer_name}` and
/// `{agent_name}`, first names).
pub fn fill(template: &str, with: &FillWith<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut last = 0;
    for (range, variable) in variables(template) {
        if let Some(value) = with.value(variable) {
            out.push_str(&template[last..range.start]);
            out.push_str(&value);
            last = range.end;
        }
    }
    out.push_str(&template[last..]);
    let first = with
        .value("customer.first_name")
        .unwrap_or_else(|| "there".into());
    out.replace("{customer_name}", &first)
        .replace("{agent_name}", first_word(with.agent_name))
}

/// Drafted replies for the conversation's latest customer messages.
#[utoipa::path(get, path = "/v1/conversations/{id}/drafts", tag = "copilot",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = DraftsResponse)), security(("bearer" = [])))]
async fn drafts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DraftsResponse>> {
    let me = principal.require_role(Role::Agent)?.clone();
    let conv = visible_conversation(&state, &principal, &id).await?;
    let id = conv.id.clone();
    let store = state.store().as_ref();
    let messages: Vec<Message> = store
        .messages(
            &principal.tenant,
            &id,
            &PageRequest {
                limit: 500,
                cursor: None,
            },
        )
        .await?
        .items;
    let recent: Vec<&str> = messages
        .iter()
        .rev()
        .filter(|m| m.role == MessageRole::Customer && m.attachment.is_none())
        .take(2)
        .map(|m| m.text.as_str())
        .collect();
    let query = recent.join(" ");
    let customer = store.customer(&principal.tenant, &conv.customer).await?;
    let customer_name = customer
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .and_then(|n| n.split_whitespace().next());
    let agent = store
        .agent(&principal.tenant, &me)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    let agent_name = agent.split_whitespace().next().unwrap_or("").to_string();
    // Drafts are written in the customer's language (English when it cannot be told), from
    // articles and canned responses in that language; none in a language Baton does not write.
    let language = baton_engine::brief::reply_language(customer.as_ref(), &messages)
        .unwrap_or_else(|| "en".to_owned());
    let mut items = Vec::new();
    let phrases = baton_engine::bots::kb::written(&language);
    if let (Some(phrases), false) = (phrases, query.trim().is_empty()) {
        let hits = state
            .engine
            .knowledge
            .search(
                store,
                &principal.tenant,
                &query,
                &SearchOptions {
                    limit: 2,
                    language: Some(language.clone()),
                    ..Default::default()
                },
            )
            .await?;
        let confidence = baton_kb::confidence(&hits);
        let top = hits.first().map_or(0.0, |h| h.score);
        let hello = match customer_name {
            Some(name) => phrases.hello.0.replace("{name}", name),
            None => phrases.hello.1.to_owned(),
        };
        for (rank, hit) in hits.into_iter().enumerate() {
            // A weak match (one common word), or a second article far behind the first, is no
            // reply: the agent is better without it.
            let strength = 1.0 - (-f64::from(hit.score) / 10.0).exp();
            if strength < MIN_ARTICLE_STRENGTH || hit.score < SECOND_ARTICLE_SHARE * top {
                continue;
            }
            let Some(passage) = whole_sentences(&hit.snippet) else {
                continue;
            };
            items.push(Draft {
                id: format!("kb:{}", hit.id),
                source: "kb".into(),
                text: phrases
                    .draft
                    .replace("{hello}", &hello)
                    .replace("{title}", &hit.title)
                    .replace("{snippet}", &passage),
                title: hit.title,
                score: if rank == 0 {
                    confidence
                } else {
                    strength.min(confidence) / 2.0
                },
            });
        }
    }
    let canned: Vec<CannedResponse> = store
        .setting(&principal.tenant, CANNED)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let asked = words(&query);
    for c in canned {
        let written_in = c
            .language
            .as_deref()
            .and_then(baton_core::language::primary)
            .unwrap_or_else(|| "en".to_owned());
        if written_in != language {
            continue;
        }
        let mut vocabulary: Vec<String> = words(&c.title)
            .into_iter()
            .chain(c.tags.iter().map(|t| t.to_lowercase()))
            .collect();
        vocabulary.sort();
        vocabulary.dedup();
        let matched = vocabulary
            .iter()
            .filter(|w| asked.iter().any(|a| same_word(a, w)))
            .count();
        if matched > 0 {
            items.push(Draft {
                id: format!("canned:{}", c.id),
                source: "canned".into(),
                text: fill(
                    &c.text,
                    &FillWith {
                        customer_name: customer.as_ref().and_then(|c| c.name.as_deref()),
                        customer_email: customer.as_ref().and_then(|c| c.email.as_deref()),
                        agent_name: &agent,
                    },
                ),
                title: c.title,
                // More matched words rank higher, but never above an article the knowledge
                // base is fairly sure of (its confidence from CANNED_CEILING up).
                score: CANNED_CEILING * (1.0 - (-(matched as f64)).exp()),
            });
        }
    }
    let customer_name = customer_name.unwrap_or("there").to_owned();
    if let Some(draft) = llm_draft(
        &state,
        &principal.tenant,
        &messages,
        &customer_name,
        &agent_name,
    )
    .await
    {
        items.push(draft);
    }
    items.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(Json(DraftsResponse { items }))
}

/// What the agent did with a draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseDraftBody {
    /// The draft's id.
    #[schema(max_length = 140, pattern = "^(kb|canned|llm)(:[a-z0-9_:.-]*)?$")]
    pub draft_id: String,
    /// `sent`, `edited` or `ignored`.
    #[schema(value_type = String, pattern = "^(sent|edited|ignored)$")]
    pub action: DraftAction,
    /// The text sent (required for `edited`; defaults to the draft's for `sent`).
    #[schema(max_length = 20000)]
    pub text: Option<String>,
}

/// Send, edit-and-send or ignore a draft; the choice is recorded as a `draft_used` event.
#[utoipa::path(post, path = "/v1/conversations/{id}/drafts/use", tag = "copilot",
    params(("id" = String, Path, description = "Conversation id")), request_body = UseDraftBody,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn use_draft(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<UseDraftBody>,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    let id = visible_id(&state, &principal, &id).await?;
    let draft_id = token("draft_id", &body.draft_id, 140)?;
    let source = draft_id.split(':').next().unwrap_or("").to_string();
    if !["kb", "canned", "llm"].contains(&source.as_str()) {
        return Err(ApiError::invalid(
            "invalid_field",
            "draft_id must be an id from GET .../drafts",
        ));
    }
    let text = optional_text("text", body.text, MAX_TEXT)?;
    let actor = principal.actor();
    // The reply and the record of the draft's use commit together.
    let mut commands = Vec::new();
    if body.action != DraftAction::Ignored {
        let text = text.ok_or_else(|| {
            ApiError::invalid("missing_field", "text is required to send a draft")
        })?;
        commands.push(Command::AddMessage(
            baton_core::conversation::MessageRecord {
                id: baton_core::MessageId::with_suffix(&baton_store::ids::new_suffix()),
                role: MessageRole::Agent,
                text,
                agent: actor.agent().cloned(),
                external_id: None,
                bot: None,
                attachment: None,
            },
        ));
    }
    commands.push(Command::RecordDraftUse {
        draft_id,
        source,
        action: body.action,
    });
    let outcome = service::run_commands(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &commands,
        &actor,
        now(),
    )
    .await?;
    Ok(Json(ConversationView::new(outcome.conversation, None)))
}

/// Approve a held bot reply (optionally edited): it is sent to the customer as the bot's.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Replacement text.
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub text: Option<String>,
}

fn held_id(raw: &str) -> ApiResult<MessageId> {
    MessageId::parse(raw).map_err(|_| ApiError::NotFound("held reply"))
}

/// Approve a bot reply held by review mode.
#[utoipa::path(post, path = "/v1/conversations/{id}/held/{held_id}/approve", tag = "copilot",
    params(("id" = String, Path, description = "Conversation id"), ("held_id" = String, Path, description = "Held reply id")),
    request_body = Option<ApproveBody>,
    responses((status = 201, body = MessageView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn approve_held(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, held)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    principal.require_role(Role::Agent)?;
    let body: ApproveBody = crate::error::optional_json(&body)?;
    let id = visible_id(&state, &principal, &id).await?;
    let held = held_id(&held)?;
    let text = body
        .text
        .map(|t| required_text("text", t, MAX_TEXT))
        .transpose()?;
    let command = Command::ApproveHeld {
        id: held.clone(),
        text,
    };
    service::run_command(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &command,
        &principal.actor(),
        now(),
    )
    .await?;
    let message = state
        .store()
        .message(&principal.tenant, &id, &held)
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    Ok((StatusCode::CREATED, Json(message.into())))
}

/// Reject a bot reply held by review mode.
#[utoipa::path(post, path = "/v1/conversations/{id}/held/{held_id}/reject", tag = "copilot",
    params(("id" = String, Path, description = "Conversation id"), ("held_id" = String, Path, description = "Held reply id")),
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn reject_held(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, held)): Path<(String, String)>,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    let id = visible_id(&state, &principal, &id).await?;
    let command = Command::RejectHeld {
        id: held_id(&held)?,
    };
    let outcome = service::run_command(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &command,
        &principal.actor(),
        now(),
    )
    .await?;
    Ok(Json(ConversationView::new(outcome.conversation, None)))
}

/// The tenant's canned responses.
#[utoipa::path(get, path = "/v1/canned-responses", tag = "copilot",
    responses((status = 200, body = Vec<CannedResponse>)), security(("bearer" = [])))]
async fn get_canned(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    principal.require_role(Role::Agent)?;
    Ok(Json(
        state
            .store()
            .setting(&principal.tenant, CANNED)
            .await?
            .unwrap_or_else(|| serde_json::json!([])),
    ))
}

/// Replace the canned responses.
#[utoipa::path(put, path = "/v1/canned-responses", tag = "copilot", request_body = Vec<CannedResponse>,
    responses((status = 200, body = Vec<CannedResponse>), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_canned(
    State(state): State<AppState>,
    principal: Principal,
    Json(mut body): Json<Vec<CannedResponse>>,
) -> ApiResult<Json<serde_json::Value>> {
    principal.require_role(Role::Admin)?;
    for c in &mut body {
        if let Some(language) = c.language.take() {
            c.language = crate::dto::languages(vec![language])?.pop();
        }
    }
    if body.len() > 500 {
        return Err(ApiError::invalid(
            "too_many",
            "at most 500 canned responses",
        ));
    }
    for (i, c) in body.iter().enumerate() {
        token(&format!("[{i}].id"), &c.id, 60)?;
        required_text(&format!("[{i}].title"), c.title.clone(), 200)?;
        required_text(&format!("[{i}].text"), c.text.clone(), MAX_TEXT)?;
        if let Some(v) = unknown_variable(&c.text) {
            return Err(ApiError::invalid(
                "unknown_variable",
                format!(
                    "[{i}].text uses {{{{{v}}}}}; the variables are {}",
                    CANNED_VARIABLES
                        .iter()
                        .map(|v| format!("{{{{{v}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if body[..i].iter().any(|o| o.id == c.id) {
            return Err(ApiError::invalid(
                "duplicate_id",
                format!("[{i}].id '{}' is used twice", c.id),
            ));
        }
    }
    let value = serde_json::to_value(&body).unwrap_or_default();
    service::put_settings(
        state.store().as_ref(),
        &principal.tenant,
        &[(CANNED, value.clone())],
        &principal.actor(),
        now(),
    )
    .await?;
    Ok(Json(value))
}

/// Review mode settings.
#[utoipa::path(get, path = "/v1/review", tag = "copilot",
    responses((status = 200, body = ReviewSettings)), security(("bearer" = [])))]
async fn get_review(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    principal.require_role(Role::Supervisor)?;
    let value = state.store().setting(&principal.tenant, REVIEW).await?;
    Ok(Json(value.unwrap_or_else(
        || serde_json::json!({"enabled": false, "threshold": 0.5}),
    )))
}

/// Turn review mode on or off: `{"enabled": true, "threshold": 0.5}`.
#[utoipa::path(put, path = "/v1/review", tag = "copilot", request_body = ReviewSettings,
    responses((status = 200, body = ReviewSettings), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_review(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ReviewSettings>,
) -> ApiResult<Json<serde_json::Value>> {
    principal.require_role(Role::Admin)?;
    let value = serde_json::to_value(&body).unwrap_or_default();
    detection::parse_review(&value)
        .map_err(|e| ApiError::invalid("invalid_review", e.to_string()))?;
    service::put_settings(
        state.store().as_ref(),
        &principal.tenant,
        &[(REVIEW, value.clone())],
        &principal.actor(),
        now(),
    )
    .await?;
    state.engine.detectors.invalidate(&principal.tenant);
    Ok(Json(value))
}

/// Instructions for LLM-drafted replies.
const DRAFT_PROMPT: &str = "You draft the next reply of a human customer support agent. Write \
only the reply text, in the customer's language, friendly and concise, without promising what \
the transcript does not support.";

/// A reply drafted by the tenant's LLM, when one is configured.
async fn llm_draft(
    state: &AppState,
    tenant: &baton_core::TenantId,
    messages: &[Message],
    customer_name: &str,
    agent_name: &str,
) -> Option<Draft> {
    let config = state
        .engine
        .bots
        .get(state.store().as_ref(), tenant)
        .await
        .ok()?;
    let settings = config.llm.as_ref()?;
    let transcript = baton_engine::bots::llm::transcript_text(messages, 12_000);
    let user =
        format!("Customer: {customer_name}. Agent: {agent_name}.\n\nTranscript:\n{transcript}");
    match baton_engine::bots::llm::complete(&state.engine, settings, DRAFT_PROMPT, &user).await {
        Ok(text) => Some(Draft {
            id: "llm:reply".into(),
            source: "llm".into(),
            text,
            title: "Suggested by the assistant".into(),
            score: 0.5,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "LLM draft failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_variables_are_filled_and_checked() {
        let with = FillWith {
            customer_name: Some("Maya  Chen"),
            customer_email: Some("maya@shop.example"),
            agent_name: "Sara Lopez",
        };
        assert_eq!(
            fill(
                "Hi {{customer.first_name}} ({{ customer.name }}, {{customer.email}}), {{agent.name}} here. {customer_name}/{agent_name} {{x}} {{",
                &with
            ),
            "Hi Maya (Maya  Chen, maya@shop.example), Sara Lopez here. Maya/Sara {{x}} {{"
        );
        let unknown = FillWith {
            customer_name: None,
            customer_email: None,
            agent_name: "Sara",
        };
        assert_eq!(
            fill("Hi {{customer.name}}{{customer.email}}!", &unknown),
            "Hi there!"
        );
        assert_eq!(unknown_variable("Hi {{customer.name}}"), None);
        assert_eq!(
            unknown_variable("Hi {{customer.name}} {{ custmer.name }}").as_deref(),
            Some("custmer.name")
        );
        assert_eq!(unknown_variable("no variables {single}"), None);
    }
}
