//! Pinning the throughput server by its public key instead of its name: the client sends any
//! SNI (a target's, a control's) and accepts the certificate iff the SHA-256 of its
//! SubjectPublicKeyInfo equals the pin. Handshake signatures are still verified with the
//! crypto provider, so only the holder of the pinned key can complete a handshake.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::net::trust::crypto_provider;

/// The prefix of a pin's text form.
pub const PIN_PREFIX: &str = "sha256/";

/// A SHA-256 pin of a SubjectPublicKeyInfo, written `sha256/<standard base64>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin([u8; 32]);

/// Why a pin's text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pin {text:?}: {reason} (expected sha256/ and 44 characters of base64)")]
pub struct PinParseError {
    /// The text given.
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl SpkiPin {
    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> SpkiPin {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        SpkiPin(bytes)
    }

    /// The pin of a certificate's public key, or `None` when the certificate cannot be parsed.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Option<SpkiPin> {
        let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
        Some(SpkiPin::of_spki(parsed.subject_public_key_info().as_ref()))
    }

    /// The digest.
    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for SpkiPin {
    type Err = PinParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| PinParseError {
            text: text.to_string(),
            reason,
        };
        let encoded = text
            .trim()
            .strip_prefix(PIN_PREFIX)
            .ok_or_else(|| error("it does not start with sha256/"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| error("it is not standard base64"))?;
        let digest: [u8; 32] = bytes
            .try_into()
            .map_err(|_| error("it is not 32 bytes long"))?;
        Ok(SpkiPin(digest))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PIN_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

/// A certificate verifier that checks the leaf's key against a pin and nothing else about the
/// certificate (not its name, issuer or dates); signatures are checked as usual.
#[derive(Debug)]
pub struct PinnedVerifier {
    pin: SpkiPin,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<SpkiPin>>,
}

impl PinnedVerifier {
    /// A verifier for `pin`, with Kuzet's crypto provider.
    pub fn new(pin: SpkiPin) -> Self {
        PinnedVerifier {
            pin,
            provider: crypto_provider(),
            seen: Mutex::new(None),
        }
    }

    /// The pin of the last certificate presented, if one was (and could be parsed).
    pub fn seen(&self) -> Option<SpkiPin> {
        self.seen.lock().ok().and_then(|seen| *seen)
    }

    /// True when a certificate was presented and its key is not the pinned one.
    pub fn mismatched(&self) -> bool {
        self.seen().is_some_and(|seen| seen != self.pin)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = SpkiPin::of_certificate(end_entity);
        if let Ok(mut slot) = self.seen.lock() {
            *slot = seen;
        }
        match seen {
            Some(seen) if seen == self.pin => Ok(ServerCertVerified::assertion()),
            Some(_) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that checks certificates with `verifier` (a [`PinnedVerifier`]),
/// offers `http/1.1`, and never resumes a session (every trial is a full, comparable handshake).
pub fn pinned_client_config(verifier: Arc<PinnedVerifier>) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"))
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_round_trip_and_bad_text_is_refused() {
        let pin = SpkiPin::of_spki(b"example");
        let text = pin.to_string();
        assert!(text.starts_with("sha256/"));
        assert_eq!(text.parse::<SpkiPin>().unwrap(), pin);
        for bad in [
            "",
            "sha1/AAAA",
            "sha256/not base64!",
            "sha256/AAAA",
            &text[..text.len() - 4],
        ] {
            assert!(bad.parse::<SpkiPin>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_certificate_s_pin_is_its_key_s() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x.invalid".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        use rcgen::PublicKeyData;
        assert_eq!(
            SpkiPin::of_certificate(cert.der()),
            Some(SpkiPin::of_spki(&key.subject_public_key_info()))
        );
        assert_eq!(
            SpkiPin::of_certificate(&CertificateDer::from(vec![1, 2, 3])),
            None
        );
    }
}
