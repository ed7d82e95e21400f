//! Who is calling: integrations with tenant API keys, people with session tokens.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::conversation::Actor;
use baton_core::{AgentId, ApiKeyId, Role, TenantId};
use baton_store::service::hash_secret;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant everything is scoped to.
    pub tenant: TenantId,
    /// Integration or person.
    pub kind: PrincipalKind,
}

/// The two kinds of caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A bot, channel or script with an API key.
    Integration {
        /// The key.
        key: ApiKeyId,
    },
    /// A logged-in person.
    Person {
        /// The agent record.
        agent: AgentId,
        /// Their role.
        role: Role,
    },
    /// A customer in the web widget, with a `bc_` token scoped to one conversation.
    Customer {
        /// The only conversation this token may touch.
        conversation: baton_core::ConversationId,
    },
}

impl Principal {
    /// The actor recorded in events.
    pub fn actor(&self) -> Actor {
        match &self.kind {
            PrincipalKind::Integration { key } => Actor::ApiKey { id: key.clone() },
            PrincipalKind::Person { agent, .. } => Actor::Agent { id: agent.clone() },
            PrincipalKind::Customer { .. } => Actor::Customer,
        }
    }

    /// The person's role, if a person.
    pub fn role(&self) -> Option<Role> {
        match &self.kind {
            PrincipalKind::Person { role, .. } => Some(*role),
            PrincipalKind::Integration { .. } | PrincipalKind::Customer { .. } => None,
        }
    }

    /// The agent id, if a person.
    pub fn agent(&self) -> Option<&AgentId> {
        match &self.kind {
            PrincipalKind::Person { agent, .. } => Some(agent),
            PrincipalKind::Integration { .. } | PrincipalKind::Customer { .. } => None,
        }
    }

    /// Requires a person with at least `role`.
    pub fn require_role(&self, role: Role) -> ApiResult<&AgentId> {
        match &self.kind {
            PrincipalKind::Person { agent, role: have } if have.at_least(role) => Ok(agent),
            PrincipalKind::Person { .. } => Err(ApiError::forbidden(format!(
                "this needs the {role} role or higher"
            ))),
            PrincipalKind::Integration { .. } => Err(ApiError::forbidden(format!(
                "this needs a person with the {role} role; API keys cannot do it"
            ))),
            PrincipalKind::Customer { .. } => Err(ApiError::forbidden(format!(
                "this needs a person with the {role} role; customer tokens cannot do it"
            ))),
        }
    }

    /// Requires an integration (API key).
    pub fn require_integration(&self) -> ApiResult<&ApiKeyId> {
        match &self.kind {
            PrincipalKind::Integration { key } => Ok(key),
            PrincipalKind::Person { .. } | PrincipalKind::Customer { .. } => {
                Err(ApiError::forbidden("this needs an integration API key"))
            }
        }
    }

    /// A stable string naming the caller (idempotency scope).
    pub fn scope(&self) -> String {
        match &self.kind {
            PrincipalKind::Integration { key } => format!("{}:{}", self.tenant, key),
            PrincipalKind::Person { agent, .. } => format!("{}:{}", self.tenant, agent),
            PrincipalKind::Customer { conversation } => {
                format!("{}:customer:{}", self.tenant, conversation)
            }
        }
    }
}

/// The bearer token from `Authorization`, or from `?token=` (WebSocket clients cannot set
/// headers in browsers).
pub fn bearer_token(parts: &axum::http::request::Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        return value.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token=").map(|t| t.to_string()))
    })
}

/// Resolves a token to a principal.
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    let hash = hash_secret(token);
    if token.starts_with("bk_") {
        let key = state
            .store
            .api_key_by_hash(&hash)
            .await?
            .ok_or_else(invalid_token)?;
        return Ok(Principal {
            tenant: key.tenant,
            kind: PrincipalKind::Integration { key: key.id },
        });
    }
    if token.starts_with("bc_") {
        let (tenant, conversation) = state
            .store
            .customer_token(&hash, crate::now())
            .await?
            .ok_or_else(invalid_token)?;
        return Ok(Principal {
            tenant,
            kind: PrincipalKind::Customer { conversation },
        });
    }
    let session = state
        .store
        .session(&hash, crate::now())
        .await?
        .ok_or_else(invalid_token)?;
    let agent = state
        .store
        .agent(&session.tenant, &session.agent)
        .await?
        .ok_or_else(invalid_token)?;
    Ok(Principal {
        tenant: session.tenant,
        kind: PrincipalKind::Person {
            agent: agent.id,
            role: agent.role,
        },
    })
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized(
        "invalid_token",
        "the token is unknown, revoked or expired; log in again or use a valid API key".into(),
    )
}

/// Middleware: when a bearer token is present it must be valid; the principal is then
/// available to handlers (and to the idempotency layer) through request extensions.
pub async fn resolve(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(token) = bearer_token(&parts) {
        match authenticate(&state, &token).await {
            Ok(principal) => {
                if let Err(e) = crate::routes::widget::customer_may(&principal, &parts) {
                    return e.into_response();
                }
                parts.extensions.insert(principal);
            }
            Err(e) => return e.into_response(),
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized(
                "missing_credentials",
                "send 'Authorization: Bearer <api key or session token>'".into(),
            ))
    }
}

/// Hashes a password with argon2id off the async runtime.
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Checks a password against a stored argon2 hash off the async runtime.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Hashes a password synchronously (CLI and demo seeding).
pub fn hash_password_blocking(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}
