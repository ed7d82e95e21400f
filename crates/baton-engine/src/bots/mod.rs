//! The bots Baton runs itself on each customer message: the built-in knowledge-base bot
//! ([`kb`]), a tenant's webhook bot ([`webhook`]) and any OpenAI-compatible chat-completions
//! model ([`llm`]). [`runner`] gathers the context, calls the configured bot and stores what it
//! answered (through the escalation detector, like any bot turn), asks for a person when the bot
//! does, and hands the conversation over when the bot fails.
//!
//! A tenant's bot is a settings document under the key [`SETTING`] (`GET`/`PUT /v1/bot`):
//!
//! ```json
//! {"type": "none" | "kb" | "webhook" | "llm",
//!  "kb": {"threshold": 0.35, "max_articles": 3},
//!  "webhook": {"url": "https://bot.example/baton", "secret": "whsec_...", "timeout_ms": 5000},
//!  "llm": {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key": "sk-...",
//!          "timeout_ms": 15000, "system_prompt": "...", "temperature": 0.2}}
//! ```
//!
//! Unset means `none`: Baton runs no bot and integrations post bot turns through the API.

pub mod kb;
pub mod llm;
pub mod runner;
pub mod webhook;

use baton_core::TenantId;
use baton_store::{Store, StoreResult};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use utoipa::ToSchema;

/// Setting key of the tenant's bot configuration.
pub const SETTING: &str = "bot";

/// What secrets look like on the way out (and, on the way in, "keep the stored one").
pub const REDACTED: &str = "***";

/// Shortest and longest accepted bot timeout, in milliseconds.
pub const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=30_000;

/// Which bot answers the tenant's customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotKind {
    /// No bot run by Baton (integrations may still post bot turns).
    #[default]
    None,
    /// The built-in knowledge-base bot.
    Kb,
    /// The tenant's own bot behind a signed webhook.
    Webhook,
    /// An OpenAI-compatible chat-completions model.
    Llm,
}

/// The tenant's bot configuration, validated whole on the way in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Which bot runs.
    #[serde(rename = "type")]
    pub kind: BotKind,
    /// Settings of the knowledge-base bot (also the retrieval settings of the LLM bot).
    #[serde(default)]
    pub kb: KbSettings,
    /// The webhook bot; required when `type` is `webhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    /// The LLM bot; required when `type` is `llm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSettings>,
}

/// Knowledge-base bot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KbSettings {
    /// Confidence in [0, 1] from which the bot answers with the top article; below it the bot
    /// says it is unsure and asks a clarifying question.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub threshold: f64,
    /// How many articles to retrieve (1-10): the answer names the others as "see also", the
    /// LLM bot gets them all as context.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(deserialize_with = "crate::wire::integral::exact")]
    pub max_articles: usize,
}

impl Default for KbSettings {
    fn default() -> Self {
        KbSettings {
            threshold: 0.35,
            max_articles: 3,
        }
    }
}

/// Webhook bot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where Baton posts each customer message (http or https).
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = r"^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    pub url: String,
    /// Signing secret: `whsec_<base64>` (Standard Webhooks; the decoded bytes are the key) or
    /// any other string (its UTF-8 bytes are the key).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^(whsec_([A-Za-z0-9+/]{4})+|[^w][\s\S]*|w[^h][\s\S]*|wh[^s][\s\S]*|whs[^e][\s\S]*|whse[^c][\s\S]*|whsec[^_][\s\S]*|w|wh|whs|whse|whsec)$"
    )]
    pub secret: String,
    /// How long to wait for the reply (100-30000 ms).
    #[serde(
        default = "default_webhook_timeout",
        deserialize_with = "crate::wire::integral::exact"
    )]
    #[schema(minimum = 100, maximum = 30000)]
    pub timeout_ms: u64,
}

fn default_webhook_timeout() -> u64 {
    5_000
}

/// LLM bot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    /// The API root, e.g. `https://api.openai.com/v1`; Baton posts to `{base_url}/chat/completions`.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = r"^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    pub base_url: String,
    /// The model name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub model: String,
    /// Sent as `Authorization: Bearer <api_key>`; optional for local servers that need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub api_key: Option<String>,
    /// How long to wait for the completion (100-30000 ms).
    #[serde(
        default = "default_llm_timeout",
        deserialize_with = "crate::wire::integral::exact"
    )]
    #[schema(minimum = 100, maximum = 30000)]
    pub timeout_ms: u64,
    /// Replaces Baton's default instructions (the knowledge-base context is always added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20000)]
    pub system_prompt: Option<String>,
    /// Sampling temperature (0-2); the endpoint's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f64>,
}

fn default_llm_timeout() -> u64 {
    15_000
}

/// A configuration problem: the field (dotted path) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `webhook.url`.
    pub field: String,
    /// What to fix.
    pub message: String,
}

fn bad(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        message: message.into(),
    }
}

fn check_url(field: &str, raw: &str) -> Result<(), ConfigError> {
    if raw.trim().is_empty() {
        return Err(bad(field, "is required"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| bad(field, format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(field, "must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(field, "must name a host"));
    }
    Ok(())
}

fn check_timeout(field: &str, ms: u64) -> Result<(), ConfigError> {
    if TIMEOUT_RANGE_MS.contains(&ms) {
        Ok(())
    } else {
        Err(bad(field, "must be between 100 and 30000 milliseconds"))
    }
}

impl BotConfig {
    /// Parses a stored or submitted document.
    pub fn parse(value: &serde_json::Value) -> Result<BotConfig, ConfigError> {
        let config: BotConfig =
            serde_json::from_value(value.clone()).map_err(|e| bad("bot", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field; the first problem is returned with its path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let kb = &self.kb;
        if !(0.0..=1.0).contains(&kb.threshold) {
            return Err(bad("kb.threshold", "must be between 0 and 1"));
        }
        if !(1..=10).contains(&kb.max_articles) {
            return Err(bad("kb.max_articles", "must be between 1 and 10"));
        }
        match (&self.webhook, self.kind) {
            (Some(w), _) => {
                check_url("webhook.url", &w.url)?;
                if w.secret.is_empty() {
                    return Err(bad("webhook.secret", "is required"));
                }
                webhook::signing_key(&w.secret).map_err(|m| bad("webhook.secret", m))?;
                check_timeout("webhook.timeout_ms", w.timeout_ms)?;
            }
            (None, BotKind::Webhook) => {
                return Err(bad("webhook", "is required when type is webhook"));
            }
            (None, _) => {}
        }
        match (&self.llm, self.kind) {
            (Some(l), _) => {
                check_url("llm.base_url", &l.base_url)?;
                if l.model.trim().is_empty() {
                    return Err(bad("llm.model", "is required"));
                }
                if l.model.len() > 200 {
                    return Err(bad("llm.model", "must be at most 200 characters"));
                }
                if l.api_key
                    .as_deref()
                    .is_some_and(|k| k.trim().is_empty() || k.len() > 1000)
                {
                    return Err(bad("llm.api_key", "must be 1-1000 characters when given"));
                }
                check_timeout("llm.timeout_ms", l.timeout_ms)?;
                if l.system_prompt
                    .as_deref()
                    .is_some_and(|p| p.chars().count() > 20_000)
                {
                    return Err(bad("llm.system_prompt", "must be at most 20000 characters"));
                }
                if l.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                    return Err(bad("llm.temperature", "must be between 0 and 2"));
                }
            }
            (None, BotKind::Llm) => return Err(bad("llm", "is required when type is llm")),
            (None, _) => {}
        }
        Ok(())
    }

    /// The same configuration with secrets replaced by [`REDACTED`], for reading back.
    pub fn redacted(&self) -> BotConfig {
        let mut out = self.clone();
        if let Some(w) = &mut out.webhook
            && !w.secret.is_empty()
        {
            w.secret = REDACTED.into();
        }
        if let Some(l) = &mut out.llm
            && l.api_key.is_some()
        {
            l.api_key = Some(REDACTED.into());
        }
        out
    }

    /// Replaces [`REDACTED`] placeholders with the secrets of `stored`, so a configuration read
    /// back and edited keeps its secrets. Fails on a placeholder with nothing to keep.
    pub fn keep_secrets(&mut self, stored: Option<&BotConfig>) -> Result<(), ConfigError> {
        if let Some(w) = &mut self.webhook
            && w.secret == REDACTED
        {
            w.secret = stored
                .and_then(|s| s.webhook.as_ref())
                .map(|s| s.secret.clone())
                .ok_or_else(|| {
                    bad(
                        "webhook.secret",
                        "\"***\" keeps the stored secret, but there is none",
                    )
                })?;
        }
        if let Some(l) = &mut self.llm
            && l.api_key.as_deref() == Some(REDACTED)
        {
            l.api_key = Some(
                stored
                    .and_then(|s| s.llm.as_ref())
                    .and_then(|s| s.api_key.clone())
                    .ok_or_else(|| {
                        bad(
                            "llm.api_key",
                            "\"***\" keeps the stored key, but there is none",
                        )
                    })?,
            );
        }
        Ok(())
    }
}

/// Per-tenant bot configurations (cached, invalidated on change like the detectors) and the
/// HTTP client the webhook and LLM bots share.
#[derive(Debug)]
pub struct Bots {
    cache: RwLock<HashMap<TenantId, Arc<BotConfig>>>,
    http: reqwest::Client,
    /// Bot turns running now.
    inflight: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for Bots {
    /// Bots whose client refuses private targets (see [`crate::outbound`]).
    fn default() -> Self {
        Bots::with_http(crate::outbound::Outbound::default().http().clone())
    }
}

impl Bots {
    /// No cached configurations, and `http` for the bots' and deliveries' requests.
    pub fn with_http(http: reqwest::Client) -> Self {
        Bots {
            cache: RwLock::default(),
            http,
            inflight: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// The tenant's bot configuration (`none` when unset or unreadable).
    pub async fn get(&self, store: &dyn Store, tenant: &TenantId) -> StoreResult<Arc<BotConfig>> {
        if let Some(hit) = self.cache.read().expect("lock").get(tenant) {
            return Ok(hit.clone());
        }
        let config = match store.setting(tenant, SETTING).await? {
            None => BotConfig::default(),
            Some(value) => BotConfig::parse(&value).unwrap_or_else(|e| {
                tracing::error!(%tenant, error = %e, "stored bot configuration is invalid; running no bot");
                BotConfig::default()
            }),
        };
        let config = Arc::new(config);
        self.cache
            .write()
            .expect("lock")
            .insert(tenant.clone(), config.clone());
        Ok(config)
    }

    /// Forgets a tenant's configuration (it changed).
    pub fn invalidate(&self, tenant: &TenantId) {
        self.cache.write().expect("lock").remove(tenant);
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Counts a bot turn as running until the guard drops.
    pub(crate) fn track(&self) -> TurnGuard {
        self.inflight.send_modify(|n| *n += 1);
        TurnGuard(self.inflight.clone())
    }

    /// Bot turns running now.
    pub fn running(&self) -> usize {
        *self.inflight.borrow()
    }

    /// Resolves once no bot turn is running (for tests and graceful shutdown). A turn is counted
    /// from before the customer message's response is sent, so awaiting this after that
    /// response covers its bot turn.
    pub async fn settled(&self) {
        let mut rx = self.inflight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Marks one running bot turn; see [`Bots::settled`].
#[derive(Debug)]
pub(crate) struct TurnGuard(Arc<tokio::sync::watch::Sender<usize>>);

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Keeps `bots` in step with configuration changes made on any instance.
pub fn spawn_invalidation(store: Arc<dyn Store>, bots: Arc<Bots>) {
    let mut events = store.subscribe();
    let kind = format!("{SETTING}_updated");
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if event.conversation.is_none() && event.kind() == kind => {
                    bots.invalidate(&event.tenant)
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    bots.cache.write().expect("lock").clear()
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// A request for a person that came with (or instead of) a bot reply.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffRequest {
    /// Machine-readable reason (a token: `a-z0-9_-:.`).
    pub reason: String,
    /// Target queue id, if the bot chose one (ignored when the tenant has no such queue).
    pub queue: Option<String>,
    /// Free text for the agent (the model's own words).
    pub note: Option<String>,
}

/// What a bot made of a customer message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotReply {
    /// Text for the customer, if any.
    pub text: Option<String>,
    /// Confidence in [0, 1].
    pub confidence: Option<f64>,
    /// Recognised intent (for the KB bot, the article id).
    pub intent: Option<String>,
    /// An "I didn't understand" turn.
    pub fallback: bool,
    /// The bot asks for a person.
    pub handoff: Option<HandoffRequest>,
}

/// The outcome of one bot turn.
#[derive(Debug, Clone, PartialEq)]
pub enum BotOutcome {
    /// The bot answered (and/or asked for a person).
    Reply(BotReply),
    /// Nothing now: the bot answers later through the API (webhook 2xx without a body), or has
    /// nothing to add.
    Silent,
    /// The bot failed (error, timeout, invalid reply): hand the conversation to a person.
    Failed(String),
}

/// Makes a machine token (`a-z0-9_-:.`, at most `max` bytes) of free text: lower-cased, other
/// characters become `_`, runs collapsed. Empty when nothing usable is left.
pub fn to_token(raw: &str, max: usize) -> String {
    let mut out = String::new();
    for c in raw.trim().chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || "_-:.".contains(c) {
            c
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        if out.len() >= max {
            break;
        }
        out.push(c);
    }
    out.trim_end_matches('_').to_string()
}

/// Truncates to at most `max` characters.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// Reads a response body of at most `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("response larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A short description of an HTTP client error.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_from_free_text() {
        assert_eq!(
            to_token("Customer wants a REFUND!", 100),
            "customer_wants_a_refund"
        );
        assert_eq!(to_token("  billing:refund ", 100), "billing:refund");
        assert_eq!(to_token("¿¿??", 100), "");
        assert_eq!(to_token("abcdef", 3), "abc");
    }

    #[test]
    fn validation_names_the_field() {
        let err = |v| BotConfig::parse(&v).unwrap_err().field;
        assert_eq!(err(json!({"type": "webhook"})), "webhook");
        assert_eq!(
            err(json!({"type": "webhook", "webhook": {"url": "ftp://x", "secret": "s"}})),
            "webhook.url"
        );
        assert_eq!(
            err(json!({"type": "webhook", "webhook": {"url": "http://x", "secret": ""}})),
            "webhook.secret"
        );
        assert_eq!(
            err(
                json!({"type": "webhook", "webhook": {"url": "http://x", "secret": "s", "timeout_ms": 50}})
            ),
            "webhook.timeout_ms"
        );
        assert_eq!(
            err(json!({"type": "llm", "llm": {"base_url": "http://x"}})),
            "llm.model"
        );
        assert_eq!(
            err(json!({"type": "kb", "kb": {"threshold": 2}})),
            "kb.threshold"
        );
        assert_eq!(err(json!({"type": "robot"})), "bot");
        let ok = BotConfig::parse(&json!({"type": "kb"})).unwrap();
        assert_eq!(ok.kb, KbSettings::default());
    }

    #[test]
    fn secrets_are_redacted_and_kept() {
        let stored = BotConfig::parse(
            &json!({"type": "webhook", "webhook": {"url": "http://x", "secret": "s3cret"}}),
        )
        .unwrap();
        let shown = stored.redacted();
        assert_eq!(shown.webhook.as_ref().unwrap().secret, REDACTED);
        let mut resubmitted = shown.clone();
        resubmitted.keep_secrets(Some(&stored)).unwrap();
        assert_eq!(resubmitted, stored);
        let mut orphan = shown;
        assert_eq!(
            orphan.keep_secrets(None).unwrap_err().field,
            "webhook.secret"
        );
    }
}
