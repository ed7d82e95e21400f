//! WhatsApp Cloud API: webhook handshake, signature and payload parsing, and a client that sends
//! text, reply-button and template messages through the Graph API.
//!
//! # Receiving
//!
//! In the Meta app dashboard (WhatsApp → Configuration) you register a callback URL, a verify
//! token of your choosing, and subscribe to the `messages` field. Meta then calls the URL in two
//! ways:
//!
//! 1. **Handshake**: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`, once, when
//!    the URL is saved. Answer `200` with the challenge as the body when [`verify_handshake`]
//!    accepts it, `403` otherwise.
//! 2. **Events**: `POST` with a JSON body signed in `X-Hub-Signature-256: sha256=<hex>`, an
//!    HMAC-SHA256 of the *raw* body keyed with the app secret. Check it with
//!    [`verify_signature`] on the bytes as received (before any JSON parsing), then
//!    [`parse_webhook`] them. Answer `200` quickly: Meta retries other answers for hours, and
//!    may deliver the same event more than once, so deduplicate by message id.
//!
//! [`parse_webhook`] returns one [`Inbound`] per customer message ([`Inbound::Message`]) and
//! per delivery receipt of a message we sent ([`Inbound::Status`]). Text, reply-button and
//! list replies, and template quick-reply buttons become [`Content`]; images, locations, etc.
//! are [`Content::Unsupported`] with their type, so the caller can ask the customer to write
//! instead. Changes for other webhook fields (template reviews, account updates) yield nothing.
//!
//! # Sending
//!
//! ```no_run
//! # async fn demo() -> Result<(), baton_channels::whatsapp::SendError> {
//! use baton_channels::whatsapp::{Client, SendError, within_service_window};
//!
//! let client = Client::new(baton_channels::http_client(), "106540352242922", "EAAG…");
//! let wamid = client.send_text("16505551234", "Hi John, Sara here.").await?;
//! client
//!     .send_buttons("16505551234", "Did that help?", &[("yes", "Yes, thanks"), ("no", "No")])
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Free-form messages (text, buttons) are only delivered within 24 hours of the customer's last
//! message (the *customer service window*; check with [`within_service_window`]). Outside it,
//! only an approved template can be sent ([`Client::send_template`]); the Graph API answers
//! error 131047, which becomes [`SendError::OutsideServiceWindow`]. Failures that happen after
//! the API accepted a message arrive later as [`Inbound::Status`] with `status: Failed`.
//!
//! # Errors
//!
//! | answer | variant | retryable |
//! | --- | --- | --- |
//! | code 131047 | [`SendError::OutsideServiceWindow`] | no: send a template |
//! | codes 4, 80007, 130429, 131048, 131056; HTTP 429 | [`SendError::RateLimited`] | yes |
//! | HTTP 5xx; codes 1, 2, 131000, 131016 | [`SendError::Unavailable`] | yes |
//! | connect, TLS, timeout | [`SendError::Network`] | yes |
//! | code 190; HTTP 401 | [`SendError::Unauthorized`] | no: renew the token |
//! | anything else | [`SendError::Rejected`] with Meta's message | no |
//! | bad arguments, caught before sending | [`SendError::Invalid`] | no |

use crate::retry_after;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;

/// Meta's Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version used unless [`Client::with_api_version`] says otherwise. Meta supports
/// each version for about two years; pin the one your app was tested with.
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// How long after the customer's last message free-form messages may be sent.
pub const SERVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Most reply buttons in one interactive message.
pub const MAX_BUTTONS: usize = 3;
/// Longest reply button title, in characters.
pub const MAX_BUTTON_TITLE: usize = 20;
/// Longest reply button id, in characters.
pub const MAX_BUTTON_ID: usize = 256;
/// Longest body of an interactive message, in characters.
pub const MAX_INTERACTIVE_BODY: usize = 1_024;
/// Longest text message, in characters.
pub const MAX_TEXT: usize = 4_096;

// ---------------------------------------------------------------------------------------------
// Handshake and signature
// ---------------------------------------------------------------------------------------------

/// Why a webhook verification request was refused; answer it with `403`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// `hub.mode` was missing or not `subscribe`.
    #[error("hub.mode must be \"subscribe\", got {0:?}")]
    WrongMode(Option<String>),
    /// `hub.verify_token` was missing or differs from the configured token (or none is
    /// configured).
    #[error("hub.verify_token does not match the configured verify token")]
    TokenMismatch,
    /// `hub.challenge` was missing or empty.
    #[error("hub.challenge is missing")]
    MissingChallenge,
}

/// Checks Meta's webhook verification request (`GET` with `hub.mode`, `hub.verify_token` and
/// `hub.challenge` query parameters) and returns the challenge to echo as the response body.
pub fn verify_handshake(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &str,
) -> Result<String, HandshakeError> {
    if mode != Some("subscribe") {
        return Err(HandshakeError::WrongMode(mode.map(str::to_owned)));
    }
    let token_ok = !expected_token.is_empty()
        && verify_token.is_some_and(|t| constant_time_eq(t.as_bytes(), expected_token.as_bytes()));
    if !token_ok {
        return Err(HandshakeError::TokenMismatch);
    }
    match challenge {
        Some(c) if !c.is_empty() => Ok(c.to_owned()),
        _ => Err(HandshakeError::MissingChallenge),
    }
}

/// Whether `header` (the `X-Hub-Signature-256` value, `sha256=<hex>`) is the HMAC-SHA256 of
/// `body` keyed with the app secret. The comparison takes the same time wherever the bytes
/// differ. A missing or malformed header, or an empty secret, is `false`.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_sig) else {
        return false;
    };
    if app_secret.is_empty() {
        return false;
    }
    let mut mac = mac(app_secret);
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// The `X-Hub-Signature-256` value Meta would send for `body`: for tests and for relaying
/// webhooks to another service.
pub fn signature_header(app_secret: &str, body: &[u8]) -> String {
    let mut mac = mac(app_secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &str) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether free-form messages can still reach a customer whose last message was at
/// `last_customer_message_at_ms` (Unix milliseconds): less than 24 hours ago. A last message
/// in the future (clock skew) counts as inside the window.
pub fn within_service_window(last_customer_message_at_ms: i64, now_ms: i64) -> bool {
    now_ms.saturating_sub(last_customer_message_at_ms) < SERVICE_WINDOW_MS
}

// ---------------------------------------------------------------------------------------------
// Webhook parsing
// ---------------------------------------------------------------------------------------------

/// One event from a webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A message from a customer.
    Message {
        /// The business number that received it (`metadata.phone_number_id`): which
        /// [`Client`] answers.
        phone_number_id: String,
        /// The customer's WhatsApp id (`wa_id`, usually the phone number without `+`); send
        /// replies `to` it.
        from: String,
        /// The customer's WhatsApp profile name, when Meta sent it.
        profile_name: Option<String>,
        /// The message id (`wamid.…`), unique: deduplicate on it.
        id: String,
        /// When the customer sent it, Unix seconds.
        timestamp: i64,
        /// What it says.
        content: Content,
    },
    /// A delivery receipt for a message we sent.
    Status {
        /// The business number that sent the message.
        phone_number_id: String,
        /// The id [`Client`] returned when sending (`wamid.…`).
        id: String,
        /// Sent, delivered, read or failed.
        status: DeliveryStatus,
        /// The customer's WhatsApp id.
        recipient_id: String,
        /// When the status changed, Unix seconds.
        timestamp: i64,
        /// For failures, Meta's error code (131047 when the service window had closed).
        error_code: Option<i64>,
        /// For failures, a readable description: "131047: Re-engagement message — …".
        error: Option<String>,
    },
}

/// The content of a customer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A text message.
    Text(String),
    /// A tap on a reply button or a list row we sent (`interactive.button_reply` /
    /// `interactive.list_reply`), or on a template's quick-reply button (`button`, where `id`
    /// is the button's payload).
    Button {
        /// The id we gave the button or row (or the template button's payload).
        id: String,
        /// The label the customer saw.
        title: String,
    },
    /// Any other type: image, audio, location, reaction, sticker, `interactive.nfm_reply`…
    Unsupported {
        /// The WhatsApp message type, with the interactive subtype after a dot
        /// (`image`, `interactive.nfm_reply`).
        kind: String,
    },
}

/// The state of a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Accepted by WhatsApp's servers.
    Sent,
    /// Reached the customer's device.
    Delivered,
    /// Shown to the customer (only if they have read receipts on).
    Read,
    /// Could not be sent or delivered; see the status's `error`.
    Failed,
    /// A status this crate does not know yet (for example `deleted`), as Meta spelled it.
    Other(String),
}

impl DeliveryStatus {
    fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Why a webhook body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or JSON of the wrong shape; the message says where.
    #[error("invalid WhatsApp webhook payload: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is fine but not a WhatsApp Business Account webhook.
    #[error("not a WhatsApp webhook: `object` is {0:?}, expected \"whatsapp_business_account\"")]
    WrongObject(String),
    /// A required field is missing or unusable.
    #[error("invalid WhatsApp webhook payload: {0}")]
    Invalid(String),
}

/// Reads a webhook `POST` body (after [`verify_signature`]) into its messages and statuses, in
/// payload order. Unknown fields are ignored; changes to other webhook fields yield nothing.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<Inbound>, ParseError> {
    let envelope: Envelope = serde_json::from_slice(body)?;
    if envelope.object != "whatsapp_business_account" {
        return Err(ParseError::WrongObject(envelope.object));
    }
    let mut out = Vec::new();
    for (e, entry) in envelope.entry.into_iter().enumerate() {
        for (c, change) in entry.changes.into_iter().enumerate() {
            if change.field.as_deref().is_some_and(|f| f != "messages") {
                continue;
            }
            let at = format!("entry[{e}].changes[{c}].value");
            let Some(value) = change.value else { continue };
            let value: ChangeValue = serde_json::from_value(value)
                .map_err(|err| ParseError::Invalid(format!("{at}: {err}")))?;
            if value.messages.is_empty() && value.statuses.is_empty() {
                continue;
            }
            let phone_number_id = value
                .metadata
                .map(|m| m.phone_number_id)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    ParseError::Invalid(format!("{at}: missing metadata.phone_number_id"))
                })?;
            for (m, msg) in value.messages.into_iter().enumerate() {
                let at = format!("{at}.messages[{m}]");
                let profile_name = profile_name(&value.contacts, &msg.from);
                out.push(Inbound::Message {
                    phone_number_id: phone_number_id.clone(),
                    timestamp: unix_seconds(&msg.timestamp, &at)?,
                    content: content(&msg, &at)?,
                    profile_name,
                    from: msg.from,
                    id: msg.id,
                });
            }
            for (s, status) in value.statuses.into_iter().enumerate() {
                let at = format!("{at}.statuses[{s}]");
                let first_error = status.errors.first();
                out.push(Inbound::Status {
                    phone_number_id: phone_number_id.clone(),
                    timestamp: unix_seconds(&status.timestamp, &at)?,
                    status: DeliveryStatus::parse(&status.status),
                    error_code: first_error.and_then(|e| e.code),
                    error: (!status.errors.is_empty()).then(|| {
                        status
                            .errors
                            .iter()
                            .map(StatusError::describe)
                            .collect::<Vec<_>>()
                            .join("; ")
                    }),
                    recipient_id: status.recipient_id,
                    id: status.id,
                });
            }
        }
    }
    Ok(out)
}

fn profile_name(contacts: &[Contact], from: &str) -> Option<String> {
    let contact = contacts
        .iter()
        .find(|c| c.wa_id.as_deref() == Some(from))
        .or(if contacts.len() == 1 {
            contacts.first()
        } else {
            None
        })?;
    contact
        .profile
        .as_ref()?
        .name
        .clone()
        .filter(|n| !n.is_empty())
}

fn content(msg: &RawMessage, at: &str) -> Result<Content, ParseError> {
    let missing = |what: &str| {
        ParseError::Invalid(format!(
            "{at}: type is {:?} but {what} is missing",
            msg.kind
        ))
    };
    Ok(match msg.kind.as_str() {
        "text" => Content::Text(
            msg.text
                .as_ref()
                .ok_or_else(|| missing("text.body"))?
                .body
                .clone(),
        ),
        "interactive" => {
            let interactive = msg
                .interactive
                .as_ref()
                .ok_or_else(|| missing("interactive"))?;
            let reply = match interactive.kind.as_str() {
                "button_reply" => interactive.button_reply.as_ref(),
                "list_reply" => interactive.list_reply.as_ref(),
                other => {
                    return Ok(Content::Unsupported {
                        kind: format!("interactive.{other}"),
                    });
                }
            };
            let reply =
                reply.ok_or_else(|| missing(&format!("interactive.{}", interactive.kind)))?;
            Content::Button {
                id: reply.id.clone(),
                title: reply.title.clone(),
            }
        }
        "button" => {
            let button = msg.button.as_ref().ok_or_else(|| missing("button"))?;
            Content::Button {
                id: button
                    .payload
                    .clone()
                    .unwrap_or_else(|| button.text.clone()),
                title: button.text.clone(),
            }
        }
        other => Content::Unsupported {
            kind: other.to_owned(),
        },
    })
}

fn unix_seconds(raw: &Timestamp, at: &str) -> Result<i64, ParseError> {
    match raw {
        Timestamp::Number(n) => Ok(*n),
        Timestamp::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| ParseError::Invalid(format!("{at}.timestamp: {s:?} is not Unix seconds"))),
    }
}

#[derive(Deserialize)]
struct Envelope {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<RawMessage>,
    #[serde(default)]
    statuses: Vec<RawStatus>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    from: String,
    id: String,
    timestamp: Timestamp,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    interactive: Option<Interactive>,
    #[serde(default)]
    button: Option<LegacyButton>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Timestamp {
    Text(String),
    Number(i64),
}

#[derive(Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    button_reply: Option<Reply>,
    #[serde(default)]
    list_reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    id: String,
    title: String,
}

#[derive(Deserialize)]
struct LegacyButton {
    #[serde(default)]
    payload: Option<String>,
    text: String,
}

#[derive(Deserialize)]
struct RawStatus {
    id: String,
    status: String,
    timestamp: Timestamp,
    recipient_id: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

impl StatusError {
    /// "131047: Re-engagement message — Message failed to send because …".
    fn describe(&self) -> String {
        let headline = self
            .title
            .as_deref()
            .or(self.message.as_deref())
            .unwrap_or("unknown error");
        let mut text = match self.code {
            Some(code) => format!("{code}: {headline}"),
            None => headline.to_owned(),
        };
        let details = self.error_data.as_ref().and_then(|d| d.details.as_deref());
        if let Some(details) = details.filter(|d| *d != headline) {
            text.push_str(" — ");
            text.push_str(details);
        }
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// The Graph API's error object, `{"error": {"message", "type", "code", "error_subcode",
/// "fbtrace_id", "error_data": {"details"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct GraphError {
    /// Meta's message, e.g. "(#131047) Re-engagement message".
    #[serde(default)]
    pub message: String,
    /// The error family, e.g. "OAuthException".
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The error code: <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.
    #[serde(default)]
    pub code: Option<i64>,
    /// A finer code, when Meta gives one.
    #[serde(default)]
    pub error_subcode: Option<i64>,
    /// Meta's trace id: quote it to Meta support.
    #[serde(default)]
    pub fbtrace_id: Option<String>,
    /// `error_data.details`, often the most helpful sentence.
    #[serde(default, skip)]
    pub details: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.message.is_empty() {
            "no message"
        } else {
            &self.message
        })?;
        if let Some(details) = self.details.as_deref().filter(|d| *d != self.message) {
            write!(f, " — {details}")?;
        }
        if let Some(code) = self.code {
            write!(f, " (code {code}")?;
            if let Some(sub) = self.error_subcode {
                write!(f, ", subcode {sub}")?;
            }
            if let Some(trace) = &self.fbtrace_id {
                write!(f, ", fbtrace_id {trace}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Why a send failed, and whether trying again later can help ([`SendError::retryable`]).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The arguments break a WhatsApp limit (caught before sending). Not retryable.
    #[error("invalid WhatsApp message: {0}")]
    Invalid(String),
    /// Error 131047: more than 24 hours since the customer last wrote. Not retryable as is:
    /// send an approved template ([`Client::send_template`]) instead.
    #[error("outside the 24-hour customer service window, only templates can be sent: {0}")]
    OutsideServiceWindow(Box<GraphError>),
    /// A throughput, spam or account rate limit, or HTTP 429. Retryable, with backoff.
    #[error("WhatsApp rate limit: {}", describe(error.as_deref(), 429))]
    RateLimited {
        /// Meta's error, when it sent one.
        error: Option<Box<GraphError>>,
        /// The `Retry-After` header, when present.
        retry_after: Option<Duration>,
    },
    /// The access token is invalid or expired (code 190, HTTP 401). Not retryable: a person
    /// must renew the token.
    #[error("WhatsApp rejected the access token (HTTP {status}): {}", describe(error.as_deref(), *status))]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// Meta's error, when it sent one.
        error: Option<Box<GraphError>>,
    },
    /// HTTP 5xx or a temporary Graph API failure. Retryable.
    #[error("WhatsApp is unavailable (HTTP {status}): {}", describe(error.as_deref(), *status))]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Meta's error, when it sent one.
        error: Option<Box<GraphError>>,
    },
    /// The request did not complete (DNS, connect, TLS, timeout). Retryable; the message may
    /// have been sent if the connection broke after the request.
    #[error("could not reach the Graph API: {0}")]
    Network(#[source] reqwest::Error),
    /// Any other refusal: bad number, unknown template, policy… Not retryable.
    #[error("WhatsApp rejected the message (HTTP {status}): {}", describe(error.as_deref(), *status))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Meta's error, when it sent one.
        error: Option<Box<GraphError>>,
    },
    /// The API accepted the request but the answer had no message id. Not retryable: the
    /// message was probably sent.
    #[error("unexpected answer from the Graph API: {0}")]
    InvalidResponse(String),
}

fn describe(error: Option<&GraphError>, status: u16) -> String {
    match error {
        Some(e) => e.to_string(),
        None => format!("HTTP {status} without a Graph API error"),
    }
}

impl SendError {
    /// Whether the same send may succeed later without any change.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Network(_)
        )
    }

    /// How long Meta asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Meta's error code, when the Graph API sent one.
    pub fn code(&self) -> Option<i64> {
        self.graph_error().and_then(|e| e.code)
    }

    /// Meta's error object, when the Graph API sent one.
    pub fn graph_error(&self) -> Option<&GraphError> {
        match self {
            Self::OutsideServiceWindow(e) => Some(e),
            Self::RateLimited { error, .. }
            | Self::Unauthorized { error, .. }
            | Self::Unavailable { error, .. }
            | Self::Rejected { error, .. } => error.as_deref(),
            Self::Invalid(_) | Self::Network(_) | Self::InvalidResponse(_) => None,
        }
    }
}

/// The error for a non-2xx Graph API answer.
pub fn classify_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> SendError {
    let error = parse_graph_error(body).map(Box::new);
    let code = error.as_ref().and_then(|e| e.code);
    match (code, status) {
        (Some(131_047), _) => SendError::OutsideServiceWindow(error.unwrap_or_default()),
        (Some(4 | 80_007 | 130_429 | 131_048 | 131_056), _) | (_, 429) => {
            SendError::RateLimited { error, retry_after }
        }
        (Some(190), _) | (_, 401) => SendError::Unauthorized { status, error },
        (Some(1 | 2 | 131_000 | 131_016), _) | (_, 500..=599) => {
            SendError::Unavailable { status, error }
        }
        _ => SendError::Rejected { status, error },
    }
}

fn parse_graph_error(body: &[u8]) -> Option<GraphError> {
    #[derive(Deserialize)]
    struct Wrapper {
        error: Value,
    }
    let raw = serde_json::from_slice::<Wrapper>(body).ok()?.error;
    let mut error: GraphError = serde_json::from_value(raw.clone()).ok()?;
    error.details = raw
        .pointer("/error_data/details")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(error)
}

/// Sends messages from one WhatsApp business phone number through the Graph API
/// (`POST {base_url}/{api_version}/{phone_number_id}/messages` with a bearer token).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_version: String,
    phone_number_id: String,
    access_token: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

impl Client {
    /// A client for the business number `phone_number_id` (the *Phone number ID* in the app
    /// dashboard, not the phone number) with a system-user access token, talking to
    /// [`DEFAULT_BASE_URL`] at [`DEFAULT_API_VERSION`].
    pub fn new(
        http: reqwest::Client,
        phone_number_id: impl Into<String>,
        access_token: impl Into<String>,
    ) -> Self {
        Self {
            http,
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            phone_number_id: phone_number_id.into(),
            access_token: access_token.into(),
        }
    }

    /// Talks to another Graph API host (a proxy, or a test server).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Uses another Graph API version, such as `"v24.0"`.
    pub fn with_api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// The business number this client sends from.
    pub fn phone_number_id(&self) -> &str {
        &self.phone_number_id
    }

    /// The messages endpoint this client posts to.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/{}/{}/messages",
            self.base_url, self.api_version, self.phone_number_id
        )
    }

    /// Sends a text message (links are not previewed) and returns its id (`wamid.…`).
    pub async fn send_text(&self, to: &str, text: &str) -> Result<String, SendError> {
        check_recipient(to)?;
        check_text("text", text, MAX_TEXT)?;
        self.send(&json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": false, "body": text},
        }))
        .await
    }

    /// Sends an interactive message with up to three reply buttons, given as `(id, title)`;
    /// a tap comes back as [`Content::Button`] with the button's id. Titles are at most 20
    /// characters, ids 256 and unique.
    pub async fn send_buttons(
        &self,
        to: &str,
        body: &str,
        buttons: &[(&str, &str)],
    ) -> Result<String, SendError> {
        check_recipient(to)?;
        check_text("body", body, MAX_INTERACTIVE_BODY)?;
        check_buttons(buttons)?;
        let buttons: Vec<Value> = buttons
            .iter()
            .map(|(id, title)| json!({"type": "reply", "reply": {"id": id, "title": title}}))
            .collect();
        self.send(&json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": body},
                "action": {"buttons": buttons},
            },
        }))
        .await
    }

    /// Sends an approved template without parameters, e.g. `("hello_world", "en_US")`. The
    /// only kind of message allowed outside the 24-hour window.
    pub async fn send_template(
        &self,
        to: &str,
        name: &str,
        language_code: &str,
    ) -> Result<String, SendError> {
        check_recipient(to)?;
        check_text("template name", name, 512)?;
        check_text("language code", language_code, 16)?;
        self.send(&json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {"name": name, "language": {"code": language_code}},
        }))
        .await
    }

    /// Posts any message object to the messages endpoint (templates with parameters, media…)
    /// and returns the id of the message sent. `payload` must include
    /// `"messaging_product": "whatsapp"`, `to` and `type`.
    pub async fn send(&self, payload: &Value) -> Result<String, SendError> {
        let response = self
            .http
            .post(self.messages_url())
            .bearer_auth(&self.access_token)
            .json(payload)
            .send()
            .await
            .map_err(SendError::Network)?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            // The status is known; only the error details are lost.
            Err(_) if !status.is_success() => Default::default(),
            Err(e) => return Err(SendError::Network(e)),
        };
        if !status.is_success() {
            return Err(classify_error(status.as_u16(), &body, wait));
        }
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/messages/0/id")?.as_str().map(str::to_owned))
            .ok_or_else(|| {
                SendError::InvalidResponse(format!(
                    "HTTP {status} without messages[0].id: {}",
                    crate::truncate(&String::from_utf8_lossy(&body), 300)
                ))
            })
    }
}

fn check_recipient(to: &str) -> Result<(), SendError> {
    if to.trim().is_empty() {
        return Err(SendError::Invalid("the recipient (`to`) is empty".into()));
    }
    Ok(())
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), SendError> {
    if text.trim().is_empty() {
        return Err(SendError::Invalid(format!("the {what} is empty")));
    }
    let len = text.chars().count();
    if len > max {
        return Err(SendError::Invalid(format!(
            "the {what} has {len} characters, more than WhatsApp's {max}"
        )));
    }
    Ok(())
}

fn check_buttons(buttons: &[(&str, &str)]) -> Result<(), SendError> {
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        return Err(SendError::Invalid(format!(
            "reply buttons: {} given, WhatsApp takes 1 to {MAX_BUTTONS}",
            buttons.len()
        )));
    }
    for (i, (id, title)) in buttons.iter().enumerate() {
        check_text(&format!("id of button {}", i + 1), id, MAX_BUTTON_ID)?;
        check_text(
            &format!("title of button {}", i + 1),
            title,
            MAX_BUTTON_TITLE,
        )?;
        if buttons[..i].iter().any(|(other, _)| other == id) {
            return Err(SendError::Invalid(format!(
                "reply buttons: id {id:?} is used twice"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_window_is_24_hours() {
        let now = 1_750_000_000_000;
        assert!(within_service_window(now, now));
        assert!(within_service_window(now - SERVICE_WINDOW_MS + 1, now));
        assert!(!within_service_window(now - SERVICE_WINDOW_MS, now));
        assert!(!within_service_window(0, now));
        assert!(within_service_window(now + 5_000, now), "clock skew");
        assert!(!within_service_window(i64::MIN, i64::MAX));
    }

    #[test]
    fn button_limits() {
        assert!(check_buttons(&[("a", "Yes"), ("b", "No"), ("c", "Maybe")]).is_ok());
        assert!(check_buttons(&[]).is_err());
        assert!(check_buttons(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]).is_err());
        assert!(check_buttons(&[("a", "exactly twenty chars")]).is_ok());
        let e = check_buttons(&[("a", "twenty-one characters")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("title of button 1 has 21 characters"),
            "{e}"
        );
        assert!(
            check_buttons(&[("a", "ñññññññññññññññññññ")]).is_ok(),
            "chars, not bytes"
        );
        assert!(check_buttons(&[("a", "x"), ("a", "y")]).is_err());
        assert!(check_buttons(&[("", "x")]).is_err());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn classify_graph_errors() {
        let body = |code: i64| {
            format!(
                r#"{{"error":{{"message":"m","type":"OAuthException","code":{code},"fbtrace_id":"T"}}}}"#
            )
        };
        let e = classify_error(400, body(131_047).as_bytes(), None);
        assert!(matches!(e, SendError::OutsideServiceWindow(_)) && !e.retryable());
        for code in [130_429, 131_048, 80_007, 4, 131_056] {
            let e = classify_error(400, body(code).as_bytes(), None);
            assert!(
                matches!(e, SendError::RateLimited { .. }) && e.retryable(),
                "{code}"
            );
        }
        let e = classify_error(401, body(190).as_bytes(), None);
        assert!(matches!(e, SendError::Unauthorized { .. }) && !e.retryable());
        let e = classify_error(401, b"", None);
        assert!(matches!(e, SendError::Unauthorized { error: None, .. }));
        let e = classify_error(503, b"<html>", None);
        assert!(matches!(e, SendError::Unavailable { .. }) && e.retryable());
        let e = classify_error(429, b"", Some(Duration::from_secs(3)));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let e = classify_error(400, body(131_026).as_bytes(), None);
        assert!(matches!(e, SendError::Rejected { .. }) && !e.retryable());
        assert_eq!(e.code(), Some(131_026));
    }
}
