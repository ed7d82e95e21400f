//! Email over SMTP: configuration, a [`Mailer`], and the messages Baton sends.
//!
//! # Configuration
//!
//! [`SmtpConfig`] deserialises from the server's configuration, e.g. in TOML:
//!
//! ```toml
//! [email.smtp]
//! host = "smtp.example.com"
//! port = 587                  # optional: 25 for "none", 587 for "starttls", 465 for "tls"
//! security = "starttls"       # "none" | "starttls" (default) | "tls"
//! username = "baton@example.com"
//! password = "…"
//! from = "Acme Support <support@example.com>"
//! ```
//!
//! `starttls` connects in plain text and upgrades before anything else is said (refusing to
//! go on if the server cannot); `tls` is TLS from the first byte (SMTPS). Certificates are
//! checked with the platform's verifier through rustls. `none` sends everything in clear, so
//! it is only accepted with credentials when the host is the local machine.
//! [`SmtpConfig::validate`] (also run by [`Mailer::new`]) says what is wrong in words.
//!
//! # Sending
//!
//! ```no_run
//! # async fn demo(config: baton_channels::email::SmtpConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use baton_channels::email::{Mailer, agent_reply};
//!
//! let mailer = Mailer::new(config)?;
//! let mut email = agent_reply("john@example.net", "John", "Sara", "Your order left today.", "ABC123");
//! email.in_reply_to = Some("<customer-message-id@example.net>".into());
//! mailer.send(&email).await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`SendError::retryable`] is true for connection, TLS and timeout failures and SMTP 4xx
//! replies (greylisting, mailbox busy), false for SMTP 5xx replies (no such user, rejected as
//! spam) and for messages that cannot be built (a bad address).
//!
//! # Threading
//!
//! Replies to a customer carry the case reference in the subject (`[Case #ABC123] …`), which
//! survives mail clients that drop `In-Reply-To`; [`parse_case_reference`] finds it in the
//! subject of the customer's answer. Set [`Email::message_id`], [`Email::in_reply_to`] and
//! [`Email::references`] (with or without the angle brackets) to thread properly; without a
//! `message_id` one is generated.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Time allowed for each SMTP command, connection included.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// No encryption (port 25). Only for a relay on the same machine or a test server.
    None,
    /// Plain connection upgraded with STARTTLS before anything else (port 587).
    #[default]
    #[serde(alias = "start_tls")]
    StartTls,
    /// TLS from the start, "SMTPS" (port 465).
    Tls,
}

impl Security {
    /// The usual port for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

/// How to reach an SMTP server and who the mail is from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server's host name (checked against its TLS certificate).
    pub host: String,
    /// The port; [`Security::default_port`] when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is protected; STARTTLS when absent.
    #[serde(default)]
    pub security: Security,
    /// The login, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// The password for `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// The sender: `support@example.com` or `Acme Support <support@example.com>`.
    pub from: String,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

/// What is wrong with an [`SmtpConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `host` is empty.
    #[error("smtp.host is empty: set it to your mail server, e.g. \"smtp.example.com\"")]
    EmptyHost,
    /// `port` is 0.
    #[error("smtp.port 0 is not a port: leave it out to use {0} for this security mode")]
    ZeroPort(u16),
    /// `from` is not an address.
    #[error(
        "smtp.from {from:?} is not an email address ({reason}): use \"support@example.com\" or \"Name <support@example.com>\""
    )]
    InvalidFrom {
        /// The configured value.
        from: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Only one of `username` and `password` is set.
    #[error("smtp.username and smtp.password go together: set both or neither")]
    HalfCredentials,
    /// Credentials would cross the network in clear.
    #[error(
        "smtp.security = \"none\" would send the password in clear to {0}: use \"starttls\" or \"tls\""
    )]
    PlaintextCredentials(String),
    /// The TLS settings could not be built for this host.
    #[error("cannot set up TLS for smtp.host {host:?}: {reason}")]
    Tls {
        /// The configured host.
        host: String,
        /// What failed.
        reason: String,
    },
}

impl SmtpConfig {
    /// The port used: the configured one or the security mode's default.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// Checks the configuration without connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sender_mailbox()?;
        let host = self.host.trim();
        if host.is_empty() {
            return Err(ConfigError::EmptyHost);
        }
        if self.port == Some(0) {
            return Err(ConfigError::ZeroPort(self.security.default_port()));
        }
        let has_user = self.username.as_deref().is_some_and(|u| !u.is_empty());
        let has_password = self.password.as_deref().is_some_and(|p| !p.is_empty());
        if has_user != has_password {
            return Err(ConfigError::HalfCredentials);
        }
        if has_user && self.security == Security::None && !is_local(host) {
            return Err(ConfigError::PlaintextCredentials(host.to_owned()));
        }
        Ok(())
    }

    fn sender_mailbox(&self) -> Result<Mailbox, ConfigError> {
        self.from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| ConfigError::InvalidFrom {
                from: self.from.clone(),
                reason: e.to_string(),
            })
    }
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One email to send. Addresses are `user@example.com` or `Name <user@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Email {
    /// The recipient.
    pub to: String,
    /// The subject, on one line.
    pub subject: String,
    /// The plain-text body, always sent.
    pub text: String,
    /// An HTML alternative to `text`.
    #[serde(default)]
    pub html: Option<String>,
    /// Where replies should go, when not to the sender.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// This message's id, `<unique@domain>`; generated when absent.
    #[serde(default)]
    pub message_id: Option<String>,
    /// The id of the message this one answers.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// The ids of the thread so far, space-separated.
    #[serde(default)]
    pub references: Option<String>,
}

/// Why an email was not sent, and whether trying again later can help
/// ([`SendError::retryable`]).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message cannot be built (bad address, empty recipient). Not retryable.
    #[error("invalid email: {0}")]
    Invalid(String),
    /// The server answered 4xx: try later (greylisting, busy, rate limit). Retryable.
    #[error("the SMTP server refused for now ({code}): {message}")]
    Transient {
        /// The SMTP reply code, e.g. "451".
        code: String,
        /// lettre's description, with the server's text.
        message: String,
    },
    /// The server answered 5xx: it will not take this message. Not retryable.
    #[error("the SMTP server refused the message ({code}): {message}")]
    Permanent {
        /// The SMTP reply code, e.g. "550".
        code: String,
        /// lettre's description, with the server's text.
        message: String,
    },
    /// Could not connect, negotiate TLS, or finish in time; or the server answered
    /// something unreadable. Retryable.
    #[error("SMTP connection failed: {0}")]
    Connection(String),
}

impl SendError {
    /// Whether the same email may be accepted later without any change.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Connection(_))
    }

    /// SMTP gives no retry time; always `None`, for symmetry with the other channels.
    pub fn retry_after(&self) -> Option<Duration> {
        None
    }

    fn from_smtp(e: lettre::transport::smtp::Error) -> Self {
        let message = error_chain(&e);
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        if e.is_transient() {
            Self::Transient { code, message }
        } else if e.is_permanent() {
            Self::Permanent { code, message }
        } else if e.is_client() {
            Self::Invalid(message)
        } else {
            Self::Connection(message)
        }
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Sends [`Email`]s through one SMTP server, one connection per email (notification volumes
/// are small, and a fresh connection never meets a server-side idle timeout).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    security: Security,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// Validates `config` and prepares the transport; nothing connects until [`Mailer::send`],
    /// which needs a Tokio runtime.
    pub fn new(config: SmtpConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let from = config.sender_mailbox()?;
        let host = config.host.trim().to_owned();
        let port = config.effective_port();
        let tls_error = |e: lettre::transport::smtp::Error| ConfigError::Tls {
            host: host.clone(),
            reason: error_chain(&e),
        };
        let builder = match config.security {
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host).map_err(tls_error)?
            }
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&host).map_err(tls_error)?
            }
        };
        let mut builder = builder.port(port).timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (config.username, config.password)
            && !user.is_empty()
        {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            host,
            port,
            security: config.security,
        })
    }

    /// The sender every email gets.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Builds and sends one email.
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let message = self.build(email)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(SendError::from_smtp)
    }

    /// The message as it would be sent, for inspection.
    pub fn build(&self, email: &Email) -> Result<Message, SendError> {
        let to = parse_mailbox("to", &email.to)?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&email.subject))
            .message_id(email.message_id.as_deref().map(angle_id));
        if let Some(reply_to) = &email.reply_to {
            builder = builder.reply_to(parse_mailbox("reply_to", reply_to)?);
        }
        if let Some(id) = &email.in_reply_to {
            builder = builder.in_reply_to(angle_id(id));
        }
        if let Some(ids) = &email.references {
            let ids: Vec<String> = ids.split_whitespace().map(angle_id).collect();
            builder = builder.references(ids.join(" "));
        }
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(email.text.clone()),
            ),
        };
        built.map_err(|e| SendError::Invalid(e.to_string()))
    }
}

fn parse_mailbox(field: &str, value: &str) -> Result<Mailbox, SendError> {
    value
        .trim()
        .parse()
        .map_err(|e| SendError::Invalid(format!("{field} {value:?} is not an email address: {e}")))
}

/// `<id>` from `id` or `<id>`, without line breaks.
fn angle_id(id: &str) -> String {
    let id = one_line(id);
    let id = id.trim();
    if id.starts_with('<') && id.ends_with('>') {
        id.to_owned()
    } else {
        format!("<{}>", id.trim_matches(|c| c == '<' || c == '>'))
    }
}

/// Line breaks and tabs become spaces, so header values stay on one line.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n', '\t'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Rendered emails
// ---------------------------------------------------------------------------------------------

/// `"[Case #ABC123]"` for a reference given as "ABC123" or "#ABC123".
pub fn case_tag(case_reference: &str) -> String {
    format!(
        "[Case #{}]",
        one_line(case_reference.trim().trim_start_matches('#'))
    )
}

/// The case reference in a subject such as `"Re: [Case #ABC123] Reply from Sara"`, if any.
pub fn parse_case_reference(subject: &str) -> Option<String> {
    let lower = subject.to_ascii_lowercase();
    let start = lower.find("[case #")? + "[case #".len();
    let len = subject[start..].find(']')?;
    let reference = subject[start..start + len].trim();
    (!reference.is_empty()).then(|| reference.to_owned())
}

/// Tells an agent a conversation was handed to them (or their queue), with a link to it.
pub fn handoff_notification(
    to: &str,
    agent_name: &str,
    customer: &str,
    reason: &str,
    summary: Option<&str>,
    console_url: &str,
) -> Email {
    let summary = summary.map(str::trim).filter(|s| !s.is_empty());
    let mut text = format!("Hi {agent_name},\n\n{customer} needs a person. Reason: {reason}.\n\n");
    if let Some(summary) = summary {
        text.push_str(&format!("Summary:\n{summary}\n\n"));
    }
    text.push_str(&format!(
        "Open the conversation: {console_url}\n\n— Baton\n"
    ));

    let mut html = format!(
        "<p>Hi {},</p>\n<p><strong>{}</strong> needs a person. Reason: {}.</p>\n",
        escape_html(agent_name),
        escape_html(customer),
        escape_html(reason)
    );
    if let Some(summary) = summary {
        html.push_str(&format!(
            "<p><strong>Summary</strong><br>\n{}</p>\n",
            html_text(summary)
        ));
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">Open the conversation</a></p>\n<p>— Baton</p>\n",
        escape_html(console_url)
    ));
    Email {
        to: to.to_owned(),
        subject: one_line(&format!("New handoff: {customer}")),
        text,
        html: Some(page(&html)),
        ..Email::default()
    }
}

/// An agent's reply to a customer, with the case reference in the subject so the customer's
/// answer finds its conversation.
pub fn agent_reply(
    to: &str,
    customer_name: &str,
    agent_name: &str,
    text: &str,
    case_reference: &str,
) -> Email {
    let tag = case_tag(case_reference);
    let footer = format!("Reply to this email to continue. Please keep {tag} in the subject.");
    Email {
        to: to.to_owned(),
        subject: one_line(&format!("{tag} Reply from {agent_name}")),
        text: format!("Hi {customer_name},\n\n{text}\n\n{agent_name}\n\n--\n{footer}\n"),
        html: Some(page(&format!(
            "<p>Hi {},</p>\n<p>{}</p>\n<p>{}</p>\n<hr>\n<p style=\"color:#666;font-size:small\">{}</p>\n",
            escape_html(customer_name),
            html_text(text),
            escape_html(agent_name),
            escape_html(&footer)
        ))),
        ..Email::default()
    }
}

/// The transcript of a conversation for the customer. `lines` are `(role label, time as RFC
/// 3339, text)`, e.g. `("Sara (agent)", "2025-06-01T10:15:00Z", "Hello!")`.
pub fn transcript(
    to: &str,
    customer_name: &str,
    case_reference: &str,
    lines: &[(&str, &str, &str)],
) -> Email {
    let tag = case_tag(case_reference);
    let mut text =
        format!("Hi {customer_name},\n\nHere is the transcript of your conversation {tag}.\n\n");
    let mut rows = String::new();
    for (role, time, body) in lines {
        text.push_str(&format!("[{time}] {role}:\n{body}\n\n"));
        rows.push_str(&format!(
            "<tr><td style=\"vertical-align:top;white-space:nowrap;padding:4px 8px\"><strong>{}</strong><br><small>{}</small></td><td style=\"padding:4px 8px\">{}</td></tr>\n",
            escape_html(role),
            escape_html(time),
            html_text(body)
        ));
    }
    if lines.is_empty() {
        text.push_str("(no messages)\n\n");
    }
    text.push_str("— Baton\n");
    Email {
        to: to.to_owned(),
        subject: one_line(&format!("{tag} Transcript of your conversation")),
        text,
        html: Some(page(&format!(
            "<p>Hi {},</p>\n<p>Here is the transcript of your conversation {}.</p>\n<table style=\"border-collapse:collapse\">\n{rows}</table>\n<p>— Baton</p>\n",
            escape_html(customer_name),
            escape_html(&tag)
        ))),
        ..Email::default()
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with its line breaks kept.
fn html_text(text: &str) -> String {
    escape_html(text)
        .replace("\r\n", "\n")
        .replace('\n', "<br>\n")
}

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family:sans-serif;line-height:1.4\">\n{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: None,
            security: Security::StartTls,
            username: Some("u".into()),
            password: Some("p".into()),
            from: "Acme <support@example.com>".into(),
        }
    }

    #[test]
    fn config_validation_speaks_plainly() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(config().effective_port(), 587);
        let c = SmtpConfig {
            host: " ".into(),
            ..config()
        };
        assert_eq!(c.validate(), Err(ConfigError::EmptyHost));
        let c = SmtpConfig {
            from: "not an address".into(),
            ..config()
        };
        assert!(matches!(c.validate(), Err(ConfigError::InvalidFrom { .. })));
        let c = SmtpConfig {
            password: None,
            ..config()
        };
        assert_eq!(c.validate(), Err(ConfigError::HalfCredentials));
        let c = SmtpConfig {
            security: Security::None,
            ..config()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::PlaintextCredentials("smtp.example.com".into()))
        );
        let c = SmtpConfig {
            security: Security::None,
            host: "127.0.0.1".into(),
            ..config()
        };
        assert_eq!(c.validate(), Ok(()));
        let c = SmtpConfig {
            port: Some(0),
            ..config()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroPort(587)));
    }

    #[test]
    fn config_deserialises_with_defaults() {
        let c: SmtpConfig =
            serde_json::from_str(r#"{"host":"mail","from":"a@b.c","security":"tls"}"#).unwrap();
        assert_eq!(c.security, Security::Tls);
        assert_eq!(c.effective_port(), 465);
        let c: SmtpConfig = serde_json::from_str(r#"{"host":"mail","from":"a@b.c"}"#).unwrap();
        assert_eq!(c.security, Security::StartTls);
        let e = serde_json::from_str::<SmtpConfig>(r#"{"host":"m","from":"a@b.c","secure":1}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `secure`"), "{e}");
        let e =
            serde_json::from_str::<SmtpConfig>(r#"{"host":"m","from":"a@b.c","security":"ssl"}"#)
                .unwrap_err();
        assert!(e.to_string().contains("unknown variant `ssl`"), "{e}");
    }

    #[test]
    fn debug_hides_the_password() {
        let text = format!("{:?}", config());
        assert!(
            text.contains("<redacted>") && !text.contains("\"p\""),
            "{text}"
        );
    }

    #[test]
    fn case_references_round_trip() {
        assert_eq!(case_tag("#ABC123"), "[Case #ABC123]");
        assert_eq!(
            parse_case_reference("Re: [Case #ABC123] Reply from Sara").as_deref(),
            Some("ABC123")
        );
        assert_eq!(
            parse_case_reference("RE: [case #x9] hi").as_deref(),
            Some("x9")
        );
        assert_eq!(parse_case_reference("Re: hello"), None);
        assert_eq!(parse_case_reference("[Case #]"), None);
    }

    #[test]
    fn ids_get_angle_brackets() {
        assert_eq!(angle_id("abc@x"), "<abc@x>");
        assert_eq!(angle_id("<abc@x>"), "<abc@x>");
        assert_eq!(angle_id("abc@x\r\nBcc: evil"), "<abc@x Bcc: evil>");
    }

    #[test]
    fn rendered_emails_escape_html() {
        let e = handoff_notification(
            "sara@acme.test",
            "Sara",
            "<script>",
            "asked for a human",
            Some("line 1\nline 2 & more"),
            "https://baton.test/c/1?a=1&b=2",
        );
        assert_eq!(e.subject, "New handoff: <script>");
        assert!(e.text.contains("<script> needs a person"));
        let html = e.html.unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("line 1<br>\nline 2 &amp; more"));
        assert!(html.contains("href=\"https://baton.test/c/1?a=1&amp;b=2\""));

        let e = agent_reply("j@x.test", "John", "Sara", "Hi\nthere", "ABC123");
        assert_eq!(e.subject, "[Case #ABC123] Reply from Sara");
        assert!(e.text.starts_with("Hi John,\n\nHi\nthere\n\nSara\n"));

        let e = transcript(
            "j@x.test",
            "John",
            "ABC123",
            &[
                ("John", "2025-06-01T10:00:00Z", "Where is it?"),
                ("Sara (agent)", "2025-06-01T10:01:00Z", "<b>Here</b>"),
            ],
        );
        assert_eq!(e.subject, "[Case #ABC123] Transcript of your conversation");
        assert!(
            e.text
                .contains("[2025-06-01T10:01:00Z] Sara (agent):\n<b>Here</b>")
        );
        assert!(e.html.unwrap().contains("&lt;b&gt;Here&lt;/b&gt;"));
    }
}
