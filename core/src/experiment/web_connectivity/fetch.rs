//! The fetch step: the HTTP fetch of the URL ([`crate::probe::fetch`]) through the endpoint
//! the endpoints step found usable, redirects measured hop by hop, within the whole-fetch
//! timeout; and what the fetch (or its absence) adds to the measurement.

use std::net::SocketAddr;

use tokio::time::error::Elapsed;
use url::Url;

use super::WebConnectivityConfig;
use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::probe::dns::DnsOptions;
use crate::probe::fetch::{fetch, FetchConfig, FetchOutcome, Operation};
use crate::probe::http::default_request_headers;
use crate::report::observations::{
    DnsQuery, HttpTransaction, NetworkEvent, TcpConnect, TlsHandshake,
};

/// Fetches `target`, its first hop through `endpoint`, within [`super::Timeouts::fetch`]
/// (`Err` when that ran out).
pub(super) async fn fetch_page(
    clock: &MeasurementClock,
    config: &WebConnectivityConfig,
    dns_options: &DnsOptions,
    target: &Url,
    endpoint: SocketAddr,
) -> Result<FetchOutcome, Elapsed> {
    let fetch_config = FetchConfig {
        resolver: config.resolver.clone(),
        dns: dns_options.clone(),
        connect_timeout: config.timeouts.steps.connect,
        tls_timeout: config.timeouts.steps.tls,
        http_timeout: config.timeouts.steps.http,
        body_cap: config.body_cap,
        max_redirects: config.max_redirects,
        trust: config.trust.clone(),
        headers: default_request_headers(),
    };
    let fetching = fetch(clock, &fetch_config, target, Some(endpoint));
    tokio::time::timeout(config.timeouts.fetch, fetching).await
}

/// What the fetch step adds to the measurement.
pub(super) struct FetchRecords {
    /// The HTTP experiment's failure: the fetch's, or that of the step that kept it from
    /// starting.
    pub(super) http_experiment_failure: Option<Failure>,
    /// The step that failed.
    pub(super) http_failed_operation: Option<Operation>,
    /// The final status code, if a response arrived.
    pub(super) status_code: Option<u16>,
    /// The last URL fetched, if the fetch ran to its end.
    pub(super) final_url: Option<String>,
    /// The fetch's lookups (redirects to other hosts), tagged `classic`.
    pub(super) queries: Vec<DnsQuery>,
    /// The late replies of those lookups.
    pub(super) late_replies: Vec<DnsQuery>,
    /// The fetch's connects, tagged `classic`.
    pub(super) tcp_connect: Vec<TcpConnect>,
    /// The fetch's handshakes, tagged `classic`.
    pub(super) tls_handshakes: Vec<TlsHandshake>,
    /// The fetch's round trips, newest first, tagged `classic`.
    pub(super) requests: Vec<HttpTransaction>,
    /// The fetch's `bytes_received_cumulative` samples.
    pub(super) network_events: Vec<NetworkEvent>,
    /// The bytes the fetch received, every hop and handshake included.
    pub(super) bytes_received: u64,
}

impl FetchRecords {
    /// The records of `fetched`: the fetch's outcome, `Err` when it timed out, `None` when
    /// there was no endpoint to fetch from. Then the failure is the classic lookup's
    /// (`dns_experiment_failure`), else the first one on the URL's port
    /// (`first_primary_failure`).
    pub(super) fn new(
        fetched: Option<Result<FetchOutcome, Elapsed>>,
        dns_experiment_failure: &Option<Failure>,
        first_primary_failure: Option<(Failure, Operation)>,
    ) -> Self {
        match fetched {
            Some(Ok(outcome)) => {
                let FetchOutcome {
                    observations,
                    failed_operation,
                    failure,
                    final_url,
                    status_code,
                    bytes_received,
                    ..
                } = outcome;
                FetchRecords {
                    http_experiment_failure: failure,
                    http_failed_operation: failed_operation,
                    status_code,
                    final_url: Some(final_url.to_string()),
                    queries: with_classic(observations.queries),
                    late_replies: observations.dns_late_replies,
                    tcp_connect: with_classic(observations.tcp_connect),
                    tls_handshakes: with_classic(observations.tls_handshakes),
                    requests: with_classic(observations.requests),
                    network_events: observations.network_events,
                    bytes_received,
                }
            }
            Some(Err(_)) => FetchRecords::without_fetch(
                Some(Failure::GenericTimeout),
                Some(Operation::HttpRoundTrip),
            ),
            None => match (dns_experiment_failure, first_primary_failure) {
                (Some(failure), _) => {
                    FetchRecords::without_fetch(Some(failure.clone()), Some(Operation::Resolve))
                }
                (None, Some((failure, operation))) => {
                    FetchRecords::without_fetch(Some(failure), Some(operation))
                }
                (None, None) => FetchRecords::without_fetch(
                    Some(Failure::Unknown("no endpoint to fetch from".to_string())),
                    None,
                ),
            },
        }
    }

    /// No observation of the fetch, only why it failed (or never started).
    fn without_fetch(failure: Option<Failure>, operation: Option<Operation>) -> Self {
        FetchRecords {
            http_experiment_failure: failure,
            http_failed_operation: operation,
            status_code: None,
            final_url: None,
            queries: Vec::new(),
            late_replies: Vec::new(),
            tcp_connect: Vec::new(),
            tls_handshakes: Vec::new(),
            requests: Vec::new(),
            network_events: Vec::new(),
            bytes_received: 0,
        }
    }
}

/// Something that carries OONI tags.
trait Tagged {
    fn tags_mut(&mut self) -> &mut Vec<String>;
}

macro_rules! tagged {
    ($($ty:ty),*) => {
        $(impl Tagged for $ty {
            fn tags_mut(&mut self) -> &mut Vec<String> {
                &mut self.tags
            }
        })*
    };
}

tagged!(DnsQuery, TcpConnect, TlsHandshake, HttpTransaction);

/// Marks the fetch's observations as classic (they come from the classic resolver's view).
fn with_classic<T: Tagged>(mut entries: Vec<T>) -> Vec<T> {
    for entry in &mut entries {
        let tags = entry.tags_mut();
        if !tags.iter().any(|tag| tag == "classic") {
            tags.insert(0, "classic".to_string());
        }
    }
    entries
}
