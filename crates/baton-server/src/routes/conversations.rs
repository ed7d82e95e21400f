//! `/v1/conversations`: the lifecycle.

use super::{scope_of, visible_conversation, visible_id};
use crate::auth::{Principal, PrincipalKind};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Json, Query, optional_json};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_core::conversation::{Command, HandoffSource};
use baton_core::{
    AgentId, AgentStatus, ConversationState, CsatScore, CustomerId, MessageRole, Priority, QueueId,
    Role, TenantId,
};
use baton_engine::pipeline;
use baton_engine::service::{self, NewMessage};
use baton_store::{ConversationFilter, SearchText, Store};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The conversation routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(get_one))
        .routes(routes!(routing_for_me))
        .routes(routes!(post_message, list_messages))
        .routes(routes!(list_events))
        .routes(routes!(handoff))
        .routes(routes!(claim))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(transfer))
        .routes(routes!(cancel_transfer))
        .routes(routes!(note))
        .routes(routes!(close))
        .routes(routes!(csat))
}

async fn view(
    state: &AppState,
    tenant: &TenantId,
    id: &baton_core::ConversationId,
) -> ApiResult<ConversationView> {
    let conv = state
        .store()
        .conversation(tenant, id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    let customer = state.store().customer(tenant, &conv.customer).await?;
    let mut view = ConversationView::new(conv, customer);
    name_default_queue(state, tenant, std::slice::from_mut(&mut view)).await?;
    Ok(with_position(state, tenant, view).await)
}

/// Names the queue of conversations handed off without one (or whose queue was deleted): the
/// tenant's default queue, where routing puts them, so no queue shows as "no queue".
pub(crate) async fn name_default_queue(
    state: &AppState,
    tenant: &TenantId,
    views: &mut [ConversationView],
) -> ApiResult<()> {
    if views.iter().all(|v| v.state == "bot") {
        return Ok(());
    }
    let mut queues = state.store().queues(tenant).await?;
    queues.sort_by(|a, b| a.id.cmp(&b.id));
    let default = baton_engine::routing::snapshot::default_queue(&queues);
    for v in views.iter_mut().filter(|v| v.state != "bot") {
        let known = v
            .queue
            .as_deref()
            .is_some_and(|q| queues.iter().any(|k| k.id.as_str() == q));
        if !known {
            v.queue = Some(default.to_string());
        }
    }
    Ok(())
}

/// Fills in a waiting conversation's place in line and estimated wait from the live router
/// (positions are computed when read, never stored as events).
pub(crate) async fn with_position(
    state: &AppState,
    tenant: &TenantId,
    mut view: ConversationView,
) -> ConversationView {
    if view.state == "queued"
        && view.offer.is_none()
        && let Ok(id) = baton_core::ConversationId::parse(view.id.as_str())
        && let Some(p) = state.engine.routing.position(tenant, &id).await
    {
        view.position = Some(p.position);
        view.estimated_wait_secs = p.estimated_wait_secs;
    }
    view
}

async fn known_queue(
    store: &dyn Store,
    tenant: &TenantId,
    raw: Option<String>,
) -> ApiResult<Option<QueueId>> {
    let Some(raw) = raw else { return Ok(None) };
    let unknown = || ApiError::invalid("unknown_queue", format!("there is no queue '{raw}'"));
    let id = QueueId::parse(raw.as_str()).map_err(|_| unknown())?;
    store.queue(tenant, &id).await?.ok_or_else(unknown)?;
    Ok(Some(id))
}

async fn known_agent(
    store: &dyn Store,
    tenant: &TenantId,
    raw: Option<String>,
) -> ApiResult<Option<AgentId>> {
    let Some(raw) = raw else { return Ok(None) };
    let unknown = || ApiError::invalid("unknown_agent", format!("there is no agent '{raw}'"));
    let id = AgentId::parse(raw.as_str()).map_err(|_| unknown())?;
    store.agent(tenant, &id).await?.ok_or_else(unknown)?;
    Ok(Some(id))
}

/// Start a conversation.
#[utoipa::path(post, path = "/v1/conversations", tag = "conversations",
    request_body = StartConversationBody,
    responses((status = 201, body = ConversationView), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn start(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<StartConversationBody>,
) -> ApiResult<(StatusCode, Json<ConversationView>)> {
    principal.require_integration()?;
    let customer = body.customer.validate()?;
    let channel = token("channel", body.channel.as_deref().unwrap_or("api"), 32)?;
    let (outcome, customer) = service::start_conversation(
        state.store().as_ref(),
        &principal.tenant,
        customer,
        channel,
        body.attributes,
        &principal.actor(),
        now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConversationView::new(outcome.conversation, Some(customer))),
    ))
}

/// Filters of `GET /v1/conversations`.
/// Most distinct customers whose names one list page looks up.
const LIST_CUSTOMER_LOOKUPS: usize = 50;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ListQuery {
    /// `bot`, `queued`, `assigned`, `deferred` or `closed`.
    #[param(pattern = "^(bot|queued|assigned|deferred|closed)$")]
    state: Option<String>,
    /// Queue id.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    queue: Option<String>,
    /// Assignee agent id (`me` for yourself).
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    assignee: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Search, at most 200 characters: words of the transcript (each a prefix, all required,
    /// through the database's full-text index), the customer's name, email or external id
    /// (any part), or the conversation's id (whole or its last characters). Only the
    /// conversations the caller may see.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Only this customer's conversations (a customer id, `cus_...`): their history.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    customer: Option<String>,
    /// 1-500.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Cursor.
    cursor: Option<String>,
}

/// List or search conversations, newest first.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = Page<ConversationView>)), security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<ConversationView>>> {
    let me = principal.require_role(Role::Agent)?.clone();
    let mut filter = ConversationFilter {
        state: q
            .state
            .map(|s| {
                ConversationState::parse(&s).ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_state",
                        "state must be bot, queued, assigned, deferred or closed",
                    )
                })
            })
            .transpose()?,
        queue: q
            .queue
            .map(|s| {
                QueueId::parse(s)
                    .map_err(|_| ApiError::invalid("invalid_queue", "queue is not a queue id"))
            })
            .transpose()?,
        assignee: q
            .assignee
            .map(|s| {
                if s == "me" {
                    Ok(me.clone())
                } else {
                    AgentId::parse(s).map_err(|_| {
                        ApiError::invalid("invalid_assignee", "assignee is not an agent id")
                    })
                }
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
        customer: q
            .customer
            .map(|s| {
                CustomerId::parse(s).map_err(|_| {
                    ApiError::invalid(
                        "invalid_customer",
                        "customer is not a customer id (cus_...)",
                    )
                })
            })
            .transpose()?,
        visible_to: scope_of(&state, &principal).await?,
        search: match q.q {
            Some(text) if text.chars().count() > 200 => {
                return Err(ApiError::invalid(
                    "invalid_search",
                    "q is at most 200 characters",
                ));
            }
            Some(text) => SearchText::parse(&text),
            None => None,
        },
        ..Default::default()
    };
    if let Some(queue) = &filter.queue {
        // The default queue is named on conversations that have none; filtering by it finds them.
        let mut queues = state.store().queues(&principal.tenant).await?;
        queues.sort_by(|a, b| a.id.cmp(&b.id));
        filter.queue_is_default = baton_engine::routing::snapshot::default_queue(&queues) == *queue;
    }
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .into_request()?;
    let found = state
        .store()
        .conversations(&principal.tenant, &filter, &page)
        .await?;
    // Customer names for the inbox: one lookup per distinct customer, at most
    // LIST_CUSTOMER_LOOKUPS per page (the rest stay null).
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for c in &found.items {
        let key = c.customer.to_string();
        if names.len() >= LIST_CUSTOMER_LOOKUPS || names.contains_key(&key) {
            continue;
        }
        let name = state
            .store()
            .customer(&principal.tenant, &c.customer)
            .await?
            .and_then(|cu| cu.name);
        names.insert(key, name);
    }
    let mut items: Vec<ConversationView> = found
        .items
        .into_iter()
        .map(|c| {
            let name = names.get(c.customer.as_str()).cloned().flatten();
            let mut view = ConversationView::new(c, None);
            view.customer_name = name;
            view
        })
        .collect();
    name_default_queue(&state, &principal.tenant, &mut items).await?;
    Ok(Json(Page {
        items,
        next_cursor: found.next_cursor,
    }))
}

/// One conversation with its customer.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    let conv = visible_conversation(&state, &principal, &id).await?;
    // The greeting is written for the owner, or for the person looking.
    let agent = match conv.assignee.as_ref().or(principal.agent()) {
        Some(agent) => state.store().agent(&principal.tenant, agent).await?,
        None => None,
    };
    let first_name = agent
        .as_ref()
        .and_then(|a| a.name.split_whitespace().next());
    let brief = baton_engine::brief::build(&state.engine, &conv, first_name, now()).await?;
    let customer = state
        .store()
        .customer(&principal.tenant, &conv.customer)
        .await?;
    let mut view = with_position(
        &state,
        &principal.tenant,
        ConversationView::new(conv, customer),
    )
    .await;
    if matches!(principal.kind, PrincipalKind::Customer { .. }) {
        // The customer sees their conversation, never the team's view of it.
        return Ok(Json(crate::routes::widget::customer_view(view)));
    }
    name_default_queue(&state, &principal.tenant, std::slice::from_mut(&mut view)).await?;
    view.brief = brief.as_ref().map(baton_engine::brief::to_json);
    Ok(Json(view))
}

/// How routing sees a conversation now, for the person asking: the explanation of its latest
/// offer (who was considered, who was excluded and why), and why it is not offered to them.
#[utoipa::path(get, path = "/v1/conversations/{id}/routing", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = RoutingView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn routing_for_me(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RoutingView>> {
    principal.require_role(Role::Agent)?;
    let conv = visible_conversation(&state, &principal, &id).await?;
    let agent = principal
        .agent()
        .ok_or_else(|| ApiError::forbidden("only people have routing reasons"))?;
    let (why_not_me, live) = state
        .engine
        .routing
        .why_not(&principal.tenant, &conv.id, agent)
        .await?
        .unwrap_or_default();
    Ok(Json(RoutingView {
        state: conv.state.as_str().to_string(),
        offered_to: conv.offer.as_ref().map(|o| o.agent.to_string()),
        explanation: conv.routing.clone(),
        live,
        why_not_me,
    }))
}

/// Add a message. Integrations post `customer` or `bot` turns; agents post replies.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body = PostMessageBody,
    responses((status = 201, body = PostMessageResponse), (status = 200, description = "duplicate external_id", body = PostMessageResponse),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn post_message(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<PostMessageBody>,
) -> ApiResult<(StatusCode, Json<PostMessageResponse>)> {
    let text = required_text("text", body.text, MAX_TEXT)?;
    let external_id = optional_text("external_id", body.external_id, 200)?;
    let role = match (&principal.kind, body.role.as_deref()) {
        (PrincipalKind::Integration { .. }, Some("customer")) => MessageRole::Customer,
        (PrincipalKind::Integration { .. }, Some("bot")) => MessageRole::Bot,
        // A well-formed role this credential may not write as is a permission (403), not a
        // malformed request.
        (PrincipalKind::Integration { .. }, None | Some("agent")) => {
            return Err(ApiError::forbidden(
                "integrations post role customer or bot; agents post with their session",
            ));
        }
        (PrincipalKind::Integration { .. }, _) => {
            return Err(ApiError::invalid(
                "invalid_role",
                "role must be customer or bot",
            ));
        }
        (PrincipalKind::Person { .. }, None | Some("agent")) => MessageRole::Agent,
        (PrincipalKind::Person { .. }, Some("customer" | "bot")) => {
            return Err(ApiError::forbidden(
                "agents post role agent; use /notes for internal notes",
            ));
        }
        (PrincipalKind::Person { .. }, Some(_)) => {
            return Err(ApiError::invalid(
                "invalid_role",
                "agents post role agent; use /notes for internal notes",
            ));
        }
        // Customer tokens (the web widget) always write as the customer.
        (PrincipalKind::Customer { .. }, _) => MessageRole::Customer,
    };
    let bot = match (role, body.bot) {
        (MessageRole::Bot, Some(b)) => Some(b.validate()?),
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "invalid_field",
                "bot metadata is only for bot messages",
            ));
        }
        (_, None) => None,
    };
    let id = visible_id(&state, &principal, &id).await?;
    let outcome = pipeline::add_turn(
        &state.engine,
        &principal.tenant,
        &id,
        NewMessage {
            role,
            text,
            external_id,
            bot,
        },
        &actor_for(&principal, role),
        body.payload.as_ref(),
    )
    .await?;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else if outcome.held {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    let customer = match outcome.customer {
        Some(customer) => Some(customer),
        None => {
            state
                .store()
                .customer(&principal.tenant, &outcome.conversation.customer)
                .await?
        }
    };
    let mut conversation = ConversationView::new(outcome.conversation, customer);
    let mut escalation = outcome
        .evaluation
        .map(|e| serde_json::to_value(e).unwrap_or(serde_json::Value::Null));
    if matches!(principal.kind, PrincipalKind::Customer { .. }) {
        conversation = crate::routes::widget::customer_view(conversation);
        escalation = None;
    }
    Ok((
        status,
        Json(PostMessageResponse {
            message: outcome.message.into(),
            state: conversation.state.clone(),
            conversation,
            escalation,
            duplicate: outcome.duplicate,
            held: outcome.held,
        }),
    ))
}

/// Integrations write on behalf of the customer or the bot; the event records that.
fn actor_for(principal: &Principal, role: MessageRole) -> baton_core::conversation::Actor {
    use baton_core::conversation::Actor;
    match role {
        MessageRole::Customer => Actor::Customer,
        MessageRole::Bot => Actor::Bot,
        _ => principal.actor(),
    }
}

/// The transcript, oldest first.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), PageQuery),
    responses((status = 200, body = Page<MessageView>)), security(("bearer" = [])))]
async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<MessageView>>> {
    let page = page.into_request()?;
    let id = visible_conversation(&state, &principal, &id).await?.id;
    let found = state
        .store()
        .messages(&principal.tenant, &id, &page)
        .await?;
    // Integrations face the customer: internal notes never reach them.
    let customer_facing = matches!(
        principal.kind,
        PrincipalKind::Integration { .. } | PrincipalKind::Customer { .. }
    );
    let items = found
        .items
        .into_iter()
        .filter(|m| !(customer_facing && m.role == MessageRole::Note))
        .map(Into::into)
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: found.next_cursor,
    }))
}

/// The audit trail of one conversation.
#[utoipa::path(get, path = "/v1/conversations/{id}/events", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), PageQuery),
    responses((status = 200, body = Page<EventView>)), security(("bearer" = [])))]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<EventView>>> {
    principal.require_role(Role::Agent)?;
    let page = page.into_request()?;
    let id = visible_conversation(&state, &principal, &id).await?.id;
    let found = state.store().events(&principal.tenant, &id, &page).await?;
    Ok(Json(Page {
        items: found.items.iter().map(EventView::from).collect(),
        next_cursor: found.next_cursor,
    }))
}

async fn run(
    state: &AppState,
    principal: &Principal,
    id: &str,
    command: Command,
) -> ApiResult<Json<ConversationView>> {
    run_with(state, principal, id, command, false).await
}

/// [`run`], where `override_capacity` (checked by [`capacity_override`]) lets a supervisor
/// give an agent the conversation beyond her capacity.
async fn run_with(
    state: &AppState,
    principal: &Principal,
    id: &str,
    command: Command,
    override_capacity: bool,
) -> ApiResult<Json<ConversationView>> {
    let id = visible_id(state, principal, id).await?;
    pipeline::apply_command(
        &state.engine,
        &principal.tenant,
        &id,
        command,
        &principal.actor(),
        override_capacity,
    )
    .await?;
    let view = view(state, &principal.tenant, &id).await?;
    if matches!(principal.kind, PrincipalKind::Customer { .. }) {
        return Ok(Json(crate::routes::widget::customer_view(view)));
    }
    Ok(Json(view))
}

/// Whether the request asks to override capacity, which only supervisors and admins may.
fn capacity_override(principal: &Principal, asked: bool) -> ApiResult<bool> {
    if asked
        && !principal
            .role()
            .is_some_and(|r| r.at_least(Role::Supervisor))
    {
        return Err(ApiError::forbidden(
            "only a supervisor or an admin may override an agent's capacity (override_capacity)",
        ));
    }
    Ok(asked)
}

/// Ask for a human. From an agent on a `bot` conversation this is a takeover.
#[utoipa::path(post, path = "/v1/conversations/{id}/handoff", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = HandoffBody,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn handoff(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<HandoffBody>,
) -> ApiResult<Json<ConversationView>> {
    let reason = token("reason", body.reason.trim(), 100)?;
    // The team decides where a customer's request goes and how urgent it is.
    if matches!(principal.kind, PrincipalKind::Customer { .. })
        && (body.priority.is_some() || body.queue.is_some())
    {
        return Err(ApiError::forbidden(
            "a customer token cannot choose the queue or priority of a handoff",
        ));
    }
    let priority = body
        .priority
        .map(|p| Priority::new(p).map_err(|e| ApiError::invalid("invalid_priority", e.0)))
        .transpose()?;
    let source = match (&principal.kind, body.source.as_deref()) {
        (PrincipalKind::Person { .. }, None) => HandoffSource::Agent,
        // Who asked is for integrations to say: a permission (403), as the request is
        // well-formed.
        (PrincipalKind::Person { .. }, Some(_)) => {
            return Err(ApiError::forbidden("source is only for integrations"));
        }
        (PrincipalKind::Integration { .. }, None | Some("api")) => HandoffSource::Api,
        (PrincipalKind::Integration { .. }, Some("customer")) => HandoffSource::Customer,
        (PrincipalKind::Integration { .. }, Some("bot")) => HandoffSource::Bot,
        (PrincipalKind::Customer { .. }, _) => HandoffSource::Customer,
        (PrincipalKind::Integration { .. }, Some(_)) => {
            return Err(ApiError::invalid(
                "invalid_source",
                "source must be customer, bot or api",
            ));
        }
    };
    let queue = known_queue(state.store().as_ref(), &principal.tenant, body.queue).await?;
    let note = optional_text("note", body.note, 2000)?;
    let override_capacity = capacity_override(&principal, body.override_capacity)?;
    let command = Command::RequestHandoff {
        reason,
        source,
        queue,
        priority,
        note,
    };
    run_with(&state, &principal, &id, command, override_capacity).await
}

/// Take a queued conversation. Over capacity: 409 `agent_at_capacity` (a supervisor may send
/// `{"override_capacity": true}`).
#[utoipa::path(post, path = "/v1/conversations/{id}/claim", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = Option<TakeBody>,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn claim(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    let body: TakeBody = optional_json(&body)?;
    let override_capacity = capacity_override(&principal, body.override_capacity)?;
    run_with(&state, &principal, &id, Command::Claim, override_capacity).await
}

/// Accept the offer made to you. Over capacity (it was lowered since the offer): 409
/// `agent_at_capacity` (a supervisor may send `{"override_capacity": true}`).
#[utoipa::path(post, path = "/v1/conversations/{id}/accept", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = Option<TakeBody>,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn accept(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    let body: TakeBody = optional_json(&body)?;
    let override_capacity = capacity_override(&principal, body.override_capacity)?;
    run_with(&state, &principal, &id, Command::Accept, override_capacity).await
}

/// Decline the offer made to you.
#[utoipa::path(post, path = "/v1/conversations/{id}/decline", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn decline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    run(&state, &principal, &id, Command::Decline).await
}

/// Hand the conversation to another agent or queue, with a note.
#[utoipa::path(post, path = "/v1/conversations/{id}/transfer", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = TransferBody,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<TransferBody>,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    let override_capacity = capacity_override(&principal, body.override_capacity)?;
    let note = required_text("note", body.note, 2000)?;
    let to_agent = known_agent(state.store().as_ref(), &principal.tenant, body.to_agent).await?;
    let to_queue = known_queue(state.store().as_ref(), &principal.tenant, body.to_queue).await?;
    if let Some(agent) = &to_agent {
        // An offer to someone away or offline is withdrawn at once: say so instead.
        let status = state
            .store()
            .agent(&principal.tenant, agent)
            .await?
            .map(|a| a.status);
        if matches!(status, Some(AgentStatus::Away | AgentStatus::Offline)) {
            return Err(ApiError::Conflict {
                code: "agent_unavailable",
                message:
                    "that agent is away or offline; transfer to someone available or to a queue"
                        .into(),
            });
        }
    }
    let override_owner = principal
        .role()
        .is_some_and(|r| r.at_least(Role::Supervisor));
    let expires_at = service::transfer_expiry(
        state.store().as_ref(),
        &principal.tenant,
        &visible_id(&state, &principal, &id).await?,
        to_queue.as_ref(),
        now(),
    )
    .await?;
    run_with(
        &state,
        &principal,
        &id,
        Command::Transfer {
            to_agent,
            to_queue,
            note,
            expires_at,
            override_owner,
        },
        override_capacity,
    )
    .await
}

/// Withdraw a pending transfer: the conversation stays with its owner.
#[utoipa::path(post, path = "/v1/conversations/{id}/transfer/cancel", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    principal.require_role(Role::Agent)?;
    let override_owner = principal
        .role()
        .is_some_and(|r| r.at_least(Role::Supervisor));
    run(
        &state,
        &principal,
        &id,
        Command::CancelTransfer { override_owner },
    )
    .await
}

/// Add an internal note (never shown to the customer).
#[utoipa::path(post, path = "/v1/conversations/{id}/notes", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = NoteBody,
    responses((status = 201, body = MessageView)), security(("bearer" = [])))]
async fn note(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<NoteBody>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    principal.require_role(Role::Agent)?;
    let id = visible_id(&state, &principal, &id).await?;
    let text = required_text("text", body.text, MAX_TEXT)?;
    let outcome = service::post_message(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        NewMessage {
            role: MessageRole::Note,
            text,
            external_id: None,
            bot: None,
        },
        &principal.actor(),
        now(),
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(outcome.message.into())))
}

/// Close the conversation.
#[utoipa::path(post, path = "/v1/conversations/{id}/close", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = Option<CloseBody>,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn close(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ConversationView>> {
    let body: CloseBody = optional_json(&body)?;
    let resolution = body
        .resolution
        .map(|r| token("resolution", r.trim(), 100))
        .transpose()?;
    let override_owner = match principal.role() {
        Some(role) => role.at_least(Role::Supervisor),
        None => true,
    };
    run(
        &state,
        &principal,
        &id,
        Command::Close {
            resolution,
            override_owner,
        },
    )
    .await
}

/// Record the customer's rating after close.
#[utoipa::path(post, path = "/v1/conversations/{id}/csat", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = CsatBody,
    responses((status = 200, body = ConversationView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn csat(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<CsatBody>,
) -> ApiResult<Json<ConversationView>> {
    if !matches!(principal.kind, PrincipalKind::Customer { .. }) {
        principal.require_integration()?;
    }
    let score = CsatScore::new(body.score).map_err(|e| ApiError::invalid("invalid_score", e.0))?;
    let comment = optional_text("comment", body.comment, 2000)?;
    run(
        &state,
        &principal,
        &id,
        Command::RecordCsat { score, comment },
    )
    .await
}
