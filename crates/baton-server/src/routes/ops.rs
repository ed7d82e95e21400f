//! Operations: liveness, readiness, metrics, and the live event stream.

use crate::AppState;
use crate::auth::Principal;
use crate::dto::EventView;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use baton_core::conversation::EventKind;
use baton_core::{AgentId, ConversationId, Role, TenantId};
use baton_store::{AgentScope, StoredEvent};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The read buffer of a live socket. Clients send little (pongs, a close), but tungstenite
/// zeroes its whole read buffer on every read attempt, and a live socket is read each time it
/// is polled beside the event stream: with the default 128 KiB that was 5 % of the server's
/// CPU under load (perf, 20 agents at 300 messages a second).
pub const LIVE_READ_BUFFER: usize = 4 * 1024;

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
        .store()
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database not ready: {e}")))?;
    Ok("ready")
}

/// Conversations waiting without a (known) queue wait in their tenant's default queue: label
/// them with it (merged with its own backlog), never `queue=""`.
async fn name_default_queues(
    state: &AppState,
    gauges: &mut baton_store::reports::Gauges,
) -> ApiResult<()> {
    let mut named: Vec<baton_store::reports::QueueGauge> = Vec::new();
    let mut known: std::collections::HashMap<String, (Vec<String>, String)> = Default::default();
    for mut g in std::mem::take(&mut gauges.queues) {
        if !known.contains_key(&g.tenant) {
            let tenant = baton_core::TenantId::parse(g.tenant.as_str())
                .map_err(|e| ApiError::Internal(format!("stored tenant id: {e}")))?;
            let mut queues = state.store().queues(&tenant).await?;
            queues.sort_by(|a, b| a.id.cmp(&b.id));
            let default = baton_engine::routing::snapshot::default_queue(&queues).to_string();
            let ids = queues.into_iter().map(|q| q.id.to_string()).collect();
            known.insert(g.tenant.clone(), (ids, default));
        }
        let (ids, default) = &known[&g.tenant];
        if !ids.contains(&g.queue) {
            g.queue = default.clone();
        }
        match named
            .iter_mut()
            .find(|n| n.tenant == g.tenant && n.queue == g.queue)
        {
            Some(n) => {
                n.depth += g.depth;
                n.oldest = match (n.oldest, g.oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => named.push(g),
        }
    }
    gauges.queues = named;
    Ok(())
}

/// Prometheus metrics. With `metrics_token` configured, send it as `Authorization: Bearer`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, body = crate::error::ErrorBody, description = "metrics_token is set and was not sent")))]
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if let Some(expected) = &state.metrics_token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        // Compared as hashes: the time taken says nothing about the token.
        if baton_store::ids::hash_secret(sent) != baton_store::ids::hash_secret(expected) {
            return Err(ApiError::Unauthorized(
                "invalid_metrics_token",
                "send 'Authorization: Bearer <metrics_token>'".into(),
            ));
        }
    }
    let mut gauges = state.store().gauges().await?;
    name_default_queues(&state, &mut gauges).await?;
    let deliveries = state.store().delivery_stats().await?;
    state.metrics.set_gauges(&gauges, &deliveries, crate::now());
    state.metrics.set_writer(state.store().writer_stats());
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
/// `GET /v1/conversations/{id}/events`. Authenticate with `Authorization`, or (browsers, on
/// this upgrade only) `?token=`.
#[utoipa::path(get, path = "/v1/live", tag = "operations",
    params(("token" = Option<String>, Query, description = "Session token, for browsers")),
    responses((status = 101, description = "WebSocket upgrade"), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn live(
    State(state): State<AppState>,
    principal: Principal,
    session: Option<axum::Extension<crate::auth::SessionHash>>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let agent = principal.require_role(Role::Agent)?.clone();
    // Subscribe before answering, so nothing committed after the upgrade is missed.
    let events = state.store().subscribe();
    let typing = state.typing.subscribe();
    let tenant = principal.tenant.clone();
    let sight = super::scope_of(&state, &principal)
        .await?
        .map(|scope| Sight::new(tenant.clone(), scope));
    Ok(ws
        .read_buffer_size(LIVE_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            // Presence: this instance knows the agent is connected until the socket closes.
            state.presence.connected(&tenant, &agent);
            let me = Me {
                agent: agent.clone(),
                session: session.map(|s| s.0.0),
            };
            stream(socket, events, typing, &state, tenant.clone(), sight, me).await;
            state.presence.disconnected(&tenant, &agent, crate::now());
        }))
}

/// Whether a conversation event can change who may see the conversation. Every variant is
/// named, so a new one must be decided here.
fn changes_sight(event: &EventKind) -> bool {
    use EventKind as E;
    match event {
        E::HandoffRequested { .. }
        | E::Offered { .. }
        | E::OfferDeclined { .. }
        | E::OfferExpired { .. }
        | E::Assigned { .. }
        | E::Transferred { .. }
        | E::Deferred { .. }
        | E::Requeued
        | E::Closed { .. }
        | E::Reopened
        | E::QueueChanged { .. } => true,
        E::Started { .. }
        | E::MessageAdded { .. }
        | E::TransferRequested { .. }
        | E::TransferCancelled { .. }
        | E::PriorityChanged { .. }
        | E::CsatRecorded { .. }
        | E::BotReplyHeld { .. }
        | E::BotReplyApproved { .. }
        | E::BotReplyRejected { .. }
        | E::DraftUsed { .. }
        | E::BriefBuilt { .. }
        | E::EscalationEvaluated { .. }
        | E::OverflowStep { .. }
        | E::QueuePositions { .. }
        | E::CustomerEmailSet { .. }
        | E::FirstReplyOverdue { .. }
        | E::CapacityOverridden { .. } => false,
    }
}

/// Tenant-wide events that can change which queues an agent works.
const SCOPE_EVENTS: &[&str] = &["agent_updated", "queue_created", "queue_deleted"];

/// Most conversations whose visibility one connection remembers before starting over.
const SIGHT_MEMORY: usize = 10_000;

/// What the live stream of an agent with the `agent` role carries: events of the conversations
/// they may see (as `GET /v1/conversations` decides: [`AgentScope::sees`] on the conversation's
/// sight, read once per event for all of the instance's streams), plus the event that
/// takes one out of their sight (a transfer away, a close by someone else...), so their
/// console can drop it. Visibility is remembered per conversation and asked again only on
/// events that can change it.
struct Sight {
    tenant: TenantId,
    scope: AgentScope,
    known: HashMap<ConversationId, bool>,
    /// Promoted to supervisor or admin while connected.
    everything: bool,
}

impl Sight {
    fn new(tenant: TenantId, scope: AgentScope) -> Self {
        Sight {
            tenant,
            scope,
            known: HashMap::new(),
            everything: false,
        }
    }

    async fn admits(&mut self, state: &AppState, event: &StoredEvent) -> bool {
        if self.everything {
            return true;
        }
        let Some(conversation) = &event.conversation else {
            if SCOPE_EVENTS.contains(&event.kind()) {
                self.refresh(state).await;
            }
            return true;
        };
        let before = self.known.get(conversation).copied();
        // An offer or an assignment to this agent makes the conversation theirs to see: no
        // need to ask the store (this is the event an agent waits for; keep it fast).
        let me = &self.scope.agent;
        let mine = matches!(event.event(), Some(EventKind::Offered { agent, .. } | EventKind::Assigned { agent, .. }) if agent == me);
        // A conversation event this version cannot read is asked about.
        let now = match before {
            _ if mine => true,
            Some(known) if event.event().is_some_and(|e| !changes_sight(e)) => known,
            _ => match state
                .sights
                .get(
                    state.store().as_ref(),
                    &self.tenant,
                    conversation,
                    event.seq,
                )
                .await
            {
                Ok(sight) => sight.is_some_and(|sight| self.scope.sees(&sight)),
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: cannot tell whether an agent may see a conversation; not sending its event");
                    return false;
                }
            },
        };
        if self.known.len() >= SIGHT_MEMORY {
            self.known.clear();
        }
        self.known.insert(conversation.clone(), now);
        now || before == Some(true) || self.names_me(event)
    }

    /// Whether the event is about this agent by name (an offer to them that lapsed...).
    fn names_me(&self, event: &StoredEvent) -> bool {
        event
            .event()
            .is_some_and(|e| e.names_agent(&self.scope.agent))
    }

    async fn refresh(&mut self, state: &AppState) {
        match baton_engine::service::agent_scope(
            state.store().as_ref(),
            &self.tenant,
            &self.scope.agent,
        )
        .await
        {
            // Promoted to supervisor: everything, as on a fresh connection.
            Ok(None) => self.everything = true,
            Ok(Some(scope)) => self.scope = scope,
            Err(e) => tracing::warn!(error = %e, "live stream: cannot refresh an agent's queues"),
        }
        self.known.clear();
    }
}

/// Removes the `email` of every agent record in an event's data but `me`'s own.
fn hide_emails(data: &mut serde_json::Value, me: &AgentId) {
    match data {
        serde_json::Value::Object(map) => {
            let own = map.get("id").and_then(|v| v.as_str()) == Some(me.as_str());
            if !own && map.contains_key("email") && map.contains_key("role") {
                map.insert("email".into(), serde_json::Value::Null);
            }
            for value in map.values_mut() {
                hide_emails(value, me);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| hide_emails(v, me)),
        _ => {}
    }
}

/// Whose socket it is: the agent, and the hash of the session it was opened with.
struct Me {
    agent: AgentId,
    session: Option<String>,
}

/// Events about an agent after which their session may have ended (a new password, a lower
/// role, deactivation, logout).
const SESSION_EVENTS: &[&str] = &["agent_updated", "agent_status_changed", "session_closed"];

impl Me {
    /// Whether `event` ended this socket's session (asked of the store, so it holds across
    /// instances: the event reaches every instance).
    async fn ended_by(&self, state: &AppState, event: &StoredEvent) -> bool {
        if !SESSION_EVENTS.contains(&event.kind())
            || event
                .record()
                .and_then(|d| d.get("agent"))
                .and_then(|v| v.as_str())
                != Some(self.agent.as_str())
        {
            return false;
        }
        let Some(hash) = &self.session else {
            return false;
        };
        matches!(state.store().session(hash, crate::now()).await, Ok(None))
    }
}

async fn stream(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Arc<StoredEvent>>,
    mut typing: broadcast::Receiver<Arc<super::typing::Typing>>,
    state: &AppState,
    tenant: TenantId,
    mut sight: Option<Sight>,
    me: Me,
) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.tenant == tenant => {
                    if me.ended_by(state, &event).await {
                        let close = axum::extract::ws::CloseFrame {
                            code: 4001,
                            reason: "the session ended; log in again".into(),
                        };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        return;
                    }
                    if let Some(sight) = sight.as_mut()
                        && !sight.admits(state, &event).await
                    {
                        continue;
                    }
                    let mut view = EventView::from(event.as_ref());
                    // The `agent` role does not see colleagues' emails (as in the directory).
                    if sight.as_ref().is_some_and(|s| !s.everything) {
                        hide_emails(&mut view.data, &me.agent);
                    }
                    let Ok(text) = serde_json::to_string(&view) else { continue };
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
            // A customer typing reaches the agent who owns their conversation.
            signal = typing.recv() => match signal {
                Ok(t) if t.role == "customer" && t.tenant == tenant && t.owner.as_ref() == Some(&me.agent) => {
                    let frame = serde_json::json!({
                        "type": "typing",
                        "conversation_id": t.conversation,
                        "data": {"role": "customer", "typing": t.typing},
                    });
                    if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
