//! The endpoint's identity: one key (kept in a PEM file so the pin survives restarts), a
//! self-signed certificate over it, and the pin clients check instead of a name:
//! `sha256/<base64 of SHA-256 of the SubjectPublicKeyInfo DER>`.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// The name in the certificate. Clients never check it (any SNI is accepted; the key is pinned).
pub const CERTIFICATE_NAME: &str = "kuzet-throughput.invalid";

/// Why the identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file exists but cannot be read.
    #[error("cannot read the throughput key {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key file cannot be created.
    #[error("cannot write the throughput key {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no usable private key.
    #[error("the throughput key {path} is not a usable PEM private key: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Key generation or certificate signing failed.
    #[error("cannot make the throughput certificate: {0}")]
    Certificate(String),
}

/// The key, its certificate and its pin.
pub struct Identity {
    /// The certificate chain (one self-signed certificate).
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// `sha256/BASE64`.
    pub pin: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("pin", &self.pin).finish()
    }
}

impl Identity {
    /// Loads the key from `path` (creating it, mode 0600, when missing), or makes a fresh key
    /// when `path` is `None`; then self-signs a certificate over it.
    pub fn load_or_create(path: Option<&Path>) -> Result<Identity, IdentityError> {
        let key = match path {
            Some(path) => load_or_create_key(path)?,
            None => KeyPair::generate().map_err(|e| IdentityError::Certificate(e.to_string()))?,
        };
        Identity::from_key(&key)
    }

    /// The identity of an existing key.
    pub fn from_key(key: &KeyPair) -> Result<Identity, IdentityError> {
        let mut params = CertificateParams::new(vec![CERTIFICATE_NAME.to_string()])
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, CERTIFICATE_NAME);
        params.distinguished_name = name;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        // Validity is not checked by pinning clients; a long one spares rotations.
        params.not_after = now + time::Duration::days(3650);
        let cert = params
            .self_signed(key)
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        Ok(Identity {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            pin: spki_pin(&key.subject_public_key_info()),
        })
    }
}

/// `sha256/<standard base64 of SHA-256(spki_der)>`.
pub fn spki_pin(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn load_or_create_key(path: &Path) -> Result<KeyPair, IdentityError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => KeyPair::from_pem(&pem).map_err(|e| IdentityError::BadKey {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyPair::generate().map_err(|e| IdentityError::Certificate(e.to_string()))?;
            write_private(path, key.serialize_pem().as_bytes()).map_err(|source| {
                IdentityError::Write {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            Ok(key)
        }
        Err(source) => Err(IdentityError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Creates `path` (never overwriting) readable by the owner only, and writes `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("throughput.pem");
        let first = Identity::load_or_create(Some(&path)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Identity::load_or_create(Some(&path)).unwrap();
        assert_eq!(first.pin, second.pin);
        let fresh = Identity::load_or_create(None).unwrap();
        assert_ne!(first.pin, fresh.pin);
        assert!(first.pin.starts_with("sha256/"));
        assert_eq!(first.pin.len(), "sha256/".len() + 44);
    }

    #[test]
    fn a_bad_key_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        std::fs::write(&path, "not a key").unwrap();
        let error = Identity::load_or_create(Some(&path)).unwrap_err();
        assert!(error.to_string().contains("bad.pem"), "{error}");
    }
}
