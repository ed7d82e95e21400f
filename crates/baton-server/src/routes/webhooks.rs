//! Outbound webhooks (`/v1/webhooks`) and the delivery log (`/v1/deliveries`).
//!
//! A webhook is an outbox subscription of kind `webhook`: its events are stored as the log's
//! event kinds (`handoff_requested`), shown and accepted as public names
//! (`conversation.handoff_requested`, see [`PUBLIC_EVENTS`]). Its signing secret is returned
//! by create and `rotate-secret` only, and never recorded in the audit trail. Admins write;
//! supervisors read.

use crate::AppState;
use crate::auth::Principal;
use crate::deliveries::{PUBLIC_EVENTS, internal_event_kind, public_event_name};
use crate::dto::{Page, PageQuery, optional_text, rfc3339, token};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::now;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use baton_core::Role;
use baton_engine::service;
use baton_store::outbox::{Delivery, DeliveryState, Subscription, SubscriptionKind};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The webhook and delivery routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

/// Longest accepted URL.
pub const MAX_URL: usize = 2048;

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateWebhookBody {
    /// Where to POST: an absolute `http://` or `https://` URL (a public address, unless
    /// `allow_private_targets`).
    #[schema(
        max_length = 2048,
        pattern = r"^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    url: String,
    /// Public event names (`conversation.handoff_requested`...), or `"*"` for all.
    #[schema(schema_with = event_names)]
    events: Vec<String>,
    /// Only conversations on this channel (`web`, `whatsapp`, `sms`...), when set.
    #[serde(default)]
    #[schema(pattern = "^\\s*[a-z0-9_:.-]{1,32}\\s*$")]
    channel: Option<String>,
    /// A note for admins, at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    description: Option<String>,
}

/// `PATCH /v1/webhooks/{id}`: absent fields stay as they are; `null` clears `channel` and
/// `description`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateWebhookBody {
    /// New URL.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = r"^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    url: Option<String>,
    /// New event list (replaces the old one).
    #[serde(default)]
    #[schema(schema_with = event_names)]
    events: Option<Vec<String>>,
    /// Pause (`false`) or resume (`true`); a paused webhook gets no new deliveries.
    #[serde(default)]
    enabled: Option<bool>,
    /// New channel filter, or `null` for all channels.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    channel: Option<Option<String>>,
    /// New description, or `null` to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A webhook subscription.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookView {
    /// `sub_...`.
    id: String,
    /// Where Baton POSTs.
    url: String,
    /// Public event names, or `["*"]` for all.
    events: Vec<String>,
    /// Only conversations on this channel, when set.
    channel: Option<String>,
    /// A note for admins.
    description: Option<String>,
    /// Paused webhooks get no new deliveries.
    enabled: bool,
    /// Creation time.
    created_at: String,
    /// The signing secret (`whsec_...`): in the create and rotate-secret responses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<&Subscription> for WebhookView {
    fn from(s: &Subscription) -> Self {
        let events = if s.config["all_events"] == true {
            vec!["*".to_string()]
        } else {
            s.events
                .iter()
                .map(|k| public_event_name(k).map_or_else(|| k.clone(), str::to_string))
                .collect()
        };
        WebhookView {
            id: s.id.clone(),
            url: s.config["url"].as_str().unwrap_or_default().to_string(),
            events,
            channel: s.channel.clone(),
            description: s.config["description"].as_str().map(str::to_string),
            enabled: s.enabled,
            created_at: rfc3339(s.created_at),
            secret: None,
        }
    }
}

/// A new signing secret: `whsec_` and the base64 of 24 random bytes (Standard Webhooks).
fn new_webhook_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Checks an endpoint URL: absolute, `http` or `https`, with a host.
pub fn valid_url(field: &str, raw: &str) -> ApiResult<String> {
    let raw = raw.trim();
    let bad = || {
        ApiError::invalid(
            "invalid_url",
            format!(
                "{field} must be an absolute http:// or https:// URL (at most {MAX_URL} characters)"
            ),
        )
    };
    if raw.is_empty() || raw.len() > MAX_URL {
        return Err(bad());
    }
    let url = reqwest::Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(raw.to_string())
}

/// The schema of an event list: at least one of the public names, or `"*"`.
fn event_names() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let names = PUBLIC_EVENTS.iter().map(|(public, _)| *public).chain(["*"]);
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .min_items(Some(1))
        .description(Some(
            "Public event names (`conversation.handoff_requested`...), or `\"*\"` for all",
        ))
        .build()
}

/// The known public event names, for error messages.
fn known_events() -> String {
    let names: Vec<&str> = PUBLIC_EVENTS.iter().map(|(p, _)| *p).collect();
    format!("{}, or \"*\" for all", names.join(", "))
}

/// Public names (or `*`) to the log's event kinds, in [`PUBLIC_EVENTS`] order; the flag says
/// whether `*` was given.
fn parse_events(events: &[String]) -> ApiResult<(Vec<String>, bool)> {
    if events.is_empty() {
        return Err(ApiError::invalid(
            "invalid_events",
            format!("events must list at least one event: {}", known_events()),
        ));
    }
    let all = events.iter().any(|e| e.trim() == "*");
    let mut wanted = Vec::new();
    for e in events {
        let e = e.trim();
        if e == "*" {
            continue;
        }
        let kind = internal_event_kind(e).ok_or_else(|| {
            ApiError::invalid(
                "unknown_event",
                format!("unknown event '{e}'; known events: {}", known_events()),
            )
        })?;
        wanted.push(kind);
    }
    let kinds = PUBLIC_EVENTS
        .iter()
        .map(|(_, k)| *k)
        .filter(|k| all || wanted.contains(k))
        .map(str::to_string)
        .collect();
    Ok((kinds, all))
}

fn channel_filter(raw: Option<String>) -> ApiResult<Option<String>> {
    raw.filter(|c| !c.trim().is_empty())
        .map(|c| token("channel", c.trim(), 32))
        .transpose()
}

/// The tenant's webhook with this id (404 for other kinds, other tenants, unknown ids).
async fn load_webhook(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> ApiResult<Subscription> {
    state
        .store()
        .subscription(&principal.tenant, id)
        .await?
        .filter(|s| s.kind == SubscriptionKind::Webhook)
        .ok_or(ApiError::NotFound("webhook"))
}

/// Paginates an id-ordered list in memory (subscriptions are few): `cursor` is the last id seen.
pub fn page_by_id<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    page: PageQuery,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let request = page.into_request()?;
    let limit = request.limit as usize;
    let rest: Vec<T> = items
        .into_iter()
        .filter(|t| request.cursor.as_deref().is_none_or(|c| id(t) > c))
        .collect();
    let next = (rest.len() > limit).then(|| id(&rest[limit - 1]).to_string());
    Ok((rest.into_iter().take(limit).collect(), next))
}

/// The tenant's webhooks (never their secrets), oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "notifications", params(PageQuery),
    responses((status = 200, body = Page<WebhookView>), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<WebhookView>>> {
    principal.require_role(Role::Supervisor)?;
    let mut subs = state
        .store()
        .subscriptions(&principal.tenant, Some(SubscriptionKind::Webhook))
        .await?;
    // `sub_<ulid>` ids sort in creation order.
    subs.sort_by(|a, b| a.id.cmp(&b.id));
    let (items, next_cursor) = page_by_id(subs, |s| s.id.as_str(), page)?;
    Ok(Json(Page {
        items: items.iter().map(WebhookView::from).collect(),
        next_cursor,
    }))
}

/// Subscribe a URL to conversation events. The response carries the signing `secret`, shown
/// this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "notifications", request_body = CreateWebhookBody,
    responses((status = 201, body = WebhookView), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "Bad URL, no events or an unknown event")),
    security(("bearer" = [])))]
async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateWebhookBody>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    principal.require_role(Role::Admin)?;
    let url = valid_url("url", &body.url)?;
    state.engine.outbound.check("url", &url).await?;
    let (events, all) = parse_events(&body.events)?;
    let description = optional_text("description", body.description, 500)?;
    let channel = channel_filter(body.channel)?;
    let secret = new_webhook_secret();
    let sub = Subscription {
        id: format!("sub_{}", baton_store::ids::new_suffix()),
        tenant: principal.tenant.clone(),
        kind: SubscriptionKind::Webhook,
        events,
        channel,
        config: json!({
            "url": url, "secret": secret, "description": description, "all_events": all,
        }),
        enabled: true,
        created_at: now(),
    };
    service::save_subscription(
        state.store().as_ref(),
        &sub,
        None,
        &principal.actor(),
        now(),
    )
    .await?;
    let mut view = WebhookView::from(&sub);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// One webhook (without its secret).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Webhook id (sub_...)")),
    responses((status = 200, body = WebhookView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    principal.require_role(Role::Supervisor)?;
    let sub = load_webhook(&state, &principal, &id).await?;
    Ok(Json(WebhookView::from(&sub)))
}

/// Change a webhook's URL, events, channel, description, or pause and resume it.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Webhook id (sub_...)")), request_body = UpdateWebhookBody,
    responses((status = 200, body = WebhookView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<UpdateWebhookBody>,
) -> ApiResult<Json<WebhookView>> {
    principal.require_role(Role::Admin)?;
    let mut sub = load_webhook(&state, &principal, &id).await?;
    if let Some(url) = body.url {
        let url = valid_url("url", &url)?;
        state.engine.outbound.check("url", &url).await?;
        sub.config["url"] = Value::String(url);
    }
    if let Some(events) = body.events {
        let (events, all) = parse_events(&events)?;
        sub.events = events;
        sub.config["all_events"] = Value::Bool(all);
    }
    if let Some(enabled) = body.enabled {
        sub.enabled = enabled;
    }
    if let Some(channel) = body.channel {
        sub.channel = channel_filter(channel)?;
    }
    if let Some(description) = body.description {
        sub.config["description"] = json!(optional_text("description", description, 500)?);
    }
    service::save_subscription(
        state.store().as_ref(),
        &sub,
        None,
        &principal.actor(),
        now(),
    )
    .await?;
    Ok(Json(WebhookView::from(&sub)))
}

/// Delete a webhook; its undelivered deliveries go with it.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Webhook id (sub_...)")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    service::delete_subscription(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &[SubscriptionKind::Webhook],
        &principal.actor(),
        now(),
    )
    .await
    .map_err(|e| match e {
        baton_store::StoreError::NotFound(_) => ApiError::NotFound("webhook"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a webhook's signing secret; the new one is in this response only. Deliveries sent
/// from now on (retries included) are signed with it.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "notifications",
    params(("id" = String, Path, description = "Webhook id (sub_...)")),
    responses((status = 200, body = WebhookView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    principal.require_role(Role::Admin)?;
    let mut sub = load_webhook(&state, &principal, &id).await?;
    let secret = new_webhook_secret();
    sub.config["secret"] = Value::String(secret.clone());
    service::save_subscription(
        state.store().as_ref(),
        &sub,
        Some(json!({"secret_rotated": true})),
        &principal.actor(),
        now(),
    )
    .await?;
    let mut view = WebhookView::from(&sub);
    view.secret = Some(secret);
    Ok(Json(view))
}

/// `GET /v1/deliveries` filters.
#[derive(Debug, Deserialize, IntoParams)]
struct DeliveryQuery {
    /// `pending`, `delivered`, `skipped` or `dead`.
    #[param(pattern = "^(pending|delivered|skipped|dead)$")]
    state: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

/// One event on its way to one subscription (webhook, Slack, Teams, email...).
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryView {
    /// `dlv_...`: also the `webhook-id` header, stable across retries.
    id: String,
    /// The subscription (`sub_...`).
    subscription: String,
    /// The conversation, for conversation events.
    conversation_id: Option<String>,
    /// The event's position in the log.
    event_seq: i64,
    /// The event's type (`handoff_requested`...), when the event is still readable.
    event_type: Option<String>,
    /// `pending`, `delivered`, `skipped` or `dead`.
    state: String,
    /// Attempts made so far.
    attempts: u32,
    /// When the next attempt is due (pending only).
    next_attempt_at: Option<String>,
    /// What went wrong last (or why it was skipped or is held back).
    last_error: Option<String>,
    /// When the event happened.
    created_at: String,
    /// When it was delivered, skipped or given up.
    finished_at: Option<String>,
}

impl DeliveryView {
    fn new(d: Delivery, event_type: Option<String>) -> Self {
        DeliveryView {
            id: d.id,
            subscription: d.subscription,
            conversation_id: d.conversation.map(|c| c.to_string()),
            event_seq: d.event_seq,
            event_type,
            state: d.state.as_str().to_string(),
            attempts: d.attempts,
            next_attempt_at: (d.state == DeliveryState::Pending)
                .then(|| rfc3339(d.next_attempt_at)),
            last_error: d.last_error,
            created_at: rfc3339(d.created_at),
            finished_at: d.finished_at.map(rfc3339),
        }
    }
}

async fn views(state: &AppState, deliveries: Vec<Delivery>) -> ApiResult<Vec<DeliveryView>> {
    let seqs: Vec<i64> = deliveries.iter().map(|d| d.event_seq).collect();
    let kinds: HashMap<i64, String> = if seqs.is_empty() {
        HashMap::new()
    } else {
        state
            .store()
            .events_by_seq(&seqs)
            .await?
            .into_iter()
            .map(|e| (e.seq, e.kind().to_string()))
            .collect()
    };
    Ok(deliveries
        .into_iter()
        .map(|d| {
            let kind = kinds.get(&d.event_seq).cloned();
            DeliveryView::new(d, kind)
        })
        .collect())
}

async fn load_delivery(state: &AppState, principal: &Principal, id: &str) -> ApiResult<Delivery> {
    state
        .store()
        .delivery(&principal.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("delivery"))
}

/// Deliveries of every subscription kind, newest event first, optionally in one state
/// (`?state=dead` lists what gave up).
#[utoipa::path(get, path = "/v1/deliveries", tag = "notifications", params(DeliveryQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Page<DeliveryView>>> {
    principal.require_role(Role::Supervisor)?;
    let filter = q
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_state",
                    "state must be one of pending, delivered, skipped, dead",
                )
            })
        })
        .transpose()?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .into_request()?;
    let found = state
        .store()
        .deliveries(&principal.tenant, filter, &page)
        .await?;
    Ok(Json(Page {
        items: views(&state, found.items).await?,
        next_cursor: found.next_cursor,
    }))
}

/// One delivery.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Delivery id (dlv_...)")),
    responses((status = 200, body = DeliveryView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    principal.require_role(Role::Supervisor)?;
    let delivery = load_delivery(&state, &principal, &id).await?;
    let mut views = views(&state, vec![delivery]).await?;
    Ok(Json(views.remove(0)))
}

/// Send a dead (or already delivered or skipped) delivery again, now. Receivers see the same
/// `webhook-id` as before and can deduplicate on it.
#[utoipa::path(post, path = "/v1/deliveries/{id}/redeliver", tag = "notifications",
    params(("id" = String, Path, description = "Delivery id (dlv_...)")),
    responses((status = 202, body = DeliveryView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "It is pending already")),
    security(("bearer" = [])))]
async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    principal.require_role(Role::Admin)?;
    let delivery = load_delivery(&state, &principal, &id).await?;
    let pending = || ApiError::Conflict {
        code: "delivery_pending",
        message: "this delivery is pending already; it will be attempted when due".into(),
    };
    if delivery.state == DeliveryState::Pending {
        return Err(pending());
    }
    if !state
        .store()
        .redeliver(&principal.tenant, &id, now())
        .await?
    {
        return Err(pending());
    }
    tracing::info!(delivery = %id, tenant = %principal.tenant, "redelivery requested");
    let delivery = load_delivery(&state, &principal, &id).await?;
    let mut views = views(&state, vec![delivery]).await?;
    Ok((StatusCode::ACCEPTED, Json(views.remove(0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_log_kinds() {
        let (kinds, all) =
            parse_events(&["conversation.closed".into(), "conversation.started".into()]).unwrap();
        assert_eq!(kinds, ["started", "closed"]);
        assert!(!all);
        let (kinds, all) = parse_events(&["*".into()]).unwrap();
        assert_eq!(kinds.len(), PUBLIC_EVENTS.len());
        assert!(all);
        assert!(parse_events(&[]).is_err());
        let err = parse_events(&["conversation.exploded".into()]).unwrap_err();
        assert!(
            err.to_string().contains("conversation.handoff_requested"),
            "{err}"
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert!(valid_url("url", "https://example.com/hook").is_ok());
        assert!(valid_url("url", "http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "",
            "ftp://example.com",
            "example.com/hook",
            "https://",
            "javascript:alert(1)",
        ] {
            assert!(valid_url("url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_standard_webhooks_keys() {
        let s = new_webhook_secret();
        let key = baton_engine::bots::webhook::signing_key(&s).unwrap();
        assert_eq!(key.len(), 24);
    }
}
