//! The API error: one enum, mapped to HTTP once, always as `{"error": {"code", "message"}}`.

use axum::extract::FromRequest;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baton_store::StoreError;
use serde::Serialize;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// 401: no or invalid credentials (code, what to do).
    #[error("{1}")]
    Unauthorized(&'static str, String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing in this tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: illegal transition or conflict.
    #[error("{message}")]
    Conflict {
        /// Machine-readable code.
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// 408: the request body stalled.
    #[error("the request body stalled; send it without pauses")]
    RequestTimeout,
    /// 413: body too large.
    #[error("request body too large: the limit is {0} bytes")]
    PayloadTooLarge(usize),
    /// 415: a body of a media type this route does not take.
    #[error("{message}")]
    UnsupportedMediaType {
        /// Machine-readable code.
        code: &'static str,
        /// What is accepted.
        message: String,
    },
    /// 422: well-formed but invalid values.
    #[error("{message}")]
    Invalid {
        /// Machine-readable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// 429: too many requests from this client; retry after the given seconds.
    #[error("{message}")]
    TooManyRequests {
        /// What was limited.
        message: String,
        /// Seconds until a retry can succeed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// 500: our fault; details are logged, not shown.
    #[error("internal error")]
    Internal(String),
    /// 503: a dependency (the database) is down.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// A 422 with a code and message.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// A 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Unauthorized(code, _) => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType { code, .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, code)
            }
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

/// The error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable snake_case code.
    pub code: String,
    /// What went wrong and what to fix.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

/// A configured URL outbound requests may not reach: 422 `private_target`.
impl From<baton_engine::outbound::PrivateTarget> for ApiError {
    fn from(e: baton_engine::outbound::PrivateTarget) -> Self {
        ApiError::invalid("private_target", e.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict { code, message } => ApiError::Conflict { code, message },
            StoreError::Transition(t) => ApiError::Conflict {
                code: t.code(),
                message: t.to_string(),
            },
            StoreError::InvalidInput(message) => ApiError::invalid("invalid_input", message),
            // The engine retries these; one that still gets here is the client's to resend.
            e @ StoreError::Stale(_) => ApiError::Conflict {
                code: "changed_meanwhile",
                message: e.to_string(),
            },
            e if e.is_unavailable() => {
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                // Well-formed JSON with missing fields or wrong types.
                ApiError::invalid("invalid_body", e.body_text())
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest {
                code: "malformed_json",
                message: e.body_text(),
            },
            JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest {
                code: "unsupported_media_type",
                message: "send the body as JSON with 'Content-Type: application/json'".into(),
            },
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge(crate::BODY_LIMIT)
            }
            other => ApiError::BadRequest {
                code: "bad_request",
                message: other.body_text(),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest {
            code: "invalid_query",
            message: rejection.body_text(),
        }
    }
}

/// `axum::Json` whose rejections use our error format.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` whose rejections use our error format.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Parses a JSON body that may be absent (an empty body or `null` means the defaults).
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // `null` is the JSON way to send nothing: the same as no body.
    let body: Option<T> = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid("invalid_body", e.to_string()),
        _ => ApiError::BadRequest {
            code: "malformed_json",
            message: e.to_string(),
        },
    })?;
    Ok(body.unwrap_or_default())
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
