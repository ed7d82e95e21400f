//! The web widget's backend: the tenant's public widget key, conversations started by
//! customers with it, customer tokens scoped to one conversation, their live stream, and CORS
//! for the routes the widget calls from other origins.
//!
//! Customers never hold a secret: the public key (`pk_...`) only starts conversations; each
//! start returns a customer token (`bc_...`, stored hashed) that may read and write that one
//! conversation as the customer and nothing else ([`customer_may`]).

use super::widget_identity::{self, Identity};
use crate::auth::{Principal, PrincipalKind};
use crate::dto::{ConversationView, CustomerBody, rfc3339};
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::conversation::EventKind;
use baton_core::{AgentId, ConversationId, EmailAddress, MessageRole, Role, TenantId};
use baton_engine::service::{self, WidgetOpen};
use baton_store::StoredEvent;
use baton_store::ids::{hash_secret, new_secret};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long a customer token lasts: 30 days.
pub const CUSTOMER_TOKEN_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// The tenant setting holding the public widget key.
pub const WIDGET_SETTING: &str = "widget";

/// The widget routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_key, rotate_key))
        .routes(routes!(start))
        .routes(routes!(resume))
        .routes(routes!(contact))
        .routes(routes!(live))
}

/// The tenant's public widget key.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetKeyView {
    /// `pk_...`: safe to publish in web pages; it can only start widget conversations.
    pub public_key: Option<String>,
}

/// Creates or replaces the tenant's public widget key (the old one stops working).
pub async fn rotate_widget_key(
    store: &dyn baton_store::Store,
    tenant: &TenantId,
) -> ApiResult<String> {
    let key = new_secret("pk_")[..35].to_string();
    let mut tx = store.begin().await?;
    tx.replace_widget_key(tenant, &hash_secret(&key)).await?;
    tx.put_setting(tenant, WIDGET_SETTING, &json!({ "public_key": key }), now())
        .await?;
    tx.commit().await?;
    Ok(key)
}

/// The tenant's public widget key, if it has one.
pub async fn widget_key(
    store: &dyn baton_store::Store,
    tenant: &TenantId,
) -> ApiResult<Option<String>> {
    Ok(store
        .setting(tenant, WIDGET_SETTING)
        .await?
        .and_then(|v| v["public_key"].as_str().map(String::from)))
}

/// The public widget key (admins).
#[utoipa::path(get, path = "/v1/widget/key", tag = "configuration",
    responses((status = 200, body = WidgetKeyView)), security(("bearer" = [])))]
async fn get_key(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<WidgetKeyView>> {
    principal.require_role(Role::Admin)?;
    let public_key = widget_key(state.store().as_ref(), &principal.tenant).await?;
    Ok(Json(WidgetKeyView { public_key }))
}

/// Create or rotate the public widget key (admins); the previous key stops working.
#[utoipa::path(post, path = "/v1/widget/key", tag = "configuration",
    responses((status = 201, body = WidgetKeyView)), security(("bearer" = [])))]
async fn rotate_key(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<(StatusCode, Json<WidgetKeyView>)> {
    principal.require_role(Role::Admin)?;
    let key = rotate_widget_key(state.store().as_ref(), &principal.tenant).await?;
    Ok((
        StatusCode::CREATED,
        Json(WidgetKeyView {
            public_key: Some(key),
        }),
    ))
}

/// Who the customer is (all optional). With a widget identity secret configured, an
/// `external_id` needs its `identity_hash`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetCustomerBody {
    /// The site's own id for this customer (their account id): a known one links the
    /// conversation to their profile and past conversations.
    #[schema(max_length = 200)]
    pub external_id: Option<String>,
    /// Hex HMAC-SHA256 of `external_id` with the tenant's widget identity secret, computed by
    /// the site's server (see `POST /v1/widget/identity-secret`).
    #[schema(max_length = 128)]
    pub identity_hash: Option<String>,
    /// Name.
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Email (blank or with an `@` and no whitespace).
    #[schema(max_length = 254, pattern = "^(\\s*|[^\\s]*@[^\\s]*)$")]
    pub email: Option<String>,
    /// Phone.
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    /// Language (BCP 47, e.g. `en`, `pt-BR`).
    #[schema(max_length = 16, pattern = "^(\\s*|[A-Za-z0-9-]*)$")]
    pub language: Option<String>,
    /// Anything else the site knows (plan, company...): at most 50 keys of up to 100
    /// characters, each a string (up to 1000 characters), number, boolean or null.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
}

/// `POST /v1/widget/conversations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetStartBody {
    /// The tenant's public widget key.
    pub public_key: String,
    /// The customer.
    #[serde(default)]
    pub customer: WidgetCustomerBody,
    /// The page the widget runs on, at most 2000 characters.
    #[schema(max_length = 2000)]
    pub page_url: Option<String>,
}

/// A started (or resumed) widget conversation and the customer's token for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetStartResponse {
    /// The conversation (customer view).
    pub conversation: ConversationView,
    /// `bc_...`: lets this customer read and write this conversation only.
    pub token: String,
    /// True when this is the verified customer's open conversation rather than a new one.
    pub resumed: bool,
    /// `anonymous`, `unverified` (an external id without a configured secret) or `verified`.
    pub identity: String,
}

const MAX_ATTRIBUTES: usize = 50;

fn widget_attributes(
    attributes: serde_json::Map<String, Value>,
) -> ApiResult<serde_json::Map<String, Value>> {
    let bad = |m: String| ApiError::invalid("invalid_attributes", m);
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(bad(format!(
            "customer.attributes has {} keys; at most {MAX_ATTRIBUTES}",
            attributes.len()
        )));
    }
    for (k, v) in &attributes {
        if k.trim().is_empty() || k.chars().count() > 100 {
            return Err(bad(
                "customer.attributes keys are 1 to 100 characters".into()
            ));
        }
        let ok = match v {
            Value::String(s) => s.chars().count() <= 1000,
            Value::Number(_) | Value::Bool(_) | Value::Null => true,
            _ => false,
        };
        if !ok {
            return Err(bad(format!(
                "customer.attributes.{k} must be a string of at most 1000 characters, a number, a boolean or null"
            )));
        }
    }
    Ok(attributes)
}

/// Checks the public key and the client's start rate; the key's tenant.
async fn widget_tenant(
    state: &AppState,
    public_key: &str,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> ApiResult<TenantId> {
    let key_hash = hash_secret(public_key.trim());
    let tenant = state
        .store()
        .widget_key_tenant(&key_hash)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "invalid_public_key",
                "the widget's public key is unknown or was rotated; copy the current one from GET /v1/widget/key".into(),
            )
        })?;
    // Counted per valid key and client address: unknown keys cost a lookup and no memory.
    let limit = &state.widget_limit;
    if let Some(client) = limit.client_ip(headers, peer.map(|Extension(ConnectInfo(a))| a))
        && let Err(wait) = limit.check(&key_hash, client)
    {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many conversations started from this address (at most {} a minute); retry later",
                limit.per_minute()
            ),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    Ok(tenant)
}

/// Validates the start body and checks the identity it claims; nothing is written here.
async fn widget_input(
    state: &AppState,
    tenant: &TenantId,
    customer: WidgetCustomerBody,
    page_url: Option<String>,
) -> ApiResult<(
    baton_engine::service::CustomerInput,
    serde_json::Map<String, Value>,
    Identity,
)> {
    let hash = crate::dto::optional_text("customer.identity_hash", customer.identity_hash, 128)?;
    let customer_attributes = widget_attributes(customer.attributes)?;
    let input = CustomerBody {
        external_id: customer.external_id,
        name: customer.name,
        email: customer.email,
        phone: customer.phone,
        language: customer.language,
        attributes: customer_attributes,
        ..CustomerBody::default()
    }
    .validate()?;
    let identity =
        widget_identity::verify(state, tenant, input.external_id.as_deref(), hash.as_deref())
            .await?;
    let mut attributes = serde_json::Map::new();
    attributes.insert("source".into(), json!("widget"));
    attributes.insert("identity".into(), json!(identity.as_str()));
    if let Some(url) = crate::dto::optional_text("page_url", page_url, 2000)? {
        attributes.insert("page_url".into(), json!(url));
    }
    Ok((input, attributes, identity))
}

/// Start a conversation from the web widget with the tenant's public key. A verified customer
/// (see `POST /v1/widget/identity-secret`) who has an open web conversation gets that one back
/// (200, `resumed`) with a new token; otherwise a new conversation starts (201).
#[utoipa::path(post, path = "/v1/widget/conversations", tag = "conversations",
    request_body = WidgetStartBody,
    responses((status = 201, body = WidgetStartResponse),
        (status = 200, description = "The verified customer's open conversation, resumed", body = WidgetStartResponse),
        (status = 401, description = "Unknown public key, or an identity without a valid identity_hash (nothing is stored)", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "Too many starts from this client; see Retry-After", body = crate::error::ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(body): Json<WidgetStartBody>,
) -> ApiResult<(StatusCode, Json<WidgetStartResponse>)> {
    let tenant = widget_tenant(&state, &body.public_key, peer, &headers).await?;
    let (customer, attributes, identity) =
        widget_input(&state, &tenant, body.customer, body.page_url).await?;
    let mode = if identity == Identity::Verified {
        WidgetOpen::StartOrResume
    } else {
        WidgetOpen::Start
    };
    let opened = open(&state, &tenant, customer, attributes, mode, identity).await?;
    let (status, response) = opened.ok_or(ApiError::NotFound("conversation"))?;
    Ok((status, Json(response)))
}

/// `POST /v1/widget/resume`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetResumeBody {
    /// The tenant's public widget key.
    pub public_key: String,
    /// The verified customer: `external_id` and `identity_hash` required.
    pub customer: WidgetCustomerBody,
    /// The page the widget runs on, at most 2000 characters.
    #[schema(max_length = 2000)]
    pub page_url: Option<String>,
}

/// A verified customer's open web conversation, with a new customer token for this device:
/// what the widget calls on load when the site identifies the customer, so their conversation
/// follows them. 404 when they have none open (nothing is written); identity verification
/// must be on (a secret configured) and the identity valid.
#[utoipa::path(post, path = "/v1/widget/resume", tag = "conversations",
    request_body = WidgetResumeBody,
    responses((status = 200, body = WidgetStartResponse),
        (status = 401, description = "Unknown public key, or an identity without a valid identity_hash", body = crate::error::ErrorBody),
        (status = 404, description = "No open conversation for this customer", body = crate::error::ErrorBody),
        (status = 409, description = "Identity verification is off: only verified customers resume", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "Too many requests from this client; see Retry-After", body = crate::error::ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(body): Json<WidgetResumeBody>,
) -> ApiResult<Json<WidgetStartResponse>> {
    let tenant = widget_tenant(&state, &body.public_key, peer, &headers).await?;
    let (customer, attributes, identity) =
        widget_input(&state, &tenant, body.customer, body.page_url).await?;
    match identity {
        Identity::Verified => {}
        Identity::Anonymous => {
            return Err(ApiError::invalid(
                "invalid_identity",
                "resuming needs customer.external_id and customer.identity_hash",
            ));
        }
        Identity::Unverified => {
            return Err(ApiError::Conflict {
                code: "identity_verification_off",
                message: "only verified customers resume conversations, and this site has no widget identity secret: an admin creates one with POST /v1/widget/identity-secret".into(),
            });
        }
    }
    let opened = open(
        &state,
        &tenant,
        customer,
        attributes,
        WidgetOpen::ResumeOnly,
        identity,
    )
    .await?;
    let (_, response) = opened.ok_or(ApiError::NotFound("open conversation"))?;
    Ok(Json(response))
}

async fn open(
    state: &AppState,
    tenant: &TenantId,
    customer: baton_engine::service::CustomerInput,
    attributes: serde_json::Map<String, Value>,
    mode: WidgetOpen,
    identity: Identity,
) -> ApiResult<Option<(StatusCode, WidgetStartResponse)>> {
    // The conversation and its token commit together: never one without the other.
    let token = new_secret("bc_");
    let now = now();
    let Some(opened) = service::open_widget_conversation(
        state.store().as_ref(),
        tenant,
        customer,
        attributes,
        mode,
        &hash_secret(&token),
        now.plus_millis(CUSTOMER_TOKEN_TTL_MS),
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    let view = ConversationView::new(opened.outcome.conversation, Some(opened.customer));
    let view = if opened.resumed {
        crate::routes::conversations::with_position(state, tenant, view).await
    } else {
        view
    };
    Ok(Some((
        if opened.resumed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        WidgetStartResponse {
            conversation: customer_view(view),
            token,
            resumed: opened.resumed,
            identity: identity.as_str().into(),
        },
    )))
}

/// `POST /v1/conversations/{id}/contact`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// Where the team may write to the customer.
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,31})?@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    )]
    pub email: String,
}

/// The customer leaves their email (the widget's form when nobody can answer now): it becomes
/// the email on their profile, where email follow-ups find it, and a `customer_email_set`
/// event records it. Customer tokens (their own conversation) and API keys.
#[utoipa::path(post, path = "/v1/conversations/{id}/contact", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = ContactBody,
    responses((status = 200, body = ConversationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<ContactBody>,
) -> ApiResult<Json<ConversationView>> {
    let customer_token = match &principal.kind {
        PrincipalKind::Customer { .. } => true,
        PrincipalKind::Integration { .. } => false,
        PrincipalKind::Person { .. } => {
            return Err(ApiError::forbidden(
                "the customer leaves their own email, through the widget or an integration",
            ));
        }
    };
    let id = super::conversation_id(&id)?;
    let email =
        EmailAddress::parse(&body.email).map_err(|e| ApiError::invalid("invalid_email", e.0))?;
    let (outcome, customer) = service::set_customer_email(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &email,
        &principal.actor(),
        now(),
    )
    .await?;
    let view = ConversationView::new(outcome.conversation, Some(customer));
    Ok(Json(if customer_token {
        customer_view(view)
    } else {
        view
    }))
}

/// The customer's view of their conversation: no brief, escalation, held replies, offer or
/// routing explanation.
pub fn customer_view(mut view: ConversationView) -> ConversationView {
    view.brief = None;
    view.escalation = None;
    view.held = Vec::new();
    view.offer = None;
    view.routing = None;
    // A pending transfer carries the team's internal note.
    view.transfer = None;
    if let Some(h) = view.handoff.as_mut() {
        h.note = None;
    }
    view
}

/// Customer tokens may only use their own conversation's customer routes; everything else
/// is 403. Other principals pass.
pub fn customer_may(principal: &Principal, parts: &axum::http::request::Parts) -> ApiResult<()> {
    let PrincipalKind::Customer { conversation } = &principal.kind else {
        return Ok(());
    };
    let path = parts.uri.path();
    let method = &parts.method;
    if path == "/v1/widget/live" && method == Method::GET {
        return Ok(());
    }
    let own = format!("/v1/conversations/{conversation}");
    let allowed = match path.strip_prefix(own.as_str()) {
        Some("") => method == Method::GET,
        Some("/messages") | Some("/attachments") => method == Method::GET || method == Method::POST,
        Some(file) if file.starts_with("/attachments/") => method == Method::GET,
        Some("/handoff") | Some("/csat") | Some("/contact") | Some("/typing") => {
            method == Method::POST
        }
        _ => false,
    };
    if allowed || method == Method::OPTIONS {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "a customer token may only read and write its own conversation",
        ))
    }
}

/// CORS for the routes the widget calls from customers' sites: any origin, bearer tokens only
/// (no cookies), preflights answered here.
pub async fn cors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let applies = path.starts_with("/v1/widget/") || path.starts_with("/v1/conversations/");
    if !applies {
        return next.run(request).await;
    }
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, idempotency-key"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return response;
    }
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The customer's live stream: their conversation's customer-visible events (messages except
/// notes, agent joined with their name, closed, deferred, place in line). The first frame is
/// `{"type": "hello", "conversation", "agent_name"}` with the current state.
#[utoipa::path(get, path = "/v1/widget/live", tag = "operations",
    params(("token" = String, Query, description = "The customer token (bc_...)")),
    responses((status = 101, description = "WebSocket upgrade"), (status = 401, body = crate::error::ErrorBody)))]
async fn live(
    State(state): State<AppState>,
    principal: Principal,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let PrincipalKind::Customer { conversation } = principal.kind.clone() else {
        return Err(ApiError::forbidden(
            "this stream is for widget customer tokens",
        ));
    };
    let events = state.store().subscribe();
    let typing = state.typing.subscribe();
    let tenant = principal.tenant.clone();
    let conv = state
        .store()
        .conversation(&tenant, &conversation)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    let mut names = Names::default();
    let agent_name = match &conv.assignee {
        Some(a) => names.get(&state, &tenant, a).await,
        None => None,
    };
    let customer = state.store().customer(&tenant, &conv.customer).await?;
    let view = crate::routes::conversations::with_position(
        &state,
        &tenant,
        ConversationView::new(conv, customer),
    )
    .await;
    let hello = json!({
        "type": "hello",
        "conversation": customer_view(view),
        "agent_name": agent_name,
    })
    .to_string();
    Ok(ws
        .read_buffer_size(super::ops::LIVE_READ_BUFFER)
        .on_upgrade(move |mut socket| async move {
            if socket.send(Message::Text(hello.into())).await.is_ok() {
                stream(socket, events, typing, state, tenant, conversation, names).await;
            }
        }))
}

#[derive(Default)]
struct Names(HashMap<String, Option<String>>);

impl Names {
    async fn get(
        &mut self,
        state: &AppState,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> Option<String> {
        if let Some(name) = self.0.get(agent.as_str()) {
            return name.clone();
        }
        let name = state
            .store()
            .agent(tenant, agent)
            .await
            .ok()
            .flatten()
            .map(|a| a.name);
        self.0.insert(agent.to_string(), name.clone());
        name
    }
}

/// How often a waiting customer's place in line is looked at, at most.
const POSITION_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The customer-facing form of an event, or `None` when the customer must not see it.
async fn customer_event(event: &StoredEvent, state: &AppState, names: &mut Names) -> Option<Value> {
    use EventKind as E;
    let at = rfc3339(event.at);
    let data = match event.event()? {
        E::MessageAdded { message } => {
            if message.role == MessageRole::Note {
                return None;
            }
            let agent_name = match &message.agent {
                Some(a) => names.get(state, &event.tenant, a).await,
                None => None,
            };
            json!({
                "message": {
                    "id": message.id,
                    "role": message.role,
                    "text": message.text,
                    "attachment": message.attachment,
                    "created_at": at,
                    "agent_name": agent_name,
                }
            })
        }
        E::Assigned { agent, .. } => {
            json!({ "agent_name": names.get(state, &event.tenant, agent).await })
        }
        E::QueuePositions {
            position,
            estimated_wait_secs,
        } => json!({
            "position": position,
            "estimated_wait_secs": estimated_wait_secs,
        }),
        E::Closed { resolution } => json!({ "resolution": resolution }),
        E::CsatRecorded { score, .. } => json!({ "score": score }),
        E::HandoffRequested { .. }
        | E::Transferred { .. }
        | E::Reopened
        | E::Deferred { .. }
        | E::Requeued => json!({}),
        // The team's side of the conversation.
        E::Started { .. }
        | E::Offered { .. }
        | E::OfferDeclined { .. }
        | E::OfferExpired { .. }
        | E::TransferRequested { .. }
        | E::TransferCancelled { .. }
        | E::PriorityChanged { .. }
        | E::BotReplyHeld { .. }
        | E::BotReplyApproved { .. }
        | E::BotReplyRejected { .. }
        | E::DraftUsed { .. }
        | E::BriefBuilt { .. }
        | E::EscalationEvaluated { .. }
        | E::QueueChanged { .. }
        | E::OverflowStep { .. }
        | E::CustomerEmailSet { .. }
        | E::FirstReplyOverdue { .. }
        | E::CapacityOverridden { .. } => return None,
    };
    Some(json!({
        "seq": event.seq,
        "type": event.kind(),
        "conversation_id": event.conversation,
        "data": data,
        "at": at,
    }))
}

async fn stream(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Arc<StoredEvent>>,
    mut typing: broadcast::Receiver<Arc<super::typing::Typing>>,
    state: AppState,
    tenant: TenantId,
    conversation: ConversationId,
    mut names: Names,
) {
    // Places in line are not events: after any change in the tenant, the customer's place is
    // read from the live router at most once per interval and sent when it moved.
    let mut positions = tokio::time::interval(POSITION_EVERY);
    positions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut moved = false;
    let mut last: Option<(u32, Option<u64>)> = None;
    loop {
        tokio::select! {
            _ = positions.tick(), if moved => {
                moved = false;
                let place = state.engine
                    .routing
                    .position(&tenant, &conversation)
                    .await
                    .map(|p| (p.position, p.estimated_wait_secs));
                if let Some((position, wait)) = place
                    && place != last
                {
                    last = place;
                    let frame = json!({
                        "type": "queue_positions",
                        "conversation_id": conversation,
                        "data": {"position": position, "estimated_wait_secs": wait},
                    });
                    if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
            event = events.recv() => match event {
                Ok(event) if event.tenant == tenant && event.conversation.as_ref() == Some(&conversation) => {
                    moved = true;
                    let Some(out) = customer_event(&event, &state, &mut names).await else { continue };
                    if socket.send(Message::Text(out.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Ok(event) => moved |= event.tenant == tenant,
                Err(RecvError::Lagged(missed)) => {
                    let note = json!({ "type": "lagged", "missed": missed }).to_string();
                    if socket.send(Message::Text(note.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            signal = typing.recv() => match signal {
                Ok(t) if t.role == "agent" && t.tenant == tenant && t.conversation == conversation => {
                    let frame = json!({
                        "type": "typing",
                        "conversation_id": conversation,
                        "data": {"role": "agent", "agent_name": t.name, "typing": t.typing},
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
