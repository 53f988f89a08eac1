//! The OONI measurement of one URL: the envelope ([`Measurement`]) and web_connectivity's
//! test keys (ts-017, 0.4.3), plus Kuzet's `x_` extras.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Analysis, Observations, TargetUrl, WebConnectivityConfig, TEST_NAME, TEST_VERSION};
use crate::failure::Failure;
use crate::probe::fetch::Operation;
use crate::report::observations::{DnsQuery, NetworkEvent};
use crate::report::Measurement;
use crate::th::{ThRequest, ThResponse};

/// The measurement of `input`, started at `started_at` and measured in `runtime`, with `keys`
/// as its test keys.
pub(super) fn build_measurement(
    config: &WebConnectivityConfig,
    input: &TargetUrl,
    test_start_time: OffsetDateTime,
    started_at: OffsetDateTime,
    runtime: Duration,
    keys: TestKeys<'_>,
) -> Measurement {
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
    measurement.test_keys = test_keys(keys);
    measurement
}

/// What goes into the test keys besides the analysis' observations.
pub(super) struct TestKeys<'a> {
    /// What the analysis looked at.
    pub(super) observations: &'a Observations,
    /// Its outcome.
    pub(super) analysis: &'a Analysis,
    /// `queries`: the classic resolver's lookups, then the fetch's.
    pub(super) queries: &'a [DnsQuery],
    /// `network_events`.
    pub(super) network_events: &'a [NetworkEvent],
    /// `x_dns_duplicate_responses`.
    pub(super) late: &'a [DnsQuery],
    /// The queries of `x_do53`.
    pub(super) do53_queries: &'a [DnsQuery],
    /// The queries of `x_doh`.
    pub(super) doh_queries: &'a [DnsQuery],
    /// `x_control_request`.
    pub(super) control_request: &'a ThRequest,
    /// `dns_experiment_failure`.
    pub(super) dns_experiment_failure: &'a Option<Failure>,
    /// `x_bytes_received`.
    pub(super) bytes_received: u64,
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
