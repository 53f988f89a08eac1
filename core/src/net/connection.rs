//! The HTTP layer every Kuzet request shares: one type-erased stream and one request body
//! type, so the HTTP/1.1 and HTTP/2 client code is compiled once for measurements and for
//! service calls alike (the mobile library's size depends on it).
//!
//! HTTP/2 is the `http2` feature (on by default; the command line and the server have it).
//! Without it, TLS offers only `http/1.1` in ALPN and every request uses HTTP/1.1: the mobile
//! library is built so, 0.27 MB smaller (BENCHMARKS.md).

use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
#[cfg(feature = "http2")]
use hyper::client::conn::http2;
#[cfg(feature = "http2")]
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::failure::Failure;

/// A byte stream HTTP can run over: plain TCP or TLS.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// The protocols TLS offers in ALPN for HTTP, in order of preference.
#[cfg(feature = "http2")]
pub const HTTP_ALPN: &[&str] = &["h2", "http/1.1"];
/// The protocols TLS offers in ALPN for HTTP (this build speaks HTTP/1.1 only).
#[cfg(not(feature = "http2"))]
pub const HTTP_ALPN: &[&str] = &["http/1.1"];

/// [`HTTP_ALPN`] as owned strings.
pub fn http_alpn() -> Vec<String> {
    HTTP_ALPN
        .iter()
        .map(|protocol| protocol.to_string())
        .collect()
}

/// Any [`ByteStream`], boxed.
pub type BoxedStream = Box<dyn ByteStream>;

/// The body of every request Kuzet sends (empty for `GET`).
pub type RequestBody = Full<Bytes>;

/// Maps a hyper error to OONI's vocabulary, by the socket or TLS error inside it when there is
/// one.
pub(crate) fn hyper_failure(error: &hyper::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return Failure::from_io(io);
        }
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Failure::from_tls(tls);
        }
        source = inner.source();
    }
    if error.is_incomplete_message() {
        return Failure::Eof;
    }
    if error.is_timeout() {
        return Failure::GenericTimeout;
    }
    Failure::Unknown(error.to_string())
}

/// The sending half of an HTTP connection whose driver runs on the runtime.
#[derive(Debug)]
pub(crate) enum HttpSender {
    /// HTTP/1.1: one request at a time.
    Http1(http1::SendRequest<RequestBody>),
    /// HTTP/2: requests multiplexed; the sender can be cloned.
    #[cfg(feature = "http2")]
    Http2(http2::SendRequest<RequestBody>),
}

impl HttpSender {
    /// Starts HTTP over `stream` (HTTP/2 when `http2` and this build has it, else HTTP/1.1;
    /// a server choosing `h2` was never offered it without the feature), accepting at most
    /// `max_head_bytes` of response head, and spawns the connection's driver, which ends
    /// when every sender is dropped or the peer closes.
    pub(crate) async fn handshake(
        stream: BoxedStream,
        http2: bool,
        max_head_bytes: usize,
    ) -> Result<HttpSender, hyper::Error> {
        let io = TokioIo::new(stream);
        #[cfg(not(feature = "http2"))]
        let _ = http2;
        #[cfg(feature = "http2")]
        if http2 {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .max_header_list_size(u32::try_from(max_head_bytes).unwrap_or(u32::MAX))
                .handshake(io)
                .await?;
            tokio::spawn(connection);
            return Ok(HttpSender::Http2(sender));
        }
        let (sender, connection) = http1::Builder::new()
            .max_buf_size(max_head_bytes.max(8192))
            .handshake(io)
            .await?;
        tokio::spawn(connection);
        Ok(HttpSender::Http1(sender))
    }

    /// Whether this is an HTTP/2 connection.
    pub(crate) fn is_http2(&self) -> bool {
        #[cfg(feature = "http2")]
        return matches!(self, HttpSender::Http2(_));
        #[cfg(not(feature = "http2"))]
        false
    }

    /// Whether the connection has closed (an idle one may still be finishing its last
    /// response: see [`HttpSender::ready`]).
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            HttpSender::Http1(sender) => sender.is_closed(),
            #[cfg(feature = "http2")]
            HttpSender::Http2(sender) => sender.is_closed(),
        }
    }

    /// Waits until the connection can take a request; an error when it closed instead.
    pub(crate) async fn ready(&mut self) -> Result<(), hyper::Error> {
        match self {
            HttpSender::Http1(sender) => sender.ready().await,
            #[cfg(feature = "http2")]
            HttpSender::Http2(sender) => sender.ready().await,
        }
    }

    /// Sends `request` and waits for the response head. On failure, the request comes back
    /// when it was never sent (the connection had closed meanwhile), so it can be retried.
    pub(crate) async fn send(
        &mut self,
        request: Request<RequestBody>,
    ) -> Result<Response<Incoming>, (hyper::Error, Option<Request<RequestBody>>)> {
        let sent = match self {
            HttpSender::Http1(sender) => sender.try_send_request(request).await,
            #[cfg(feature = "http2")]
            HttpSender::Http2(sender) => sender.try_send_request(request).await,
        };
        sent.map_err(|mut error| {
            let unsent = error.take_message();
            (error.into_error(), unsent)
        })
    }

    /// Another handle on the same connection, when the protocol multiplexes (HTTP/2).
    pub(crate) fn share(&self) -> Option<HttpSender> {
        match self {
            HttpSender::Http1(_) => None,
            #[cfg(feature = "http2")]
            HttpSender::Http2(sender) => Some(HttpSender::Http2(sender.clone())),
        }
    }
}
