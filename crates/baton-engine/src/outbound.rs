//! Outbound requests (webhooks, Slack/Teams, the webhook and LLM bots, the WhatsApp API) may
//! only reach public addresses, unless `allow_private_targets` is set.
//!
//! Two checks, one rule ([`forbidden_ip`]):
//! - when a URL is configured, [`Outbound::check`] refuses a host that is, or resolves to, a
//!   loopback, private, link-local, unique-local, CGNAT, multicast or unspecified address (and
//!   names such as `localhost` or `*.internal`) with a [`PrivateTarget`];
//! - when connecting, the HTTP client's resolver drops such addresses, so a name that resolved
//!   to a public address at configuration and to an internal one later (DNS rebinding) fails.
//!
//! The client follows no redirects: a signed delivery is never re-sent to another address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Names that stand for the machine itself or an internal network, refused without a lookup.
const INTERNAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".home.arpa",
    ".lan",
];

/// A configured URL whose host outbound requests may not reach; the message names the field,
/// the host and why (the server answers it as a 422 `private_target`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrivateTarget(pub String);

/// How long a configuration-time lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether outbound requests may reach `ip`: false for loopback, private (RFC 1918),
/// link-local, unique-local, CGNAT, multicast, unspecified, broadcast and reserved addresses,
/// and for IPv6 forms that embed such an IPv4 address.
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || s[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d
}

/// Whether `name` (a host name, not an address) is internal by its form alone: `localhost`,
/// an internal suffix such as `metadata.google.internal`, or a single label (resolved through
/// the local search domains).
fn internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || !name.contains('.')
        || INTERNAL_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The outbound policy and the HTTP client that enforces it.
#[derive(Debug, Clone)]
pub struct Outbound {
    allow_private: bool,
    http: reqwest::Client,
}

impl Default for Outbound {
    /// Private targets refused.
    fn default() -> Self {
        Outbound::new(false)
    }
}

impl Outbound {
    /// The policy, with private targets allowed or not, and its client.
    pub fn new(allow_private: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none());
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Outbound {
            allow_private,
            http: builder.build().unwrap_or_default(),
        }
    }

    /// Whether private targets are allowed (`allow_private_targets`).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The HTTP client for every outbound request: no redirects, and (unless private targets
    /// are allowed) a resolver that only returns public addresses.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Refuses (422 `private_target`) a URL whose host is, or resolves to, an address outbound
    /// requests may not reach. A name that does not resolve now is accepted: the client's
    /// resolver checks it again at every connection.
    pub async fn check(&self, field: &str, url: &str) -> Result<(), PrivateTarget> {
        if self.allow_private {
            return Ok(());
        }
        let refuse = |host: &str, why: String| {
            PrivateTarget(format!(
                "{field}: {host} {why}; outbound requests may only reach public addresses \
                 (allow_private_targets / BATON_ALLOW_PRIVATE_TARGETS allows internal ones \
                 for development)"
            ))
        };
        let Ok(parsed) = reqwest::Url::parse(url.trim()) else {
            return Ok(()); // the URL's form is checked where it is parsed
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
            return Ok(());
        };
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return check_ip(ip, host, &refuse);
        }
        if internal_name(host) {
            return Err(refuse(host, "is an internal host name".into()));
        }
        let lookup = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            tokio::net::lookup_host((host.to_string(), port)),
        )
        .await;
        if let Ok(Ok(addrs)) = lookup {
            for addr in addrs {
                check_ip(addr.ip(), host, &refuse)?;
            }
        }
        Ok(())
    }
}

impl Outbound {
    /// Why a request to `url` may not be sent now, when its host is an internal IP address
    /// written out (the resolver never sees those): a URL stored before this check existed, or
    /// while `allow_private_targets` was on. Names are checked by the resolver at connection.
    pub fn refusal(&self, url: &str) -> Option<String> {
        if self.allow_private {
            return None;
        }
        let parsed = reqwest::Url::parse(url.trim()).ok()?;
        let host = parsed.host_str()?;
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()?;
        forbidden_ip(ip).then(|| {
            format!("refused: {host} is an internal address (allow_private_targets is off)")
        })
    }
}

fn check_ip(
    ip: IpAddr,
    host: &str,
    refuse: &dyn Fn(&str, String) -> PrivateTarget,
) -> Result<(), PrivateTarget> {
    if forbidden_ip(ip) {
        let why = if host == ip.to_string() || host == format!("[{ip}]") {
            "is a loopback, private, link-local or otherwise internal address".to_string()
        } else {
            format!("resolves to the internal address {ip}")
        };
        return Err(refuse(host, why));
    }
    Ok(())
}

/// The system resolver, minus every address outbound requests may not reach; a name left with
/// none fails to resolve.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            if internal_name(&name) {
                return Err(format!("refused: {name} is an internal host name").into());
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| !forbidden_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("refused: {name} resolves only to internal addresses").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(forbidden_ip(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!forbidden_ip(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn internal_names_are_refused_by_form() {
        for bad in [
            "localhost",
            "api.localhost",
            "metadata.google.internal",
            "metadata.google.internal.",
            "redis",
            "printer.local",
        ] {
            assert!(internal_name(bad), "{bad}");
        }
        assert!(!internal_name("hooks.slack.com"));
    }

    #[tokio::test]
    async fn configured_urls_are_checked_unless_allowed() {
        let deny = Outbound::new(false);
        for bad in [
            "http://127.0.0.1:9000/x",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://metadata.google.internal/",
            "http://localhost:8080/",
        ] {
            let err = deny.check("url", bad).await.unwrap_err();
            assert!(err.to_string().starts_with("url: "), "{bad}: {err}");
        }
        deny.check("url", "https://93.184.215.14/hook")
            .await
            .unwrap();
        assert!(deny.refusal("http://0x7f000001:9000/x").is_some());
        assert!(deny.refusal("http://[fd00::1]/x").is_some());
        assert!(deny.refusal("https://93.184.215.14/hook").is_none());
        assert!(Outbound::new(true).refusal("http://127.0.0.1/").is_none());
        let allow = Outbound::new(true);
        allow.check("url", "http://127.0.0.1:9000/x").await.unwrap();
    }
}
