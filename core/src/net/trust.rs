//! Trust anchors: the bundled Mozilla roots (webpki-roots), never the operating system's store,
//! so a government root installed on the phone cannot silently pass; plus, optionally, extra
//! roots from a CA file for the lab and self-hosted servers.

use std::path::Path;
use std::sync::Arc;

use once_cell::sync::Lazy;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::error::{Error, Result};

/// The crypto provider every TLS connection uses (ring; see the workspace `Cargo.toml`).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: Lazy<Arc<CryptoProvider>> =
        Lazy::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// A set of trusted roots and the certificate verifier built from them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots: Arc<RootCertStore>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl TrustAnchors {
    /// The bundled Mozilla roots only.
    pub fn bundled() -> Self {
        static BUNDLED: Lazy<TrustAnchors> = Lazy::new(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            // Building a verifier from a non-empty store with the ring provider cannot fail.
            TrustAnchors::from_store(roots).unwrap_or_else(|_| unreachable!())
        });
        BUNDLED.clone()
    }

    /// The bundled roots plus every certificate in a PEM file.
    pub fn bundled_with_ca_file(path: &Path) -> Result<Self> {
        let pem = std::fs::read(path).map_err(|source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::bundled_with_pem(&pem).map_err(|reason| Error::InvalidCaFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// The bundled roots plus every certificate in PEM text.
    pub fn bundled_with_pem(pem: &[u8]) -> std::result::Result<Self, String> {
        let extra = parse_pem_certificates(pem)?;
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra {
            roots.add(cert).map_err(|e| e.to_string())?;
        }
        Self::from_store(roots).map_err(|e| e.to_string())
    }

    /// Only the certificates in PEM text (tests and private deployments).
    pub fn only_pem(pem: &[u8]) -> std::result::Result<Self, String> {
        let mut roots = RootCertStore::empty();
        for cert in parse_pem_certificates(pem)? {
            roots.add(cert).map_err(|e| e.to_string())?;
        }
        Self::from_store(roots).map_err(|e| e.to_string())
    }

    fn from_store(roots: RootCertStore) -> Result<Self> {
        let roots = Arc::new(roots);
        let verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), crypto_provider())
                .build()
                .map_err(|e| Error::TlsConfig(e.to_string()))?;
        Ok(TrustAnchors { roots, verifier })
    }

    /// The verifier that checks chains against these roots.
    pub fn verifier(&self) -> Arc<dyn ServerCertVerifier> {
        self.verifier.clone()
    }

    /// The root store.
    pub fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// A rustls client configuration trusting these roots, with the given ALPN protocols.
    /// For service connections (DoH, collector, test helper) where no observation is needed.
    pub fn client_config(&self, alpn: &[&str]) -> rustls::ClientConfig {
        let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"))
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config
    }
}

impl Default for TrustAnchors {
    fn default() -> Self {
        Self::bundled()
    }
}

fn parse_pem_certificates(pem: &[u8]) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("malformed PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".to_string());
    }
    Ok(certs)
}
