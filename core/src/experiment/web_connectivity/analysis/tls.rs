//! The TLS layer: the handshakes at each endpoint, the interception evidence they carry
//! (forged certificates, Kazakhstan's known interception roots: rule 2), rule 6 (every
//! handshake on the URL's port failed) and the handshakes of rule 7.

use std::net::SocketAddr;

use super::tcp::Endpoint;
use super::{depth, Facts};
use crate::experiment::web_connectivity::kz_roots::{inspect_chain, ChainInspection};
use crate::experiment::web_connectivity::verdict::{TlsBlock, Verdict};
use crate::experiment::web_connectivity::x509::certificate_names;
use crate::failure::Failure;
use crate::report::observations::TlsHandshake;
use crate::th::ThResponse;

/// True for the failures of certificate verification.
fn is_certificate_failure(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::SslUnknownAuthority | Failure::SslInvalidCertificate | Failure::SslInvalidHostname
    )
}

/// A failed handshake that presented a certificate that did not verify.
#[derive(Debug, Clone)]
pub(super) struct Interception {
    chain: ChainInspection,
    sni: String,
}

/// What the handshakes show of interception (see the fields of the same names in `Facts`).
pub(super) struct InterceptionEvidence {
    /// The first handshake on the URL's port at depth 0 that presented a chain that did not
    /// verify.
    pub(super) interception: Option<Interception>,
    /// The first handshake (any hop, any port) that presented a known Kazakh interception
    /// chain.
    pub(super) known_interception: Option<Interception>,
    /// The same, among the fetch's handshakes only.
    pub(super) known_on_fetch_path: Option<Interception>,
}

/// Adds the depth-0 handshakes of `handshakes` to the `endpoints` of `port` they reached, and
/// finds the interception evidence among every handshake.
pub(super) fn fold_handshakes(
    handshakes: &[TlsHandshake],
    port: u16,
    endpoints: &mut [Endpoint],
) -> InterceptionEvidence {
    let mut interception = None;
    let mut known_interception = None;
    let mut known_on_fetch_path = None;
    for handshake in handshakes {
        let Ok(addr) = handshake.address.parse::<SocketAddr>() else {
            continue;
        };
        let first_hop = depth(&handshake.tags) == 0;
        if let Some(failure) = &handshake.failure {
            if is_certificate_failure(failure) && !handshake.peer_certificates.is_empty() {
                let found = Interception {
                    chain: inspect_handshake(handshake),
                    sni: handshake.server_name.clone(),
                };
                // A known Kazakh chain is evidence on any handshake, even the 443 one
                // that only validates an http URL's addresses: that name's HTTPS is
                // intercepted.
                if known_interception.is_none() && found.chain.known_kz_root {
                    known_interception = Some(found.clone());
                }
                let fetch_path = !first_hop || addr.port() == port;
                if known_on_fetch_path.is_none() && found.chain.known_kz_root && fetch_path {
                    known_on_fetch_path = Some(found.clone());
                }
                // Other chains only on the URL's port: a site without https (or a shared
                // host's default certificate) on 443 says nothing about an http URL.
                if interception.is_none()
                    && first_hop
                    && addr.port() == port
                    && is_forgery(handshake)
                {
                    interception = Some(found);
                }
            }
        }
        if !first_hop {
            continue;
        }
        let Some(endpoint) = endpoints.iter_mut().find(|e| e.addr == addr) else {
            continue;
        };
        let outcome = match &handshake.failure {
            None => Ok(()),
            Some(failure) => Err((failure.clone(), handshake.clone())),
        };
        endpoint.tls = Some(match (endpoint.tls.take(), outcome) {
            (Some(Ok(())), _) | (_, Ok(())) => Ok(()),
            (None, Err(new)) => Err(new),
            (Some(Err(old)), Err(new)) => {
                if !is_certificate_failure(&old.0) && is_certificate_failure(&new.0) {
                    Err(new)
                } else {
                    Err(old)
                }
            }
        });
    }
    InterceptionEvidence {
        interception,
        known_interception,
        known_on_fetch_path,
    }
}

impl Facts<'_> {
    /// Rule 6, for an https URL: when every handshake attempted on the URL's port failed,
    /// the verdict of [`Facts::tls_verdict`]; `None` otherwise.
    pub(super) fn handshake_verdict(&self, control: &ThResponse) -> Option<Verdict> {
        if self.https {
            let attempted: Vec<&Endpoint> = self
                .endpoints
                .iter()
                .filter(|e| e.tcp.is_ok() && e.tls.is_some())
                .collect();
            let all_failed =
                !attempted.is_empty() && attempted.iter().all(|e| matches!(e.tls, Some(Err(_))));
            if all_failed {
                return self.tls_verdict(control, &attempted);
            }
        }
        None
    }

    /// Rule 6: every handshake on the URL's port failed.
    fn tls_verdict(&self, control: &ThResponse, attempted: &[&Endpoint]) -> Option<Verdict> {
        let failures: Vec<&(Failure, TlsHandshake)> = attempted
            .iter()
            .filter_map(|e| e.tls.as_ref().and_then(|tls| tls.as_ref().err()))
            .collect();
        let (failure, handshake) = failures
            .iter()
            .find(|(failure, _)| is_certificate_failure(failure))
            .or(failures.first())
            .map(|pair| (&pair.0, &pair.1))?;
        let same_endpoints: Vec<bool> = attempted
            .iter()
            .filter_map(|e| control.tls_handshake.get(&e.addr.to_string()))
            .map(|result| result.status)
            .collect();
        let fine_elsewhere = if same_endpoints.is_empty() {
            self.control_verified_name(control) || control.http_request.succeeded()
        } else {
            same_endpoints.iter().any(|ok| *ok)
        };
        if is_forgery(handshake) {
            // A certificate for the name from an unknown authority, where the helper's
            // handshake to the same endpoint verified (or, not having tried it, the name).
            return Some(if fine_elsewhere {
                mitm(&Interception {
                    chain: inspect_handshake(handshake),
                    sni: handshake.server_name.clone(),
                })
            } else {
                Verdict::SiteDown
            });
        }
        Some(if fine_elsewhere {
            Verdict::TlsBlocked {
                how: TlsBlock::from_failure(failure),
                sni: handshake.server_name.clone(),
            }
        } else {
            Verdict::SiteDown
        })
    }

    /// Rule 7 for a handshake failure after the first hop: the last failed handshake.
    pub(super) fn later_tls_verdict(&self, failure: &Failure) -> Verdict {
        let handshake = self
            .observations
            .tls_handshakes
            .iter()
            .filter(|h| h.failure.is_some())
            .max_by(|a, b| a.t.total_cmp(&b.t));
        match handshake {
            Some(handshake) if is_forgery(handshake) => mitm(&Interception {
                chain: inspect_handshake(handshake),
                sni: handshake.server_name.clone(),
            }),
            Some(handshake) => Verdict::TlsBlocked {
                how: TlsBlock::from_failure(failure),
                sni: handshake.server_name.clone(),
            },
            None => Verdict::HttpFailure {
                failure: failure.clone(),
            },
        }
    }

    /// True when a handshake at the helper with the URL's host as SNI succeeded.
    pub(super) fn control_verified_name(&self, control: &ThResponse) -> bool {
        control
            .tls_handshake
            .values()
            .any(|result| result.status && result.server_name.eq_ignore_ascii_case(&self.host))
    }
}

/// True when a failed handshake looks like interception: the presented leaf names the SNI
/// (an interceptor forges the site's names), and the chain failed because of who issued it
/// (`ssl_unknown_authority`) or its validity (`ssl_invalid_certificate`). A certificate for
/// another name (`ssl_invalid_hostname`, or a leaf that does not name the SNI) is some other
/// server answering: a diversion, not a forgery.
fn is_forgery(handshake: &TlsHandshake) -> bool {
    let authority = matches!(
        handshake.failure,
        Some(Failure::SslUnknownAuthority | Failure::SslInvalidCertificate)
    );
    authority
        && handshake
            .peer_certificates
            .first()
            .and_then(|leaf| leaf.to_bytes())
            .and_then(|der| certificate_names(&der))
            .is_some_and(|names| names.names_host(&handshake.server_name))
}

/// What the chain a handshake presented says of its issuer (a known Kazakh root?).
fn inspect_handshake(handshake: &TlsHandshake) -> ChainInspection {
    let chain: Vec<Vec<u8>> = handshake
        .peer_certificates
        .iter()
        .filter_map(|certificate| certificate.to_bytes())
        .collect();
    inspect_chain(&chain)
}

/// The `tls_mitm` verdict for `interception`.
pub(super) fn mitm(interception: &Interception) -> Verdict {
    Verdict::TlsMitm {
        issuer: interception.chain.issuer.clone(),
        known_kz_root: interception.chain.known_kz_root,
        sni: interception.sni.clone(),
    }
}
