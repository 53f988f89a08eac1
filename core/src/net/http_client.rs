//! Service HTTP clients (DoH, collector, test helper).
//!
//! Built on reqwest with our own rustls configuration, so certificates are checked against
//! [`TrustAnchors`] (the bundled Mozilla roots, plus an optional CA file) and never against the
//! operating system's store. Proxies from the environment are ignored: a measurement must not
//! silently go through one.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::net::trust::TrustAnchors;

/// The `User-Agent` of every service request: `kuzet/<version>`.
pub const USER_AGENT: &str = concat!("kuzet/", env!("CARGO_PKG_VERSION"));

/// A client for service requests: HTTP/2 or HTTP/1.1 over TLS checked against `trust`, no
/// proxy, `timeout` both for connecting and for each whole request (body included).
pub fn service_client(trust: &TrustAnchors, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        // `use_preconfigured_tls` under its current name: reqwest must get a rustls
        // `ClientConfig` of the same rustls version, or it fails to build.
        .tls_backend_preconfigured(trust.client_config(&["h2", "http/1.1"]))
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|error| Error::TlsConfig(format!("cannot build the HTTP client: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_bundled_roots() {
        assert!(service_client(&TrustAnchors::bundled(), Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(USER_AGENT, format!("kuzet/{}", crate::VERSION));
    }
}
