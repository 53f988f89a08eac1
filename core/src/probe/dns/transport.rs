//! Resolver specifications (the CLI's `--resolver`) and how each transport is named in
//! observations.

use std::net::{IpAddr, SocketAddr};

use rustls_pki_types::ServerName;
use url::Url;

use super::DnsTransport;
use crate::error::{Error, Result};

/// The port of plain DNS.
const UDP_PORT: u16 = 53;
/// The port of DNS over TLS (RFC 7858).
const DOT_PORT: u16 = 853;

impl DnsTransport {
    /// Parses a resolver specification:
    /// - `system`: the operating system's resolver;
    /// - `udp://IP[:port]`: plain DNS (port 53 by default; IPv6 in brackets, `udp://[::1]:53`);
    /// - `https://...`: a DoH endpoint URL;
    /// - `dot://IP[:port][?sni=NAME]`: DNS over TLS (port 853 by default; the SNI, and the
    ///   name the certificate must carry, default to the IP).
    ///
    /// UDP and DoT servers must be IP addresses: resolving the resolver's own name would need
    /// another resolver and would hide which server was measured.
    pub fn parse(spec: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidResolver {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let text = spec.trim();
        if text.eq_ignore_ascii_case("system") {
            return Ok(DnsTransport::System);
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(invalid(
                "expected system, udp://IP[:port], https://URL or dot://IP[:port][?sni=NAME]",
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "udp" => {
                let server = parse_endpoint(rest, UDP_PORT).map_err(|reason| invalid(&reason))?;
                Ok(DnsTransport::Udp { server })
            }
            "https" => {
                let url = Url::parse(text).map_err(|e| invalid(&format!("bad DoH URL: {e}")))?;
                if url.host().is_none() {
                    return Err(invalid("the DoH URL has no host"));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(invalid("the DoH URL must not carry credentials"));
                }
                Ok(DnsTransport::Doh { url })
            }
            "dot" => {
                let (endpoint, query) = match rest.split_once('?') {
                    Some((endpoint, query)) => (endpoint, Some(query)),
                    None => (rest, None),
                };
                let server =
                    parse_endpoint(endpoint, DOT_PORT).map_err(|reason| invalid(&reason))?;
                let server_name = match query {
                    None => server.ip().to_string(),
                    Some(query) => parse_sni(query).map_err(|reason| invalid(&reason))?,
                };
                Ok(DnsTransport::Dot {
                    server,
                    server_name,
                })
            }
            "http" => Err(invalid("DoH needs https://")),
            "tls" | "tcp" | "quic" | "h3" => Err(invalid(
                "unsupported transport; use udp://, https:// (DoH) or dot://",
            )),
            _ => Err(invalid(
                "unknown scheme; use system, udp://, https:// (DoH) or dot://",
            )),
        }
    }

    /// The `engine` OONI records for this transport: `getaddrinfo`, `udp`, `doh` or `dot`.
    pub fn engine(&self) -> &'static str {
        match self {
            DnsTransport::System => "getaddrinfo",
            DnsTransport::Udp { .. } => "udp",
            DnsTransport::Doh { .. } => "doh",
            DnsTransport::Dot { .. } => "dot",
        }
    }

    /// The `resolver_address` OONI records: empty for the system resolver, `ip:port` for UDP
    /// and DoT (`[v6]:port` for IPv6), the URL for DoH.
    pub fn address(&self) -> String {
        match self {
            DnsTransport::System => String::new(),
            DnsTransport::Udp { server } | DnsTransport::Dot { server, .. } => server.to_string(),
            DnsTransport::Doh { url } => url.to_string(),
        }
    }
}

/// Parses `IP`, `IP:port`, `[IPv6]` or `[IPv6]:port`.
fn parse_endpoint(text: &str, default_port: u16) -> std::result::Result<SocketAddr, String> {
    if text.is_empty() {
        return Err("missing server address".to_string());
    }
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("missing ']' after the IPv6 address".to_string());
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(format!("unexpected {after:?} after the address")),
            },
        };
        let ip = host
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{host:?} is not an IPv6 address"))?;
        (IpAddr::V6(ip), port)
    } else {
        if text.matches(':').count() > 1 {
            return Err("put IPv6 addresses in brackets, e.g. [2001:db8::1]:53".to_string());
        }
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if text.contains('/') {
            return Err("unexpected path after the address".to_string());
        }
        let ip = host.parse::<IpAddr>().map_err(|_| {
            format!("{host:?} is not an IP address (a resolver is given by its IP, not its name)")
        })?;
        (ip, port)
    };
    let port = match port {
        None => default_port,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("{port:?} is not a valid port")),
        },
    };
    Ok(SocketAddr::new(host, port))
}

/// Parses the `sni=NAME` query of a DoT specification.
fn parse_sni(query: &str) -> std::result::Result<String, String> {
    let mut sni = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sni", name)) if sni.is_none() => sni = Some(name),
            Some(("sni", _)) => return Err("sni given twice".to_string()),
            _ => {
                return Err(format!(
                    "unknown option {pair:?}; only sni=NAME is accepted"
                ))
            }
        }
    }
    let name = sni.unwrap_or_default();
    if name.is_empty() {
        return Err("empty sni".to_string());
    }
    ServerName::try_from(name).map_err(|_| format!("{name:?} is not a valid TLS server name"))?;
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rejected_with_a_reason() {
        let error = DnsTransport::parse("udp://dns.google").expect_err("a name");
        let text = error.to_string();
        assert!(text.contains("not an IP address"), "{text}");
        assert!(matches!(error, Error::InvalidResolver { .. }));
    }
}
