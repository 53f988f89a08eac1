//! The DNS layer: `dns_consistency` (the probe's answers against the helper's), rule 3 (no
//! control: only a DoH answer can still prove tampering) and rule 4 (the probe's lookup against
//! the helper's).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use super::http::HttpDiff;
use super::tls::mitm;
use super::Facts;
use crate::experiment::web_connectivity::verdict::{DnsConsistency, DnsTamper, Verdict};
use crate::failure::Failure;
use crate::ordered::btree_set;
use crate::th::{ThResponse, IP_FLAG_VALID_FOR_DOMAIN};

impl Facts<'_> {
    /// The addresses the probe's classic resolver returned (the IP itself for IP URLs).
    fn probe_addresses(&self) -> Vec<IpAddr> {
        match (&self.observations.system_dns, self.host.parse::<IpAddr>()) {
            (_, Ok(ip)) => vec![ip],
            (Some(dns), _) => dns.addresses.clone(),
            (None, _) => Vec::new(),
        }
    }

    /// True when a verified handshake with the URL's host as SNI reached `ip` at the probe,
    /// or the helper says the address is valid for the domain.
    fn valid_for_domain(&self, ip: IpAddr, control: &ThResponse) -> bool {
        let verified_here = self.observations.tls_handshakes.iter().any(|handshake| {
            handshake.failure.is_none()
                && !handshake.no_tls_verify
                && handshake.server_name.eq_ignore_ascii_case(&self.host)
                && handshake
                    .address
                    .parse::<SocketAddr>()
                    .is_ok_and(|addr| addr.ip() == ip)
        });
        let verified_there = control
            .ip_info
            .get(&ip.to_string())
            .is_some_and(|info| info.flags & IP_FLAG_VALID_FOR_DOMAIN != 0);
        verified_here || verified_there
    }

    /// `dns_consistency` against the helper's lookup (see the module docs).
    pub(super) fn dns_consistency(&self, control: &ThResponse) -> DnsConsistency {
        use DnsConsistency::{Consistent, Inconsistent};
        if self.host_is_ip {
            return Consistent;
        }
        let Some(probe) = &self.observations.system_dns else {
            return Consistent;
        };
        let th_addrs = control.dns.ips();
        match (&probe.failure, &control.dns.failure) {
            (Some(failure), Some(_)) => {
                let both_nxdomain = control.dns.is_name_error()
                    && matches!(
                        failure,
                        Failure::DnsNxdomain | Failure::AndroidDnsCacheNoData
                    );
                return if both_nxdomain {
                    Consistent
                } else {
                    Inconsistent
                };
            }
            // The helper writes an empty answer as no failure and no address.
            (Some(Failure::DnsNoAnswer), None) if th_addrs.is_empty() => return Consistent,
            (Some(_), None) => return Inconsistent,
            _ => {}
        }
        if probe.addresses.iter().any(|ip| th_addrs.contains(ip)) {
            return Consistent;
        }
        // Same AS (the helper's ip_info knows ASNs when it has a database; 0 is unknown).
        let asn = |ip: &IpAddr| {
            control
                .ip_info
                .get(&ip.to_string())
                .map(|info| info.asn)
                .unwrap_or(0)
        };
        let th_asns: BTreeSet<i64> = btree_set(th_addrs.iter().map(asn).filter(|a| *a != 0));
        if probe
            .addresses
            .iter()
            .map(asn)
            .any(|a| th_asns.contains(&a))
        {
            return Consistent;
        }
        // v0.5: an address proven valid for the name is consistent whatever its AS.
        if probe
            .addresses
            .iter()
            .any(|ip| !self.bogons.is_bogon(*ip) && self.valid_for_domain(*ip, control))
        {
            return Consistent;
        }
        Inconsistent
    }

    /// True when the probe got a bogon that the reference resolver did not return, while the
    /// reference returned a public address.
    fn bogon_only_at_probe(&self, reference: &[IpAddr]) -> bool {
        let reference_public = reference.iter().any(|ip| !self.bogons.is_bogon(*ip));
        reference_public
            && self
                .probe_addresses()
                .iter()
                .any(|ip| self.bogons.is_bogon(*ip) && !reference.contains(ip))
    }

    /// Rule 3: no control. Only a DoH answer can still prove DNS tampering.
    pub(super) fn without_control(&self) -> Verdict {
        let why = match &self.observations.control_failure {
            Some(failure) => format!("control unavailable: {failure}"),
            None => "control unavailable".to_string(),
        };
        if let (Some(system), Some(doh)) =
            (&self.observations.system_dns, &self.observations.doh_dns)
        {
            if doh.failure.is_none() && !doh.addresses.is_empty() {
                match &system.failure {
                    Some(
                        Failure::DnsNxdomain
                        | Failure::AndroidDnsCacheNoData
                        | Failure::DnsNoAnswer,
                    ) => {
                        return Verdict::DnsTampered {
                            how: DnsTamper::Nxdomain,
                        }
                    }
                    None if self.bogon_only_at_probe(&doh.addresses) => {
                        return Verdict::DnsTampered {
                            how: DnsTamper::Bogon,
                        }
                    }
                    _ => {}
                }
            }
        }
        Verdict::Undetermined {
            why,
            failed: self.final_success().is_none(),
        }
    }

    /// Rule 4: DNS against the helper's lookup; `None` when DNS explains nothing.
    pub(super) fn dns_verdict(
        &self,
        control: &ThResponse,
        diff: &HttpDiff,
        dns: Option<DnsConsistency>,
    ) -> Option<Verdict> {
        let system = self.observations.system_dns.as_ref()?;
        let th_addrs = control.dns.ips();
        if let Some(failure) = &system.failure {
            return Some(if th_addrs.is_empty() {
                Verdict::SiteDown
            } else {
                dns_failure_verdict(failure)
            });
        }
        if dns != Some(DnsConsistency::Inconsistent) || th_addrs.is_empty() {
            return None;
        }
        if self.bogon_only_at_probe(&th_addrs) {
            return Some(Verdict::DnsTampered {
                how: DnsTamper::Bogon,
            });
        }
        if let Some(interception) = &self.interception {
            if self.control_verified_name(control) || control.http_request.succeeded() {
                return Some(mitm(interception));
            }
        }
        if !control.http_request.succeeded() {
            return None;
        }
        let page_matches = self.final_success().is_some() && diff.page_matches();
        if page_matches {
            // Other addresses, same page: a CDN the helper could not vouch for.
            return None;
        }
        Some(Verdict::DnsTampered {
            how: DnsTamper::Hijack,
        })
    }
}

/// The verdict for a lookup that failed while the name resolves elsewhere.
pub(super) fn dns_failure_verdict(failure: &Failure) -> Verdict {
    let how = match failure {
        Failure::DnsNxdomain | Failure::AndroidDnsCacheNoData | Failure::DnsNoAnswer => {
            DnsTamper::Nxdomain
        }
        Failure::GenericTimeout => DnsTamper::Timeout,
        _ => DnsTamper::Error,
    };
    Verdict::DnsTampered { how }
}
