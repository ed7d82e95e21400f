//! Wire shapes of the API: request bodies (validated into domain values here, at the
//! boundary) and responses (built from store records).

use crate::error::{ApiError, ApiResult};
use baton_core::conversation::{BotTurn, Conversation};
use baton_core::{AgentStatus, Role, Timestamp};
use baton_store::{Agent, ApiKey, Customer, Message, Queue, Skill, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use baton_engine::wire::{MAX_TEXT, rfc3339, times_to_rfc3339};

/// Parses an RFC 3339 time from a query or body.
pub fn parse_time(field: &str, value: &str) -> ApiResult<Timestamp> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| Timestamp::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| {
            ApiError::invalid(
                "invalid_time",
                format!("{field} must be an RFC 3339 time such as 2026-01-31T09:00:00Z"),
            )
        })
}

/// Checks an optional free-text field's length; blank becomes absent.
pub fn optional_text(field: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(
            "too_long",
            format!("{field} must be at most {max} characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}

/// Checks a required free-text field: not blank, not too long.
pub fn required_text(field: &str, value: String, max: usize) -> ApiResult<String> {
    optional_text(field, Some(value), max)?
        .ok_or_else(|| ApiError::invalid("missing_field", format!("{field} must not be empty")))
}

/// Checks a short machine token: lowercase letters, digits, `_`, `-`, `:` and `.`.
pub fn token(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-:.".contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(ApiError::invalid(
            "invalid_field",
            format!("{field} must be 1-{max} characters of a-z, 0-9, '_', '-', ':' or '.'"),
        ))
    }
}

/// Customer details when starting a conversation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    /// The tenant's own id for this customer; a known one links the conversation to them.
    #[schema(max_length = 200)]
    pub external_id: Option<String>,
    /// Name.
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Email (blank or with an `@` and no whitespace).
    #[schema(max_length = 254, pattern = "^(\\s*|[^\\s]*@[^\\s]*)$")]
    pub email: Option<String>,
    /// Phone, E.164 preferred.
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    /// Language (BCP 47, e.g. `en`, `pt-BR`).
    #[schema(max_length = 16, pattern = "^(\\s*|[A-Za-z0-9-]*)$")]
    pub language: Option<String>,
    /// Tier, e.g. `vip`.
    #[schema(max_length = 40)]
    pub tier: Option<String>,
    /// Free attributes.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl CustomerBody {
    /// Validates into the store's input.
    pub fn validate(self) -> ApiResult<baton_engine::service::CustomerInput> {
        let email = optional_text("customer.email", self.email, 254)?;
        if let Some(e) = &email
            && (!e.contains('@') || e.contains(char::is_whitespace))
        {
            return Err(ApiError::invalid(
                "invalid_email",
                "customer.email is not an email address",
            ));
        }
        let language = optional_text("customer.language", self.language, 16)?;
        if let Some(l) = &language
            && !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ApiError::invalid(
                "invalid_language",
                "customer.language must be a BCP 47 tag such as en or pt-BR",
            ));
        }
        Ok(baton_engine::service::CustomerInput {
            external_id: optional_text("customer.external_id", self.external_id, 200)?,
            name: optional_text("customer.name", self.name, 200)?,
            email,
            phone: optional_text("customer.phone", self.phone, 40)?,
            language,
            tier: optional_text("customer.tier", self.tier, 40)?,
            attributes: self.attributes,
        })
    }
}

/// `POST /v1/conversations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversationBody {
    /// Who the customer is.
    #[serde(default)]
    pub customer: CustomerBody,
    /// Channel name (`web`, `whatsapp`, `api`, `sms`...). Default `api`.
    #[schema(pattern = "^[a-z0-9_:.-]{1,32}$")]
    pub channel: Option<String>,
    /// Conversation attributes (page URL, order context...).
    #[schema(value_type = Object)]
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// Bot metadata on a bot message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotTurnBody {
    /// Confidence in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: Option<f64>,
    /// Recognised intent.
    #[schema(max_length = 100)]
    pub intent: Option<String>,
    /// Whether the bot fell back ("I didn't understand").
    #[serde(default)]
    pub fallback: bool,
}

impl BotTurnBody {
    /// Validates into the core type.
    pub fn validate(self) -> ApiResult<BotTurn> {
        if let Some(c) = self.confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(ApiError::invalid(
                "invalid_confidence",
                "bot.confidence must be between 0 and 1",
            ));
        }
        Ok(BotTurn {
            confidence: self.confidence,
            intent: optional_text("bot.intent", self.intent, 100)?,
            fallback: self.fallback,
        })
    }
}

/// Language tags as [`languages`] accepts them (trimmed and lowercased there).
pub fn language_tags() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[A-Za-z0-9-]{1,16}\s*$")),
        )
        .description(Some("Language tags such as `en` or `pt-br`"))
        .build()
}

/// `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageBody {
    /// `customer` or `bot` for integrations (required); agents may omit it (always `agent`).
    /// A role the credential may not write as is a 403.
    #[schema(pattern = "^(customer|bot|agent)$")]
    pub role: Option<String>,
    /// The text.
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub text: String,
    /// The channel's own message id: a repeat is not stored twice.
    #[schema(max_length = 200)]
    pub external_id: Option<String>,
    /// Bot metadata (bot messages only).
    pub bot: Option<BotTurnBody>,
    /// A button or quick-reply payload, e.g. `"talk_to_human"` from a "Talk to a person"
    /// button (a request for a person with certainty).
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

/// `POST /v1/conversations/{id}/handoff`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffBody {
    /// Machine-readable reason, e.g. `customer_request`, `billing_dispute`.
    #[schema(pattern = "^[a-z0-9_:.-]{1,100}$")]
    pub reason: String,
    /// Target queue id.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub queue: Option<String>,
    /// Priority 0-100.
    #[schema(minimum = 0, maximum = 100)]
    #[serde(default, deserialize_with = "crate::input::integral::optional")]
    pub priority: Option<i64>,
    /// Note for the agent.
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// For integrations: who asked (`customer`, `bot` or `api`, the default). People may not
    /// set it (403).
    #[schema(pattern = "^(customer|bot|api)$")]
    pub source: Option<String>,
    /// A supervisor taking over beyond their capacity, on purpose (recorded as a
    /// `capacity_overridden` event). Others get 403.
    #[serde(default)]
    pub override_capacity: bool,
}

/// `POST /v1/conversations/{id}/claim` and `/accept` (the body is optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeBody {
    /// A supervisor taking the conversation beyond their capacity, on purpose (recorded as a
    /// `capacity_overridden` event). Others get 403.
    #[serde(default)]
    pub override_capacity: bool,
}

/// `POST /v1/conversations/{id}/transfer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Target agent id.
    pub to_agent: Option<String>,
    /// Target queue id.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub to_queue: Option<String>,
    /// Note for the next agent.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub note: String,
    /// A supervisor giving `to_agent` the conversation beyond her capacity, on purpose
    /// (recorded as a `capacity_overridden` event). Others get 403.
    #[serde(default)]
    pub override_capacity: bool,
}

/// `POST /v1/conversations/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note.
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub text: String,
}

/// `POST /v1/conversations/{id}/close`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// How it ended, e.g. `resolved`, `refund_issued`.
    #[schema(pattern = "^[a-z0-9_:.-]{1,100}$")]
    pub resolution: Option<String>,
}

/// `POST /v1/conversations/{id}/csat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatBody {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "crate::input::integral::exact")]
    pub score: i64,
    /// Optional comment.
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

/// A customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    /// Id.
    pub id: String,
    /// The tenant's id.
    pub external_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Free attributes.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Creation time.
    pub created_at: String,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        CustomerView {
            id: c.id.to_string(),
            external_id: c.external_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            language: c.language,
            tier: c.tier,
            attributes: c.attributes,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// Why and by whom a human was requested.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffView {
    /// Machine-readable reason.
    pub reason: String,
    /// `customer`, `bot`, `agent`, `api` or `rule`.
    pub source: String,
    /// Note.
    pub note: Option<String>,
    /// When.
    pub at: String,
}

/// A pending offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    /// The agent.
    pub agent: String,
    /// When it lapses.
    pub expires_at: String,
}

/// A transfer waiting for its target to accept; the assignee keeps the conversation meanwhile.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    /// The owner who asked.
    pub from_agent: String,
    /// The agent it goes to (the offer is theirs), if one was named.
    pub to_agent: Option<String>,
    /// The queue it goes to (offered to its agents in turn), if one was named.
    pub to_queue: Option<String>,
    /// Note for the next agent.
    pub note: String,
    /// When it was asked for.
    pub requested_at: String,
}

/// A conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    /// Id.
    pub id: String,
    /// `bot`, `queued`, `assigned`, `deferred` or `closed`.
    pub state: String,
    /// Channel.
    pub channel: String,
    /// Queue.
    pub queue: Option<String>,
    /// Priority 0-100.
    pub priority: u8,
    /// Owner while assigned.
    pub assignee: Option<String>,
    /// Customer id.
    pub customer_id: String,
    /// Customer profile (on single-conversation responses).
    pub customer: Option<CustomerView>,
    /// The customer's name, when known: on single-conversation responses and on list items
    /// (lists look up at most 50 distinct customers per page; beyond that it is null).
    pub customer_name: Option<String>,
    /// Conversation attributes.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Latest handoff request.
    pub handoff: Option<HandoffView>,
    /// Pending offer: to route a queued conversation, or the target's offer of a pending
    /// transfer.
    pub offer: Option<OfferView>,
    /// A pending transfer (the assignee keeps the conversation until the target accepts).
    pub transfer: Option<TransferView>,
    /// Resolution at the last close.
    pub resolution: Option<String>,
    /// CSAT score.
    pub csat: Option<u8>,
    /// Transcript length (notes excluded).
    pub message_count: u32,
    /// The latest escalation evaluation: signals, fired rules, decision.
    #[schema(value_type = Option<Object>)]
    pub escalation: Option<Value>,
    /// Bot replies waiting for an agent's approval (review mode).
    pub held: Vec<HeldView>,
    /// The handoff brief (built by the brief engine; null until it exists).
    #[schema(value_type = Option<Object>)]
    pub brief: Option<Value>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Last entered the queue.
    pub queued_at: Option<String>,
    /// Last assigned.
    pub assigned_at: Option<String>,
    /// Last closed.
    pub closed_at: Option<String>,
    /// Place in line while queued and waiting (1 is next), from the live router when read.
    pub position: Option<u32>,
    /// Estimated seconds until an agent takes it (with `position`); null when nobody is staffed.
    pub estimated_wait_secs: Option<u64>,
    /// Why the router made the pending offer, or how the owner got the conversation: queue,
    /// strategy, candidates with scores and exclusions, why the winner won, the relaxation
    /// step in force. Null when it was never routed, and while it waits with no offer (a lapsed
    /// or declined offer's explanation is dropped; `GET .../routing` says why it is not offered
    /// to you).
    #[schema(value_type = Option<Object>)]
    pub routing: Option<Value>,
    /// While deferred: when the team is expected back (the next opening of the queue's
    /// hours); null when unknown (open hours with nobody staffed, or no hours set).
    pub back_at: Option<String>,
}

impl ConversationView {
    /// Builds the view, with the customer when given.
    pub fn new(c: Conversation, customer: Option<Customer>) -> Self {
        ConversationView {
            id: c.id.to_string(),
            state: c.state.as_str().to_string(),
            channel: c.channel,
            queue: c.queue.map(String::from),
            priority: c.priority.get(),
            assignee: c.assignee.map(String::from),
            customer_id: c.customer.to_string(),
            customer_name: customer.as_ref().and_then(|c| c.name.clone()),
            customer: customer.map(CustomerView::from),
            attributes: c.attributes,
            handoff: c.handoff.map(|h| HandoffView {
                reason: h.reason,
                source: serde_json::to_value(h.source)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                note: h.note,
                at: rfc3339(h.at),
            }),
            offer: c.offer.map(|o| OfferView {
                agent: o.agent.to_string(),
                expires_at: rfc3339(o.expires_at),
            }),
            transfer: c.transfer.map(|t| TransferView {
                from_agent: t.from_agent.to_string(),
                to_agent: t.to_agent.map(String::from),
                to_queue: t.to_queue.map(String::from),
                note: t.note,
                requested_at: rfc3339(t.requested_at),
            }),
            resolution: c.resolution,
            csat: c.csat.map(|s| s.get()),
            message_count: c.message_count,
            escalation: c.escalation,
            held: c
                .held
                .into_iter()
                .map(|h| HeldView {
                    id: h.id.to_string(),
                    text: h.text,
                    confidence: h.bot.and_then(|b| b.confidence),
                })
                .collect(),
            brief: None,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            queued_at: c.queued_at.map(rfc3339),
            assigned_at: c.assigned_at.map(rfc3339),
            closed_at: c.closed_at.map(rfc3339),
            position: c.position,
            estimated_wait_secs: c.estimated_wait_secs,
            routing: c.routing,
            back_at: c.back_at.map(rfc3339),
        }
    }
}

/// `GET /v1/conversations/{id}/routing`: how routing sees a conversation, for the person
/// asking.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingView {
    /// The conversation's state.
    pub state: String,
    /// Who it is offered to now, if anyone.
    pub offered_to: Option<String>,
    /// The explanation of its latest offer: queue, strategy, candidates with scores and
    /// exclusions (a cool-down, ...), why the winner won. Null when it was never offered.
    #[schema(value_type = Option<Object>)]
    pub explanation: Option<Value>,
    /// Whether `why_not_me` comes from the live router (false: this instance does not route
    /// the tenant, and worked it out from the stored state, which may lag a few seconds).
    pub live: bool,
    /// Why it is not offered to you now, in words (your status, queue, skills, languages,
    /// capacity, a cool-down after your decline, the queue's hours, others ahead of it).
    /// Empty when nothing keeps you from it.
    pub why_not_me: Vec<String>,
}

/// A held bot reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldView {
    /// Its id (the message id it gets once approved).
    pub id: String,
    /// The proposed text.
    pub text: String,
    /// The bot's confidence.
    pub confidence: Option<f64>,
}

/// Bot metadata of a stored message.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotTurnView {
    /// Confidence.
    pub confidence: Option<f64>,
    /// Intent.
    pub intent: Option<String>,
    /// Fallback.
    pub fallback: bool,
}

/// A transcript entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// Id.
    pub id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// `customer`, `bot`, `agent`, `system` or `note`.
    pub role: String,
    /// Text.
    pub text: String,
    /// Author, for agent turns and notes.
    pub agent_id: Option<String>,
    /// Channel id.
    pub external_id: Option<String>,
    /// Bot metadata.
    pub bot: Option<BotTurnView>,
    /// The file this message carries (its `text` is then the file's name); download it from
    /// `GET /v1/conversations/{conversation_id}/attachments/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentView>,
    /// When stored.
    pub created_at: String,
}

/// A file attached to a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    /// Its id (`att_...`).
    pub id: String,
    /// The file's name.
    pub filename: String,
    /// Its media type, found in its content: `image/png`, `image/jpeg`, `image/gif`,
    /// `image/webp` or `application/pdf`.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

impl From<baton_core::conversation::AttachmentRef> for AttachmentView {
    fn from(a: baton_core::conversation::AttachmentRef) -> Self {
        AttachmentView {
            id: a.id.to_string(),
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
        }
    }
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id.to_string(),
            conversation_id: m.conversation.to_string(),
            role: m.role.as_str().to_string(),
            text: m.text,
            agent_id: m.agent.map(String::from),
            external_id: m.external_id,
            bot: m.bot.map(|b| BotTurnView {
                confidence: b.confidence,
                intent: b.intent,
                fallback: b.fallback,
            }),
            attachment: m.attachment.map(AttachmentView::from),
            created_at: rfc3339(m.created_at),
        }
    }
}

/// Response of posting a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostMessageResponse {
    /// The stored message (the earlier one for a duplicate).
    pub message: MessageView,
    /// The conversation's state after it.
    pub state: String,
    /// The conversation after it.
    pub conversation: ConversationView,
    /// What the escalation detector measured and which rules fired (null when not evaluated).
    #[schema(value_type = Option<Object>)]
    pub escalation: Option<Value>,
    /// True when this `external_id` was seen before and nothing new was stored.
    pub duplicate: bool,
    /// True when review mode held this bot reply for an agent (HTTP 202): the customer sees
    /// it only once an agent approves it.
    pub held: bool,
}

/// An event of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Position in the log.
    pub seq: i64,
    /// Conversation, for conversation events.
    pub conversation_id: Option<String>,
    /// Event type, e.g. `handoff_requested`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who did it: `{"type": "agent", "id": ...}`, `{"type": "customer"}`...
    #[schema(value_type = Object)]
    pub actor: Value,
    /// The event's fields.
    #[schema(value_type = Object)]
    pub data: Value,
    /// When.
    pub at: String,
}

impl From<&StoredEvent> for EventView {
    fn from(e: &StoredEvent) -> Self {
        EventView {
            seq: e.seq,
            conversation_id: e.conversation.as_ref().map(|c| c.to_string()),
            kind: e.kind().to_string(),
            actor: serde_json::to_value(&e.actor).unwrap_or(Value::Null),
            data: {
                let mut data = e.body.to_json();
                times_to_rfc3339(&mut data);
                data
            },
            at: rfc3339(e.at),
        }
    }
}

/// A skill with a level.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillView {
    /// Name: 1-40 characters of a-z, 0-9, `_`, `-`, `:` or `.`.
    #[schema(pattern = "^[a-z0-9_:.-]{1,40}$")]
    pub name: String,
    /// Level 1-10.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(deserialize_with = "crate::input::integral::exact")]
    pub level: u8,
}

/// Validates skills from a body.
pub fn skills(field: &str, skills: Vec<SkillView>) -> ApiResult<Vec<Skill>> {
    skills
        .into_iter()
        .map(|s| {
            let name = token(field, &s.name, 40)?;
            if !(1..=10).contains(&s.level) {
                return Err(ApiError::invalid(
                    "invalid_skill",
                    format!("{field}: level must be 1-10"),
                ));
            }
            Ok(Skill {
                name,
                level: s.level,
            })
        })
        .collect()
}

fn skill_views(skills: Vec<Skill>) -> Vec<SkillView> {
    skills
        .into_iter()
        .map(|s| SkillView {
            name: s.name,
            level: s.level,
        })
        .collect()
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// Id.
    pub id: String,
    /// Login email; null in the team directory as a person with the `agent` role sees it (their
    /// own excepted): supervisors and admins see every email.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// `agent`, `supervisor` or `admin`.
    pub role: String,
    /// `available`, `busy`, `away` or `offline`.
    pub status: String,
    /// When the status last changed.
    pub status_changed_at: String,
    /// Skills.
    pub skills: Vec<SkillView>,
    /// Languages.
    pub languages: Vec<String>,
    /// Queues.
    pub queues: Vec<String>,
    /// Maximum concurrent conversations.
    pub capacity: u32,
    /// Creation time.
    pub created_at: String,
    /// False once deactivated (see `PATCH /v1/agents/{id}`).
    pub active: bool,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        AgentView {
            id: a.id.to_string(),
            email: Some(a.email),
            name: a.name,
            role: a.role.as_str().to_string(),
            status: a.status.as_str().to_string(),
            status_changed_at: rfc3339(a.status_changed_at),
            skills: skill_views(a.skills),
            languages: a.languages,
            queues: a.queues.into_iter().map(String::from).collect(),
            capacity: a.capacity,
            created_at: rfc3339(a.created_at),
            active: a.deactivated_at.is_none(),
        }
    }
}

/// `PUT /v1/agents/me/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `available`, `busy`, `away` or `offline`.
    #[schema(pattern = "^(available|busy|away|offline)$")]
    pub status: String,
}

impl StatusBody {
    /// Parses the status.
    pub fn parse(&self) -> ApiResult<AgentStatus> {
        self.status
            .parse()
            .map_err(|e: baton_core::ValueError| ApiError::invalid("invalid_status", e.0))
    }
}

/// Parses a role name.
pub fn role(value: &str) -> ApiResult<Role> {
    value
        .parse()
        .map_err(|e: baton_core::ValueError| ApiError::invalid("invalid_role", e.0))
}

/// `POST /v1/agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentBody {
    /// Login email.
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,31})?@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    )]
    pub email: String,
    /// Display name.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    /// Initial password: at least 12 characters, not the email, not a well-known password.
    #[schema(min_length = 12)]
    pub password: String,
    /// Role; default `agent`.
    #[schema(pattern = "^(agent|supervisor|admin)$")]
    pub role: Option<String>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<SkillView>,
    /// Languages.
    #[serde(default)]
    #[schema(schema_with = language_tags)]
    pub languages: Vec<String>,
    /// Queue ids.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Capacity 1-100; default 3.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "crate::input::integral::optional")]
    pub capacity: Option<u32>,
}

/// `PATCH /v1/agents/{id}`: only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentBody {
    /// Display name.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: Option<String>,
    /// Role: `agent`, `supervisor` or `admin`.
    #[schema(pattern = "^(agent|supervisor|admin)$")]
    pub role: Option<String>,
    /// Status: `available`, `busy`, `away` or `offline`.
    #[schema(pattern = "^(available|busy|away|offline)$")]
    pub status: Option<String>,
    /// Skills.
    pub skills: Option<Vec<SkillView>>,
    /// Languages.
    pub languages: Option<Vec<String>>,
    /// Queue ids.
    pub queues: Option<Vec<String>>,
    /// Capacity 1-100.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "crate::input::integral::optional")]
    pub capacity: Option<u32>,
    /// New password: at least 12 characters, not the email, not a well-known password.
    #[schema(min_length = 12)]
    pub password: Option<String>,
    /// `false` deactivates the agent (history kept; they cannot log in, their sessions end and
    /// they are offered nothing); `true` reactivates them (offline until they log in).
    pub active: Option<bool>,
}

/// Validates a capacity.
pub fn capacity(value: u32) -> ApiResult<u32> {
    if (1..=100).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            "invalid_capacity",
            "capacity must be between 1 and 100",
        ))
    }
}

/// Validates language tags.
pub fn languages(values: Vec<String>) -> ApiResult<Vec<String>> {
    values
        .into_iter()
        .map(|l| {
            let l = l.trim().to_ascii_lowercase();
            if l.is_empty()
                || l.len() > 16
                || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                Err(ApiError::invalid(
                    "invalid_language",
                    format!("'{l}' is not a language tag such as en or pt-br"),
                ))
            } else {
                Ok(l)
            }
        })
        .collect()
}

/// A queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Required skills.
    pub skills: Vec<SkillView>,
    /// Languages served.
    pub languages: Vec<String>,
    /// Routing strategy.
    pub strategy: String,
    /// Offer window in seconds.
    pub offer_timeout_secs: u32,
    /// Router settings (overflow, hours, weights).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Creation time.
    pub created_at: String,
}

impl From<Queue> for QueueView {
    fn from(q: Queue) -> Self {
        QueueView {
            id: q.id.to_string(),
            name: q.name,
            skills: skill_views(q.skills),
            languages: q.languages,
            strategy: q.strategy,
            offer_timeout_secs: q.offer_timeout_secs,
            settings: q.settings,
            created_at: rfc3339(q.created_at),
        }
    }
}

/// `POST /v1/queues` and `PUT /v1/queues/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueBody {
    /// Id (POST only; default derived from the name).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: Option<String>,
    /// Name.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    /// Required skills.
    #[serde(default)]
    pub skills: Vec<SkillView>,
    /// Languages served (empty: any).
    #[serde(default)]
    #[schema(schema_with = language_tags)]
    pub languages: Vec<String>,
    /// `round_robin`, `longest_idle`, `least_busy` or `best_match`; default `longest_idle`.
    #[schema(pattern = "^(round_robin|longest_idle|least_busy|best_match)$")]
    pub strategy: Option<String>,
    /// Offer window in seconds (5-600); default 30.
    #[schema(minimum = 5, maximum = 600)]
    #[serde(default, deserialize_with = "crate::input::integral::optional")]
    pub offer_timeout_secs: Option<u32>,
    /// Router settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// The routing strategies a queue may use.
pub const STRATEGIES: [&str; 4] = ["round_robin", "longest_idle", "least_busy", "best_match"];

/// An API key (never its secret, except once at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// First characters of the secret.
    pub prefix: String,
    /// Creation time.
    pub created_at: String,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// The secret: present only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        ApiKeyView {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
            key: None,
        }
    }
}

/// `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyBody {
    /// What the key is for.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Tenant id, only needed when the same email and password open accounts in several
    /// tenants (emails are unique per tenant).
    pub tenant: Option<String>,
}

/// Login response.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Session token for `Authorization: Bearer`.
    pub token: String,
    /// Who logged in.
    pub agent: AgentView,
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Cursor for the next page, or null.
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=` on lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Validates into a store page request.
    pub fn into_request(self) -> ApiResult<baton_store::PageRequest> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::invalid(
                "invalid_limit",
                "limit must be between 1 and 500",
            ));
        }
        Ok(baton_store::PageRequest {
            limit,
            cursor: self.cursor,
        })
    }
}
