//! The service HTTP client (DoH, collector, test helper): `POST`s over HTTP/2 (with the
//! `http2` feature, when the server picks it) or HTTP/1.1.
//!
//! Built on the same HTTP layer as the measurements ([`crate::net::connection`]), over
//! rustls checked against [`TrustAnchors`] (the bundled Mozilla roots, plus an optional CA
//! file), never against the operating system's store. No proxy (a measurement must not
//! silently go through one), no redirects, no cookies. Every request is bounded by the
//! client's timeout (name lookup, connect, TLS, request and body together) and its answer
//! by a byte cap. Idle connections are kept for a short while and reused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, HOST, USER_AGENT as USER_AGENT_HEADER,
};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::BodyExt;
use hyper::body::Bytes;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

use crate::error::{Error, Result};
use crate::failure::Failure;
use crate::net::connection::{hyper_failure, BoxedStream, HttpSender, RequestBody, HTTP_ALPN};
use crate::net::trust::TrustAnchors;

/// The `User-Agent` of every service request: `kuzet/<version>`.
pub const USER_AGENT: &str = concat!("kuzet/", env!("CARGO_PKG_VERSION"));

/// The most bytes of response head (status line and headers) accepted from a service.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long an idle connection is kept for reuse.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 4;

/// Why a service request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The URL cannot be requested (not http/https, no host, a bad header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The server's name did not resolve.
    #[error("cannot resolve the server's name: {0}")]
    Resolve(#[source] std::io::Error),
    /// No TCP connection could be made.
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed (the `std::io::Error` wraps the `rustls::Error`).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// HTTP failed: the connection closed, reset or sent something that is not HTTP.
    #[error("HTTP failed: {0}")]
    Http(#[source] hyper::Error),
    /// The whole request took longer than the client's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl ServiceError {
    /// The error in OONI's failure vocabulary: the socket or TLS error inside when there is
    /// one. Never contains an address.
    pub fn failure(&self) -> Failure {
        match self {
            ServiceError::InvalidRequest(text) => Failure::Unknown(text.clone()),
            ServiceError::Resolve(error) | ServiceError::Connect(error) => Failure::from_io(error),
            ServiceError::Tls(error) => error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(Failure::from_tls)
                .unwrap_or_else(|| Failure::from_io(error)),
            ServiceError::Http(error) => hyper_failure(error),
            ServiceError::Timeout(_) => Failure::GenericTimeout,
        }
    }
}

/// A service's answer.
#[derive(Debug)]
pub struct ServiceResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, at most the request's cap.
    pub body: Vec<u8>,
    /// Whether the body was longer than the cap (then `body` holds its first `cap` bytes,
    /// or nothing when `Content-Length` already announced too many).
    pub truncated: bool,
    /// Body bytes received, including any beyond the cap (headers and TLS not counted).
    pub received: u64,
}

impl ServiceResponse {
    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Where a connection goes: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

/// An idle connection.
#[derive(Debug)]
struct Idle {
    sender: HttpSender,
    since: Instant,
}

struct Inner {
    tls: TlsConnector,
    timeout: Duration,
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
}

/// A client for service requests. Cheap to clone; clones share idle connections.
#[derive(Clone)]
pub struct ServiceClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// A client for service requests: HTTP/2 or HTTP/1.1 over TLS checked against `trust`, no
/// proxy, `timeout` over each whole request (name lookup, connect, TLS and body included).
pub fn service_client(trust: &TrustAnchors, timeout: Duration) -> Result<ServiceClient> {
    if timeout.is_zero() {
        return Err(Error::TlsConfig(
            "the service client's timeout must be positive".to_string(),
        ));
    }
    let config = trust.client_config(HTTP_ALPN);
    Ok(ServiceClient {
        inner: Arc::new(Inner {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
            idle: Mutex::new(HashMap::new()),
        }),
    })
}

impl ServiceClient {
    /// The timeout of each request.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// `POST`s `body` to `url` with `headers` and reads at most `cap` bytes of answer. The
    /// client sets `Host` (HTTP/1.1), `User-Agent` and `Content-Length`; a header in
    /// `headers` replaces the client's own of that name.
    pub async fn post(
        &self,
        url: &Url,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        cap: usize,
    ) -> std::result::Result<ServiceResponse, ServiceError> {
        let timeout = self.inner.timeout;
        match tokio::time::timeout(timeout, self.exchange(url, headers, body, cap)).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::Timeout(timeout)),
        }
    }

    async fn exchange(
        &self,
        url: &Url,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        cap: usize,
    ) -> std::result::Result<ServiceResponse, ServiceError> {
        let origin = origin_of(url)?;
        let (mut sender, reused) = match self.take_idle(&origin).await {
            Some(sender) => (sender, true),
            None => (self.connect(&origin).await?, false),
        };
        let body = Bytes::from(body);
        let request = build_request(url, &origin, headers, body.clone(), sender.is_http2())?;
        let response = match sender.send(request).await {
            Ok(response) => response,
            // An idle connection the server closed meanwhile: the request was not sent, so
            // it goes once more, on a new connection.
            Err((_, Some(_unsent))) if reused => {
                sender = self.connect(&origin).await?;
                let request = build_request(url, &origin, headers, body, sender.is_http2())?;
                sender
                    .send(request)
                    .await
                    .map_err(|(error, _)| ServiceError::Http(error))?
            }
            Err((error, _)) => return Err(ServiceError::Http(error)),
        };
        let status = response.status().as_u16();
        let (parts, mut incoming) = response.into_parts();
        let mut answer = ServiceResponse {
            status,
            headers: parts.headers,
            body: Vec::new(),
            truncated: false,
            received: 0,
        };
        let announced = answer
            .header(CONTENT_LENGTH.as_str())
            .and_then(|length| length.parse::<u64>().ok());
        if announced.is_some_and(|length| length > cap as u64) {
            // Not worth reading; dropping the body closes an HTTP/1.1 connection.
            answer.truncated = true;
            return Ok(answer);
        }
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(ServiceError::Http)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            answer.received += data.len() as u64;
            let room = cap - answer.body.len();
            if data.len() > room {
                answer.body.extend_from_slice(&data[..room]);
                answer.truncated = true;
                return Ok(answer);
            }
            answer.body.extend_from_slice(&data);
        }
        self.put_idle(origin, sender);
        Ok(answer)
    }

    /// A ready idle connection to `origin`, dropping stale and closed ones. HTTP/2
    /// connections stay in the pool (the returned sender shares them).
    async fn take_idle(&self, origin: &Origin) -> Option<HttpSender> {
        loop {
            let mut candidate = {
                let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(origin)?;
                list.retain(|entry| {
                    entry.since.elapsed() < IDLE_TIMEOUT && !entry.sender.is_closed()
                });
                let found = match list.iter().position(|entry| entry.sender.is_http2()) {
                    Some(index) => list[index].sender.share(),
                    None => list.pop().map(|entry| entry.sender),
                };
                if list.is_empty() {
                    idle.remove(origin);
                }
                found?
            };
            // An HTTP/1.1 connection put back right after its response may still be
            // finishing it; one that closed meanwhile is dropped and the next one tried.
            if candidate.ready().await.is_ok() {
                return Some(candidate);
            }
        }
    }

    /// Keeps `sender` for reuse, unless the pool is full or it is an HTTP/2 connection
    /// already there.
    fn put_idle(&self, origin: Origin, sender: HttpSender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(origin).or_default();
        if sender.is_http2() && list.iter().any(|entry| entry.sender.is_http2()) {
            return;
        }
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// A new connection: name lookup, TCP to each address in turn, TLS for https (ALPN
    /// chooses HTTP/2 or HTTP/1.1).
    async fn connect(&self, origin: &Origin) -> std::result::Result<HttpSender, ServiceError> {
        let addresses = resolve(origin).await?;
        let mut last_error = None;
        let mut tcp = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(error) => last_error = Some(error),
            }
        }
        let Some(tcp) = tcp else {
            return Err(ServiceError::Connect(last_error.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
            })));
        };
        let _ = tcp.set_nodelay(true);
        let (stream, http2): (BoxedStream, bool) = if origin.https {
            let name = server_name(&origin.host)?;
            let tls = self
                .inner
                .tls
                .connect(name, tcp)
                .await
                .map_err(ServiceError::Tls)?;
            let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            (Box::new(tls), http2)
        } else {
            (Box::new(tcp), false)
        };
        HttpSender::handshake(stream, http2, MAX_HEAD_BYTES)
            .await
            .map_err(ServiceError::Http)
    }
}

/// The origin of an `http` or `https` URL.
fn origin_of(url: &Url) -> std::result::Result<Origin, ServiceError> {
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        other => {
            return Err(ServiceError::InvalidRequest(format!(
                "unsupported scheme {other:?}"
            )))
        }
    };
    let host = match url.host() {
        Some(Host::Domain(domain)) => domain.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(ServiceError::InvalidRequest("no host".to_string())),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| ServiceError::InvalidRequest("no port".to_string()))?;
    Ok(Origin { https, host, port })
}

/// The addresses of `origin`: the literal, or the system resolver's answer.
async fn resolve(origin: &Origin) -> std::result::Result<Vec<SocketAddr>, ServiceError> {
    if let Ok(ip) = origin.host.parse() {
        return Ok(vec![SocketAddr::new(ip, origin.port)]);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((origin.host.as_str(), origin.port))
        .await
        .map_err(ServiceError::Resolve)?
        .collect();
    if found.is_empty() {
        return Err(ServiceError::Resolve(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the name has no address",
        )));
    }
    Ok(found)
}

/// The TLS server name of a host (a domain or an IP literal).
fn server_name(host: &str) -> std::result::Result<ServerName<'static>, ServiceError> {
    ServerName::try_from(host.to_string())
        .map_err(|error| ServiceError::InvalidRequest(format!("bad server name: {error}")))
}

/// A `POST` of `body` to `url`: absolute form for HTTP/2, origin form and `Host` for HTTP/1.1.
fn build_request(
    url: &Url,
    origin: &Origin,
    headers: &[(&str, &str)],
    body: Bytes,
    http2: bool,
) -> std::result::Result<Request<RequestBody>, ServiceError> {
    let invalid = |error: &dyn std::fmt::Display| ServiceError::InvalidRequest(error.to_string());
    let target = if http2 {
        url.as_str().to_string()
    } else {
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    };
    let uri: Uri = target.parse().map_err(|e| invalid(&e))?;
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(USER_AGENT_HEADER, USER_AGENT);
    if !http2 {
        let default_port = if origin.https { 443 } else { 80 };
        let host = match url.port() {
            Some(port) if port != default_port => format!("{}:{port}", host_text(url)),
            _ => host_text(url),
        };
        builder = builder.header(HOST, host);
    }
    let mut request = builder
        .body(RequestBody::new(body))
        .map_err(|e| invalid(&e))?;
    // A caller's header replaces the client's own of that name (never two `Host`s).
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(&e))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(&e))?;
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

/// The URL's host as written in a `Host` header (IPv6 literals in brackets).
fn host_text(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_bundled_roots() {
        assert!(service_client(&TrustAnchors::bundled(), Duration::from_secs(5)).is_ok());
        assert!(service_client(&TrustAnchors::bundled(), Duration::ZERO).is_err());
    }

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(USER_AGENT, format!("kuzet/{}", crate::VERSION));
    }

    #[test]
    fn origins_and_request_forms() {
        let url = Url::parse("https://th.example:8443/api/v1?x=1").unwrap();
        let origin = origin_of(&url).unwrap();
        assert_eq!(
            origin,
            Origin {
                https: true,
                host: "th.example".into(),
                port: 8443
            }
        );
        let h1 = build_request(
            &url,
            &origin,
            &[("content-type", "a/b")],
            Bytes::from_static(b"x"),
            false,
        )
        .unwrap();
        assert_eq!(h1.uri().to_string(), "/api/v1?x=1");
        assert_eq!(h1.headers()[HOST], "th.example:8443");
        assert_eq!(h1.headers()["content-type"], "a/b");
        let h2 = build_request(&url, &origin, &[], Bytes::new(), true).unwrap();
        assert_eq!(h2.uri().to_string(), "https://th.example:8443/api/v1?x=1");
        assert!(h2.headers().get(HOST).is_none());

        let v6 = Url::parse("http://[::1]/").unwrap();
        let origin = origin_of(&v6).unwrap();
        assert_eq!((origin.host.as_str(), origin.port), ("::1", 80));
        let request = build_request(&v6, &origin, &[], Bytes::new(), false).unwrap();
        assert_eq!(request.headers()[HOST], "[::1]");

        assert!(origin_of(&Url::parse("ftp://example.org/").unwrap()).is_err());
        let bad = build_request(&url, &origin, &[("bad header", "x")], Bytes::new(), false);
        assert!(matches!(bad, Err(ServiceError::InvalidRequest(_))));
    }
}
