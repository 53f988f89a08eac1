//! DNS lookups through the system resolver (getaddrinfo), DNS over UDP, DoH and DoT, each
//! observed as OONI `queries` entries (df-002).
//!
//! The UDP, DoH and DoT transports are written here on top of plain sockets, reqwest and
//! tokio-rustls, with Kuzet's own small wire codec (`wire.rs`) to build and parse messages.
//! A resolver library would hide what a measurement needs: the raw response bytes, duplicate
//! and late replies (injection evidence), replies with the wrong id and the exact socket or
//! TLS error.
//!
//! CONTRACT (other code depends on these names):
//! - [`DnsTransport`], [`DnsTransport::parse`], [`DnsTransport::engine`],
//!   [`DnsTransport::address`];
//! - [`DnsOptions`], [`DnsLookup`], [`LateReplies`] and [`dns_lookup`].

mod doh;
mod dot;
mod message;
mod system;
mod transport;
mod udp;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::task::JoinHandle;
use url::Url;

use crate::failure::Failure;
use crate::net::trust::TrustAnchors;
use crate::probe::flow::Flow;
use crate::report::observations::DnsQuery;
use wire::RecordType;

/// Which resolver a lookup goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsTransport {
    /// The operating system's resolver (getaddrinfo).
    System,
    /// Plain DNS over UDP to this server.
    Udp {
        /// The resolver's address.
        server: SocketAddr,
    },
    /// DNS over HTTPS (RFC 8484, POST) to this URL.
    Doh {
        /// The DoH endpoint, e.g. `https://dns.example/dns-query`.
        url: Url,
    },
    /// DNS over TLS (RFC 7858) to this server.
    Dot {
        /// The resolver's address.
        server: SocketAddr,
        /// The SNI and the name its certificate must carry.
        server_name: String,
    },
}

/// How a lookup is made: its timeout, how long to listen for late UDP replies, which roots
/// DoH and DoT servers are checked against, and the largest response accepted.
#[derive(Debug, Clone)]
pub struct DnsOptions {
    /// The whole lookup (both query types, which run in parallel). 4 s by default, as OONI.
    pub timeout: Duration,
    /// UDP only: how long to keep listening after the first valid reply, to record duplicate
    /// and late replies. 1 s by default.
    pub late_reply_window: Duration,
    /// The roots DoH and DoT certificates must chain to (never the operating system's store).
    pub trust: TrustAnchors,
    /// The largest DoH or DoT response accepted, in bytes. 64 KiB by default (the largest a
    /// DNS message can be).
    pub response_cap: usize,
}

/// The default [`DnsOptions::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);
/// The default [`DnsOptions::late_reply_window`].
pub const DEFAULT_LATE_REPLY_WINDOW: Duration = Duration::from_secs(1);
/// The default [`DnsOptions::response_cap`].
pub const DEFAULT_RESPONSE_CAP: usize = 64 * 1024;

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            timeout: DEFAULT_TIMEOUT,
            late_reply_window: DEFAULT_LATE_REPLY_WINDOW,
            trust: TrustAnchors::bundled(),
            response_cap: DEFAULT_RESPONSE_CAP,
        }
    }
}

/// The outcome of one lookup.
#[derive(Debug)]
pub struct DnsLookup {
    /// The addresses found, deduplicated: A answers first, then AAAA.
    pub addresses: Vec<IpAddr>,
    /// `None` when at least one address came back; otherwise the A query's failure (the more
    /// meaningful one, as in OONI), else the AAAA query's.
    pub failure: Option<Failure>,
    /// The OONI `queries` entries: one per query type (A, then AAAA) for udp, doh and dot;
    /// one with `query_type` `ANY` for getaddrinfo.
    pub queries: Vec<DnsQuery>,
    /// Every other UDP reply (duplicates, late replies, replies with the wrong id): OONI's
    /// `x_dns_duplicate_responses`. Empty for the other transports.
    pub late_replies: LateReplies,
}

/// The replies a UDP lookup did not use, some still being collected in the background until
/// [`DnsOptions::late_reply_window`] has passed. Dropping it stops the collection.
#[derive(Debug, Default)]
pub struct LateReplies {
    ready: Vec<DnsQuery>,
    pending: Vec<JoinHandle<Vec<DnsQuery>>>,
}

impl LateReplies {
    /// No late replies (every transport but UDP).
    pub fn none() -> Self {
        LateReplies::default()
    }

    fn merge(&mut self, other: LateReplies) {
        let mut other = other;
        self.ready.append(&mut other.ready);
        self.pending.append(&mut other.pending);
    }

    /// Waits until the late-reply window has passed and returns every reply the lookup did
    /// not use, in arrival order. Each is a `queries` entry whose `failure` tells why it was
    /// not used (`dns_reply_with_wrong_query_id`, `dns_server_misbehaving`) or is the reply's
    /// own outcome (a duplicate answer, an NXDOMAIN...).
    pub async fn collect(mut self) -> Vec<DnsQuery> {
        let mut replies = std::mem::take(&mut self.ready);
        for handle in std::mem::take(&mut self.pending) {
            // A collection task only fails if the runtime is shutting down: keep what we have.
            if let Ok(mut late) = handle.await {
                replies.append(&mut late);
            }
        }
        crate::ordered::sort_by_f64_key(&mut replies, |query| query.t);
        replies
    }
}

impl Drop for LateReplies {
    fn drop(&mut self) {
        for handle in &self.pending {
            handle.abort();
        }
    }
}

/// Looks `domain` up through `transport`, A and AAAA in parallel (or one getaddrinfo call),
/// and returns the addresses with the observations. Never fails: every problem is a
/// [`Failure`] in the result. Needs a tokio runtime (UDP spawns its late-reply collectors).
pub async fn dns_lookup(
    flow: &Flow,
    transport: &DnsTransport,
    domain: &str,
    options: &DnsOptions,
) -> DnsLookup {
    match transport {
        DnsTransport::System => system::lookup(flow, domain, options).await,
        DnsTransport::Udp { server } => {
            let (a, aaaa) = tokio::join!(
                udp::query(flow, *server, domain, RecordType::A, options),
                udp::query(flow, *server, domain, RecordType::Aaaa, options),
            );
            let mut late = a.late;
            late.merge(aaaa.late);
            combine(vec![a.outcome, aaaa.outcome], late)
        }
        DnsTransport::Doh { url } => {
            let outcomes = doh::lookup(flow, url, domain, options).await;
            combine(outcomes, LateReplies::none())
        }
        DnsTransport::Dot {
            server,
            server_name,
        } => {
            let (a, aaaa) = tokio::join!(
                dot::query(flow, *server, server_name, domain, RecordType::A, options),
                dot::query(
                    flow,
                    *server,
                    server_name,
                    domain,
                    RecordType::Aaaa,
                    options
                ),
            );
            combine(vec![a, aaaa], LateReplies::none())
        }
    }
}

/// One query's observation and the addresses it found.
#[derive(Debug)]
struct QueryOutcome {
    query: DnsQuery,
    addresses: Vec<IpAddr>,
}

/// Joins the per-type outcomes (A first) into one lookup.
fn combine(outcomes: Vec<QueryOutcome>, late_replies: LateReplies) -> DnsLookup {
    let mut addresses: Vec<IpAddr> = Vec::new();
    for outcome in &outcomes {
        for address in &outcome.addresses {
            if !addresses.contains(address) {
                addresses.push(*address);
            }
        }
    }
    let failure = if addresses.is_empty() {
        Some(
            outcomes
                .iter()
                .find_map(|outcome| outcome.query.failure.clone())
                .unwrap_or(Failure::DnsNoAnswer),
        )
    } else {
        None
    };
    DnsLookup {
        addresses,
        failure,
        queries: outcomes.into_iter().map(|outcome| outcome.query).collect(),
        late_replies,
    }
}

/// A `queries` entry for one query, with no answer and no failure yet; `t` is set to `t0`.
fn new_query(
    flow: &Flow,
    transport: &DnsTransport,
    domain: &str,
    query_type: &str,
    t0: f64,
) -> DnsQuery {
    DnsQuery {
        answers: Vec::new(),
        engine: transport.engine().to_string(),
        failure: None,
        hostname: domain.to_string(),
        query_type: query_type.to_string(),
        raw_response: None,
        resolver_address: transport.address(),
        resolver_hostname: None,
        resolver_port: None,
        t0,
        t: t0,
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
    }
}

/// The name of a query type as OONI writes it.
fn type_name(record_type: RecordType) -> &'static str {
    record_type.name()
}
