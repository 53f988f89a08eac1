//! What a web_connectivity measurement concludes: Kuzet's precise [`Verdict`] (`x_verdict`) and
//! OONI's classic `blocking`/`accessible`/`dns_consistency` values.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::failure::Failure;

/// Kuzet's verdict on one URL, written as `x_verdict` (`{"kind": "...", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(
    all(feature = "uniffi", not(test)),
    derive(uniffi::Enum),
    uniffi(name = "WebVerdict")
)]
pub enum Verdict {
    /// The page was reached: an https fetch succeeded, or a cleartext page matched the test
    /// helper's.
    Ok,
    /// The site fails the same way for the test helper: down, not blocked.
    SiteDown,
    /// The probe's resolver lied or failed while the name resolves elsewhere.
    DnsTampered {
        /// How.
        how: DnsTamper,
    },
    /// Every connection to the site's addresses failed while the test helper connected.
    TcpBlocked {
        /// How the connects failed.
        how: TcpBlock,
    },
    /// The TLS handshake was interrupted (after the SNI was seen) while the test helper's
    /// handshake for the same name succeeded.
    TlsBlocked {
        /// How the handshake failed.
        how: TlsBlock,
        /// The SNI sent.
        sni: String,
    },
    /// A certificate that does not verify was presented while the test helper's handshake for
    /// the same name verified: interception.
    TlsMitm {
        /// The issuer DN of the topmost certificate presented (the interception root's name,
        /// e.g. `C=KZ, O=ISCA, CN=Information Security Certification Authority`).
        issuer: String,
        /// True when the chain matches Kazakhstan's known interception roots (names or
        /// fingerprints, see `kz_roots`).
        known_kz_root: bool,
        /// The SNI sent.
        sni: String,
    },
    /// A cleartext page came back but differs from the test helper's (OONI's http-diff rule).
    HttpBlockpage,
    /// The HTTP exchange failed while the test helper fetched the page.
    HttpFailure {
        /// The failure.
        failure: Failure,
    },
    /// Nothing can be concluded (typically the test helper was unreachable and nothing proved
    /// the page reachable).
    Undetermined {
        /// Why.
        why: String,
        /// True when the probe's own fetch failed (a failure nothing could compare); false when
        /// the page loaded but nothing proved it genuine.
        #[serde(default)]
        failed: bool,
    },
    /// This device's network was down or cut while the URL was measured: nothing can be said
    /// about the site (the connectivity check's status says how; see
    /// [`crate::session::NetworkGuard`]).
    Unreachable {
        /// The connectivity status that explains it.
        network: crate::experiment::connectivity::ConnectivityStatus,
    },
}

impl Verdict {
    /// The `kind` tag, e.g. `dns_tampered`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::SiteDown => "site_down",
            Verdict::DnsTampered { .. } => "dns_tampered",
            Verdict::TcpBlocked { .. } => "tcp_blocked",
            Verdict::TlsBlocked { .. } => "tls_blocked",
            Verdict::TlsMitm { .. } => "tls_mitm",
            Verdict::HttpBlockpage => "http_blockpage",
            Verdict::HttpFailure { .. } => "http_failure",
            Verdict::Undetermined { .. } => "undetermined",
            Verdict::Unreachable { .. } => "unreachable",
        }
    }

    /// True for the verdicts that mean interference.
    pub fn is_blocked(&self) -> bool {
        matches!(
            self,
            Verdict::DnsTampered { .. }
                | Verdict::TcpBlocked { .. }
                | Verdict::TlsBlocked { .. }
                | Verdict::TlsMitm { .. }
                | Verdict::HttpBlockpage
                | Verdict::HttpFailure { .. }
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => f.write_str("ok"),
            Verdict::SiteDown => f.write_str("site down"),
            Verdict::DnsTampered { how } => write!(f, "DNS tampered ({how})"),
            Verdict::TcpBlocked { how } => write!(f, "TCP blocked ({how})"),
            Verdict::TlsBlocked { how, sni } => write!(f, "TLS blocked ({how}, SNI {sni})"),
            Verdict::TlsMitm {
                issuer,
                known_kz_root,
                sni,
            } => {
                write!(f, "TLS interception (issuer {issuer:?}, SNI {sni}")?;
                if *known_kz_root {
                    f.write_str(", known Kazakh interception root")?;
                }
                f.write_str(")")
            }
            Verdict::HttpBlockpage => f.write_str("HTTP blockpage"),
            Verdict::HttpFailure { failure } => write!(f, "HTTP failure ({failure})"),
            Verdict::Undetermined { why, .. } => write!(f, "undetermined ({why})"),
            Verdict::Unreachable { network } => write!(f, "unreachable ({network})"),
        }
    }
}

/// How DNS was tampered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum DnsTamper {
    /// NXDOMAIN (or an empty answer) while the name resolves elsewhere.
    Nxdomain,
    /// Bogon addresses (private, loopback, ...) for a public name.
    Bogon,
    /// Other addresses than the test helper's, which do not serve the site.
    Hijack,
    /// The lookup timed out while the name resolves elsewhere.
    Timeout,
    /// Another resolver error (SERVFAIL, REFUSED, ...) while the name resolves elsewhere.
    Error,
}

/// How TCP connects were blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum TcpBlock {
    /// `connection_reset`.
    Reset,
    /// `generic_timeout_error` (SYNs dropped).
    Timeout,
    /// `connection_refused`.
    Refused,
    /// Anything else (`host_unreachable`, ...).
    Other,
}

/// How a TLS handshake was interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum TlsBlock {
    /// `connection_reset`.
    Reset,
    /// `generic_timeout_error`.
    Timeout,
    /// `eof_error`: the connection was closed.
    Eof,
    /// Anything else (`ssl_failed_handshake`, an injected alert, ...).
    Other,
}

macro_rules! snake_display {
    ($($ty:ty => { $($variant:ident => $text:literal),* $(,)? })*) => {
        $(impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$variant => $text),* })
            }
        })*
    };
}

snake_display! {
    DnsTamper => { Nxdomain => "nxdomain", Bogon => "bogon", Hijack => "hijack", Timeout => "timeout", Error => "error" }
    TcpBlock => { Reset => "reset", Timeout => "timeout", Refused => "refused", Other => "other" }
    TlsBlock => { Reset => "reset", Timeout => "timeout", Eof => "eof", Other => "other" }
}

impl TcpBlock {
    /// The kind of a connect failure.
    pub fn from_failure(failure: &Failure) -> Self {
        match failure {
            Failure::ConnectionReset => TcpBlock::Reset,
            Failure::GenericTimeout => TcpBlock::Timeout,
            Failure::ConnectionRefused => TcpBlock::Refused,
            _ => TcpBlock::Other,
        }
    }
}

impl TlsBlock {
    /// The kind of a handshake failure.
    pub fn from_failure(failure: &Failure) -> Self {
        match failure {
            Failure::ConnectionReset => TlsBlock::Reset,
            Failure::GenericTimeout => TlsBlock::Timeout,
            Failure::Eof => TlsBlock::Eof,
            _ => TlsBlock::Other,
        }
    }
}

/// OONI's `dns_consistency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsConsistency {
    /// The probe and the test helper agree.
    Consistent,
    /// They do not.
    Inconsistent,
}

impl DnsConsistency {
    /// `consistent` or `inconsistent`.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsConsistency::Consistent => "consistent",
            DnsConsistency::Inconsistent => "inconsistent",
        }
    }
}

impl Serialize for DnsConsistency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DnsConsistency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "consistent" => Ok(DnsConsistency::Consistent),
            "inconsistent" => Ok(DnsConsistency::Inconsistent),
            other => Err(serde::de::Error::custom(format!(
                "unknown dns_consistency {other:?}"
            ))),
        }
    }
}

/// OONI's `blocking` when it is not `null`: `false` or the blocking method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blocking {
    /// `false`: no blocking (the page was reached, or the site is down for everyone).
    NotBlocked,
    /// `"dns"`.
    Dns,
    /// `"tcp_ip"`.
    TcpIp,
    /// `"http-failure"` (TLS interference included, as OONI does).
    HttpFailure,
    /// `"http-diff"`.
    HttpDiff,
}

impl Blocking {
    /// The JSON string of a blocking method; `None` for [`Blocking::NotBlocked`].
    pub fn method(self) -> Option<&'static str> {
        match self {
            Blocking::NotBlocked => None,
            Blocking::Dns => Some("dns"),
            Blocking::TcpIp => Some("tcp_ip"),
            Blocking::HttpFailure => Some("http-failure"),
            Blocking::HttpDiff => Some("http-diff"),
        }
    }
}

impl Serialize for Blocking {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.method() {
            None => serializer.serialize_bool(false),
            Some(method) => serializer.serialize_str(method),
        }
    }
}

impl<'de> Deserialize<'de> for Blocking {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flag(bool),
            Method(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Flag(false) => Ok(Blocking::NotBlocked),
            Repr::Flag(true) => Err(serde::de::Error::custom("blocking is never true")),
            Repr::Method(method) => match method.as_str() {
                "dns" => Ok(Blocking::Dns),
                "tcp_ip" => Ok(Blocking::TcpIp),
                "http-failure" => Ok(Blocking::HttpFailure),
                "http-diff" => Ok(Blocking::HttpDiff),
                other => Err(serde::de::Error::custom(format!(
                    "unknown blocking {other:?}"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verdicts_serialise_with_a_kind_tag() {
        let cases = [
            (Verdict::Ok, json!({"kind": "ok"})),
            (Verdict::SiteDown, json!({"kind": "site_down"})),
            (
                Verdict::DnsTampered {
                    how: DnsTamper::Nxdomain,
                },
                json!({"kind": "dns_tampered", "how": "nxdomain"}),
            ),
            (
                Verdict::TcpBlocked {
                    how: TcpBlock::Timeout,
                },
                json!({"kind": "tcp_blocked", "how": "timeout"}),
            ),
            (
                Verdict::TlsBlocked {
                    how: TlsBlock::Eof,
                    sni: "a.test".into(),
                },
                json!({"kind": "tls_blocked", "how": "eof", "sni": "a.test"}),
            ),
            (
                Verdict::TlsMitm {
                    issuer: "C=KZ, CN=Qaznet Trust Network".into(),
                    known_kz_root: true,
                    sni: "a.test".into(),
                },
                json!({"kind": "tls_mitm", "issuer": "C=KZ, CN=Qaznet Trust Network",
                       "known_kz_root": true, "sni": "a.test"}),
            ),
            (Verdict::HttpBlockpage, json!({"kind": "http_blockpage"})),
            (
                Verdict::HttpFailure {
                    failure: Failure::ConnectionReset,
                },
                json!({"kind": "http_failure", "failure": "connection_reset"}),
            ),
            (
                Verdict::Undetermined {
                    why: "x".into(),
                    failed: true,
                },
                json!({"kind": "undetermined", "why": "x", "failed": true}),
            ),
            (
                Verdict::Unreachable {
                    network: crate::experiment::connectivity::ConnectivityStatus::DataBlackout,
                },
                json!({"kind": "unreachable", "network": "data_blackout"}),
            ),
        ];
        for (verdict, expected) in cases {
            let value = serde_json::to_value(&verdict).unwrap();
            assert_eq!(value, expected);
            assert_eq!(value["kind"], verdict.kind());
            let back: Verdict = serde_json::from_value(value).unwrap();
            assert_eq!(back, verdict);
            assert!(!verdict.to_string().is_empty());
        }
    }

    #[test]
    fn blocking_is_false_or_a_method() {
        assert_eq!(
            serde_json::to_value(Blocking::NotBlocked).unwrap(),
            json!(false)
        );
        assert_eq!(
            serde_json::to_value(Blocking::HttpDiff).unwrap(),
            json!("http-diff")
        );
        let none: Option<Blocking> = None;
        assert_eq!(serde_json::to_value(none).unwrap(), json!(null));
        for value in [
            json!(false),
            json!("dns"),
            json!("tcp_ip"),
            json!("http-failure"),
        ] {
            let blocking: Blocking = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(blocking).unwrap(), value);
        }
        assert!(serde_json::from_value::<Blocking>(json!(true)).is_err());
    }
}
