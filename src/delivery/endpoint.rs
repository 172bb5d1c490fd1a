//! Where kakari may deliver: an `https` URL whose host resolves only to public addresses,
//! so a subscriber cannot make the gateway call into the operator's network (SSRF). The
//! check runs when a subscription is made and again on every connection: the client's
//! resolver ([`CheckedResolver`]) refuses private answers, so a name that later resolves
//! elsewhere (DNS rebinding) is refused too; IP literals, which no resolver sees, are
//! checked on the URL.
//!
//! `KAKARI_DELIVERY_ALLOW_LOOPBACK=1` (tests, local development) also allows plain `http`
//! and loopback addresses; private and link-local addresses stay refused.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::Url;

/// Why an endpoint is refused (fixed text; the URL is the subscriber's, not patient data,
/// but it is not echoed either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointRefusal {
    #[error("not an absolute http(s) URL")]
    NotAUrl,
    #[error("endpoints must use https")]
    NotHttps,
    #[error("the URL carries credentials")]
    Credentials,
    #[error("the host is or resolves to a loopback, private, link-local or reserved address")]
    NotPublic,
    #[error("the host does not resolve")]
    Unresolvable,
}

/// Is `ip` an address on the public internet (or loopback, when allowed)?
pub fn is_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_allowed(v4, allow_loopback);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                return allow_loopback;
            }
            !(v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // 2001:db8::/32 documentation, 100::/64 discard
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
                // 64:ff9b::/96 NAT64 and ::/96 IPv4-compatible: embed IPv4, refuse
                || (s[0] == 0x0064 && s[1] == 0xff9b)
                || s[..6].iter().all(|x| *x == 0))
        }
    }
}

fn v4_allowed(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10 shared address space (carrier NAT)
        || (a == 100 && (b & 0xc0) == 64)
        // 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking, 240/4 reserved
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240)
}

/// Parses and checks an endpoint URL (scheme, no credentials, a literal IP must be
/// allowed); the host name is checked when it is resolved.
pub fn check_url(raw: &str, allow_loopback: bool) -> Result<Url, EndpointRefusal> {
    let url = Url::parse(raw).map_err(|_| EndpointRefusal::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback => {}
        "http" => return Err(EndpointRefusal::NotHttps),
        _ => return Err(EndpointRefusal::NotAUrl),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointRefusal::Credentials);
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_allowed(IpAddr::V4(ip), allow_loopback) => {
            Err(EndpointRefusal::NotPublic)
        }
        Some(url::Host::Ipv6(ip)) if !is_allowed(IpAddr::V6(ip), allow_loopback) => {
            Err(EndpointRefusal::NotPublic)
        }
        Some(_) => Ok(url),
        None => Err(EndpointRefusal::NotAUrl),
    }
}

/// Resolves `host` and keeps the allowed addresses; refuses when any answer is not allowed
/// (a name that resolves to a private address among public ones is not an endpoint).
pub async fn resolve(host: &str, allow_loopback: bool) -> Result<Vec<SocketAddr>, EndpointRefusal> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| EndpointRefusal::Unresolvable)?
        .collect();
    if addrs.is_empty() {
        return Err(EndpointRefusal::Unresolvable);
    }
    if addrs.iter().any(|a| !is_allowed(a.ip(), allow_loopback)) {
        return Err(EndpointRefusal::NotPublic);
    }
    Ok(addrs)
}

/// Checks an endpoint fully: the URL, and the addresses its host resolves to now.
pub async fn check(raw: &str, allow_loopback: bool) -> Result<Url, EndpointRefusal> {
    let url = check_url(raw, allow_loopback)?;
    if let Some(url::Host::Domain(host)) = url.host() {
        resolve(host, allow_loopback).await?;
    }
    Ok(url)
}

/// The delivery client's resolver: every connection's addresses pass [`is_allowed`].
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    pub allow_loopback: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_loopback;
        Box::pin(async move {
            let addrs = resolve(name.as_str(), allow)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_allowed(ip, false), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_allowed(ip.parse().unwrap(), false), "{ip}");
        }
        assert!(is_allowed("127.0.0.1".parse().unwrap(), true));
        assert!(is_allowed("::1".parse().unwrap(), true));
        assert!(!is_allowed("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert!(check_url("https://insurer.example/hook", false).is_ok());
        assert_eq!(
            check_url("http://insurer.example/hook", false),
            Err(EndpointRefusal::NotHttps)
        );
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert_eq!(
            check_url("https://127.0.0.1/hook", false),
            Err(EndpointRefusal::NotPublic)
        );
        assert_eq!(
            check_url("https://[::ffff:169.254.169.254]/", false),
            Err(EndpointRefusal::NotPublic)
        );
        assert_eq!(
            check_url("https://user:pw@insurer.example/", false),
            Err(EndpointRefusal::Credentials)
        );
        assert_eq!(check_url("ftp://x/", false), Err(EndpointRefusal::NotAUrl));
        assert_eq!(check_url("not a url", false), Err(EndpointRefusal::NotAUrl));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        assert_eq!(
            check("https://localhost/hook", false).await,
            Err(EndpointRefusal::NotPublic)
        );
        assert!(check("http://localhost:9/hook", true).await.is_ok());
    }
}
