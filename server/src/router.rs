//! The one HTTP listener: routes each request to the endpoint that claims it, reads its body
//! within that endpoint's cap (413 beyond), and answers 503 when the endpoint is at its
//! in-flight limit. Every connection has a header-read timeout, so idle or slow clients cannot
//! hold it forever.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::endpoint::{error_response, Body, Endpoint, ReadRequest};

/// How long a client has to send a request's head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to send a request's body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

struct Route {
    endpoint: Arc<dyn Endpoint>,
    in_flight: Arc<Semaphore>,
}

/// The set of endpoints served by one listener. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    routes: Arc<Vec<Route>>,
}

impl Router {
    /// A router over `endpoints`; earlier endpoints win when two claim a request.
    pub fn new(endpoints: Vec<Arc<dyn Endpoint>>) -> Self {
        let routes = endpoints
            .into_iter()
            .map(|endpoint| Route {
                in_flight: Arc::new(Semaphore::new(endpoint.max_in_flight())),
                endpoint,
            })
            .collect();
        Router {
            routes: Arc::new(routes),
        }
    }

    /// Routes one request.
    pub async fn route(&self, request: Request<Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let Some(route) = self
            .routes
            .iter()
            .find(|r| r.endpoint.claims(&method, &path))
        else {
            return error_response(StatusCode::NOT_FOUND, "no such endpoint");
        };
        let Ok(_permit) = route.in_flight.clone().try_acquire_owned() else {
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "overloaded, retry later");
        };
        let cap = route.endpoint.max_body_bytes();
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > cap as u64) {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let (parts, body) = request.into_parts();
        let body = match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, cap).collect())
            .await
        {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(_)) => {
                return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            }
            Err(_) => return error_response(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
        };
        route
            .endpoint
            .handle(ReadRequest {
                method: parts.method,
                path,
                headers: parts.headers,
                body,
            })
            .await
    }

    /// Serves connections from `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Accept errors (EMFILE and the like) are transient: wait a little.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(permit) = connections.clone().acquire_owned().await else {
                return;
            };
            let router = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let router = router.clone();
                    async move { Ok::<_, Infallible>(router.route(request).await) }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    }
}
