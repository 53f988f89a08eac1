//! DNS lookups through the system resolver (getaddrinfo), DNS over UDP, DoH and DoT.
//!
//! CONTRACT (implemented by the DNS work; keep these names):
//! - [`DnsTransport`] and [`DnsTransport::parse`];
//! - `pub async fn dns_lookup(flow: &Flow, transport: &DnsTransport, domain: &str,
//!    options: &DnsOptions) -> DnsLookup`.

use std::net::SocketAddr;

use url::Url;

/// Which resolver a lookup goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsTransport {
    /// The operating system's resolver (getaddrinfo).
    System,
    /// Plain DNS over UDP to this server.
    Udp {
        /// The resolver's address.
        server: SocketAddr,
    },
    /// DNS over HTTPS (RFC 8484, POST) to this URL.
    Doh {
        /// The DoH endpoint, e.g. `https://dns.example/dns-query`.
        url: Url,
    },
    /// DNS over TLS (RFC 7858) to this server.
    Dot {
        /// The resolver's address.
        server: SocketAddr,
        /// The SNI and the name its certificate must carry.
        server_name: String,
    },
}
