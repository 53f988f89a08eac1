//! The web-connectivity test helper ("control"), as OONI's oohelperd defines it
//! (`docs/ooni-interop.md`, "The web-connectivity test helper"): the protocol types, a client,
//! the bogon classification, and the small rules the probe and the helper must share (which
//! ports to measure, how a page title is read).
//!
//! The helper service itself lives in `kuzet-server` (`kuzet_server::th`).

pub mod bogon;
pub mod client;
pub mod protocol;

pub use bogon::{is_bogon, BogonPolicy, IpNet, IpNetError};
pub use client::{call_test_helper, call_test_helper_counted};
pub use protocol::{
    ThDns, ThHttpRequest, ThIpInfo, ThRequest, ThResponse, ThTcpConnect, ThTlsHandshake,
    IP_FLAG_BOGON, IP_FLAG_RESOLVED_BY_PROBE, IP_FLAG_RESOLVED_BY_TH, IP_FLAG_VALID_FOR_DOMAIN,
    TH_DNS_NAME_ERROR,
};

use url::Url;

/// One port the helper (and the probe) measures for a URL, and whether a TLS handshake
/// follows the connect there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasuredPort {
    /// The port.
    pub port: u16,
    /// True to run a TLS handshake with the URL's host as SNI after connecting.
    pub tls: bool,
}

/// The ports measured for `url`, as oohelperd chooses them: the URL's explicit port if any;
/// else 443 for https; else both 80 and 443 for http (443 only to prove addresses valid for the
/// domain with TLS). TLS runs on 443 and, unlike oohelperd, also on an explicit port of an
/// https URL (labs and self-hosted sites use such ports; without TLS there the helper could
/// not validate anything).
pub fn measured_ports(url: &Url) -> Vec<MeasuredPort> {
    let https = url.scheme() == "https";
    match url.port() {
        Some(port) => vec![MeasuredPort {
            port,
            tls: https || port == 443,
        }],
        None if https => vec![MeasuredPort {
            port: 443,
            tls: true,
        }],
        None => vec![
            MeasuredPort {
                port: 80,
                tls: false,
            },
            MeasuredPort {
                port: 443,
                tls: true,
            },
        ],
    }
}

/// The longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 512;

/// The text of the first `<title>` element of an HTML body, as OONI compares titles: matched
/// case-insensitively, attributes allowed, 1 to [`MAX_TITLE_CHARS`] characters without `<`;
/// empty when there is none. Invalid UTF-8 is replaced.
pub fn html_title(body: &[u8]) -> String {
    let lower = body.to_ascii_lowercase();
    let mut from = 0;
    while let Some(offset) = find(&lower[from..], b"<title") {
        let open = from + offset;
        from = open + b"<title".len();
        // `<title>` or `<title attr=...>`, but not `<titlex>`.
        match lower.get(from) {
            Some(b'>') | Some(b' ') | Some(b'\t') | Some(b'\n') | Some(b'\r') => {}
            _ => continue,
        }
        let Some(close_tag) = find(&lower[from..], b">") else {
            return String::new();
        };
        let start = from + close_tag + 1;
        let end = match find(&lower[start..], b"<") {
            Some(length) => start + length,
            None => return String::new(),
        };
        if !lower[end..].starts_with(b"</title") {
            return String::new();
        }
        let text = String::from_utf8_lossy(&body[start..end]);
        let count = text.chars().count();
        if count == 0 || count > MAX_TITLE_CHARS {
            return String::new();
        }
        return text.into_owned();
    }
    String::new()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_oohelperd() {
        let ports = |text: &str| measured_ports(&Url::parse(text).unwrap());
        assert_eq!(
            ports("https://a.test/"),
            vec![MeasuredPort {
                port: 443,
                tls: true
            }]
        );
        assert_eq!(
            ports("http://a.test/"),
            vec![
                MeasuredPort {
                    port: 80,
                    tls: false
                },
                MeasuredPort {
                    port: 443,
                    tls: true
                }
            ]
        );
        assert_eq!(
            ports("http://a.test:8080/"),
            vec![MeasuredPort {
                port: 8080,
                tls: false
            }]
        );
        assert_eq!(
            ports("https://a.test:8443/"),
            vec![MeasuredPort {
                port: 8443,
                tls: true
            }]
        );
    }

    #[test]
    fn titles_are_extracted() {
        assert_eq!(
            html_title(b"<html><head><TITLE>Default Web Page</TITLE></head>"),
            "Default Web Page"
        );
        assert_eq!(
            html_title(b"<title lang=\"en\">  Spaced </title>"),
            "  Spaced "
        );
        assert_eq!(html_title(b"<titlex>no</titlex><title>yes</title>"), "yes");
        assert_eq!(html_title(b"<title></title>"), "");
        assert_eq!(html_title(b"<title>unterminated"), "");
        assert_eq!(html_title(b"<title>a <b>bold</b></title>"), "");
        assert_eq!(html_title(b"no title here"), "");
        let long = format!("<title>{}</title>", "x".repeat(MAX_TITLE_CHARS + 1));
        assert_eq!(html_title(long.as_bytes()), "");
        assert_eq!(
            html_title("<title>Қазақстан</title>".as_bytes()),
            "Қазақстан"
        );
    }
}
