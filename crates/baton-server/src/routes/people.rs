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
use baton_engine::service::{self, NewAgent};
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

/// Log in with email and password. Failed logins are limited per account and per client
/// address: past the limit the answer is `429` with `Retry-After`, for existing and unknown
/// accounts alike.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "Too many failed logins; see Retry-After")))]
async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<LoginResponse>> {
    let email = body.email.trim().to_ascii_lowercase();
    let client = state.widget_limit.client_ip(
        &headers,
        peer.map(|axum::Extension(axum::extract::ConnectInfo(a))| a),
    );
    // Emails are unique per tenant: the password picks the account (or `tenant`, when the same
    // email and password open accounts in several tenants).
    let (mut agents, hashes): (Vec<_>, Vec<_>) = state
        .store()
        .agents_for_login(&email)
        .await?
        .into_iter()
        .filter(|(a, _)| {
            body.tenant
                .as_deref()
                .is_none_or(|t| a.tenant.as_str() == t)
        })
        .unzip();
    let matched = state
        .login
        .check(&state, &email, client, body.password, hashes)
        .await?;
    let agent = match matched {
        Some(i) => agents.swap_remove(i),
        None => {
            return Err(ApiError::Unauthorized(
                "invalid_credentials",
                "email or password is wrong".into(),
            ));
        }
    };
    let token =
        service::open_session(state.store().as_ref(), &agent, state.session_ttl_ms, now()).await?;
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
        service::close_session(state.store().as_ref(), &token, now()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Who am I.
#[utoipa::path(get, path = "/v1/agents/me", tag = "agents",
    responses((status = 200, body = AgentView)), security(("bearer" = [])))]
async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<AgentView>> {
    let id = principal.require_role(Role::Agent)?;
    let agent = state
        .store()
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
        state.store().as_ref(),
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

/// All agents of the tenant (every agent may read the team directory: transfers name a colleague;
/// emails only for supervisors and admins).
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, body = Page<AgentView>)), security(("bearer" = [])))]
async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<AgentView>>> {
    let me = principal.require_role(Role::Agent)?;
    let sees_emails = principal
        .role()
        .is_some_and(|r| r.at_least(Role::Supervisor));
    let agents = state.store().agents(&principal.tenant).await?;
    let items = agents
        .into_iter()
        .map(|a| {
            let own = &a.id == me;
            let mut view = AgentView::from(a);
            if !sees_emails && !own {
                view.email = None;
            }
            view
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

/// Well-known passwords of at least [`MIN_PASSWORD`] characters (shorter ones fail on length),
/// from public breach-frequency lists; compared without case.
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "123123123123",
    "111111111111",
    "000000000000",
    "123456123456",
    "987654321098",
    "121212121212",
    "qwertyuiopas",
    "qwerty123456",
    "qwertyuiop12",
    "qwertyuiop123",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "q1w2e3r4t5y6",
    "zaq12wsxcde3",
    "asdfghjkl123",
    "qazwsxedcrfv",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "password!123",
    "p@ssw0rd1234",
    "passw0rd1234",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "welcome@1234",
    "administrator",
    "admin1234567",
    "adminadmin123",
    "changeme1234",
    "football1234",
    "baseball1234",
    "superman1234",
    "sunshine1234",
    "princess1234",
    "starwars1234",
    "trustno11234",
    "monkey123456",
    "dragon123456",
    "master123456",
    "abc123456789",
    "abcdefghijkl",
    "abcd12345678",
    "aaaaaaaaaaaa",
    "correcthorsebatterystaple",
    "correct horse battery staple",
    "mypassword123",
    "secret123456",
    "qwerty12345678",
];

/// The password policy: [`MIN_PASSWORD`] characters or more, not the account's email (nor its
/// name part), not a well-known password, not one character repeated.
fn password(value: &str, email: &str) -> ApiResult<()> {
    let weak = |why: &str| ApiError::invalid("weak_password", format!("password {why}"));
    if value.chars().count() < MIN_PASSWORD {
        return Err(weak(&format!("must be at least {MIN_PASSWORD} characters")));
    }
    if value.len() > 256 {
        return Err(ApiError::invalid(
            "too_long",
            "password must be at most 256 bytes",
        ));
    }
    let lower = value.trim().to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (!local.is_empty() && lower == local) {
        return Err(weak("must not be the email address"));
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(weak("is a well-known password; choose another"));
    }
    let mut chars = lower.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Err(weak("must not repeat one character"));
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
            .store()
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
    password(&body.password, &email)?;
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
    let hash = auth::hash_password(&state, body.password).await?;
    let agent = service::create_agent(
        state.store().as_ref(),
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
        .store()
        .agent(&principal.tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("agent"))?;
    Ok(Json(agent.into()))
}

/// Change an agent's profile, role, status or password, or deactivate (`"active": false`) and
/// reactivate them.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Agent id")), request_body = UpdateAgentBody,
    responses((status = 200, body = AgentView), (status = 422, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody,
            description = "Demoting or deactivating yourself, or a status for a deactivated agent")),
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
    if principal.agent() == Some(&id) && body.active == Some(false) {
        return Err(ApiError::Conflict {
            code: "cannot_deactivate_self",
            message: "an admin cannot deactivate themselves; ask another admin".into(),
        });
    }
    // A deactivated agent stays offline: reactivate them first.
    if status.is_some() && body.active != Some(true) {
        let target = state
            .store()
            .agent(&principal.tenant, &id)
            .await?
            .ok_or(ApiError::NotFound("agent"))?;
        if target.deactivated_at.is_some() {
            return Err(ApiError::Conflict {
                code: "agent_deactivated",
                message: "this agent is deactivated; set \"active\": true first".into(),
            });
        }
    }
    let active = body.active;
    let at = now();
    let hash = match body.password {
        Some(p) => {
            let target = state
                .store()
                .agent(&principal.tenant, &id)
                .await?
                .ok_or(ApiError::NotFound("agent"))?;
            password(&p, &target.email)?;
            Some(auth::hash_password(&state, p).await?)
        }
        None => None,
    };
    let agent = service::update_agent(
        state.store().as_ref(),
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
            match active {
                Some(false) if a.deactivated_at.is_none() => {
                    a.deactivated_at = Some(at);
                    a.status = baton_core::AgentStatus::Offline;
                }
                Some(true) => a.deactivated_at = None,
                _ => {}
            }
        },
    )
    .await?;
    Ok(Json(agent.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        let email = "ana.lopez@example.com";
        assert!(password("a sturdy passphrase", email).is_ok());
        for (weak, why) in [
            ("short-one", "at least 12"),
            ("ana.lopez@example.com", "email"),
            ("ANA.LOPEZ@EXAMPLE.COM", "email"),
            ("Password1234", "well-known"),
            ("qwerty123456", "well-known"),
            ("zzzzzzzzzzzzzz", "repeat"),
        ] {
            let err = password(weak, email).unwrap_err().to_string();
            assert!(err.contains(why), "{weak}: {err}");
        }
        assert!(
            COMMON_PASSWORDS
                .iter()
                .all(|p| p.chars().count() >= MIN_PASSWORD)
        );
        assert!(COMMON_PASSWORDS.iter().all(|p| *p == p.to_lowercase()));
    }
}
