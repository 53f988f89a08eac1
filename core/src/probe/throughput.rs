//! Throughput sampling on any transfer: a [`CountingStream`] counts the bytes a connection
//! receives, and a [`ThroughputSampler`] records the running total at memoryless intervals as
//! OONI `bytes_received_cumulative` network events (the PASTA sampling that ndt7 and
//! web_connectivity v0.5 use, so a time-of-sample bias cannot line up with a shaper's period).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::random::FastRng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::probe::flow::Flow;
use crate::report::observations::NetworkEvent;

/// Expected interval between samples.
pub const MEAN_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);
/// Shortest interval between samples.
pub const MIN_SAMPLE_INTERVAL: Duration = Duration::from_millis(25);
/// Longest interval between samples.
pub const MAX_SAMPLE_INTERVAL: Duration = Duration::from_millis(650);
/// The most samples kept per transfer (about 17 minutes at the mean interval), bounding memory.
pub const MAX_SAMPLES: usize = 4096;

/// A shared counter of bytes received, and when the count last grew.
///
/// The time of the last growth is what a stall is measured from: under TLS, the bytes of a
/// record cut off by a censor arrive, and are counted, without any read of the decrypted stream
/// returning them.
#[derive(Debug, Clone)]
pub struct ByteCounter(Arc<CounterState>);

#[derive(Debug)]
struct CounterState {
    bytes: AtomicU64,
    /// Nanoseconds from `zero` to the last growth, plus one (0: never grew).
    grew_at_nanos: AtomicU64,
    zero: Instant,
}

impl Default for ByteCounter {
    fn default() -> Self {
        ByteCounter(Arc::new(CounterState {
            bytes: AtomicU64::new(0),
            grew_at_nanos: AtomicU64::new(0),
            zero: Instant::now(),
        }))
    }
}

impl ByteCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }

    /// When the count last grew (`None` before the first byte).
    pub fn last_growth(&self) -> Option<Instant> {
        match self.0.grew_at_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(self.0.zero + Duration::from_nanos(nanos - 1)),
        }
    }

    fn add(&self, n: u64) {
        if n == 0 {
            return;
        }
        let nanos = u64::try_from(self.0.zero.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.0.grew_at_nanos.store(nanos + 1, Ordering::Relaxed);
        self.0.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// A stream wrapper that counts every byte read through it.
#[derive(Debug)]
pub struct CountingStream<S> {
    inner: S,
    counter: ByteCounter,
}

impl<S> CountingStream<S> {
    /// Wraps `inner`, adding bytes read to `counter`.
    pub fn new(inner: S, counter: ByteCounter) -> Self {
        CountingStream { inner, counter }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = buf.filled().len().saturating_sub(before);
            self.counter.add(read as u64);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Draws the next sampling interval: exponential with mean [`MEAN_SAMPLE_INTERVAL`], clamped
/// to [[`MIN_SAMPLE_INTERVAL`], [`MAX_SAMPLE_INTERVAL`]].
pub fn next_interval(rng: &mut FastRng) -> Duration {
    let uniform = rng.next_f64().max(f64::EPSILON);
    let seconds = -uniform.ln() * MEAN_SAMPLE_INTERVAL.as_secs_f64();
    Duration::from_secs_f64(seconds).clamp(MIN_SAMPLE_INTERVAL, MAX_SAMPLE_INTERVAL)
}

/// A running sampler. [`ThroughputSampler::stop`] ends it and returns the samples.
#[derive(Debug)]
pub struct ThroughputSampler {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Vec<NetworkEvent>>,
}

impl ThroughputSampler {
    /// Starts sampling `counter` for the transfer to `address` (`ip:port`). Must be called
    /// inside a tokio runtime.
    pub fn start(flow: &Flow, address: String, counter: ByteCounter) -> Self {
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let flow = flow.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut rng = FastRng::from_entropy();
            loop {
                let interval = next_interval(&mut rng);
                let stopped = tokio::select! {
                    _ = tokio::time::sleep(interval) => false,
                    _ = &mut stop_rx => true,
                };
                if samples.len() < MAX_SAMPLES {
                    samples.push(sample(&flow, &address, counter.get()));
                }
                if stopped {
                    return samples;
                }
            }
        });
        ThroughputSampler {
            stop: Some(stop_tx),
            task,
        }
    }

    /// Takes a last sample, stops, and returns every sample in time order.
    pub async fn stop(mut self) -> Vec<NetworkEvent> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap_or_default()
    }
}

impl Drop for ThroughputSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sample(flow: &Flow, address: &str, bytes: u64) -> NetworkEvent {
    let t = flow.clock.now();
    NetworkEvent {
        address: Some(address.to_string()),
        failure: None,
        num_bytes: Some(bytes),
        operation: "bytes_received_cumulative".to_string(),
        proto: Some("tcp".to_string()),
        t0: t,
        t,
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_stay_in_bounds_and_average_near_the_mean() {
        let mut rng = FastRng::from_entropy();
        let draws: Vec<Duration> = (0..20_000).map(|_| next_interval(&mut rng)).collect();
        assert!(draws
            .iter()
            .all(|d| *d >= MIN_SAMPLE_INTERVAL && *d <= MAX_SAMPLE_INTERVAL));
        let mean = draws.iter().map(Duration::as_secs_f64).sum::<f64>() / draws.len() as f64;
        // Clamping pulls the mean of Exp(250 ms) to about 0.235 s.
        assert!((0.20..0.27).contains(&mean), "mean interval {mean}");
    }

    #[tokio::test]
    async fn the_counter_knows_when_it_last_grew() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut near, far) = tokio::io::duplex(64);
        let counter = ByteCounter::new();
        let mut counted = CountingStream::new(far, counter.clone());
        assert_eq!(counter.last_growth(), None);

        near.write_all(b"hello").await.unwrap();
        let before = Instant::now();
        let mut buf = [0u8; 16];
        assert_eq!(counted.read(&mut buf).await.unwrap(), 5);
        let grew = counter.last_growth().expect("grew");
        assert!(grew >= before && grew <= Instant::now(), "{grew:?}");
        assert_eq!(counter.get(), 5);

        // End of stream: a read of nothing is no growth.
        drop(near);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(counted.read(&mut buf).await.unwrap(), 0);
        assert_eq!(counter.last_growth(), Some(grew));
        assert_eq!(counter.get(), 5);
    }
}
