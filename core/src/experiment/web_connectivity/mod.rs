//! `web_connectivity`: is this website blocked here, and how?
//!
//! For one URL ([`measure_website`]):
//! 1. resolve the host with the classic resolver (the system resolver unless configured
//!    otherwise; its answers decide the verdict) and, in parallel, with the optional UDP and DoH
//!    resolvers (recorded in `x_do53` / `x_doh`; DoH is evidence when the test helper is
//!    unreachable);
//! 2. in parallel: call the test helper with the resolved endpoints, and TCP-connect (then
//!    TLS-handshake, with the URL's host as SNI) every endpoint, at most
//!    [`WebConnectivityConfig::max_endpoints`] of them. Ports follow the helper's rule
//!    ([`crate::th::measured_ports`]): an http URL without a port also gets a TLS handshake on
//!    443, only to prove its addresses valid for the name;
//! 3. fetch the URL ([`crate::probe::fetch`]) through the first endpoint of the URL's port
//!    whose connect (and handshake) succeeded, redirects measured hop by hop; no endpoint, no
//!    fetch;
//! 4. analyse ([`analysis::analyze`], a pure function) and emit one OONI measurement.
//!
//! [`measure_websites`] runs many URLs concurrently within a time and byte budget.
//!
//! # Test version
//!
//! The measurement says `test_version` **0.4.3**: OONI's tooling keys its interpretation of the
//! classic keys on `test_version`, and the classic keys here have 0.4.3 semantics (see
//! [`analysis`]) with the raw data in the shapes 0.4.3 and 0.5 share. Everything Kuzet adds is
//! under `x_` keys (`x_verdict`, `x_do53`, `x_doh`, `x_control_request`, ...), as the spec asks
//! of extensions. `software_name` tells Kuzet's measurements apart from OONI's own.
//!
//! # Bytes
//!
//! `bytes_received` counts: every byte read on the connections the probe opened (TLS
//! handshakes of the endpoint step, every hop of the fetch, handshakes included); the test
//! helper's answer body (not its headers or TLS overhead); and the DNS responses recorded
//! (`raw_response` of UDP and DoH queries, late UDP replies included). The system resolver's
//! traffic is not observable and counts as 0, as do bytes sent.

pub mod analysis;
pub mod explain;
pub mod kz_roots;
mod runner;
pub mod verdict;
pub mod x509;

/// The per-step timeouts, shared with `urlgetter`.
pub use crate::experiment::urlgetter::Timeouts as StepTimeouts;
pub use analysis::{analyze, Analysis, ClassicKeys, DnsOutcome, Observations};
pub use explain::explain_website;
pub use runner::{measure_websites, ProgressEvent, RunLimits, RunReport, SkipReason, UrlError};
pub use verdict::{Blocking, DnsConsistency, DnsTamper, TcpBlock, TlsBlock, Verdict};

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::clock::MeasurementClock;
use crate::error::Result;
use crate::experiment::urlgetter::parse_target_url;
use crate::failure::Failure;
use crate::net::connection::http_alpn;
use crate::net::http_client::{service_client, ServiceClient};
use crate::net::trust::TrustAnchors;
use crate::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use crate::probe::fetch::{fetch, FetchConfig, FetchOutcome, Operation};
use crate::probe::flow::Flow;
use crate::probe::http::default_request_headers;
use crate::probe::tcp::tcp_connect;
use crate::probe::throughput::{ByteCounter, CountingStream};
use crate::probe::tls::{tls_handshake, TlsOptions};
use crate::report::observations::{DnsQuery, TcpConnect, TlsHandshake};
use crate::report::{Measurement, ProbeNetwork, Software};
use crate::th::{
    call_test_helper_counted, measured_ports, BogonPolicy, ThRequest, ThResponse,
    DEFAULT_TH_BODY_CAP,
};

/// The experiment's `test_name`.
pub const TEST_NAME: &str = "web_connectivity";
/// The experiment's `test_version` (0.4.3 semantics for the classic keys; see the module docs).
pub const TEST_VERSION: &str = "0.4.3";

/// OONI's body cap: 512 KiB.
pub const DEFAULT_BODY_CAP: usize = 1 << 19;
/// OONI's redirect limit.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;
/// The default cap on endpoints (address and port pairs) measured per URL.
pub const DEFAULT_MAX_ENDPOINTS: usize = 8;

/// Timeouts of web_connectivity: the per-step timeouts every fetch uses, plus the test helper
/// call and the whole fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// DNS, TCP connect, TLS handshake and HTTP round trip (4 s, then 10 s each, as OONI).
    pub steps: StepTimeouts,
    /// The test helper call (30 s).
    pub th: Duration,
    /// The whole fetch, every redirect included (60 s); a fetch cut here records
    /// `generic_timeout_error` and no HTTP observation.
    pub fetch: Duration,
}

/// The default [`Timeouts::th`].
pub const DEFAULT_TH_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`Timeouts::fetch`].
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

impl Timeouts {
    /// Given step timeouts, with the test helper and whole-fetch timeouts at their defaults,
    /// stretched so neither is shorter than one HTTP round trip.
    pub fn from_steps(steps: StepTimeouts) -> Self {
        Timeouts {
            th: DEFAULT_TH_TIMEOUT.max(steps.http),
            fetch: DEFAULT_FETCH_TIMEOUT.max(steps.http),
            steps,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::from_steps(StepTimeouts::default())
    }
}

/// How `web_connectivity` measures.
#[derive(Debug, Clone)]
pub struct WebConnectivityConfig {
    /// The classic resolver, whose answers decide the verdict: the system resolver by default.
    pub resolver: DnsTransport,
    /// An extra DNS-over-UDP resolver (e.g. `udp://8.8.8.8:53`), recorded in `x_do53`; its
    /// late and duplicate replies go to `x_dns_duplicate_responses`. Off by default.
    pub udp_resolver: Option<DnsTransport>,
    /// An extra DoH resolver, recorded in `x_doh` and used as evidence when the test helper is
    /// unavailable. Off by default.
    pub doh_resolver: Option<DnsTransport>,
    /// The test helper (e.g. `https://th.example/`); without one most verdicts are
    /// `undetermined`.
    pub th_url: Option<Url>,
    /// Per-step timeouts.
    pub timeouts: Timeouts,
    /// The most body bytes kept per response (512 KiB).
    pub body_cap: usize,
    /// The largest test helper answer accepted.
    pub th_body_cap: usize,
    /// The most redirects followed (10).
    pub max_redirects: usize,
    /// The most endpoints (address and port pairs) connected to per URL (8).
    pub max_endpoints: usize,
    /// The roots certificates (of sites, DoH and the test helper) are checked against.
    pub trust: TrustAnchors,
    /// Who makes the measurement.
    pub software: Software,
    /// The probe's network, as far as known.
    pub network: ProbeNetwork,
    /// Which addresses count as bogons: on by default; labs turn it off or list their "public"
    /// networks.
    pub bogons: BogonPolicy,
}

impl Default for WebConnectivityConfig {
    fn default() -> Self {
        WebConnectivityConfig {
            resolver: DnsTransport::System,
            udp_resolver: None,
            doh_resolver: None,
            th_url: None,
            timeouts: Timeouts::default(),
            body_cap: DEFAULT_BODY_CAP,
            th_body_cap: DEFAULT_TH_BODY_CAP,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            trust: TrustAnchors::bundled(),
            software: Software::default(),
            network: ProbeNetwork::default(),
            bogons: BogonPolicy::default(),
        }
    }
}

/// One URL to measure, with its test-list category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetUrl {
    /// The URL.
    pub url: String,
    /// The Citizen Lab category code (`NEWS`, `POLR`, ...), if known.
    pub category_code: Option<String>,
}

impl TargetUrl {
    /// A URL without category.
    pub fn new(url: impl Into<String>) -> Self {
        TargetUrl {
            url: url.into(),
            category_code: None,
        }
    }
}

/// A short summary of one URL's measurement, for tables and progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSummary {
    /// The URL measured.
    pub url: String,
    /// Its category, if known.
    pub category_code: Option<String>,
    /// OONI's `blocking` (`None` is `null`).
    pub blocking: Option<Blocking>,
    /// OONI's `accessible`.
    pub accessible: Option<bool>,
    /// OONI's `dns_consistency`.
    pub dns_consistency: Option<DnsConsistency>,
    /// The classic resolver's failure, if any.
    pub dns_experiment_failure: Option<Failure>,
    /// The HTTP experiment's failure, if any.
    pub http_experiment_failure: Option<Failure>,
    /// Why the test helper could not be used, if it could not.
    pub control_failure: Option<Failure>,
    /// The final status code, if a response arrived.
    pub status_code: Option<u16>,
    /// The last URL fetched.
    pub final_url: Option<String>,
    /// Wall time spent.
    pub runtime: Duration,
}

/// The outcome of measuring one URL.
#[derive(Debug, Clone)]
pub struct WebConnectivityResult {
    /// The OONI measurement.
    pub measurement: Measurement,
    /// Kuzet's verdict (also in the measurement as `x_verdict`).
    pub verdict: Verdict,
    /// Bytes received for this URL (see the module docs for what is counted).
    pub bytes_received: u64,
    /// The summary.
    pub summary: WebSummary,
}

/// Measures `url`. An error means the URL itself is unusable; every network failure is a
/// recorded result inside the measurement.
pub async fn measure_website(
    config: &WebConnectivityConfig,
    url: &str,
    test_start_time: OffsetDateTime,
) -> Result<WebConnectivityResult> {
    let target = parse_target_url(url)?;
    let client = th_client(config);
    Ok(measure_target(
        config,
        client.as_ref(),
        &TargetUrl::new(url),
        target,
        test_start_time,
    )
    .await)
}

/// The client for test helper calls, or why there is none.
pub(crate) fn th_client(
    config: &WebConnectivityConfig,
) -> std::result::Result<ServiceClient, Failure> {
    service_client(&config.trust, config.timeouts.th).map_err(|error| {
        tracing::warn!("web_connectivity: {error}");
        Failure::Unknown("cannot build the HTTP client".to_string())
    })
}

/// What the endpoint step observed at one endpoint.
#[derive(Debug)]
struct EndpointOutcome {
    addr: SocketAddr,
    /// The URL's port (not a TLS-only validation endpoint).
    primary: bool,
    tcp: TcpConnect,
    tls: Option<TlsHandshake>,
    /// The first failure, `None` when connect (and handshake) succeeded.
    failure: Option<Failure>,
    bytes: u64,
}

pub(crate) async fn measure_target(
    config: &WebConnectivityConfig,
    client: std::result::Result<&ServiceClient, &Failure>,
    input: &TargetUrl,
    target: Url,
    test_start_time: OffsetDateTime,
) -> WebConnectivityResult {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let clock = MeasurementClock::start();
    let host = target
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let literal = host.parse::<IpAddr>().ok();
    let dns_options = DnsOptions {
        timeout: config.timeouts.steps.dns,
        trust: config.trust.clone(),
        ..DnsOptions::default()
    };

    // 1. DNS: the classic resolver, and the extra ones in parallel.
    let (system, udp, doh) = match literal {
        Some(_) => (None, None, None),
        None => {
            let classic = Flow::new(&clock, vec!["classic".into(), "depth=0".into()]);
            let extra = Flow::new(&clock, vec!["depth=0".into()]);
            let optional = |transport: &Option<DnsTransport>| {
                let transport = transport.clone();
                let extra = extra.clone();
                let host = host.clone();
                let options = dns_options.clone();
                async move {
                    match transport {
                        Some(transport) => {
                            Some(dns_lookup(&extra, &transport, &host, &options).await)
                        }
                        None => None,
                    }
                }
            };
            let (system, udp, doh) = tokio::join!(
                dns_lookup(&classic, &config.resolver, &host, &dns_options),
                optional(&config.udp_resolver),
                optional(&config.doh_resolver),
            );
            (Some(system), udp, doh)
        }
    };
    let addresses: Vec<IpAddr> = match (literal, &system) {
        (Some(ip), _) => vec![ip],
        (None, Some(lookup)) => lookup.addresses.clone(),
        (None, None) => Vec::new(),
    };

    // 2. The endpoints to measure: the URL's port first for every address, then 443 for TLS
    // validation of http URLs.
    let ports = measured_ports(&target);
    let url_port = target.port_or_known_default().unwrap_or(80);
    let mut endpoints: Vec<(SocketAddr, bool, bool)> = Vec::new();
    for primary in [true, false] {
        for ip in &addresses {
            for port in ports.iter().filter(|p| (p.port == url_port) == primary) {
                endpoints.push((SocketAddr::new(*ip, port.port), port.tls, primary));
            }
        }
    }
    endpoints.truncate(config.max_endpoints);
    let th_request = ThRequest {
        http_request: target.to_string(),
        http_request_headers: crate::ordered::btree_map(
            default_request_headers()
                .into_iter()
                .map(|(name, value)| (name, vec![value])),
        ),
        tcp_connect: endpoints
            .iter()
            .map(|(addr, _, _)| addr.to_string())
            .collect(),
        x_quic_enabled: false,
    };

    // 3. The test helper, in parallel with the endpoints and the fetch.
    let th_call = async {
        match (&config.th_url, client) {
            (None, _) => (
                Err(Failure::Unknown("no test helper configured".to_string())),
                0,
            ),
            (Some(_), Err(failure)) => (Err(failure.clone()), 0),
            (Some(th_url), Ok(client)) => {
                call_test_helper_counted(
                    client,
                    th_url,
                    &th_request,
                    config.timeouts.th,
                    config.th_body_cap,
                )
                .await
            }
        }
    };
    let probe = async {
        let outcomes = measure_endpoints(&clock, config, &host, &endpoints).await;
        let chosen = outcomes
            .iter()
            .find(|outcome| outcome.primary && outcome.failure.is_none())
            .map(|outcome| outcome.addr);
        let fetched = match chosen {
            Some(endpoint) => {
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
                let fetching = fetch(&clock, &fetch_config, &target, Some(endpoint));
                Some(tokio::time::timeout(config.timeouts.fetch, fetching).await)
            }
            None => None,
        };
        (outcomes, fetched)
    };
    let ((th_result, th_bytes), (outcomes, fetched)) = tokio::join!(th_call, probe);

    // 4. Gather the observations.
    let mut queries: Vec<DnsQuery> = Vec::new();
    let mut late: Vec<DnsQuery> = Vec::new();
    let mut pending_late = Vec::new();
    let system_outcome = system.as_ref().map(|lookup| DnsOutcome {
        addresses: lookup.addresses.clone(),
        failure: lookup.failure.clone(),
    });
    let doh_outcome = doh.as_ref().map(|lookup| DnsOutcome {
        addresses: lookup.addresses.clone(),
        failure: lookup.failure.clone(),
    });
    let dns_experiment_failure = system.as_ref().and_then(|lookup| lookup.failure.clone());
    let mut do53_queries = Vec::new();
    let mut doh_queries = Vec::new();
    if let Some(lookup) = system {
        queries.extend(lookup.queries);
        pending_late.push(lookup.late_replies);
    }
    if let Some(lookup) = udp {
        do53_queries = lookup.queries;
        pending_late.push(lookup.late_replies);
    }
    if let Some(lookup) = doh {
        doh_queries = lookup.queries;
        pending_late.push(lookup.late_replies);
    }

    let mut tcp_connects: Vec<TcpConnect> = Vec::new();
    let mut tls_handshakes: Vec<TlsHandshake> = Vec::new();
    let mut bytes_received: u64 = th_bytes;
    for outcome in &outcomes {
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
    let mut requests = Vec::new();
    let mut network_events = Vec::new();
    let (http_experiment_failure, http_failed_operation, fetch_summary) = match fetched {
        Some(Ok(outcome)) => {
            let FetchOutcome {
                observations,
                failed_operation,
                failure,
                final_url,
                status_code,
                bytes_received: fetch_bytes,
                ..
            } = outcome;
            bytes_received += fetch_bytes;
            queries.extend(with_classic(observations.queries));
            late.extend(observations.dns_late_replies);
            tcp_connects.extend(with_classic(observations.tcp_connect));
            tls_handshakes.extend(with_classic(observations.tls_handshakes));
            requests = with_classic(observations.requests);
            network_events = observations.network_events;
            (
                failure,
                failed_operation,
                (status_code, Some(final_url.to_string())),
            )
        }
        Some(Err(_)) => (
            Some(Failure::GenericTimeout),
            Some(Operation::HttpRoundTrip),
            (None, None),
        ),
        None => match (&dns_experiment_failure, first_primary_failure) {
            (Some(failure), _) => (
                Some(failure.clone()),
                Some(Operation::Resolve),
                (None, None),
            ),
            (None, Some((failure, operation))) => (Some(failure), Some(operation), (None, None)),
            (None, None) => (
                Some(Failure::Unknown("no endpoint to fetch from".to_string())),
                None,
                (None, None),
            ),
        },
    };
    for pending in pending_late {
        late.extend(pending.collect().await);
    }
    crate::ordered::sort_by_f64_key(&mut late, |query| query.t);
    bytes_received += dns_bytes(
        queries
            .iter()
            .chain(&do53_queries)
            .chain(&doh_queries)
            .chain(&late),
    );

    let (control, control_failure) = match th_result {
        Ok(control) => (Some(control), None),
        Err(failure) => (None, Some(failure)),
    };
    let observations = Observations {
        url: target.clone(),
        system_dns: system_outcome,
        doh_dns: doh_outcome,
        tcp_connect: tcp_connects,
        tls_handshakes,
        requests,
        http_experiment_failure,
        http_failed_operation,
        control,
        control_failure,
    };
    let analysis = analyze(&observations, &config.bogons);
    let runtime = started.elapsed();

    let mut measurement = Measurement::new(
        TEST_NAME,
        TEST_VERSION,
        Some(input.url.clone()),
        &config.software,
        &config.network,
        test_start_time,
        started_at,
    );
    measurement.extensions = crate::ordered::extensions(&[
        ("dnst", 0),
        ("httpt", 0),
        ("netevents", 0),
        ("tcpconnect", 0),
        ("tlshandshake", 0),
    ]);
    measurement.test_helpers = config.th_url.as_ref().map(
        |th_url| serde_json::json!({"backend": {"address": th_url.as_str(), "type": "https"}}),
    );
    measurement.test_runtime = runtime.as_secs_f64();
    measurement.test_keys = test_keys(TestKeys {
        observations: &observations,
        analysis: &analysis,
        queries: &queries,
        network_events: &network_events,
        late: &late,
        do53_queries: &do53_queries,
        doh_queries: &doh_queries,
        control_request: &th_request,
        dns_experiment_failure: &dns_experiment_failure,
        bytes_received,
    });

    let summary = WebSummary {
        url: input.url.clone(),
        category_code: input.category_code.clone(),
        blocking: analysis.classic.blocking,
        accessible: analysis.classic.accessible,
        dns_consistency: analysis.classic.dns_consistency,
        dns_experiment_failure,
        http_experiment_failure: observations.http_experiment_failure.clone(),
        control_failure: observations.control_failure.clone(),
        status_code: fetch_summary.0,
        final_url: fetch_summary.1,
        runtime,
    };
    WebConnectivityResult {
        measurement,
        verdict: analysis.verdict,
        bytes_received,
        summary,
    }
}

/// Connects to every endpoint in parallel (handshaking where asked); results in input order.
async fn measure_endpoints(
    clock: &MeasurementClock,
    config: &WebConnectivityConfig,
    host: &str,
    endpoints: &[(SocketAddr, bool, bool)],
) -> Vec<EndpointOutcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (addr, tls, primary)) in endpoints.iter().copied().enumerate() {
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

tagged!(
    DnsQuery,
    TcpConnect,
    TlsHandshake,
    crate::report::observations::HttpTransaction
);

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

/// The bytes of the DNS responses recorded.
fn dns_bytes<'a>(queries: impl Iterator<Item = &'a DnsQuery>) -> u64 {
    queries
        .filter_map(|query| query.raw_response.as_deref())
        .filter_map(|raw| base64::engine::general_purpose::STANDARD.decode(raw).ok())
        .map(|bytes| bytes.len() as u64)
        .sum()
}

/// What goes into the test keys besides the analysis' observations.
struct TestKeys<'a> {
    observations: &'a Observations,
    analysis: &'a Analysis,
    queries: &'a [DnsQuery],
    network_events: &'a [crate::report::observations::NetworkEvent],
    late: &'a [DnsQuery],
    do53_queries: &'a [DnsQuery],
    doh_queries: &'a [DnsQuery],
    control_request: &'a ThRequest,
    dns_experiment_failure: &'a Option<Failure>,
    bytes_received: u64,
}

/// web_connectivity's test keys (ts-017, 0.4.3), plus Kuzet's `x_` extras.
fn test_keys(keys: TestKeys<'_>) -> serde_json::Value {
    let observations = keys.observations;
    let classic = &keys.analysis.classic;
    let control: Option<&ThResponse> = observations.control.as_ref();
    serde_json::json!({
        "agent": "redirect",
        "client_resolver": null,
        "retries": null,
        "socksproxy": null,
        "queries": keys.queries,
        "tcp_connect": observations.tcp_connect,
        "tls_handshakes": observations.tls_handshakes,
        "requests": observations.requests,
        "network_events": keys.network_events,
        "control": control,
        "control_failure": observations.control_failure,
        "dns_experiment_failure": keys.dns_experiment_failure,
        "http_experiment_failure": observations.http_experiment_failure,
        "dns_consistency": classic.dns_consistency,
        "body_proportion": classic.body_proportion,
        "body_length_match": classic.body_length_match,
        "status_code_match": classic.status_code_match,
        "headers_match": classic.headers_match,
        "title_match": classic.title_match,
        "blocking": classic.blocking,
        "accessible": classic.accessible,
        "x_dns_duplicate_responses": keys.late,
        "x_control_request": keys.control_request,
        "x_do53": {"network_events": [], "queries": keys.do53_queries},
        "x_doh": {
            "network_events": [],
            "queries": keys.doh_queries,
            "requests": [],
            "tcp_connect": [],
            "tls_handshakes": [],
        },
        "x_failed_operation": observations.http_failed_operation.map(Operation::as_str),
        "x_verdict": keys.analysis.verdict,
        "x_bytes_received": keys.bytes_received,
    })
}
