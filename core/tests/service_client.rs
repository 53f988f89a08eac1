//! The service HTTP client (`kuzet_core::net::http_client`) against loopback servers the
//! tests start: hand-written HTTP/1.1 servers where the exact bytes matter, and a hyper
//! HTTP/2 + HTTP/1.1 server over TLS with a certificate from the test PKI.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kuzet_core::net::http_client::{
    service_client, ServiceClient, ServiceError, ServiceResponse, USER_AGENT,
};
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::Failure;
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::closed_addr;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use url::Url;

/// A generous bound for calls that should end quickly (timeouts of 300 ms, instant errors).
const PROMPT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Loopback servers
// ---------------------------------------------------------------------------------------

/// A loopback server counting the TCP connections it accepted. Dropping it aborts the
/// accept loop and, with it, every connection task (they live in the loop's `JoinSet`).
struct Loopback {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Loopback {
    /// Serves each accepted connection with `handler(stream, n)`, `n` counting from 1.
    async fn start<F, Fut>(handler: F) -> Loopback
    where
        F: Fn(TcpStream, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                connections.spawn(handler(stream, n));
                while connections.try_join_next().is_some() {}
            }
        });
        Loopback {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn url(&self, scheme: &str, path: &str) -> Url {
        Url::parse(&format!("{scheme}://{}{path}", self.addr)).unwrap()
    }
}

/// A request as a hand-written server read it.
#[derive(Debug, Clone)]
struct RawRequest {
    /// The request line, e.g. `POST /x?y=1 HTTP/1.1`.
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The connection it came on (1 = first accepted).
    connection: usize,
}

impl RawRequest {
    /// Every value of header `name` (case-insensitive), in order.
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// Reads HTTP/1.1 requests (with `Content-Length` bodies) off one connection.
struct RequestReader {
    stream: TcpStream,
    buffer: Vec<u8>,
    connection: usize,
}

impl RequestReader {
    fn new(stream: TcpStream, connection: usize) -> Self {
        RequestReader {
            stream,
            buffer: Vec::new(),
            connection,
        }
    }

    /// The next request, or `None` when the client closed the connection.
    async fn next(&mut self) -> Option<RawRequest> {
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8(self.buffer[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_string(), value.trim().to_string())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map(|(_, value)| value.parse().unwrap())
            .unwrap_or(0);
        let total = head_end + 4 + length;
        while self.buffer.len() < total {
            if !self.fill().await {
                return None;
            }
        }
        let body = self.buffer[head_end + 4..total].to_vec();
        self.buffer.drain(..total);
        Some(RawRequest {
            line,
            headers,
            body,
            connection: self.connection,
        })
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A 200 answer with a `Content-Length` body and keep-alive (no `Connection` header).
fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Answer: yes\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A server that reads each request, reports it on `seen` and answers `response(request)`
/// on the same connection; it closes the connection after one answer when `close_after`.
async fn recording_server(
    close_after: bool,
    response: fn(&RawRequest) -> Vec<u8>,
) -> (Loopback, mpsc::UnboundedReceiver<RawRequest>) {
    let (seen, requests) = mpsc::unbounded_channel();
    let server = Loopback::start(move |stream, n| {
        let seen = seen.clone();
        async move {
            let mut reader = RequestReader::new(stream, n);
            while let Some(request) = reader.next().await {
                let answer = response(&request);
                let _ = seen.send(request);
                reader.write(&answer).await;
                if close_after {
                    // Drops the socket: a FIN without any `Connection: close` beforehand.
                    return;
                }
            }
        }
    })
    .await;
    (server, requests)
}

/// A server that reads one request, answers with the fixed bytes `response`, then keeps
/// the connection open until the client closes it.
async fn fixed_answer_server(response: &'static [u8]) -> Loopback {
    Loopback::start(move |stream, n| async move {
        let mut reader = RequestReader::new(stream, n);
        if reader.next().await.is_some() {
            reader.write(response).await;
        }
        while reader.next().await.is_some() {}
    })
    .await
}

/// What the hyper server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    version: http::Version,
    method: http::Method,
    uri: http::Uri,
    user_agent: Option<String>,
    body: Vec<u8>,
}

/// A hyper server (HTTP/1.1 and HTTP/2, `auto`) over TLS presenting `leaf` with the given
/// ALPN protocols, answering `200 ok-<n>` to the n-th request and recording each one.
async fn tls_server(
    leaf: &kuzet_e2e::fixtures::pki::TestLeaf,
    alpn: &[&str],
) -> (Loopback, Arc<Mutex<Vec<Seen>>>) {
    let acceptor = TlsAcceptor::from(leaf.server_config(alpn));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let server = Loopback::start(move |stream, _| {
        let acceptor = acceptor.clone();
        let record = record.clone();
        async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                let record = record.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                    let n = {
                        let mut record = record.lock().unwrap();
                        record.push(Seen {
                            version: parts.version,
                            method: parts.method,
                            uri: parts.uri,
                            user_agent: parts
                                .headers
                                .get(http::header::USER_AGENT)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string),
                            body: body.unwrap_or_default(),
                        });
                        record.len()
                    };
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(format!(
                        "ok-{n}"
                    )))))
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await;
    (server, seen)
}

fn plain_client() -> ServiceClient {
    service_client(&TrustAnchors::bundled(), Duration::from_secs(30)).unwrap()
}

/// `client.post(...)`, failing the test if it does not return within [`PROMPT`].
async fn post_promptly(
    client: &ServiceClient,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    cap: usize,
) -> Result<ServiceResponse, ServiceError> {
    tokio::time::timeout(PROMPT, client.post(url, headers, body.to_vec(), cap))
        .await
        .unwrap_or_else(|_| panic!("POST {url} did not return within {PROMPT:?}"))
}

// ---------------------------------------------------------------------------------------
// 1. Keep-alive and the request on the wire
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sequential_posts_share_one_connection_and_send_the_expected_request() {
    let (server, mut requests) = recording_server(false, |request| {
        ok_response(&format!(
            "answer-{}",
            String::from_utf8_lossy(&request.body)
        ))
    })
    .await;
    let client = plain_client();
    let url = server.url("http", "/dns-query?dns=AAAB&x=1");
    let headers = [
        ("content-type", "application/dns-message"),
        ("x-kuzet-test", "caller header"),
    ];

    let first = post_promptly(&client, &url, &headers, b"first body", 1024)
        .await
        .unwrap();
    let second = post_promptly(&client, &url, &headers, b"second\x00body", 1024)
        .await
        .unwrap();

    assert_eq!(first.status, 200);
    assert_eq!(first.body, b"answer-first body");
    assert!(!first.truncated);
    assert_eq!(first.received, first.body.len() as u64);
    assert_eq!(first.header("x-answer"), Some("yes"));
    assert_eq!(second.body, b"answer-second\x00body");
    assert_eq!(
        server.accepted(),
        1,
        "the second POST must reuse the connection"
    );

    let expected_user_agent = concat!("kuzet/", env!("CARGO_PKG_VERSION"));
    assert_eq!(USER_AGENT, expected_user_agent);
    let host = format!("127.0.0.1:{}", server.addr.port());
    for (request, body) in [
        (requests.recv().await.unwrap(), &b"first body"[..]),
        (requests.recv().await.unwrap(), &b"second\x00body"[..]),
    ] {
        assert_eq!(request.connection, 1);
        assert_eq!(request.line, "POST /dns-query?dns=AAAB&x=1 HTTP/1.1");
        assert_eq!(request.values("host"), [host.as_str()]);
        assert_eq!(request.values("user-agent"), [expected_user_agent]);
        let length = body.len().to_string();
        assert_eq!(request.values("content-length"), [length.as_str()]);
        assert_eq!(request.values("content-type"), ["application/dns-message"]);
        assert_eq!(request.values("x-kuzet-test"), ["caller header"]);
        assert_eq!(request.body, body);
    }

    // A caller's header replaces the client's own: one `User-Agent`, one `Host`.
    let replaced = [("user-agent", "custom/1"), ("host", "th.example")];
    post_promptly(&client, &url, &replaced, b"third", 1024)
        .await
        .unwrap();
    let request = requests.recv().await.unwrap();
    assert_eq!(request.values("user-agent"), ["custom/1"]);
    assert_eq!(request.values("host"), ["th.example"]);
}

// ---------------------------------------------------------------------------------------
// 2. A pooled connection the server closed meanwhile
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn post_after_the_server_closed_the_idle_connection_uses_a_new_one() {
    let (server, mut requests) = recording_server(true, |request| {
        ok_response(&format!("from connection {}", request.connection))
    })
    .await;
    let client = plain_client();
    let url = server.url("http", "/report");

    let first = post_promptly(&client, &url, &[], b"one", 1024)
        .await
        .unwrap();
    assert_eq!(first.body, b"from connection 1");
    // Lets the FIN arrive while the connection sits in the pool.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = post_promptly(&client, &url, &[], b"two", 1024)
        .await
        .unwrap();

    assert_eq!(second.status, 200);
    assert_eq!(second.body, b"from connection 2");
    assert_eq!(server.accepted(), 2);
    let seen: Vec<_> = [
        requests.recv().await.unwrap(),
        requests.recv().await.unwrap(),
    ]
    .into_iter()
    .map(|request| (request.connection, request.body))
    .collect();
    assert_eq!(seen, [(1, b"one".to_vec()), (2, b"two".to_vec())]);
}

// ---------------------------------------------------------------------------------------
// 3. HTTPS: HTTP/2 by ALPN, HTTP/1.1 fallback, and an unknown issuer
// ---------------------------------------------------------------------------------------

/// With the `http2` feature (the default; the mobile library is built without it).
#[cfg(feature = "http2")]
#[tokio::test]
async fn https_uses_http2_over_one_connection_with_a_trusted_private_ca() {
    let ca = TestCa::new("Kuzet Service Client Test CA", "Kuzet");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (server, seen) = tls_server(&leaf, &["h2", "http/1.1"]).await;
    let trust = TrustAnchors::only_pem(ca.cert_pem.as_bytes()).unwrap();
    let client = service_client(&trust, Duration::from_secs(30)).unwrap();
    let url = server.url("https", "/api/v1/check-in?probe=1");

    let first = post_promptly(
        &client,
        &url,
        &[("content-type", "application/json")],
        b"{}",
        64,
    )
    .await
    .unwrap();
    let second = post_promptly(&client, &url, &[], b"second", 64)
        .await
        .unwrap();

    assert_eq!((first.status, first.body.as_slice()), (200, &b"ok-1"[..]));
    assert_eq!((second.status, second.body.as_slice()), (200, &b"ok-2"[..]));
    assert!(!first.truncated && !second.truncated);
    assert_eq!(
        server.accepted(),
        1,
        "HTTP/2 must multiplex on one connection"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (request, body) in seen.iter().zip([&b"{}"[..], &b"second"[..]]) {
        assert_eq!(request.version, http::Version::HTTP_2);
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(
            request.uri.path_and_query().map(|p| p.as_str()),
            Some("/api/v1/check-in?probe=1")
        );
        let authority = format!("127.0.0.1:{}", server.addr.port());
        assert_eq!(
            request.uri.authority().map(|a| a.as_str()),
            Some(authority.as_str())
        );
        assert_eq!(request.user_agent.as_deref(), Some(USER_AGENT));
        assert_eq!(request.body, body);
    }
}

/// Without the `http2` feature, only `http/1.1` is offered, so a server that prefers `h2`
/// still gets HTTP/1.1 (with keep-alive).
#[cfg(not(feature = "http2"))]
#[tokio::test]
async fn https_without_the_http2_feature_speaks_http1_to_a_server_offering_h2() {
    let ca = TestCa::new("Kuzet Service Client Test CA", "Kuzet");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (server, seen) = tls_server(&leaf, &["h2", "http/1.1"]).await;
    let trust = TrustAnchors::only_pem(ca.cert_pem.as_bytes()).unwrap();
    let client = service_client(&trust, Duration::from_secs(30)).unwrap();
    let url = server.url("https", "/api");
    for body in [&b"one"[..], &b"two"[..]] {
        let answer = post_promptly(&client, &url, &[], body, 64).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    assert_eq!(server.accepted(), 1);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|r| r.version == http::Version::HTTP_11));
}

#[tokio::test]
async fn https_falls_back_to_http1_keep_alive_when_the_server_offers_only_http1() {
    let ca = TestCa::new("Kuzet Service Client Test CA", "Kuzet");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (server, seen) = tls_server(&leaf, &["http/1.1"]).await;
    let trust = TrustAnchors::only_pem(ca.cert_pem.as_bytes()).unwrap();
    let client = service_client(&trust, Duration::from_secs(30)).unwrap();
    let url = server.url("https", "/th");

    for expected in [&b"ok-1"[..], &b"ok-2"[..]] {
        let answer = post_promptly(&client, &url, &[], b"x", 64).await.unwrap();
        assert_eq!(answer.body, expected);
    }
    assert_eq!(server.accepted(), 1, "HTTP/1.1 over TLS must be kept alive");
    let versions: Vec<_> = seen.lock().unwrap().iter().map(|s| s.version).collect();
    assert_eq!(versions, [http::Version::HTTP_11, http::Version::HTTP_11]);
}

#[tokio::test]
async fn https_with_an_unknown_issuer_fails_with_ssl_unknown_authority() {
    let ca = TestCa::new("Kuzet Untrusted Test CA", "Kuzet");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (server, seen) = tls_server(&leaf, &["h2", "http/1.1"]).await;
    let client = service_client(&TrustAnchors::bundled(), Duration::from_secs(30)).unwrap();

    let error = post_promptly(&client, &server.url("https", "/"), &[], b"x", 64)
        .await
        .unwrap_err();

    assert!(matches!(error, ServiceError::Tls(_)), "{error:?}");
    assert_eq!(error.failure(), Failure::SslUnknownAuthority);
    assert!(seen.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// 4. Byte caps
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn content_length_above_the_cap_is_truncated_without_reading_the_body() {
    let server = fixed_answer_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n\
          xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    )
    .await;
    let client = plain_client();

    let answer = post_promptly(&client, &server.url("http", "/big"), &[], b"q", 99)
        .await
        .unwrap();

    assert_eq!(answer.status, 200);
    assert!(answer.truncated);
    assert!(answer.body.is_empty());
    assert_eq!(answer.header("content-length"), Some("100"));
}

#[tokio::test]
async fn content_length_equal_to_the_cap_is_read_whole() {
    let server =
        fixed_answer_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789").await;
    let client = plain_client();

    let answer = post_promptly(&client, &server.url("http", "/"), &[], b"q", 10)
        .await
        .unwrap();

    assert!(!answer.truncated);
    assert_eq!(answer.body, b"0123456789");
}

#[tokio::test]
async fn chunked_body_longer_than_the_cap_keeps_exactly_cap_bytes() {
    let server = fixed_answer_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\n01234\r\nf\r\n56789abcdefghij\r\n6\r\nklmnop\r\n0\r\n\r\n",
    )
    .await;
    let client = plain_client();
    let url = server.url("http", "/chunked");

    for cap in [0, 3, 5, 8, 19, 25] {
        let answer = post_promptly(&client, &url, &[], b"q", cap).await.unwrap();
        assert!(answer.truncated, "cap {cap}");
        assert_eq!(
            answer.body,
            &b"0123456789abcdefghijklmnop"[..cap],
            "cap {cap}"
        );
    }
    // Exactly as long as the cap: whole, not truncated.
    let answer = post_promptly(&client, &url, &[], b"q", 26).await.unwrap();
    assert!(!answer.truncated);
    assert_eq!(answer.body, b"0123456789abcdefghijklmnop");
    assert_eq!(answer.received, 26);
}

#[tokio::test]
async fn endless_body_returns_promptly_truncated_at_the_cap() {
    // The fixture's endless route answers chunks of `y` forever.
    let server = WebServer::http(Routes::new().route("/endless", Route::Endless)).await;
    let client = plain_client();
    let url = Url::parse(&server.url("http", "/endless")).unwrap();

    let answer = post_promptly(&client, &url, &[], b"q", 1000).await.unwrap();

    assert_eq!(answer.status, 200);
    assert!(answer.truncated);
    assert_eq!(answer.body, vec![b'y'; 1000]);
}

// ---------------------------------------------------------------------------------------
// 5. Timeout
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn silent_server_times_out_with_generic_timeout() {
    // Accepts, reads whatever comes and never answers.
    let server = Loopback::start(|mut stream, _| async move {
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    let timeout = Duration::from_millis(300);
    let client = service_client(&TrustAnchors::bundled(), timeout).unwrap();

    let started = Instant::now();
    let error = post_promptly(&client, &server.url("http", "/"), &[], b"q", 64)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();

    assert!(
        matches!(error, ServiceError::Timeout(t) if t == timeout),
        "{error:?}"
    );
    assert_eq!(error.failure(), Failure::GenericTimeout);
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert_eq!(server.accepted(), 1);
}

// ---------------------------------------------------------------------------------------
// 6. Errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let client = plain_client();
    let url = Url::parse(&format!("http://{}/", closed_addr())).unwrap();

    let error = post_promptly(&client, &url, &[], b"q", 64)
        .await
        .unwrap_err();

    assert!(matches!(error, ServiceError::Connect(_)), "{error:?}");
    assert_eq!(error.failure(), Failure::ConnectionRefused);
}

#[tokio::test]
async fn ftp_url_is_an_invalid_request() {
    let client = plain_client();
    let url = Url::parse("ftp://127.0.0.1/file").unwrap();

    let error = post_promptly(&client, &url, &[], b"q", 64)
        .await
        .unwrap_err();

    assert!(
        matches!(error, ServiceError::InvalidRequest(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_response_that_is_not_http_is_an_http_error() {
    // Reads the request, answers garbage and closes.
    let server = Loopback::start(|stream, n| async move {
        let mut reader = RequestReader::new(stream, n);
        if reader.next().await.is_some() {
            reader
                .write(b"SSH-2.0-OpenSSH_9.6 definitely not HTTP\r\n")
                .await;
        }
    })
    .await;
    let client = plain_client();

    let error = post_promptly(&client, &server.url("http", "/"), &[], b"q", 64)
        .await
        .unwrap_err();

    assert!(matches!(error, ServiceError::Http(_)), "{error:?}");
    assert_eq!(server.accepted(), 1);
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 keep-alive on a multi-threaded runtime
// ---------------------------------------------------------------------------------------

/// On a multi-threaded runtime (as in the CLI and bindings) the caller can put a connection
/// back before hyper's connection task has finished the response and asked for the next
/// request. Such a connection must still be reused (it once was dropped: 78 to 160
/// connections for 300 sequential POSTs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_posts_share_one_connection_on_a_multi_threaded_runtime() {
    let (server, _requests) = recording_server(false, |_| ok_response("x")).await;
    let client = plain_client();
    let url = server.url("http", "/many");
    for _ in 0..100 {
        let answer = post_promptly(&client, &url, &[], b"q", 64).await.unwrap();
        assert_eq!(answer.body, b"x");
    }
    assert_eq!(server.accepted(), 1);
}
