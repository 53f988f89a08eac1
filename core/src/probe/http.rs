//! One HTTP GET over a connection the caller opened (and measured), observed as a df-001
//! `requests` entry. The body is kept up to a cap; a longer body is cut, not failed; a body
//! that stops arriving before the timeout keeps what came (slow transfers are evidence).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use crate::failure::Failure;
use crate::net::connection::{hyper_failure, BoxedStream, HttpSender, RequestBody};
use crate::probe::flow::Flow;
use crate::report::observations::{HttpBody, HttpRequest, HttpResponse, HttpTransaction, TorInfo};

/// The most bytes of response head (status line and headers) accepted.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

/// The headers OONI's engine sends, so Kuzet's requests look like OONI's and a browser's.
pub fn default_request_headers() -> Vec<(String, String)> {
    vec![
        (
            "Accept".to_string(),
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".to_string(),
        ),
        ("Accept-Language".to_string(), "en-US,en;q=0.9".to_string()),
        (
            "User-Agent".to_string(),
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
                .to_string(),
        ),
    ]
}

/// What to request.
#[derive(Debug, Clone)]
pub struct HttpGetSpec {
    /// The URL (its host goes into `Host`; the connection is the caller's).
    pub url: Url,
    /// Headers to send besides `Host` and `Cookie`.
    pub headers: Vec<(String, String)>,
    /// A `Cookie` header value, if any.
    pub cookie: Option<String>,
    /// The most body bytes kept.
    pub body_cap: usize,
    /// Timeout for the whole exchange, body included.
    pub timeout: Duration,
}

/// The result of one GET.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    /// The observation.
    pub transaction: HttpTransaction,
    /// The body bytes received (up to the cap).
    pub body: Vec<u8>,
    /// The status code, if a response head arrived.
    pub status: Option<u16>,
}

/// Sends a GET over `stream` (already connected, and TLS-wrapped for https) to `address`.
/// `alpn` is the negotiated protocol: `h2` selects HTTP/2, anything else HTTP/1.1.
pub async fn http_get<S>(
    flow: &Flow,
    stream: S,
    address: SocketAddr,
    alpn: &str,
    spec: &HttpGetSpec,
) -> HttpExchange
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // One compiled copy of the HTTP code for every stream type.
    http_get_boxed(flow, Box::new(stream), address, alpn, spec).await
}

/// [`http_get`] over a boxed stream.
async fn http_get_boxed(
    flow: &Flow,
    stream: BoxedStream,
    address: SocketAddr,
    alpn: &str,
    spec: &HttpGetSpec,
) -> HttpExchange {
    let t0 = flow.clock.now();
    let mut headers_list = vec![("Host".to_string(), host_header(&spec.url))];
    headers_list.extend(spec.headers.iter().cloned());
    if let Some(cookie) = &spec.cookie {
        headers_list.push(("Cookie".to_string(), cookie.clone()));
    }
    let mut transaction = HttpTransaction {
        network: Some("tcp".to_string()),
        address: Some(address.to_string()),
        alpn: Some(alpn.to_string()),
        failure: None,
        request: HttpRequest {
            body: HttpBody::default(),
            body_is_truncated: false,
            headers: to_map(&headers_list),
            headers_list: headers_list.clone(),
            method: "GET".to_string(),
            tor: Some(TorInfo::default()),
            x_transport: Some("tcp".to_string()),
            url: spec.url.to_string(),
        },
        response: HttpResponse::default(),
        t0,
        t: t0,
        tags: flow.tags.clone(),
        transaction_id: flow.transaction_id,
    };

    let mut state = Progress::default();
    let outcome = tokio::time::timeout(
        spec.timeout,
        exchange(stream, alpn == "h2", spec, &headers_list, &mut state),
    )
    .await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(failure)) => Some(failure),
        Err(_) => Some(Failure::GenericTimeout),
    };
    if let Some((status, headers)) = &state.head {
        transaction.response.code = i64::from(*status);
        transaction.response.headers = to_map(headers);
        transaction.response.headers_list = headers.clone();
    }
    transaction.response.body = HttpBody::from_bytes(&state.body);
    transaction.response.body_is_truncated = state.truncated;
    transaction.failure = failure;
    transaction.t = flow.clock.now();
    HttpExchange {
        status: state.head.as_ref().map(|(status, _)| *status),
        body: state.body,
        transaction,
    }
}

/// What has arrived so far; kept when a timeout interrupts the exchange.
#[derive(Debug, Default)]
struct Progress {
    head: Option<(u16, Vec<(String, String)>)>,
    body: Vec<u8>,
    truncated: bool,
}

async fn exchange(
    stream: BoxedStream,
    http2: bool,
    spec: &HttpGetSpec,
    headers: &[(String, String)],
    state: &mut Progress,
) -> Result<(), Failure> {
    let mut builder = Request::builder().method(Method::GET);
    builder = if http2 {
        builder.uri(spec.url.as_str().parse::<Uri>().map_err(invalid_url)?)
    } else {
        builder.uri(origin_form(&spec.url).parse::<Uri>().map_err(invalid_url)?)
    };
    for (name, value) in headers {
        // HTTP/2 carries the host in :authority.
        if http2 && name.eq_ignore_ascii_case("host") {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(invalid_header)?;
        let value = HeaderValue::from_str(value).map_err(invalid_header)?;
        builder = builder.header(name, value);
    }
    let request = builder
        .body(RequestBody::new(Bytes::new()))
        .map_err(|e| Failure::Unknown(format!("cannot build request: {e}")))?;

    let mut sender = HttpSender::handshake(stream, http2, MAX_RESPONSE_HEAD_BYTES)
        .await
        .map_err(|e| hyper_failure(&e))?;
    let response = sender
        .send(request)
        .await
        .map_err(|(e, _)| hyper_failure(&e))?;

    let status = response.status().as_u16();
    let head = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                canonical_header_name(name.as_str()),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    state.head = Some((status, head));

    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| hyper_failure(&e))?;
        if let Ok(data) = frame.into_data() {
            let room = spec.body_cap.saturating_sub(state.body.len());
            if data.len() > room {
                state.body.extend_from_slice(&data[..room]);
                state.truncated = true;
                // Stop reading: dropping the body closes the connection.
                return Ok(());
            }
            state.body.extend_from_slice(&data);
        }
    }
    Ok(())
}

fn invalid_url(error: impl std::fmt::Display) -> Failure {
    Failure::Unknown(format!("invalid request URL: {error}"))
}

fn invalid_header(error: impl std::fmt::Display) -> Failure {
    Failure::Unknown(format!("invalid request header: {error}"))
}

/// `host[:port]` with the port only when it is not the scheme's default.
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The path and query, as HTTP/1.1 sends them.
fn origin_form(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// `content-type` -> `Content-Type`, as Go's textproto (and so OONI) writes header names.
pub fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn to_map(headers: &[(String, String)]) -> BTreeMap<String, String> {
    crate::ordered::btree_map(headers.iter().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("x-kuzet-fixture"), "X-Kuzet-Fixture");
        assert_eq!(canonical_header_name("ETAG"), "Etag");
    }

    #[test]
    fn host_and_origin_forms() {
        let url = Url::parse("http://example.org:8080/a/b?c=d").unwrap();
        assert_eq!(host_header(&url), "example.org:8080");
        assert_eq!(origin_form(&url), "/a/b?c=d");
        let url = Url::parse("https://example.org/").unwrap();
        assert_eq!(host_header(&url), "example.org");
    }
}
