//! Identity verification for the web widget, as Intercom and Chatwoot do it: the site's
//! server computes `identity_hash` = hex HMAC-SHA256 of the customer's `external_id` with the
//! tenant's identity secret and puts it in the page; the widget sends both. With a secret
//! configured, an identity without a valid hash is refused before anything is stored; a
//! verified customer continues their open conversation on any device.
//!
//! The secret is made here (random, 32 bytes), shown once when created, and never again: the
//! API only says whether one is configured.

use crate::auth::Principal;
use crate::dto::rfc3339;
use crate::error::{ApiError, ApiResult, Json};
use crate::{AppState, now};
use axum::extract::State;
use axum::http::StatusCode;
use baton_core::{Role, TenantId, Timestamp};
use baton_store::NewEvent;
use baton_store::ids::new_secret;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tenant setting holding the identity secret (`null` when verification is off).
pub const IDENTITY_SETTING: &str = "widget_identity";

/// The identity secret routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_secret, rotate_secret, delete_secret))
}

/// Whether identity verification is on (the secret itself is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentitySecretStatus {
    /// True when widget identities must carry a valid `identity_hash`.
    pub configured: bool,
    /// When the current secret was made.
    pub created_at: Option<String>,
}

/// A new identity secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentitySecretCreated {
    /// `wis_...`: keep it on your server only; compute `identity_hash` with it.
    pub secret: String,
    /// When it was made.
    pub created_at: String,
}

/// How the widget's claimed identity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// No `external_id`: an anonymous visitor.
    Anonymous,
    /// An `external_id` accepted without proof (no secret configured).
    Unverified,
    /// An `external_id` with a valid `identity_hash`.
    Verified,
}

impl Identity {
    /// The word stored on the conversation and shown to agents.
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::Unverified => "unverified",
            Identity::Verified => "verified",
        }
    }
}

fn mac(secret: &str, external_id: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(external_id.as_bytes());
    mac
}

/// Whether `hash` is the hex HMAC-SHA256 of `external_id` under `secret` (any case), compared
/// in constant time.
fn verifies(secret: &str, external_id: &str, hash: &str) -> bool {
    let Ok(given) = hex::decode(hash.trim()) else {
        return false;
    };
    mac(secret, external_id).verify_slice(&given).is_ok()
}

async fn stored_secret(state: &AppState, tenant: &TenantId) -> ApiResult<Option<(String, i64)>> {
    let value = state.store().setting(tenant, IDENTITY_SETTING).await?;
    Ok(value.and_then(|v| {
        let secret = v["secret"].as_str()?.to_string();
        Some((secret, v["created_at_ms"].as_i64().unwrap_or(0)))
    }))
}

/// Checks the identity a widget claims. With a secret configured, an `external_id` needs a
/// valid `identity_hash` (401 otherwise); a hash without an `external_id` is a mistake (422).
pub async fn verify(
    state: &AppState,
    tenant: &TenantId,
    external_id: Option<&str>,
    hash: Option<&str>,
) -> ApiResult<Identity> {
    let hash = hash.map(str::trim).filter(|h| !h.is_empty());
    let Some(external_id) = external_id else {
        if hash.is_some() {
            return Err(ApiError::invalid(
                "invalid_identity",
                "customer.identity_hash was given without customer.external_id: send the id the hash was computed from",
            ));
        }
        return Ok(Identity::Anonymous);
    };
    let Some((secret, _)) = stored_secret(state, tenant).await? else {
        return Ok(Identity::Unverified);
    };
    match hash {
        None => Err(ApiError::Unauthorized(
            "identity_not_verified",
            "this site verifies who its customers are: customer.identity_hash is missing (the hex HMAC-SHA256 of external_id with the widget identity secret, computed by the site's server)".into(),
        )),
        Some(h) if verifies(&secret, external_id, h) => Ok(Identity::Verified),
        Some(_) => Err(ApiError::Unauthorized(
            "identity_not_verified",
            "customer.identity_hash does not match customer.external_id: compute it on the site's server as the hex HMAC-SHA256 of external_id with the current widget identity secret".into(),
        )),
    }
}

/// Whether widget identity verification is on (admins).
#[utoipa::path(get, path = "/v1/widget/identity-secret", tag = "configuration",
    responses((status = 200, body = IdentitySecretStatus)), security(("bearer" = [])))]
async fn get_secret(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<IdentitySecretStatus>> {
    principal.require_role(Role::Admin)?;
    let stored = stored_secret(&state, &principal.tenant).await?;
    Ok(Json(IdentitySecretStatus {
        configured: stored.is_some(),
        created_at: stored.map(|(_, at)| rfc3339(Timestamp::from_millis(at))),
    }))
}

async fn save(state: &AppState, principal: &Principal, value: &Value, kind: &str) -> ApiResult<()> {
    let tenant = &principal.tenant;
    let now = now();
    let mut tx = state.store().begin().await?;
    tx.put_setting(tenant, IDENTITY_SETTING, value, now).await?;
    // The audit trail says what happened, never the secret.
    tx.append_event(&NewEvent::tenant(
        tenant,
        kind,
        &principal.actor(),
        json!({ "key": IDENTITY_SETTING }),
        now,
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Create or replace the widget identity secret (admins). It is shown in this answer only;
/// from now on widget identities need an `identity_hash` made with it, and hashes made with a
/// previous secret are refused.
#[utoipa::path(post, path = "/v1/widget/identity-secret", tag = "configuration",
    responses((status = 201, body = IdentitySecretCreated)), security(("bearer" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<(StatusCode, Json<IdentitySecretCreated>)> {
    principal.require_role(Role::Admin)?;
    let secret = new_secret("wis_");
    let at = now();
    save(
        &state,
        &principal,
        &json!({ "secret": secret, "created_at_ms": at.millis() }),
        "widget_identity_secret_rotated",
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(IdentitySecretCreated {
            secret,
            created_at: rfc3339(at),
        }),
    ))
}

/// Turn identity verification off (admins): identities are accepted unverified again and
/// verified customers no longer resume their conversations on other devices.
#[utoipa::path(delete, path = "/v1/widget/identity-secret", tag = "configuration",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_secret(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<StatusCode> {
    principal.require_role(Role::Admin)?;
    if stored_secret(&state, &principal.tenant).await?.is_none() {
        return Err(ApiError::NotFound("widget identity secret"));
    }
    save(
        &state,
        &principal,
        &Value::Null,
        "widget_identity_secret_removed",
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hex HMAC-SHA256 of `external_id` under `secret`, as the site's server computes it.
    fn identity_hash(secret: &str, external_id: &str) -> String {
        hex::encode(mac(secret, external_id).finalize().into_bytes())
    }

    #[test]
    fn hash_is_hex_hmac_sha256_and_checked() {
        // RFC 4231 test case 2.
        assert_eq!(
            identity_hash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let h = identity_hash("wis_secret", "user-42");
        assert!(verifies("wis_secret", "user-42", &h));
        assert!(verifies("wis_secret", "user-42", &h.to_uppercase()));
        assert!(!verifies("wis_secret", "user-43", &h));
        assert!(!verifies("wis_other", "user-42", &h));
        assert!(!verifies("wis_secret", "user-42", "zz"));
        assert!(!verifies("wis_secret", "user-42", &h[..62]));
    }
}
