//! DNS over UDP on our own socket: a random transaction id, replies accepted only from the
//! server (the socket is connected) with our id and question, and every other reply recorded,
//! including those that arrive within the late-reply window after the one we used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

use super::message::{raw, read_reply, Question, Reply};
use super::wire::RecordType;
use super::{new_query, type_name, DnsOptions, DnsTransport, LateReplies, QueryOutcome};
use crate::failure::Failure;
use crate::probe::flow::Flow;
use crate::report::observations::{DnsAnswer, DnsQuery};

/// The largest datagram recorded; longer ones are cut here and count as malformed.
const MAX_DATAGRAM: usize = 4096;
/// The most replies recorded per query (the one used included); later ones are read and
/// dropped so that a flood cannot grow memory.
const MAX_REPLIES: usize = 16;

/// One UDP query's outcome and the replies it did not use.
#[derive(Debug)]
pub(super) struct UdpOutcome {
    /// The observation of the query.
    pub(super) outcome: QueryOutcome,
    /// Duplicate, late and rejected replies.
    pub(super) late: LateReplies,
}

/// Sends one query of `record_type` for `domain` to `server` and waits for the reply.
pub(super) async fn query(
    flow: &Flow,
    server: SocketAddr,
    domain: &str,
    record_type: RecordType,
    options: &DnsOptions,
) -> UdpOutcome {
    let transport = DnsTransport::Udp { server };
    let t0 = flow.clock.now();
    let deadline = Instant::now() + options.timeout;
    let mut query = new_query(flow, &transport, domain, type_name(record_type), t0);
    let mut late = LateReplies::none();
    let mut addresses = Vec::new();

    let prepared = Question::new(domain, record_type).map(|question| {
        let id = crate::random::random_u16();
        let wire = question.encode(id);
        (question, id, wire)
    });
    match prepared {
        Err(failure) => query.failure = Some(failure),
        Ok((question, id, wire)) => {
            let exchange = Exchange {
                flow: flow.clone(),
                question,
                id,
                query_type: query.query_type.clone(),
                t0,
                resolver_address: query.resolver_address.clone(),
                domain: domain.to_string(),
                recorded: 0,
            };
            match timeout_at(deadline, open(server, &wire)).await {
                Err(_) => query.failure = Some(Failure::GenericTimeout),
                Ok(Err(error)) => query.failure = Some(Failure::from_io(&error)),
                Ok(Ok(socket)) => {
                    let received = exchange
                        .receive(socket, deadline, options.late_reply_window)
                        .await;
                    query.failure = received.failure;
                    query.answers = received.answers;
                    query.raw_response = received.raw_response;
                    addresses = received.addresses;
                    late = received.late;
                }
            }
        }
    }
    query.t = flow.clock.now();
    UdpOutcome {
        outcome: QueryOutcome { query, addresses },
        late,
    }
}

/// Binds a socket of the server's family, connects it to the server (so the kernel drops
/// datagrams from anyone else and reports ICMP errors) and sends the query.
async fn open(server: SocketAddr, wire: &[u8]) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(wire).await?;
    Ok(socket)
}

/// What receiving produced for the query itself.
struct Received {
    failure: Option<Failure>,
    answers: Vec<DnsAnswer>,
    raw_response: Option<String>,
    addresses: Vec<IpAddr>,
    late: LateReplies,
}

/// The state of one query's exchange, moved into the late-reply task once a reply is used.
struct Exchange {
    flow: Flow,
    question: Question,
    id: u16,
    query_type: String,
    t0: f64,
    resolver_address: String,
    domain: String,
    /// Replies recorded so far (the one used included).
    recorded: usize,
}

impl Exchange {
    /// Reads datagrams until one answers our question or the deadline passes. Once one does,
    /// a task keeps reading for `window` to record duplicates and late replies.
    async fn receive(mut self, socket: UdpSocket, deadline: Instant, window: Duration) -> Received {
        let mut rejected: Vec<DnsQuery> = Vec::new();
        let mut first_rejection: Option<(Failure, String)> = None;
        let mut saw_wrong_id = false;
        let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let length = match timeout_at(deadline, socket.recv(&mut buffer)).await {
                Ok(Ok(length)) => length,
                Ok(Err(error)) => {
                    return self.failed(Failure::from_io(&error), first_rejection, rejected);
                }
                Err(_) => {
                    let failure = match &first_rejection {
                        None => Failure::GenericTimeout,
                        Some(_) if saw_wrong_id => Failure::DnsWrongQueryId,
                        Some((failure, _)) => failure.clone(),
                    };
                    return self.failed(failure, first_rejection, rejected);
                }
            };
            let (bytes, reply) = self.read(&buffer, length);
            match reply {
                Reply::Matching(answered) => {
                    self.recorded += 1;
                    let late = self.listen_late(socket, window, rejected);
                    return Received {
                        failure: answered.failure,
                        answers: answered.answers,
                        raw_response: Some(raw(bytes)),
                        addresses: answered.addresses,
                        late,
                    };
                }
                other => {
                    saw_wrong_id |= matches!(other, Reply::WrongId(_));
                    if first_rejection.is_none() {
                        let failure = other.failure().unwrap_or(Failure::DnsServerMisbehaving);
                        first_rejection = Some((failure, raw(bytes)));
                    }
                    if let Some(entry) = self.record(bytes, &other) {
                        rejected.push(entry);
                    }
                }
            }
        }
    }

    /// The datagram in `buffer` (cut at [`MAX_DATAGRAM`]) and what it is.
    fn read<'b>(&self, buffer: &'b [u8], length: usize) -> (&'b [u8], Reply) {
        let kept = length.min(MAX_DATAGRAM);
        let bytes = &buffer[..kept];
        if length > MAX_DATAGRAM {
            tracing::debug!("udp dns: oversized reply cut at {MAX_DATAGRAM} bytes");
            return (bytes, Reply::Malformed);
        }
        (bytes, read_reply(bytes, self.id, &self.question))
    }

    /// The `queries` entry for a reply the lookup did not use, unless the cap is reached.
    fn record(&mut self, bytes: &[u8], reply: &Reply) -> Option<DnsQuery> {
        if self.recorded >= MAX_REPLIES {
            return None;
        }
        self.recorded += 1;
        Some(DnsQuery {
            answers: reply.answers(),
            engine: "udp".to_string(),
            failure: reply.failure(),
            hostname: self.domain.clone(),
            query_type: self.query_type.clone(),
            raw_response: Some(raw(bytes)),
            resolver_address: self.resolver_address.clone(),
            resolver_hostname: None,
            resolver_port: None,
            t0: self.t0,
            t: self.flow.clock.now(),
            tags: self.flow.tags.clone(),
            transaction_id: self.flow.transaction_id,
        })
    }

    /// The query failed: no reply answered it.
    fn failed(
        self,
        failure: Failure,
        first_rejection: Option<(Failure, String)>,
        rejected: Vec<DnsQuery>,
    ) -> Received {
        Received {
            failure: Some(failure),
            answers: Vec::new(),
            // The reply the failure is about (a wrong id, a malformed message), if any.
            raw_response: first_rejection.map(|(_, raw)| raw),
            addresses: Vec::new(),
            late: LateReplies {
                ready: rejected,
                pending: Vec::new(),
            },
        }
    }

    /// Spawns the task that records further replies for `window`.
    fn listen_late(self, socket: UdpSocket, window: Duration, ready: Vec<DnsQuery>) -> LateReplies {
        if window.is_zero() {
            return LateReplies {
                ready,
                pending: Vec::new(),
            };
        }
        let mut exchange = self;
        let handle = tokio::spawn(async move {
            let deadline = Instant::now() + window;
            let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
            let mut late = Vec::new();
            // Stops at the deadline or on a socket error (e.g. an ICMP port unreachable).
            while let Ok(Ok(length)) = timeout_at(deadline, socket.recv(&mut buffer)).await {
                let (bytes, reply) = exchange.read(&buffer, length);
                if let Some(entry) = exchange.record(bytes, &reply) {
                    late.push(entry);
                }
            }
            late
        });
        LateReplies {
            ready,
            pending: vec![handle],
        }
    }
}
