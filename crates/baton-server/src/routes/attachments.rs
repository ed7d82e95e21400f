//! `/v1/conversations/{id}/attachments`: images and PDFs sent by a customer (widget token) or
//! an agent, stored in the database and served back so that nothing in them can run.
//!
//! An upload is the raw file as the body, its name in `?filename=`. What it is comes from its
//! first bytes, not from the `Content-Type` the client claims: only PNG, JPEG, GIF and WebP
//! images and PDF documents are taken, so an HTML page or a program renamed `photo.png` is
//! refused. A download answers with the type found at upload, `nosniff`, and a
//! `Content-Security-Policy` that sandboxes it and allows it to load nothing.

use super::{visible_conversation, visible_id};
use crate::auth::{Principal, PrincipalKind};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::{AppState, now};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_core::{AttachmentId, MessageRole};
use baton_engine::service::{self, NewAttachment};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest file accepted by default, in bytes (10 MiB); `max_attachment_bytes` in the
/// configuration changes it.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// A conversation holds at most this many largest files' worth of attachments (100 MiB with
/// the default limit).
pub const FILES_PER_CONVERSATION: u64 = 10;

/// The longest file name kept, in characters.
const MAX_FILENAME: usize = 200;

/// What a download's `Content-Security-Policy` says: load nothing, run nothing.
pub const ATTACHMENT_CSP: &str = "default-src 'none'; sandbox";

/// The attachment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
}

/// The media types an attachment may have, told by the content's first bytes (its "magic
/// number"); `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// The file name as stored and shown: its last path segment, without control characters or
/// quotes, at most [`MAX_FILENAME`] characters; `file` when nothing is left.
pub fn clean_filename(raw: Option<&str>, content_type: &str) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(MAX_FILENAME)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if !cleaned.is_empty() {
        return cleaned;
    }
    let ext = match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "pdf",
    };
    format!("file.{ext}")
}

fn unsupported() -> ApiError {
    ApiError::UnsupportedMediaType {
        code: "unsupported_attachment_type",
        message: "only images (PNG, JPEG, GIF, WebP) and PDF documents can be attached; this \
                  file's content is none of them"
            .into(),
    }
}

/// Where the file's name comes from.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The file's name as the customer or agent knows it (`invoice.pdf`); path segments and
    /// control characters are dropped, 200 characters kept. Absent: `file.png`, `file.pdf`...
    pub filename: Option<String>,
}

/// Attach a file (image or PDF) to a conversation: the raw file is the body, its name in
/// `?filename=`. The type is told by the content itself (PNG, JPEG, GIF, WebP, PDF); a
/// `Content-Type` other than `application/octet-stream` must agree with it. Agents attach to
/// the conversations they own, like replies; a widget customer token to its own conversation.
/// The answer is the message that carries the file (its text is the file's name, its
/// `attachment` the reference), as `POST /messages` answers.
#[utoipa::path(post, path = "/v1/conversations/{id}/attachments", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), UploadQuery),
    request_body(description = "The file's bytes",
        content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf"), ("application/octet-stream"))),
    responses((status = 201, body = PostMessageResponse),
        (status = 403, description = "An integration key (attachments come from agents and widget customers)", body = crate::error::ErrorBody),
        (status = 409, description = "The conversation does not take this message (not the owner), or holds its limit of files (`attachments_full`: ten times `max_attachment_bytes`)", body = crate::error::ErrorBody),
        (status = 413, description = "The file is larger than the limit (`max_attachment_bytes`, 10 MiB by default)", body = crate::error::ErrorBody),
        (status = 415, description = "Not a PNG, JPEG, GIF or WebP image or a PDF, or not what its Content-Type says", body = crate::error::ErrorBody),
        (status = 422, description = "An empty file", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<PostMessageResponse>)> {
    let role = match &principal.kind {
        PrincipalKind::Person { .. } => MessageRole::Agent,
        PrincipalKind::Customer { .. } => MessageRole::Customer,
        PrincipalKind::Integration { .. } => {
            return Err(ApiError::forbidden(
                "attachments are sent by agents (their session) and widget customers (their \
                 token); integrations post text messages",
            ));
        }
    };
    let id = visible_id(&state, &principal, &id).await?;
    let limit = state.max_attachment_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Err(match crate::input::body_error(&e) {
                ApiError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(limit),
                other => other,
            });
        }
    };
    if bytes.is_empty() {
        return Err(ApiError::invalid("empty_file", "the file is empty"));
    }
    let content_type = sniff(&bytes).ok_or_else(unsupported)?;
    let claimed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(claimed) = claimed.filter(|c| !c.is_empty() && c != "application/octet-stream")
        && claimed != content_type
    {
        return Err(ApiError::UnsupportedMediaType {
            code: "attachment_type_mismatch",
            message: format!(
                "the file says it is {claimed} but its content is {content_type}; send it \
                 with its own type or application/octet-stream"
            ),
        });
    }
    let filename = clean_filename(query.filename.as_deref(), content_type);
    let (bytes, sha256) = tokio::task::spawn_blocking(move || {
        let digest = hex::encode(Sha256::digest(&bytes));
        (bytes.to_vec(), digest)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hashing an attachment: {e}")))?;
    let outcome = service::post_attachment(
        state.store().as_ref(),
        &principal.tenant,
        &id,
        NewAttachment {
            role,
            filename,
            content_type: content_type.to_string(),
            sha256,
            bytes,
        },
        (state.max_attachment_bytes as u64).saturating_mul(FILES_PER_CONVERSATION),
        &principal.actor(),
        now(),
    )
    .await?;
    let customer = state
        .store()
        .customer(&principal.tenant, &outcome.conversation.customer)
        .await?;
    let mut conversation = ConversationView::new(outcome.conversation, customer);
    if matches!(principal.kind, PrincipalKind::Customer { .. }) {
        conversation = crate::routes::widget::customer_view(conversation);
    }
    Ok((
        StatusCode::CREATED,
        Json(PostMessageResponse {
            message: outcome.message.into(),
            state: conversation.state.clone(),
            conversation,
            escalation: None,
            duplicate: false,
            held: false,
        }),
    ))
}

/// `filename="..."` (ASCII, for old clients) and `filename*=UTF-8''...` (the real name).
fn disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Download an attachment of a conversation, for whoever may read that conversation (its
/// widget customer token included). Images are served `inline`, PDFs as a download; every
/// answer carries `X-Content-Type-Options: nosniff` and `Content-Security-Policy:
/// default-src 'none'; sandbox`, so a file can never run as a page or a script.
#[utoipa::path(get, path = "/v1/conversations/{id}/attachments/{attachment_id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"),
        ("attachment_id" = String, Path, description = "Attachment id (att_...)")),
    responses((status = 200, description = "The file, with the type found at upload",
        content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf")))),
    security(("bearer" = [])))]
async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, attachment_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let conversation = visible_conversation(&state, &principal, &id).await?;
    let attachment_id =
        AttachmentId::parse(attachment_id).map_err(|_| ApiError::NotFound("attachment"))?;
    let (attachment, bytes) = state
        .store()
        .attachment(&principal.tenant, &conversation.id, &attachment_id)
        .await?
        .ok_or(ApiError::NotFound("attachment"))?;
    let kind = if attachment.content_type.starts_with("image/") {
        "inline"
    } else {
        "attachment"
    };
    let content_type = HeaderValue::from_str(&attachment.content_type)
        .map_err(|_| ApiError::Internal("a stored attachment type is not a header".into()))?;
    let disposition = HeaderValue::from_str(&disposition(kind, &attachment.filename))
        .map_err(|_| ApiError::Internal("an attachment name is not a header".into()))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ATTACHMENT_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Readable by whoever may read the conversation: a shared cache must not keep it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", attachment.sha256)) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_told_by_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0..JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"MZ\x90\0 a Windows program"), None);
        assert_eq!(sniff(b"\x7fELF"), None);
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVE"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn names_lose_paths_and_controls() {
        assert_eq!(
            clean_filename(Some("../../etc/passwd"), "image/png"),
            "passwd"
        );
        assert_eq!(
            clean_filename(Some("C:\\x\\scan 1.pdf"), "application/pdf"),
            "scan 1.pdf"
        );
        assert_eq!(clean_filename(Some("a\"b\r\n.png"), "image/png"), "ab.png");
        assert_eq!(clean_filename(Some("  "), "image/gif"), "file.gif");
        assert_eq!(clean_filename(None, "application/pdf"), "file.pdf");
        assert_eq!(clean_filename(Some(".htaccess"), "image/png"), "htaccess");
        assert_eq!(
            clean_filename(Some(&"x".repeat(500)), "image/png").len(),
            200
        );
    }

    #[test]
    fn dispositions_carry_any_name_safely() {
        assert_eq!(
            disposition("inline", "café ü.png"),
            "inline; filename=\"caf_ _.png\"; filename*=UTF-8''caf%C3%A9%20%C3%BC.png"
        );
    }
}
