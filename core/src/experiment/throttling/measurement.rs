//! The OONI measurement of one target: `test_name` `kuzet_throttling`, `input` the SNI (or the
//! URL, for the passive method), the trials' `tcp_connect`, `tls_handshakes` and
//! `bytes_received_cumulative` network events in OONI's shapes, the verdict as `x_throttling`
//! and one summary per trial in `x_trials`. The server's address is Kuzet's own and kept (as
//! OONI keeps the addresses it connects to); the probe's address never appears.

use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::experiment::throttling::trial::TrialRecord;
use crate::experiment::throttling::ThrottlingVerdict;
use crate::experiment::throttling::{Evidence, Method, ThrottlingConfig, TEST_NAME, TEST_VERSION};
use crate::report::observations::{NetworkEvent, TcpConnect, TlsHandshake};
use crate::report::Measurement;

/// What one SNI target's measurement is made of.
pub struct SniRun<'a> {
    /// The run's configuration.
    pub config: &'a ThrottlingConfig,
    /// The target SNI.
    pub target: &'a str,
    /// Every trial, in the order run.
    pub records: &'a [TrialRecord],
    /// `(target, control)` indices into `records`.
    pub pairs: &'a [(usize, usize)],
    /// The verdict.
    pub verdict: &'a ThrottlingVerdict,
    /// Its evidence.
    pub evidence: &'a Evidence,
    /// When the run started.
    pub test_start: OffsetDateTime,
    /// When this target started.
    pub started_at: OffsetDateTime,
    /// Time spent on this target.
    pub runtime: Duration,
}

/// The measurement of one SNI target.
pub fn sni_measurement(run: &SniRun<'_>) -> Measurement {
    let config = run.config;
    let mut measurement = Measurement::new(
        TEST_NAME,
        TEST_VERSION,
        Some(run.target.to_string()),
        &config.software,
        &config.network,
        run.test_start,
        run.started_at,
    );
    measurement.extensions = extensions();
    measurement.test_runtime = run.runtime.as_secs_f64();
    measurement.test_helpers = Some(json!({
        "throughput": {
            "address": config.server.to_string(),
            "type": "tls-pinned",
            "pin": config.pin.to_string(),
        }
    }));
    let tcp_connect: Vec<&TcpConnect> = run.records.iter().map(|r| &r.tcp_connect).collect();
    let tls_handshakes: Vec<&TlsHandshake> = run
        .records
        .iter()
        .filter_map(|r| r.tls_handshake.as_ref())
        .collect();
    let network_events: Vec<&NetworkEvent> = run
        .records
        .iter()
        .flat_map(|r| r.network_events.iter())
        .collect();
    let pair_of = |index: usize| {
        run.pairs
            .iter()
            .position(|(t, c)| *t == index || *c == index)
            .map(|p| p + 1)
    };
    let trials: Vec<Value> = run
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| trial_summary(i + 1, pair_of(i), r))
        .collect();
    measurement.test_keys = json!({
        "method": Method::SniSwap,
        "target_sni": run.target,
        "control_sni": config.control_sni,
        "trial_bytes": config.trial_bytes,
        "failure": Value::Null,
        "network_events": network_events,
        "tcp_connect": tcp_connect,
        "tls_handshakes": tls_handshakes,
        "x_throttling": x_throttling(Method::SniSwap, run.verdict, run.evidence),
        "x_trials": trials,
    });
    measurement
}

/// The OONI sub-formats the measurement uses.
pub fn extensions() -> std::collections::BTreeMap<String, i64> {
    crate::ordered::extensions(&[("netevents", 0), ("tcpconnect", 0), ("tlshandshake", 0)])
}

/// `x_throttling`: the verdict and its evidence, flat.
pub fn x_throttling(method: Method, verdict: &ThrottlingVerdict, evidence: &Evidence) -> Value {
    let mut value = json!({
        "method": method,
        "verdict": verdict.word(),
        "median_ratio": Value::Null,
        "target_kbps": Value::Null,
        "control_kbps": Value::Null,
        "fixed_rate_policer": false,
        "after_bytes": Value::Null,
        "why": Value::Null,
        "pairs": evidence.pairs,
        "escalated": evidence.escalated,
        "replaced_pairs": evidence.replaced_pairs,
        "bytes_used": evidence.bytes_used,
        "budget_bytes": evidence.budget_bytes,
        "budget_stopped": evidence.budget_stopped,
        "blocked": matches!(verdict, ThrottlingVerdict::Blocked { .. }),
        "blocked_step": Value::Null,
        "blocked_failure": Value::Null,
        "intercepted": matches!(verdict, ThrottlingVerdict::Intercepted),
        "network": Value::Null,
        "cancelled": evidence.cancelled,
    });
    match verdict {
        ThrottlingVerdict::NotThrottled { median_ratio }
        | ThrottlingVerdict::Suspected { median_ratio } => {
            value["median_ratio"] = json!(round3(*median_ratio));
        }
        ThrottlingVerdict::Throttled {
            median_ratio,
            target_kbps,
            control_kbps,
            fixed_rate,
        } => {
            value["median_ratio"] = json!(round3(*median_ratio));
            value["target_kbps"] = json!(target_kbps);
            value["control_kbps"] = json!(control_kbps);
            value["fixed_rate_policer"] = json!(fixed_rate);
        }
        ThrottlingVerdict::Stalled { after_bytes } => {
            value["after_bytes"] = json!(after_bytes);
        }
        ThrottlingVerdict::Inconclusive { why } => {
            value["why"] = json!(why);
        }
        ThrottlingVerdict::Blocked { step, failure } => {
            value["blocked_step"] = json!(step);
            value["blocked_failure"] = json!(failure);
        }
        ThrottlingVerdict::Intercepted => {}
        ThrottlingVerdict::Unreachable { network } => {
            value["network"] = json!(network);
        }
    }
    value
}

/// The verdict an `x_throttling` object carries: the inverse of [`x_throttling`] (ratios come
/// back rounded as written). `None` when it holds no verdict Kuzet writes.
pub fn verdict_from_x_throttling(x: &Value) -> Option<ThrottlingVerdict> {
    let ratio = || x.get("median_ratio").and_then(Value::as_f64);
    let count = |key: &str| x.get(key).and_then(Value::as_u64);
    let text = |key: &str| x.get(key).and_then(Value::as_str).map(str::to_string);
    Some(match x.get("verdict")?.as_str()? {
        "not_throttled" => ThrottlingVerdict::NotThrottled {
            median_ratio: ratio()?,
        },
        "throttled" => ThrottlingVerdict::Throttled {
            median_ratio: ratio()?,
            target_kbps: count("target_kbps")?,
            control_kbps: count("control_kbps")?,
            fixed_rate: x
                .get("fixed_rate_policer")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        "stalled" => ThrottlingVerdict::Stalled {
            after_bytes: count("after_bytes")?,
        },
        "suspected" => ThrottlingVerdict::Suspected {
            median_ratio: ratio()?,
        },
        "inconclusive" => ThrottlingVerdict::Inconclusive {
            why: text("why").unwrap_or_default(),
        },
        "blocked" => ThrottlingVerdict::Blocked {
            step: text("blocked_step").unwrap_or_else(|| "tls_handshake".to_string()),
            failure: text("blocked_failure").unwrap_or_else(|| "unknown".to_string()),
        },
        "intercepted" => ThrottlingVerdict::Intercepted,
        "unreachable" => ThrottlingVerdict::Unreachable {
            network: text("network")
                .as_deref()
                .and_then(crate::experiment::connectivity::ConnectivityStatus::parse)?,
        },
        _ => return None,
    })
}

fn trial_summary(number: usize, pair: Option<usize>, r: &TrialRecord) -> Value {
    let m = &r.metrics;
    json!({
        "trial": number,
        "pair": pair,
        "arm": r.arm,
        "sni": r.sni,
        "transaction_id": r.transaction_id,
        "requested_bytes": r.transfer.requested_bytes,
        "body_bytes": r.body_bytes,
        "bytes_received": r.bytes_received,
        "completed": m.completed,
        "stalled": m.stalled,
        "failed": m.failed || r.failed_before_data(),
        "failed_operation": r.failed_step.map(|s| s.as_str()),
        "failure": r.failure.as_ref().map(|f| f.as_str().into_owned()),
        "connect_ms": r.connect_seconds.map(ms),
        "handshake_ms": r.handshake_seconds.map(ms),
        "first_byte_ms": m.first_byte_seconds.map(ms),
        "rate_kbps": m.rate_bps.map(|b| round3(b / 1000.0)),
        "average_kbps": round3(m.average_bps / 1000.0),
        "longest_gap_ms": ms(m.longest_gap_seconds),
    })
}

fn ms(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

fn round3(value: f64) -> f64 {
    if value.is_finite() {
        (value * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}
