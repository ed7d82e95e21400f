//! Who is calling: integrations with tenant API keys, people with session tokens.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::conversation::Actor;
use baton_core::{AgentId, ApiKeyId, Role, TenantId};
use baton_store::ids::hash_secret;

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

/// Valid API keys by the hash of their secret, so that an integration's requests do not each
/// read the key (most of a contact centre's traffic comes with one). A revoked key is forgotten
/// here at once by the instance that revokes it and, through the live event stream
/// (`api_key_revoked`), by every other; an entry is trusted for [`KeyCache::TTL`] at most in
/// any case. Only keys found valid are kept (unknown tokens are not), so the cache holds at most
/// the tenants' keys.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: std::sync::RwLock<std::collections::HashMap<String, CachedKey>>,
    /// Counts the forgettings: a key read before one is not kept (it may be the one revoked).
    epoch: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
struct CachedKey {
    tenant: TenantId,
    id: ApiKeyId,
    read_at: std::time::Instant,
}

impl KeyCache {
    /// How long a key read from the database is trusted without reading it again.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(60);
    /// More keys than this and the cache starts over.
    const MAX: usize = 10_000;

    /// The tenant and id of the key with this hash, if it was found valid lately.
    pub fn get(&self, hash: &str) -> Option<(TenantId, ApiKeyId)> {
        let keys = self.keys.read().expect("lock");
        keys.get(hash)
            .filter(|k| k.read_at.elapsed() < Self::TTL)
            .map(|k| (k.tenant.clone(), k.id.clone()))
    }

    /// What to pass to [`KeyCache::put`] for a key read from now on.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Remembers a key read from the database as valid, unless a key was forgotten since
    /// `epoch` (from [`KeyCache::epoch`] before the read).
    pub fn put(&self, hash: String, tenant: TenantId, id: ApiKeyId, epoch: u64) {
        let mut keys = self.keys.write().expect("lock");
        if self.epoch() != epoch {
            return;
        }
        if keys.len() >= Self::MAX {
            keys.clear();
        }
        let read_at = std::time::Instant::now();
        keys.insert(
            hash,
            CachedKey {
                tenant,
                id,
                read_at,
            },
        );
    }

    /// Forgets a key (it was revoked).
    pub fn forget(&self, id: &str) {
        let mut keys = self.keys.write().expect("lock");
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        keys.retain(|_, k| k.id.as_str() != id);
    }

    /// Forgets every key (events were missed).
    pub fn clear(&self) {
        let mut keys = self.keys.write().expect("lock");
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        keys.clear();
    }

    /// Forgets keys revoked on any instance, from the store's event stream.
    pub fn spawn_invalidation(self: &std::sync::Arc<Self>, store: &dyn baton_store::Store) {
        let mut events = store.subscribe();
        let cache = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match events.recv().await {
                    Ok(e) if e.kind() == "api_key_revoked" => {
                        match e
                            .record()
                            .and_then(|d| d.get("api_key"))
                            .and_then(|v| v.as_str())
                        {
                            Some(id) => cache.forget(id),
                            None => cache.clear(),
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => cache.clear(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
}

/// The bearer token from `Authorization`, or, on a WebSocket upgrade only, from `?token=`
/// (browsers cannot set headers on a WebSocket). Anywhere else a token in the URL would end
/// up in logs, histories and `Referer` headers, so it is not read.
pub fn bearer_token(parts: &axum::http::request::Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        return value.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    if !is_websocket_upgrade(parts) {
        return None;
    }
    query_token(parts)
}

fn query_token(parts: &axum::http::request::Parts) -> Option<String> {
    parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token=").map(|t| t.to_string()))
    })
}

/// Whether the request asks for a WebSocket (`Upgrade: websocket`).
fn is_websocket_upgrade(parts: &axum::http::request::Parts) -> bool {
    parts
        .headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The hash of the session token a person's request came with (for the live socket, which
/// closes when that session ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHash(pub String);

/// Resolves a token to a principal.
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    let hash = hash_secret(token);
    if token.starts_with("bk_") {
        let (tenant, key) = match state.api_keys.get(&hash) {
            Some(known) => known,
            None => {
                let epoch = state.api_keys.epoch();
                let key = state
                    .store()
                    .api_key_by_hash(&hash)
                    .await?
                    .ok_or_else(invalid_token)?;
                state
                    .api_keys
                    .put(hash, key.tenant.clone(), key.id.clone(), epoch);
                (key.tenant, key.id)
            }
        };
        return Ok(Principal {
            tenant,
            kind: PrincipalKind::Integration { key },
        });
    }
    if token.starts_with("bc_") {
        let (tenant, conversation) = state
            .store()
            .customer_token(&hash, crate::now())
            .await?
            .ok_or_else(invalid_token)?;
        return Ok(Principal {
            tenant,
            kind: PrincipalKind::Customer { conversation },
        });
    }
    let session = state
        .store()
        .session(&hash, crate::now())
        .await?
        .ok_or_else(invalid_token)?;
    let agent = state
        .store()
        .agent(&session.tenant, &session.agent)
        .await?
        .filter(|a| a.deactivated_at.is_none())
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
    // `/metrics` checks its own token (`metrics_token`), not a tenant's.
    if parts.uri.path() == "/metrics" {
        return next.run(Request::from_parts(parts, body)).await;
    }
    if parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .is_none()
        && !is_websocket_upgrade(&parts)
        && query_token(&parts).is_some()
    {
        return ApiError::Unauthorized(
            "token_in_url",
            "send the token in 'Authorization: Bearer <token>'; ?token= is only read on \
             WebSocket upgrades"
                .into(),
        )
        .into_response();
    }
    if let Some(token) = bearer_token(&parts) {
        match authenticate(&state, &token).await {
            Ok(principal) => {
                if let Err(e) = crate::routes::widget::customer_may(&principal, &parts) {
                    return e.into_response();
                }
                if matches!(principal.kind, PrincipalKind::Person { .. }) {
                    parts.extensions.insert(SessionHash(hash_secret(&token)));
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

/// The argon2id parameters of new hashes: 12 MiB, 3 passes, one lane (an OWASP setting as
/// strong as argon2's default 19 MiB and 2 passes, with less memory per verification). Stored
/// hashes are verified with the parameters written in them.
fn hasher() -> Argon2<'static> {
    let params = argon2::Params::new(12 * 1024, 3, 1, None).expect("valid argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password with argon2id off the async runtime, at most [`LoginGuard`]'s number at
/// once.
pub async fn hash_password(state: &AppState, password: String) -> ApiResult<String> {
    let _permit = state.login.permit().await?;
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Checks a password against a stored argon2 hash off the async runtime (the caller holds a
/// [`LoginGuard`] permit).
async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| verify_in_reused_memory(password.as_bytes(), &parsed))
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Largest argon2 memory (in 1 KiB blocks) kept for reuse between verifications.
const REUSED_BLOCKS_MAX: usize = 64 * 1024;

/// Argon2 working memory kept between verifications: at most one buffer per hashing slot is
/// in use at a time. Allocating 12+ MiB per verification on whichever blocking thread runs it
/// leaves that much in each thread's allocator arena: a login flood grew the server by
/// hundreds of MiB that it never gave back.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());

/// `argon2`'s own verification (the parameters, salt and algorithm written in the hash,
/// output compared in constant time), computed in reused memory.
fn verify_in_reused_memory(password: &[u8], hash: &PasswordHash) -> bool {
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Ok(params), Some(salt), Some(expected)) = (
        argon2::Params::try_from(hash),
        hash.salt.as_ref(),
        hash.hash.as_ref(),
    ) else {
        return false;
    };
    let need = params.block_count();
    let mut memory = if need <= REUSED_BLOCKS_MAX {
        ARGON2_MEMORY
            .lock()
            .map(|mut pool| pool.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if memory.len() < need {
        memory.resize(need, argon2::Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, &mut memory[..need])
        .is_ok();
    if need <= REUSED_BLOCKS_MAX
        && let Ok(mut pool) = ARGON2_MEMORY.lock()
    {
        pool.push(memory);
    }
    computed && argon2::password_hash::phc::Output::new(&out).is_ok_and(|out| &out == expected)
}

/// Hashes a password synchronously (CLI and demo seeding).
pub fn hash_password_blocking(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Defences of the login: failed logins are counted in the database per account and per
/// client address (so the count holds across instances); past a limit the key is refused with
/// `429` and `Retry-After` until its window ends, whether or not the account exists. Password
/// hashing runs at most `permits` at a time (the cores), each waiting at most `max_wait`.
#[derive(Debug)]
pub struct LoginGuard {
    /// Failed logins of one account (email) within `window_ms` before it is locked.
    pub per_account: u32,
    /// Failed logins from one client address (IPv6: its /64) within `window_ms`.
    pub per_address: u32,
    /// The counting window and the longest lock, in ms.
    pub window_ms: i64,
    /// Longest wait for a hashing slot before `429`.
    pub max_wait: std::time::Duration,
    slots: tokio::sync::Semaphore,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(10, 100, 15 * 60 * 1000)
    }
}

/// A dummy hash of the current parameters, verified when the email is unknown so that both
/// paths cost the same.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password_blocking("baton dummy password for unknown accounts").unwrap_or_default()
});

impl LoginGuard {
    /// Limits per account and per address within `window_ms`; as many hashing slots as cores.
    pub fn new(per_account: u32, per_address: u32, window_ms: i64) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        LoginGuard {
            per_account,
            per_address,
            window_ms,
            max_wait: std::time::Duration::from_secs(5),
            slots: tokio::sync::Semaphore::new(cores),
        }
    }

    /// The same limits with `slots` hashing slots and `max_wait` for one.
    pub fn with_hashing_slots(mut self, slots: usize, max_wait: std::time::Duration) -> Self {
        self.slots = tokio::sync::Semaphore::new(slots.max(1));
        self.max_wait = max_wait;
        self
    }

    /// A hashing slot, or `429` after `max_wait`.
    async fn permit(&self) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(self.max_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::TooManyRequests {
                message: "too many logins at once; retry in a moment".into(),
                retry_after_secs: 1,
            }),
        }
    }

    /// Checks `password` for the account `email` (the stored hashes of its accounts, one per
    /// tenant using the email; none when there is no such account) from `client`: `Ok(Some(i))`
    /// when it matches `hashes[i]`, `Ok(None)` when not (counted), `Err(429)` while the account
    /// or the address is locked.
    pub async fn check(
        &self,
        state: &AppState,
        email: &str,
        client: Option<std::net::IpAddr>,
        password: String,
        hashes: Vec<String>,
    ) -> ApiResult<Option<usize>> {
        let account = format!("account:{email}");
        let address = client.map(|ip| format!("addr:{}", crate::rate_limit::bucket(ip)));
        let mut keys = vec![account.as_str()];
        keys.extend(address.as_deref());
        let now = crate::now();
        if let Some(until) = state.store().login_locked_until(&keys, now).await? {
            let secs = (until.millis() - now.millis() + 999) / 1000;
            return Err(ApiError::TooManyRequests {
                message: "too many failed logins; wait before trying again".into(),
                retry_after_secs: u64::try_from(secs.max(1)).unwrap_or(1),
            });
        }
        let matched = {
            let _permit = self.permit().await?;
            if hashes.is_empty() {
                // The same work as for an existing account, and no match.
                verify_password(password, DUMMY_HASH.clone()).await;
                None
            } else {
                let mut matched = None;
                for (i, hash) in hashes.into_iter().enumerate() {
                    if verify_password(password.clone(), hash).await {
                        matched = Some(i);
                        break;
                    }
                }
                matched
            }
        };
        if matched.is_some() {
            state.store().login_succeeded(&account).await?;
        } else {
            let now = crate::now();
            state
                .store()
                .login_failed(&account, self.per_account, self.window_ms, now)
                .await?;
            if let Some(address) = &address {
                state
                    .store()
                    .login_failed(address, self.per_address, self.window_ms, now)
                    .await?;
            }
        }
        Ok(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    /// The reused-memory check agrees with argon2's own verification, for this server's
    /// parameters and argon2's defaults (hashes stored by earlier versions), one buffer
    /// serving hashes of different sizes in turn.
    #[test]
    fn reused_memory_verification_agrees_with_argon2() {
        let hashes = [
            hash_password_blocking("correct horse battery").unwrap(),
            Argon2::default()
                .hash_password(b"correct horse battery")
                .unwrap()
                .to_string(),
        ];
        for hash in hashes.iter().chain(hashes.iter()) {
            let parsed = PasswordHash::new(hash).unwrap();
            for (password, right) in [("correct horse battery", true), ("correct horse", false)] {
                let ours = verify_in_reused_memory(password.as_bytes(), &parsed);
                let theirs = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!((ours, theirs), (right, right), "{hash} {password}");
            }
        }
        assert!(
            ARGON2_MEMORY.lock().unwrap().len() <= 1,
            "one buffer reused"
        );
    }
}
