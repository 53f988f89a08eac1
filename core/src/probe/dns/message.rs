//! DNS wire messages: building queries and reading replies into `queries` answers, with the
//! rcode-to-failure mapping OONI uses. `hickory-proto` does the encoding and decoding only.

use std::net::IpAddr;

use base64::Engine as _;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::failure::Failure;
use crate::report::observations::DnsAnswer;

/// The UDP payload size advertised with EDNS(0): the size the DNS flag day 2020 recommends,
/// which avoids IP fragmentation.
const EDNS_PAYLOAD: u16 = 1232;

/// The question of one query: a name and a record type.
#[derive(Debug, Clone)]
pub(super) struct Question {
    name: Name,
    record_type: RecordType,
}

impl Question {
    /// The question for `domain` (a name, possibly an IDN, with or without the final dot).
    /// A name that cannot be put on the wire is `invalid_argument`: no query was sent.
    pub(super) fn new(domain: &str, record_type: RecordType) -> Result<Question, Failure> {
        // ASCII names go on the wire as given (underscores and all); others through IDNA.
        let parsed = if domain.is_ascii() {
            Name::from_ascii(domain)
        } else {
            Name::from_utf8(domain)
        };
        let mut name = parsed.map_err(|_| Failure::InvalidArgument)?;
        name.set_fqdn(true);
        Ok(Question { name, record_type })
    }

    /// The query message with this transaction id, recursion desired and EDNS(0).
    pub(super) fn encode(&self, id: u16) -> Result<Vec<u8>, Failure> {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(self.name.clone(), self.record_type));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        message
            .to_vec()
            .map_err(|error| Failure::Unknown(format!("cannot encode DNS query: {error}")))
    }
}

/// What a received message turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    /// The reply to our question: its answers, addresses and outcome.
    Matching(Answered),
    /// A well-formed reply with another transaction id (its answers are kept as evidence).
    WrongId(Vec<DnsAnswer>),
    /// Not a DNS reply to our question: unparseable, not a response, or another question.
    Malformed,
}

/// The content of a reply to our question.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Answered {
    /// The A/AAAA records of the asked type and every CNAME, in message order.
    pub(super) answers: Vec<DnsAnswer>,
    /// The addresses of the asked type, deduplicated.
    pub(super) addresses: Vec<IpAddr>,
    /// `None` when at least one address came back.
    pub(super) failure: Option<Failure>,
}

impl Reply {
    /// The failure this reply stands for.
    pub(super) fn failure(&self) -> Option<Failure> {
        match self {
            Reply::Matching(answered) => answered.failure.clone(),
            Reply::WrongId(_) => Some(Failure::DnsWrongQueryId),
            Reply::Malformed => Some(Failure::DnsServerMisbehaving),
        }
    }

    /// The answers this reply carries.
    pub(super) fn answers(&self) -> Vec<DnsAnswer> {
        match self {
            Reply::Matching(answered) => answered.answers.clone(),
            Reply::WrongId(answers) => answers.clone(),
            Reply::Malformed => Vec::new(),
        }
    }
}

/// Reads `bytes` as the reply to `question` sent with transaction id `id`.
pub(super) fn read_reply(bytes: &[u8], id: u16, question: &Question) -> Reply {
    let Ok(message) = Message::from_vec(bytes) else {
        return Reply::Malformed;
    };
    if message.metadata.message_type != MessageType::Response
        || message.metadata.op_code != OpCode::Query
    {
        return Reply::Malformed;
    }
    let answers = answers_of(&message, question.record_type);
    if message.metadata.id != id {
        return Reply::WrongId(answers);
    }
    let asks_our_question = message.queries.len() == 1
        && message.queries.iter().all(|query| {
            query.query_type == question.record_type && query.name.eq_ignore_root(&question.name)
        });
    if !asks_our_question {
        return Reply::Malformed;
    }
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in answers.iter().filter_map(DnsAnswer::ip) {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let failure = match message.metadata.response_code {
        ResponseCode::NoError if addresses.is_empty() => Some(Failure::DnsNoAnswer),
        ResponseCode::NoError => None,
        ResponseCode::NXDomain => Some(Failure::DnsNxdomain),
        ResponseCode::Refused => Some(Failure::DnsRefused),
        ResponseCode::ServFail => Some(Failure::DnsServfail),
        // FORMERR, NOTIMP and the rest: the server did not answer the way a resolver should.
        _ => Some(Failure::DnsServerMisbehaving),
    };
    Reply::Matching(Answered {
        answers,
        addresses,
        failure,
    })
}

/// The answer records OONI keeps: those of the asked address type, and CNAMEs.
fn answers_of(message: &Message, record_type: RecordType) -> Vec<DnsAnswer> {
    message
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) if record_type == RecordType::A => Some(DnsAnswer {
                answer_type: "A".to_string(),
                ipv4: Some(a.0.to_string()),
                ttl: Some(record.ttl),
                ..DnsAnswer::default()
            }),
            RData::AAAA(aaaa) if record_type == RecordType::AAAA => Some(DnsAnswer {
                answer_type: "AAAA".to_string(),
                ipv6: Some(aaaa.0.to_string()),
                ttl: Some(record.ttl),
                ..DnsAnswer::default()
            }),
            RData::CNAME(cname) => Some(DnsAnswer {
                answer_type: "CNAME".to_string(),
                // Presentation form with the final dot, as OONI's Go engine writes it.
                hostname: Some(cname.0.to_ascii()),
                ttl: Some(record.ttl),
                ..DnsAnswer::default()
            }),
            _ => None,
        })
        .collect()
}

/// Base64 of a DNS message, for `raw_response`.
pub(super) fn raw(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME};
    use hickory_proto::rr::Record;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn question(record_type: RecordType) -> Question {
        Question::new("example.org", record_type).expect("valid name")
    }

    fn response(id: u16, name: &str, record_type: RecordType, code: ResponseCode) -> Message {
        let mut message = Message::response(id, OpCode::Query);
        message.metadata.response_code = code;
        let name = Name::from_ascii(name).expect("valid name");
        message.add_query(Query::query(name, record_type));
        message
    }

    fn bytes(message: &Message) -> Vec<u8> {
        message.to_vec().expect("encodes")
    }

    #[test]
    fn query_round_trips() {
        let q = question(RecordType::AAAA);
        let wire = q.encode(0x1234).expect("encodes");
        let parsed = Message::from_vec(&wire).expect("parses");
        assert_eq!(parsed.metadata.id, 0x1234);
        assert!(parsed.metadata.recursion_desired);
        assert_eq!(parsed.queries.len(), 1);
        assert_eq!(parsed.queries[0].query_type, RecordType::AAAA);
        assert_eq!(parsed.queries[0].name.to_ascii(), "example.org.");
        assert!(parsed.edns.is_some());
    }

    #[test]
    fn invalid_names_are_rejected() {
        let long_label = "a".repeat(64);
        assert_eq!(
            Question::new(&format!("{long_label}.org"), RecordType::A).err(),
            Some(Failure::InvalidArgument)
        );
        assert_eq!(
            Question::new("a..b", RecordType::A).err(),
            Some(Failure::InvalidArgument)
        );
    }

    #[test]
    fn malformed_input_is_misbehaving() {
        let q = question(RecordType::A);
        let valid = bytes(&response(
            7,
            "example.org.",
            RecordType::A,
            ResponseCode::NoError,
        ));
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0x00],
            vec![0x00, 0x07],
            vec![0xff; 11],
            b"this is not a DNS message at all".to_vec(),
            // A header that promises a question the message does not carry.
            valid[..12].to_vec(),
            // Cut in the middle of the question.
            valid[..valid.len() - 3].to_vec(),
        ];
        for case in cases {
            let reply = read_reply(&case, 7, &q);
            assert_eq!(reply, Reply::Malformed, "input {case:?}");
            assert_eq!(reply.failure(), Some(Failure::DnsServerMisbehaving));
        }
    }

    #[test]
    fn compression_loop_is_malformed() {
        // Header (1 question) then a name that is a pointer to itself.
        let mut wire = vec![0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        wire.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(
            read_reply(&wire, 7, &question(RecordType::A)),
            Reply::Malformed
        );
    }

    #[test]
    fn a_query_is_not_a_reply() {
        let q = question(RecordType::A);
        let wire = q.encode(7).expect("encodes");
        assert_eq!(read_reply(&wire, 7, &q), Reply::Malformed);
    }

    #[test]
    fn other_question_is_misbehaving() {
        let q = question(RecordType::A);
        let other_name = bytes(&response(
            7,
            "example.com.",
            RecordType::A,
            ResponseCode::NoError,
        ));
        assert_eq!(read_reply(&other_name, 7, &q), Reply::Malformed);
        let other_type = bytes(&response(
            7,
            "example.org.",
            RecordType::AAAA,
            ResponseCode::NoError,
        ));
        assert_eq!(read_reply(&other_type, 7, &q), Reply::Malformed);
        let mut none = response(7, "example.org.", RecordType::A, ResponseCode::NoError);
        none.queries.clear();
        assert_eq!(read_reply(&bytes(&none), 7, &q), Reply::Malformed);
        // Case does not matter.
        let upper = bytes(&response(
            7,
            "EXAMPLE.org.",
            RecordType::A,
            ResponseCode::NXDomain,
        ));
        assert_eq!(
            read_reply(&upper, 7, &q).failure(),
            Some(Failure::DnsNxdomain)
        );
    }

    #[test]
    fn wrong_id_keeps_answers() {
        let q = question(RecordType::A);
        let mut message = response(8, "example.org.", RecordType::A, ResponseCode::NoError);
        let name = Name::from_ascii("example.org.").expect("name");
        message.add_answer(Record::from_rdata(
            name,
            60,
            RData::A(A(Ipv4Addr::new(10, 0, 0, 1))),
        ));
        let reply = read_reply(&bytes(&message), 7, &q);
        assert_eq!(reply.failure(), Some(Failure::DnsWrongQueryId));
        assert_eq!(reply.answers()[0].ipv4.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn rcodes_map() {
        let q = question(RecordType::A);
        for (code, failure) in [
            (ResponseCode::NXDomain, Failure::DnsNxdomain),
            (ResponseCode::Refused, Failure::DnsRefused),
            (ResponseCode::ServFail, Failure::DnsServfail),
            (ResponseCode::NoError, Failure::DnsNoAnswer),
            (ResponseCode::FormErr, Failure::DnsServerMisbehaving),
            (ResponseCode::NotImp, Failure::DnsServerMisbehaving),
        ] {
            let wire = bytes(&response(7, "example.org.", RecordType::A, code));
            assert_eq!(
                read_reply(&wire, 7, &q).failure(),
                Some(failure),
                "{code:?}"
            );
        }
    }

    #[test]
    fn answers_keep_asked_type_and_cnames() {
        let q = question(RecordType::AAAA);
        let mut message = response(7, "example.org.", RecordType::AAAA, ResponseCode::NoError);
        let name = Name::from_ascii("example.org.").expect("name");
        let target = Name::from_ascii("cdn.example.net.").expect("name");
        message.add_answer(Record::from_rdata(
            name,
            30,
            RData::CNAME(CNAME(target.clone())),
        ));
        // An A record in an AAAA reply is not an answer to the question.
        message.add_answer(Record::from_rdata(
            target.clone(),
            30,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        ));
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        for _ in 0..2 {
            message.add_answer(Record::from_rdata(
                target.clone(),
                40,
                RData::AAAA(AAAA(v6)),
            ));
        }
        let Reply::Matching(answered) = read_reply(&bytes(&message), 7, &q) else {
            panic!("expected a matching reply");
        };
        assert_eq!(answered.failure, None);
        assert_eq!(answered.addresses, vec![IpAddr::V6(v6)]);
        assert_eq!(answered.answers.len(), 3);
        assert_eq!(answered.answers[0].answer_type, "CNAME");
        assert_eq!(
            answered.answers[0].hostname.as_deref(),
            Some("cdn.example.net.")
        );
        assert_eq!(answered.answers[0].ttl, Some(30));
        assert_eq!(answered.answers[1].answer_type, "AAAA");
        assert_eq!(answered.answers[1].ipv6.as_deref(), Some("2001:db8::1"));
        assert_eq!(answered.answers[1].ttl, Some(40));
    }

    #[test]
    fn cname_only_is_no_answer() {
        let q = question(RecordType::A);
        let mut message = response(7, "example.org.", RecordType::A, ResponseCode::NoError);
        let name = Name::from_ascii("example.org.").expect("name");
        let target = Name::from_ascii("elsewhere.example.").expect("name");
        message.add_answer(Record::from_rdata(name, 30, RData::CNAME(CNAME(target))));
        let reply = read_reply(&bytes(&message), 7, &q);
        assert_eq!(reply.failure(), Some(Failure::DnsNoAnswer));
        assert_eq!(reply.answers().len(), 1);
    }

    #[test]
    fn raw_is_base64() {
        assert_eq!(raw(&[0, 1, 2, 255]), "AAEC/w==");
    }
}
