//! Login, the agent's own status, and agent administration.

use super::agent_id;
use crate::auth::{self, Principal};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use baton_core::{QueueId, Role};
use baton_store::service::{self, NewAgent};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The people routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(set_my_status))
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, update_agent))
}

/// A hash to verify against when the email is unknown, so both paths cost the same.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0vOeG0cCkDOsOhv8g0OJyF0pmHZUMdTrqAgzyYxJx2M";

/// Log in with email and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<LoginResponse>> {
    let email = body.email.trim().to_ascii_lowercase();
    let found = state.store.agent_for_login(&email).await?;
    let hash = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = auth::verify_password(body.password, hash).await;
    let agent = match (found, ok) {
        (Some((agent, _)), true) => agent,
        _ => {
            return Err(ApiError::Unauthorized(
                "invalid_credentials",
                "email or password is wrong".into(),
            ));
        }
    };
    let token =
        service::open_session(state.store.as_ref(), &agent, state.session_ttl_ms, now()).await?;
    Ok(Json(LoginResponse {
        token,
        agent: agent.into(),
    }))
}

/// End the current session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204)), security(("bearer" = [])))]
async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    parts: Parts,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Agent)?;
    if let Some(token) = auth::bearer_token(&parts) {
        service::close_session(state.store.as_ref(), &token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Who am I.
#[utoipa::path(get, path = "/v1/agents/me", tag = "agents",
    responses((status = 200, body = AgentView)), security(("bearer" = [])))]
async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<AgentView>> {
    let id = principal.require_role(Role::Agent)?;
    let agent = state
        .store
        .agent(&principal.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("agent"))?;
    Ok(Json(agent.into()))
}

/// Set my availability.
#[utoipa::path(put, path = "/v1/agents/me/status", tag = "agents", request_body = StatusBody,
    responses((status = 200, body = AgentView), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn set_my_status(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<StatusBody>,
) -> ApiResult<Json<AgentView>> {
    let id = principal.require_role(Role::Agent)?.clone();
    let status = body.parse()?;
    let agent = service::update_agent(
        state.store.as_ref(),
        &principal.tenant,
        &id,
        &principal.actor(),
        now(),
        None,
        |a| a.status = status,
    )
    .await?;
    Ok(Json(agent.into()))
}

/// All agents of the tenant (every agent may read the team directory: transfers name a colleague).
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, body = Page<AgentView>)), security(("bearer" = [])))]
async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<AgentView>>> {
    principal.require_role(Role::Agent)?;
    let agents = state.store.agents(&principal.tenant).await?;
    Ok(Json(Page {
        items: agents.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

fn password(value: &str) -> ApiResult<()> {
    if value.chars().count() < 8 {
        return Err(ApiError::invalid(
            "weak_password",
            "password must be at least 8 characters",
        ));
    }
    if value.len() > 256 {
        return Err(ApiError::invalid(
            "too_long",
            "password must be at most 256 bytes",
        ));
    }
    Ok(())
}

async fn queue_ids(
    state: &AppState,
    principal: &Principal,
    raw: Vec<String>,
) -> ApiResult<Vec<QueueId>> {
    let mut ids = Vec::with_capacity(raw.len());
    for q in raw {
        let unknown = || ApiError::invalid("unknown_queue", format!("there is no queue '{q}'"));
        let id = QueueId::parse(q.as_str()).map_err(|_| unknown())?;
        state
            .store
            .queue(&principal.tenant, &id)
            .await?
            .ok_or_else(unknown)?;
        ids.push(id);
    }
    Ok(ids)
}

/// Create an agent, supervisor or admin.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = CreateAgentBody,
    responses((status = 201, body = AgentView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_agent(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateAgentBody>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    principal.require_role(Role::Admin)?;
    let email = body.email.trim().to_ascii_lowercase();
    if !email.contains('@') || email.len() > 254 || email.contains(char::is_whitespace) {
        return Err(ApiError::invalid(
            "invalid_email",
            "email is not an email address",
        ));
    }
    password(&body.password)?;
    let new = NewAgent {
        email,
        name: required_text("name", body.name, 100)?,
        role: body
            .role
            .as_deref()
            .map(role)
            .transpose()?
            .unwrap_or(Role::Agent),
        skills: skills("skills", body.skills)?,
        languages: languages(body.languages)?,
        queues: queue_ids(&state, &principal, body.queues).await?,
        capacity: capacity(body.capacity.unwrap_or(3))?,
    };
    let hash = auth::hash_password(body.password).await?;
    let agent = service::create_agent(
        state.store.as_ref(),
        &principal.tenant,
        new,
        &hash,
        &principal.actor(),
        now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

/// One agent.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Agent id")),
    responses((status = 200, body = AgentView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn get_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentView>> {
    principal.require_role(Role::Supervisor)?;
    let id = agent_id(&id)?;
    let agent = state
        .store
        .agent(&principal.tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("agent"))?;
    Ok(Json(agent.into()))
}

/// Change an agent's profile, role, status or password.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Agent id")), request_body = UpdateAgentBody,
    responses((status = 200, body = AgentView), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn update_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<UpdateAgentBody>,
) -> ApiResult<Json<AgentView>> {
    principal.require_role(Role::Admin)?;
    let id = agent_id(&id)?;
    // Validate everything before writing anything.
    let name = body
        .name
        .map(|n| required_text("name", n, 100))
        .transpose()?;
    let new_role = body.role.as_deref().map(role).transpose()?;
    let status = body
        .status
        .map(|s| StatusBody { status: s }.parse())
        .transpose()?;
    let new_skills = body.skills.map(|s| skills("skills", s)).transpose()?;
    let new_languages = body.languages.map(languages).transpose()?;
    let new_queues = match body.queues {
        Some(q) => Some(queue_ids(&state, &principal, q).await?),
        None => None,
    };
    let new_capacity = body.capacity.map(capacity).transpose()?;
    if principal.agent() == Some(&id) && new_role.is_some_and(|r| r != Role::Admin) {
        return Err(ApiError::Conflict {
            code: "cannot_demote_self",
            message: "an admin cannot remove their own admin role; ask another admin".into(),
        });
    }
    let hash = match body.password {
        Some(p) => {
            password(&p)?;
            Some(auth::hash_password(p).await?)
        }
        None => None,
    };
    let agent = service::update_agent(
        state.store.as_ref(),
        &principal.tenant,
        &id,
        &principal.actor(),
        now(),
        hash,
        |a| {
            if let Some(v) = name {
                a.name = v;
            }
            if let Some(v) = new_role {
                a.role = v;
            }
            if let Some(v) = status {
                a.status = v;
            }
            if let Some(v) = new_skills {
                a.skills = v;
            }
            if let Some(v) = new_languages {
                a.languages = v;
            }
            if let Some(v) = new_queues {
                a.queues = v;
            }
            if let Some(v) = new_capacity {
                a.capacity = v;
            }
        },
    )
    .await?;
    Ok(Json(agent.into()))
}
