//! TCP connect to one endpoint, with a timeout, observed as a df-005 `tcp_connect` entry.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::failure::Failure;
use crate::probe::flow::Flow;
use crate::report::observations::{TcpConnect, TcpConnectStatus};

/// Connects to `endpoint`, giving up after `timeout`. Returns the stream (or the failure) and
/// the observation, which is produced in both cases.
pub async fn tcp_connect(
    flow: &Flow,
    endpoint: SocketAddr,
    timeout: Duration,
) -> (Result<TcpStream, Failure>, TcpConnect) {
    let t0 = flow.clock.now();
    let result = match tokio::time::timeout(timeout, TcpStream::connect(endpoint)).await {
        Ok(Ok(stream)) => {
            // Small requests and handshakes should leave at once.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(error)) => Err(Failure::from_io(&error)),
        Err(_) => Err(Failure::GenericTimeout),
    };
    let observation = TcpConnect {
        ip: endpoint.ip().to_string(),
        port: endpoint.port(),
        status: TcpConnectStatus {
            success: result.is_ok(),
            failure: result.as_ref().err().cloned(),
            blocked: None,
        },
        t0,
        t: flow.clock.now(),
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
    };
    (result, observation)
}
