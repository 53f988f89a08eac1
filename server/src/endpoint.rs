//! What a service plugs into the router: which requests it claims, its limits, its handler.

use std::future::Future;
use std::pin::Pin;

use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;

/// A response body: the services answer with small, fully built bodies.
pub type Body = Full<Bytes>;

/// A boxed handler future.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;

/// A request whose body has been read (within [`Endpoint::max_body_bytes`]).
#[derive(Debug)]
pub struct ReadRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The body bytes.
    pub body: Bytes,
}

/// One service behind the shared listener.
pub trait Endpoint: Send + Sync + 'static {
    /// A short name for logs (`th`, `collector`).
    fn name(&self) -> &'static str;
    /// True when this endpoint serves requests with this method and path.
    fn claims(&self, method: &Method, path: &str) -> bool;
    /// The largest request body accepted; larger requests get 413 without being read whole.
    fn max_body_bytes(&self) -> usize;
    /// The most requests handled at once; more get 503.
    fn max_in_flight(&self) -> usize;
    /// Handles one request.
    fn handle(&self, request: ReadRequest) -> HandlerFuture<'_>;
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A JSON error response `{"error": message}`.
pub fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &serde_json::json!({ "error": message }))
}
