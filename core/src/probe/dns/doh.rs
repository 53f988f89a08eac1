//! DNS over HTTPS (RFC 8484): one POST of `application/dns-message` per query type, both on
//! one service client (so one connection can carry both).
//!
//! A reply that is not `200` with `content-type: application/dns-message`, or whose body
//! exceeds [`DnsOptions::response_cap`], is `dns_server_misbehaving`, as in OONI's engine;
//! the status is logged at debug level.

use url::Url;

use super::message::{raw, read_reply, Question, Reply};
use super::wire::RecordType;
use super::{new_query, type_name, DnsOptions, DnsTransport, QueryOutcome};
use crate::failure::Failure;
use crate::net::http_client::{service_client, ServiceClient};
use crate::probe::flow::Flow;

/// The media type of DNS messages.
const DNS_MESSAGE: &str = "application/dns-message";

/// Looks `domain` up at `url`, A and AAAA in parallel. Returns the A outcome first.
pub(super) async fn lookup(
    flow: &Flow,
    url: &Url,
    domain: &str,
    options: &DnsOptions,
) -> Vec<QueryOutcome> {
    let client = service_client(&options.trust, options.timeout).map_err(|error| {
        tracing::warn!("doh: {error}");
        Failure::Unknown("cannot build the HTTP client".to_string())
    });
    let (a, aaaa) = tokio::join!(
        query(flow, client.as_ref(), url, domain, RecordType::A, options),
        query(
            flow,
            client.as_ref(),
            url,
            domain,
            RecordType::Aaaa,
            options
        ),
    );
    vec![a, aaaa]
}

/// One POST for `record_type`.
async fn query(
    flow: &Flow,
    client: Result<&ServiceClient, &Failure>,
    url: &Url,
    domain: &str,
    record_type: RecordType,
    options: &DnsOptions,
) -> QueryOutcome {
    let transport = DnsTransport::Doh { url: url.clone() };
    let t0 = flow.clock.now();
    let mut query = new_query(flow, &transport, domain, type_name(record_type), t0);
    let mut addresses = Vec::new();
    // RFC 8484 §4.1: the id should be 0 so that responses cache well.
    let prepared = client.map_err(Failure::clone).and_then(|client| {
        let question = Question::new(domain, record_type)?;
        let wire = question.encode(0);
        Ok((client, question, wire))
    });
    match prepared {
        Err(failure) => query.failure = Some(failure),
        Ok((client, question, wire)) => {
            let exchanged = tokio::time::timeout(
                options.timeout,
                exchange(client, url, wire, options.response_cap),
            )
            .await;
            match exchanged {
                Err(_) => query.failure = Some(Failure::GenericTimeout),
                Ok(Err(failure)) => query.failure = Some(failure),
                Ok(Ok(bytes)) => {
                    let reply = read_reply(&bytes, 0, &question);
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

/// POSTs `wire` and returns the body of a well-formed DoH reply.
async fn exchange(
    client: &ServiceClient,
    url: &Url,
    wire: Vec<u8>,
    cap: usize,
) -> Result<Vec<u8>, Failure> {
    let headers = [("content-type", DNS_MESSAGE), ("accept", DNS_MESSAGE)];
    let response = client
        .post(url, &headers, wire, cap)
        .await
        .map_err(|error| error.failure())?;
    if response.status != 200 {
        tracing::debug!("doh: HTTP status {}", response.status);
        return Err(Failure::DnsServerMisbehaving);
    }
    let media_type = response
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media_type.eq_ignore_ascii_case(DNS_MESSAGE) {
        tracing::debug!("doh: unexpected content-type");
        return Err(Failure::DnsServerMisbehaving);
    }
    if response.truncated {
        tracing::debug!("doh: body exceeds the cap");
        return Err(Failure::DnsServerMisbehaving);
    }
    Ok(response.body)
}
