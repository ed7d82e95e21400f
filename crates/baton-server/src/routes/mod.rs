//! Route modules, one `router()` each, merged in `lib.rs`.

pub mod analytics;
pub mod attachments;
pub mod audit;
pub mod bot;
pub mod channels;
pub mod config;
pub mod conversations;
pub mod copilot;
pub mod customers;
pub mod kb;
pub mod notifications;
pub mod ops;
pub mod people;
pub mod rules;
pub mod sight;
pub mod typing;
pub mod web;
pub mod webhooks;
pub mod widget;
pub mod widget_identity;

use crate::AppState;
use crate::auth::{Principal, PrincipalKind};
use crate::error::{ApiError, ApiResult};
use baton_core::{AgentId, Conversation, ConversationId, QueueId, Role};
use baton_store::AgentScope;

/// Parses a path id; a malformed id cannot exist, so it is a 404.
pub fn conversation_id(raw: &str) -> ApiResult<ConversationId> {
    ConversationId::parse(raw).map_err(|_| ApiError::NotFound("conversation"))
}

/// Which conversations `principal` may see: `Some` scope for people with the `agent` role
/// (their own and their teams', see [`AgentScope`]), `None` for everything of the tenant
/// (supervisors, admins, API keys; customer tokens are held to their one conversation by
/// `widget::customer_may`).
pub async fn scope_of(state: &AppState, principal: &Principal) -> ApiResult<Option<AgentScope>> {
    match &principal.kind {
        PrincipalKind::Person { agent, role } if !role.at_least(Role::Supervisor) => Ok(
            baton_engine::service::agent_scope(state.store().as_ref(), &principal.tenant, agent)
                .await?,
        ),
        _ => Ok(None),
    }
}

/// The conversation with path id `raw` if `principal` may see it. One they may not see is a
/// 404 like one that does not exist, so its existence does not leak.
pub async fn visible_conversation(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> ApiResult<Conversation> {
    let id = conversation_id(raw)?;
    let store = state.store().as_ref();
    let found = match scope_of(state, principal).await? {
        Some(scope) => {
            store
                .visible_conversation(&principal.tenant, &id, &scope)
                .await?
        }
        None => store.conversation(&principal.tenant, &id).await?,
    };
    found.ok_or(ApiError::NotFound("conversation"))
}

/// The id of a conversation `principal` may act on (see [`visible_conversation`]); for
/// callers who see everything the id is only parsed, and the command itself finds out whether
/// the conversation exists.
pub async fn visible_id(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> ApiResult<ConversationId> {
    match scope_of(state, principal).await? {
        Some(scope) => {
            let id = conversation_id(raw)?;
            state
                .store()
                .visible_conversation(&principal.tenant, &id, &scope)
                .await?
                .ok_or(ApiError::NotFound("conversation"))?;
            Ok(id)
        }
        None => conversation_id(raw),
    }
}

/// Parses an agent id from a path.
pub fn agent_id(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).map_err(|_| ApiError::NotFound("agent"))
}

/// Parses a queue id from a path.
pub fn queue_id(raw: &str) -> ApiResult<QueueId> {
    QueueId::parse(raw).map_err(|_| ApiError::NotFound("queue"))
}
