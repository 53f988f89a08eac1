//! DNS over TLS (RFC 7858) on our own connection: TCP connect, a rustls handshake checked
//! against [`DnsOptions::trust`], then one length-prefixed query and reply. One connection
//! per query, as OONI's engine does.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::message::{raw, read_reply, Question, Reply};
use super::wire::RecordType;
use super::{new_query, type_name, DnsOptions, DnsTransport, QueryOutcome};
use crate::failure::Failure;
use crate::probe::flow::Flow;

/// The ALPN protocol of DNS over TLS.
const ALPN_DOT: &str = "dot";

/// Sends one query of `record_type` for `domain` to `server` over TLS.
pub(super) async fn query(
    flow: &Flow,
    server: SocketAddr,
    server_name: &str,
    domain: &str,
    record_type: RecordType,
    options: &DnsOptions,
) -> QueryOutcome {
    let transport = DnsTransport::Dot {
        server,
        server_name: server_name.to_string(),
    };
    let t0 = flow.clock.now();
    let mut query = new_query(flow, &transport, domain, type_name(record_type), t0);
    let mut addresses = Vec::new();
    let prepared = Question::new(domain, record_type).map(|question| {
        let id = crate::random::random_u16();
        let wire = question.encode(id);
        (question, id, wire)
    });
    match prepared {
        Err(failure) => query.failure = Some(failure),
        Ok((question, id, wire)) => {
            let exchanged = tokio::time::timeout(
                options.timeout,
                exchange(server, server_name, &wire, options),
            )
            .await;
            match exchanged {
                Err(_) => query.failure = Some(Failure::GenericTimeout),
                Ok(Err(failure)) => query.failure = Some(failure),
                Ok(Ok(bytes)) => {
                    let reply = read_reply(&bytes, id, &question);
                    query.raw_response = Some(raw(&bytes));
                    query.failure = reply.failure();
                    if let Reply::Matching(answered) = reply {
                        query.answers = answered.answers;
                        addresses = answered.addresses;
                    }
                }
            }
        }
    }
    query.t = flow.clock.now();
    QueryOutcome { query, addresses }
}

/// Connects, handshakes, sends `wire` and reads one reply of at most `options.response_cap`
/// bytes.
async fn exchange(
    server: SocketAddr,
    server_name: &str,
    wire: &[u8],
    options: &DnsOptions,
) -> Result<Vec<u8>, Failure> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| Failure::Unknown("invalid TLS server name".to_string()))?;
    let length = u16::try_from(wire.len())
        .map_err(|_| Failure::Unknown("DNS query too long".to_string()))?;
    let tcp = TcpStream::connect(server)
        .await
        .map_err(|error| Failure::from_io(&error))?;
    // The query should leave at once.
    let _ = tcp.set_nodelay(true);
    let connector = TlsConnector::from(Arc::new(options.trust.client_config(&[ALPN_DOT])));
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|error| Failure::from_io(&error))?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(wire);
    tls.write_all(&framed)
        .await
        .map_err(|error| Failure::from_io(&error))?;
    tls.flush()
        .await
        .map_err(|error| Failure::from_io(&error))?;
    let mut prefix = [0u8; 2];
    tls.read_exact(&mut prefix)
        .await
        .map_err(|error| Failure::from_io(&error))?;
    let length = usize::from(u16::from_be_bytes(prefix));
    if length > options.response_cap {
        tracing::debug!("dot: reply of {length} bytes exceeds the cap");
        return Err(Failure::DnsServerMisbehaving);
    }
    let mut reply = vec![0u8; length];
    tls.read_exact(&mut reply)
        .await
        .map_err(|error| Failure::from_io(&error))?;
    Ok(reply)
}
