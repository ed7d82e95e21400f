//! The error responses every operation can give, added to the OpenAPI document in one place
//! (not per handler) so that `/openapi.json` says what the server really answers.
//!
//! Every request passes the same layers (see [`crate::app`]):
//! - `auth::resolve` refuses an unknown, revoked or expired bearer token (401) on every route
//!   but `/metrics` (which checks its own token), a missing one on secured routes (401), and a
//!   customer token outside its own conversation (403); handlers refuse a role too low (403);
//! - `input::refuse_nul` refuses a NUL in the URL or a JSON body (422) and reads JSON bodies
//!   under the body limit (413) and the body timeout (408), an unreadable one is a 400;
//! - the JSON and query extractors answer 400 for malformed JSON or query strings and 422 for
//!   well-formed values of the wrong shape; handlers answer 422 for invalid values, and 404
//!   when what a path parameter names is not in the tenant.
//!
//! Responses a handler already documents are kept; one it documents without a body gets the
//! error body, which the server always sends (`{"error": {"code", "message"}}`).

use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// The name of the error body's schema in `components`.
const ERROR_BODY: &str = "ErrorBody";

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name(ERROR_BODY)))
}

fn error_response(description: &str) -> RefOr<Response> {
    let mut response = Response::new(description);
    response
        .content
        .insert("application/json".into(), RefOr::T(error_content()));
    RefOr::T(response)
}

/// Whether an operation declares a required (non-empty) security requirement.
pub fn is_secured(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|requirements| {
        !requirements.is_empty()
            && requirements
                .iter()
                .all(|r| serde_json::to_value(r).is_ok_and(|v| v != serde_json::json!({})))
    })
}

fn document(path: &str, operation: &mut Operation) {
    let secured = is_secured(operation);
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    add(
        "400",
        "Malformed request: unparsable JSON or query string, an unreadable body or an invalid \
         Idempotency-Key",
    );
    add("408", "The request body stalled; send it without pauses");
    add(
        "413",
        &format!(
            "Request body too large: the limit is {} bytes",
            crate::BODY_LIMIT
        ),
    );
    add(
        "422",
        "Well-formed but invalid: values out of range or of the wrong shape, or a NUL character",
    );
    // Whatever a path parameter names may not exist in this tenant.
    if path.contains('{') {
        add("404", "Not found in this tenant");
    }
    // `/metrics` skips the tenant token check (it has its own `metrics_token`, documented on
    // the route).
    if path != "/metrics" {
        add(
            "401",
            if secured {
                "Missing, unknown, revoked or expired credentials"
            } else {
                "A bearer token was sent and is unknown, revoked or expired"
            },
        );
        add(
            "403",
            if secured {
                "Authenticated but not allowed: a role too low, the wrong kind of credential, or \
                 a customer token outside its own conversation"
            } else {
                "A customer token outside its own conversation"
            },
        );
    }
    // Every error the server answers has the error body, even where a handler documented the
    // status without one.
    for (status, response) in operation.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let RefOr::T(response) = response
            && is_error
            && response.content.is_empty()
        {
            response
                .content
                .insert("application/json".into(), RefOr::T(error_content()));
        }
    }
}

/// Adds the shared error responses to every operation of `doc`.
pub fn document_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        for operation in operations.into_iter().flatten() {
            document(path, operation);
        }
        for operation in item.additional_operations.values_mut() {
            document(path, operation);
        }
    }
}

/// Constraints of request documents that their Rust types cannot state, added to the schemas
/// in `components`: which settings a bot `type` requires.
pub fn constrain_documents(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let Some(bot) = components.schemas.get("BotConfig").cloned() else {
        return;
    };
    let requires = |kind: &str, field: &str| {
        serde_json::json!({
            "type": "object",
            "properties": {"type": {"type": "string", "enum": [kind]}},
            "required": ["type", field],
        })
    };
    let constrained = serde_json::json!({
        "allOf": [
            bot,
            {"oneOf": [
                {"type": "object", "properties": {"type": {"type": "string", "enum": ["none", "kb"]}}},
                requires("webhook", "webhook"),
                requires("llm", "llm"),
            ]},
        ],
        "description": "The bot configuration: `webhook` settings are required when `type` is \
                        `webhook`, `llm` settings when it is `llm`.",
    });
    match serde_json::from_value(constrained) {
        Ok(schema) => {
            components.schemas.insert("BotConfig".into(), schema);
        }
        Err(e) => tracing::error!(error = %e, "BotConfig schema constraints do not parse"),
    }
}
