//! Row shapes shared by both databases and their conversion to the store's records.
//! The column lists are macros so queries can `concat!` them into `&'static str` SQL.

use crate::model::*;
use crate::{StoreError, StoreResult};
use baton_core::ids::IdError;
use baton_core::{Conversation, Timestamp, ValueError};
use serde::de::DeserializeOwned;
use std::str::FromStr;

macro_rules! api_key_cols {
    () => {
        "id, tenant, name, prefix, created_at, revoked_at"
    };
}

macro_rules! agent_cols {
    () => {
        "id, tenant, email, name, role, status, status_changed_at, skills, languages, queues, \
         capacity, created_at, deactivated_at"
    };
}

macro_rules! queue_cols {
    () => {
        "id, tenant, name, skills, languages, strategy, offer_timeout_secs, settings, created_at"
    };
}

macro_rules! customer_cols {
    () => {
        "id, tenant, external_id, name, email, phone, language, tier, attributes, created_at"
    };
}

macro_rules! message_cols {
    () => {
        "seq, id, tenant, conversation, role, text, agent, external_id, bot, attachment, created_at"
    };
}

macro_rules! event_cols {
    () => {
        "seq, tenant, conversation, kind, actor, data, at"
    };
}

fn id<T: TryFrom<String, Error = IdError>>(s: String) -> StoreResult<T> {
    T::try_from(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn opt_id<T: TryFrom<String, Error = IdError>>(
    s: Option<String>,
) -> StoreResult<Option<T>> {
    s.map(id).transpose()
}

fn parse<T: FromStr<Err = ValueError>>(s: &str) -> StoreResult<T> {
    s.parse().map_err(|e: ValueError| StoreError::Corrupt(e.0))
}

fn json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(s)?)
}

fn number<T: TryFrom<i64>>(n: i64, what: &str) -> StoreResult<T> {
    T::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {n}")))
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Conversations are stored as their full serialized projection (plus queryable columns).
pub(super) fn conversation_from_json(data: &str) -> StoreResult<Conversation> {
    json(data)
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    id: String,
    name: String,
    created_at: i64,
}

impl TenantRow {
    pub(super) fn into_model(self) -> StoreResult<Tenant> {
        Ok(Tenant {
            id: id(self.id)?,
            name: self.name,
            created_at: ts(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    id: String,
    tenant: String,
    name: String,
    prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    pub(super) fn into_model(self) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: id(self.id)?,
            tenant: id(self.tenant)?,
            name: self.name,
            prefix: self.prefix,
            created_at: ts(self.created_at),
            revoked_at: self.revoked_at.map(ts),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AgentRow {
    id: String,
    tenant: String,
    email: String,
    name: String,
    role: String,
    status: String,
    status_changed_at: i64,
    skills: String,
    languages: String,
    queues: String,
    capacity: i64,
    created_at: i64,
    deactivated_at: Option<i64>,
}

impl AgentRow {
    pub(super) fn into_model(self) -> StoreResult<Agent> {
        Ok(Agent {
            id: id(self.id)?,
            tenant: id(self.tenant)?,
            email: self.email,
            name: self.name,
            role: parse(&self.role)?,
            status: parse(&self.status)?,
            status_changed_at: ts(self.status_changed_at),
            skills: json(&self.skills)?,
            languages: json(&self.languages)?,
            queues: json(&self.queues)?,
            capacity: number(self.capacity, "capacity")?,
            created_at: ts(self.created_at),
            deactivated_at: self.deactivated_at.map(ts),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct LoginRow {
    #[sqlx(flatten)]
    pub(super) agent: AgentRow,
    pub(super) password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    tenant: String,
    agent: String,
    expires_at: i64,
}

impl SessionRow {
    pub(super) fn into_model(self) -> StoreResult<Session> {
        Ok(Session {
            tenant: id(self.tenant)?,
            agent: id(self.agent)?,
            expires_at: ts(self.expires_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct QueueRow {
    id: String,
    tenant: String,
    name: String,
    skills: String,
    languages: String,
    strategy: String,
    offer_timeout_secs: i64,
    settings: String,
    created_at: i64,
}

impl QueueRow {
    pub(super) fn into_model(self) -> StoreResult<Queue> {
        Ok(Queue {
            id: id(self.id)?,
            tenant: id(self.tenant)?,
            name: self.name,
            skills: json(&self.skills)?,
            languages: json(&self.languages)?,
            strategy: self.strategy,
            offer_timeout_secs: number(self.offer_timeout_secs, "offer_timeout_secs")?,
            settings: json(&self.settings)?,
            created_at: ts(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CustomerRow {
    id: String,
    tenant: String,
    external_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    language: Option<String>,
    tier: Option<String>,
    attributes: String,
    created_at: i64,
}

impl CustomerRow {
    pub(super) fn into_model(self) -> StoreResult<Customer> {
        Ok(Customer {
            id: id(self.id)?,
            tenant: id(self.tenant)?,
            external_id: self.external_id,
            name: self.name,
            email: self.email,
            phone: self.phone,
            language: self.language,
            tier: self.tier,
            attributes: json(&self.attributes)?,
            created_at: ts(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    seq: i64,
    id: String,
    tenant: String,
    conversation: String,
    role: String,
    text: String,
    agent: Option<String>,
    external_id: Option<String>,
    bot: Option<String>,
    attachment: Option<String>,
    created_at: i64,
}

impl MessageRow {
    pub(super) fn into_model(self) -> StoreResult<Message> {
        Ok(Message {
            id: id(self.id)?,
            tenant: id(self.tenant)?,
            conversation: id(self.conversation)?,
            seq: self.seq,
            role: parse(&self.role)?,
            text: self.text,
            agent: opt_id(self.agent)?,
            external_id: self.external_id,
            bot: self.bot.as_deref().map(json).transpose()?,
            attachment: self.attachment.as_deref().map(json).transpose()?,
            created_at: ts(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    tenant: String,
    conversation: Option<String>,
    kind: String,
    actor: String,
    data: String,
    at: i64,
}

impl EventRow {
    pub(super) fn into_model(self) -> StoreResult<StoredEvent> {
        Ok(StoredEvent {
            seq: self.seq,
            tenant: id(self.tenant)?,
            body: EventBody::from_text(self.kind, self.conversation.is_some(), &self.data)
                .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", self.seq)))?,
            conversation: opt_id(self.conversation)?,
            actor: json(&self.actor)?,
            at: ts(self.at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct IdempotencyRow {
    pub(super) fingerprint: String,
    pub(super) status: Option<i64>,
    pub(super) body: Option<String>,
    pub(super) created_at: i64,
}
