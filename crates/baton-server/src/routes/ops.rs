//! Operations: liveness, readiness, metrics, and the live event stream.

use crate::AppState;
use crate::auth::Principal;
use crate::dto::EventView;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use baton_core::{Role, TenantId};
use baton_store::StoredEvent;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The operations routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(live))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "ok")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, body = crate::error::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database not ready: {e}")))?;
    Ok("ready")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let gauges = state.store.gauges().await?;
    let deliveries = state.store.delivery_stats().await?;
    state.metrics.set_gauges(&gauges, &deliveries, crate::now());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response())
}

/// Live events of your tenant over a WebSocket: each text frame is one event, as in
/// `GET /v1/conversations/{id}/events`. Authenticate with `Authorization` or `?token=`.
#[utoipa::path(get, path = "/v1/live", tag = "operations",
    params(("token" = Option<String>, Query, description = "Session token, for browsers")),
    responses((status = 101, description = "WebSocket upgrade"), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn live(
    State(state): State<AppState>,
    principal: Principal,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let agent = principal.require_role(Role::Agent)?.clone();
    // Subscribe before answering, so nothing committed after the upgrade is missed.
    let events = state.store.subscribe();
    let tenant = principal.tenant.clone();
    Ok(ws.on_upgrade(move |socket| async move {
        // Presence: this instance knows the agent is connected until the socket closes.
        state.presence.connected(&tenant, &agent);
        stream(socket, events, tenant.clone()).await;
        state.presence.disconnected(&tenant, &agent, crate::now());
    }))
}

async fn stream(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Arc<StoredEvent>>,
    tenant: TenantId,
) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.tenant == tenant => {
                    let Ok(text) = serde_json::to_string(&EventView::from(event.as_ref())) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    // Tell the client to refetch rather than silently dropping events.
                    let note = serde_json::json!({ "type": "lagged", "missed": missed }).to_string();
                    if socket.send(Message::Text(note.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
