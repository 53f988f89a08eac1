//! The steps the messaging experiments are made of (resolve a name, connect to an endpoint,
//! GET a URL, POST to a URL) and a runner that measures a list of them with bounded
//! parallelism, one deadline for the whole list and cancellation. Each step reuses the
//! probes ([`crate::probe`]) and returns its observations in OONI's shapes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::net::trust::TrustAnchors;
use crate::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use crate::probe::fetch::{fetch, FetchConfig, Operation};
use crate::probe::flow::Flow;
use crate::probe::http::{canonical_header_name, default_request_headers};
use crate::probe::tcp::tcp_connect;
use crate::report::observations::{
    DnsQuery, HttpBody, HttpRequest, HttpResponse, HttpTransaction, NetworkEvent, TcpConnect,
    TlsHandshake, TorInfo,
};

/// The most addresses a connect step tries before giving up.
const MAX_ADDRESSES: usize = 2;
/// The most redirects a GET step follows.
pub(crate) const MAX_REDIRECTS: usize = 3;
/// The most bytes of a POST response head accepted.
pub(crate) const MAX_POST_HEAD: usize = 16 * 1024;

/// One thing to measure.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Resolve a name, nothing more.
    Resolve {
        /// The name.
        host: String,
    },
    /// Resolve (unless an IP literal) and connect over TCP.
    Connect {
        /// A name or an IP literal.
        host: String,
        /// The port.
        port: u16,
    },
    /// GET a URL (http or https, redirects followed), verifying certificates against `trust`
    /// when given, else the experiment's roots.
    Get {
        /// The URL.
        url: Url,
        /// Roots for this step only (Signal's).
        trust: Option<TrustAnchors>,
    },
    /// POST an empty body to a cleartext `http` URL (Telegram's data centres).
    Post {
        /// The URL.
        url: Url,
    },
}

impl Step {
    /// The endpoint in words (`host:port` or the URL), for reports and tables.
    pub(crate) fn label(&self) -> String {
        match self {
            Step::Resolve { host } => host.clone(),
            Step::Connect { host, port } => format_host_port(host, *port),
            Step::Get { url, .. } | Step::Post { url } => url.to_string(),
        }
    }

    /// The step a failure before anything was observed is attributed to.
    fn first_operation(&self) -> Operation {
        match self {
            Step::Resolve { .. } => Operation::Resolve,
            Step::Connect { host, .. } if host.parse::<IpAddr>().is_ok() => Operation::Connect,
            Step::Post { url } | Step::Get { url, .. }
                if url
                    .host_str()
                    .is_some_and(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()) =>
            {
                Operation::Connect
            }
            _ => Operation::Resolve,
        }
    }
}

/// `host:port`, with IPv6 literals in brackets.
fn format_host_port(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// How every step is measured.
#[derive(Debug, Clone)]
pub(crate) struct StepSettings {
    pub(crate) resolver: DnsTransport,
    pub(crate) dns: DnsOptions,
    pub(crate) connect_timeout: Duration,
    pub(crate) tls_timeout: Duration,
    pub(crate) http_timeout: Duration,
    /// The most body bytes kept (and read) per response.
    pub(crate) body_cap: usize,
    pub(crate) trust: TrustAnchors,
}

impl StepSettings {
    /// These settings with every timeout cut to end by `deadline`, so a step still running
    /// then fails at the stage it reached, with what it observed.
    fn within(&self, deadline: Instant) -> StepSettings {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let mut settings = self.clone();
        settings.dns.timeout = settings.dns.timeout.min(left);
        settings.connect_timeout = settings.connect_timeout.min(left);
        settings.tls_timeout = settings.tls_timeout.min(left);
        settings.http_timeout = settings.http_timeout.min(left);
        settings
    }
}

/// How long after the deadline a step that has not ended is abandoned.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// What one step observed.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepOutcome {
    pub(crate) queries: Vec<DnsQuery>,
    pub(crate) tcp_connect: Vec<TcpConnect>,
    pub(crate) tls_handshakes: Vec<TlsHandshake>,
    pub(crate) requests: Vec<HttpTransaction>,
    pub(crate) network_events: Vec<NetworkEvent>,
    /// The addresses a lookup returned (resolve and connect steps).
    pub(crate) addresses: Vec<IpAddr>,
    /// The step that failed, if any.
    pub(crate) failed_operation: Option<Operation>,
    /// Its failure.
    pub(crate) failure: Option<Failure>,
    /// The final HTTP status, if a response arrived.
    pub(crate) status_code: Option<u16>,
    /// Bytes received from the network.
    pub(crate) bytes_received: u64,
}

impl StepOutcome {
    fn failed(operation: Operation, failure: Failure) -> Self {
        StepOutcome {
            failed_operation: Some(operation),
            failure: Some(failure),
            ..StepOutcome::default()
        }
    }
}

/// The runner stopped because it was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cancelled;

/// Measures `steps`, at most `parallelism` at a time, each cut at `deadline` (every timeout of
/// a step ends by then, so a step still running fails with `generic_timeout_error` at the
/// stage it reached; one that still has not ended soon after is abandoned). Outcomes come back
/// in the order of `steps`.
pub(crate) async fn run_steps(
    settings: Arc<StepSettings>,
    clock: &MeasurementClock,
    steps: Vec<Step>,
    parallelism: usize,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<Vec<StepOutcome>, Cancelled> {
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut tasks = JoinSet::new();
    let count = steps.len();
    for (index, step) in steps.into_iter().enumerate() {
        let settings = settings.clone();
        let clock = clock.clone();
        let permits = permits.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let fallback = step.first_operation();
            let outcome = tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                // A backstop: each step's own timeouts already end at the deadline.
                _ = tokio::time::sleep_until(deadline + DEADLINE_GRACE) => {
                    Some(StepOutcome::failed(fallback, Failure::GenericTimeout))
                }
                outcome = async {
                    let Ok(_permit) = permits.acquire().await else {
                        return StepOutcome::failed(fallback, Failure::Unknown("runner closed".to_string()));
                    };
                    let settings = settings.within(deadline);
                    run_step(&settings, &clock, &step).await
                } => Some(outcome),
            };
            (index, outcome)
        });
    }
    let mut outcomes: Vec<Option<StepOutcome>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, Some(outcome))) => outcomes[index] = Some(outcome),
            Ok((_, None)) => return Err(Cancelled),
            Err(error) => tracing::error!("a messaging step task failed: {error}"),
        }
    }
    if cancel.is_cancelled() {
        return Err(Cancelled);
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                StepOutcome::failed(
                    Operation::Resolve,
                    Failure::Unknown("the step did not finish".to_string()),
                )
            })
        })
        .collect())
}

/// Measures one step.
async fn run_step(settings: &StepSettings, clock: &MeasurementClock, step: &Step) -> StepOutcome {
    match step {
        Step::Resolve { host } => {
            let mut outcome = StepOutcome::default();
            let flow = Flow::new(clock, Vec::new());
            resolve(settings, &flow, host, &mut outcome).await;
            outcome
        }
        Step::Connect { host, port } => {
            let mut outcome = StepOutcome::default();
            let flow = Flow::new(clock, Vec::new());
            if let Some((_, stream)) = connect(settings, &flow, host, *port, &mut outcome).await {
                drop(stream);
            }
            outcome
        }
        Step::Get { url, trust } => {
            let trust = trust.clone().unwrap_or_else(|| settings.trust.clone());
            let config = FetchConfig {
                resolver: settings.resolver.clone(),
                dns: settings.dns.clone(),
                connect_timeout: settings.connect_timeout,
                tls_timeout: settings.tls_timeout,
                http_timeout: settings.http_timeout,
                body_cap: settings.body_cap,
                max_redirects: MAX_REDIRECTS,
                trust,
                headers: default_request_headers(),
            };
            let fetched = fetch(clock, &config, url, None).await;
            let observations = fetched.observations;
            StepOutcome {
                addresses: Vec::new(),
                queries: observations.queries,
                tcp_connect: observations.tcp_connect,
                tls_handshakes: observations.tls_handshakes,
                requests: observations.requests,
                network_events: observations.network_events,
                failed_operation: fetched.failed_operation,
                failure: fetched.failure,
                status_code: fetched.status_code,
                bytes_received: fetched.bytes_received,
            }
        }
        Step::Post { url } => {
            let mut outcome = StepOutcome::default();
            let flow = Flow::new(clock, Vec::new());
            let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
            let port = url.port_or_known_default().unwrap_or(80);
            let Some((endpoint, stream)) = connect(settings, &flow, host, port, &mut outcome).await
            else {
                return outcome;
            };
            let (transaction, status, bytes) =
                http_post(&flow, stream, endpoint, url, settings).await;
            outcome.bytes_received = bytes;
            outcome.status_code = status;
            if let Some(failure) = &transaction.failure {
                outcome.failed_operation = Some(Operation::HttpRoundTrip);
                outcome.failure = Some(failure.clone());
            }
            outcome.requests.push(transaction);
            outcome
        }
    }
}

/// Resolves `host` into `outcome`; the addresses, or `None` (failure recorded).
async fn resolve(
    settings: &StepSettings,
    flow: &Flow,
    host: &str,
    outcome: &mut StepOutcome,
) -> Option<Vec<IpAddr>> {
    let lookup = dns_lookup(flow, &settings.resolver, host, &settings.dns).await;
    outcome.queries.extend(lookup.queries);
    outcome.addresses = lookup.addresses.clone();
    if let Some(failure) = lookup.failure {
        outcome.failed_operation = Some(Operation::Resolve);
        outcome.failure = Some(failure);
        return None;
    }
    if lookup.addresses.is_empty() {
        outcome.failed_operation = Some(Operation::Resolve);
        outcome.failure = Some(Failure::DnsNoAnswer);
        return None;
    }
    Some(lookup.addresses)
}

/// Resolves (unless literal) and connects to the first of at most [`MAX_ADDRESSES`] addresses
/// that answers.
async fn connect(
    settings: &StepSettings,
    flow: &Flow,
    host: &str,
    port: u16,
    outcome: &mut StepOutcome,
) -> Option<(SocketAddr, tokio::net::TcpStream)> {
    let addresses = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolve(settings, flow, host, outcome).await?,
    };
    let mut last_failure = None;
    for ip in addresses.into_iter().take(MAX_ADDRESSES) {
        let endpoint = SocketAddr::new(ip, port);
        let (result, observation) = tcp_connect(flow, endpoint, settings.connect_timeout).await;
        outcome.tcp_connect.push(observation);
        match result {
            Ok(stream) => {
                outcome.failed_operation = None;
                outcome.failure = None;
                return Some((endpoint, stream));
            }
            Err(failure) => last_failure = Some(failure),
        }
    }
    outcome.failed_operation = Some(Operation::Connect);
    outcome.failure = last_failure.or(Some(Failure::Unknown("no address to connect to".into())));
    None
}

/// Sends `POST <path> HTTP/1.1` with an empty body over `stream` and reads the response head
/// and at most `settings.body_cap` body bytes, within `settings.http_timeout`. Returns the
/// observation, the status (if a head arrived) and the bytes read.
async fn http_post<S>(
    flow: &Flow,
    stream: S,
    address: SocketAddr,
    url: &Url,
    settings: &StepSettings,
) -> (HttpTransaction, Option<u16>, u64)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let t0 = flow.clock.now();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut headers_list = vec![("Host".to_string(), host)];
    headers_list.extend(default_request_headers());
    headers_list.push(("Content-Length".to_string(), "0".to_string()));
    headers_list.push(("Connection".to_string(), "close".to_string()));
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = format!("POST {path} HTTP/1.1\r\n");
    for (name, value) in &headers_list {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");

    let mut received = Received::default();
    let exchanged = tokio::time::timeout(
        settings.http_timeout,
        post_exchange(stream, request.as_bytes(), settings.body_cap, &mut received),
    )
    .await;
    let failure = match exchanged {
        Ok(Ok(())) => None,
        Ok(Err(failure)) => Some(failure),
        Err(_) => Some(Failure::GenericTimeout),
    };
    let mut response = HttpResponse::default();
    let status = received.head.as_ref().map(|head| head.0);
    if let Some((code, headers)) = &received.head {
        response.code = i64::from(*code);
        response.headers = headers.iter().cloned().collect();
        response.headers_list = headers.clone();
        response.body = HttpBody::from_bytes(&received.body);
        response.body_is_truncated = received.truncated;
    }
    let transaction = HttpTransaction {
        network: Some("tcp".to_string()),
        address: Some(address.to_string()),
        alpn: Some(String::new()),
        failure,
        request: HttpRequest {
            body: HttpBody::default(),
            body_is_truncated: false,
            headers: headers_list.iter().cloned().collect(),
            headers_list,
            method: "POST".to_string(),
            tor: Some(TorInfo::default()),
            x_transport: Some("tcp".to_string()),
            url: url.to_string(),
        },
        response,
        t0,
        t: flow.clock.now(),
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
    };
    (transaction, status, received.bytes)
}

/// What a POST has received so far (kept when the timeout interrupts it).
#[derive(Debug, Default)]
struct Received {
    head: Option<(u16, Vec<(String, String)>)>,
    body: Vec<u8>,
    truncated: bool,
    bytes: u64,
}

async fn post_exchange<S>(
    mut stream: S,
    request: &[u8],
    body_cap: usize,
    received: &mut Received,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(request)
        .await
        .map_err(|e| Failure::from_io(&e))?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut content_length = None;
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| Failure::from_io(&e))?;
        received.bytes += n as u64;
        if n == 0 {
            return if received.head.is_some() {
                Ok(())
            } else {
                Err(Failure::Eof)
            };
        }
        if received.head.is_none() {
            buffer.extend_from_slice(&chunk[..n]);
            let Some(end) = find_head_end(&buffer) else {
                if buffer.len() > MAX_POST_HEAD {
                    return Err(Failure::Unknown("response head too large".to_string()));
                }
                continue;
            };
            let (status, headers) = parse_head(&buffer[..end])?;
            content_length = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok());
            received.head = Some((status, headers));
            let rest = buffer[end + 4..].to_vec();
            received.body.extend_from_slice(&rest);
        } else {
            received.body.extend_from_slice(&chunk[..n]);
        }
        if received.body.len() > body_cap {
            received.body.truncate(body_cap);
            received.truncated = true;
            return Ok(());
        }
        if content_length.is_some_and(|length| received.body.len() >= length) {
            return Ok(());
        }
    }
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Parses a status line and headers.
fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), Failure> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|code| code.parse::<u16>().ok());
    let Some(status) = status.filter(|_| version.starts_with("HTTP/")) else {
        return Err(Failure::Unknown("malformed HTTP response".to_string()));
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (canonical_header_name(name.trim()), value.trim().to_string()))
        .collect();
    Ok((status, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_malformed_ones_fail() {
        let (status, headers) =
            parse_head(b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nServer: x").unwrap();
        assert_eq!(status, 501);
        assert_eq!(headers[0], ("Content-Length".to_string(), "0".to_string()));
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(15));
    }

    #[test]
    fn labels_and_first_operations() {
        let step = Step::Connect {
            host: "::1".to_string(),
            port: 5222,
        };
        assert_eq!(step.label(), "[::1]:5222");
        assert_eq!(step.first_operation(), Operation::Connect);
        let step = Step::Connect {
            host: "e1.whatsapp.net".to_string(),
            port: 443,
        };
        assert_eq!(step.first_operation(), Operation::Resolve);
    }
}
