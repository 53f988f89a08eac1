//! One trial's metrics from its cumulative-bytes samples: throughput after the first 64 KiB
//! (skipping slow start and token-bucket bursts), time to first byte, the longest gap with no
//! progress, and whether the transfer stalled.

use serde::{Deserialize, Serialize};

/// Bytes skipped before the rate is measured.
pub const WARMUP_BYTES: u64 = 64 * 1024;
/// The least bytes after the warm-up for a rate to count as measured.
pub const MIN_MEASURED_BYTES: u64 = 16 * 1024;
/// No progress for this long, after [`STALL_MIN_BYTES`], is a stall rather than a low rate.
pub const STALL_GAP_SECONDS: f64 = 3.0;
/// A transfer must have received this much before a gap can count as a stall.
pub const STALL_MIN_BYTES: u64 = 1024;

/// One sample: seconds since the trial started, bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrialSample {
    /// Seconds since the request was sent.
    pub t: f64,
    /// Cumulative bytes received.
    pub bytes: u64,
}

/// What one trial observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialTransfer {
    /// Samples in time order (the last one at the end of the transfer).
    pub samples: Vec<TrialSample>,
    /// Bytes requested.
    pub requested_bytes: u64,
    /// True when every requested byte arrived.
    pub completed: bool,
    /// True when the connection or handshake failed before any data (no rate at all).
    pub failed: bool,
}

/// A trial's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialMetrics {
    /// Throughput in bit/s over the bytes after [`WARMUP_BYTES`]; `None` when too few bytes
    /// arrived after the warm-up to measure one.
    pub rate_bps: Option<f64>,
    /// A lower bound in bit/s over the whole transfer, for trials that never got past the
    /// warm-up (a throttled trial often does not).
    pub average_bps: f64,
    /// Seconds to the first byte.
    pub first_byte_seconds: Option<f64>,
    /// The longest interval with no new bytes, in seconds.
    pub longest_gap_seconds: f64,
    /// No progress for [`STALL_GAP_SECONDS`] after [`STALL_MIN_BYTES`], and not completed.
    pub stalled: bool,
    /// Bytes received when the trial ended.
    pub bytes: u64,
    /// Whether it completed.
    pub completed: bool,
    /// Whether it failed before any data.
    pub failed: bool,
}

impl TrialMetrics {
    /// The rate used for comparisons: the post-warm-up rate when measured, else the average
    /// (which is what a transfer capped by time at a low rate gives).
    pub fn effective_bps(&self) -> Option<f64> {
        if self.failed {
            return None;
        }
        self.rate_bps
            .or((self.average_bps > 0.0).then_some(self.average_bps))
    }
}

/// Computes a trial's metrics, with the default stall gap ([`STALL_GAP_SECONDS`]).
pub fn analyse_trial(transfer: &TrialTransfer) -> TrialMetrics {
    analyse_trial_with_gap(transfer, STALL_GAP_SECONDS)
}

/// Computes a trial's metrics; no progress for `stall_gap_seconds` (after
/// [`STALL_MIN_BYTES`]) counts as a stall.
pub fn analyse_trial_with_gap(transfer: &TrialTransfer, stall_gap_seconds: f64) -> TrialMetrics {
    let samples = &transfer.samples;
    let last = samples
        .last()
        .copied()
        .unwrap_or(TrialSample { t: 0.0, bytes: 0 });
    let first_byte_seconds = samples.iter().find(|s| s.bytes > 0).map(|s| s.t);
    let warmup_end = crossing_time(samples, WARMUP_BYTES);
    let rate_bps = warmup_end.and_then(|t_warm| {
        let measured = last.bytes.saturating_sub(WARMUP_BYTES);
        let elapsed = last.t - t_warm;
        (measured >= MIN_MEASURED_BYTES && elapsed > 0.0).then(|| measured as f64 * 8.0 / elapsed)
    });
    let average_bps = if last.t > 0.0 {
        last.bytes as f64 * 8.0 / last.t
    } else {
        0.0
    };

    let mut longest_gap_seconds: f64 = 0.0;
    let mut stalled = false;
    let mut progress_at = 0.0;
    let mut progress_bytes = 0;
    for sample in samples {
        if sample.bytes > progress_bytes {
            progress_bytes = sample.bytes;
            progress_at = sample.t;
        } else {
            let gap = sample.t - progress_at;
            longest_gap_seconds = longest_gap_seconds.max(gap);
            if gap >= stall_gap_seconds && progress_bytes >= STALL_MIN_BYTES {
                stalled = true;
            }
        }
    }
    TrialMetrics {
        rate_bps,
        average_bps,
        first_byte_seconds,
        longest_gap_seconds,
        stalled: stalled && !transfer.completed,
        bytes: last.bytes,
        completed: transfer.completed,
        failed: transfer.failed,
    }
}

/// When the cumulative count first reached `bytes`, interpolated between samples.
fn crossing_time(samples: &[TrialSample], bytes: u64) -> Option<f64> {
    let mut previous = TrialSample { t: 0.0, bytes: 0 };
    for sample in samples {
        if sample.bytes >= bytes {
            let span = sample.bytes.saturating_sub(previous.bytes) as f64;
            if span <= 0.0 {
                return Some(sample.t);
            }
            let fraction = (bytes - previous.bytes) as f64 / span;
            return Some(previous.t + fraction * (sample.t - previous.t));
        }
        previous = *sample;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transfer at a constant rate (bytes/s), sampled every 100 ms, for `seconds` or until
    /// `total` bytes.
    pub(crate) fn steady(rate: f64, total: u64, seconds: f64) -> TrialTransfer {
        let mut samples = Vec::new();
        let mut t = 0.0;
        let done_at = total as f64 / rate;
        loop {
            t += 0.1;
            if t >= done_at {
                // The sampler takes a last sample when the transfer ends.
                samples.push(TrialSample {
                    t: done_at,
                    bytes: total,
                });
                break;
            }
            samples.push(TrialSample {
                t,
                bytes: (rate * t) as u64,
            });
            if t >= seconds {
                break;
            }
        }
        TrialTransfer {
            completed: samples.last().map(|s| s.bytes) == Some(total),
            samples,
            requested_bytes: total,
            failed: false,
        }
    }

    #[test]
    fn rate_is_measured_after_the_warm_up() {
        // 1 MB/s = 8 Mbit/s.
        let metrics = analyse_trial(&steady(1_000_000.0, 256 * 1024, 6.0));
        let rate = metrics.rate_bps.unwrap();
        assert!((rate / 8e6 - 1.0).abs() < 0.05, "{rate}");
        assert!(metrics.completed && !metrics.stalled);
    }

    #[test]
    fn a_slow_transfer_capped_by_time_has_only_an_average() {
        // 16 KB/s for 3 s: 48 KB, never past the warm-up.
        let metrics = analyse_trial(&steady(16_000.0, 256 * 1024, 3.0));
        assert_eq!(metrics.rate_bps, None);
        assert!((metrics.average_bps / 128_000.0 - 1.0).abs() < 0.05);
        assert_eq!(metrics.effective_bps(), Some(metrics.average_bps));
    }

    #[test]
    fn a_freeze_after_a_few_kilobytes_is_a_stall() {
        let mut samples: Vec<TrialSample> = (1..=5)
            .map(|i| TrialSample {
                t: i as f64 * 0.1,
                bytes: i * 4000,
            })
            .collect();
        samples.extend((6..=60).map(|i| TrialSample {
            t: i as f64 * 0.1,
            bytes: 20_000,
        }));
        let metrics = analyse_trial(&TrialTransfer {
            samples,
            requested_bytes: 256 * 1024,
            completed: false,
            failed: false,
        });
        assert!(metrics.stalled);
        assert!(metrics.longest_gap_seconds >= 5.0);
        assert_eq!(metrics.bytes, 20_000);
    }

    #[test]
    fn a_failed_trial_has_no_rate() {
        let metrics = analyse_trial(&TrialTransfer {
            samples: vec![],
            requested_bytes: 1,
            completed: false,
            failed: true,
        });
        assert_eq!(metrics.effective_bps(), None);
    }
}
