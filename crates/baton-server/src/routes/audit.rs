//! `GET /v1/audit`: the tenant-wide audit trail for supervisors: who changed rules, queues,
//! business hours, agents, API keys, webhooks and the knowledge base, with before and after.
//! Conversation transitions are at `GET /v1/conversations/{id}/events`.

use crate::AppState;
use crate::auth::Principal;
use crate::dto::{EventView, Page, PageQuery, parse_time};
use crate::error::{ApiError, ApiResult, Json, Query};
use axum::extract::State;
use baton_core::{AgentId, Role};
use baton_store::reports::AuditFilter;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The audit route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Filters of the audit trail.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AuditQuery {
    /// An event kind (`rules_updated`) or a family (`queue` for queue_created, queue_updated
    /// and queue_deleted; `agent`, `api_key`, `webhook`, `business_hours`...).
    #[param(pattern = "^[a-z_]+$")]
    kind: Option<String>,
    /// Only changes made by this agent.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    agent: Option<String>,
    /// At or after (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

/// Tenant-wide changes, newest first: each with actor, time, and before/after where it applies.
#[utoipa::path(get, path = "/v1/audit", tag = "operations", params(AuditQuery),
    responses((status = 200, body = Page<EventView>), (status = 403, description = "Supervisors and admins only")),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<EventView>>> {
    principal.require_role(Role::Supervisor)?;
    if let Some(k) = &q.kind
        && (k.is_empty() || !k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    {
        return Err(ApiError::invalid(
            "invalid_kind",
            "kind must be an event kind such as rules_updated, or a family such as queue",
        ));
    }
    let filter = AuditFilter {
        kind: q.kind,
        agent: q
            .agent
            .map(|a| {
                AgentId::parse(a)
                    .map_err(|_| ApiError::invalid("invalid_agent", "agent is not an agent id"))
            })
            .transpose()?,
        since: q
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()?,
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .into_request()?;
    let events = state
        .store()
        .audit_events(&principal.tenant, &filter, &page)
        .await?;
    Ok(Json(Page {
        items: events.items.iter().map(EventView::from).collect(),
        next_cursor: events.next_cursor,
    }))
}
