//! Typing indicators, both ways: the customer's widget says when they are typing (the owning
//! agent's console shows it) and the owning agent's console says when they are (the widget
//! shows "Sara is typing…"). Nothing is stored: indicators are fanned out in this process only
//! (on several instances they reach the clients connected to the instance that got them).

use crate::AppState;
use crate::auth::{Principal, PrincipalKind};
use crate::error::{ApiError, ApiResult, Json};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_core::{AgentId, ConversationId, TenantId};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// One "is typing" (or "stopped typing") signal.
#[derive(Debug, Clone)]
pub struct Typing {
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation.
    pub conversation: ConversationId,
    /// `customer` or `agent`: who types.
    pub role: &'static str,
    /// The typing agent's name (agents only).
    pub name: Option<String>,
    /// The agent who owns the conversation (who sees a customer typing).
    pub owner: Option<AgentId>,
    /// True while typing; false when they stopped (sent, cleared the box, left).
    pub typing: bool,
}

/// The in-process fan-out of typing signals.
#[derive(Debug, Clone)]
pub struct TypingHub {
    sender: broadcast::Sender<Arc<Typing>>,
}

impl Default for TypingHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        TypingHub { sender }
    }
}

impl TypingHub {
    /// Signals from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Typing>> {
        self.sender.subscribe()
    }

    fn publish(&self, typing: Typing) {
        let _ = self.sender.send(Arc::new(typing));
    }
}

/// The typing route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(typing))
}

/// `POST /v1/conversations/{id}/typing`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    /// True while typing, false once stopped.
    pub typing: bool,
}

/// Say that the customer (their widget token) or the owning agent is typing, or stopped.
/// Shown live to the other side; nothing is stored.
#[utoipa::path(post, path = "/v1/conversations/{id}/typing", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = TypingBody,
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "Only the agent who owns the conversation types to the customer", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn typing(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<TypingBody>,
) -> ApiResult<StatusCode> {
    let (role, agent) = match &principal.kind {
        PrincipalKind::Customer { .. } => ("customer", None),
        PrincipalKind::Person { agent, .. } => ("agent", Some(agent.clone())),
        PrincipalKind::Integration { .. } => {
            return Err(ApiError::forbidden(
                "typing indicators come from the customer's widget and the agent's console",
            ));
        }
    };
    let conv = super::visible_conversation(&state, &principal, &id).await?;
    let name = match &agent {
        Some(me) => {
            if conv.assignee.as_ref() != Some(me) {
                return Err(ApiError::Conflict {
                    code: "not_owner",
                    message: "only the agent who owns the conversation types to the customer"
                        .into(),
                });
            }
            state
                .store()
                .agent(&principal.tenant, me)
                .await?
                .map(|a| a.name)
        }
        None => None,
    };
    state.typing.publish(Typing {
        tenant: principal.tenant.clone(),
        conversation: conv.id.clone(),
        role,
        name,
        owner: conv.assignee.clone(),
        typing: body.typing,
    });
    Ok(StatusCode::NO_CONTENT)
}
