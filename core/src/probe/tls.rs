//! TLS handshake over an established connection with a chosen SNI and ALPN, observed as a
//! df-006 `tls_handshakes` entry. The presented chain is captured as DER even when verification
//! fails (an interception certificate is evidence), and verification runs against
//! [`TrustAnchors`] (bundled Mozilla roots, never the OS store).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::failure::Failure;
use crate::net::trust::{crypto_provider, TrustAnchors};
use crate::probe::flow::Flow;
use crate::report::observations::{BinaryData, TlsHandshake};

/// How to run one handshake.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The SNI to send and the name the certificate must carry (may differ from the URL's
    /// host). An IP literal sends no SNI and checks the certificate's IP addresses.
    pub server_name: String,
    /// ALPN protocols to offer, e.g. `["h2", "http/1.1"]`.
    pub alpn: Vec<String>,
    /// The roots to verify against.
    pub trust: TrustAnchors,
    /// False to skip chain and name verification (recorded as `no_tls_verify`); used where the
    /// peer is authenticated otherwise, e.g. by a pinned key.
    pub verify: bool,
    /// The handshake's timeout.
    pub timeout: Duration,
}

/// The most certificates kept from one presented chain.
const MAX_CHAIN_LEN: usize = 10;

/// Runs a TLS handshake over `stream` to `peer`. Returns the TLS stream (or the failure) and the
/// observation, produced in both cases.
pub async fn tls_handshake<S>(
    flow: &Flow,
    stream: S,
    peer: SocketAddr,
    options: &TlsOptions,
) -> (Result<TlsStream<S>, Failure>, TlsHandshake)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let t0 = flow.clock.now();
    let mut observation = TlsHandshake {
        network: "tcp".to_string(),
        address: peer.to_string(),
        no_tls_verify: !options.verify,
        server_name: options.server_name.clone(),
        t0,
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
        ..TlsHandshake::default()
    };
    let server_name = match ServerName::try_from(options.server_name.clone()) {
        Ok(name) => name,
        Err(_) => {
            let failure =
                Failure::Unknown(format!("invalid TLS server name {:?}", options.server_name));
            observation.failure = Some(failure.clone());
            observation.t = flow.clock.now();
            return (Err(failure), observation);
        }
    };
    let verifier = Arc::new(CapturingVerifier {
        inner: options.trust.verifier(),
        verify: options.verify,
        captured: Mutex::new(Vec::new()),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"))
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = options.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // Measurements must not resume earlier sessions: each handshake is observed from scratch.
    config.resumption = rustls::client::Resumption::disabled();
    let connector = TlsConnector::from(Arc::new(config));

    let outcome =
        tokio::time::timeout(options.timeout, connector.connect(server_name, stream)).await;
    let result = match outcome {
        Ok(Ok(tls)) => {
            let (_, connection) = tls.get_ref();
            observation.tls_version = connection
                .protocol_version()
                .map(tls_version_name)
                .unwrap_or_default();
            observation.cipher_suite = connection
                .negotiated_cipher_suite()
                .map(|suite| cipher_suite_name(suite.suite()))
                .unwrap_or_default();
            observation.negotiated_protocol = connection
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            observation.peer_certificates = connection
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .take(MAX_CHAIN_LEN)
                .map(|cert| BinaryData::from_bytes(cert))
                .collect();
            Ok(tls)
        }
        Ok(Err(error)) => Err(Failure::from_io(&error)),
        Err(_) => Err(Failure::GenericTimeout),
    };
    if let Err(failure) = &result {
        observation.failure = Some(failure.clone());
        observation.peer_certificates = verifier
            .captured
            .lock()
            .map(|chain| chain.iter().map(|c| BinaryData::from_bytes(c)).collect())
            .unwrap_or_default();
    }
    observation.t = flow.clock.now();
    (result, observation)
}

/// OONI's spelling of a TLS version.
fn tls_version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        other => format!("{other:?}"),
    }
}

/// OONI's (Go's) spelling of a cipher suite: IANA names, `TLS_` rather than rustls' `TLS13_`.
fn cipher_suite_name(suite: rustls::CipherSuite) -> String {
    let name = suite
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{suite:?}"));
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// Verifies with the inner verifier (unless verification is off) after keeping a copy of the
/// chain, so a rejected chain can still be reported.
#[derive(Debug)]
struct CapturingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    verify: bool,
    captured: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut captured) = self.captured.lock() {
            *captured = std::iter::once(end_entity)
                .chain(intermediates)
                .take(MAX_CHAIN_LEN)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        if self.verify {
            self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )
        } else {
            Ok(ServerCertVerified::assertion())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
