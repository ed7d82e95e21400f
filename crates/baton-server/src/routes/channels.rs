//! `/v1/channels`: the WhatsApp Cloud API channel and email, per tenant.
//!
//! - `PUT/GET/DELETE /v1/channels/whatsapp` (admins): the business number, its access token,
//!   the app secret that signs Meta's webhooks and the verify token of the handshake. Secrets
//!   are stored in the tenant's settings and never shown again (`"***"`); the audit event records
//!   the change without them. Saving it subscribes the channel to `message_added` events of
//!   `whatsapp` conversations, which the delivery worker sends (`deliveries::whatsapp`).
//! - `GET/POST /v1/channels/whatsapp/{tenant}/webhook` (public, called by Meta): the
//!   verification handshake, and signed webhooks with customer messages, button taps and
//!   delivery receipts. A customer message goes through the same pipeline as
//!   `POST /v1/conversations/{id}/messages` (escalation detection, the bot, routing), deduplicated
//!   on the WhatsApp message id so Meta's retries never store a message or run the bot twice.
//! - `PUT/GET /v1/channels/email` (admins): email notifications and follow-ups through the
//!   instance's SMTP server (`deliveries::email`).

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::{AppState, now};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_channels::whatsapp::{self, Content, DeliveryStatus, Inbound};
use baton_core::conversation::{Actor, Command, HandoffSource};
use baton_core::{AgentId, ConversationId, ConversationState, MessageRole, Role, TenantId};
use baton_engine::pipeline::{add_turn, apply_command};
use baton_engine::service::{self, CustomerInput, NewMessage};
use baton_store::outbox::{Subscription, SubscriptionKind};
use baton_store::{NewEvent, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tenant setting holding the WhatsApp channel (with its secrets; `null` when disabled).
pub const WHATSAPP_SETTING: &str = "whatsapp";
/// The tenant setting holding the email channel.
pub const EMAIL_SETTING: &str = "email";
/// The conversation channel of WhatsApp conversations.
pub const WHATSAPP_CHANNEL: &str = "whatsapp";
/// The id of the reply button that asks for a person.
pub const HANDOFF_BUTTON_ID: &str = "baton_handoff";
/// Its label (WhatsApp allows 20 characters).
pub const HANDOFF_BUTTON_TITLE: &str = "Talk to a person";
/// The handoff reason of a tap on [`HANDOFF_BUTTON_ID`].
pub const HANDOFF_REASON: &str = "customer_request";
/// What an unchanged secret looks like in `GET` answers and may be sent back as in `PUT`.
const REDACTED: &str = "***";

/// The channel routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_whatsapp, put_whatsapp, delete_whatsapp))
        .routes(routes!(whatsapp_handshake, whatsapp_webhook))
        .routes(routes!(get_email, put_email))
}

// ---------------------------------------------------------------------------------------------
// WhatsApp configuration
// ---------------------------------------------------------------------------------------------

/// An approved message template, sent instead of a message outside the 24-hour window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// The template's name, e.g. `"follow_up"`.
    #[schema(min_length = 1, max_length = 512, pattern = "\\S")]
    pub name: String,
    /// Its language code, e.g. `"en_US"`.
    #[schema(min_length = 1, max_length = 16, pattern = "\\S")]
    pub language: String,
}

/// The WhatsApp channel of a tenant: one business number of the Cloud API.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappConfig {
    /// The *Phone number ID* from the Meta app dashboard (not the phone number).
    #[schema(pattern = "^\\s*[A-Za-z0-9]{1,64}\\s*$")]
    pub phone_number_id: String,
    /// A system-user access token with `whatsapp_business_messaging`. `"***"` keeps the stored one.
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub access_token: String,
    /// The Meta app's secret, which signs webhooks (`X-Hub-Signature-256`). `"***"` keeps it.
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub app_secret: String,
    /// The verify token you type in the dashboard for the handshake. `"***"` keeps it.
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub verify_token: String,
    /// The Graph API host; default `https://graph.facebook.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 2000,
        pattern = r"^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    pub api_base_url: Option<String>,
    /// The Graph API version, e.g. `"v23.0"`; default the one Baton was tested with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9.]{1,16}$")]
    pub api_version: Option<String>,
    /// Sent instead of a reply when the customer last wrote more than 24 hours ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_template: Option<TemplateRef>,
    /// Offer a "Talk to a person" button under bot replies (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_button: Option<bool>,
}

// The token and secrets must never reach a log.
impl fmt::Debug for WhatsappConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsappConfig")
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &REDACTED)
            .field("app_secret", &REDACTED)
            .field("verify_token", &REDACTED)
            .field("api_base_url", &self.api_base_url)
            .field("api_version", &self.api_version)
            .field("fallback_template", &self.fallback_template)
            .field("handoff_button", &self.handoff_button)
            .finish()
    }
}

impl WhatsappConfig {
    /// The stored configuration of a tenant, if the channel is on.
    pub async fn load(store: &dyn Store, tenant: &TenantId) -> ApiResult<Option<WhatsappConfig>> {
        Ok(store
            .setting(tenant, WHATSAPP_SETTING)
            .await?
            .filter(|v| !v.is_null())
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// The same with the secrets replaced by `"***"`.
    pub fn redacted(&self) -> WhatsappConfig {
        WhatsappConfig {
            access_token: REDACTED.into(),
            app_secret: REDACTED.into(),
            verify_token: REDACTED.into(),
            ..self.clone()
        }
    }

    /// A Graph API client for this number.
    pub fn client(&self, http: reqwest::Client) -> whatsapp::Client {
        let mut client = whatsapp::Client::new(http, &self.phone_number_id, &self.access_token);
        if let Some(base) = &self.api_base_url {
            client = client.with_base_url(base);
        }
        if let Some(version) = &self.api_version {
            client = client.with_api_version(version);
        }
        client
    }

    /// Whether bot replies carry the "Talk to a person" button.
    pub fn offers_handoff_button(&self) -> bool {
        self.handoff_button.unwrap_or(true)
    }

    /// Secrets sent as `"***"` keep the stored ones.
    fn keep_secrets(&mut self, stored: Option<&WhatsappConfig>) -> ApiResult<()> {
        for (name, field, old) in [
            (
                "access_token",
                &mut self.access_token,
                stored.map(|s| &s.access_token),
            ),
            (
                "app_secret",
                &mut self.app_secret,
                stored.map(|s| &s.app_secret),
            ),
            (
                "verify_token",
                &mut self.verify_token,
                stored.map(|s| &s.verify_token),
            ),
        ] {
            if *field == REDACTED {
                *field = old.cloned().ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_whatsapp",
                        format!("{name} is \"***\" but none is stored yet: send the real value"),
                    )
                })?;
            }
        }
        Ok(())
    }

    fn validate(&mut self) -> ApiResult<()> {
        let bad = |message: String| ApiError::invalid("invalid_whatsapp", message);
        self.phone_number_id = self.phone_number_id.trim().to_string();
        if self.phone_number_id.is_empty()
            || self.phone_number_id.len() > 64
            || !self
                .phone_number_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad(
                "phone_number_id must be the Phone number ID from the Meta app dashboard (digits)"
                    .into(),
            ));
        }
        for (name, value) in [
            ("access_token", &self.access_token),
            ("app_secret", &self.app_secret),
            ("verify_token", &self.verify_token),
        ] {
            if value.trim().is_empty() || value.len() > 1024 {
                return Err(bad(format!("{name} must be 1 to 1024 characters")));
            }
        }
        if let Some(base) = &mut self.api_base_url {
            *base = base.trim().trim_end_matches('/').to_string();
            let parsed = reqwest::Url::parse(base).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(bad(format!(
                    "api_base_url {base:?} must be an http(s) URL such as https://graph.facebook.com"
                )));
            }
        }
        if let Some(version) = &self.api_version
            && (version.is_empty()
                || version.len() > 16
                || !version
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.'))
        {
            return Err(bad(format!(
                "api_version {version:?} must look like \"v23.0\""
            )));
        }
        if let Some(t) = &self.fallback_template {
            let name_ok = !t.name.trim().is_empty() && t.name.len() <= 512;
            let lang_ok = !t.language.trim().is_empty() && t.language.len() <= 16;
            if !(name_ok && lang_ok) {
                return Err(bad(
                    "fallback_template needs a name (up to 512 characters) and a language code such as \"en_US\""
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// The WhatsApp channel as admins see it: the configuration, secrets shown as `"***"`, and the
/// webhook path. (Its own fields, not a flattened [`WhatsappConfig`], whose schema forbids
/// other properties.)
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappView {
    /// The *Phone number ID* from the Meta app dashboard.
    pub phone_number_id: String,
    /// Always `"***"`.
    pub access_token: String,
    /// Always `"***"`.
    pub app_secret: String,
    /// Always `"***"`.
    pub verify_token: String,
    /// The Graph API host, when not the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// The Graph API version, when not the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Sent instead of a reply when the customer last wrote more than 24 hours ago.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_template: Option<TemplateRef>,
    /// Whether bot replies offer a "Talk to a person" button, when set (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff_button: Option<bool>,
    /// The callback URL path to register in the Meta app dashboard (after your host).
    pub webhook_path: String,
}

fn whatsapp_view(tenant: &TenantId, config: &WhatsappConfig) -> WhatsappView {
    let config = config.redacted();
    WhatsappView {
        phone_number_id: config.phone_number_id,
        access_token: config.access_token,
        app_secret: config.app_secret,
        verify_token: config.verify_token,
        api_base_url: config.api_base_url,
        api_version: config.api_version,
        fallback_template: config.fallback_template,
        handoff_button: config.handoff_button,
        webhook_path: format!("/v1/channels/whatsapp/{tenant}/webhook"),
    }
}

/// The tenant's WhatsApp channel, secrets shown as `"***"`; 404 when it is off.
#[utoipa::path(get, path = "/v1/channels/whatsapp", tag = "configuration",
    responses((status = 200, body = WhatsappView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_whatsapp(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<WhatsappView>> {
    principal.require_role(Role::Supervisor)?;
    let config = WhatsappConfig::load(state.store().as_ref(), &principal.tenant)
        .await?
        .ok_or(ApiError::NotFound("whatsapp channel"))?;
    Ok(Json(whatsapp_view(&principal.tenant, &config)))
}

/// Set up (or change) the WhatsApp channel. Secrets given as `"***"` keep the stored ones.
#[utoipa::path(put, path = "/v1/channels/whatsapp", tag = "configuration",
    request_body = WhatsappConfig,
    responses((status = 200, body = WhatsappView), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_whatsapp(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Value>,
) -> ApiResult<Json<WhatsappView>> {
    principal.require_role(Role::Admin)?;
    let tenant = &principal.tenant;
    let mut config: WhatsappConfig = serde_json::from_value(body)
        .map_err(|e| ApiError::invalid("invalid_whatsapp", format!("whatsapp: {e}")))?;
    let stored = WhatsappConfig::load(state.store().as_ref(), tenant).await?;
    config.keep_secrets(stored.as_ref())?;
    config.validate()?;
    if let Some(base) = &config.api_base_url {
        state.engine.outbound.check("api_base_url", base).await?;
    }
    let value = serde_json::to_value(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    let subscription = channel_subscription(
        state.store().as_ref(),
        tenant,
        SubscriptionKind::Whatsapp,
        &["message_added"],
        Some(WHATSAPP_CHANNEL),
        json!({}),
    )
    .await?;
    save_channel(
        &state,
        &principal,
        WHATSAPP_SETTING,
        &value,
        json!({
            "before": stored.map(|s| s.redacted()),
            "after": config.redacted(),
        }),
        Ok(subscription),
    )
    .await?;
    Ok(Json(whatsapp_view(tenant, &config)))
}

/// Turn the WhatsApp channel off: webhooks are refused and nothing more is sent.
#[utoipa::path(delete, path = "/v1/channels/whatsapp", tag = "configuration",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_whatsapp(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    let stored = WhatsappConfig::load(state.store().as_ref(), &principal.tenant)
        .await?
        .ok_or(ApiError::NotFound("whatsapp channel"))?;
    save_channel(
        &state,
        &principal,
        WHATSAPP_SETTING,
        &Value::Null,
        json!({"before": stored.redacted(), "after": null}),
        Err(SubscriptionKind::Whatsapp),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's subscription of `kind` (created or updated), with the events it wants.
async fn channel_subscription(
    store: &dyn Store,
    tenant: &TenantId,
    kind: SubscriptionKind,
    events: &[&str],
    channel: Option<&str>,
    config: Value,
) -> ApiResult<Subscription> {
    let existing = store
        .subscriptions(tenant, Some(kind))
        .await?
        .into_iter()
        .next();
    Ok(Subscription {
        id: existing
            .as_ref()
            .map(|s| s.id.clone())
            .unwrap_or_else(|| format!("sub_{}", baton_store::ids::new_suffix())),
        tenant: tenant.clone(),
        kind,
        events: events.iter().map(|e| e.to_string()).collect(),
        channel: channel.map(str::to_string),
        config,
        enabled: true,
        created_at: existing.map_or_else(now, |s| s.created_at),
    })
}

/// Stores a channel setting, its subscription (`Ok`: put; `Err(kind)`: remove the tenant's
/// subscriptions of that kind) and an audit event whose data the caller stripped of secrets,
/// in one transaction.
async fn save_channel(
    state: &AppState,
    principal: &Principal,
    key: &str,
    value: &Value,
    audit: Value,
    subscription: Result<Subscription, SubscriptionKind>,
) -> ApiResult<()> {
    let tenant = &principal.tenant;
    let now = now();
    let removed = match &subscription {
        Err(kind) => state.store().subscriptions(tenant, Some(*kind)).await?,
        Ok(_) => Vec::new(),
    };
    let mut data = json!({ "key": key });
    if let (Some(data), Value::Object(audit)) = (data.as_object_mut(), audit) {
        data.extend(audit);
    }
    let mut tx = state.store().begin().await?;
    tx.put_setting(tenant, key, value, now).await?;
    match &subscription {
        Ok(sub) => tx.put_subscription(sub).await?,
        Err(_) => {
            for sub in &removed {
                tx.delete_subscription(tenant, &sub.id).await?;
            }
        }
    }
    // Like `service::put_settings`, but the audit trail (streamed live to agents) never sees
    // the secrets.
    tx.append_event(&NewEvent::tenant(
        tenant,
        format!("{key}_updated"),
        &principal.actor(),
        data,
        now,
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// WhatsApp webhooks
// ---------------------------------------------------------------------------------------------

/// Meta's verification request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct HandshakeQuery {
    /// Always `subscribe`.
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    mode: Option<String>,
    /// The verify token configured for the channel.
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    verify_token: Option<String>,
    /// Echoed back on success.
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    challenge: Option<String>,
}

fn tenant_of(raw: &str) -> ApiResult<TenantId> {
    TenantId::parse(raw).map_err(|_| ApiError::NotFound("whatsapp channel"))
}

/// Meta's webhook verification (public): `200` with `hub.challenge` as plain text when the
/// verify token matches, `403` otherwise.
#[utoipa::path(get, path = "/v1/channels/whatsapp/{tenant}/webhook", tag = "conversations",
    params(("tenant" = String, Path, description = "Tenant id"), HandshakeQuery),
    responses((status = 200, description = "the challenge", body = String),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn whatsapp_handshake(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HandshakeQuery>,
) -> ApiResult<Response> {
    let tenant = tenant_of(&tenant)?;
    let config = WhatsappConfig::load(state.store().as_ref(), &tenant)
        .await?
        .ok_or(ApiError::NotFound("whatsapp channel"))?;
    let challenge = whatsapp::verify_handshake(
        q.mode.as_deref(),
        q.verify_token.as_deref(),
        q.challenge.as_deref(),
        &config.verify_token,
    )
    .map_err(|e| ApiError::forbidden(format!("WhatsApp webhook verification refused: {e}")))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge,
    )
        .into_response())
}

/// What one webhook delivery came to.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct WebhookReceipt {
    /// Customer messages stored.
    pub stored: usize,
    /// Customer messages seen before (Meta retries), not stored again.
    pub duplicates: usize,
    /// Delivery receipts recorded.
    pub statuses: usize,
    /// Entries not for this channel's number, or of kinds Baton ignores.
    pub ignored: usize,
}

/// Meta's webhook (public), signed with the app secret in `X-Hub-Signature-256`: customer
/// messages, button taps and delivery receipts. A missing or wrong signature is a `401` and
/// nothing is stored. Anything well signed is answered `200`, even payloads Baton ignores.
#[utoipa::path(post, path = "/v1/channels/whatsapp/{tenant}/webhook", tag = "conversations",
    params(("tenant" = String, Path, description = "Tenant id"),
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the body with the app secret>")),
    request_body(content = String, description = "Meta's webhook JSON, as sent", content_type = "application/json"),
    responses((status = 200, body = WebhookReceipt), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn whatsapp_webhook(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookReceipt>> {
    let tenant = tenant_of(&tenant)?;
    let config = WhatsappConfig::load(state.store().as_ref(), &tenant)
        .await?
        .ok_or(ApiError::NotFound("whatsapp channel"))?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !whatsapp::verify_signature(&config.app_secret, &body, signature) {
        return Err(ApiError::Unauthorized(
            "invalid_signature",
            "X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of the body with the channel's app secret".into(),
        ));
    }
    let mut receipt = WebhookReceipt::default();
    let inbound = match whatsapp::parse_webhook(&body) {
        Ok(inbound) => inbound,
        Err(e) => {
            // Signed by Meta, so a retry would not read better: acknowledge and log.
            tracing::warn!(%tenant, error = %e, "ignoring a WhatsApp webhook Baton cannot read");
            receipt.ignored += 1;
            return Ok(Json(receipt));
        }
    };
    for item in inbound {
        match item {
            Inbound::Message {
                phone_number_id, ..
            } if phone_number_id != config.phone_number_id => {
                tracing::info!(%tenant, %phone_number_id, "WhatsApp message for another number ignored");
                receipt.ignored += 1;
            }
            Inbound::Message {
                from,
                profile_name,
                id,
                content,
                ..
            } => {
                let customer = Sender {
                    wa_id: from,
                    name: profile_name,
                };
                match receive(&state, &tenant, &customer, id, content).await? {
                    Received::Stored => receipt.stored += 1,
                    Received::Duplicate => receipt.duplicates += 1,
                    Received::Ignored => receipt.ignored += 1,
                }
            }
            Inbound::Status {
                id,
                status,
                recipient_id,
                error_code,
                error,
                ..
            } => {
                record_status(
                    &state,
                    &tenant,
                    &id,
                    &status,
                    &recipient_id,
                    error_code,
                    error,
                );
                receipt.statuses += 1;
            }
        }
    }
    Ok(Json(receipt))
}

/// Logs and counts a delivery receipt of a message Baton sent.
fn record_status(
    state: &AppState,
    tenant: &TenantId,
    wamid: &str,
    status: &DeliveryStatus,
    recipient: &str,
    error_code: Option<i64>,
    error: Option<String>,
) {
    let name = match status {
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Read => "read",
        DeliveryStatus::Failed if error_code == Some(131_047) => "failed_outside_window",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Other(_) => "other",
    };
    state.metrics.whatsapp_status(name);
    match status {
        DeliveryStatus::Failed if error_code == Some(131_047) => tracing::warn!(
            %tenant, wamid, recipient, error = error.as_deref().unwrap_or(""),
            "WhatsApp message not delivered: outside the 24-hour customer-service window \
             (131047); configure a fallback template"
        ),
        DeliveryStatus::Failed => tracing::warn!(
            %tenant, wamid, recipient, error = error.as_deref().unwrap_or(""),
            "WhatsApp message not delivered"
        ),
        _ => tracing::info!(%tenant, wamid, recipient, status = name, "WhatsApp delivery status"),
    }
}

/// The customer a webhook message is from.
struct Sender {
    wa_id: String,
    name: Option<String>,
}

enum Received {
    Stored,
    Duplicate,
    Ignored,
}

/// Longest WhatsApp message id Baton stores as a message's `external_id`.
const MAX_EXTERNAL_ID: usize = 200;

/// Handles one customer message: text, a button tap, or something Baton cannot show.
async fn receive(
    state: &AppState,
    tenant: &TenantId,
    sender: &Sender,
    wamid: String,
    content: Content,
) -> ApiResult<Received> {
    if wamid.is_empty() || wamid.len() > MAX_EXTERNAL_ID || sender.wa_id.trim().is_empty() {
        tracing::warn!(%tenant, "WhatsApp message without a usable id or sender ignored");
        return Ok(Received::Ignored);
    }
    let store = state.store().as_ref();
    let handoff = matches!(&content, Content::Button { id, .. } if id == HANDOFF_BUTTON_ID);
    // Seen before (a retry by Meta): nothing is stored and the bot does not run again. A retry
    // that races its original past this read is still caught inside post_message.
    if let Some(message) = store.message_with_external_id(tenant, &wamid).await? {
        if handoff {
            // The tap was stored but the handoff may not have been (a crash in between).
            request_person(state, tenant, &message.conversation).await?;
        }
        return Ok(Received::Duplicate);
    }
    let (text, payload) = match content {
        Content::Text(text) => (text, None),
        Content::Button { id, title } => (title, Some(Value::String(id))),
        Content::Unsupported { kind } => (
            format!("[The customer sent a WhatsApp {kind} message, which Baton cannot show.]"),
            None,
        ),
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return Ok(Received::Ignored);
    }
    let text: String = text.chars().take(crate::dto::MAX_TEXT).collect();
    let conversation = open_conversation(state, tenant, sender).await?;
    // A retry by Meta is a duplicate `external_id`: nothing is stored again and the bot does
    // not run again (post_message dedupes inside its transaction).
    let input = NewMessage {
        role: MessageRole::Customer,
        text,
        external_id: Some(wamid),
        bot: None,
    };
    let outcome = if handoff {
        // A certain request for a person: stored as the customer's words, without the bot or
        // the detector (whose reason would be a guess), then handed off as asked.
        let outcome = service::post_message(
            store,
            tenant,
            &conversation,
            input,
            &Actor::Customer,
            now(),
            None,
        )
        .await?;
        if !outcome.duplicate {
            request_person(state, tenant, &conversation).await?;
        }
        outcome
    } else {
        add_turn(
            &state.engine,
            tenant,
            &conversation,
            input,
            &Actor::Customer,
            payload.as_ref(),
        )
        .await?
    };
    Ok(if outcome.duplicate {
        Received::Duplicate
    } else {
        Received::Stored
    })
}

/// Hands a conversation to a person because the customer tapped "Talk to a person", unless a
/// person already has it or it is already waiting for one.
async fn request_person(
    state: &AppState,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> ApiResult<()> {
    let Some(conv) = state.store().conversation(tenant, conversation).await? else {
        return Ok(());
    };
    if !matches!(
        conv.state,
        ConversationState::Bot | ConversationState::Deferred
    ) {
        return Ok(());
    }
    let command = Command::RequestHandoff {
        reason: HANDOFF_REASON.into(),
        source: HandoffSource::Customer,
        queue: None,
        priority: None,
        note: None,
    };
    match apply_command(
        &state.engine,
        tenant,
        conversation,
        command,
        &Actor::Customer,
        false,
    )
    .await
    .map_err(ApiError::from)
    {
        // Someone else moved it meanwhile: it is with (or waiting for) a person either way.
        Ok(_) | Err(ApiError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The customer's open WhatsApp conversation, or a new one.
async fn open_conversation(
    state: &AppState,
    tenant: &TenantId,
    sender: &Sender,
) -> ApiResult<ConversationId> {
    let phone = sender
        .wa_id
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| format!("+{}", sender.wa_id));
    let customer = CustomerInput {
        external_id: Some(sender.wa_id.clone()),
        name: sender.name.clone().filter(|n| !n.trim().is_empty()),
        phone,
        ..CustomerInput::default()
    };
    let mut attributes = serde_json::Map::new();
    attributes.insert("source".into(), json!("whatsapp"));
    let (id, _) = service::open_channel_conversation(
        state.store().as_ref(),
        tenant,
        customer,
        WHATSAPP_CHANNEL,
        attributes,
        now(),
    )
    .await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------------------------

/// The email channel of a tenant: `PUT /v1/channels/email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// Send email at all: replies to deferred conversations, transcripts, notifications.
    pub enabled: bool,
    /// Agents (ids) emailed when a conversation is handed off.
    #[serde(default)]
    pub notify_agents: Vec<String>,
}

/// The email channel as admins see it: the tenant's settings and whether they take effect.
/// (Its own fields, not a flattened [`EmailChannel`], whose schema forbids other properties.)
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChannelView {
    /// Send email at all: replies to deferred conversations, transcripts, notifications.
    pub enabled: bool,
    /// Agents (ids) emailed when a conversation is handed off.
    pub notify_agents: Vec<String>,
    /// Whether this instance has an SMTP server (`[smtp]`); without one nothing is sent.
    pub smtp_configured: bool,
}

impl EmailChannelView {
    fn new(channel: EmailChannel, smtp_configured: bool) -> Self {
        EmailChannelView {
            enabled: channel.enabled,
            notify_agents: channel.notify_agents,
            smtp_configured,
        }
    }
}

/// The tenant's email channel.
#[utoipa::path(get, path = "/v1/channels/email", tag = "configuration",
    responses((status = 200, body = EmailChannelView)), security(("bearer" = [])))]
async fn get_email(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<EmailChannelView>> {
    principal.require_role(Role::Supervisor)?;
    let channel = state
        .store()
        .setting(&principal.tenant, EMAIL_SETTING)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or(EmailChannel {
            enabled: false,
            notify_agents: Vec::new(),
        });
    Ok(Json(EmailChannelView::new(channel, state.mailer.is_some())))
}

/// Turn email on or off and choose the agents notified of handoffs.
#[utoipa::path(put, path = "/v1/channels/email", tag = "configuration",
    request_body = EmailChannel,
    responses((status = 200, body = EmailChannelView), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_email(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<EmailChannel>,
) -> ApiResult<Json<EmailChannelView>> {
    principal.require_role(Role::Admin)?;
    let tenant = &principal.tenant;
    let mut notify = Vec::new();
    for raw in &body.notify_agents {
        let unknown = || ApiError::invalid("unknown_agent", format!("there is no agent '{raw}'"));
        let id = AgentId::parse(raw.as_str()).map_err(|_| unknown())?;
        state
            .store()
            .agent(tenant, &id)
            .await?
            .ok_or_else(unknown)?;
        if !notify.contains(raw) {
            notify.push(raw.clone());
        }
    }
    let channel = EmailChannel {
        enabled: body.enabled,
        notify_agents: notify,
    };
    let value = serde_json::to_value(&channel).map_err(|e| ApiError::Internal(e.to_string()))?;
    let before = state.store().setting(tenant, EMAIL_SETTING).await?;
    let subscription = if channel.enabled {
        Ok(channel_subscription(
            state.store().as_ref(),
            tenant,
            SubscriptionKind::Email,
            &["handoff_requested", "message_added", "closed"],
            None,
            json!({ "notify_agents": channel.notify_agents }),
        )
        .await?)
    } else {
        Err(SubscriptionKind::Email)
    };
    save_channel(
        &state,
        &principal,
        EMAIL_SETTING,
        &value,
        json!({"before": before, "after": value}),
        subscription,
    )
    .await?;
    Ok(Json(EmailChannelView::new(channel, state.mailer.is_some())))
}
