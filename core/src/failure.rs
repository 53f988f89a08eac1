//! One mapping from operating-system, DNS and TLS errors to OONI's failure strings
//! (df-007, probe-cli `netxlite/errno.go`). Every primitive reports failures through [`Failure`],
//! so the same condition is always spelled the same way in every report.

use std::fmt;
use std::io;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! failures {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal, )*) => {
        /// A failure in OONI's closed vocabulary, or `unknown_failure: ...` for anything else.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Failure {
            $( $(#[$doc])* $variant, )*
            /// Anything outside the vocabulary; serialised as `unknown_failure: <text>`.
            Unknown(String),
            /// A failure string read from a measurement that is neither in this vocabulary nor
            /// `unknown_failure: ...` (another engine's or an older engine's string, such as
            /// `connection_already_closed`). Kept verbatim so it is written back unchanged;
            /// Kuzet never produces it itself.
            Other(String),
        }

        impl Failure {
            /// The OONI string for this failure.
            pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
                match self {
                    $( Failure::$variant => std::borrow::Cow::Borrowed($text), )*
                    Failure::Unknown(text) => std::borrow::Cow::Owned(format!("unknown_failure: {text}")),
                    Failure::Other(text) => std::borrow::Cow::Borrowed(text.as_str()),
                }
            }

            /// Parses an OONI failure string. `unknown_failure: <text>` becomes
            /// [`Failure::Unknown`] with `<text>`; any other string outside the vocabulary becomes
            /// [`Failure::Other`], so that [`Failure::as_str`] gives back exactly the text read.
            pub fn parse(text: &str) -> Failure {
                match text {
                    $( $text => Failure::$variant, )*
                    other => match other.strip_prefix("unknown_failure: ") {
                        Some(rest) => Failure::Unknown(rest.to_string()),
                        None => Failure::Other(other.to_string()),
                    },
                }
            }
        }
    };
}

// Across the FFI a failure is its OONI string (`connection_reset`, `unknown_failure: ...`).
#[cfg(all(feature = "uniffi", not(test)))]
uniffi::custom_type!(Failure, String, {
    lower: |failure| failure.as_str().into_owned(),
    try_lift: |text| Ok(Failure::parse(&text)),
});

failures! {
    /// The name does not exist (NXDOMAIN).
    DnsNxdomain => "dns_nxdomain_error",
    /// The resolver answered without any record of the requested type.
    DnsNoAnswer => "dns_no_answer",
    /// The resolver refused the query.
    DnsRefused => "dns_refused_error",
    /// The resolver answered SERVFAIL.
    DnsServfail => "dns_servfail_error",
    /// getaddrinfo's EAI_FAIL.
    DnsNonRecoverable => "dns_non_recoverable_failure",
    /// getaddrinfo's EAI_AGAIN: try again later.
    DnsTemporary => "dns_temporary_failure",
    /// The resolver sent a malformed or unexpected answer.
    DnsServerMisbehaving => "dns_server_misbehaving",
    /// The answer contained a bogon (private, loopback, reserved) address.
    DnsBogon => "dns_bogon_error",
    /// The reply's transaction id did not match the query.
    DnsWrongQueryId => "dns_reply_with_wrong_query_id",
    /// Android's getaddrinfo "no data" quirk (usually NXDOMAIN).
    AndroidDnsCacheNoData => "android_dns_cache_no_data",
    /// The peer refused the connection (RST to our SYN).
    ConnectionRefused => "connection_refused",
    /// The peer (or a middlebox) reset the connection.
    ConnectionReset => "connection_reset",
    /// The connection was aborted locally.
    ConnectionAborted => "connection_aborted",
    /// The operation did not finish within its timeout.
    GenericTimeout => "generic_timeout_error",
    /// The peer closed the connection before the operation finished.
    Eof => "eof_error",
    /// No route to the host.
    HostUnreachable => "host_unreachable",
    /// No route to the network.
    NetworkUnreachable => "network_unreachable",
    /// The local network is down.
    NetworkDown => "network_down",
    /// The network dropped the connection on reset.
    NetworkReset => "network_reset",
    /// The local address is in use.
    AddressInUse => "address_in_use",
    /// The local address is not available.
    AddressNotAvailable => "address_not_available",
    /// The address family is not supported.
    AddressFamilyNotSupported => "address_family_not_supported",
    /// The operation is not permitted (for example a firewall rule or a sandbox).
    PermissionDenied => "permission_denied",
    /// The operation was interrupted.
    Interrupted => "interrupted",
    /// No buffer space available.
    NoBufferSpace => "no_buffer_space",
    /// The socket is not connected.
    NotConnected => "not_connected",
    /// Invalid argument.
    InvalidArgument => "invalid_argument",
    /// The certificate was not issued for the name we asked for.
    SslInvalidHostname => "ssl_invalid_hostname",
    /// The certificate chain does not lead to a trusted root.
    SslUnknownAuthority => "ssl_unknown_authority",
    /// The certificate is invalid for another reason (expired, not yet valid, malformed).
    SslInvalidCertificate => "ssl_invalid_certificate",
    /// The TLS handshake failed for any other reason (alert, protocol error).
    SslFailedHandshake => "ssl_failed_handshake",
    /// A redirect pointed at a location without a valid host.
    HttpInvalidRedirectLocationHost => "http_invalid_redirect_location_host",
    /// A JSON document could not be parsed.
    JsonParse => "json_parse_error",
}

impl Failure {
    /// Maps an I/O error from a socket operation. Uses the errno when there is one, otherwise
    /// the error kind; anything unrecognised becomes `unknown_failure` with the error's text.
    pub fn from_io(error: &io::Error) -> Failure {
        if let Some(errno) = error.raw_os_error() {
            if let Some(failure) = Failure::from_errno(errno) {
                return failure;
            }
        }
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Failure::ConnectionRefused,
            io::ErrorKind::ConnectionReset => Failure::ConnectionReset,
            io::ErrorKind::ConnectionAborted => Failure::ConnectionAborted,
            io::ErrorKind::TimedOut => Failure::GenericTimeout,
            io::ErrorKind::UnexpectedEof => Failure::Eof,
            io::ErrorKind::HostUnreachable => Failure::HostUnreachable,
            io::ErrorKind::NetworkUnreachable => Failure::NetworkUnreachable,
            io::ErrorKind::NetworkDown => Failure::NetworkDown,
            io::ErrorKind::AddrInUse => Failure::AddressInUse,
            io::ErrorKind::AddrNotAvailable => Failure::AddressNotAvailable,
            io::ErrorKind::PermissionDenied => Failure::PermissionDenied,
            io::ErrorKind::Interrupted => Failure::Interrupted,
            io::ErrorKind::NotConnected => Failure::NotConnected,
            io::ErrorKind::InvalidInput => Failure::InvalidArgument,
            io::ErrorKind::BrokenPipe => Failure::ConnectionReset,
            _ => {
                // Errors wrapped by rustls or hyper carry the socket error inside.
                if let Some(inner) = error.get_ref() {
                    if let Some(inner_io) = inner.downcast_ref::<io::Error>() {
                        return Failure::from_io(inner_io);
                    }
                    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                        return Failure::from_tls(tls);
                    }
                }
                Failure::Unknown(error.to_string())
            }
        }
    }

    /// Maps a POSIX errno from a socket call.
    pub fn from_errno(errno: i32) -> Option<Failure> {
        Some(match errno {
            libc::ECONNREFUSED => Failure::ConnectionRefused,
            libc::ECONNRESET | libc::EPIPE => Failure::ConnectionReset,
            libc::ECONNABORTED => Failure::ConnectionAborted,
            libc::ETIMEDOUT => Failure::GenericTimeout,
            libc::EHOSTUNREACH => Failure::HostUnreachable,
            libc::ENETUNREACH => Failure::NetworkUnreachable,
            libc::ENETDOWN => Failure::NetworkDown,
            libc::ENETRESET => Failure::NetworkReset,
            libc::EADDRINUSE => Failure::AddressInUse,
            libc::EADDRNOTAVAIL => Failure::AddressNotAvailable,
            libc::EAFNOSUPPORT => Failure::AddressFamilyNotSupported,
            libc::EACCES | libc::EPERM => Failure::PermissionDenied,
            libc::EINTR => Failure::Interrupted,
            libc::ENOBUFS => Failure::NoBufferSpace,
            libc::ENOTCONN => Failure::NotConnected,
            libc::EINVAL => Failure::InvalidArgument,
            _ => return None,
        })
    }

    /// Maps a rustls error. Certificate problems get the specific `ssl_*` strings; anything else
    /// in the handshake is `ssl_failed_handshake`.
    pub fn from_tls(error: &rustls::Error) -> Failure {
        use rustls::CertificateError as C;
        match error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => {
                    Failure::SslUnknownAuthority
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    Failure::SslInvalidHostname
                }
                _ => Failure::SslInvalidCertificate,
            },
            _ => Failure::SslFailedHandshake,
        }
    }

    /// Maps a getaddrinfo `EAI_*` return code. `EAI_SYSTEM` uses the accompanying errno.
    pub fn from_getaddrinfo(code: i32, errno: i32) -> Failure {
        match code {
            libc::EAI_NONAME => Failure::DnsNxdomain,
            libc::EAI_NODATA => Failure::DnsNoAnswer,
            libc::EAI_AGAIN => Failure::DnsTemporary,
            libc::EAI_FAIL => Failure::DnsNonRecoverable,
            libc::EAI_SYSTEM => Failure::from_errno(errno)
                .unwrap_or_else(|| Failure::Unknown(format!("getaddrinfo system error {errno}"))),
            other => Failure::Unknown(format!("getaddrinfo error {other}")),
        }
    }

    /// True for the failures a timeout produces.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Failure::GenericTimeout)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for Failure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Failure::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for failure in [
            Failure::DnsNxdomain,
            Failure::ConnectionReset,
            Failure::SslUnknownAuthority,
            Failure::Unknown("stopped after too many redirects".into()),
            Failure::Other("connection_already_closed".into()),
        ] {
            assert_eq!(Failure::parse(&failure.as_str()), failure);
        }
        assert_eq!(Failure::Unknown("x".into()).as_str(), "unknown_failure: x");
    }

    #[test]
    fn any_string_read_is_written_back_verbatim() {
        for text in [
            "generic_timeout_error",
            "unknown_failure: unknown targetURL scheme",
            "unknown_failure: ",
            "connection_already_closed",
            "http_unexpected_status_code",
            "unknown_failure:no space",
            "Unknown_Failure: case differs",
            "",
            " dns_nxdomain_error",
        ] {
            let failure = Failure::parse(text);
            assert_eq!(failure.as_str(), text);
            let json = serde_json::to_string(&failure).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            let back: Failure = serde_json::from_str(&json).unwrap();
            assert_eq!(back, failure);
        }
        assert_eq!(
            Failure::parse("generic_timeout_error"),
            Failure::GenericTimeout
        );
        assert_eq!(
            Failure::parse("unknown_failure: unknown targetURL scheme"),
            Failure::Unknown("unknown targetURL scheme".into())
        );
        assert_eq!(
            Failure::parse("connection_already_closed"),
            Failure::Other("connection_already_closed".into())
        );
    }

    #[test]
    fn errno_and_kinds_map() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Failure::from_io(&refused), Failure::ConnectionRefused);
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "eof");
        assert_eq!(Failure::from_io(&eof), Failure::Eof);
        let wrapped = io::Error::other(io::Error::from_raw_os_error(libc::ECONNRESET));
        assert_eq!(Failure::from_io(&wrapped), Failure::ConnectionReset);
        assert_eq!(
            Failure::from_getaddrinfo(libc::EAI_NONAME, 0),
            Failure::DnsNxdomain
        );
        assert_eq!(
            Failure::from_getaddrinfo(libc::EAI_AGAIN, 0),
            Failure::DnsTemporary
        );
    }

    #[test]
    fn tls_errors_map() {
        use rustls::CertificateError as C;
        let cases = [
            (C::UnknownIssuer, Failure::SslUnknownAuthority),
            (C::NotValidForName, Failure::SslInvalidHostname),
            (C::Expired, Failure::SslInvalidCertificate),
        ];
        for (cert, expected) in cases {
            assert_eq!(
                Failure::from_tls(&rustls::Error::InvalidCertificate(cert)),
                expected
            );
        }
        assert_eq!(
            Failure::from_tls(&rustls::Error::HandshakeNotComplete),
            Failure::SslFailedHandshake
        );
    }
}
