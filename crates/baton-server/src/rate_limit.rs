//! Per-client rate limits for public endpoints: `POST /v1/widget/conversations` needs only the
//! tenant's public key, which every visitor of the tenant's site can read, so each client (the
//! public key and the client's address) may start only so many conversations a minute.
//!
//! The limit is GCRA (the `governor` crate): `burst` starts at once, then one more every
//! `60 / per_minute` seconds. Refused requests get `429` with `Retry-After`.
//!
//! The client's address is the TCP peer's, unless `client_ip_header` names a header set by a
//! proxy in front of Baton (`X-Forwarded-For`, `X-Real-IP`...). Only name one when every request
//! reaches Baton through that proxy: anyone talking to Baton directly could write the header
//! themselves. Of a comma-separated list the last address is used, the one the proxy added.
//! IPv6 clients are counted per /64 network, the block a single customer line usually gets.

use axum::http::{HeaderMap, HeaderName};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Checks between two sweeps of idle clients out of the limiter's memory.
const SWEEP_EVERY: u64 = 1024;

/// The widget's start limit for one instance (each instance counts its own requests).
#[derive(Debug)]
pub struct WidgetLimit {
    limiter: Option<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    client_ip_header: Option<HeaderName>,
    per_minute: u32,
    checks: AtomicU64,
}

impl WidgetLimit {
    /// At most `per_minute` starts a minute per client after a burst of `burst`; `per_minute`
    /// 0 turns the limit off. `client_ip_header`: see the module docs.
    pub fn new(per_minute: u32, burst: u32, client_ip_header: Option<HeaderName>) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        WidgetLimit {
            limiter,
            client_ip_header,
            per_minute,
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one start by this client; `Err` with how long to wait when it is over the limit.
    pub fn check(&self, public_key_hash: &str, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&(public_key_hash.to_string(), bucket(client)))
            .map_err(|until| until.wait_time_from(DefaultClock::default().now()))
    }

    /// The configured rate (starts per minute; 0: off), for the error message.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// The client's address: from the trusted proxy header when one is configured and present
    /// and valid, else the TCP peer's.
    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let from_proxy = self.client_ip_header.as_ref().and_then(|name| {
            let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
            parse_ip(value.rsplit(',').next()?.trim())
        });
        from_proxy.or(peer.map(|p| p.ip()))
    }
}

impl Default for WidgetLimit {
    fn default() -> Self {
        WidgetLimit::new(DEFAULT_PER_MINUTE, DEFAULT_BURST, None)
    }
}

/// Default widget starts per minute per client.
pub const DEFAULT_PER_MINUTE: u32 = 20;
/// Default burst of widget starts per client.
pub const DEFAULT_BURST: u32 = 10;

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:5000`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The unit counted: the address itself, or its /64 network for IPv6.
pub(crate) fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bursts_then_refuses_with_the_wait() {
        let limit = WidgetLimit::new(2, 3, None);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.check("key", ip).is_ok());
        }
        let wait = limit.check("key", ip).unwrap_err();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // Another client, or the same address with another tenant's key, is counted apart.
        assert!(limit.check("key", "203.0.113.8".parse().unwrap()).is_ok());
        assert!(limit.check("other-key", ip).is_ok());
        // One IPv6 /64 is one client.
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.check("key", a).is_ok());
        }
        assert!(limit.check("key", b).is_err());
        // Off.
        let off = WidgetLimit::new(0, 0, None);
        for _ in 0..100 {
            assert!(off.check("key", ip).is_ok());
        }
    }

    #[test]
    fn client_address_from_the_peer_or_the_trusted_header() {
        let peer: SocketAddr = "198.51.100.1:40000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.9"),
        );
        // Without a configured header the client cannot choose its address.
        let direct = WidgetLimit::new(1, 1, None);
        assert_eq!(
            direct.client_ip(&headers, Some(peer)),
            Some(peer.ip()),
            "headers are ignored unless configured"
        );
        let proxied = WidgetLimit::new(1, 1, Some(HeaderName::from_static("x-forwarded-for")));
        assert_eq!(
            proxied.client_ip(&headers, Some(peer)),
            Some("203.0.113.9".parse().unwrap()),
            "the address the proxy appended"
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(proxied.client_ip(&headers, Some(peer)), Some(peer.ip()));
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::5]:443"),
        );
        assert_eq!(
            proxied.client_ip(&headers, None),
            Some("2001:db8::5".parse().unwrap())
        );
    }
}
