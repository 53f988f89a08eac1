//! One trial: a fresh TCP connection to the throughput server (timed), a TLS handshake with the
//! chosen SNI against the pinned key (timed), `GET /bytes?n=B`, and the body read until B bytes,
//! the time cap, a stall, or the end of the connection. Cumulative bytes are sampled with the
//! memoryless sampler (OONI `bytes_received_cumulative`), plus exact samples at the first
//! byte, at the end of the warm-up and at the end, and analysed with
//! [`crate::experiment::throttling::analyse_trial`].
//!
//! Every byte read goes through a cap of `B + TRIAL_OVERHEAD_BYTES`, so a trial can never cost
//! more than the budget reserved for it, whatever the server sends.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use crate::clock::MeasurementClock;
use crate::experiment::throttling::pin::{pinned_client_config, PinnedVerifier, SpkiPin};
use crate::experiment::throttling::rate::{STALL_MIN_BYTES, WARMUP_BYTES};
use crate::experiment::throttling::{
    analyse_trial, analyse_trial_with_gap, TrialMetrics, TrialSample, TrialTransfer,
};
use crate::failure::Failure;
use crate::probe::flow::Flow;
use crate::probe::tcp::tcp_connect;
use crate::probe::throughput::{ByteCounter, CountingStream, ThroughputSampler};
use crate::report::observations::{BinaryData, NetworkEvent, TcpConnect, TlsHandshake};

/// Bytes a trial may receive beyond its body: the handshake (a few KB with our certificate)
/// and the response head. A trial is cut off past `B` plus this.
pub const TRIAL_OVERHEAD_BYTES: u64 = 16 * 1024;
/// The largest response head read.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 8 * 1024;

/// Which arm of the comparison a trial belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The SNI under test.
    Target,
    /// The innocuous SNI.
    Control,
}

impl Arm {
    /// `target` or `control`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Target => "target",
            Arm::Control => "control",
        }
    }
}

/// How to run one trial.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    /// The server's address (resolved before any timing).
    pub server: SocketAddr,
    /// The pinned key.
    pub pin: SpkiPin,
    /// The SNI sent.
    pub sni: String,
    /// Which arm.
    pub arm: Arm,
    /// Body bytes requested.
    pub bytes: u64,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
    /// The cap on the transfer, from the request.
    pub transfer_timeout: Duration,
    /// No progress for this long (after a first kilobyte) ends the trial as a stall.
    pub stall_gap: Duration,
    /// Tags copied into the trial's observations.
    pub tags: Vec<String>,
}

/// The step a trial stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialStep {
    /// TCP connect.
    Connect,
    /// TLS handshake.
    TlsHandshake,
    /// The request and response (head or body).
    HttpTransaction,
}

impl TrialStep {
    /// OONI-style operation name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStep::Connect => "connect",
            TrialStep::TlsHandshake => "tls_handshake",
            TrialStep::HttpTransaction => "http_transaction",
        }
    }
}

/// Everything one trial produced.
#[derive(Debug, Clone)]
pub struct TrialRecord {
    /// Which arm.
    pub arm: Arm,
    /// The SNI sent.
    pub sni: String,
    /// What the analysis saw.
    pub transfer: TrialTransfer,
    /// The analysis.
    pub metrics: TrialMetrics,
    /// The step that failed, if one did.
    pub failed_step: Option<TrialStep>,
    /// Its failure.
    pub failure: Option<Failure>,
    /// True when the server presented a key other than the pinned one.
    pub pin_mismatch: bool,
    /// The pin of the key the server presented, when it presented a certificate.
    pub presented_pin: Option<SpkiPin>,
    /// Seconds the TCP connect took.
    pub connect_seconds: Option<f64>,
    /// Seconds the handshake took.
    pub handshake_seconds: Option<f64>,
    /// Body bytes received.
    pub body_bytes: u64,
    /// Every byte received on the connection (handshake and head included).
    pub bytes_received: u64,
    /// The OONI `tcp_connect` entry.
    pub tcp_connect: TcpConnect,
    /// The OONI `tls_handshakes` entry, when the connect succeeded.
    pub tls_handshake: Option<TlsHandshake>,
    /// The `bytes_received_cumulative` samples.
    pub network_events: Vec<NetworkEvent>,
    /// The trial's transaction id.
    pub transaction_id: i64,
}

impl TrialRecord {
    /// True when the connect or the handshake failed (no data could flow).
    pub fn failed_before_data(&self) -> bool {
        matches!(
            self.failed_step,
            Some(TrialStep::Connect | TrialStep::TlsHandshake)
        )
    }
}

/// Runs one trial; `None` when cancelled.
pub async fn run_trial(
    clock: &MeasurementClock,
    spec: &TrialSpec,
    cancel: &CancellationToken,
) -> Option<TrialRecord> {
    tokio::select! {
        record = run_trial_inner(clock, spec) => Some(record),
        _ = cancel.cancelled() => None,
    }
}

async fn run_trial_inner(clock: &MeasurementClock, spec: &TrialSpec) -> TrialRecord {
    let flow = Flow::new(clock, spec.tags.clone());
    let (connected, tcp_connect) = tcp_connect(&flow, spec.server, spec.connect_timeout).await;
    let mut record = TrialRecord {
        arm: spec.arm,
        sni: spec.sni.clone(),
        transfer: TrialTransfer {
            samples: Vec::new(),
            requested_bytes: spec.bytes,
            completed: false,
            failed: true,
        },
        metrics: analyse_trial(&TrialTransfer {
            samples: Vec::new(),
            requested_bytes: spec.bytes,
            completed: false,
            failed: true,
        }),
        failed_step: None,
        failure: None,
        pin_mismatch: false,
        presented_pin: None,
        connect_seconds: Some(tcp_connect.t - tcp_connect.t0),
        handshake_seconds: None,
        body_bytes: 0,
        bytes_received: 0,
        tcp_connect,
        tls_handshake: None,
        network_events: Vec::new(),
        transaction_id: flow.transaction_id,
    };
    let stream = match connected {
        Ok(stream) => stream,
        Err(failure) => {
            record.connect_seconds = None;
            record.failed_step = Some(TrialStep::Connect);
            record.failure = Some(failure);
            return record;
        }
    };

    let counter = ByteCounter::new();
    let sampler = ThroughputSampler::start(&flow, spec.server.to_string(), counter.clone());
    let stream = CappedStream {
        inner: CountingStream::new(stream, counter.clone()),
        counter: counter.clone(),
        limit: spec.bytes.saturating_add(TRIAL_OVERHEAD_BYTES),
    };

    // Handshake with the chosen SNI, checked against the pin only.
    let verifier = Arc::new(PinnedVerifier::new(spec.pin));
    let connector = TlsConnector::from(Arc::new(pinned_client_config(verifier.clone())));
    let t0 = flow.clock.now();
    let mut handshake = TlsHandshake {
        network: "tcp".to_string(),
        address: spec.server.to_string(),
        // The name is not verified (the key is pinned instead), as OONI records it.
        no_tls_verify: true,
        server_name: spec.sni.clone(),
        t0,
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
        ..TlsHandshake::default()
    };
    let tls = match ServerName::try_from(spec.sni.clone()) {
        Err(_) => Err(Failure::Unknown(format!(
            "invalid TLS server name {:?}",
            spec.sni
        ))),
        Ok(name) => {
            match tokio::time::timeout(spec.handshake_timeout, connector.connect(name, stream))
                .await
            {
                Ok(Ok(tls)) => Ok(tls),
                Ok(Err(error)) => Err(Failure::from_io(&error)),
                Err(_) => Err(Failure::GenericTimeout),
            }
        }
    };
    handshake.t = flow.clock.now();
    let mut tls = match tls {
        Ok(tls) => {
            let (_, connection) = tls.get_ref();
            handshake.tls_version = match connection.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            handshake.cipher_suite = connection
                .negotiated_cipher_suite()
                .and_then(|suite| suite.suite().as_str())
                .map(|name| match name.strip_prefix("TLS13_") {
                    Some(rest) => format!("TLS_{rest}"),
                    None => name.to_string(),
                })
                .unwrap_or_default();
            handshake.negotiated_protocol = connection
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            handshake.peer_certificates = connection
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .take(1)
                .map(|cert| BinaryData::from_bytes(cert))
                .collect();
            record.handshake_seconds = Some(handshake.t - handshake.t0);
            tls
        }
        Err(failure) => {
            record.pin_mismatch = verifier.mismatched();
            record.presented_pin = verifier.seen();
            handshake.failure = Some(failure.clone());
            record.tls_handshake = Some(handshake);
            record.failed_step = Some(TrialStep::TlsHandshake);
            record.failure = Some(failure);
            record.network_events = sampler.stop().await;
            record.bytes_received = counter.get();
            return record;
        }
    };
    record.tls_handshake = Some(handshake);

    // The request, then the body.
    let request = format!(
        "GET /bytes?n={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        spec.bytes, spec.sni
    );
    let request_at = flow.clock.now();
    let base = counter.get();
    let deadline = tokio::time::Instant::now() + spec.transfer_timeout;
    let mut exact = Vec::new();
    let outcome = match tls.write_all(request.as_bytes()).await {
        Ok(()) => {
            read_response(
                &mut tls,
                spec,
                deadline,
                &mut ReadProgress {
                    clock: &flow.clock,
                    counter: &counter,
                    base,
                    request_at,
                    samples: &mut exact,
                },
            )
            .await
        }
        Err(error) => Err(Failure::from_io(&error)),
    };
    let events = sampler.stop().await;
    let end_t = flow.clock.now() - request_at;
    let end_bytes = counter.get().saturating_sub(base);
    // The last byte's arrival, kept as one sample so a stall's gap is measured from it, not
    // from the periodic sample that first saw it.
    let last_read = counter
        .last_growth()
        .map(|grew| flow.clock.seconds_at(grew) - request_at)
        .filter(|t| *t >= 0.0)
        .map(|t| TrialSample {
            t,
            bytes: end_bytes,
        });
    drop(tls);

    let (body_bytes, completed, failure) = match outcome {
        Ok(ReadEnd { body_bytes, reason }) => (
            body_bytes,
            body_bytes == spec.bytes,
            match reason {
                EndReason::Complete | EndReason::TimeCap | EndReason::Stall => None,
                EndReason::Closed if body_bytes == spec.bytes => None,
                EndReason::Closed => Some(Failure::Eof),
            },
        ),
        Err(failure) => (0, false, Some(failure)),
    };
    let mut samples: Vec<TrialSample> = events
        .iter()
        .filter(|e| e.t >= request_at)
        .map(|e| TrialSample {
            t: e.t - request_at,
            bytes: e.num_bytes.unwrap_or(0).saturating_sub(base),
        })
        .chain(exact)
        .chain(last_read)
        .chain(std::iter::once(TrialSample {
            t: end_t,
            bytes: end_bytes,
        }))
        .collect();
    crate::ordered::sort_by_f64_key(&mut samples, |sample| sample.t);
    // The counter never goes down; keep the samples monotonic against rounding of `t`.
    let mut highest = 0;
    for sample in &mut samples {
        highest = highest.max(sample.bytes);
        sample.bytes = highest;
    }
    let protocol_failure = failure.is_some() && body_bytes == 0;
    record.transfer = TrialTransfer {
        samples,
        requested_bytes: spec.bytes,
        completed,
        failed: protocol_failure,
    };
    record.metrics = analyse_trial_with_gap(&record.transfer, spec.stall_gap.as_secs_f64());
    if protocol_failure {
        record.failed_step = Some(TrialStep::HttpTransaction);
    }
    record.failure = failure;
    record.body_bytes = body_bytes;
    record.bytes_received = counter.get();
    record.network_events = events;
    record
}

/// Why reading stopped (when it did not fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    /// Every requested byte arrived.
    Complete,
    /// The transfer time cap.
    TimeCap,
    /// No progress for the stall gap.
    Stall,
    /// The server closed the connection.
    Closed,
}

struct ReadEnd {
    body_bytes: u64,
    reason: EndReason,
}

struct ReadProgress<'a> {
    clock: &'a MeasurementClock,
    counter: &'a ByteCounter,
    base: u64,
    request_at: f64,
    samples: &'a mut Vec<TrialSample>,
}

impl ReadProgress<'_> {
    fn mark(&mut self) {
        self.samples.push(TrialSample {
            t: self.clock.now() - self.request_at,
            bytes: self.counter.get().saturating_sub(self.base),
        });
    }

    fn received(&self) -> u64 {
        self.counter.get().saturating_sub(self.base)
    }
}

/// Reads the response head (checking it is a 200 for exactly `spec.bytes`), then the body.
async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    spec: &TrialSpec,
    deadline: tokio::time::Instant,
    progress: &mut ReadProgress<'_>,
) -> Result<ReadEnd, Failure> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::with_capacity(1024);
    let mut body_bytes: u64 = 0;
    let mut head_done = false;
    let mut first_byte = false;
    let mut warm = false;
    loop {
        // Wait at most until the deadline and, once a first kilobyte came, until one stall gap
        // has passed since the connection last received a byte. That is counted below TLS: the
        // start of a record a censor cut off is progress no read of the plaintext returns.
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(ReadEnd {
                body_bytes,
                reason: EndReason::TimeCap,
            });
        }
        let mut wait = deadline - now;
        if progress.received() >= STALL_MIN_BYTES {
            let quiet_until = progress
                .counter
                .last_growth()
                .map_or(now, tokio::time::Instant::from_std)
                + spec.stall_gap;
            if quiet_until <= now {
                return Ok(ReadEnd {
                    body_bytes,
                    reason: EndReason::Stall,
                });
            }
            wait = wait.min(quiet_until - now);
        }
        let n = match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(error)) if body_bytes > 0 => {
                // A reset mid-body ends the trial with what came (a cut-off is evidence).
                let _ = error;
                return Ok(ReadEnd {
                    body_bytes,
                    reason: EndReason::Closed,
                });
            }
            Ok(Err(error)) => return Err(Failure::from_io(&error)),
            // The deadline or the stall gap passed, unless bytes came below TLS meanwhile: the
            // top of the loop tells which. (Reading is cancel-safe: nothing is lost.)
            Err(_) => continue,
        };
        if n == 0 {
            if !head_done {
                return Err(Failure::Eof);
            }
            return Ok(ReadEnd {
                body_bytes,
                reason: EndReason::Closed,
            });
        }
        if !first_byte {
            first_byte = true;
            progress.mark();
        }
        let mut chunk = &buf[..n];
        if !head_done {
            head.extend_from_slice(chunk);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                if head.len() > MAX_RESPONSE_HEAD_BYTES {
                    return Err(Failure::Unknown("response head too large".to_string()));
                }
                continue;
            };
            check_head(&head[..end + 4], spec.bytes)?;
            head_done = true;
            let rest = head.split_off(end + 4);
            body_bytes = (rest.len() as u64).min(spec.bytes);
            chunk = &[];
        }
        body_bytes = body_bytes
            .saturating_add(chunk.len() as u64)
            .min(spec.bytes);
        if !warm && progress.received() >= WARMUP_BYTES {
            warm = true;
            progress.mark();
        }
        if body_bytes >= spec.bytes {
            progress.mark();
            return Ok(ReadEnd {
                body_bytes,
                reason: EndReason::Complete,
            });
        }
    }
}

/// A response head must be `200` with `Content-Length` equal to what was asked for.
fn check_head(head: &[u8], requested: u64) -> Result<(), Failure> {
    let text = std::str::from_utf8(head)
        .map_err(|_| Failure::Unknown("response head is not text".to_string()))?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(Failure::Unknown("malformed status line".to_string()));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Failure::Unknown("not an HTTP/1 response".to_string()));
    }
    if code != "200" {
        return Err(Failure::Unknown(format!(
            "the throughput server answered HTTP {}",
            code.chars().take(3).collect::<String>()
        )));
    }
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok());
    match length {
        Some(length) if length == requested => Ok(()),
        Some(_) => Err(Failure::Unknown(
            "the throughput server announced another length than requested".to_string(),
        )),
        None => Err(Failure::Unknown(
            "the throughput server announced no length".to_string(),
        )),
    }
}

/// A stream that refuses to read past a byte count (counted by the [`CountingStream`] inside):
/// the hard cap that keeps a trial within its reserved budget.
struct CappedStream<S> {
    inner: CountingStream<S>,
    counter: ByteCounter,
    limit: u64,
}

impl<S: AsyncRead + Unpin> AsyncRead for CappedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.limit.saturating_sub(self.counter.get());
        if left == 0 {
            return Poll::Ready(Err(io::Error::other("the trial's byte cap was reached")));
        }
        let room = usize::try_from(left).unwrap_or(usize::MAX);
        if room >= buf.remaining() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        // Near the cap: read at most `room` bytes through a small buffer. A pending read
        // consumed nothing, so dropping the buffer then loses nothing.
        let mut scratch = vec![0u8; room];
        let mut limited = ReadBuf::new(&mut scratch);
        match Pin::new(&mut self.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(limited.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CappedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_are_checked() {
        assert!(check_head(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 10).is_ok());
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 10\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"\xff\r\n\r\n",
        ] {
            assert!(check_head(bad, 10).is_err(), "{bad:?}");
        }
    }
}
