//! The throughput endpoint: TLS on its own port, any SNI accepted, one self-signed certificate
//! whose key clients pin; after the handshake, `GET /bytes?n=N` streams N random bytes (capped).
//! Clients compare transfers under a target SNI and a control SNI to the same address to see
//! whether the network throttles by name (see `docs/detection.md`, "Throttling").
//!
//! Bounded everywhere: a handshake timeout, a request-head timeout and size cap, a lifetime per
//! connection, a global connection cap and a per-client-address rate limit (over either, the
//! connection is closed at once). Client addresses are never logged.

pub mod cert;
pub mod limits;
pub mod protocol;
pub mod random;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use cert::{spki_pin, Identity, IdentityError};
pub use limits::{Limits, Refused};

/// The default cap on one response: 4 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 20;
/// The default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// The default rate limit: new connections per client address per minute.
pub const DEFAULT_PER_CLIENT_PER_MINUTE: u32 = 120;
/// The size of each body write.
pub const CHUNK_BYTES: usize = 16 * 1024;

/// The endpoint's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughputConfig {
    /// The most bytes one request may ask for (more gets 400).
    pub max_bytes: u64,
    /// The most connections open at once.
    pub max_connections: usize,
    /// New connections per client address per minute (0: unlimited, for labs).
    pub per_client_per_minute: u32,
    /// Time for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for each request head.
    pub head_timeout: Duration,
    /// The longest a connection may live.
    pub lifetime: Duration,
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        ThroughputConfig {
            max_bytes: DEFAULT_MAX_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            per_client_per_minute: DEFAULT_PER_CLIENT_PER_MINUTE,
            handshake_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_secs(10),
            lifetime: Duration::from_secs(60),
        }
    }
}

/// The endpoint, ready to serve. Cheap to clone.
#[derive(Clone)]
pub struct ThroughputServer {
    acceptor: TlsAcceptor,
    pin: String,
    config: Arc<ThroughputConfig>,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for ThroughputServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThroughputServer")
            .field("pin", &self.pin)
            .field("config", &self.config)
            .finish()
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ThroughputError {
    /// The key or certificate.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// rustls refused the configuration.
    #[error("cannot configure TLS for the throughput endpoint: {0}")]
    Tls(String),
}

impl ThroughputServer {
    /// An endpoint with the key in `key_path` (created if missing; a fresh key when `None`).
    pub fn new(
        config: ThroughputConfig,
        key_path: Option<&Path>,
    ) -> Result<ThroughputServer, ThroughputError> {
        Self::with_identity(config, Identity::load_or_create(key_path)?)
    }

    /// An endpoint presenting `identity`.
    pub fn with_identity(
        config: ThroughputConfig,
        identity: Identity,
    ) -> Result<ThroughputServer, ThroughputError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ThroughputError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .map_err(|e| ThroughputError::Tls(e.to_string()))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every trial must be a full handshake: no tickets, no resumption.
        tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        tls.send_tls13_tickets = 0;
        Ok(ThroughputServer {
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            pin: identity.pin,
            limits: Arc::new(Limits::new(
                config.max_connections,
                config.per_client_per_minute,
            )),
            config: Arc::new(config),
        })
    }

    /// The pin clients check: `sha256/BASE64`.
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// The limits in force.
    pub fn config(&self) -> &ThroughputConfig {
        &self.config
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.limits.open_connections(self.config.max_connections)
    }

    /// Serves connections from `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                // Accept errors (EMFILE and the like) are transient: wait a little.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(permit) = self.limits.admit(peer.ip()) else {
                // Over a limit: close at once (dropping the stream), without a word or a log
                // line that could name the client.
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            tokio::spawn(async move {
                let lifetime = server.config.lifetime;
                let _ = tokio::time::timeout(lifetime, server.serve_connection(stream)).await;
                drop(permit);
            });
        }
    }

    /// One connection: the handshake, then requests until one asks to close, fails, or the
    /// lifetime ends (the caller's timeout).
    async fn serve_connection<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = &self.config;
        let Ok(Ok(mut tls)) =
            tokio::time::timeout(config.handshake_timeout, self.acceptor.accept(stream)).await
        else {
            return;
        };
        let mut pending: Vec<u8> = Vec::with_capacity(1024);
        let mut stream = random::RandomStream::new();
        loop {
            let head =
                match tokio::time::timeout(config.head_timeout, read_head(&mut tls, &mut pending))
                    .await
                {
                    Ok(Ok(Some(head))) => head,
                    Ok(Err(refusal)) => {
                        let _ = tls
                            .write_all(protocol::refusal_response(&refusal).as_bytes())
                            .await;
                        let _ = tls.shutdown().await;
                        return;
                    }
                    // Closed, failed, or too slow.
                    _ => return,
                };
            match protocol::parse_head(&head, config.max_bytes) {
                Ok(request) => {
                    if send_bytes(&mut tls, &mut stream, &request).await.is_err() {
                        return;
                    }
                    if request.close {
                        let _ = tls.shutdown().await;
                        return;
                    }
                }
                Err(refusal) => {
                    let _ = tls
                        .write_all(protocol::refusal_response(&refusal).as_bytes())
                        .await;
                    let _ = tls.shutdown().await;
                    return;
                }
            }
        }
    }
}

/// Reads one request head into a buffer, keeping bytes past it in `pending` (a pipelined next
/// request). `Ok(None)` when the client closed cleanly between requests.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    pending: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, protocol::Refusal> {
    let mut buf = [0u8; 2048];
    loop {
        if let Some(end) = protocol::head_end(pending) {
            let rest = pending.split_off(end);
            let head = std::mem::replace(pending, rest);
            return Ok(Some(head));
        }
        if pending.len() > protocol::MAX_HEAD_BYTES {
            return Err(protocol::Refusal::BadRequest("request head too large"));
        }
        match stream.read(&mut buf).await {
            Ok(0) if pending.is_empty() => return Ok(None),
            Ok(0) => return Err(protocol::Refusal::BadRequest("incomplete request head")),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(_) => return Ok(None),
        }
    }
}

/// Writes the response head and `n` random bytes in chunks.
async fn send_bytes<S: AsyncWrite + Unpin>(
    tls: &mut S,
    random: &mut random::RandomStream,
    request: &protocol::BytesRequest,
) -> std::io::Result<()> {
    tls.write_all(protocol::ok_head(request.n, request.close).as_bytes())
        .await?;
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut left = request.n;
    while left > 0 {
        let take = usize::try_from(left.min(CHUNK_BYTES as u64)).unwrap_or(CHUNK_BYTES);
        random.fill(&mut chunk[..take]);
        tls.write_all(&chunk[..take]).await?;
        left -= take as u64;
    }
    tls.flush().await
}
