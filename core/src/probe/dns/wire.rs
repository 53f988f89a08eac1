//! Kuzet's own DNS wire codec (RFC 1035, EDNS(0) of RFC 6891): just enough to build an A or
//! AAAA query and to read a reply strictly, with every length checked against the message.
//!
//! Reading walks the whole message: the header, every question and every record of the
//! answer, authority and additional sections. Names may use compression pointers, but only
//! backwards (each jump lands before the part of the name that jumped) and at most
//! [`MAX_JUMPS`] times, and a name is at most [`MAX_NAME`] bytes uncompressed. A, AAAA and
//! CNAME data are checked in every section; other record types are skipped by their length.
//! Bytes after the last record are ignored, as hickory and Go's DNS libraries do.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::failure::Failure;

/// The longest name on the wire, root label included (RFC 1035 §2.3.4).
pub(super) const MAX_NAME: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// The most compression pointers followed while reading one name.
pub(super) const MAX_JUMPS: usize = 128;
/// The length of the fixed header.
const HEADER_LEN: usize = 12;
/// The QR bit of the header flags: set in responses.
const FLAG_RESPONSE: u16 = 0x8000;
/// The RD bit of the header flags: recursion desired.
const FLAG_RECURSION_DESIRED: u16 = 0x0100;
/// Class IN.
const CLASS_IN: u16 = 1;
/// Record type CNAME.
const TYPE_CNAME: u16 = 5;
/// Record type OPT (EDNS(0) pseudo-record).
const TYPE_OPT: u16 = 41;

/// The record types Kuzet asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecordType {
    /// An IPv4 address.
    A,
    /// An IPv6 address.
    Aaaa,
}

impl RecordType {
    /// The type's code on the wire.
    pub(super) fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
        }
    }

    /// The type's name, as OONI writes it in `query_type` and `answer_type`.
    pub(super) fn name(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }
}

/// A message that cannot be read: truncated, inconsistent or beyond a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Malformed;

/// A domain name in uncompressed wire form: length-prefixed labels ending with the root's 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name(Vec<u8>);

impl Name {
    /// The wire name of `domain`, given in presentation form with or without the final dot.
    /// ASCII names go on the wire as given (case kept, underscores allowed); other names go
    /// through IDNA to punycode ([`crate::net::idn`]). Empty labels, labels over 63 bytes,
    /// names over 255 bytes, characters a hostname cannot hold and bad IDNs are
    /// `invalid_argument`.
    pub(super) fn from_domain(domain: &str) -> Result<Name, Failure> {
        if domain.is_ascii() {
            Name::from_ascii(domain)
        } else {
            let ascii =
                crate::net::idn::domain_to_ascii(domain).map_err(|_| Failure::InvalidArgument)?;
            Name::from_ascii(&ascii)
        }
    }

    /// The wire name of an ASCII `domain`, its final dot optional.
    fn from_ascii(domain: &str) -> Result<Name, Failure> {
        let relative = domain.strip_suffix('.').unwrap_or(domain);
        let mut wire = Vec::with_capacity(relative.len() + 2);
        for label in relative.split('.') {
            if !is_hostname_label(label) {
                return Err(Failure::InvalidArgument);
            }
            // Checked by is_hostname_label: 1..=63 bytes.
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        if wire.len() > MAX_NAME {
            return Err(Failure::InvalidArgument);
        }
        Ok(Name(wire))
    }

    /// The name on the wire.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether both names are the same, ignoring ASCII case (label lengths are below 64, so
    /// folding them is harmless).
    pub(super) fn eq_ignore_case(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// The labels, in order, without the root.
    fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.0 }
    }

    /// The presentation form with the final dot (`.` for the root), as hickory's
    /// `Name::to_ascii` writes it: letters, digits and `_` as they are, `-` and `*` where
    /// a hostname may have them, other printable ASCII escaped with a backslash, and the rest
    /// as `\DDD` (decimal, RFC 1035 §5.1).
    pub(super) fn to_presentation(&self) -> String {
        let mut text = String::with_capacity(self.0.len() + 1);
        for label in self.labels() {
            for (index, byte) in label.iter().enumerate() {
                push_escaped(&mut text, *byte, index == 0);
            }
            text.push('.');
        }
        if text.is_empty() {
            text.push('.');
        }
        text
    }
}

/// The labels of a [`Name`], without the root.
struct Labels<'a> {
    /// What is left of the wire name.
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&length, after) = self.rest.split_first()?;
        let label = after.get(..usize::from(length))?;
        if label.is_empty() {
            return None;
        }
        self.rest = &after[label.len()..];
        Some(label)
    }
}

/// Whether `label` can be a label of a name we look up: 1 to 63 bytes of letters, digits,
/// `_` and `-`, not starting with `-` (a lone leading `*` is accepted as hickory did).
fn is_hostname_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= MAX_LABEL
        && is_plain(first, true)
        && rest.iter().all(|&byte| is_plain(byte, false))
}

/// Whether `byte` needs no escaping in a label (first in it or not).
fn is_plain(byte: u8, first: bool) -> bool {
    match byte {
        b'-' => !first,
        b'*' => first,
        b'_' => true,
        _ => byte.is_ascii_alphanumeric(),
    }
}

/// Appends `byte` of a label to `text`, escaped as hickory escapes it.
fn push_escaped(text: &mut String, byte: u8, first: bool) {
    if is_plain(byte, first) {
        text.push(char::from(byte));
    } else if byte.is_ascii_graphic() {
        text.push('\\');
        text.push(char::from(byte));
    } else {
        text.push_str(&format!("\\{byte:03}"));
    }
}

/// Our query: `id`, recursion desired, one question for `name` of `record_type` in class IN,
/// and an EDNS(0) OPT record advertising `payload` bytes.
pub(super) fn encode_query(id: u16, name: &Name, record_type: RecordType, payload: u16) -> Vec<u8> {
    let mut wire = Vec::with_capacity(HEADER_LEN + name.as_bytes().len() + 4 + 11);
    // Header: id, flags, one question, no answer or authority, one additional (the OPT).
    for field in [id, FLAG_RECURSION_DESIRED, 1, 0, 0, 1] {
        wire.extend_from_slice(&field.to_be_bytes());
    }
    wire.extend_from_slice(name.as_bytes());
    wire.extend_from_slice(&record_type.code().to_be_bytes());
    wire.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root owner, type, payload size as class, TTL 0 (version 0, no flags), no options.
    wire.push(0);
    wire.extend_from_slice(&TYPE_OPT.to_be_bytes());
    wire.extend_from_slice(&payload.to_be_bytes());
    wire.extend_from_slice(&0u32.to_be_bytes());
    wire.extend_from_slice(&0u16.to_be_bytes());
    wire
}

/// One question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Question {
    /// The name asked about.
    pub(super) name: Name,
    /// The type code asked for.
    pub(super) record_type: u16,
}

/// The data of an answer record Kuzet may keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Data {
    /// An A record's address.
    A(Ipv4Addr),
    /// An AAAA record's address.
    Aaaa(Ipv6Addr),
    /// A CNAME record's target.
    Cname(Name),
}

/// An A, AAAA or CNAME record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    /// The record's time to live.
    pub(super) ttl: u32,
    /// The record's data.
    pub(super) data: Data,
}

/// A message read from the wire: what Kuzet needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Message {
    /// The transaction id.
    pub(super) id: u16,
    /// Whether the QR bit is set.
    pub(super) is_response: bool,
    /// The 4-bit opcode.
    pub(super) opcode: u8,
    /// The response code, extended with the OPT record's upper bits when there is one.
    pub(super) rcode: u16,
    /// Every question, in order.
    pub(super) questions: Vec<Question>,
    /// The A, AAAA and CNAME records of the answer section, in order.
    pub(super) answers: Vec<Answer>,
}

/// Reads `bytes` as a DNS message.
pub(super) fn parse(bytes: &[u8]) -> Result<Message, Malformed> {
    let mut cursor = Cursor::new(bytes);
    let id = cursor.u16()?;
    let flags = cursor.u16()?;
    let [questions, answers, authorities, additionals] =
        [cursor.u16()?, cursor.u16()?, cursor.u16()?, cursor.u16()?];
    let questions = (0..questions)
        .map(|_| cursor.question())
        .collect::<Result<Vec<_>, _>>()?;
    let mut kept = Vec::new();
    for _ in 0..answers {
        let record = cursor.record()?;
        record.not_opt()?;
        kept.extend(record.answer());
    }
    for _ in 0..authorities {
        cursor.record()?.not_opt()?;
    }
    let mut opt_ttl = None;
    for _ in 0..additionals {
        let record = cursor.record()?;
        if let Some(ttl) = record.opt_ttl()? {
            if opt_ttl.replace(ttl).is_some() {
                return Err(Malformed);
            }
        }
    }
    let extended = opt_ttl.map_or(0, |ttl| (ttl >> 24) as u16);
    Ok(Message {
        id,
        is_response: flags & FLAG_RESPONSE != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: (extended << 4) | (flags & 0x0f),
        questions,
        answers: kept,
    })
}

/// A record as read: its owner, type, TTL and data.
struct Record {
    /// The owner name.
    owner: Name,
    /// The type code.
    record_type: u16,
    /// The time to live (for OPT, the extended rcode, version and flags).
    ttl: u32,
    /// The data, when it is of a type Kuzet keeps.
    data: Option<Data>,
}

impl Record {
    /// Fails on an OPT record, which belongs in the additional section only.
    fn not_opt(&self) -> Result<(), Malformed> {
        if self.record_type == TYPE_OPT {
            Err(Malformed)
        } else {
            Ok(())
        }
    }

    /// The TTL of an OPT record (whose owner must be the root), `None` for other records.
    fn opt_ttl(&self) -> Result<Option<u32>, Malformed> {
        match self.record_type {
            TYPE_OPT if self.owner.as_bytes() != [0] => Err(Malformed),
            TYPE_OPT => Ok(Some(self.ttl)),
            _ => Ok(None),
        }
    }

    /// The record as an answer Kuzet may keep.
    fn answer(self) -> Option<Answer> {
        let ttl = self.ttl;
        self.data.map(|data| Answer { ttl, data })
    }
}

/// A read position in a message; every read is bounds-checked.
struct Cursor<'a> {
    /// The whole message (compression pointers refer to it).
    message: &'a [u8],
    /// The next byte to read.
    position: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `message`.
    fn new(message: &'a [u8]) -> Self {
        Cursor {
            message,
            position: 0,
        }
    }

    /// The next `length` bytes.
    fn bytes(&mut self, length: usize) -> Result<&'a [u8], Malformed> {
        let end = self.position.checked_add(length).ok_or(Malformed)?;
        let bytes = self.message.get(self.position..end).ok_or(Malformed)?;
        self.position = end;
        Ok(bytes)
    }

    /// The next big-endian u16.
    fn u16(&mut self) -> Result<u16, Malformed> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// The next big-endian u32.
    fn u32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The next name.
    fn name(&mut self) -> Result<Name, Malformed> {
        let (name, end) = read_name(self.message, self.position)?;
        self.position = end;
        Ok(name)
    }

    /// The next question (its class is read and ignored).
    fn question(&mut self) -> Result<Question, Malformed> {
        let name = self.name()?;
        let record_type = self.u16()?;
        let _class = self.u16()?;
        Ok(Question { name, record_type })
    }

    /// The next record (its class is read and ignored).
    fn record(&mut self) -> Result<Record, Malformed> {
        let owner = self.name()?;
        let record_type = self.u16()?;
        let _class = self.u16()?;
        let ttl = self.u32()?;
        let length = usize::from(self.u16()?);
        let start = self.position;
        let bytes = self.bytes(length)?;
        let data = read_data(self.message, record_type, start, bytes)?;
        Ok(Record {
            owner,
            record_type,
            ttl,
            data,
        })
    }
}

/// Reads the data of a record of `record_type`, `bytes` found at `start` of `message`: A
/// must be 4 bytes, AAAA 16, CNAME exactly one name; other types are not looked into.
fn read_data(
    message: &[u8],
    record_type: u16,
    start: usize,
    bytes: &[u8],
) -> Result<Option<Data>, Malformed> {
    let data = if record_type == RecordType::A.code() {
        let octets: [u8; 4] = bytes.try_into().map_err(|_| Malformed)?;
        Data::A(Ipv4Addr::from(octets))
    } else if record_type == RecordType::Aaaa.code() {
        let octets: [u8; 16] = bytes.try_into().map_err(|_| Malformed)?;
        Data::Aaaa(Ipv6Addr::from(octets))
    } else if record_type == TYPE_CNAME {
        let (target, end) = read_name(message, start)?;
        if end != start + bytes.len() {
            return Err(Malformed);
        }
        Data::Cname(target)
    } else {
        return Ok(None);
    };
    Ok(Some(data))
}

/// Reads the name at `start` of `message`, following compression pointers, and returns it
/// with the offset just after it (after its first pointer, if it has one).
///
/// As in hickory, a pointer must point before the start of the part of the name that holds
/// it, and every label and pointer of the part it leads to must start before that start
/// too: names only ever refer backwards, so reading ends. On top of that, at most
/// [`MAX_JUMPS`] pointers and [`MAX_NAME`] bytes uncompressed.
pub(super) fn read_name(message: &[u8], start: usize) -> Result<(Name, usize), Malformed> {
    let mut walk = NameWalk {
        message,
        wire: Vec::new(),
        position: start,
        part_start: start,
        limit: message.len(),
        end: None,
        jumps: 0,
    };
    loop {
        if walk.position >= walk.limit {
            return Err(Malformed);
        }
        let length = *message.get(walk.position).ok_or(Malformed)?;
        match length >> 6 {
            0 if length == 0 => return Ok(walk.finish()),
            0 => walk.label(length)?,
            3 => walk.jump(length)?,
            // 0b01 and 0b10: reserved label types (RFC 6891 §5).
            _ => return Err(Malformed),
        }
    }
}

/// The state of [`read_name`].
struct NameWalk<'a> {
    /// The whole message.
    message: &'a [u8],
    /// The name read so far, uncompressed.
    wire: Vec<u8>,
    /// The next label or pointer.
    position: usize,
    /// Where the part of the name being read starts (the name, or a pointer's target).
    part_start: usize,
    /// Labels and pointers of this part must start before this offset.
    limit: usize,
    /// The offset after the name in the message, once a pointer ended it there.
    end: Option<usize>,
    /// The pointers followed.
    jumps: usize,
}

impl NameWalk<'_> {
    /// Reads the label of `length` bytes at the position.
    fn label(&mut self, length: u8) -> Result<(), Malformed> {
        let label_end = self.position + 1 + usize::from(length);
        let label = self
            .message
            .get(self.position..label_end)
            .ok_or(Malformed)?;
        if self.wire.len() + label.len() + 1 > MAX_NAME {
            return Err(Malformed);
        }
        self.wire.extend_from_slice(label);
        self.position = label_end;
        Ok(())
    }

    /// Follows the pointer at the position, whose first byte is `high`.
    fn jump(&mut self, high: u8) -> Result<(), Malformed> {
        let low = *self.message.get(self.position + 1).ok_or(Malformed)?;
        let target = usize::from(high & 0x3f) << 8 | usize::from(low);
        self.jumps += 1;
        if target >= self.part_start || self.jumps > MAX_JUMPS {
            return Err(Malformed);
        }
        self.end.get_or_insert(self.position + 2);
        self.limit = self.part_start;
        self.part_start = target;
        self.position = target;
        Ok(())
    }

    /// The name read and the offset after it.
    fn finish(mut self) -> (Name, usize) {
        self.wire.push(0);
        (Name(self.wire), self.end.unwrap_or(self.position + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message as HickoryMessage, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name as HickoryName, RecordType as HickoryType};

    /// The wire form of `domain`, which must be valid.
    fn wire(domain: &str) -> Vec<u8> {
        Name::from_domain(domain).expect("valid name").0
    }

    /// A 12-byte header with these id, flags and section counts.
    fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for field in [id, flags, counts[0], counts[1], counts[2], counts[3]] {
            bytes.extend_from_slice(&field.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn query_is_byte_for_byte_what_hickory_built() {
        for (domain, record_type, hickory_type) in [
            ("example.org", RecordType::A, HickoryType::A),
            ("_Dmarc.Example.ORG.", RecordType::Aaaa, HickoryType::AAAA),
            // The IDN in its ASCII form (idn.rs's own tests check the conversion).
            (
                "xn--d1abbgf6aiiy.xn--80ao21a",
                RecordType::A,
                HickoryType::A,
            ),
        ] {
            let ours = encode_query(
                0xbeef,
                &Name::from_domain(domain).expect("name"),
                record_type,
                1232,
            );
            let mut name = HickoryName::from_ascii(domain).expect("hickory name");
            name.set_fqdn(true);
            let mut message = HickoryMessage::new(0xbeef, MessageType::Query, OpCode::Query);
            message.metadata.recursion_desired = true;
            message.add_query(Query::query(name, hickory_type));
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            message.set_edns(edns);
            assert_eq!(ours, message.to_vec().expect("hickory encodes"), "{domain}");
        }
    }

    #[test]
    fn ascii_names_go_on_the_wire_as_given() {
        assert_eq!(wire("example.org"), b"\x07example\x03org\x00");
        assert_eq!(wire("example.org."), wire("example.org"));
        assert_eq!(
            wire("_Dmarc.Ex-Ample.ORG"),
            b"\x06_Dmarc\x08Ex-Ample\x03ORG\x00"
        );
        assert_eq!(wire("localhost"), b"\x09localhost\x00");
        assert_eq!(wire("*.example"), b"\x01*\x07example\x00");
    }

    #[test]
    fn idn_names_become_punycode() {
        assert_eq!(
            Name::from_domain("президент.қаз")
                .expect("IDN")
                .to_presentation(),
            "xn--d1abbgf6aiiy.xn--80ao21a."
        );
        assert_eq!(wire("президент.қаз."), wire("xn--d1abbgf6aiiy.xn--80ao21a"));
        // IDNA maps case and the ideographic full stop.
        assert_eq!(wire("Bücher.Example"), wire("xn--bcher-kva.example"));
        assert_eq!(wire("bücher。example"), wire("xn--bcher-kva.example"));
        // UTS #46 values (Python's punycode codec agrees; hickory's IDNA shares idna's
        // table-free back end now, so it cannot be the reference any more).
        for (domain, ascii) in [
            ("президент.қаз", "xn--d1abbgf6aiiy.xn--80ao21a."),
            ("bücher.example", "xn--bcher-kva.example."),
            ("ÄÖÜ.de", "xn--4ca0bs.de."),
            ("例え.テスト", "xn--r8jz45g.xn--zckzah."),
        ] {
            assert_eq!(
                Name::from_domain(domain).expect("IDN").to_presentation(),
                ascii,
                "{domain}"
            );
        }
    }

    #[test]
    fn invalid_names_are_invalid_argument() {
        let label63 = "a".repeat(63);
        assert!(Name::from_domain(&format!("{label63}.org")).is_ok());
        // Four 63-byte labels and one of 59: 4 * 64 + 60 + 1 = 317 > 255; three and one of
        // 61 make exactly 255.
        let at_limit = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
        assert_eq!(wire(&at_limit).len(), 255);
        let over_limit = format!("{label63}.{label63}.{label63}.{}", "b".repeat(62));
        let idn_too_long = format!("{}ü.org", "a".repeat(60));
        for domain in [
            "",
            ".",
            "..",
            "a..b",
            ".a",
            "a.b..",
            &format!("{}.org", "a".repeat(64)),
            &over_limit,
            &idn_too_long,
            "a b.org",
            "foo!.org",
            "-foo.org",
            "a\\.b.org",
            "a/b.org",
            "\u{fffd}.org",
            "\u{301}a.org",
            "x\u{0}y.org",
        ] {
            assert_eq!(
                Name::from_domain(domain).err(),
                Some(Failure::InvalidArgument),
                "{domain:?}"
            );
        }
    }

    #[test]
    fn names_follow_backward_pointers() {
        // "example.org" at 12, "www" + pointer to it at 25, a pointer to that at 31.
        let mut message = header(1, 0, [0; 4]);
        message.extend_from_slice(b"\x07example\x03org\x00");
        message.extend_from_slice(b"\x03www\xc0\x0c");
        message.extend_from_slice(b"\xc0\x19");
        let (first, end) = read_name(&message, 12).expect("plain name");
        assert_eq!(
            (first.to_presentation().as_str(), end),
            ("example.org.", 25)
        );
        let (second, end) = read_name(&message, 25).expect("compressed name");
        assert_eq!(
            (second.to_presentation().as_str(), end),
            ("www.example.org.", 31)
        );
        let (third, end) = read_name(&message, 31).expect("pointer to a pointer");
        assert_eq!((third.0, end), (second.0, 33));
    }

    #[test]
    fn bad_pointers_are_malformed() {
        let mut base = header(1, 0, [0; 4]);
        base.extend_from_slice(b"\x07example\x03org\x00");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("to itself", b"\xc0\x19".to_vec()),
            ("forward", b"\xc0\x1b\x00".to_vec()),
            ("beyond the message", b"\xff\xff".to_vec()),
            ("cut after its first byte", b"\xc0".to_vec()),
            ("label then loop to itself", b"\x01a\xc0\x19".to_vec()),
            ("reserved 0x40 label type", b"\x40\x00".to_vec()),
            ("reserved 0x80 label type", b"\x80\x00".to_vec()),
            ("label cut", b"\x05ab".to_vec()),
            ("no root", b"\x01a".to_vec()),
        ];
        for (what, tail) in cases {
            let mut message = base.clone();
            message.extend_from_slice(&tail);
            assert_eq!(read_name(&message, 25).err(), Some(Malformed), "{what}");
        }
        // A pointer into the middle of the name that holds it: not before its start.
        let mut message = header(1, 0, [0; 4]);
        message.extend_from_slice(b"\x01a\xc0\x0c");
        assert_eq!(read_name(&message, 12).err(), Some(Malformed));
        // The part a pointer leads to may not run into the part that jumped: "abc" at 12
        // has no root before the pointer at 16 that leads to it.
        let mut message = header(1, 0, [0; 4]);
        message.extend_from_slice(b"\x03abc\xc0\x0c");
        assert_eq!(read_name(&message, 16).err(), Some(Malformed));
        message.insert(16, 0);
        assert_eq!(
            read_name(&message, 17).map(|(name, end)| (name.0, end)),
            Ok((b"\x03abc\x00".to_vec(), 19))
        );
    }

    #[test]
    fn pointer_chains_are_bounded() {
        // A root at 12, then pointers each to the one before: the last needs `jumps` jumps.
        for (jumps, ok) in [(MAX_JUMPS, true), (MAX_JUMPS + 1, false)] {
            let mut message = header(1, 0, [0; 4]);
            message.push(0);
            for index in 0..jumps {
                let target = if index == 0 { 12 } else { 13 + 2 * (index - 1) };
                message.extend_from_slice(&(0xc000 | target as u16).to_be_bytes());
            }
            let start = 13 + 2 * (jumps - 1);
            assert_eq!(read_name(&message, start).is_ok(), ok, "{jumps} jumps");
        }
    }

    #[test]
    fn long_names_are_bounded_through_pointers() {
        // 254 bytes of labels at 12 (three of 63, one of 61 and the root: 255 on the wire),
        // then one more label pointing to it: 257 bytes uncompressed.
        let mut message = header(1, 0, [0; 4]);
        for length in [63u8, 63, 63, 61] {
            message.push(length);
            message.extend(std::iter::repeat_n(b'a', usize::from(length)));
        }
        message.push(0);
        let pointer_at = message.len();
        message.extend_from_slice(b"\x01b\xc0\x0c");
        assert_eq!(
            read_name(&message, 12).map(|(name, _)| name.0.len()),
            Ok(255)
        );
        assert_eq!(read_name(&message, pointer_at).err(), Some(Malformed));
        // A label longer than 63 bytes cannot even be written: its length byte is a pointer
        // or reserved.
    }

    #[test]
    fn presentation_escapes_as_hickory_for_printable_bytes() {
        for byte in 0x21u8..0x7f {
            for label in [vec![byte], vec![b'a', byte], vec![byte, byte]] {
                let mut wire_name = vec![label.len() as u8];
                wire_name.extend_from_slice(&label);
                wire_name.push(0);
                let hickory = HickoryName::from_labels(vec![label.as_slice()]).expect("label");
                assert_eq!(
                    Name(wire_name).to_presentation(),
                    hickory.to_ascii(),
                    "{label:?}"
                );
            }
        }
        assert_eq!(Name(vec![0]).to_presentation(), ".");
    }

    #[test]
    fn presentation_writes_other_bytes_in_decimal() {
        let name = Name(b"\x04a\x00 \xff\x03org\x00".to_vec());
        assert_eq!(name.to_presentation(), "a\\000\\032\\255.org.");
        // Where hickory writes octal: "a\000\040\377.org.".
        let hickory = HickoryName::from_labels(vec![&b"a\x00 \xff"[..], b"org"]).expect("name");
        assert_eq!(hickory.to_ascii(), "a\\000\\040\\377.org.");
    }

    #[test]
    fn truncated_headers_are_malformed() {
        for length in 0..HEADER_LEN {
            assert_eq!(parse(&vec![0; length]), Err(Malformed), "{length} bytes");
        }
        let empty = parse(&header(9, 0x8183, [0; 4])).expect("header only");
        assert_eq!(
            (empty.id, empty.is_response, empty.opcode, empty.rcode),
            (9, true, 0, 3)
        );
    }

    #[test]
    fn extended_rcode_comes_from_the_opt_record() {
        let mut message = header(1, 0x8001, [0, 0, 0, 1]);
        // OPT: root owner, type 41, payload 1232, TTL with extended rcode 1, no data.
        message.extend_from_slice(b"\x00\x00\x29\x04\xd0\x01\x00\x00\x00\x00\x00");
        assert_eq!(parse(&message).map(|parsed| parsed.rcode), Ok(0x11));
        let hickory = HickoryMessage::from_vec(&message).expect("hickory parses");
        assert_eq!(u16::from(hickory.metadata.response_code), 0x11);
    }
}
