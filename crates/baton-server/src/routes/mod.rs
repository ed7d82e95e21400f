//! Route modules, one `router()` each, merged in `lib.rs`.

pub mod analytics;
pub mod audit;
pub mod bot;
pub mod channels;
pub mod config;
pub mod conversations;
pub mod copilot;
pub mod kb;
pub mod notifications;
pub mod ops;
pub mod people;
pub mod rules;
pub mod web;
pub mod webhooks;
pub mod widget;

use crate::error::{ApiError, ApiResult};
use baton_core::{AgentId, ConversationId, QueueId};

/// Parses a path id; a malformed id cannot exist, so it is a 404.
pub fn conversation_id(raw: &str) -> ApiResult<ConversationId> {
    ConversationId::parse(raw).map_err(|_| ApiError::NotFound("conversation"))
}

/// Parses an agent id from a path.
pub fn agent_id(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).map_err(|_| ApiError::NotFound("agent"))
}

/// Parses a queue id from a path.
pub fn queue_id(raw: &str) -> ApiResult<QueueId> {
    QueueId::parse(raw).map_err(|_| ApiError::NotFound("queue"))
}
