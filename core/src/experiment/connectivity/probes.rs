//! The cheap probes of one round, all in parallel, each bounded by its timeout: the local
//! resolver (one lookup per anchor name), every anchor by name and by pinned IP, and the
//! captive-portal check. Bytes are counted on every socket.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use url::Url;

use super::config::{Anchor, AnchorProbe, CaptiveCheckConfig, ConnectivityConfig};
use crate::clock::MeasurementClock;
use crate::experiment::connectivity::{AnchorGroup, AnchorResult, CaptiveCheck};
use crate::failure::Failure;
use crate::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use crate::probe::flow::Flow;
use crate::probe::http::{default_request_headers, http_get, HttpGetSpec};
use crate::probe::tcp::tcp_connect;
use crate::probe::tls::{tls_handshake, TlsOptions};

/// The most body bytes the captive check and `http_get` anchors keep.
pub const BODY_CAP: usize = 8 * 1024;
/// Estimated bytes on the wire per TCP connection beyond its payload (SYN, SYN-ACK, ACKs, FIN
/// exchange: about 8 packets of 40 to 60 bytes of headers).
pub const TCP_OVERHEAD_ESTIMATE: u64 = 400;
/// Estimated bytes of one name lookup through the local resolver (A and AAAA queries and
/// answers, with UDP/IP headers), which the system resolver does not let us count.
pub const DNS_LOOKUP_ESTIMATE: u64 = 300;

/// Bytes counted on the sockets of a check, plus the estimates for what cannot be counted.
#[derive(Debug, Default)]
pub struct ByteCounter {
    sent: AtomicU64,
    received: AtomicU64,
    estimated: AtomicU64,
}

/// What a check used, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BytesUsed {
    /// Payload bytes written to sockets (TLS records, HTTP requests).
    pub sent: u64,
    /// Payload bytes read from sockets.
    pub received: u64,
    /// Estimated headers and name lookups ([`TCP_OVERHEAD_ESTIMATE`] per connection,
    /// [`DNS_LOOKUP_ESTIMATE`] per lookup).
    pub estimated_overhead: u64,
    /// All of them together.
    pub total: u64,
}

impl ByteCounter {
    /// The totals so far.
    pub fn snapshot(&self) -> BytesUsed {
        let sent = self.sent.load(Ordering::Relaxed);
        let received = self.received.load(Ordering::Relaxed);
        let estimated_overhead = self.estimated.load(Ordering::Relaxed);
        BytesUsed {
            sent,
            received,
            estimated_overhead,
            total: sent + received + estimated_overhead,
        }
    }

    fn estimate(&self, bytes: u64) {
        self.estimated.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A stream that counts what passes through it.
struct Counted<S> {
    inner: S,
    counter: Arc<ByteCounter>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before) as u64;
        self.counter.received.fetch_add(read, Ordering::Relaxed);
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &result {
            self.counter.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Which step of a probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The name lookup.
    Resolve,
    /// The TCP connect.
    Connect,
    /// The TLS handshake.
    TlsHandshake,
    /// The HTTP request.
    HttpRequest,
}

/// One way of reaching an anchor (by name or by IP).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathOutcome {
    /// Reached.
    pub ok: bool,
    /// The step that failed.
    pub failed_step: Option<Step>,
    /// Its failure.
    pub failure: Option<Failure>,
    /// By IP only: connected, but the handshake was not repeated because the name answered.
    pub handshake_skipped: bool,
    /// Time taken, in milliseconds.
    pub t_ms: u64,
}

impl PathOutcome {
    fn failed(step: Step, failure: Failure, started: Instant) -> PathOutcome {
        PathOutcome {
            ok: false,
            failed_step: Some(step),
            failure: Some(failure),
            handshake_skipped: false,
            t_ms: elapsed_ms(started),
        }
    }
}

/// One anchor's full outcome in one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnchorReport {
    /// The anchor's name.
    pub name: String,
    /// Its group.
    pub group: AnchorGroup,
    /// Its operator.
    pub operator: String,
    /// How it was probed (`tcp_connect`, `tls_handshake`, `http_get`).
    pub probe: &'static str,
    /// Its port.
    pub port: u16,
    /// Its pinned addresses (ours, from the configuration; never the device's).
    pub pinned_ips: Vec<IpAddr>,
    /// Reached by name (through the resolver).
    pub by_name: PathOutcome,
    /// Reached at its first pinned IP; `None` without one.
    pub by_ip: Option<PathOutcome>,
}

impl AnchorReport {
    /// The decision's view: reached by name / by IP, and the more telling failure (by IP
    /// first: it says whether the host itself is reachable).
    pub fn result(&self) -> AnchorResult {
        let failure = self
            .by_ip
            .as_ref()
            .and_then(|p| p.failure.clone())
            .or_else(|| self.by_name.failure.clone());
        let reachable = self.by_name.ok || self.by_ip.as_ref().is_some_and(|p| p.ok);
        AnchorResult {
            name: self.name.clone(),
            group: self.group,
            operator: self.operator.clone(),
            by_name: Some(self.by_name.ok),
            by_ip: self.by_ip.as_ref().map(|p| p.ok),
            failure: if reachable { None } else { failure },
        }
    }
}

/// The local resolver's outcome in one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolverReport {
    /// `getaddrinfo`, `udp`, `doh` or `dot`.
    pub engine: &'static str,
    /// Names looked up.
    pub lookups: usize,
    /// Names that got at least one address.
    pub answered: usize,
    /// The first failure seen.
    pub failure: Option<Failure>,
}

impl ResolverReport {
    /// The decision's view: one `local_resolver` entry.
    pub fn result(&self) -> AnchorResult {
        AnchorResult {
            name: "local resolver".to_string(),
            group: AnchorGroup::LocalResolver,
            operator: String::new(),
            by_name: Some(self.answered > 0),
            by_ip: None,
            failure: if self.answered > 0 {
                None
            } else {
                self.failure.clone()
            },
        }
    }
}

/// The captive check's outcome in one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptiveReport {
    /// The URL fetched (ours, from the configuration).
    pub url: String,
    /// What came back.
    pub result: CaptiveCheck,
    /// Time taken, in milliseconds.
    pub t_ms: u64,
}

/// Everything one round observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundReport {
    /// Each anchor.
    pub anchors: Vec<AnchorReport>,
    /// The local resolver.
    pub resolver: ResolverReport,
    /// The captive check, if configured.
    pub captive: Option<CaptiveReport>,
}

/// Runs one round: every probe in parallel.
pub async fn run_round(
    config: &ConnectivityConfig,
    resolver: &DnsTransport,
    counter: &Arc<ByteCounter>,
) -> RoundReport {
    let clock = MeasurementClock::start();
    let anchors = futures_join_all(
        config
            .anchors
            .iter()
            .map(|anchor| probe_anchor(config, resolver, anchor, &clock, counter)),
    );
    let captive = async {
        match &config.captive_check {
            Some(check) => Some(captive_check(config, resolver, check, &clock, counter).await),
            None => None,
        }
    };
    let (outcomes, captive) = tokio::join!(anchors, captive);
    let mut anchors = Vec::new();
    let mut resolver_report = ResolverReport {
        engine: resolver.engine(),
        lookups: 0,
        answered: 0,
        failure: None,
    };
    for (report, lookup_ok, lookup_failure) in outcomes {
        resolver_report.lookups += 1;
        if lookup_ok {
            resolver_report.answered += 1;
        } else if resolver_report.failure.is_none() {
            resolver_report.failure = lookup_failure;
        }
        anchors.push(report);
    }
    RoundReport {
        anchors,
        resolver: resolver_report,
        captive,
    }
}

/// Polls every future to completion, concurrently, keeping their order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut results: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, future) in set.iter_mut().enumerate() {
            if results[i].is_some() {
                continue;
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(output) => results[i] = Some(output),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// One anchor, by name and by IP at the same time. Also returns whether its name resolved
/// (and the lookup's failure), for the resolver's report.
///
/// To stay within a few KB, the path by IP always connects but completes its handshake (and
/// request) only when the path by name did not succeed: when the name answered, the host is
/// reachable and a second handshake would only repeat it (`handshake_skipped`).
async fn probe_anchor(
    config: &ConnectivityConfig,
    resolver: &DnsTransport,
    anchor: &Anchor,
    clock: &MeasurementClock,
    counter: &Arc<ByteCounter>,
) -> (AnchorReport, bool, Option<Failure>) {
    let (name_done, name_result) = tokio::sync::watch::channel(None::<bool>);
    let by_name = async {
        let started = Instant::now();
        let flow = Flow::new(clock, vec!["connectivity".to_string()]);
        let options = DnsOptions {
            timeout: config.timeouts.dns,
            trust: config.trust.clone(),
            ..DnsOptions::default()
        };
        counter.estimate(DNS_LOOKUP_ESTIMATE);
        let lookup = dns_lookup(&flow, resolver, &anchor.name, &options).await;
        let address = lookup
            .addresses
            .iter()
            .find(|ip| ip.is_ipv4())
            .or(lookup.addresses.first())
            .copied();
        let result = match address {
            Some(ip) => {
                let outcome = probe_address(config, anchor, ip, clock, counter, None).await;
                (outcome, true, None)
            }
            None => {
                let failure = lookup.failure.unwrap_or(Failure::DnsNoAnswer);
                (
                    PathOutcome::failed(Step::Resolve, failure.clone(), started),
                    false,
                    Some(failure),
                )
            }
        };
        let _ = name_done.send(Some(result.0.ok));
        result
    };
    let by_ip = async {
        match anchor.pinned_ips.first() {
            Some(ip) => Some(
                probe_address(
                    config,
                    anchor,
                    *ip,
                    clock,
                    counter,
                    Some(name_result.clone()),
                )
                .await,
            ),
            None => None,
        }
    };
    let ((by_name, resolved, lookup_failure), by_ip) = tokio::join!(by_name, by_ip);
    let report = AnchorReport {
        name: anchor.name.clone(),
        group: anchor.group,
        operator: anchor.operator.clone(),
        probe: anchor.probe.as_str(),
        port: anchor.port,
        pinned_ips: anchor.pinned_ips.clone(),
        by_name,
        by_ip,
    };
    (report, resolved, lookup_failure)
}

/// Reaches `ip` the anchor's way: a TCP connect, then (unless `skip_if` reports that the
/// name already answered) the handshake and request, each stage within the probe timeout.
async fn probe_address(
    config: &ConnectivityConfig,
    anchor: &Anchor,
    ip: IpAddr,
    clock: &MeasurementClock,
    counter: &Arc<ByteCounter>,
    skip_if: Option<tokio::sync::watch::Receiver<Option<bool>>>,
) -> PathOutcome {
    let started = Instant::now();
    let endpoint = SocketAddr::new(ip, anchor.port);
    let flow = Flow::new(clock, vec!["connectivity".to_string()]);
    let timeout = config.timeouts.probe;
    counter.estimate(TCP_OVERHEAD_ESTIMATE);
    let (stream, _) = tcp_connect(&flow, endpoint, timeout).await;
    let stream = match stream {
        Ok(stream) => stream,
        Err(failure) => return PathOutcome::failed(Step::Connect, failure, started),
    };
    let mut stream = Counted {
        inner: stream,
        counter: counter.clone(),
    };
    let connected = PathOutcome {
        ok: true,
        failed_step: None,
        failure: None,
        handshake_skipped: false,
        t_ms: elapsed_ms(started),
    };
    if anchor.probe == AnchorProbe::TcpConnect {
        return connected;
    }
    if let Some(mut name_result) = skip_if {
        // The path by name is bounded by its own timeouts; a dropped sender counts as failed.
        let name_ok = match name_result.wait_for(Option::is_some).await {
            Ok(value) => *value == Some(true),
            Err(_) => false,
        };
        if name_ok {
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            return PathOutcome {
                handshake_skipped: true,
                ..connected
            };
        }
    }
    // The stage reached, to name the one the timeout interrupted.
    let reached = AtomicU8::new(1);
    let upper = async {
        match &anchor.probe {
            AnchorProbe::HttpGet(path) if anchor.port == 80 => {
                reached.store(2, Ordering::Relaxed);
                http_probe(&flow, stream, endpoint, anchor, path, "http", timeout).await
            }
            probe => {
                let options = TlsOptions {
                    server_name: anchor.name.trim_end_matches('.').to_string(),
                    alpn: vec!["http/1.1".to_string()],
                    trust: config.trust.clone(),
                    verify: true,
                    timeout,
                };
                let (tls, _) = tls_handshake(&flow, stream, endpoint, &options).await;
                let tls = tls.map_err(|f| (Step::TlsHandshake, f))?;
                match probe {
                    AnchorProbe::HttpGet(path) => {
                        reached.store(2, Ordering::Relaxed);
                        http_probe(&flow, tls, endpoint, anchor, path, "https", timeout).await
                    }
                    _ => Ok(()),
                }
            }
        }
    };
    match tokio::time::timeout(timeout, upper).await {
        Ok(Ok(())) => PathOutcome {
            t_ms: elapsed_ms(started),
            ..connected
        },
        Ok(Err((step, failure))) => PathOutcome::failed(step, failure, started),
        Err(_) => {
            let step = match reached.load(Ordering::Relaxed) {
                1 => Step::TlsHandshake,
                _ => Step::HttpRequest,
            };
            PathOutcome::failed(step, Failure::GenericTimeout, started)
        }
    }
}

async fn http_probe<S>(
    flow: &Flow,
    stream: S,
    endpoint: SocketAddr,
    anchor: &Anchor,
    path: &str,
    scheme: &str,
    timeout: Duration,
) -> Result<(), (Step, Failure)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let url = Url::parse(&format!("{scheme}://{}{path}", anchor.name)).map_err(|e| {
        (
            Step::HttpRequest,
            Failure::Unknown(format!("bad anchor URL: {e}")),
        )
    })?;
    let spec = HttpGetSpec {
        url,
        headers: default_request_headers(),
        cookie: None,
        body_cap: BODY_CAP,
        timeout,
    };
    let exchange = http_get(flow, stream, endpoint, "http/1.1", &spec).await;
    match (exchange.status, exchange.transaction.failure) {
        (Some(_), _) => Ok(()),
        (None, Some(failure)) => Err((Step::HttpRequest, failure)),
        (None, None) => Err((
            Step::HttpRequest,
            Failure::Unknown("no response".to_string()),
        )),
    }
}

/// The captive-portal / injection check: GET the URL, compare with the known answer.
async fn captive_check(
    config: &ConnectivityConfig,
    resolver: &DnsTransport,
    check: &CaptiveCheckConfig,
    clock: &MeasurementClock,
    counter: &Arc<ByteCounter>,
) -> CaptiveReport {
    let started = Instant::now();
    let flow = Flow::new(clock, vec!["captive".to_string()]);
    let steps = async {
        let url = Url::parse(&check.url).map_err(|e| Failure::Unknown(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let options = DnsOptions {
                    timeout: config.timeouts.dns,
                    trust: config.trust.clone(),
                    ..DnsOptions::default()
                };
                counter.estimate(DNS_LOOKUP_ESTIMATE);
                let lookup = dns_lookup(&flow, resolver, &host, &options).await;
                let first = lookup
                    .addresses
                    .iter()
                    .find(|ip| ip.is_ipv4())
                    .or(lookup.addresses.first())
                    .copied();
                first.ok_or_else(|| lookup.failure.unwrap_or(Failure::DnsNoAnswer))?
            }
        };
        let endpoint = SocketAddr::new(ip, port);
        counter.estimate(TCP_OVERHEAD_ESTIMATE);
        let (stream, _) = tcp_connect(&flow, endpoint, config.timeouts.probe).await;
        let stream: TcpStream = stream?;
        let stream = Counted {
            inner: stream,
            counter: counter.clone(),
        };
        let spec = HttpGetSpec {
            url: url.clone(),
            headers: default_request_headers(),
            cookie: None,
            body_cap: BODY_CAP,
            timeout: config.timeouts.probe,
        };
        let exchange = http_get(&flow, stream, endpoint, "http/1.1", &spec).await;
        let Some(status) = exchange.status else {
            return Err(exchange
                .transaction
                .failure
                .unwrap_or(Failure::Unknown("no response".to_string())));
        };
        let location = exchange
            .transaction
            .response
            .headers_list
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("location"))
            .map(|(_, value)| value.clone());
        Ok(judge_captive(
            check,
            &url,
            status,
            &exchange.body,
            location.as_deref(),
        ))
    };
    let result =
        match tokio::time::timeout(config.timeouts.probe + config.timeouts.dns, steps).await {
            Ok(Ok(result)) => result,
            Ok(Err(failure)) => CaptiveCheck::Failed { failure },
            Err(_) => CaptiveCheck::Failed {
                failure: Failure::GenericTimeout,
            },
        };
    CaptiveReport {
        url: check.url.clone(),
        result,
        t_ms: elapsed_ms(started),
    }
}

/// Compares the captive check's answer with the known one. Only the redirect's host is kept,
/// never its path or the body.
pub fn judge_captive(
    check: &CaptiveCheckConfig,
    url: &Url,
    status: u16,
    body: &[u8],
    location: Option<&str>,
) -> CaptiveCheck {
    let body_ok = match &check.expect_body_contains {
        Some(needle) => String::from_utf8_lossy(body).contains(needle.as_str()),
        None => true,
    };
    if status == check.expect_status && body_ok {
        return CaptiveCheck::Expected;
    }
    if (300..400).contains(&status) {
        if let Some(location) = location {
            let host = url
                .join(location)
                .ok()
                .and_then(|target| target.host_str().map(str::to_string))
                .unwrap_or_default();
            return CaptiveCheck::Redirected { host };
        }
    }
    CaptiveCheck::UnexpectedContent { status }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, body: Option<&str>) -> CaptiveCheckConfig {
        CaptiveCheckConfig {
            url: "http://captive.test/generate_204".to_string(),
            expect_status: status,
            expect_body_contains: body.map(str::to_string),
        }
    }

    #[test]
    fn captive_answers_are_judged() {
        let url = Url::parse("http://captive.test/generate_204").unwrap();
        let c = check(204, None);
        assert_eq!(
            judge_captive(&c, &url, 204, b"", None),
            CaptiveCheck::Expected
        );
        assert_eq!(
            judge_captive(
                &c,
                &url,
                302,
                b"",
                Some("https://portal.example/login?mac=1")
            ),
            CaptiveCheck::Redirected {
                host: "portal.example".to_string()
            }
        );
        assert_eq!(
            judge_captive(&c, &url, 302, b"", Some("/elsewhere")),
            CaptiveCheck::Redirected {
                host: "captive.test".to_string()
            }
        );
        assert_eq!(
            judge_captive(&c, &url, 200, b"<html>login</html>", None),
            CaptiveCheck::UnexpectedContent { status: 200 }
        );
        let c = check(200, Some("Success"));
        assert_eq!(
            judge_captive(&c, &url, 200, b"<b>Success</b>", None),
            CaptiveCheck::Expected
        );
        assert_eq!(
            judge_captive(&c, &url, 200, b"portal", None),
            CaptiveCheck::UnexpectedContent { status: 200 }
        );
    }

    #[test]
    fn the_more_telling_failure_is_kept() {
        let started = Instant::now();
        let report = AnchorReport {
            name: "a.test".to_string(),
            group: AnchorGroup::Domestic,
            operator: "op".to_string(),
            probe: "tls_handshake",
            port: 443,
            pinned_ips: vec!["10.77.5.1".parse().unwrap()],
            by_name: PathOutcome::failed(Step::Resolve, Failure::DnsNxdomain, started),
            by_ip: Some(PathOutcome::failed(
                Step::Connect,
                Failure::GenericTimeout,
                started,
            )),
        };
        let result = report.result();
        assert_eq!(result.by_name, Some(false));
        assert_eq!(result.by_ip, Some(false));
        assert_eq!(result.failure, Some(Failure::GenericTimeout));
        let mut reached = report.clone();
        reached.by_ip = Some(PathOutcome {
            ok: true,
            failed_step: None,
            failure: None,
            handshake_skipped: true,
            t_ms: 1,
        });
        assert!(reached.result().reachable());
        assert_eq!(reached.result().failure, None);
    }

    #[test]
    fn bytes_add_up() {
        let counter = ByteCounter::default();
        counter.estimate(100);
        counter.sent.fetch_add(10, Ordering::Relaxed);
        counter.received.fetch_add(5, Ordering::Relaxed);
        let used = counter.snapshot();
        assert_eq!(used.total, 115);
    }
}
