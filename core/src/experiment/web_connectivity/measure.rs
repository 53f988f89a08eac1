//! [`measure_target`]: one URL, step by step, as the module docs of `web_connectivity` tell.
//! Each step lives in its own module ([`super::dns`], [`super::endpoints`], [`super::control`],
//! [`super::fetch`]); this one runs them in order, gathers what they observed, analyses it and
//! builds the measurement ([`super::measurement`]).

use std::net::IpAddr;
use std::time::Instant;

use time::OffsetDateTime;
use url::Url;

use super::control::{call_control, control_request};
use super::dns::{collect_late_replies, dns_bytes, dns_options, Lookups};
use super::endpoints::{fetch_endpoint, measure_endpoints, plan_endpoints, EndpointRecords};
use super::fetch::{fetch_page, FetchRecords};
use super::measurement::{build_measurement, TestKeys};
use super::{
    analyze, Observations, TargetUrl, WebConnectivityConfig, WebConnectivityResult, WebSummary,
};
use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::net::http_client::ServiceClient;

/// Measures `target` (parsed from `input`'s URL), its test helper calls going through
/// `client` (or failing as it says). Never fails: every network failure is recorded.
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
    let dns_options = dns_options(config);

    // 1. DNS: the classic resolver, and the extra ones in parallel.
    let lookups = Lookups::resolve(&clock, config, &host, literal, &dns_options).await;
    let addresses = lookups.addresses(literal);

    // 2. The endpoints to measure: the URL's port first for every address, then 443 for TLS
    // validation of http URLs.
    let endpoints = plan_endpoints(&target, &addresses, config.max_endpoints);
    let th_request = control_request(&target, &endpoints);

    // 3. The test helper, in parallel with the endpoints and the fetch.
    let th_call = call_control(config, client, &th_request);
    let probe = async {
        let outcomes = measure_endpoints(&clock, config, &host, &endpoints).await;
        let fetched = match fetch_endpoint(&outcomes) {
            Some(endpoint) => {
                Some(fetch_page(&clock, config, &dns_options, &target, endpoint).await)
            }
            None => None,
        };
        (outcomes, fetched)
    };
    let ((th_result, th_bytes), (outcomes, fetched)) = tokio::join!(th_call, probe);

    // 4. Gather the observations.
    let dns_records = lookups.into_records();
    let endpoint_records = EndpointRecords::new(&outcomes);
    let fetch_records = FetchRecords::new(
        fetched,
        &dns_records.dns_experiment_failure,
        endpoint_records.first_primary_failure,
    );
    let mut queries = dns_records.queries;
    queries.extend(fetch_records.queries);
    let mut tcp_connect = endpoint_records.tcp_connect;
    tcp_connect.extend(fetch_records.tcp_connect);
    let mut tls_handshakes = endpoint_records.tls_handshakes;
    tls_handshakes.extend(fetch_records.tls_handshakes);
    let mut late = fetch_records.late_replies;
    late.extend(collect_late_replies(dns_records.pending_late).await);
    crate::ordered::sort_by_f64_key(&mut late, |query| query.t);
    let bytes_received = th_bytes
        + endpoint_records.bytes_received
        + fetch_records.bytes_received
        + dns_bytes(
            queries
                .iter()
                .chain(&dns_records.do53_queries)
                .chain(&dns_records.doh_queries)
                .chain(&late),
        );

    let (control, control_failure) = match th_result {
        Ok(control) => (Some(control), None),
        Err(failure) => (None, Some(failure)),
    };
    let observations = Observations {
        url: target.clone(),
        system_dns: dns_records.system_dns,
        doh_dns: dns_records.doh_dns,
        tcp_connect,
        tls_handshakes,
        requests: fetch_records.requests,
        http_experiment_failure: fetch_records.http_experiment_failure,
        http_failed_operation: fetch_records.http_failed_operation,
        control,
        control_failure,
    };

    // 5. Analyse, and report.
    let analysis = analyze(&observations, &config.bogons);
    let runtime = started.elapsed();
    let measurement = build_measurement(
        config,
        input,
        test_start_time,
        started_at,
        runtime,
        TestKeys {
            observations: &observations,
            analysis: &analysis,
            queries: &queries,
            network_events: &fetch_records.network_events,
            late: &late,
            do53_queries: &dns_records.do53_queries,
            doh_queries: &dns_records.doh_queries,
            control_request: &th_request,
            dns_experiment_failure: &dns_records.dns_experiment_failure,
            bytes_received,
        },
    );
    let summary = WebSummary {
        url: input.url.clone(),
        category_code: input.category_code.clone(),
        blocking: analysis.classic.blocking,
        accessible: analysis.classic.accessible,
        dns_consistency: analysis.classic.dns_consistency,
        dns_experiment_failure: dns_records.dns_experiment_failure,
        http_experiment_failure: observations.http_experiment_failure.clone(),
        control_failure: observations.control_failure.clone(),
        status_code: fetch_records.status_code,
        final_url: fetch_records.final_url,
        runtime,
    };
    WebConnectivityResult {
        measurement,
        verdict: analysis.verdict,
        bytes_received,
        summary,
    }
}
