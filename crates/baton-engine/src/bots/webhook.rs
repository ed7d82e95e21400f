//! The webhook bot: Baton posts each customer message to the tenant's bot and stores its reply.
//!
//! Request: `POST {url}` with JSON
//! `{"type": "message", "conversation_id", "state", "channel", "message": {"id", "role", "text",
//! "created_at"}, "customer": {...}, "history": [the last 10 turns before the message]}` and the
//! [Standard Webhooks](https://www.standardwebhooks.com/) headers `webhook-id` (the message id),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{webhook-id}.{webhook-timestamp}.{body}">`. The key is the configured secret: for
//! `whsec_<base64>` the decoded bytes (as Standard Webhooks libraries expect), otherwise the
//! secret's UTF-8 bytes.
//!
//! Reply: 2xx with `{"text"?, "confidence"?, "intent"?, "fallback"?, "handoff"?: {"reason",
//! "queue"?, "note"?}}`. A 2xx without a body (e.g. 204) means "I'll answer later through the
//! API" (`POST /v1/conversations/{id}/messages` with role `bot`). Anything else (non-2xx,
//! timeout, unreadable or invalid JSON) counts as a failure, and the conversation is handed to a
//! person with the reason `bot_unavailable`.

use super::runner::TurnContext;
use super::{
    BotOutcome, BotReply, HandoffRequest, WebhookSettings, describe, read_limited, to_token,
};
use crate::wire::rfc3339;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use baton_core::Timestamp;
use baton_store::Message;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// Turns before the message sent as `history`.
const HISTORY: usize = 10;
/// Largest reply read, in bytes.
const MAX_REPLY_BYTES: usize = 256 * 1024;

/// The HMAC key of a configured secret (`whsec_<base64>` or raw).
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .map_err(|e| format!("a whsec_ secret must be base64 after the prefix: {e}"))
            .and_then(|k| {
                if k.is_empty() {
                    Err("the whsec_ secret is empty".into())
                } else {
                    Ok(k)
                }
            }),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// The `webhook-signature` header value: `v1,` and the base64 HMAC-SHA256 of
/// `"{id}.{timestamp}.{body}"`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn message_json(m: &Message) -> Value {
    json!({"id": m.id, "role": m.role, "text": m.text, "created_at": rfc3339(m.created_at)})
}

/// The JSON Baton posts for a turn.
pub fn request_body(ctx: &TurnContext) -> Value {
    let customer = ctx.customer.as_ref().map(|c| {
        json!({
            "id": c.id, "external_id": c.external_id, "name": c.name, "email": c.email, "phone": c.phone,
            "language": c.language, "tier": c.tier, "attributes": c.attributes,
        })
    });
    let history = ctx.history();
    let history: Vec<Value> = history[history.len().saturating_sub(HISTORY)..]
        .iter()
        .map(message_json)
        .collect();
    json!({
        "type": "message",
        "conversation_id": ctx.conversation.id,
        "state": ctx.conversation.state,
        "channel": ctx.conversation.channel,
        "message": message_json(&ctx.message),
        "customer": customer,
        "history": history,
    })
}

#[derive(Debug, Deserialize)]
struct WireReply {
    text: Option<String>,
    confidence: Option<f64>,
    intent: Option<String>,
    #[serde(default)]
    fallback: bool,
    handoff: Option<WireHandoff>,
}

#[derive(Debug, Deserialize)]
struct WireHandoff {
    reason: Option<String>,
    queue: Option<String>,
    note: Option<String>,
}

/// Reads a bot's reply body (2xx). Errors describe what is wrong.
pub fn parse_reply(body: &[u8]) -> Result<BotOutcome, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BotOutcome::Silent);
    }
    let wire: WireReply =
        serde_json::from_slice(body).map_err(|e| format!("invalid reply JSON: {e}"))?;
    if wire.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
        return Err("confidence must be between 0 and 1".into());
    }
    if wire
        .intent
        .as_deref()
        .is_some_and(|i| i.chars().count() > 100)
    {
        return Err("intent must be at most 100 characters".into());
    }
    let handoff = wire.handoff.map(|h| {
        let reason = to_token(h.reason.as_deref().unwrap_or(""), 100);
        HandoffRequest {
            reason: if reason.is_empty() {
                "bot_request".into()
            } else {
                reason
            },
            queue: h.queue,
            note: h.note,
        }
    });
    let text = wire.text.filter(|t| !t.trim().is_empty());
    if text.is_none() && handoff.is_none() {
        return Ok(BotOutcome::Silent);
    }
    Ok(BotOutcome::Reply(BotReply {
        text,
        confidence: wire.confidence,
        intent: wire.intent.filter(|i| !i.trim().is_empty()),
        fallback: wire.fallback,
        handoff,
    }))
}

/// Posts the turn to the bot and reads its reply.
pub async fn call(
    http: &reqwest::Client,
    settings: &WebhookSettings,
    ctx: &TurnContext,
    now: Timestamp,
) -> BotOutcome {
    let key = match signing_key(&settings.secret) {
        Ok(k) => k,
        Err(e) => return BotOutcome::Failed(e),
    };
    let body = request_body(ctx).to_string();
    let id = ctx.message.id.to_string();
    let timestamp = now.millis().div_euclid(1000);
    let signature = sign(&key, &id, timestamp, body.as_bytes());
    let sent = http
        .post(&settings.url)
        .timeout(Duration::from_millis(settings.timeout_ms))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return BotOutcome::Failed(format!("webhook bot: {}", describe(&e))),
    };
    let status = resp.status();
    if !status.is_success() {
        return BotOutcome::Failed(format!("webhook bot answered HTTP {}", status.as_u16()));
    }
    match read_limited(resp, MAX_REPLY_BYTES)
        .await
        .and_then(|b| parse_reply(&b))
    {
        Ok(outcome) => outcome,
        Err(e) => BotOutcome::Failed(format!("webhook bot: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_signature() {
        // The example of the Standard Webhooks specification.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(signing_key("plain").unwrap(), b"plain");
        assert!(signing_key("whsec_!!!").is_err());
    }

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"").unwrap(), BotOutcome::Silent);
        assert_eq!(parse_reply(b"{}").unwrap(), BotOutcome::Silent);
        assert!(parse_reply(b"<html>").is_err());
        assert!(parse_reply(br#"{"text": "hi", "confidence": 7}"#).is_err());
        let BotOutcome::Reply(r) =
            parse_reply(br#"{"handoff": {"reason": "Wants a Refund"}}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.handoff.unwrap().reason, "wants_a_refund");
    }
}
