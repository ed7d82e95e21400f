//! Team notifications in Slack and Microsoft Teams (`/v1/notifications`): an incoming-webhook
//! URL, optionally for one queue, told about handoffs, offers nobody accepted in time, and
//! conversations waiting beyond their queue's target (its first overflow step). Bursts within
//! `min_interval_secs` become one digest (see `deliveries::slack`).
//!
//! The URL is a secret (anyone holding it can post to the channel): after creation only its host
//! is shown, and the audit trail records only the host. Admins write; supervisors read.

use super::webhooks::{page_by_id, valid_url};
use crate::AppState;
use crate::auth::Principal;
use crate::dto::{Page, PageQuery, rfc3339};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::now;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_core::{QueueId, Role};
use baton_engine::service;
use baton_store::outbox::{Subscription, SubscriptionKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The notification routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications, create_notification))
        .routes(routes!(get_notification, delete_notification))
}

/// What a notification can be about, with the log's event kinds behind each.
pub const NOTIFY: [(&str, &[&str]); 3] = [
    ("handoff", &["handoff_requested"]),
    ("offer_unanswered", &["offer_expired"]),
    // A queue's target wait is its overflow plan: a step ran, or overflow moved it on.
    ("wait_over_target", &["overflow_step", "queue_changed"]),
];

/// The default digest window, in seconds.
pub const DEFAULT_MIN_INTERVAL_SECS: u32 = 30;

const KINDS: [SubscriptionKind; 2] = [SubscriptionKind::Slack, SubscriptionKind::Teams];

/// `POST /v1/notifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateNotificationBody {
    /// `slack` or `teams`.
    #[schema(pattern = "^(slack|teams)$")]
    kind: String,
    /// The incoming-webhook URL (Slack: `https://hooks.slack.com/services/...`; Teams: the
    /// Workflows "When a Teams webhook request is received" URL). A secret: shown only as its
    /// host afterwards.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    url: String,
    /// Only conversations of this queue, when set.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    queue: Option<String>,
    /// Any of `handoff`, `offer_unanswered`, `wait_over_target`; default all.
    #[serde(default)]
    notify: Option<Vec<String>>,
    /// Posts closer together than this become one digest (0-3600, default 30).
    #[serde(default, deserialize_with = "crate::input::integral::optional")]
    #[schema(minimum = 0, maximum = 3600)]
    min_interval_secs: Option<u32>,
}

/// A Slack or Teams notification.
#[derive(Debug, Serialize, ToSchema)]
struct NotificationView {
    /// `sub_...`.
    id: String,
    /// `slack` or `teams`.
    kind: String,
    /// The webhook URL's host only (the URL is a secret).
    url_host: String,
    /// Only this queue's conversations, when set.
    queue: Option<String>,
    /// What it posts about.
    notify: Vec<String>,
    /// The digest window in seconds.
    min_interval_secs: u32,
    /// Paused notifications get no new deliveries.
    enabled: bool,
    /// Creation time.
    created_at: String,
}

impl From<&Subscription> for NotificationView {
    fn from(s: &Subscription) -> Self {
        let url = s.config["url"].as_str().unwrap_or_default();
        NotificationView {
            id: s.id.clone(),
            kind: s.kind.as_str().to_string(),
            url_host: reqwest::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default(),
            queue: s.config["queue"].as_str().map(str::to_string),
            notify: s.config["notify"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            min_interval_secs: s.config["min_interval_secs"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(DEFAULT_MIN_INTERVAL_SECS),
            enabled: s.enabled,
            created_at: rfc3339(s.created_at),
        }
    }
}

fn known_notify() -> String {
    NOTIFY
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The notify names (deduplicated, in [`NOTIFY`] order) and the event kinds behind them.
fn parse_notify(raw: Option<Vec<String>>) -> ApiResult<(Vec<String>, Vec<String>)> {
    let raw = match raw {
        None => return Ok(all_notify()),
        Some(r) if r.is_empty() => {
            return Err(ApiError::invalid(
                "invalid_notify",
                format!(
                    "notify must list at least one of {} (or be left out for all)",
                    known_notify()
                ),
            ));
        }
        Some(r) => r,
    };
    for n in &raw {
        if !NOTIFY.iter().any(|(name, _)| name == n) {
            return Err(ApiError::invalid(
                "invalid_notify",
                format!("unknown notify '{n}'; use any of {}", known_notify()),
            ));
        }
    }
    let mut names = Vec::new();
    let mut events = Vec::new();
    for (name, kinds) in NOTIFY {
        if raw.iter().any(|n| n == name) {
            names.push(name.to_string());
            events.extend(kinds.iter().map(|k| k.to_string()));
        }
    }
    Ok((names, events))
}

fn all_notify() -> (Vec<String>, Vec<String>) {
    let names = NOTIFY.iter().map(|(n, _)| n.to_string()).collect();
    let events = NOTIFY
        .iter()
        .flat_map(|(_, kinds)| kinds.iter().map(|k| k.to_string()))
        .collect();
    (names, events)
}

async fn load(state: &AppState, principal: &Principal, id: &str) -> ApiResult<Subscription> {
    state
        .store()
        .subscription(&principal.tenant, id)
        .await?
        .filter(|s| KINDS.contains(&s.kind))
        .ok_or(ApiError::NotFound("notification"))
}

/// The tenant's Slack and Teams notifications, oldest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(PageQuery),
    responses((status = 200, body = Page<NotificationView>), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_notifications(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<NotificationView>>> {
    principal.require_role(Role::Supervisor)?;
    let mut subs = Vec::new();
    for kind in KINDS {
        subs.extend(
            state
                .store()
                .subscriptions(&principal.tenant, Some(kind))
                .await?,
        );
    }
    subs.sort_by(|a, b| a.id.cmp(&b.id));
    let (items, next_cursor) = page_by_id(subs, |s| s.id.as_str(), page)?;
    Ok(Json(Page {
        items: items.iter().map(NotificationView::from).collect(),
        next_cursor,
    }))
}

/// Post to a Slack or Teams channel about handoffs, unanswered offers and long waits.
#[utoipa::path(post, path = "/v1/notifications", tag = "notifications", request_body = CreateNotificationBody,
    responses((status = 201, body = NotificationView), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "Unknown kind, bad URL, unknown queue or notify value")),
    security(("bearer" = [])))]
async fn create_notification(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateNotificationBody>,
) -> ApiResult<(StatusCode, Json<NotificationView>)> {
    principal.require_role(Role::Admin)?;
    let kind = match body.kind.as_str() {
        "slack" => SubscriptionKind::Slack,
        "teams" => SubscriptionKind::Teams,
        _ => {
            return Err(ApiError::invalid(
                "invalid_kind",
                "kind must be slack or teams",
            ));
        }
    };
    let url = valid_url("url", &body.url)?;
    state.engine.outbound.check("url", &url).await?;
    let queue = match body.queue.filter(|q| !q.trim().is_empty()) {
        None => None,
        Some(q) => {
            let unknown = || ApiError::invalid("unknown_queue", format!("no queue '{q}'"));
            let id = QueueId::parse(q.as_str()).map_err(|_| unknown())?;
            state
                .store()
                .queue(&principal.tenant, &id)
                .await?
                .ok_or_else(unknown)?;
            Some(id.to_string())
        }
    };
    let (notify, events) = parse_notify(body.notify)?;
    let min_interval_secs = body.min_interval_secs.unwrap_or(DEFAULT_MIN_INTERVAL_SECS);
    if min_interval_secs > 3600 {
        return Err(ApiError::invalid(
            "invalid_min_interval",
            "min_interval_secs must be between 0 and 3600",
        ));
    }
    let sub = Subscription {
        id: format!("sub_{}", baton_store::ids::new_suffix()),
        tenant: principal.tenant.clone(),
        kind,
        events,
        channel: None,
        config: json!({
            "url": url, "queue": queue, "notify": notify, "min_interval_secs": min_interval_secs,
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
    Ok((StatusCode::CREATED, Json(NotificationView::from(&sub))))
}

/// One notification (its URL's host only).
#[utoipa::path(get, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Notification id (sub_...)")),
    responses((status = 200, body = NotificationView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    principal.require_role(Role::Supervisor)?;
    let sub = load(&state, &principal, &id).await?;
    Ok(Json(NotificationView::from(&sub)))
}

/// Stop a notification; its unsent posts are dropped.
#[utoipa::path(delete, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Notification id (sub_...)")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    service::delete_subscription(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &KINDS,
        &principal.actor(),
        now(),
    )
    .await
    .map_err(|e| match e {
        baton_store::StoreError::NotFound(_) => ApiError::NotFound("notification"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_names_map_to_events() {
        let (names, events) = parse_notify(None).unwrap();
        assert_eq!(names, ["handoff", "offer_unanswered", "wait_over_target"]);
        assert_eq!(
            events,
            [
                "handoff_requested",
                "offer_expired",
                "overflow_step",
                "queue_changed"
            ]
        );
        let (names, events) = parse_notify(Some(vec!["handoff".into()])).unwrap();
        assert_eq!(
            (names, events),
            (
                vec!["handoff".to_string()],
                vec!["handoff_requested".to_string()]
            )
        );
        assert!(parse_notify(Some(vec![])).is_err());
        assert!(parse_notify(Some(vec!["everything".into()])).is_err());
    }
}
