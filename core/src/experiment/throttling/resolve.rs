//! The passive method's name lookups: each host once, before anything is timed. Every fetch of
//! an arm then goes to the same address, and a DNS query lost on a lossy link costs a lookup
//! again, not a trial (before, two lost queries in eight fetches left a target inconclusive).

use std::net::{IpAddr, SocketAddr};

use url::Url;

use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use crate::probe::flow::Flow;
use crate::report::observations::DnsQuery;

/// Lookups of one host before giving up. Only a timeout (a lost query or reply) is tried
/// again; an answer, even NXDOMAIN, is final.
pub const RESOLVE_ATTEMPTS: usize = 3;

/// The endpoint `url` is fetched from: its literal address, or the first address a lookup
/// through `resolver` gives. The lookups' OONI `queries` entries are appended to `queries`.
pub(crate) async fn resolve_once(
    clock: &MeasurementClock,
    resolver: &DnsTransport,
    dns: &DnsOptions,
    url: &Url,
    queries: &mut Vec<DnsQuery>,
) -> Result<SocketAddr, Failure> {
    let host = url
        .host_str()
        .ok_or_else(|| Failure::Unknown("the URL has no host".to_string()))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut failure = Failure::GenericTimeout;
    for attempt in 1..=RESOLVE_ATTEMPTS {
        let flow = Flow::new(clock, vec![format!("resolve_attempt={attempt}")]);
        let lookup = dns_lookup(&flow, resolver, bare, dns).await;
        queries.extend(lookup.queries);
        match (lookup.addresses.first(), lookup.failure) {
            (Some(ip), _) => return Ok(SocketAddr::new(*ip, port)),
            (None, Some(Failure::GenericTimeout)) => failure = Failure::GenericTimeout,
            (None, Some(other)) => return Err(other),
            (None, None) => return Err(Failure::DnsNoAnswer),
        }
    }
    Err(failure)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use kuzet_e2e::fixtures::dns::{Behaviour, UdpDnsServer, Zone};

    use super::*;

    const NAME: &str = "site.kuzet.test";

    fn options() -> DnsOptions {
        DnsOptions {
            timeout: Duration::from_millis(300),
            late_reply_window: Duration::ZERO,
            ..DnsOptions::default()
        }
    }

    async fn resolve(
        server: &UdpDnsServer,
        url: &str,
    ) -> (Result<SocketAddr, Failure>, Vec<DnsQuery>) {
        let resolver = DnsTransport::Udp {
            server: server.addr,
        };
        let url = Url::parse(url).unwrap();
        let mut queries = Vec::new();
        let clock = MeasurementClock::start();
        let result = resolve_once(&clock, &resolver, &options(), &url, &mut queries).await;
        (result, queries)
    }

    #[tokio::test]
    async fn a_lost_query_is_asked_again() {
        let zone = Zone::new();
        zone.set(NAME, Behaviour::Drop);
        let server = UdpDnsServer::start(zone.clone()).await;
        // The first two lookups (A and AAAA each) are lost; the third is answered.
        let answering = tokio::spawn(async move {
            while zone.queries_received() < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            zone.set(
                NAME,
                Behaviour::addresses(&[Ipv4Addr::new(10, 77, 4, 32)], &[]),
            );
        });
        let (result, queries) = resolve(&server, &format!("https://{NAME}/big.bin")).await;
        answering.await.unwrap();
        assert_eq!(result, Ok(SocketAddr::from(([10, 77, 4, 32], 443))));
        // A and AAAA per attempt, every attempt kept as evidence.
        assert_eq!(queries.len(), 2 * RESOLVE_ATTEMPTS, "{queries:?}");
    }

    #[tokio::test]
    async fn an_answer_is_final_and_a_silent_resolver_gives_up() {
        let zone = Zone::new();
        zone.set(NAME, Behaviour::NxDomain);
        let server = UdpDnsServer::start(zone.clone()).await;
        let (result, queries) = resolve(&server, &format!("http://{NAME}:8080/")).await;
        assert_eq!(result, Err(Failure::DnsNxdomain));
        assert_eq!(queries.len(), 2, "one attempt: {queries:?}");

        zone.set(NAME, Behaviour::Drop);
        let (result, queries) = resolve(&server, &format!("http://{NAME}/")).await;
        assert_eq!(result, Err(Failure::GenericTimeout));
        assert_eq!(queries.len(), 2 * RESOLVE_ATTEMPTS, "{queries:?}");
    }

    #[tokio::test]
    async fn an_address_in_the_url_needs_no_lookup() {
        let server = UdpDnsServer::start(Zone::new()).await;
        let (result, queries) = resolve(&server, "https://10.77.4.32:8443/x").await;
        assert_eq!(result, Ok(SocketAddr::from(([10, 77, 4, 32], 8443))));
        assert!(queries.is_empty());
    }
}
