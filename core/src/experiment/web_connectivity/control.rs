//! The control step: the request to the test helper (the URL, OONI's default headers and the
//! endpoints the probe measures), made in parallel with the endpoints and the fetch, and the
//! client it goes through.

use url::Url;

use super::endpoints::Endpoint;
use super::WebConnectivityConfig;
use crate::failure::Failure;
use crate::net::http_client::{service_client, ServiceClient};
use crate::probe::http::default_request_headers;
use crate::th::{call_test_helper_counted, ThRequest, ThResponse};

/// The client for test helper calls, or why there is none.
pub(crate) fn th_client(
    config: &WebConnectivityConfig,
) -> std::result::Result<ServiceClient, Failure> {
    service_client(&config.trust, config.timeouts.th).map_err(|error| {
        tracing::warn!("web_connectivity: {error}");
        Failure::Unknown("cannot build the HTTP client".to_string())
    })
}

/// The request for the test helper (also recorded as `x_control_request`): `target`, OONI's
/// default request headers, and the endpoints the probe measures.
pub(super) fn control_request(target: &Url, endpoints: &[Endpoint]) -> ThRequest {
    ThRequest {
        http_request: target.to_string(),
        http_request_headers: crate::ordered::btree_map(
            default_request_headers()
                .into_iter()
                .map(|(name, value)| (name, vec![value])),
        ),
        tcp_connect: endpoints
            .iter()
            .map(|endpoint| endpoint.addr.to_string())
            .collect(),
        x_quic_enabled: false,
    }
}

/// Calls the test helper with `request`: its answer (or why there is none) and the bytes of
/// the answer's body.
pub(super) async fn call_control(
    config: &WebConnectivityConfig,
    client: std::result::Result<&ServiceClient, &Failure>,
    request: &ThRequest,
) -> (std::result::Result<ThResponse, Failure>, u64) {
    match (&config.th_url, client) {
        (None, _) => (
            Err(Failure::Unknown("no test helper configured".to_string())),
            0,
        ),
        (Some(_), Err(failure)) => (Err(failure.clone()), 0),
        (Some(th_url), Ok(client)) => {
            call_test_helper_counted(
                client,
                th_url,
                request,
                config.timeouts.th,
                config.th_body_cap,
            )
            .await
        }
    }
}
