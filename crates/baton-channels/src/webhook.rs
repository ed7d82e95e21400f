//! Posting JSON to an incoming-webhook URL (Slack, Teams) and classifying the answer.
//!
//! Webhook URLs carry their secret in the path, so neither the URL nor errors built from it are
//! ever put in a [`PostError`]: log the error freely, never the URL.

use crate::{retry_after, truncate};
use std::time::Duration;

/// Characters of a provider's error body kept in a [`PostError`].
const MAX_ERROR_BODY: usize = 500;

/// Why a webhook post failed, and whether trying again later can help ([`PostError::retryable`]).
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The configured URL is not an absolute http(s) URL. Not retryable: fix the configuration.
    #[error("the {provider} webhook URL is invalid: {reason}")]
    InvalidUrl {
        /// "Slack" or "Teams".
        provider: &'static str,
        /// What is wrong with it (never the URL itself, which holds a secret).
        reason: String,
    },
    /// The request did not complete: DNS, connect, TLS, timeout. Retryable.
    #[error("could not reach the {provider} webhook: {source}")]
    Network {
        /// "Slack" or "Teams".
        provider: &'static str,
        /// The underlying error, with the URL removed.
        #[source]
        source: reqwest::Error,
    },
    /// HTTP 429: the provider asks us to slow down. Retryable, after `retry_after` if given.
    #[error("{provider} rate-limited the webhook (HTTP 429){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// "Slack" or "Teams".
        provider: &'static str,
        /// The provider's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx or 408: the provider failed or timed out. Retryable.
    #[error("{provider} is unavailable (HTTP {status}): {body}")]
    Unavailable {
        /// "Slack" or "Teams".
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the provider's answer.
        body: String,
    },
    /// Any other non-2xx answer, such as Slack's `400 invalid_payload`, `403 action_prohibited`,
    /// `404 no_service` or `410 channel_is_archived`. Not retryable: the payload or the
    /// configuration must change first.
    #[error("{provider} rejected the message (HTTP {status}): {body}")]
    Rejected {
        /// "Slack" or "Teams".
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the provider's answer (Slack puts its error code here).
        body: String,
    },
}

impl PostError {
    /// Whether the same post may succeed later without any change.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Network { .. } | Self::RateLimited { .. } | Self::Unavailable { .. }
        )
    }

    /// How long the provider asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status the provider answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::RateLimited { .. } => Some(429),
            Self::Unavailable { status, .. } | Self::Rejected { status, .. } => Some(*status),
            Self::InvalidUrl { .. } | Self::Network { .. } => None,
        }
    }
}

/// Posts `payload` as JSON to `url`; any 2xx is success.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    provider: &'static str,
    url: &str,
    payload: &serde_json::Value,
) -> Result<(), PostError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| PostError::InvalidUrl {
        provider,
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(PostError::InvalidUrl {
            provider,
            reason: format!("scheme `{}` is not http or https", parsed.scheme()),
        });
    }
    let network = |e: reqwest::Error| PostError::Network {
        provider,
        source: e.without_url(),
    };
    let response = http
        .post(parsed)
        .json(payload)
        .send()
        .await
        .map_err(network)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let wait = retry_after(response.headers());
    // The body only explains the failure; losing it must not hide the status.
    let body = response.text().await.unwrap_or_default();
    Err(classify(provider, status.as_u16(), wait, &body))
}

/// The error for a non-2xx answer.
pub(crate) fn classify(
    provider: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> PostError {
    let body = truncate(body.trim(), MAX_ERROR_BODY);
    match status {
        429 => PostError::RateLimited {
            provider,
            retry_after,
        },
        408 | 500..=599 => PostError::Unavailable {
            provider,
            status,
            body,
        },
        _ => PostError::Rejected {
            provider,
            status,
            body,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_status() {
        let e = classify("Slack", 429, Some(Duration::from_secs(7)), "rate_limited");
        assert!(e.retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            e.to_string(),
            "Slack rate-limited the webhook (HTTP 429), retry after 7s"
        );

        for status in [500, 502, 503, 504, 408] {
            assert!(classify("Teams", status, None, "").retryable(), "{status}");
        }
        for (status, body) in [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "no_service"),
            (410, "channel_is_archived"),
        ] {
            let e = classify("Slack", status, None, body);
            assert!(!e.retryable(), "{status}");
            assert_eq!(e.status(), Some(status));
            assert!(e.to_string().contains(body));
        }
    }

    #[test]
    fn long_bodies_are_cut() {
        let e = classify("Slack", 400, None, &"x".repeat(5000));
        assert!(e.to_string().len() < 700);
    }
}
