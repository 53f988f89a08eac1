//! Bogons: addresses that cannot belong to a public web server (private, loopback, link-local,
//! CGNAT, multicast, reserved, documentation, unspecified; IPv6 ULA, link-local and the like).
//!
//! A DNS answer made of bogons for a public name is a classic sign of DNS tampering, and a test
//! helper that connects to bogons on a probe's request is an SSRF. Both uses need the same
//! classification, kept here. Labs that give "public" sites private addresses (the censorship
//! lab uses 10.x) override it with a [`BogonPolicy`] that turns the filter off or lists the
//! networks to treat as public.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// True when `ip` is not a globally routable unicast address: the IPv4 special-purpose ranges
/// (0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24,
/// 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4 multicast, 240/4 reserved and
/// the broadcast address) and the IPv6 ones (`::`, `::1`, IPv4-compatible `::/96`, `100::/64`,
/// `2001:10::/28`, `2001:db8::/32`, `3fff::/20`, `fc00::/7`, `fe80::/10`, `fec0::/10`,
/// `ff00::/8`). IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::/96`) addresses are judged
/// by the IPv4 address they carry.
pub fn is_bogon(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_bogon_v4(v4),
        IpAddr::V6(v6) => is_bogon_v6(v6),
    }
}

/// IPv4 special-purpose networks (RFC 6890 and successors) that are never a public server.
const BOGONS_V4: [(Ipv4Addr, u8); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
    (Ipv4Addr::new(255, 255, 255, 255), 32),
];

/// IPv6 special-purpose networks that are never a public server.
const BOGONS_V6: [(Ipv6Addr, u8); 11] = [
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128),
    // IPv4-compatible addresses (deprecated, RFC 4291 §2.5.5.1).
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

fn is_bogon_v4(ip: Ipv4Addr) -> bool {
    BOGONS_V4
        .iter()
        .any(|(net, prefix)| prefix_matches_v4(*net, *prefix, ip))
}

fn is_bogon_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // ::ffff:a.b.c.d and the NAT64 well-known prefix 64:ff9b::/96 carry an IPv4 address.
    let mapped = segments[..5] == [0, 0, 0, 0, 0] && segments[5] == 0xffff;
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || nat64 {
        let octets = ip.octets();
        return is_bogon_v4(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    BOGONS_V6
        .iter()
        .any(|(net, prefix)| prefix_matches_v6(*net, *prefix, ip))
}

fn prefix_matches_v4(net: Ipv4Addr, prefix: u8, ip: Ipv4Addr) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    (u32::from(net) & mask) == (u32::from(ip) & mask)
}

fn prefix_matches_v6(net: Ipv6Addr, prefix: u8, ip: Ipv6Addr) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0);
    (u128::from(net) & mask) == (u128::from(ip) & mask)
}

/// An IP network in CIDR notation, e.g. `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network {text:?}: {reason}")]
pub struct IpNetError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl IpNet {
    /// The network of `addr` with `prefix` bits; `None` if the prefix is longer than the
    /// address (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// The network's address as given.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True when `ip` is inside this network (same address family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches_v4(net, self.prefix, ip),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_matches_v6(net, self.prefix, ip),
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    /// Parses `addr/prefix`; a bare address is a single-host network (`/32` or `/128`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| IpNetError {
            text: text.to_string(),
            reason,
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| error("not an IP address"))?;
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .map_err(|_| error("bad prefix length"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(|| error("prefix longer than the address"))
    }
}

impl serde::Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How an experiment decides whether an address is a bogon: [`is_bogon`], unless the filter is
/// off or the address is in one of the networks declared public (a lab's 10.x "internet").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BogonPolicy {
    /// False to never call an address a bogon (loopback tests). On by default.
    pub enabled: bool,
    /// Networks treated as public even though [`is_bogon`] says otherwise.
    pub public_networks: Vec<IpNet>,
}

impl Default for BogonPolicy {
    fn default() -> Self {
        BogonPolicy {
            enabled: true,
            public_networks: Vec::new(),
        }
    }
}

impl BogonPolicy {
    /// A policy that never reports a bogon.
    pub fn disabled() -> Self {
        BogonPolicy {
            enabled: false,
            public_networks: Vec::new(),
        }
    }

    /// True when `ip` counts as a bogon under this policy.
    pub fn is_bogon(&self, ip: IpAddr) -> bool {
        self.enabled && is_bogon(ip) && !self.public_networks.iter().any(|net| net.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_special_ranges_are_bogons() {
        for text in [
            "0.0.0.0",
            "10.10.34.35",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_bogon(ip(text)), "{text} is a bogon");
        }
    }

    #[test]
    fn public_ipv4_is_not_a_bogon() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "2.133.0.1",
        ] {
            assert!(!is_bogon(ip(text)), "{text} is public");
        }
    }

    #[test]
    fn ipv6_special_ranges_are_bogons() {
        for text in [
            "::",
            "::1",
            "::7f00:1",
            "100::1",
            "2001:10::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_bogon(ip(text)), "{text} is a bogon");
        }
        for text in [
            "2a03:2880:f137:182:face:b00c:0:25de",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_bogon(ip(text)), "{text} is public");
        }
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        assert_eq!(net.to_string(), "10.0.0.0/8");
        let host: IpNet = "192.0.2.1".parse().unwrap();
        assert_eq!(host.prefix(), 32);
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("example.org/8".parse::<IpNet>().is_err());
        assert!("10.0.0.0/x".parse::<IpNet>().is_err());
    }

    #[test]
    fn policy_can_be_disabled_or_overridden() {
        let lab = ip("10.0.0.5");
        assert!(BogonPolicy::default().is_bogon(lab));
        assert!(!BogonPolicy::disabled().is_bogon(lab));
        let policy = BogonPolicy {
            enabled: true,
            public_networks: vec!["10.0.0.0/24".parse().unwrap()],
        };
        assert!(!policy.is_bogon(lab));
        assert!(policy.is_bogon(ip("10.0.1.5")));
        assert!(policy.is_bogon(ip("127.0.0.1")));
        assert!(!policy.is_bogon(ip("8.8.8.8")));
    }
}
