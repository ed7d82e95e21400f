//! Configuration: queues and API keys. Admins write; supervisors read queues.

use super::queue_id;
use crate::auth::Principal;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_core::{ApiKeyId, QueueId, Role};
use baton_engine::service;
use baton_store::Queue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The configuration routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queues, create_queue))
        .routes(routes!(get_queue, replace_queue, delete_queue))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// All queues.
#[utoipa::path(get, path = "/v1/queues", tag = "configuration",
    responses((status = 200, body = Page<QueueView>)), security(("bearer" = [])))]
async fn list_queues(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<QueueView>>> {
    // Every agent may read them: transfers name a queue.
    principal.require_role(Role::Agent)?;
    let queues = state.store().queues(&principal.tenant).await?;
    Ok(Json(Page {
        items: queues.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// The tenant's queue ids plus `id` (targets a queue's overflow steps may name).
async fn queue_ids_with(
    state: &AppState,
    principal: &Principal,
    id: &QueueId,
) -> ApiResult<Vec<QueueId>> {
    let mut ids: Vec<QueueId> = state
        .store()
        .queues(&principal.tenant)
        .await?
        .into_iter()
        .map(|q| q.id)
        .collect();
    if !ids.contains(id) {
        ids.push(id.clone());
    }
    Ok(ids)
}

fn build_queue(
    principal: &Principal,
    id: QueueId,
    body: QueueBody,
    created_at: baton_core::Timestamp,
    queues: &[QueueId],
) -> ApiResult<Queue> {
    let strategy = body.strategy.unwrap_or_else(|| "longest_idle".to_string());
    if !STRATEGIES.contains(&strategy.as_str()) {
        return Err(ApiError::invalid(
            "invalid_strategy",
            format!("strategy must be one of {}", STRATEGIES.join(", ")),
        ));
    }
    let offer_timeout_secs = body.offer_timeout_secs.unwrap_or(30);
    if !(5..=600).contains(&offer_timeout_secs) {
        return Err(ApiError::invalid(
            "invalid_offer_timeout",
            "offer_timeout_secs must be between 5 and 600",
        ));
    }
    let settings = body.settings.unwrap_or_else(|| serde_json::json!({}));
    if !settings.is_object() {
        return Err(ApiError::invalid(
            "invalid_settings",
            "settings must be a JSON object",
        ));
    }
    baton_engine::routing::parse_queue_settings(&settings, &id, queues)
        .map_err(|e| ApiError::invalid("invalid_settings", e))?;
    Ok(Queue {
        id,
        tenant: principal.tenant.clone(),
        name: required_text("name", body.name, 100)?,
        skills: skills("skills", body.skills)?,
        languages: languages(body.languages)?,
        strategy,
        offer_timeout_secs,
        settings,
        created_at,
    })
}

/// Create a queue.
#[utoipa::path(post, path = "/v1/queues", tag = "configuration", request_body = QueueBody,
    responses((status = 201, body = QueueView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_queue(
    State(state): State<AppState>,
    principal: Principal,
    Json(mut body): Json<QueueBody>,
) -> ApiResult<(StatusCode, Json<QueueView>)> {
    principal.require_role(Role::Admin)?;
    let raw = match body.id.take() {
        Some(id) => id,
        None => slug(&body.name),
    };
    let id =
        QueueId::parse(raw.as_str()).map_err(|e| ApiError::invalid("invalid_id", e.to_string()))?;
    if state.store().queue(&principal.tenant, &id).await?.is_some() {
        return Err(ApiError::Conflict {
            code: "queue_exists",
            message: format!("a queue '{id}' already exists"),
        });
    }
    let ids = queue_ids_with(&state, &principal, &id).await?;
    let queue = build_queue(&principal, id, body, now(), &ids)?;
    service::save_queue(state.store().as_ref(), &queue, &principal.actor(), now()).await?;
    Ok((StatusCode::CREATED, Json(queue.into())))
}

fn slug(name: &str) -> String {
    let s: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s.trim_matches('_').chars().take(60).collect()
}

/// One queue.
#[utoipa::path(get, path = "/v1/queues/{id}", tag = "configuration",
    params(("id" = String, Path, description = "Queue id")),
    responses((status = 200, body = QueueView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_queue(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<QueueView>> {
    principal.require_role(Role::Supervisor)?;
    let id = queue_id(&id)?;
    let queue = state
        .store()
        .queue(&principal.tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("queue"))?;
    Ok(Json(queue.into()))
}

/// Replace a queue's configuration.
#[utoipa::path(put, path = "/v1/queues/{id}", tag = "configuration",
    params(("id" = String, Path, description = "Queue id")), request_body = QueueBody,
    responses((status = 200, body = QueueView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn replace_queue(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<QueueBody>,
) -> ApiResult<Json<QueueView>> {
    principal.require_role(Role::Admin)?;
    let id = queue_id(&id)?;
    if body.id.as_deref().is_some_and(|b| b != id.as_str()) {
        return Err(ApiError::invalid(
            "id_mismatch",
            "the body's id differs from the path; queue ids cannot change",
        ));
    }
    let existing = state
        .store()
        .queue(&principal.tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("queue"))?;
    let ids = queue_ids_with(&state, &principal, &id).await?;
    let queue = build_queue(&principal, id, body, existing.created_at, &ids)?;
    service::save_queue(state.store().as_ref(), &queue, &principal.actor(), now()).await?;
    Ok(Json(queue.into()))
}

/// Delete a queue.
#[utoipa::path(delete, path = "/v1/queues/{id}", tag = "configuration",
    params(("id" = String, Path, description = "Queue id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_queue(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    let id = queue_id(&id)?;
    service::delete_queue(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &principal.actor(),
        now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's API keys (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "configuration",
    responses((status = 200, body = Page<ApiKeyView>)), security(("bearer" = [])))]
async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    principal.require_role(Role::Admin)?;
    let keys = state.store().api_keys(&principal.tenant).await?;
    Ok(Json(Page {
        items: keys.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Create an API key; its secret is in this response only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "configuration", request_body = CreateApiKeyBody,
    responses((status = 201, body = ApiKeyView)), security(("bearer" = [])))]
async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateApiKeyBody>,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    principal.require_role(Role::Admin)?;
    let name = required_text("name", body.name, 100)?;
    let (key, secret) = service::create_api_key(
        state.store().as_ref(),
        &principal.tenant,
        &name,
        &principal.actor(),
        now(),
    )
    .await?;
    let mut view = ApiKeyView::from(key);
    view.key = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "configuration",
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    let id = ApiKeyId::parse(id).map_err(|_| ApiError::NotFound("api key"))?;
    service::revoke_api_key(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        &principal.actor(),
        now(),
    )
    .await?;
    state.api_keys.forget(id.as_str());
    Ok(StatusCode::NO_CONTENT)
}
