//! The DNS step: the probe's lookups of the URL's host, with the classic resolver (whose
//! answers decide the verdict) and, in parallel, the optional UDP and DoH resolvers; then what
//! those lookups add to the measurement (the analysis' DNS outcomes, `queries`, `x_do53`,
//! `x_doh`, the late replies of `x_dns_duplicate_responses` and the bytes of the responses).

use std::net::IpAddr;

use base64::Engine as _;

use super::analysis::DnsOutcome;
use super::WebConnectivityConfig;
use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::probe::dns::{dns_lookup, DnsLookup, DnsOptions, DnsTransport, LateReplies};
use crate::probe::flow::Flow;
use crate::report::observations::DnsQuery;

/// The options of every lookup of one measurement (the fetch's lookups included).
pub(super) fn dns_options(config: &WebConnectivityConfig) -> DnsOptions {
    DnsOptions {
        timeout: config.timeouts.steps.dns,
        trust: config.trust.clone(),
        ..DnsOptions::default()
    }
}

/// The probe's lookups of the URL's host; all `None` when the host is an IP address.
///
/// Keep it alive until the other steps are done: the UDP lookups go on collecting late replies
/// until [`Lookups::into_records`] hands them over.
pub(super) struct Lookups {
    /// The classic resolver's lookup.
    system: Option<DnsLookup>,
    /// The extra DNS-over-UDP resolver's lookup, when one is configured.
    udp: Option<DnsLookup>,
    /// The extra DoH resolver's lookup, when one is configured.
    doh: Option<DnsLookup>,
}

impl Lookups {
    /// Looks `host` up with the classic resolver and, in parallel, the extra ones; `literal`
    /// is the host as an IP address, when it is one, and then nothing is looked up.
    pub(super) async fn resolve(
        clock: &MeasurementClock,
        config: &WebConnectivityConfig,
        host: &str,
        literal: Option<IpAddr>,
        dns_options: &DnsOptions,
    ) -> Self {
        let (system, udp, doh) = match literal {
            Some(_) => (None, None, None),
            None => {
                let classic = Flow::new(clock, vec!["classic".into(), "depth=0".into()]);
                let extra = Flow::new(clock, vec!["depth=0".into()]);
                let optional = |transport: &Option<DnsTransport>| {
                    let transport = transport.clone();
                    let extra = extra.clone();
                    let host = host.to_string();
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
                    dns_lookup(&classic, &config.resolver, host, dns_options),
                    optional(&config.udp_resolver),
                    optional(&config.doh_resolver),
                );
                (Some(system), udp, doh)
            }
        };
        Lookups { system, udp, doh }
    }

    /// The addresses to measure: `literal` for an IP URL, else the classic resolver's answers.
    pub(super) fn addresses(&self, literal: Option<IpAddr>) -> Vec<IpAddr> {
        match (literal, &self.system) {
            (Some(ip), _) => vec![ip],
            (None, Some(lookup)) => lookup.addresses.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// Hands the lookups over as what the measurement records of them.
    pub(super) fn into_records(self) -> DnsRecords {
        let Lookups { system, udp, doh } = self;
        let mut queries: Vec<DnsQuery> = Vec::new();
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
        DnsRecords {
            system_dns: system_outcome,
            doh_dns: doh_outcome,
            dns_experiment_failure,
            queries,
            do53_queries,
            doh_queries,
            pending_late,
        }
    }
}

/// What the DNS step adds to the measurement.
pub(super) struct DnsRecords {
    /// The classic resolver's outcome, for the analysis (`None` for an IP URL).
    pub(super) system_dns: Option<DnsOutcome>,
    /// The DoH resolver's outcome, for the analysis (`None` without one).
    pub(super) doh_dns: Option<DnsOutcome>,
    /// The classic resolver's failure: `dns_experiment_failure`.
    pub(super) dns_experiment_failure: Option<Failure>,
    /// The classic resolver's `queries` entries.
    pub(super) queries: Vec<DnsQuery>,
    /// The extra UDP resolver's queries (`x_do53`).
    pub(super) do53_queries: Vec<DnsQuery>,
    /// The extra DoH resolver's queries (`x_doh`).
    pub(super) doh_queries: Vec<DnsQuery>,
    /// The late replies still being collected, classic resolver first; see
    /// [`collect_late_replies`].
    pub(super) pending_late: Vec<LateReplies>,
}

/// Waits for the late replies of every lookup, in order, and returns them all.
pub(super) async fn collect_late_replies(pending_late: Vec<LateReplies>) -> Vec<DnsQuery> {
    let mut late: Vec<DnsQuery> = Vec::new();
    for pending in pending_late {
        late.extend(pending.collect().await);
    }
    late
}

/// The bytes of the DNS responses recorded.
pub(super) fn dns_bytes<'a>(queries: impl Iterator<Item = &'a DnsQuery>) -> u64 {
    queries
        .filter_map(|query| query.raw_response.as_deref())
        .filter_map(|raw| base64::engine::general_purpose::STANDARD.decode(raw).ok())
        .map(|bytes| bytes.len() as u64)
        .sum()
}
