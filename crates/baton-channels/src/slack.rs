//! Slack incoming webhooks with Block Kit messages.
//!
//! A Slack admin creates an incoming webhook for a channel (Slack app → *Incoming Webhooks* →
//! *Add New Webhook*) and gives Baton its URL, `https://hooks.slack.com/services/T…/B…/…`.
//! The URL is a secret: anyone holding it can post to the channel.
//!
//! ```no_run
//! # async fn demo(url: &str) -> Result<(), baton_channels::webhook::PostError> {
//! use baton_channels::notice::{Notice, NoticeKind};
//! use baton_channels::slack;
//!
//! let notice = Notice {
//!     kind: NoticeKind::Handoff,
//!     conversation_id: "01J9Z3".into(),
//!     customer: "John Doe".into(),
//!     reason: "asked for a human".into(),
//!     summary: Some("Order #1234 is late; the bot could not find it.".into()),
//!     queue: Some("Billing".into()),
//!     wait_secs: Some(95),
//!     console_url: "https://baton.example.com/console/conversations/01J9Z3".into(),
//! };
//! let http = baton_channels::http_client();
//! slack::post(&http, url, &slack::render(&notice)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`render`] builds one message per notice: a header, fields for customer, reason, queue and
//! wait, the summary, an "Open in console" button and the conversation id. [`render_digest`]
//! folds many notices into one message. Both set the top-level `text`, which Slack shows in
//! notifications and on clients that cannot draw blocks.
//!
//! Text from customers is escaped (`&`, `<`, `>`) so it cannot form links or mentions.
//!
//! Slack answers `200 ok`. [`post`] treats 429 (with `Retry-After`) and 5xx as retryable and
//! any other failure — `400 invalid_payload`, `403 action_prohibited`, `404 no_service`,
//! `410 channel_is_archived` — as permanent; see [`PostError`].

use crate::notice::{DIGEST_LINES, Notice, counts_sentence, digest_more, digest_title};
use crate::truncate;
use crate::webhook::{PostError, post_json};
use serde_json::{Value, json};

/// Slack's limit on a header block's text.
const HEADER_MAX: usize = 150;
/// Slack's limit on a section field's text, with room for the label.
const FIELD_MAX: usize = 1_900;
/// Slack's limit on a section's text, with room for the label.
const SECTION_MAX: usize = 2_900;

/// The Block Kit message for one notice.
pub fn render(notice: &Notice) -> Value {
    let mut fields = vec![
        field("Customer", &notice.customer),
        field("Reason", &notice.reason),
    ];
    if let Some(queue) = &notice.queue {
        fields.push(field("Queue", queue));
    }
    if let Some(wait) = notice.wait_secs {
        fields.push(field("Waiting", &crate::notice::format_wait(wait)));
    }
    let mut blocks = vec![
        header(&notice.headline()),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(summary) = notice.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*Summary*\n{}", escape(&truncate(summary, SECTION_MAX)))},
        }));
    }
    blocks.push(json!({
        "type": "actions",
        "elements": [{
            "type": "button",
            "action_id": "open_console",
            "style": "primary",
            "text": {"type": "plain_text", "text": "Open in console"},
            "url": notice.console_url,
        }],
    }));
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("Conversation `{}` · {}", escape(&notice.conversation_id), link(&notice.console_url, "open in console")),
        }],
    }));
    json!({"text": escape(&notice.one_line()), "blocks": blocks})
}

/// One message for many notices: counts by kind, then the first [`DIGEST_LINES`] notices as
/// linked lines, then "and K more".
pub fn render_digest(notices: &[Notice]) -> Value {
    let title = digest_title(notices);
    let counts = counts_sentence(notices);
    let mut lines: Vec<String> = notices
        .iter()
        .take(DIGEST_LINES)
        .map(|n| {
            let mut line = format!(
                "• {} — {}: {}",
                link(&n.console_url, &n.customer),
                n.kind.title(),
                escape(&truncate(&n.reason, 200))
            );
            for extra in n.extras() {
                line.push_str(" · ");
                line.push_str(&escape(&extra));
            }
            line
        })
        .collect();
    if let Some(more) = digest_more(notices) {
        lines.push(format!("_{more}_"));
    }
    let mut blocks = vec![
        header(&title),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": escape(&counts)}}),
    ];
    if !lines.is_empty() {
        blocks.push(json!({"type": "divider"}));
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&lines.join("\n"), SECTION_MAX)},
        }));
    }
    json!({"text": escape(&format!("{title}: {counts}")), "blocks": blocks})
}

/// Posts a rendered message to an incoming-webhook URL.
pub async fn post(http: &reqwest::Client, url: &str, message: &Value) -> Result<(), PostError> {
    post_json(http, "Slack", url, message).await
}

/// Escapes the three characters Slack's mrkdwn reserves for links and mentions.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<url|label>` with both parts made safe for Slack's link syntax.
fn link(url: &str, label: &str) -> String {
    let url = url
        .replace('|', "%7C")
        .replace('>', "%3E")
        .replace(' ', "%20");
    let label = escape(&truncate(label, 80)).replace('|', "¦");
    format!("<{url}|{label}>")
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX), "emoji": true}})
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape(&truncate(value, FIELD_MAX)))})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_links_and_mentions() {
        assert_eq!(
            escape("<!channel> & <https://evil|click>"),
            "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
        );
    }

    #[test]
    fn link_labels_cannot_break_out() {
        assert_eq!(
            link("https://x/a b|c", "Ann | <Bob>"),
            "<https://x/a%20b%7Cc|Ann ¦ &lt;Bob&gt;>"
        );
    }
}
