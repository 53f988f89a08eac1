//! Probe IP scrubbing, as OONI does it, but at address boundaries.
//!
//! OONI's engine sets `probe_ip` to `127.0.0.1`, serialises the measurement and replaces every
//! occurrence of the probe's public IP string with `[scrubbed]`. A plain byte replace both
//! over-reaches (scrubbing `1.2.3.4` turns `11.2.3.45` into `1[scrubbed]5`) and misses other
//! spellings of the same address (`2001:DB8:0:0::1` for `2001:db8::1`). Here every string of the
//! serialised measurement (values *and* object keys, and the decoded bytes of
//! `{"format": "base64", "data": ...}` bodies) is searched for any spelling of the address, and
//! only whole addresses are replaced:
//!
//! - IPv4 in dotted form, also zero-padded (`001.002.003.004`) and dashed as in reverse-DNS host
//!   names (`ip-1-2-3-4.example.net`), and its IPv4-mapped (`::ffff:1.2.3.4`, `::ffff:102:304`)
//!   and NAT64 (`64:ff9b::1.2.3.4`) IPv6 forms;
//! - IPv6 in any spelling the standard parser accepts (compressed or expanded, leading zeros,
//!   either case, embedded IPv4), bracketed (`[2001:db8::1]:443`), with a zone (`fe80::1%eth0`),
//!   followed by a port without brackets (`2001:db8::1:443`), and with percent-encoded `:`, `[`
//!   and `]` as in URL query strings (`2001%3Adb8%3A%3A1`);
//! - inside `ip:port`, URLs, HTTP bodies and header values, DNS answers and map keys.
//!
//! An address is "whole" when the character before it cannot continue it (not a digit for IPv4,
//! not a hex digit for IPv6; for IPv4 also not a `.`/`-` that follows a digit) and the character
//! after it cannot continue it either. Brackets and ports are kept (`[[scrubbed]]:443`, as
//! OONI's replace gives). Not covered: reversed forms (`4.3.2.1.in-addr.arpa`, `ip6.arpa`),
//! addresses in binary (DNS wire format, certificate SANs), and text in encodings other than
//! ASCII-compatible ones.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::report::measurement::{Measurement, SCRUBBED_PROBE_IP};

/// What every occurrence of the probe's address is replaced with (OONI's literal).
pub const SCRUBBED: &str = "[scrubbed]";

/// The longest text spelling of an IPv6 address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const MAX_IPV6_TEXT: usize = 45;

/// Returns a copy of `measurement` with `probe_ip` set to [`SCRUBBED_PROBE_IP`] and every
/// spelling of the probe's address replaced with [`SCRUBBED`] wherever it appears.
///
/// The addresses scrubbed are `probe_ip` and, if it holds a real address, the measurement's own
/// `probe_ip` field. Loopback and unspecified addresses are never treated as the probe's: they
/// are OONI's placeholders (`127.0.0.1`, `127.0.0.2`), and scrubbing them would erase evidence
/// such as DNS answers pointing at `127.0.0.1`. With no address to scrub, only `probe_ip` is
/// changed.
pub fn scrub_measurement(
    measurement: &Measurement,
    probe_ip: Option<IpAddr>,
) -> crate::Result<Measurement> {
    let mut addresses: Vec<IpAddr> = probe_ip.into_iter().collect();
    if let Some(recorded) = parse_address(&measurement.probe_ip) {
        addresses.push(recorded);
    }
    addresses.retain(|ip| !ip.is_loopback() && !ip.is_unspecified());
    let mut value = serde_json::to_value(measurement)?;
    if !addresses.is_empty() {
        Scrubber::new(addresses).scrub_value(&mut value);
    }
    let mut scrubbed: Measurement = serde_json::from_value(value)?;
    scrubbed.probe_ip = SCRUBBED_PROBE_IP.to_string();
    Ok(scrubbed)
}

/// Replaces every whole spelling of `ip` in `text` with [`SCRUBBED`].
pub fn scrub_text(text: &str, ip: IpAddr) -> String {
    Scrubber::new([ip]).scrub_str(text).into_owned()
}

/// Scrubs `ip` from every string and object key of a JSON value, and from the decoded bytes of
/// `{"format": "base64", "data": ...}` objects.
pub fn scrub_value(value: &mut Value, ip: IpAddr) {
    Scrubber::new([ip]).scrub_value(value);
}

/// Scrubs `ip` from a serialised JSON document. The document is parsed and every string in it
/// scrubbed (so JSON escapes next to an address cannot hide it), then serialised again (compact,
/// keys in serde_json's map order). Text that is not JSON is scrubbed as plain text.
pub fn scrub_json_text(text: &str, ip: IpAddr) -> String {
    let scrubber = Scrubber::new([ip]);
    match serde_json::from_str::<Value>(text) {
        Ok(mut value) => {
            scrubber.scrub_value(&mut value);
            value.to_string()
        }
        Err(_) => scrubber.scrub_str(text).into_owned(),
    }
}

/// Replaces every spelling of a set of addresses with [`SCRUBBED`]. Build one per measurement
/// and reuse it for all its strings.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

impl Scrubber {
    /// A scrubber for these addresses (and their alternative forms: an IPv4 address's mapped
    /// and NAT64 IPv6 forms, an IPv4-mapped IPv6 address's IPv4 form).
    pub fn new(addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut scrubber = Scrubber::default();
        for address in addresses {
            match address {
                IpAddr::V4(v4) => scrubber.add_v4(v4),
                IpAddr::V6(v6) => {
                    scrubber.add_v6(v6);
                    if let Some(v4) = v6.to_ipv4_mapped() {
                        scrubber.add_v4(v4);
                    }
                }
            }
        }
        scrubber
    }

    fn add_v4(&mut self, v4: Ipv4Addr) {
        if !self.v4.contains(&v4) {
            self.v4.push(v4);
        }
        let [a, b, c, d] = v4.octets();
        let nat64 = Ipv6Addr::new(
            0x64,
            0xff9b,
            0,
            0,
            0,
            0,
            u16::from_be_bytes([a, b]),
            u16::from_be_bytes([c, d]),
        );
        self.add_v6(v4.to_ipv6_mapped());
        self.add_v6(nat64);
    }

    fn add_v6(&mut self, v6: Ipv6Addr) {
        if !self.v6.contains(&v6) {
            self.v6.push(v6);
        }
    }

    /// True when there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Scrubs a string; borrows it back unchanged when no address was found.
    pub fn scrub_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Only ASCII runs are replaced by ASCII, so the result is UTF-8 whenever the input
            // was; the lossy path cannot be taken but avoids a panic path.
            Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
            }),
        }
    }

    /// Scrubs bytes (an HTTP body, say); borrows them back unchanged when no address was found.
    pub fn scrub_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        // Every spelling has a `.`, `:` or `-`, possibly percent-encoded.
        if self.is_empty() || !bytes.iter().any(|b| matches!(b, b'.' | b':' | b'-' | b'%')) {
            return Cow::Borrowed(bytes);
        }
        let text = Units(bytes);
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut at = 0;
        while let Some((_, len)) = text.unit(at) {
            if let Some(end) = self.match_at(&text, at) {
                let buffer = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                buffer.extend_from_slice(&bytes[copied..at]);
                buffer.extend_from_slice(SCRUBBED.as_bytes());
                copied = end;
                at = end;
            } else {
                at += len;
            }
        }
        match out {
            None => Cow::Borrowed(bytes),
            Some(mut buffer) => {
                buffer.extend_from_slice(&bytes[copied..]);
                Cow::Owned(buffer)
            }
        }
    }

    /// Scrubs every string, object key and base64 binary object of a JSON value in place.
    pub fn scrub_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(text) => {
                if let Cow::Owned(scrubbed) = self.scrub_str(text) {
                    *text = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.scrub_value(item)),
            Value::Object(map) => {
                self.scrub_binary_object(map);
                if map
                    .keys()
                    .any(|key| matches!(self.scrub_str(key), Cow::Owned(_)))
                {
                    *map = self.scrub_keys(std::mem::take(map));
                }
                map.values_mut().for_each(|item| self.scrub_value(item));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Scrubs the decoded bytes of `{"format": "base64", "data": ...}` (df-001 binary data).
    fn scrub_binary_object(&self, map: &mut Map<String, Value>) {
        if map.len() != 2 || map.get("format").and_then(Value::as_str) != Some("base64") {
            return;
        }
        let Some(Value::String(data)) = map.get_mut("data") else {
            return;
        };
        let engine = base64::engine::general_purpose::STANDARD;
        let Ok(bytes) = engine.decode(data.as_bytes()) else {
            return;
        };
        if let Cow::Owned(scrubbed) = self.scrub_bytes(&bytes) {
            *data = engine.encode(scrubbed);
        }
    }

    /// Rebuilds a map with scrubbed keys. Two keys that become equal (two spellings of the
    /// probe's address) are both kept: later ones get a ` #2`, ` #3`, ... suffix.
    fn scrub_keys(&self, map: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in map {
            let key = self.scrub_str(&key).into_owned();
            if !out.contains_key(&key) {
                out.insert(key, value);
                continue;
            }
            let mut n = 2;
            while out.contains_key(&format!("{key} #{n}")) {
                n += 1;
            }
            out.insert(format!("{key} #{n}"), value);
        }
        out
    }

    /// The end (byte offset) of a whole spelling of one of the addresses starting at `at`.
    fn match_at(&self, text: &Units<'_>, at: usize) -> Option<usize> {
        let (c, _) = text.unit(at)?;
        let prev = text.prev(at);
        if !self.v6.is_empty() && (c.is_ascii_hexdigit() || c == b':') {
            let boundary = prev.is_none_or(|(p, _)| !p.is_ascii_hexdigit());
            if boundary {
                if let Some(end) = self.match_v6(text, at) {
                    return Some(end);
                }
            }
        }
        if !self.v4.is_empty() && c.is_ascii_digit() {
            for separator in [b'.', b'-'] {
                if v4_start_ok(text, at, separator) {
                    if let Some(end) = self.match_v4(text, at, separator) {
                        return Some(end);
                    }
                }
            }
        }
        None
    }

    /// The longest IPv6 spelling of a target starting at `at` that ends at a boundary.
    fn match_v6(&self, text: &Units<'_>, at: usize) -> Option<usize> {
        let mut chars = [0u8; MAX_IPV6_TEXT];
        let mut ends = [0usize; MAX_IPV6_TEXT];
        // For each prefix length, where its last group starts.
        let mut tails = [0usize; MAX_IPV6_TEXT + 1];
        let mut count = 0;
        let mut colons = 0;
        let mut pos = at;
        while count < MAX_IPV6_TEXT {
            let Some((c, len)) = text.unit(pos) else {
                break;
            };
            if !(c.is_ascii_hexdigit() || c == b':' || c == b'.') {
                break;
            }
            colons += usize::from(c == b':');
            chars[count] = c;
            pos += len;
            ends[count] = pos;
            tails[count + 1] = if c == b':' { count + 1 } else { tails[count] };
            count += 1;
        }
        if colons < 2 {
            return None;
        }
        // Candidates end at the run's end or just before a `:` or `.`, longest first.
        for k in (2..=count).rev() {
            if k < count && !matches!(chars[k], b':' | b'.') {
                continue;
            }
            if !self.last_group_may_match(&chars[tails[k]..k]) {
                continue;
            }
            let Ok(candidate) = std::str::from_utf8(&chars[..k]) else {
                continue;
            };
            let Ok(address) = candidate.parse::<Ipv6Addr>() else {
                continue;
            };
            let end = ends[k - 1];
            if self.v6.contains(&address) && v6_end_ok(text, end) {
                return Some(end);
            }
        }
        None
    }

    /// A cheap filter before parsing: `tail`, the group after a candidate's last `:`, must be a
    /// target's last group (or hold an embedded IPv4, which the parser checks). Keeps long runs of hex digits
    /// and colons (adversarial bodies) linear in practice.
    fn last_group_may_match(&self, tail: &[u8]) -> bool {
        if tail.contains(&b'.') {
            return true;
        }
        if tail.len() > 4 {
            return false;
        }
        let value = tail.iter().fold(0u16, |value, &c| {
            let digit = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => 0,
            };
            (value << 4) | u16::from(digit)
        });
        self.v6.iter().any(|target| target.segments()[7] == value)
    }

    /// An IPv4 spelling of a target (octets of 1 to 3 digits joined by `separator`) at `at`.
    fn match_v4(&self, text: &Units<'_>, at: usize, separator: u8) -> Option<usize> {
        let mut octets = [0u8; 4];
        let mut pos = at;
        for (index, octet) in octets.iter_mut().enumerate() {
            if index > 0 {
                match text.unit(pos) {
                    Some((c, len)) if c == separator => pos += len,
                    _ => return None,
                }
            }
            let mut value: u32 = 0;
            let mut digits = 0;
            while let Some((c, len)) = text.unit(pos) {
                if !c.is_ascii_digit() || digits == 3 {
                    break;
                }
                value = value * 10 + u32::from(c - b'0');
                digits += 1;
                pos += len;
            }
            if digits == 0 {
                return None;
            }
            *octet = u8::try_from(value).ok()?;
        }
        let address = Ipv4Addr::from(octets);
        (self.v4.contains(&address) && v4_end_ok(text, pos, separator)).then_some(pos)
    }
}

/// An IPv4 spelling may start here: not right after a digit, nor after a separator that
/// follows a digit (`9.1.2.3.4` is not `1.2.3.4`).
fn v4_start_ok(text: &Units<'_>, at: usize, separator: u8) -> bool {
    match text.prev(at) {
        None => true,
        Some((p, _)) if p.is_ascii_digit() => false,
        Some((p, start)) if p == separator => {
            !matches!(text.prev(start), Some((q, _)) if q.is_ascii_digit())
        }
        Some(_) => true,
    }
}

/// An IPv4 spelling may end here: no digit follows, nor a separator and a digit
/// (`1.2.3.4.5` is not `1.2.3.4`; `1.2.3.4.` at the end of a sentence is).
fn v4_end_ok(text: &Units<'_>, end: usize, separator: u8) -> bool {
    match text.unit(end) {
        None => true,
        Some((c, _)) if c.is_ascii_digit() => false,
        Some((c, len)) if c == separator => {
            !matches!(text.unit(end + len), Some((d, _)) if d.is_ascii_digit())
        }
        Some(_) => true,
    }
}

/// An IPv6 spelling may end here: no hex digit follows, no `.` and digit (an embedded IPv4
/// continuing), and a `:` only as punctuation or before a decimal port (1 to 65535, no leading
/// zero) that nothing hex-like continues. `2001:db8::1:443` is read as address and port, so an
/// address that merely extends the probe's by a decimal-looking group is scrubbed too: the safe
/// side of an ambiguity that only brackets resolve.
fn v6_end_ok(text: &Units<'_>, end: usize) -> bool {
    match text.unit(end) {
        None => true,
        Some((c, _)) if c.is_ascii_hexdigit() => false,
        Some((b'.', len)) => !matches!(text.unit(end + len), Some((d, _)) if d.is_ascii_digit()),
        Some((b':', len)) => {
            let mut pos = end + len;
            match text.unit(pos) {
                None => true,
                Some((b':', _)) => false,
                Some((d, _)) if d.is_ascii_digit() => {
                    let mut port: u32 = 0;
                    let mut digits = 0;
                    while let Some((d, len)) = text.unit(pos) {
                        if !d.is_ascii_digit() || digits > 5 {
                            break;
                        }
                        if digits == 0 && d == b'0' {
                            // Ports are written without leading zeros: `…::0:01` is an address.
                            return false;
                        }
                        port = port * 10 + u32::from(d - b'0');
                        digits += 1;
                        pos += len;
                    }
                    port <= 65535
                        && match text.unit(pos) {
                            None => true,
                            Some((c, _)) if c.is_ascii_hexdigit() || c == b':' => false,
                            Some((b'.', len)) => !matches!(
                                text.unit(pos + len),
                                Some((d, _)) if d.is_ascii_digit()
                            ),
                            Some(_) => true,
                        }
                }
                Some((c, _)) => !c.is_ascii_hexdigit(),
            }
        }
        Some(_) => true,
    }
}

/// Parses an address as written in `probe_ip` (possibly bracketed).
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

/// Bytes read as "units": one byte, or a percent-encoded `:`, `[` or `]` (`%3A`, `%5B`, `%5D`,
/// either case) read as that character, so that addresses in URL query strings are found.
struct Units<'a>(&'a [u8]);

impl Units<'_> {
    /// The unit starting at byte `at` and its length in bytes.
    fn unit(&self, at: usize) -> Option<(u8, usize)> {
        let bytes = self.0;
        let first = *bytes.get(at)?;
        if first == b'%' {
            if let Some(decoded) = bytes.get(at + 1..at + 3).and_then(decode_escape) {
                return Some((decoded, 3));
            }
        }
        Some((first, 1))
    }

    /// The unit ending just before byte `at`, and where it starts.
    fn prev(&self, at: usize) -> Option<(u8, usize)> {
        if at == 0 {
            return None;
        }
        if at >= 3 && self.0[at - 3] == b'%' {
            if let Some(decoded) = decode_escape(&self.0[at - 2..at]) {
                return Some((decoded, at - 3));
            }
        }
        Some((self.0[at - 1], at - 1))
    }
}

/// The character of a percent escape's two hex digits, if it is one the scanner decodes.
fn decode_escape(hex: &[u8]) -> Option<u8> {
    match hex {
        [b'3', b'A' | b'a'] => Some(b':'),
        [b'5', b'B' | b'b'] => Some(b'['),
        [b'5', b'D' | b'd'] => Some(b']'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::measurement::{ProbeNetwork, Software};
    use rand::rngs::StdRng;
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn check(address: &str, cases: &[(&str, &str)]) {
        let address = ip(address);
        for (input, expected) in cases {
            assert_eq!(
                scrub_text(input, address),
                *expected,
                "scrubbing {address} from {input:?}"
            );
        }
    }

    #[test]
    fn ipv4_only_at_boundaries() {
        check(
            "1.2.3.4",
            &[
                ("1.2.3.4", "[scrubbed]"),
                ("11.2.3.45", "11.2.3.45"),
                ("1.2.3.40", "1.2.3.40"),
                ("21.2.3.4", "21.2.3.4"),
                ("1.2.3.45", "1.2.3.45"),
                ("1.2.3.4.5", "1.2.3.4.5"),
                ("9.1.2.3.4", "9.1.2.3.4"),
                ("v1.2.3.4", "v[scrubbed]"),
                ("a 1.2.3.4.", "a [scrubbed]."),
                ("(1.2.3.4)", "([scrubbed])"),
                ("ip=1.2.3.4;x=11.2.3.4", "ip=[scrubbed];x=11.2.3.4"),
                ("1.2.3.4:443", "[scrubbed]:443"),
                (
                    "http://1.2.3.4/path?q=1.2.3.4",
                    "http://[scrubbed]/path?q=[scrubbed]",
                ),
                ("http://1.2.3.4:8080/", "http://[scrubbed]:8080/"),
                ("001.002.003.004", "[scrubbed]"),
                ("1.2.3.4,1.2.3.4", "[scrubbed],[scrubbed]"),
                ("1.2.3.4\n1.2.3.4", "[scrubbed]\n[scrubbed]"),
                ("ip-1-2-3-4.example.net", "ip-[scrubbed].example.net"),
                ("10-1-2-3-4", "10-1-2-3-4"),
                ("1-2-3-45", "1-2-3-45"),
                ("2024-01-02", "2024-01-02"),
                ("::ffff:1.2.3.4", "[scrubbed]"),
                ("::FFFF:102:304", "[scrubbed]"),
                ("[::ffff:1.2.3.4]:443", "[[scrubbed]]:443"),
                ("64:ff9b::1.2.3.4", "[scrubbed]"),
                ("2001:db8::1.2.3.4", "2001:db8::[scrubbed]"),
                ("1.2.3", "1.2.3"),
                ("1.2.3.256", "1.2.3.256"),
                ("12.34", "12.34"),
                ("Café 1.2.3.4 ü", "Café [scrubbed] ü"),
            ],
        );
    }

    #[test]
    fn ipv6_spellings() {
        let scrubbed_everywhere = [
            "2001:db8::1",
            "2001:DB8::1",
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            "2001:0DB8:0:0:0:0:0:1",
            "2001:db8:0:0::1",
            "2001:db8::0:0:1",
        ];
        for spelling in scrubbed_everywhere {
            check(
                "2001:db8::1",
                &[
                    (spelling, "[scrubbed]"),
                    (&format!("[{spelling}]:443"), "[[scrubbed]]:443"),
                    (
                        &format!("https://[{spelling}]:8443/x"),
                        "https://[[scrubbed]]:8443/x",
                    ),
                    (&format!("{spelling}%eth0"), "[scrubbed]%eth0"),
                    (&format!("{spelling}:443"), "[scrubbed]:443"),
                    (&format!("addr={spelling}."), "addr=[scrubbed]."),
                    (&format!("Code:{spelling}"), "Code:[scrubbed]"),
                    (
                        &format!("X-Real-IP: {spelling}\r\n"),
                        "X-Real-IP: [scrubbed]\r\n",
                    ),
                ],
            );
        }
        check(
            "2001:db8::1",
            &[
                ("2001:db8::10", "2001:db8::10"),
                ("2001:db8::1a", "2001:db8::1a"),
                ("2001:db8::1:abcd", "2001:db8::1:abcd"),
                ("12001:db8::1", "12001:db8::1"),
                ("a2001:db8::1", "a2001:db8::1"),
                ("2001:db8::", "2001:db8::"),
                ("2001:db8::1.2.3.4", "2001:db8::1.2.3.4"),
                ("2001:db8::1:123456", "2001:db8::1:123456"),
                ("12:34:56", "12:34:56"),
                ("2001%3Adb8%3A%3A1", "[scrubbed]"),
                (
                    "?ip=%5B2001%3ADB8%3A%3A1%5D%3A443&x",
                    "?ip=%5B[scrubbed]%5D%3A443&x",
                ),
            ],
        );
        check(
            "::ffff:1.2.3.4",
            &[("1.2.3.4", "[scrubbed]"), ("::ffff:1.2.3.4", "[scrubbed]")],
        );
        check(
            "fe80::1",
            &[
                ("fe80::1%wlan0", "[scrubbed]%wlan0"),
                ("fe80::10", "fe80::10"),
            ],
        );
    }

    fn sample_measurement() -> Measurement {
        let now = time::OffsetDateTime::now_utc();
        let mut m = Measurement::new(
            "web_connectivity",
            "0.5.28",
            Some("http://example.com/?client=1.2.3.4".to_string()),
            &Software::default(),
            &ProbeNetwork::default(),
            now,
            now,
        );
        let body = "<html>Your IP is 1.2.3.4 (not 11.2.3.45) via [2001:db8::1]:443</html>";
        let binary =
            base64::engine::general_purpose::STANDARD.encode(b"\xff\xfeclient 1.2.3.4 end");
        m.test_keys = serde_json::json!({
            "tcp_connect": [
                {"ip": "1.2.3.4", "port": 443, "status": {"success": true, "failure": null}, "t": 0.1},
                {"ip": "8.8.8.8", "port": 53, "status": {"success": true, "failure": null}, "t": 0.1}
            ],
            "queries": [{"answers": [{"answer_type": "A", "ipv4": "1.2.3.4", "ttl": null},
                                      {"answer_type": "A", "ipv4": "127.0.0.1", "ttl": null}]}],
            "requests": [{
                "request": {"headers_list": [["X-Forwarded-For", "1.2.3.4, 10.0.0.1"]]},
                "response": {
                    "body": body,
                    "headers": {"X-Client": "2001:0DB8:0:0:0:0:0:1"},
                    "headers_list": [["X-Client", "2001:0DB8:0:0:0:0:0:1"]]
                }
            }, {"response": {"body": {"format": "base64", "data": binary}}}],
            "network_events": [{"address": "1.2.3.4:443", "operation": "connect"}],
            "control": {"tcp_connect": {"1.2.3.4:443": {"status": true}, "93.184.216.34:443": {"status": true}}},
            "numbers": [1.2, 3.4, 1234]
        });
        m
    }

    #[test]
    fn measurement_is_scrubbed_everywhere() {
        let m = sample_measurement();
        let scrubbed = scrub_measurement(&m, Some(ip("1.2.3.4"))).unwrap();
        assert_eq!(scrubbed.probe_ip, SCRUBBED_PROBE_IP);
        let text = serde_json::to_string(&scrubbed).unwrap();
        assert!(!text.contains("\"1.2.3.4"), "{text}");
        assert!(!text.contains("1.2.3.4\""), "{text}");
        let tk = &scrubbed.test_keys;
        assert_eq!(tk["tcp_connect"][0]["ip"], "[scrubbed]");
        assert_eq!(tk["tcp_connect"][1]["ip"], "8.8.8.8");
        assert_eq!(tk["queries"][0]["answers"][0]["ipv4"], "[scrubbed]");
        assert_eq!(tk["queries"][0]["answers"][1]["ipv4"], "127.0.0.1");
        assert_eq!(
            tk["requests"][0]["request"]["headers_list"][0][1],
            "[scrubbed], 10.0.0.1"
        );
        assert_eq!(
            tk["requests"][0]["response"]["body"],
            "<html>Your IP is [scrubbed] (not 11.2.3.45) via [2001:db8::1]:443</html>"
        );
        let data = tk["requests"][1]["response"]["body"]["data"]
            .as_str()
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(bytes, b"\xff\xfeclient [scrubbed] end");
        assert_eq!(tk["network_events"][0]["address"], "[scrubbed]:443");
        assert!(tk["control"]["tcp_connect"]["[scrubbed]:443"].is_object());
        assert!(tk["control"]["tcp_connect"]["93.184.216.34:443"].is_object());
        assert_eq!(tk["numbers"], serde_json::json!([1.2, 3.4, 1234]));
        assert_eq!(
            scrubbed.input.as_deref(),
            Some("http://example.com/?client=[scrubbed]")
        );

        // The same measurement, scrubbed for the IPv6 address.
        let scrubbed = scrub_measurement(&m, Some(ip("2001:db8::1"))).unwrap();
        let tk = &scrubbed.test_keys;
        assert_eq!(
            tk["requests"][0]["response"]["headers"]["X-Client"],
            "[scrubbed]"
        );
        assert_eq!(
            tk["requests"][0]["response"]["headers_list"][0][1],
            "[scrubbed]"
        );
        assert_eq!(
            tk["requests"][0]["response"]["body"],
            "<html>Your IP is 1.2.3.4 (not 11.2.3.45) via [[scrubbed]]:443</html>"
        );
        assert_eq!(tk["tcp_connect"][0]["ip"], "1.2.3.4");
    }

    #[test]
    fn probe_ip_is_always_reset_and_placeholders_are_left_alone() {
        let mut m = sample_measurement();
        m.probe_ip = "1.2.3.4".to_string();
        // No address given: the recorded probe_ip is scrubbed.
        let scrubbed = scrub_measurement(&m, None).unwrap();
        assert_eq!(scrubbed.probe_ip, "127.0.0.1");
        assert_eq!(scrubbed.test_keys["tcp_connect"][0]["ip"], "[scrubbed]");
        // Loopback is never treated as the probe's address.
        let m = sample_measurement();
        let scrubbed = scrub_measurement(&m, Some(ip("127.0.0.1"))).unwrap();
        assert_eq!(scrubbed, m);
        let scrubbed = scrub_measurement(&m, None).unwrap();
        assert_eq!(scrubbed, m);
    }

    #[test]
    fn colliding_keys_are_both_kept() {
        let mut value = serde_json::json!({"1.2.3.4:443": 1, "::ffff:1.2.3.4:443": 2});
        scrub_value(&mut value, ip("1.2.3.4"));
        let map = value.as_object().unwrap();
        assert_eq!(map.len(), 2);
        assert!(map.contains_key("[scrubbed]:443"));
        assert!(map.contains_key("[scrubbed]:443 #2"));
    }

    #[test]
    fn json_text_escapes_cannot_hide_an_address() {
        // In raw JSON text the address follows the escape `\u00ab`, whose last character is a
        // hex digit; scrubbing the decoded string still finds it.
        let text = r#"{"a":"\u00ab2001:db8::1","b":"1.2.3.4"}"#;
        let out = scrub_json_text(text, ip("2001:db8::1"));
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["a"], "\u{ab}[scrubbed]");
        assert_eq!(value["b"], "1.2.3.4");
        assert_eq!(
            scrub_json_text("not json 1.2.3.4", ip("1.2.3.4")),
            "not json [scrubbed]"
        );
    }

    /// A random IPv6 address text for `address`, in one of the spellings people write.
    fn v6_spelling(rng: &mut StdRng, address: Ipv6Addr) -> String {
        let groups = address.segments();
        let text = match rng.random_range(0..4) {
            0 => address.to_string(),
            1 => groups
                .iter()
                .map(|g| format!("{g:04x}"))
                .collect::<Vec<_>>()
                .join(":"),
            2 => groups
                .iter()
                .map(|g| format!("{g:x}"))
                .collect::<Vec<_>>()
                .join(":"),
            _ => {
                // Compress a random run of zero groups, if any.
                let zeros: Vec<usize> = (0..8).filter(|&i| groups[i] == 0).collect();
                match zeros.choose(rng) {
                    None => address.to_string(),
                    Some(&start) => {
                        let mut end = start;
                        while end + 1 < 8 && groups[end + 1] == 0 && rng.random_bool(0.7) {
                            end += 1;
                        }
                        let part = |range: &[u16]| {
                            range
                                .iter()
                                .map(|g| format!("{g:x}"))
                                .collect::<Vec<_>>()
                                .join(":")
                        };
                        format!("{}::{}", part(&groups[..start]), part(&groups[end + 1..]))
                    }
                }
            }
        };
        text.chars()
            .map(|c| {
                if rng.random_bool(0.5) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    fn random_v6(rng: &mut StdRng) -> Ipv6Addr {
        let mut groups = [0u16; 8];
        groups[0] = rng.random_range(0x2000..0x4000);
        for group in groups.iter_mut().skip(1) {
            *group = if rng.random_bool(0.3) {
                0
            } else {
                rng.random()
            };
        }
        Ipv6Addr::from(groups)
    }

    fn random_v4(rng: &mut StdRng) -> Ipv4Addr {
        Ipv4Addr::new(
            rng.random_range(1..224),
            rng.random(),
            rng.random(),
            rng.random(),
        )
    }

    /// Text that must survive scrubbing of `target` untouched.
    fn decoy(rng: &mut StdRng, target: IpAddr) -> String {
        let words = [
            "hello", "deadbeef", "cafe", "Accept", "face", "bad", "a", "é", "ü",
        ];
        loop {
            let text = match rng.random_range(0..10) {
                0 => (*words.choose(rng).unwrap()).to_string(),
                1 => rng.random::<u32>().to_string(),
                2 => format!(
                    "{}.{}",
                    rng.random_range(0..1000),
                    rng.random_range(0..1000)
                ),
                3 => format!(
                    "{:02}:{:02}:{:02}",
                    rng.random_range(0..24),
                    rng.random_range(0..60),
                    rng.random_range(0..60)
                ),
                4 => random_v4(rng).to_string(),
                5 => {
                    let other = random_v6(rng);
                    v6_spelling(rng, other)
                }
                6 => format!("{}:{}", random_v4(rng), rng.random::<u16>()),
                // Near misses of the target.
                _ => match target {
                    IpAddr::V4(v4) => {
                        let [a, b, c, d] = v4.octets();
                        match rng.random_range(0..4) {
                            0 => format!("{}{a}.{b}.{c}.{d}", rng.random_range(1..10)),
                            // Not 0: `1.2.3.00` is a zero-padded spelling of `1.2.3.0`.
                            1 => format!("{a}.{b}.{c}.{d}{}", rng.random_range(1..10)),
                            2 => format!("{a}.{b}.{c}.{d}.{}", rng.random_range(0..10)),
                            _ => format!("{}.{a}.{b}.{c}.{d}", rng.random_range(0..10)),
                        }
                    }
                    IpAddr::V6(v6) => {
                        let spelling = v6_spelling(rng, v6);
                        match rng.random_range(0..3) {
                            0 => format!("{spelling}{:x}", rng.random_range(0..16)),
                            1 => format!("{spelling}:abcd"),
                            _ => format!("{spelling}.{}", rng.random_range(0..10)),
                        }
                    }
                },
            };
            // A decoy must not itself be a spelling of the target.
            let parsed = parse_address(&text);
            let same = match (parsed, target) {
                (Some(a), b) if a == b => true,
                (Some(IpAddr::V6(a)), IpAddr::V4(b)) => a.to_ipv4_mapped() == Some(b),
                _ => false,
            };
            if !same {
                return text;
            }
        }
    }

    /// A spelling of `target` wrapped in context, and what it must become.
    fn occurrence(rng: &mut StdRng, target: IpAddr) -> (String, String) {
        let port = rng.random_range(1..65536u32);
        match target {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                let core = match rng.random_range(0..6) {
                    0 => format!("{a:03}.{b:03}.{c:03}.{d:03}"),
                    1 => format!("::ffff:{v4}"),
                    2 => format!(
                        "::FFFF:{:x}:{:x}",
                        u16::from_be_bytes([a, b]),
                        u16::from_be_bytes([c, d])
                    ),
                    _ => v4.to_string(),
                };
                match rng.random_range(0..6) {
                    0 => (format!("{core}:{port}"), format!("[scrubbed]:{port}")),
                    1 => (
                        format!("http://{core}/x"),
                        "http://[scrubbed]/x".to_string(),
                    ),
                    2 => (
                        format!("ip-{a}-{b}-{c}-{d}.example.net"),
                        "ip-[scrubbed].example.net".to_string(),
                    ),
                    3 => (format!("[{core}]:{port}"), format!("[[scrubbed]]:{port}")),
                    _ => (core, "[scrubbed]".to_string()),
                }
            }
            IpAddr::V6(v6) => {
                let core = v6_spelling(rng, v6);
                match rng.random_range(0..7) {
                    0 => (format!("[{core}]:{port}"), format!("[[scrubbed]]:{port}")),
                    1 => (
                        format!("https://[{core}]/p"),
                        "https://[[scrubbed]]/p".to_string(),
                    ),
                    2 => (format!("{core}%eth0"), "[scrubbed]%eth0".to_string()),
                    3 => (format!("{core}:{port}"), format!("[scrubbed]:{port}")),
                    4 => (core.replace(':', "%3A"), "[scrubbed]".to_string()),
                    _ => (core, "[scrubbed]".to_string()),
                }
            }
        }
    }

    #[test]
    fn random_addresses_in_random_text_never_survive() {
        let mut rng = StdRng::seed_from_u64(0x6b757a6574);
        let separators = [
            " ", "\n", ", ", "; ", " (", ") ", "\t", " = ", "\"", "<br>", " / ",
        ];
        for round in 0..3000 {
            let target = if round % 2 == 0 {
                IpAddr::V4(random_v4(&mut rng))
            } else {
                IpAddr::V6(random_v6(&mut rng))
            };
            let mut input = String::new();
            let mut expected = String::new();
            let mut planted = 0;
            for _ in 0..rng.random_range(1..25) {
                let separator = *separators.choose(&mut rng).unwrap();
                input.push_str(separator);
                expected.push_str(separator);
                if rng.random_bool(0.3) {
                    let (text, scrubbed) = occurrence(&mut rng, target);
                    input.push_str(&text);
                    expected.push_str(&scrubbed);
                    planted += 1;
                } else {
                    let text = decoy(&mut rng, target);
                    input.push_str(&text);
                    expected.push_str(&text);
                }
            }
            let output = scrub_text(&input, target);
            assert_eq!(output, expected, "target {target} in {input:?}");
            assert_eq!(output.matches(SCRUBBED).count(), planted, "{input:?}");
            // The same holds inside a JSON document, in a value and in a key.
            let mut value = serde_json::json!({ "body": input.clone(), input.clone(): 1 });
            scrub_value(&mut value, target);
            assert_eq!(value["body"], expected.as_str());
            assert_eq!(value[expected.as_str()], 1);
        }
    }
}
