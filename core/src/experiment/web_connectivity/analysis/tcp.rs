//! The TCP layer: what happened at each endpoint of the URL's port, and rule 5 (every
//! connect to the URL's port failed).

use std::net::{IpAddr, SocketAddr};

use super::{depth, Facts};
use crate::experiment::web_connectivity::verdict::{TcpBlock, Verdict};
use crate::failure::Failure;
use crate::report::observations::{TcpConnect, TlsHandshake};
use crate::th::ThResponse;

/// What happened at one endpoint of the URL's port at depth 0, all attempts together.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// The endpoint.
    pub(super) addr: SocketAddr,
    /// `Ok` when any connect succeeded, else the first failure.
    pub(super) tcp: Result<(), Failure>,
    /// `None` when no handshake was attempted; `Ok` when any succeeded, else the first failure
    /// (a certificate failure preferred) and its handshake.
    pub(super) tls: Option<Result<(), (Failure, TlsHandshake)>>,
}

/// The endpoints of `port` at depth 0 in `tcp_connect`, in first-seen order, with their
/// connects (no handshake yet: [`super::tls::fold_handshakes`] adds them).
pub(super) fn url_port_endpoints(tcp_connect: &[TcpConnect], port: u16) -> Vec<Endpoint> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for connect in tcp_connect {
        if depth(&connect.tags) != 0 || connect.port != port {
            continue;
        }
        let Ok(ip) = connect.ip.parse::<IpAddr>() else {
            continue;
        };
        let addr = SocketAddr::new(ip, port);
        let outcome = match (&connect.status.failure, connect.status.success) {
            (None, true) => Ok(()),
            (Some(failure), _) => Err(failure.clone()),
            (None, false) => Err(Failure::Unknown("connect failed".to_string())),
        };
        match endpoints.iter_mut().find(|e| e.addr == addr) {
            Some(endpoint) => {
                if outcome.is_ok() {
                    endpoint.tcp = Ok(());
                }
            }
            None => endpoints.push(Endpoint {
                addr,
                tcp: outcome,
                tls: None,
            }),
        }
    }
    endpoints
}

impl Facts<'_> {
    /// Rule 5: every connect to the URL's port failed → `tcp_blocked` if the helper connected
    /// to one of those endpoints (or, not having tried them, fetched the page), else
    /// `site_down`; `None` when a connect succeeded or none was made.
    pub(super) fn connect_verdict(&self, control: &ThResponse) -> Option<Verdict> {
        if !self.endpoints.is_empty() && self.endpoints.iter().all(|e| e.tcp.is_err()) {
            let failure = self
                .endpoints
                .iter()
                .find_map(|e| e.tcp.as_ref().err())
                .cloned()
                .unwrap_or(Failure::GenericTimeout);
            let keys: Vec<String> = self.endpoints.iter().map(|e| e.addr.to_string()).collect();
            let tried: Vec<_> = keys
                .iter()
                .filter_map(|key| control.tcp_connect.get(key))
                .collect();
            let reached = tried.iter().any(|result| result.status);
            return Some(
                if reached || (tried.is_empty() && control.http_request.succeeded()) {
                    Verdict::TcpBlocked {
                        how: TcpBlock::from_failure(&failure),
                    }
                } else {
                    Verdict::SiteDown
                },
            );
        }
        None
    }
}
