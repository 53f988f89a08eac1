//! Calling a test helper: one POST with a timeout over the whole exchange and a cap on the
//! answer's size. Every problem is a [`Failure`] (the measurement's `control_failure`).

use std::time::Duration;

use url::Url;

use super::protocol::{ThRequest, ThResponse};
use crate::failure::Failure;
use crate::net::http_client::ServiceClient;

/// Sends `request` to the test helper at `th_url` and parses its answer.
///
/// The whole exchange (connect, TLS, request, reading the answer) is bounded by `timeout`
/// (`generic_timeout_error`), the answer by `body_cap` bytes. A status other than 200 is
/// `unknown_failure: test helper answered HTTP <status>`; an answer that is not a
/// test-helper response is `json_parse_error`.
pub async fn call_test_helper(
    client: &ServiceClient,
    th_url: &Url,
    request: &ThRequest,
    timeout: Duration,
    body_cap: usize,
) -> Result<ThResponse, Failure> {
    call_test_helper_counted(client, th_url, request, timeout, body_cap)
        .await
        .0
}

/// Like [`call_test_helper`], also returning the bytes of answer body received (counted even
/// when the answer is then rejected; headers and TLS overhead are not counted).
pub async fn call_test_helper_counted(
    client: &ServiceClient,
    th_url: &Url,
    request: &ThRequest,
    timeout: Duration,
    body_cap: usize,
) -> (Result<ThResponse, Failure>, u64) {
    let body = match serde_json::to_vec(request) {
        Ok(body) => body,
        Err(error) => {
            return (
                Err(Failure::Unknown(format!(
                    "cannot encode the request: {error}"
                ))),
                0,
            )
        }
    };
    let mut received = 0u64;
    let exchange = exchange(client, th_url, body, body_cap, &mut received);
    let result = match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Failure::GenericTimeout),
    };
    (result, received)
}

async fn exchange(
    client: &ServiceClient,
    th_url: &Url,
    body: Vec<u8>,
    body_cap: usize,
    received: &mut u64,
) -> Result<ThResponse, Failure> {
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let response = client
        .post(th_url, &headers, body, body_cap)
        .await
        .map_err(|error| error.failure())?;
    *received = response.received;
    if response.status != 200 {
        return Err(Failure::Unknown(format!(
            "test helper answered HTTP {}",
            response.status
        )));
    }
    if response.truncated {
        return Err(Failure::Unknown(format!(
            "test helper answer larger than {body_cap} bytes"
        )));
    }
    serde_json::from_slice(&response.body).map_err(|_| Failure::JsonParse)
}
