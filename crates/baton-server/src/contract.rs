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
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, Schema};

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
            "properties": {
                "type": {"type": "string", "enum": [kind]},
                (field): {"type": "object"},
            },
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

/// A string with no NUL character: `input::refuse_nul` refuses U+0000 in every JSON body and
/// URL (PostgreSQL cannot store it), so no string the document describes may hold one.
const NO_NUL: &str = r"^[^\x00]*$";

/// `pattern` rewritten so that it cannot match a string holding a NUL: negated classes and
/// the classes that match anything (`.`, `\S`, `\W`, `\D`, `[\s\S]`) leave NUL out, and an
/// unanchored pattern (which matches inside a longer string) gets anchors around a NUL-free
/// text.
pub fn pattern_without_nul(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('S' | 'W' | 'D')) if !in_class => {
                    let class = n.to_ascii_lowercase();
                    out.push_str(&format!(r"[^\{class}\x00]"));
                }
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push_str(r"^\x00");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '.' if !in_class => out.push_str(r"[^\n\r\x00]"),
            _ => out.push(c),
        }
    }
    let out = out.replace(r"[\s\S]", r"[^\x00]");
    let anchored = out.starts_with('^') && out.ends_with('$') && !out.ends_with(r"\$");
    if anchored {
        out
    } else {
        format!(r"^[^\x00]*(?:{out})[^\x00]*$")
    }
}

fn exclude_nul_in_schema(schema: &mut serde_json::Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let is_string = match object.get("type") {
        Some(serde_json::Value::String(t)) => t == "string",
        Some(serde_json::Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    };
    if is_string && !object.contains_key("enum") && !object.contains_key("const") {
        let pattern = match object.get("pattern").and_then(|p| p.as_str()) {
            Some(p) => pattern_without_nul(p),
            None => NO_NUL.to_string(),
        };
        object.insert("pattern".into(), pattern.into());
    }
    for key in ["items", "additionalProperties", "not", "contains"] {
        if let Some(inner) = object.get_mut(key) {
            exclude_nul_in_schema(inner);
        }
    }
    for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        if let Some(serde_json::Value::Array(inner)) = object.get_mut(key) {
            inner.iter_mut().for_each(exclude_nul_in_schema);
        }
    }
    if let Some(serde_json::Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(exclude_nul_in_schema);
    }
}

/// The pattern of the cursors each paginated operation issues (`next_cursor`), so that a
/// client (or a fuzzer) sends only cursors the server can decode: a sequence number for
/// messages, events, the audit log and deliveries, the last conversation id for conversations.
/// Notification and webhook lists page by any id (compared as text) and take any cursor.
const CURSORS: &[(&str, &str)] = &[
    ("/v1/conversations", "^[A-Za-z0-9_-]{1,64}$"),
    ("/v1/conversations/{id}/messages", "^[0-9]{1,18}$"),
    ("/v1/conversations/{id}/events", "^[0-9]{1,18}$"),
    ("/v1/audit", "^[0-9]{1,18}$"),
    ("/v1/deliveries", "^[0-9]{1,18}$"),
];

/// States in the document what every route refuses alike, which no handler's types say: no
/// string may hold a NUL character (every string schema, in `components` and in parameters,
/// gets a `pattern` that excludes U+0000), and cursors are the ones the server issues.
pub fn constrain_strings(doc: &mut OpenApi) {
    let note = "\n\nNo string may contain the NUL character (U+0000): the server refuses it \
                anywhere in a JSON body or the URL with 422 `nul_character`, and every string \
                schema here has a `pattern` that excludes it.";
    let description = doc.info.description.get_or_insert_with(String::new);
    if !description.contains("NUL character") {
        description.push_str(note);
    }
    if let Some(components) = doc.components.as_mut() {
        for (name, schema) in components.schemas.iter_mut() {
            constrain_schema(name, schema, None);
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                let cursor = CURSORS
                    .iter()
                    .find(|(p, _)| p == path)
                    .filter(|_| {
                        parameter.name == "cursor"
                            && matches!(parameter.parameter_in, ParameterIn::Query)
                    })
                    .map(|(_, pattern)| *pattern);
                if let Some(schema) = parameter.schema.as_mut() {
                    constrain_schema(&parameter.name, schema, cursor);
                }
            }
            if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
                for content in body.content.values_mut() {
                    let RefOr::T(content) = content else {
                        continue;
                    };
                    if let Some(schema) = content.schema.as_mut() {
                        constrain_schema(path, schema, None);
                    }
                }
            }
        }
    }
}

/// Rewrites one schema through JSON (utoipa's types have no pattern setter for every shape):
/// the NUL exclusion, and `pattern` first where one is given. A schema that would not parse back
/// is left as it was, and logged.
fn constrain_schema(name: &str, schema: &mut RefOr<Schema>, pattern: Option<&str>) {
    let Ok(original) = serde_json::to_value(&*schema) else {
        return;
    };
    let mut value = original.clone();
    if let Some(pattern) = pattern {
        value["pattern"] = pattern.into();
    }
    exclude_nul_in_schema(&mut value);
    if value == original {
        return;
    }
    match serde_json::from_value(value) {
        Ok(constrained) => *schema = constrained,
        Err(e) => tracing::error!(schema = name, error = %e, "a constrained schema does not parse"),
    }
}

#[cfg(test)]
mod tests {
    use super::pattern_without_nul;

    #[test]
    fn rewritten_patterns_match_what_they_did_but_never_a_nul() {
        for (pattern, matches, refuses) in [
            (r"\S", vec!["a", " b "], vec!["", "  ", "a\0", "\0"]),
            (r"^[a-z]{1,4}$", vec!["ab"], vec!["a\0"]),
            (r"^(\s*|[^\s]*@[^\s]*)$", vec!["", "a@b"], vec!["a\0@b"]),
            (r"^(w|[^w][\s\S]*)$", vec!["w", "xyz"], vec!["x\0", "\0"]),
            (r"^a.c$", vec!["abc"], vec!["a\0c"]),
            (r"^\D+$", vec!["ab"], vec!["a\0"]),
        ] {
            let rewritten = pattern_without_nul(pattern);
            let re = regex::Regex::new(&rewritten).unwrap();
            for text in matches {
                assert!(re.is_match(text), "{rewritten} should match {text:?}");
            }
            for text in refuses {
                assert!(!re.is_match(text), "{rewritten} should not match {text:?}");
            }
        }
    }
}
