//! The passive method's name lookups: each host once, on its arm's first fetch and before that
//! fetch is timed. Every later fetch of the arm goes to the same address, and a DNS query lost
//! on a lossy link costs a lookup again, not a trial (before, two lost queries in eight fetches
//! left a target inconclusive).

use std::net::{IpAddr, SocketAddr};

use url::Url;

use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use crate::probe::fetch::{fetch, FetchConfig, FetchOutcome, Observations, Operation};
use crate::probe::flow::Flow;
use crate::report::observations::DnsQuery;

/// Lookups of one host before giving up. Only a timeout (a lost query or reply) is tried
/// again; an answer, even NXDOMAIN, is final.
pub const RESOLVE_ATTEMPTS: usize = 3;

/// Fetches `url` from `endpoint`, first looking its host up ([`resolve_once`]) when `endpoint`
/// is still `None`, and keeping the address there for the arm's next fetches. The lookups'
/// queries come first in the outcome's; a host that cannot be looked up is a fetch that failed
/// at `resolve`.
pub(crate) async fn fetch_resolved(
    clock: &MeasurementClock,
    config: &FetchConfig,
    url: &Url,
    endpoint: &mut Option<SocketAddr>,
) -> FetchOutcome {
    let mut queries = Vec::new();
    let resolved = match *endpoint {
        Some(known) => Ok(known),
        None => resolve_once(clock, &config.resolver, &config.dns, url, &mut queries).await,
    };
    match resolved {
        Ok(address) => {
            *endpoint = Some(address);
            let mut outcome = fetch(clock, config, url, Some(address)).await;
            queries.append(&mut outcome.observations.queries);
            outcome.observations.queries = queries;
            outcome
        }
        Err(failure) => FetchOutcome {
            observations: Observations {
                queries,
                ..Observations::default()
            },
            failed_operation: Some(Operation::Resolve),
            failure: Some(failure),
            final_url: url.clone(),
            status_code: None,
            body: Vec::new(),
            redirects: 0,
            bytes_received: 0,
        },
    }
}

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
    for attempt in 1..=RESOLVE_ATTEMPTS {
        let flow = Flow::new(clock, vec![format!("resolve_attempt={attempt}")]);
        let lookup = dns_lookup(&flow, resolver, bare, dns).await;
        queries.extend(lookup.queries);
        match (lookup.addresses.first(), lookup.failure) {
            (Some(ip), _) => return Ok(SocketAddr::new(*ip, port)),
            (None, Some(Failure::GenericTimeout)) => continue,
            (None, Some(other)) => return Err(other),
            (None, None) => return Err(Failure::DnsNoAnswer),
        }
    }
    Err(Failure::GenericTimeout)
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
    async fn an_arm_is_looked_up_on_its_first_fetch_only() {
        let site = kuzet_e2e::fixtures::web::WebServer::http(
            kuzet_e2e::fixtures::web::Routes::new().page("/", 200, "home"),
        )
        .await;
        let zone = Zone::new();
        zone.set(NAME, Behaviour::Drop);
        let dns = UdpDnsServer::start(zone.clone()).await;
        let config = FetchConfig {
            resolver: DnsTransport::Udp { server: dns.addr },
            dns: options(),
            connect_timeout: Duration::from_secs(5),
            tls_timeout: Duration::from_secs(5),
            http_timeout: Duration::from_secs(5),
            body_cap: 1024,
            max_redirects: 0,
            trust: crate::net::trust::TrustAnchors::bundled(),
            headers: crate::probe::http::default_request_headers(),
        };
        let url = Url::parse(&format!("http://{NAME}:{}/", site.addr.port())).unwrap();
        let clock = MeasurementClock::start();
        let mut endpoint = None;

        // No answer at all: a fetch that failed at resolve, with every attempt's queries.
        let lost = fetch_resolved(&clock, &config, &url, &mut endpoint).await;
        assert_eq!(lost.failed_operation, Some(Operation::Resolve));
        assert_eq!(lost.failure, Some(Failure::GenericTimeout));
        assert_eq!(lost.observations.queries.len(), 2 * RESOLVE_ATTEMPTS);
        assert_eq!(endpoint, None);

        zone.set(NAME, Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]));
        let first = fetch_resolved(&clock, &config, &url, &mut endpoint).await;
        assert_eq!(first.status_code, Some(200), "{:?}", first.failure);
        assert_eq!(first.observations.queries.len(), 2);
        assert_eq!(endpoint, Some(site.addr));

        // Later fetches of the arm go to that address without asking again.
        zone.set(NAME, Behaviour::NxDomain);
        let again = fetch_resolved(&clock, &config, &url, &mut endpoint).await;
        assert_eq!(again.status_code, Some(200), "{:?}", again.failure);
        assert!(again.observations.queries.is_empty());
    }

    #[tokio::test]
    async fn an_address_in_the_url_needs_no_lookup() {
        let server = UdpDnsServer::start(Zone::new()).await;
        let (result, queries) = resolve(&server, "https://10.77.4.32:8443/x").await;
        assert_eq!(result, Ok(SocketAddr::from(([10, 77, 4, 32], 8443))));
        assert!(queries.is_empty());
    }
}
