//! DNS wire messages: building queries and reading replies into `queries` answers, with the
//! rcode-to-failure mapping OONI uses. The encoding and decoding are Kuzet's own ([`wire`]).

use std::net::IpAddr;

use base64::Engine as _;

use super::wire::{self, Data, Name, RecordType};
use crate::failure::Failure;
use crate::report::observations::DnsAnswer;

/// The UDP payload size advertised with EDNS(0): the size the DNS flag day 2020 recommends,
/// which avoids IP fragmentation.
const EDNS_PAYLOAD: u16 = 1232;
/// The opcode of a standard query.
const OPCODE_QUERY: u8 = 0;

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
        let name = Name::from_domain(domain)?;
        Ok(Question { name, record_type })
    }

    /// The query message with this transaction id, recursion desired and EDNS(0).
    pub(super) fn encode(&self, id: u16) -> Vec<u8> {
        wire::encode_query(id, &self.name, self.record_type, EDNS_PAYLOAD)
    }

    /// Whether `message` asks exactly this question (name compared ignoring ASCII case).
    fn is_asked_by(&self, message: &wire::Message) -> bool {
        message.questions.len() == 1
            && message.questions.iter().all(|asked| {
                asked.record_type == self.record_type.code()
                    && asked.name.eq_ignore_case(&self.name)
            })
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
    let Ok(message) = wire::parse(bytes) else {
        return Reply::Malformed;
    };
    if !message.is_response || message.opcode != OPCODE_QUERY {
        return Reply::Malformed;
    }
    let answers = answers_of(&message, question.record_type);
    if message.id != id {
        return Reply::WrongId(answers);
    }
    if !question.is_asked_by(&message) {
        return Reply::Malformed;
    }
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in answers.iter().filter_map(DnsAnswer::ip) {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let failure = failure_of(message.rcode, addresses.is_empty());
    Reply::Matching(Answered {
        answers,
        addresses,
        failure,
    })
}

/// The failure a response code (extended by EDNS(0)) stands for.
fn failure_of(rcode: u16, no_address: bool) -> Option<Failure> {
    match rcode {
        0 if no_address => Some(Failure::DnsNoAnswer),
        0 => None,
        2 => Some(Failure::DnsServfail),
        3 => Some(Failure::DnsNxdomain),
        5 => Some(Failure::DnsRefused),
        // FORMERR, NOTIMP, BADVERS and the rest: the server did not answer the way a resolver
        // should.
        _ => Some(Failure::DnsServerMisbehaving),
    }
}

/// The answer records OONI keeps: those of the asked address type, and CNAMEs.
fn answers_of(message: &wire::Message, record_type: RecordType) -> Vec<DnsAnswer> {
    message
        .answers
        .iter()
        .filter_map(|record| {
            let answer = match &record.data {
                Data::A(a) if record_type == RecordType::A => DnsAnswer {
                    answer_type: "A".to_string(),
                    ipv4: Some(a.to_string()),
                    ..DnsAnswer::default()
                },
                Data::Aaaa(aaaa) if record_type == RecordType::Aaaa => DnsAnswer {
                    answer_type: "AAAA".to_string(),
                    ipv6: Some(aaaa.to_string()),
                    ..DnsAnswer::default()
                },
                Data::Cname(target) => DnsAnswer {
                    answer_type: "CNAME".to_string(),
                    // Presentation form with the final dot, as OONI's Go engine writes it.
                    hostname: Some(target.to_presentation()),
                    ..DnsAnswer::default()
                },
                _ => return None,
            };
            Some(DnsAnswer {
                ttl: Some(record.ttl),
                ..answer
            })
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
    use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, CNAME};
    use hickory_proto::rr::{Name, RData, Record, RecordType as HickoryType};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Our question for example.org.
    fn question(record_type: RecordType) -> Question {
        Question::new("example.org", record_type).expect("valid name")
    }

    /// A hickory reply with this id and code to the question `name`/`record_type`.
    fn response(id: u16, name: &str, record_type: HickoryType, code: ResponseCode) -> Message {
        let mut message = Message::response(id, OpCode::Query);
        message.metadata.response_code = code;
        let name = Name::from_ascii(name).expect("valid name");
        message.add_query(Query::query(name, record_type));
        message
    }

    /// The wire form of a hickory message.
    fn bytes(message: &Message) -> Vec<u8> {
        message.to_vec().expect("encodes")
    }

    #[test]
    fn query_round_trips() {
        let q = question(RecordType::Aaaa);
        let wire = q.encode(0x1234);
        let parsed = Message::from_vec(&wire).expect("parses");
        assert_eq!(parsed.metadata.id, 0x1234);
        assert!(parsed.metadata.recursion_desired);
        assert_eq!(parsed.queries.len(), 1);
        assert_eq!(parsed.queries[0].query_type, HickoryType::AAAA);
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
            HickoryType::A,
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
        let wire = q.encode(7);
        assert_eq!(read_reply(&wire, 7, &q), Reply::Malformed);
    }

    #[test]
    fn other_question_is_misbehaving() {
        let q = question(RecordType::A);
        let other_name = bytes(&response(
            7,
            "example.com.",
            HickoryType::A,
            ResponseCode::NoError,
        ));
        assert_eq!(read_reply(&other_name, 7, &q), Reply::Malformed);
        let other_type = bytes(&response(
            7,
            "example.org.",
            HickoryType::AAAA,
            ResponseCode::NoError,
        ));
        assert_eq!(read_reply(&other_type, 7, &q), Reply::Malformed);
        let mut none = response(7, "example.org.", HickoryType::A, ResponseCode::NoError);
        none.queries.clear();
        assert_eq!(read_reply(&bytes(&none), 7, &q), Reply::Malformed);
        // Case does not matter.
        let upper = bytes(&response(
            7,
            "EXAMPLE.org.",
            HickoryType::A,
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
        let mut message = response(8, "example.org.", HickoryType::A, ResponseCode::NoError);
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
            let wire = bytes(&response(7, "example.org.", HickoryType::A, code));
            assert_eq!(
                read_reply(&wire, 7, &q).failure(),
                Some(failure),
                "{code:?}"
            );
        }
    }

    #[test]
    fn answers_keep_asked_type_and_cnames() {
        let q = question(RecordType::Aaaa);
        let mut message = response(7, "example.org.", HickoryType::AAAA, ResponseCode::NoError);
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
        let mut message = response(7, "example.org.", HickoryType::A, ResponseCode::NoError);
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

    /// One record of a hand-built message: owner (wire form), type, TTL and data.
    struct Rr {
        /// The owner name, on the wire (possibly a pointer).
        owner: &'static [u8],
        /// The type code.
        record_type: u16,
        /// The TTL.
        ttl: u32,
        /// The record data.
        data: Vec<u8>,
    }

    impl Rr {
        /// A record owned by the question's name (a pointer to offset 12).
        fn at_question(record_type: u16, ttl: u32, data: &[u8]) -> Rr {
            Rr {
                owner: b"\xc0\x0c",
                record_type,
                ttl,
                data: data.to_vec(),
            }
        }

        /// An OPT record with this TTL (extended rcode in its top byte).
        fn opt(ttl: u32) -> Rr {
            Rr {
                owner: b"\x00",
                record_type: 41,
                ttl,
                data: Vec::new(),
            }
        }

        /// Appends the record to `wire` (class IN, or the payload size for OPT).
        fn push_to(&self, wire: &mut Vec<u8>) {
            wire.extend_from_slice(self.owner);
            wire.extend_from_slice(&self.record_type.to_be_bytes());
            let class: u16 = if self.record_type == 41 { 1232 } else { 1 };
            wire.extend_from_slice(&class.to_be_bytes());
            wire.extend_from_slice(&self.ttl.to_be_bytes());
            wire.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            wire.extend_from_slice(&self.data);
        }
    }

    /// A reply with id 7 and `flags` to example.org of `question_type`, with these sections.
    fn hand_reply(flags: u16, question_type: u16, sections: [&[Rr]; 3]) -> Vec<u8> {
        let mut wire = Vec::new();
        let counts = sections.map(|records| records.len() as u16);
        for field in [7, flags, 1, counts[0], counts[1], counts[2]] {
            wire.extend_from_slice(&field.to_be_bytes());
        }
        wire.extend_from_slice(b"\x07example\x03org\x00");
        wire.extend_from_slice(&question_type.to_be_bytes());
        wire.extend_from_slice(&1u16.to_be_bytes());
        for records in sections {
            for record in records {
                record.push_to(&mut wire);
            }
        }
        wire
    }

    /// A hickory-built reply to example.org for `record_type` with a CNAME, addresses of
    /// both types, an NS and an SOA in authority, MX, TXT, A and OPT in additional. Hickory
    /// compresses every name it can.
    fn rich_reply(record_type: HickoryType) -> Message {
        use hickory_proto::op::Edns;
        use hickory_proto::rr::rdata::{MX, NS, SOA, TXT};
        let mut message = response(7, "example.org.", record_type, ResponseCode::NoError);
        let name = Name::from_ascii("example.org.").expect("name");
        let target = Name::from_ascii("cdn.example.org.").expect("name");
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
        message.add_answer(Record::from_rdata(
            name.clone(),
            30,
            RData::CNAME(CNAME(target.clone())),
        ));
        message.add_answer(Record::from_rdata(
            target.clone(),
            40,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 7))),
        ));
        message.add_answer(Record::from_rdata(
            target.clone(),
            41,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 8))),
        ));
        message.add_answer(Record::from_rdata(
            target.clone(),
            50,
            RData::AAAA(AAAA(v6)),
        ));
        message.add_authority(Record::from_rdata(
            name.clone(),
            60,
            RData::NS(NS(target.clone())),
        ));
        let soa = SOA::new(target.clone(), name.clone(), 1, 2, 3, 4, 5);
        message.add_authority(Record::from_rdata(name.clone(), 60, RData::SOA(soa)));
        message.add_additional(Record::from_rdata(
            name.clone(),
            70,
            RData::MX(MX::new(10, target.clone())),
        ));
        let txt = TXT::new(vec!["v=spf1 -all".to_string()]);
        message.add_additional(Record::from_rdata(name, 70, RData::TXT(txt)));
        message.add_additional(Record::from_rdata(
            target,
            70,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 9))),
        ));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        message.set_edns(edns);
        message
    }

    /// The old `read_reply`, on hickory: the oracle our codec is checked against. CNAME
    /// targets are written by our own escaping (hickory writes non-printable bytes in octal).
    fn hickory_read_reply(bytes: &[u8], id: u16, domain: &str, record_type: HickoryType) -> Reply {
        use hickory_proto::op::MessageType;
        let Ok(message) = Message::from_vec(bytes) else {
            return Reply::Malformed;
        };
        if message.metadata.message_type != MessageType::Response
            || message.metadata.op_code != OpCode::Query
        {
            return Reply::Malformed;
        }
        let answers: Vec<DnsAnswer> = message
            .answers
            .iter()
            .filter_map(|record| {
                let answer = match &record.data {
                    RData::A(a) if record_type == HickoryType::A => DnsAnswer {
                        answer_type: "A".to_string(),
                        ipv4: Some(a.0.to_string()),
                        ..DnsAnswer::default()
                    },
                    RData::AAAA(aaaa) if record_type == HickoryType::AAAA => DnsAnswer {
                        answer_type: "AAAA".to_string(),
                        ipv6: Some(aaaa.0.to_string()),
                        ..DnsAnswer::default()
                    },
                    RData::CNAME(cname) => {
                        let mut wire = Vec::new();
                        for label in cname.0.iter() {
                            wire.push(label.len() as u8);
                            wire.extend_from_slice(label);
                        }
                        wire.push(0);
                        let (name, _) = wire::read_name(&wire, 0).expect("hickory's name");
                        DnsAnswer {
                            answer_type: "CNAME".to_string(),
                            hostname: Some(name.to_presentation()),
                            ..DnsAnswer::default()
                        }
                    }
                    _ => return None,
                };
                Some(DnsAnswer {
                    ttl: Some(record.ttl),
                    ..answer
                })
            })
            .collect();
        if message.metadata.id != id {
            return Reply::WrongId(answers);
        }
        let name = Name::from_ascii(domain).expect("name");
        let ours = message.queries.len() == 1
            && message.queries[0].query_type == record_type
            && message.queries[0].name.eq_ignore_root(&name);
        if !ours {
            return Reply::Malformed;
        }
        let mut addresses: Vec<IpAddr> = Vec::new();
        for address in answers.iter().filter_map(DnsAnswer::ip) {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        let failure = failure_of(
            u16::from(message.metadata.response_code),
            addresses.is_empty(),
        );
        Reply::Matching(Answered {
            answers,
            addresses,
            failure,
        })
    }

    #[test]
    fn hickory_replies_read_as_before() {
        for (ours, hickory) in [
            (RecordType::A, HickoryType::A),
            (RecordType::Aaaa, HickoryType::AAAA),
        ] {
            let wire = bytes(&rich_reply(hickory));
            let reply = read_reply(&wire, 7, &question(ours));
            assert_eq!(reply, hickory_read_reply(&wire, 7, "example.org", hickory));
            let Reply::Matching(answered) = reply else {
                panic!("expected a matching reply");
            };
            assert_eq!(answered.failure, None);
            assert_eq!(
                answered.answers[0].hostname.as_deref(),
                Some("cdn.example.org.")
            );
            let kept = if ours == RecordType::A { 3 } else { 2 };
            assert_eq!(answered.answers.len(), kept);
        }
    }

    #[test]
    fn every_truncation_is_malformed() {
        let wire = bytes(&rich_reply(HickoryType::A));
        let q = question(RecordType::A);
        for length in 0..wire.len() {
            assert_eq!(
                read_reply(&wire[..length], 7, &q),
                Reply::Malformed,
                "{length} bytes"
            );
            assert_eq!(
                hickory_read_reply(&wire[..length], 7, "example.org", HickoryType::A),
                Reply::Malformed,
                "hickory, {length} bytes"
            );
        }
        // Bytes after the last record are ignored, as hickory ignores them.
        let mut padded = wire.clone();
        padded.extend_from_slice(b"trailing");
        assert_eq!(read_reply(&padded, 7, &q), read_reply(&wire, 7, &q));
    }

    #[test]
    fn record_data_must_fit_and_have_its_length() {
        let q = question(RecordType::A);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "A of 3 bytes",
                hand_reply(0x8180, 1, [&[Rr::at_question(1, 1, &[10, 0, 0])], &[], &[]]),
            ),
            (
                "A of 5 bytes",
                hand_reply(
                    0x8180,
                    1,
                    [&[Rr::at_question(1, 1, &[10, 0, 0, 1, 2])], &[], &[]],
                ),
            ),
            (
                "AAAA of 15 bytes",
                hand_reply(0x8180, 1, [&[Rr::at_question(28, 1, &[0; 15])], &[], &[]]),
            ),
            (
                "AAAA of 17 bytes",
                hand_reply(0x8180, 1, [&[Rr::at_question(28, 1, &[0; 17])], &[], &[]]),
            ),
            (
                "A of 0 bytes in authority",
                hand_reply(0x8180, 1, [&[], &[Rr::at_question(1, 1, &[])], &[]]),
            ),
            (
                "CNAME with a byte after its name",
                hand_reply(
                    0x8180,
                    1,
                    [&[Rr::at_question(5, 1, b"\x01a\x00\x00")], &[], &[]],
                ),
            ),
            (
                "CNAME running past its data",
                hand_reply(0x8180, 1, [&[Rr::at_question(5, 1, b"\x01a")], &[], &[]]),
            ),
            (
                "CNAME with a forward pointer",
                hand_reply(0x8180, 1, [&[Rr::at_question(5, 1, b"\xc0\xff")], &[], &[]]),
            ),
            (
                "OPT in the answer section",
                hand_reply(0x8180, 1, [&[Rr::opt(0)], &[], &[]]),
            ),
            (
                "OPT in the authority section",
                hand_reply(0x8180, 1, [&[], &[Rr::opt(0)], &[]]),
            ),
            (
                "two OPT records",
                hand_reply(0x8180, 1, [&[], &[], &[Rr::opt(0), Rr::opt(0)]]),
            ),
            (
                "OPT not owned by the root",
                hand_reply(
                    0x8180,
                    1,
                    [
                        &[],
                        &[],
                        &[Rr {
                            owner: b"\x01a\x00",
                            ..Rr::opt(0)
                        }],
                    ],
                ),
            ),
        ];
        for (what, wire) in cases {
            assert_eq!(read_reply(&wire, 7, &q), Reply::Malformed, "{what}");
            assert_eq!(
                hickory_read_reply(&wire, 7, "example.org", HickoryType::A),
                Reply::Malformed,
                "hickory: {what}"
            );
        }
        // Data longer than what is left of the message.
        let mut wire = hand_reply(
            0x8180,
            1,
            [&[Rr::at_question(1, 1, &[10, 0, 0, 1])], &[], &[]],
        );
        let length_at = wire.len() - 6;
        wire[length_at..length_at + 2].copy_from_slice(&5u16.to_be_bytes());
        assert_eq!(read_reply(&wire, 7, &q), Reply::Malformed);
        // And the same record with its real length is fine.
        wire[length_at..length_at + 2].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(read_reply(&wire, 7, &q).failure(), None);
    }

    #[test]
    fn other_types_are_skipped_by_length() {
        let q = question(RecordType::A);
        let answers = [
            Rr::at_question(99, 1, b"anything at all"),
            Rr::at_question(16, 1, &[]),
            Rr::at_question(1, 9, &[10, 0, 0, 1]),
        ];
        let wire = hand_reply(
            0x8180,
            1,
            [&answers, &[Rr::at_question(6, 1, &[0xff; 3])], &[]],
        );
        let reply = read_reply(&wire, 7, &q);
        assert_eq!(reply.failure(), None);
        assert_eq!(reply.answers().len(), 1);
        assert_eq!(reply.answers()[0].ttl, Some(9));
    }

    #[test]
    fn extended_rcode_is_misbehaving() {
        let q = question(RecordType::A);
        let answer = [Rr::at_question(1, 1, &[10, 0, 0, 1])];
        for (header_rcode, opt_ttl, failure) in [
            (0, 0x0000_0000, None),
            (0, 0x0100_0000, Some(Failure::DnsServerMisbehaving)),
            (3, 0x0000_8000, Some(Failure::DnsNxdomain)),
            (3, 0x0100_0000, Some(Failure::DnsServerMisbehaving)),
            (5, 0xff00_0000, Some(Failure::DnsServerMisbehaving)),
        ] {
            let wire = hand_reply(
                0x8180 | header_rcode,
                1,
                [&answer, &[], &[Rr::opt(opt_ttl)]],
            );
            assert_eq!(
                read_reply(&wire, 7, &q).failure(),
                failure,
                "{header_rcode} {opt_ttl:#x}"
            );
            assert_eq!(
                hickory_read_reply(&wire, 7, "example.org", HickoryType::A).failure(),
                failure,
                "hickory: {header_rcode} {opt_ttl:#x}"
            );
        }
    }

    #[test]
    fn cname_targets_are_escaped_and_decompressed() {
        let q = question(RecordType::A);
        let answers = [
            // Pointer to "org" of the question name.
            Rr::at_question(5, 1, b"\x03cdn\xc0\x14"),
            Rr::at_question(5, 2, b"\x03a*b\x04we.d\x01-\x00"),
            Rr::at_question(5, 3, b"\x00"),
        ];
        let wire = hand_reply(0x8180, 1, [&answers, &[], &[]]);
        let hostnames: Vec<Option<String>> = read_reply(&wire, 7, &q)
            .answers()
            .into_iter()
            .map(|a| a.hostname)
            .collect();
        assert_eq!(
            hostnames,
            vec![
                Some("cdn.org.".to_string()),
                Some("a\\*b.we\\.d.\\-.".to_string()),
                Some(".".to_string())
            ]
        );
        assert_eq!(
            read_reply(&wire, 7, &q),
            hickory_read_reply(&wire, 7, "example.org", HickoryType::A)
        );
    }

    /// A deterministic 64-bit linear congruential generator (Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        /// The next 31 random bits.
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }

        /// A number in `0..bound` (0 when `bound` is 0).
        fn below(&mut self, bound: usize) -> usize {
            self.next() as usize % bound.max(1)
        }

        /// A random byte, half the time one of those that matter to the framing.
        fn byte(&mut self) -> u8 {
            // Bias towards the bytes that matter to the framing.
            const SPECIAL: [u8; 8] = [0x00, 0x01, 0x04, 0x0c, 0x10, 0x3f, 0xc0, 0xff];
            if self.below(2) == 0 {
                SPECIAL[self.below(SPECIAL.len())]
            } else {
                self.next() as u8
            }
        }
    }

    /// `seed` with one or two random changes: mostly a byte replaced, sometimes a byte
    /// inserted, a section count bumped or the message cut.
    fn mutate(seed: &[u8], rng: &mut Lcg) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        for _ in 0..1 + rng.below(2) {
            match rng.below(10) {
                0 => bytes.truncate(rng.below(bytes.len() + 1)),
                1 | 2 => {
                    let at = rng.below(bytes.len() + 1);
                    let byte = rng.byte();
                    bytes.insert(at, byte);
                }
                3 if bytes.len() >= 12 => {
                    let at = 4 + 2 * rng.below(4) + 1;
                    bytes[at] = bytes[at].wrapping_add(1 + rng.below(2) as u8);
                }
                _ if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.byte();
                }
                _ => {}
            }
        }
        bytes
    }

    #[test]
    fn random_and_mutated_input_never_panics_and_agrees_with_hickory() {
        let seeds = [
            bytes(&rich_reply(HickoryType::A)),
            bytes(&rich_reply(HickoryType::AAAA)),
            bytes(&response(
                7,
                "example.org.",
                HickoryType::A,
                ResponseCode::NXDomain,
            )),
            hand_reply(
                0x8180,
                1,
                [
                    &[Rr::at_question(5, 1, b"\x03cdn\xc0\x14")],
                    &[],
                    &[Rr::opt(0x0100_0000)],
                ],
            ),
            question(RecordType::A).encode(7),
        ];
        let mut rng = Lcg(0x6b75_7a65_7420_444e);
        let (mut agreed, mut both_malformed, mut only_ours_malformed, mut only_hickory_malformed) =
            (0, 0, 0, 0);
        for round in 0..40_000 {
            let input = if round % 8 == 0 {
                (0..rng.below(80)).map(|_| rng.byte()).collect()
            } else {
                mutate(&seeds[rng.below(seeds.len())], &mut rng)
            };
            for (ours, hickory) in [
                (RecordType::A, HickoryType::A),
                (RecordType::Aaaa, HickoryType::AAAA),
            ] {
                let reply = read_reply(&input, 7, &question(ours));
                let expected = hickory_read_reply(&input, 7, "example.org", hickory);
                match (&reply, &expected) {
                    (Reply::Malformed, Reply::Malformed) => both_malformed += 1,
                    (Reply::Malformed, _) => only_ours_malformed += 1,
                    (_, Reply::Malformed) => only_hickory_malformed += 1,
                    _ => {
                        assert_eq!(reply, expected, "input {input:02x?}");
                        agreed += 1;
                    }
                }
            }
        }
        eprintln!("agreed {agreed}, both malformed {both_malformed}, only ours malformed {only_ours_malformed}, only hickory malformed {only_hickory_malformed}");
        // Replies hickory rejects but we read are those whose other records (NS, SOA, MX, TXT,
        // empty data...) hickory checks and we skip by length; never the other way round.
        assert_eq!(only_ours_malformed, 0);
        assert!(
            agreed > 5_000 && both_malformed > 10_000,
            "{agreed} {both_malformed}"
        );
    }
}
