//! Where shiplog may send webhooks (the SSRF guard): http(s) URLs only; link-local and cloud
//! metadata addresses always refused; operators add ranges with `--webhook-deny-cidrs`.
//! Loopback and private ranges stay allowed unless denied, since an intranet tool must reach
//! its neighbours. Every address a host name resolves to is checked, at subscription time and
//! again before every attempt.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// An address range, `192.168.0.0/16` or `fd00::/8` (a bare address is a single-address range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (net[full] & mask) == (ip[full] & mask)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not an address range like 10.0.0.0/8 or fd00::/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Reads `--webhook-deny-cidrs`: a comma list of ranges (empty: none).
pub fn parse_cidrs(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(Cidr::from_str)
        .collect()
}

/// Why an address is never a webhook destination, or `None` when it may be one.
fn always_refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_unspecified() {
                Some("an unspecified address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
                Some("a cloud metadata address")
            } else {
                None
            }
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_link_local() {
        // 169.254.0.0/16 holds the metadata services of AWS, GCP, Azure, OpenStack, Oracle.
        Some("a link-local or cloud metadata address")
    } else if ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("a cloud metadata address")
    } else if ip.octets()[0] == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

/// Checks one resolved address against the fixed rules and the operator's ranges.
pub fn check_address(ip: IpAddr, deny: &[Cidr]) -> Result<(), String> {
    if let Some(why) = always_refused(ip) {
        return Err(format!("{ip} is {why}, which webhooks never reach"));
    }
    if let Some(range) = deny.iter().find(|range| range.contains(ip)) {
        return Err(format!("{ip} is in a denied range ({range})"));
    }
    Ok(())
}

/// The parts of a webhook URL the guard needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

/// Checks a URL's form: http or https, a host, no credentials in it.
pub fn check_url(url: &str) -> Result<Target, String> {
    let uri: ureq::http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    let port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err("the URL must start with http:// or https://".to_owned()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "the URL has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("the URL must not carry credentials".to_owned());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    Ok(Target {
        host: host.to_owned(),
        port: authority.port_u16().unwrap_or(port),
    })
}

/// Checks a URL and every address its host resolves to (blocking: it may ask DNS).
pub fn check_destination(url: &str, deny: &[Cidr]) -> Result<(), String> {
    let target = check_url(url)?;
    let addresses: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("{} does not resolve: {e}", target.host))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{} does not resolve", target.host));
    }
    addresses
        .iter()
        .try_for_each(|address| check_address(address.ip(), deny))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn link_local_metadata_and_unspecified_addresses_are_always_refused() {
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "fd00:ec2::254",
            "::",
            "::ffff:169.254.169.254",
        ] {
            assert!(check_address(ip(bad), &[]).is_err(), "{bad}");
        }
        for good in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "8.8.8.8",
            "::1",
            "2001:db8::1",
        ] {
            assert!(check_address(ip(good), &[]).is_ok(), "{good}");
        }
    }

    #[test]
    fn operator_ranges_deny_more() {
        let deny = parse_cidrs("10.0.0.0/8, 127.0.0.1 ,fd00::/8").expect("valid");
        assert_eq!(deny.len(), 3);
        assert!(check_address(ip("10.200.0.1"), &deny).is_err());
        assert!(check_address(ip("127.0.0.1"), &deny).is_err());
        assert!(check_address(ip("127.0.0.2"), &deny).is_ok());
        assert!(check_address(ip("fd12::1"), &deny).is_err());
        assert!(check_address(ip("11.0.0.1"), &deny).is_ok());
        let odd = parse_cidrs("172.16.0.0/12").expect("valid");
        assert!(check_address(ip("172.31.255.255"), &odd).is_err());
        assert!(check_address(ip("172.32.0.0"), &odd).is_ok());
        for bad in ["10.0.0.0/33", "x", "10.0.0/8", "::/129"] {
            assert!(parse_cidrs(bad).is_err(), "{bad}");
        }
        assert!(parse_cidrs("").expect("empty").is_empty());
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        assert_eq!(
            check_url("http://127.0.0.1:8080/hook").expect("valid"),
            Target {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(check_url("https://example.com/x").expect("valid").port, 443);
        assert_eq!(check_url("http://[::1]:9/x").expect("valid").host, "::1");
        for bad in [
            "ftp://x/",
            "file:///etc/passwd",
            "http://user:pw@x/",
            "nope",
            "http:///x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_destination("http://169.254.169.254/latest", &[]).is_err());
        assert!(check_destination("http://127.0.0.1:1/", &[]).is_ok());
    }
}
