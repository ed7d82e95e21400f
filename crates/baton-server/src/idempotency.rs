//! `Idempotency-Key` on POST: a retry with the same key gets the first response, not a second
//! effect. Keys are scoped to the caller; reusing a key for a different request is refused.
//! The key is marked committed inside the command's own transaction (see
//! [`baton_store::idempotency`]): after a crash between the commit and the recording of the
//! answer, a retry gets `409 idempotency_committed` instead of running the command twice.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, BODY_LIMIT, now};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_store::IdempotencyClaim;

const HEADER: &str = "idempotency-key";

/// Middleware implementing idempotent POSTs.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Login responses carry secrets; they are never stored for replay.
    if request.method() != Method::POST || request.uri().path() == "/v1/auth/login" {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k.to_string(),
        _ => {
            return ApiError::BadRequest {
                code: "invalid_idempotency_key",
                message: "Idempotency-Key must be 1-255 visible ASCII characters".into(),
            }
            .into_response();
        }
    };
    let scope = request
        .extensions()
        .get::<Principal>()
        .map_or_else(|| "anonymous".to_string(), Principal::scope);
    // Attachments are raw files, up to their own limit (the route refuses larger ones).
    let limit = if request.uri().path().ends_with("/attachments") {
        state.max_attachment_bytes.max(BODY_LIMIT)
    } else {
        BODY_LIMIT
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return ApiError::PayloadTooLarge(limit).into_response();
    };
    let mut material = format!("{} {}\n", parts.method, parts.uri.path()).into_bytes();
    material.extend_from_slice(&bytes);
    // Of the bytes themselves (a binary upload is not text): for a UTF-8 body this is the
    // same digest as the text's, so fingerprints stored by older versions still compare.
    let fingerprint = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&material))
    };
    let claim = match state
        .store()
        .idempotency_claim(&scope, &key, &fingerprint, now())
        .await
    {
        Ok(claim) => claim,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match claim {
        IdempotencyClaim::Replay { status, body } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        IdempotencyClaim::InProgress => ApiError::Conflict {
            code: "idempotency_in_progress",
            message: "a request with this Idempotency-Key is still being processed; retry shortly"
                .into(),
        }
        .into_response(),
        IdempotencyClaim::Committed => ApiError::Conflict {
            code: "idempotency_committed",
            message: "the request with this Idempotency-Key was carried out, but its answer was \
                      lost (the server stopped); it is not run again: read the result instead"
                .into(),
        }
        .into_response(),
        IdempotencyClaim::Mismatch => ApiError::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        )
        .into_response(),
        IdempotencyClaim::Claimed => {
            // Every transaction of the request marks the key committed with its command.
            let response = baton_store::idempotency::scoped(
                scope.clone(),
                key.clone(),
                next.run(Request::from_parts(parts, Body::from(bytes))),
            )
            .await;
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, usize::MAX).await else {
                let _ = state.store().idempotency_release(&scope, &key).await;
                return ApiError::Internal("reading response body".into()).into_response();
            };
            let recorded = if parts.status.is_server_error() {
                state.store().idempotency_release(&scope, &key).await
            } else {
                let text = String::from_utf8_lossy(&bytes);
                state
                    .store()
                    .idempotency_complete(&scope, &key, parts.status.as_u16(), &text)
                    .await
            };
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "could not record idempotent response");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
