//! The collector: the server side of OONI's collector protocol (bk-003), for self-hosting and
//! for tests.
//!
//! - `POST /report`: opens a report. The template is checked (format `json`,
//!   `data_format_version`, `probe_cc`, `probe_asn`, `software_name`, `software_version`,
//!   `test_name`, `test_version`); the answer is
//!   `{"backend_version", "report_id", "supported_formats": ["json"]}` with a report id in the
//!   backend's format.
//! - `POST /report/{report_id}`: submits `{"format": "json", "content": {...}}`. The report id
//!   must be one of ours and opened here; `content.report_id` must equal it and the content's
//!   country, ASN and test name must match it. Reports of an unknown network (ASN 0 or country
//!   `ZZ`) get `200 {}` and nothing is stored, as OONI's backend does. The body may be
//!   gzip-compressed (`Content-Encoding: gzip`), within a decompressed-size cap. The
//!   measurement is stored durably before the answer `{"measurement_uid": ...}`; a second
//!   submission with the same `content.id` is recognised, not stored again, and gets the first
//!   one's uid.
//! - `POST /report/{report_id}/close`: `{}` (a no-op, as in the current backend).

pub mod storage;
pub mod validate;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::endpoint::{error_response, json_response, Body, Endpoint, HandlerFuture, ReadRequest};
use storage::{CollectorStorage, NewMeasurement, StorageError};

/// The largest request body read (compressed, as sent): Kuzet clients send at most 4 MiB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The largest body once decompressed: Kuzet stores measurements of at most 8 MiB.
pub const MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;
/// The most requests handled at once. With the caps above, this bounds the memory the
/// collector's requests can take (each body, its decompression and its parse).
pub const MAX_IN_FLIGHT: usize = 16;
/// What the collector calls itself in `backend_version`.
pub const BACKEND_VERSION: &str = concat!("kuzet-server-", env!("CARGO_PKG_VERSION"));

/// Limits of the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// The largest request body ([`MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// The largest decompressed body ([`MAX_DECOMPRESSED_BYTES`]).
    pub max_decompressed_bytes: usize,
    /// Requests handled at once ([`MAX_IN_FLIGHT`]).
    pub max_in_flight: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            max_body_bytes: MAX_BODY_BYTES,
            max_decompressed_bytes: MAX_DECOMPRESSED_BYTES,
            max_in_flight: MAX_IN_FLIGHT,
        }
    }
}

/// The collector endpoint.
#[derive(Debug, Clone)]
pub struct Collector {
    storage: Arc<CollectorStorage>,
    config: CollectorConfig,
}

/// A handler's answer.
type Answer = Response<Body>;

/// A request refused before it reached storage.
#[derive(Debug, Clone, Copy)]
struct Reject(StatusCode, &'static str);

impl Reject {
    fn answer(self) -> Answer {
        error_response(self.0, self.1)
    }
}

impl Collector {
    /// A collector storing into `data_dir`.
    pub fn open(data_dir: &Path, config: CollectorConfig) -> Result<Collector, StorageError> {
        Ok(Collector {
            storage: Arc::new(CollectorStorage::open(data_dir)?),
            config,
        })
    }

    /// Its storage (to inspect what it received).
    pub fn storage(&self) -> &Arc<CollectorStorage> {
        &self.storage
    }

    /// Decodes the body as its `Content-Encoding` says, within the decompressed cap.
    fn decode(&self, request: &ReadRequest) -> Result<Vec<u8>, Reject> {
        let encoding = request
            .headers
            .get(http::header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
        match encoding.as_deref() {
            None | Some("") | Some("identity") => Ok(request.body.to_vec()),
            Some("gzip") | Some("x-gzip") => {
                let cap = self.config.max_decompressed_bytes;
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&request.body[..])
                    .take(cap as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|_| Reject(StatusCode::BAD_REQUEST, "the gzip body is corrupt"))?;
                if out.len() > cap {
                    return Err(Reject(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the decompressed body is too large",
                    ));
                }
                Ok(out)
            }
            Some(_) => Err(Reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported Content-Encoding (use gzip or none)",
            )),
        }
    }

    fn parse_json(&self, request: &ReadRequest) -> Result<Value, Reject> {
        let body = self.decode(request)?;
        serde_json::from_slice(&body)
            .map_err(|_| Reject(StatusCode::BAD_REQUEST, "the body is not JSON"))
    }

    async fn open_report(&self, request: ReadRequest) -> Answer {
        let template = match self.parse_json(&request) {
            Ok(value) => value,
            Err(reject) => return reject.answer(),
        };
        let checked = match validate::validate_template(&template) {
            Ok(checked) => checked,
            Err(reason) => return error_response(StatusCode::BAD_REQUEST, &reason),
        };
        let now = OffsetDateTime::now_utc();
        let report_id = validate::generate_report_id(now, &checked);
        let storage = self.storage.clone();
        let (id, text) = (report_id.clone(), template.to_string());
        let saved =
            tokio::task::spawn_blocking(move || storage.save_report(&id, &text, unix_ms(now)))
                .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::error!("cannot save a report");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "cannot save the report");
        }
        json_response(
            StatusCode::OK,
            &json!({
                "backend_version": BACKEND_VERSION,
                "report_id": report_id,
                "supported_formats": ["json"],
            }),
        )
    }

    async fn submit(&self, report_id: &str, request: ReadRequest) -> Answer {
        let parts = match validate::parse_report_id(report_id) {
            Ok(parts) => parts,
            Err(reason) => return error_response(StatusCode::BAD_REQUEST, &reason),
        };
        if parts.network_unknown() {
            // As OONI's backend: accepted, not stored.
            return json_response(StatusCode::OK, &json!({}));
        }
        let storage = self.storage.clone();
        let id = report_id.to_string();
        match tokio::task::spawn_blocking(move || storage.report_exists(&id)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return error_response(StatusCode::NOT_FOUND, "unknown report_id"),
            _ => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "storage failure"),
        }
        let body = match self.parse_json(&request) {
            Ok(value) => value,
            Err(reject) => return reject.answer(),
        };
        let checked = match validate::validate_submission(report_id, &parts, &body) {
            Ok(checked) => checked,
            Err(reason) => return error_response(StatusCode::BAD_REQUEST, &reason),
        };
        let content = body["content"].to_string().into_bytes();
        let now = OffsetDateTime::now_utc();
        let uid = validate::measurement_uid(now, &parts.probe_cc, &checked.test_name, &content);
        let storage = self.storage.clone();
        let report = report_id.to_string();
        let asn = format!("AS{}", parts.probe_asn);
        let cc = parts.probe_cc.clone();
        let stored = tokio::task::spawn_blocking(move || {
            storage.store(
                &NewMeasurement {
                    measurement_id: checked.measurement_id.as_deref(),
                    measurement_uid: &uid,
                    report_id: &report,
                    probe_cc: &cc,
                    probe_asn: &asn,
                    test_name: &checked.test_name,
                    body: &content,
                },
                unix_ms(now),
            )
        })
        .await;
        match stored {
            Ok(Ok(stored)) => {
                json_response(StatusCode::OK, &json!({ "measurement_uid": stored.uid() }))
            }
            _ => {
                tracing::error!("cannot store a measurement");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot store the measurement",
                )
            }
        }
    }
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Endpoint for Collector {
    fn name(&self) -> &'static str {
        "collector"
    }

    fn claims(&self, method: &Method, path: &str) -> bool {
        *method == Method::POST && (path == "/report" || path.starts_with("/report/"))
    }

    fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    fn max_in_flight(&self) -> usize {
        self.config.max_in_flight
    }

    fn handle(&self, request: ReadRequest) -> HandlerFuture<'_> {
        Box::pin(async move {
            let path = request.path.clone();
            if path == "/report" {
                return self.open_report(request).await;
            }
            let rest = path.strip_prefix("/report/").unwrap_or_default();
            if let Some(report_id) = rest.strip_suffix("/close") {
                return match validate::parse_report_id(report_id) {
                    Ok(_) => json_response(StatusCode::OK, &json!({})),
                    Err(reason) => error_response(StatusCode::BAD_REQUEST, &reason),
                };
            }
            if rest.is_empty() || rest.contains('/') {
                return error_response(StatusCode::NOT_FOUND, "no such endpoint");
            }
            self.submit(rest, request).await
        })
    }
}
