//! Microsoft Teams incoming webhooks (Workflows / Power Automate) with Adaptive Cards.
//!
//! In Teams, a channel owner adds the *Workflows* app's "Post to a channel when a webhook
//! request is received" template and gives Baton the HTTP POST URL it creates (a
//! `…logic.azure.com…` or `…powerplatform.com…` URL with a `sig=` signature: a secret). The old
//! Office 365 connector webhooks take the same payload.
//!
//! The payload is a message with one Adaptive Card (version 1.4, which Teams renders on every
//! client):
//!
//! ```json
//! {"type": "message", "attachments": [{
//!   "contentType": "application/vnd.microsoft.card.adaptive",
//!   "content": {"type": "AdaptiveCard", "version": "1.4", "body": [...], "actions": [...]}
//! }]}
//! ```
//!
//! [`render`] puts the headline in a bold `TextBlock`, customer, reason, queue and wait in a
//! `FactSet`, the summary in a wrapped `TextBlock` and "Open in console" as an
//! `Action.OpenUrl`. [`render_digest`] lists up to [`DIGEST_LINES`] notices as linked lines
//! under the counts. Fact values are plain text in Teams; text blocks accept a little Markdown,
//! so link labels built from customer names have their brackets replaced.
//!
//! Workflows answer `202 Accepted` (connectors `200`); [`post`] classifies failures like
//! [`crate::slack::post`]: 429 and 5xx are retryable, other 4xx are not.

use crate::notice::{
    DIGEST_LINES, Notice, counts_sentence, digest_more, digest_title, format_wait,
};
use crate::truncate;
use crate::webhook::{PostError, post_json};
use serde_json::{Value, json};

/// The Adaptive Card schema version used; Teams supports 1.4 on desktop, web and mobile.
pub const CARD_VERSION: &str = "1.4";
/// Characters of a summary kept in a card.
const SUMMARY_MAX: usize = 2_000;

/// The Teams message (an Adaptive Card) for one notice.
pub fn render(notice: &Notice) -> Value {
    let mut facts = vec![
        fact("Customer", &notice.customer),
        fact("Reason", &notice.reason),
    ];
    if let Some(queue) = &notice.queue {
        facts.push(fact("Queue", queue));
    }
    if let Some(wait) = notice.wait_secs {
        facts.push(fact("Waiting", &format_wait(wait)));
    }
    let mut body = vec![
        json!({"type": "TextBlock", "text": notice.headline(), "weight": "Bolder", "size": "Medium", "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(summary) = notice.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        body.push(json!({"type": "TextBlock", "text": "Summary", "weight": "Bolder", "spacing": "Medium"}));
        body.push(
            json!({"type": "TextBlock", "text": truncate(summary, SUMMARY_MAX), "wrap": true}),
        );
    }
    body.push(json!({
        "type": "TextBlock",
        "text": format!("Conversation {}", notice.conversation_id),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    card(
        body,
        vec![
            json!({"type": "Action.OpenUrl", "title": "Open in console", "url": notice.console_url}),
        ],
    )
}

/// One message for many notices: counts by kind, then the first [`DIGEST_LINES`] notices as
/// linked lines, then "and K more".
pub fn render_digest(notices: &[Notice]) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": digest_title(notices), "weight": "Bolder", "size": "Medium", "wrap": true}),
        json!({"type": "TextBlock", "text": counts_sentence(notices), "wrap": true}),
    ];
    for (i, n) in notices.iter().take(DIGEST_LINES).enumerate() {
        let mut line = format!(
            "[{}]({}) — {}: {}",
            link_label(&n.customer),
            n.console_url.replace(' ', "%20").replace(')', "%29"),
            n.kind.title(),
            truncate(&n.reason, 200)
        );
        for extra in n.extras() {
            line.push_str(" · ");
            line.push_str(&extra);
        }
        let mut block = json!({"type": "TextBlock", "text": line, "wrap": true});
        if i == 0 {
            block["separator"] = json!(true);
        }
        body.push(block);
    }
    if let Some(more) = digest_more(notices) {
        body.push(json!({"type": "TextBlock", "text": more, "isSubtle": true, "wrap": true}));
    }
    card(body, Vec::new())
}

/// Posts a rendered message to a Workflows (or connector) webhook URL.
pub async fn post(http: &reqwest::Client, url: &str, message: &Value) -> Result<(), PostError> {
    post_json(http, "Teams", url, message).await
}

fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    });
    if !actions.is_empty() {
        content["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": title, "value": truncate(value, 500)})
}

/// A customer name made safe inside Markdown link brackets.
fn link_label(text: &str) -> String {
    truncate(text, 80).replace('[', "(").replace(']', ")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_labels_keep_markdown_intact() {
        assert_eq!(link_label("Ann [VIP]"), "Ann (VIP)");
    }
}
