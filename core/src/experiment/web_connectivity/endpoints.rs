//! The endpoints step: which endpoints (address and port pairs) to measure, then a TCP connect
//! to every one of them in parallel, with a TLS handshake (the URL's host as SNI) where the
//! port speaks TLS; and what that adds to the measurement.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::WebConnectivityConfig;
use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::net::connection::http_alpn;
use crate::probe::fetch::Operation;
use crate::probe::flow::Flow;
use crate::probe::tcp::tcp_connect;
use crate::probe::throughput::{ByteCounter, CountingStream};
use crate::probe::tls::{tls_handshake, TlsOptions};
use crate::report::observations::{TcpConnect, TlsHandshake};
use crate::th::measured_ports;

/// One endpoint to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// Where to connect.
    pub(super) addr: SocketAddr,
    /// Whether to TLS-handshake after connecting.
    pub(super) tls: bool,
    /// The URL's port (not a TLS-only validation endpoint).
    pub(super) primary: bool,
}

/// The endpoints to measure, at most `max_endpoints`: the URL's port first for every address,
/// then 443 for TLS validation of http URLs (ports as [`measured_ports`] says).
pub(super) fn plan_endpoints(
    target: &Url,
    addresses: &[IpAddr],
    max_endpoints: usize,
) -> Vec<Endpoint> {
    let ports = measured_ports(target);
    let url_port = target.port_or_known_default().unwrap_or(80);
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for primary in [true, false] {
        for ip in addresses {
            for port in ports.iter().filter(|p| (p.port == url_port) == primary) {
                endpoints.push(Endpoint {
                    addr: SocketAddr::new(*ip, port.port),
                    tls: port.tls,
                    primary,
                });
            }
        }
    }
    endpoints.truncate(max_endpoints);
    endpoints
}

/// What the endpoint step observed at one endpoint.
#[derive(Debug)]
pub(super) struct EndpointOutcome {
    addr: SocketAddr,
    /// The URL's port (not a TLS-only validation endpoint).
    primary: bool,
    tcp: TcpConnect,
    tls: Option<TlsHandshake>,
    /// The first failure, `None` when connect (and handshake) succeeded.
    failure: Option<Failure>,
    bytes: u64,
}

/// Connects to every endpoint in parallel (handshaking where asked); results in input order.
pub(super) async fn measure_endpoints(
    clock: &MeasurementClock,
    config: &WebConnectivityConfig,
    host: &str,
    endpoints: &[Endpoint],
) -> Vec<EndpointOutcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, Endpoint { addr, tls, primary }) in endpoints.iter().copied().enumerate() {
        let clock = clock.clone();
        let host = host.to_string();
        let trust = config.trust.clone();
        let timeouts = config.timeouts.clone();
        tasks.spawn(async move {
            let flow = Flow::new(
                &clock,
                vec![
                    "classic".to_string(),
                    "tcptls_experiment".to_string(),
                    "depth=0".to_string(),
                ],
            );
            let (stream, tcp) = tcp_connect(&flow, addr, timeouts.steps.connect).await;
            let mut outcome = EndpointOutcome {
                addr,
                primary,
                tcp,
                tls: None,
                failure: None,
                bytes: 0,
            };
            match stream {
                Err(failure) => outcome.failure = Some(failure),
                Ok(stream) if tls => {
                    let counter = ByteCounter::new();
                    let stream = CountingStream::new(stream, counter.clone());
                    let options = TlsOptions {
                        server_name: host,
                        alpn: http_alpn(),
                        trust,
                        verify: true,
                        timeout: timeouts.steps.tls,
                    };
                    let (result, handshake) = tls_handshake(&flow, stream, addr, &options).await;
                    outcome.failure = result.err();
                    outcome.tls = Some(handshake);
                    outcome.bytes = counter.get();
                }
                Ok(_) => {}
            }
            (index, outcome)
        });
    }
    let mut outcomes: Vec<(usize, EndpointOutcome)> = Vec::with_capacity(endpoints.len());
    while let Some(joined) = tasks.join_next().await {
        // A task only fails if it panicked or the runtime is shutting down: skip it.
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }
    crate::ordered::sort_by_f64_key(&mut outcomes, |(index, _)| *index as f64);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

/// The endpoint the fetch goes through: the first of the URL's port whose connect (and
/// handshake) succeeded.
pub(super) fn fetch_endpoint(outcomes: &[EndpointOutcome]) -> Option<SocketAddr> {
    outcomes
        .iter()
        .find(|outcome| outcome.primary && outcome.failure.is_none())
        .map(|outcome| outcome.addr)
}

/// What the endpoint step adds to the measurement.
pub(super) struct EndpointRecords {
    /// Every connect, in endpoint order.
    pub(super) tcp_connect: Vec<TcpConnect>,
    /// Every handshake, in endpoint order.
    pub(super) tls_handshakes: Vec<TlsHandshake>,
    /// The bytes the handshakes received.
    pub(super) bytes_received: u64,
    /// The first failure on the URL's port, with the step that failed: why there is no fetch
    /// when no endpoint of the URL's port worked.
    pub(super) first_primary_failure: Option<(Failure, Operation)>,
}

impl EndpointRecords {
    /// The records of `outcomes`.
    pub(super) fn new(outcomes: &[EndpointOutcome]) -> Self {
        let mut tcp_connects: Vec<TcpConnect> = Vec::new();
        let mut tls_handshakes: Vec<TlsHandshake> = Vec::new();
        let mut bytes_received: u64 = 0;
        for outcome in outcomes {
            tcp_connects.push(outcome.tcp.clone());
            if let Some(tls) = &outcome.tls {
                tls_handshakes.push(tls.clone());
            }
            bytes_received += outcome.bytes;
        }
        let first_primary_failure =
            outcomes
                .iter()
                .filter(|outcome| outcome.primary)
                .find_map(|outcome| {
                    outcome.failure.clone().map(|failure| {
                        let operation = if outcome.tls.is_some() && outcome.tcp.status.success {
                            Operation::TlsHandshake
                        } else {
                            Operation::Connect
                        };
                        (failure, operation)
                    })
                });
        EndpointRecords {
            tcp_connect: tcp_connects,
            tls_handshakes,
            bytes_received,
            first_primary_failure,
        }
    }
}
