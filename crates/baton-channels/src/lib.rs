//! Baton's edge to external messaging and notification providers.
//!
//! This crate knows nothing about Baton's database or domain types: it turns plain values into
//! provider payloads, parses what providers send back, and performs one HTTP or SMTP call at a
//! time. Queueing, persistence and retries belong to the caller (the delivery worker), which is
//! why every client call returns an error that answers one question first: *can a retry help?*
//!
//! | module | provider | in | out |
//! | --- | --- | --- | --- |
//! | [`whatsapp`] | WhatsApp Cloud API (Meta Graph API) | webhook handshake, signature, [`whatsapp::parse_webhook`] | [`whatsapp::Client`]: text, reply buttons, templates |
//! | [`slack`] | Slack incoming webhooks (Block Kit) | — | [`slack::render`], [`slack::render_digest`], [`slack::post`] |
//! | [`teams`] | Microsoft Teams Workflows webhooks (Adaptive Cards) | — | [`teams::render`], [`teams::render_digest`], [`teams::post`] |
//! | [`email`] | any SMTP server (lettre, rustls) | — | [`email::Mailer`] and rendered [`email::Email`]s |
//!
//! [`notice`] holds the provider-neutral [`notice::Notice`] that the Slack and Teams renderers
//! share: "a conversation was handed off", "an offer went unanswered", "a customer has waited
//! longer than the target".
//!
//! # Retries
//!
//! Each error type has `retryable()` and `retry_after()`:
//!
//! - [`whatsapp::SendError`]: rate limits (130429, 131048, 131056, 80007, 4, HTTP 429), Graph
//!   API outages (HTTP 5xx, codes 1, 2, 131000, 131016) and network errors are retryable; an
//!   expired token (190, HTTP 401), the closed 24-hour window (131047,
//!   [`whatsapp::SendError::OutsideServiceWindow`]) and every other rejection are not.
//! - [`webhook::PostError`] (Slack and Teams): HTTP 408, 429 (with `Retry-After`), 5xx and
//!   network errors are retryable; other 4xx (`invalid_payload`, `no_service`, …) are not.
//! - [`email::SendError`]: connection, TLS and timeout errors and SMTP 4xx replies are retryable;
//!   SMTP 5xx replies and messages that cannot be built are not.
//!
//! A network error can happen after the provider received the request, so a retried send may
//! deliver twice; WhatsApp and Slack offer no idempotency key for these calls.
//!
//! # HTTP client
//!
//! The HTTP clients take a [`reqwest::Client`] so that one connection pool is shared; use
//! [`http_client`] for one with sensible timeouts.
//!
//! # Testing
//!
//! With the `testing` feature, [`testing`] offers a real SMTP server (aiosmtpd, a Python
//! package: `python3 -m pip install aiosmtpd`) that stores mail in a Maildir, and an HTTP server
//! on loopback that records requests and answers from a script. This crate's own tests use both:
//! `cargo test -p baton-channels`.

#![forbid(unsafe_code)]

pub mod email;
pub mod notice;
pub mod slack;
pub mod teams;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;
pub mod whatsapp;

use std::time::Duration;

/// Time allowed to open a connection to a provider.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole provider request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// An HTTP client for the provider clients: rustls, [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
///
/// # Panics
///
/// If the TLS backend cannot be initialised (no usable crypto provider), which is a build
/// problem rather than a runtime condition.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the rustls HTTP client builds")
}

/// Parses a `Retry-After` header given in seconds (the form Slack, Teams and Meta use).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Cuts `text` to at most `max` characters, ending with `…` when it was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("", 3), "");
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
