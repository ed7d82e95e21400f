//! `POST /v1/customers/{id}/erase`: erasing one customer's personal data on request (admins).
//! The erasure itself is `baton_store::Maintenance::erase_customer`; the audit trail keeps a
//! `customer_erased` event saying who erased what and when, without the erased text.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Json};
use crate::now;
use axum::extract::{Path, State};
use baton_core::{CustomerId, Role};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The customer routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase))
}

/// What an erasure did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureView {
    /// The customer.
    pub customer: String,
    /// Their conversations, whose text was erased.
    pub conversations: Vec<String>,
    /// Transcript entries whose text was replaced.
    pub messages: u64,
    /// Events whose personal content was replaced (their hashes stay; the erasure record
    /// vouches for them).
    pub events: u64,
    /// The `customer_erased` event in the tenant's audit trail (`GET /v1/audit?kind=customer_erased`).
    pub event_seq: i64,
    /// When (RFC 3339).
    pub erased_at: String,
}

/// Erase a customer's personal data: profile (name, email, phone, external id, language,
/// attributes), the text of every message of their conversations, notes, the escalation
/// signals and briefs of those conversations. Conversations, their events and analytics stay,
/// without the text. Every conversation of the customer must be closed first.
#[utoipa::path(post, path = "/v1/customers/{id}/erase", tag = "operations",
    params(("id" = String, Path, description = "Customer id (the `customer.id` of a conversation)")),
    responses((status = 200, body = ErasureView),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such customer", body = crate::error::ErrorBody),
        (status = 409, description = "`customer_has_open_conversations`: close them first", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn erase(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ErasureView>> {
    principal.require_role(Role::Admin)?;
    let id = CustomerId::parse(id).map_err(|_| ApiError::NotFound("customer"))?;
    let erased = state
        .store()
        .erase_customer(&principal.tenant, &id, &principal.actor(), now())
        .await?;
    Ok(Json(ErasureView {
        customer: erased.customer.to_string(),
        conversations: erased
            .conversations
            .iter()
            .map(ToString::to_string)
            .collect(),
        messages: erased.messages,
        events: erased.events,
        event_seq: erased.event_seq,
        erased_at: crate::dto::rfc3339(erased.at),
    }))
}
