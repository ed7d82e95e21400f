//! `/v1/bot`: which bot Baton runs for the tenant's customers (see [`baton_engine::bots`]).

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::extract::State;
use baton_core::Role;
use baton_engine::bots::{self, BotConfig};
use baton_store::NewEvent;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The bot configuration routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_bot, put_bot))
}

fn invalid(e: bots::ConfigError) -> ApiError {
    ApiError::invalid("invalid_bot", e.to_string())
}

/// The tenant's bot configuration, secrets shown as `"***"`. `type: "none"` when unset.
#[utoipa::path(get, path = "/v1/bot", tag = "configuration",
    responses((status = 200, body = BotConfig)), security(("bearer" = [])))]
async fn get_bot(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<BotConfig>> {
    principal.require_role(Role::Supervisor)?;
    let config = state
        .engine
        .bots
        .get(state.store().as_ref(), &principal.tenant)
        .await?;
    Ok(Json(config.redacted()))
}

/// Replace the bot configuration, validated whole. A secret or API key given as `"***"` keeps
/// the stored one.
#[utoipa::path(put, path = "/v1/bot", tag = "configuration", request_body = BotConfig,
    responses((status = 200, body = BotConfig), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_bot(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Value>,
) -> ApiResult<Json<BotConfig>> {
    principal.require_role(Role::Admin)?;
    let tenant = &principal.tenant;
    let mut config: BotConfig = serde_json::from_value(body)
        .map_err(|e| ApiError::invalid("invalid_bot", format!("bot: {e}")))?;
    let stored = state
        .store()
        .setting(tenant, bots::SETTING)
        .await?
        .and_then(|v| BotConfig::parse(&v).ok());
    config.keep_secrets(stored.as_ref()).map_err(invalid)?;
    config.validate().map_err(invalid)?;
    if let Some(w) = &config.webhook {
        state.engine.outbound.check("webhook.url", &w.url).await?;
    }
    if let Some(l) = &config.llm {
        state
            .engine
            .outbound
            .check("llm.base_url", &l.base_url)
            .await?;
    }
    let value = serde_json::to_value(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Like `service::put_settings`, but the audit trail (streamed live to agents) records the
    // change without the secrets.
    let now = now();
    let mut tx = state.store().begin().await?;
    tx.put_setting(tenant, bots::SETTING, &value, now).await?;
    tx.append_event(&NewEvent::tenant(
        tenant,
        format!("{}_updated", bots::SETTING),
        &principal.actor(),
        json!({"key": bots::SETTING, "before": stored.map(|s| s.redacted()), "after": config.redacted()}),
        now,
    ))
    .await?;
    tx.commit().await?;
    state.engine.bots.invalidate(tenant);
    Ok(Json(config.redacted()))
}
