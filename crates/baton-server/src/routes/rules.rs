//! `/v1/rules` and `/v1/business-hours`: escalation settings as data. A document that does not
//! compile is refused whole with a 422 that points at the problem; nothing is half-applied.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::extract::State;
use axum::http::StatusCode;
use baton_core::Role;
use baton_core::escalation::{DetectorConfig, RuleSet};
use baton_engine::detection::{
    self, BUSINESS_HOURS, DETECTOR_CONFIG, EXTRACTORS, ExtractorSpec, RULES, SettingsError,
};
use baton_engine::service;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The settings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(get_hours, put_hours, delete_hours))
        .routes(routes!(get_extractors, put_extractors))
}

/// The tenant's escalation rules and detector configuration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RulesDocument {
    /// Rules in order: `{"id", "name", "enabled", "when": condition, "then": [actions]}`.
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
    /// Detector thresholds and topic sets; absent keeps the current ones.
    #[schema(value_type = Option<Object>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// True when these are Baton's defaults (the tenant set none).
    #[serde(default)]
    pub defaults: bool,
}

fn unprocessable(e: SettingsError) -> ApiError {
    let code = match e {
        SettingsError::Rules(_) => "invalid_rules",
        SettingsError::Hours(_) => "invalid_business_hours",
        SettingsError::Config(_) => "invalid_config",
        SettingsError::Extractors(_) => "invalid_extractor",
    };
    ApiError::invalid(code, e.to_string())
}

/// The escalation rules in force.
#[utoipa::path(get, path = "/v1/rules", tag = "configuration",
    responses((status = 200, body = RulesDocument)), security(("bearer" = [])))]
async fn get_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<RulesDocument>> {
    principal.require_role(Role::Supervisor)?;
    let stored = state.store().setting(&principal.tenant, RULES).await?;
    let config = state
        .store()
        .setting(&principal.tenant, DETECTOR_CONFIG)
        .await?;
    let defaults = stored.is_none();
    let rules = match stored {
        Some(v) => detection::parse_rules(&v).map_err(unprocessable)?,
        None => RuleSet::default_rules(),
    };
    let config = config
        .unwrap_or_else(|| serde_json::to_value(DetectorConfig::default()).unwrap_or_default());
    Ok(Json(RulesDocument {
        rules: rules.to_json()["rules"].clone(),
        config: Some(config),
        defaults,
    }))
}

/// Replace the escalation rules (and optionally the detector configuration).
#[utoipa::path(put, path = "/v1/rules", tag = "configuration", request_body = RulesDocument,
    responses((status = 200, body = RulesDocument), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_rules(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<RulesDocument>,
) -> ApiResult<Json<RulesDocument>> {
    principal.require_role(Role::Admin)?;
    let tenant = &principal.tenant;
    let rules_doc = serde_json::json!({ "rules": body.rules });
    let config = match body.config {
        Some(c) => Some(c),
        None => state.store().setting(tenant, DETECTOR_CONFIG).await?,
    };
    let hours = state.store().setting(tenant, BUSINESS_HOURS).await?;
    // Compile everything together before storing anything.
    let compiled = detection::compile(Some(&rules_doc), config.as_ref(), hours.as_ref(), None)
        .map_err(unprocessable)?;
    drop(compiled);
    let canonical = detection::parse_rules(&rules_doc)
        .map_err(unprocessable)?
        .to_json();
    let mut settings = vec![(RULES, canonical.clone())];
    if let Some(c) = &config {
        settings.push((DETECTOR_CONFIG, c.clone()));
    }
    service::put_settings(
        state.store().as_ref(),
        tenant,
        &settings,
        &principal.actor(),
        now(),
    )
    .await?;
    state.engine.detectors.invalidate(tenant);
    Ok(Json(RulesDocument {
        rules: canonical["rules"].clone(),
        config,
        defaults: false,
    }))
}

/// The tenant's business hours, or null.
#[utoipa::path(get, path = "/v1/business-hours", tag = "configuration",
    responses((status = 200, description = "`{\"tz\", \"weekly\", \"holidays\"}` or null")), security(("bearer" = [])))]
async fn get_hours(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    principal.require_role(Role::Supervisor)?;
    Ok(Json(
        state
            .store()
            .setting(&principal.tenant, BUSINESS_HOURS)
            .await?
            .unwrap_or(Value::Null),
    ))
}

/// Set the business hours: `{"tz": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}`.
#[utoipa::path(put, path = "/v1/business-hours", tag = "configuration",
    responses((status = 200, description = "the stored calendar"), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_hours(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    principal.require_role(Role::Admin)?;
    detection::parse_calendar(&body).map_err(unprocessable)?;
    service::put_settings(
        state.store().as_ref(),
        &principal.tenant,
        &[(BUSINESS_HOURS, body.clone())],
        &principal.actor(),
        now(),
    )
    .await?;
    state.engine.detectors.invalidate(&principal.tenant);
    Ok(Json(body))
}

/// Remove the business hours: queues without hours of their own are always open again, and
/// conversations deferred because they were closed are offered. Removing none is not an error.
#[utoipa::path(delete, path = "/v1/business-hours", tag = "configuration",
    responses((status = 204, description = "No business hours any more")), security(("bearer" = [])))]
async fn delete_hours(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    if state
        .store()
        .setting(&principal.tenant, BUSINESS_HOURS)
        .await?
        .is_some()
    {
        service::put_settings(
            state.store().as_ref(),
            &principal.tenant,
            &[(BUSINESS_HOURS, Value::Null)],
            &principal.actor(),
            now(),
        )
        .await?;
        state.engine.detectors.invalidate(&principal.tenant);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's own field extractors for the handoff brief.
#[utoipa::path(get, path = "/v1/extractors", tag = "configuration",
    responses((status = 200, body = Vec<ExtractorSpec>)), security(("bearer" = [])))]
async fn get_extractors(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    principal.require_role(Role::Supervisor)?;
    Ok(Json(
        state
            .store()
            .setting(&principal.tenant, EXTRACTORS)
            .await?
            .unwrap_or_else(|| serde_json::json!([])),
    ))
}

/// Replace the tenant's field extractors: `[{"name": "ticket_id", "pattern": "TCK-\\d{6}"}]`.
#[utoipa::path(put, path = "/v1/extractors", tag = "configuration", request_body = Vec<ExtractorSpec>,
    responses((status = 200, body = Vec<ExtractorSpec>), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_extractors(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Vec<ExtractorSpec>>,
) -> ApiResult<Json<Value>> {
    principal.require_role(Role::Admin)?;
    let value = serde_json::to_value(&body).unwrap_or_default();
    detection::parse_extractors(&value).map_err(unprocessable)?;
    service::put_settings(
        state.store().as_ref(),
        &principal.tenant,
        &[(EXTRACTORS, value.clone())],
        &principal.actor(),
        now(),
    )
    .await?;
    state.engine.detectors.invalidate(&principal.tenant);
    Ok(Json(value))
}
