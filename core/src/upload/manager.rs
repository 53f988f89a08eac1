//! The pull-based upload state machine (after Glean's): the platform asks for the next task,
//! performs it, and reports the result. Every limit and decision lives here; the platform
//! loop (WorkManager worker, iOS background task, or [`super::driver`]) only does I/O and
//! sleeps.
//!
//! ```text
//! loop {
//!     match manager.next_upload_task()? {
//!         UploadTask::Upload(request) => {
//!             let result = uploader.upload(request.clone());
//!             if manager.process_upload_result(&request.id, result)? == UploadTaskAction::End {
//!                 break;
//!             }
//!         }
//!         UploadTask::Wait(pause) => sleep(pause),
//!         UploadTask::Done => break,
//!     }
//! }
//! ```
//!
//! Decisions:
//!
//! - **Reports.** A measurement is submitted in the open report of its template at this
//!   collector (persisted, reused while the template matches and the report is younger than
//!   the policy's `report_max_age`); without one, the task is to open it first.
//! - **Held.** Measurements with ASN `AS0` or country `ZZ` are never submitted.
//! - **Backoff.** Each failure sets the item's next attempt (exponential in its counted
//!   attempts, with jitter) and, unless the failure was the item's own fault, the collector's
//!   (exponential in its failures in a row); both honour `Retry-After` and are persisted, so a
//!   restart does not hammer a failing collector.
//! - **Attempt cap.** Failures the collector answered count; at the cap the item is parked,
//!   never deleted. Rejections (4xx) park at once. Network failures (offline, blocked,
//!   timeouts) and 429s only drive the backoff.
//! - **At least once.** An item is marked delivered only after the collector's 2xx has been
//!   processed. A crash in between re-sends it later with the same measurement id, which the
//!   collector uses to recognise the duplicate.
//! - **Loop guards.** A wait longer than `max_wait`, too many waits in a row, or too many
//!   failures in one uploading window end the loop with `Done`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::random::FastRng;
use serde::Serialize;
use url::Url;

use super::backoff::{backoff_delay, parse_retry_after};
use super::policy::UploadPolicy;
use super::protocol;
use super::protocol::ReportTemplate;
use super::rate_limit::{RateLimiter, Throttle};
use super::request::{
    UploadFailureKind, UploadRequest, UploadResult, UploadTask, UploadTaskAction,
};
use super::UploadError;
use crate::store::codec::gzip as codec_gzip;
use crate::store::outbox::{CollectorStatus, DueItem, FailureUpdate};
use crate::store::{Clock, Store, StoreError};

/// How long the platform is told to wait while results of requests it was given are still
/// outstanding (only with several upload loops at once).
const IN_FLIGHT_POLL: Duration = Duration::from_millis(250);

/// The longest collector error text kept with an item.
const MAX_ERROR_TEXT: usize = 300;

/// Counts of what this manager did since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UploadStats {
    /// Measurements delivered.
    pub delivered: u64,
    /// Reports opened.
    pub reports_opened: u64,
    /// Failed requests.
    pub failures: u64,
    /// Items parked.
    pub parked: u64,
    /// Items found with an unknown network and held.
    pub held: u64,
    /// `Wait` tasks handed out.
    pub waits: u64,
    /// The last failure: its kind and message.
    pub last_failure: Option<(UploadFailureKind, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Submit,
}

#[derive(Debug, Clone)]
struct InFlight {
    kind: Kind,
    measurement_id: String,
    template_key: String,
    report_id: Option<String>,
}

#[derive(Debug)]
struct State {
    in_flight: HashMap<String, InFlight>,
    opening: HashSet<String>,
    limiter: RateLimiter,
    waits_in_a_row: u32,
    window_failures: u32,
    rng: FastRng,
    stats: UploadStats,
}

/// What a result means.
enum Outcome {
    Opened(String),
    Delivered(Option<String>),
    Failed(Failure),
}

struct Failure {
    kind: UploadFailureKind,
    message: String,
    retry_after: Option<Duration>,
    /// Park the item now.
    park: bool,
    /// The item's own fault: the collector's backoff is not touched.
    item_only: bool,
    /// The collector does not know the report: open a new one.
    forget_report: bool,
}

/// Why a due item cannot be turned into a request.
enum Skip {
    TooLarge(usize),
    Broken(String),
    Gone,
}

/// The upload state machine for one collector. Share it in an `Arc`; its methods are
/// blocking (they use the store) and safe to call from several threads.
pub struct UploadManager {
    store: Arc<Store>,
    base: Url,
    collector: String,
    policy: UploadPolicy,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for UploadManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadManager")
            .field("collector", &self.collector)
            .finish_non_exhaustive()
    }
}

impl UploadManager {
    /// A manager uploading `store`'s outbox to the collector at `collector` (a base URL such
    /// as `https://api.ooni.io/`), with the store's clock.
    pub fn new(
        store: Arc<Store>,
        collector: &str,
        policy: UploadPolicy,
    ) -> Result<Self, UploadError> {
        let clock = store.clock().clone();
        UploadManager::with_clock(store, collector, policy, clock)
    }

    /// [`UploadManager::new`] with a given clock (tests).
    pub fn with_clock(
        store: Arc<Store>,
        collector: &str,
        policy: UploadPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UploadError> {
        let base = protocol::collector_base(collector).map_err(|reason| {
            UploadError::InvalidCollector {
                url: collector.to_string(),
                reason,
            }
        })?;
        let state = State {
            in_flight: HashMap::new(),
            opening: HashSet::new(),
            limiter: RateLimiter::new(policy.max_requests_per_interval, policy.rate_interval),
            waits_in_a_row: 0,
            window_failures: 0,
            rng: FastRng::from_entropy(),
            stats: UploadStats::default(),
        };
        // No pause can legitimately end later than the longest backoff or Retry-After from
        // now; anything later comes from a clock that jumped backwards.
        let longest = policy.backoff_max.max(policy.max_retry_after) + Duration::from_secs(60);
        if !store.is_read_only() {
            store.clamp_next_attempts(clock.now_ms().saturating_add(duration_to_ms(longest)))?;
        }
        Ok(UploadManager {
            store,
            collector: base.to_string(),
            base,
            policy,
            clock,
            state: Mutex::new(state),
        })
    }

    /// The collector's normalised base URL.
    pub fn collector(&self) -> &str {
        &self.collector
    }

    /// The policy.
    pub fn policy(&self) -> &UploadPolicy {
        &self.policy
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// What this manager did so far.
    pub fn stats(&self) -> UploadStats {
        self.lock().stats.clone()
    }

    /// The collector's persisted backoff state.
    pub fn collector_status(&self) -> Result<CollectorStatus, UploadError> {
        Ok(self.store.collector_status(&self.collector)?)
    }

    /// How long until something may be uploaded: `Some(0)` now, `None` when nothing is
    /// pending. For scheduling the next background run after `Done`.
    pub fn next_wakeup(&self) -> Result<Option<Duration>, UploadError> {
        let Some(item_at) = self.store.next_pending_at()? else {
            return Ok(None);
        };
        let collector_at = self
            .store
            .collector_status(&self.collector)?
            .next_attempt_at_ms;
        let at = item_at.max(collector_at);
        Ok(Some(ms_to_duration(at - self.clock.now_ms())))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next thing the platform should do.
    pub fn next_upload_task(&self) -> Result<UploadTask, UploadError> {
        let now = self.clock.now_ms();
        let mut state = self.lock();
        if self
            .policy
            .max_recoverable_failures
            .is_some_and(|max| state.window_failures >= max)
        {
            return Ok(self.done(&mut state));
        }
        let collector = self.store.collector_status(&self.collector)?;
        if collector.next_attempt_at_ms > now {
            let pause = ms_to_duration(collector.next_attempt_at_ms - now);
            return Ok(self.wait_or_done(&mut state, pause));
        }
        loop {
            let limit = state.in_flight.len() + 16;
            let candidates = self.store.due_items(now, limit)?;
            if candidates.is_empty() {
                break;
            }
            let mut changed = false;
            for item in candidates {
                if state
                    .in_flight
                    .values()
                    .any(|f| f.measurement_id == item.measurement_id)
                {
                    continue;
                }
                let template = ReportTemplate::from_header(&item.header);
                let key = template.key();
                if state.opening.contains(&key) {
                    continue;
                }
                if template.network_unknown() {
                    self.store.hold(&item.measurement_id)?;
                    state.stats.held += 1;
                    changed = true;
                    continue;
                }
                let opened_after = self
                    .policy
                    .report_max_age
                    .map_or(i64::MIN, |age| now - duration_to_ms(age));
                let report = self.store.report_for(&self.collector, &key, opened_after)?;
                let (request, flight) = match report {
                    Some(report_id) => match self.submit_request(&item, &report_id) {
                        Ok(request) => (
                            request,
                            InFlight {
                                kind: Kind::Submit,
                                measurement_id: item.measurement_id.clone(),
                                template_key: key,
                                report_id: Some(report_id),
                            },
                        ),
                        Err(skip) => {
                            self.park_unsendable(&mut state, &item, skip)?;
                            changed = true;
                            continue;
                        }
                    },
                    None => (
                        self.open_request(&item, &template),
                        InFlight {
                            kind: Kind::Open,
                            measurement_id: item.measurement_id.clone(),
                            template_key: key,
                            report_id: None,
                        },
                    ),
                };
                if let Throttle::Wait(pause) = state.limiter.check(now) {
                    return Ok(self.wait_or_done(&mut state, pause));
                }
                if flight.kind == Kind::Open {
                    state.opening.insert(flight.template_key.clone());
                }
                state.in_flight.insert(request.id.clone(), flight);
                state.waits_in_a_row = 0;
                return Ok(UploadTask::Upload(request));
            }
            if !changed {
                break;
            }
        }
        if !state.in_flight.is_empty() {
            return Ok(self.wait_or_done(&mut state, IN_FLIGHT_POLL));
        }
        match self.store.next_pending_at()? {
            Some(at) if at > now => Ok(self.wait_or_done(&mut state, ms_to_duration(at - now))),
            _ => Ok(self.done(&mut state)),
        }
    }

    /// Ends an uploading window.
    fn done(&self, state: &mut State) -> UploadTask {
        state.window_failures = 0;
        state.waits_in_a_row = 0;
        UploadTask::Done
    }

    /// A `Wait`, unless it is too long or there were too many in a row: then `Done`.
    fn wait_or_done(&self, state: &mut State, pause: Duration) -> UploadTask {
        let too_long = self.policy.max_wait.is_some_and(|max| pause > max);
        let too_many = self
            .policy
            .max_wait_attempts
            .is_some_and(|max| state.waits_in_a_row >= max);
        if too_long || too_many {
            return self.done(state);
        }
        state.window_failures = 0;
        state.waits_in_a_row += 1;
        state.stats.waits += 1;
        UploadTask::Wait(pause)
    }

    fn open_request(&self, item: &DueItem, template: &ReportTemplate) -> UploadRequest {
        UploadRequest {
            id: format!("open/{}", item.measurement_id),
            url: protocol::open_report_url(&self.base),
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: template.to_body(),
        }
    }

    fn submit_request(&self, item: &DueItem, report_id: &str) -> Result<UploadRequest, Skip> {
        let json = match self.store.measurement_json(&item.measurement_id) {
            Ok(Some(json)) => json,
            Ok(None) => return Err(Skip::Gone),
            Err(StoreError::BadBody(reason)) => return Err(Skip::Broken(reason)),
            Err(error) => return Err(Skip::Broken(error.to_string())),
        };
        let body = protocol::submission_body(&json, report_id).map_err(|e| Skip::Broken(e.0))?;
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        let body = if self.policy.compress {
            headers.push(("Content-Encoding".to_string(), "gzip".to_string()));
            codec_gzip(&body).map_err(|e| Skip::Broken(e.to_string()))?
        } else {
            body
        };
        if let Some(max) = self.policy.max_upload_bytes {
            if body.len() > max {
                return Err(Skip::TooLarge(body.len()));
            }
        }
        Ok(UploadRequest {
            id: format!("submit/{}/{}", item.measurement_id, report_id),
            url: protocol::submit_url(&self.base, report_id),
            headers,
            body,
        })
    }

    fn park_unsendable(
        &self,
        state: &mut State,
        item: &DueItem,
        skip: Skip,
    ) -> Result<(), UploadError> {
        let (kind, message) = match skip {
            Skip::Gone => return Ok(()),
            Skip::TooLarge(size) => (
                UploadFailureKind::TooLarge,
                format!("the request would be {size} bytes, more than the upload limit"),
            ),
            Skip::Broken(reason) => (
                UploadFailureKind::Protocol,
                format!("the stored measurement cannot be sent: {reason}"),
            ),
        };
        self.store.record_failure(
            &item.measurement_id,
            &FailureUpdate {
                kind: kind.as_str().to_string(),
                message: message.clone(),
                counts: true,
                max_attempts: self.policy.max_attempts,
                park: true,
            },
            |_| Duration::ZERO,
        )?;
        state.stats.parked += 1;
        state.stats.last_failure = Some((kind, message));
        Ok(())
    }

    /// Processes the result of the request `request_id`; says whether to go on.
    pub fn process_upload_result(
        &self,
        request_id: &str,
        result: UploadResult,
    ) -> Result<UploadTaskAction, UploadError> {
        let mut state = self.lock();
        let flight = match state.in_flight.remove(request_id) {
            Some(flight) => flight,
            None => match self.flight_from_id(request_id)? {
                Some(flight) => flight,
                // The item is gone (a quota dropped it): nothing to record.
                None => return Ok(UploadTaskAction::Next),
            },
        };
        if flight.kind == Kind::Open {
            state.opening.remove(&flight.template_key);
        }
        let outcome = match result {
            UploadResult::Done => return Ok(UploadTaskAction::End),
            other => self.interpret(&flight, other),
        };
        match outcome {
            Outcome::Opened(report_id) => {
                let forget_before = self
                    .policy
                    .report_max_age
                    .map_or(i64::MIN, |age| self.clock.now_ms() - duration_to_ms(age));
                self.store.save_report(
                    &self.collector,
                    &flight.template_key,
                    &report_id,
                    forget_before,
                )?;
                state.stats.reports_opened += 1;
            }
            Outcome::Delivered(uid) => {
                let report_id = flight.report_id.as_deref().unwrap_or_default();
                self.store.mark_delivered(
                    &flight.measurement_id,
                    &self.collector,
                    report_id,
                    uid.as_deref(),
                )?;
                state.stats.delivered += 1;
            }
            Outcome::Failed(failure) => self.record_failure(&mut state, &flight, failure)?,
        }
        Ok(UploadTaskAction::Next)
    }

    fn record_failure(
        &self,
        state: &mut State,
        flight: &InFlight,
        failure: Failure,
    ) -> Result<(), UploadError> {
        if failure.forget_report {
            self.store
                .forget_report(&self.collector, &flight.template_key)?;
        }
        let retry_after = failure.retry_after.unwrap_or(Duration::ZERO);
        let rng = &mut state.rng;
        let policy = &self.policy;
        let mut delay = |n: u32| -> Duration {
            let backoff = policy.backoff_base.map_or(Duration::ZERO, |base| {
                backoff_delay(n, base, policy.backoff_max, policy.backoff_jitter, rng)
            });
            backoff.max(retry_after)
        };
        let outcome = self.store.record_failure(
            &flight.measurement_id,
            &FailureUpdate {
                kind: failure.kind.as_str().to_string(),
                message: failure.message.clone(),
                counts: failure.kind.counts_as_attempt(),
                max_attempts: self.policy.max_attempts,
                park: failure.park,
            },
            &mut delay,
        )?;
        if !failure.item_only {
            self.store.record_collector_failure(
                &self.collector,
                failure.kind.as_str(),
                &failure.message,
                &mut delay,
            )?;
        }
        if outcome.parked {
            state.stats.parked += 1;
        }
        state.window_failures += 1;
        state.stats.failures += 1;
        tracing::info!(
            kind = failure.kind.as_str(),
            attempts = outcome.attempts,
            parked = outcome.parked,
            "upload attempt failed"
        );
        state.stats.last_failure = Some((failure.kind, failure.message));
        Ok(())
    }

    /// Rebuilds what is known about a request from its id (a result arriving in a new
    /// process). `None` when its measurement is no longer stored.
    fn flight_from_id(&self, request_id: &str) -> Result<Option<InFlight>, UploadError> {
        let unknown = || UploadError::UnknownRequest(request_id.to_string());
        let (kind, rest) = request_id.split_once('/').ok_or_else(unknown)?;
        let (kind, measurement_id, report_id) = match kind {
            "open" => (Kind::Open, rest, None),
            "submit" => {
                let (id, report) = rest.split_once('/').ok_or_else(unknown)?;
                (Kind::Submit, id, Some(report.to_string()))
            }
            _ => return Err(unknown()),
        };
        let Some(item) = self.store.due_item(measurement_id)? else {
            return Ok(None);
        };
        Ok(Some(InFlight {
            kind,
            measurement_id: measurement_id.to_string(),
            template_key: ReportTemplate::from_header(&item.header).key(),
            report_id,
        }))
    }

    /// What a result means for this request.
    fn interpret(&self, flight: &InFlight, result: UploadResult) -> Outcome {
        let failure = |kind: UploadFailureKind, message: String| Failure {
            kind,
            message,
            retry_after: None,
            park: false,
            item_only: false,
            forget_report: false,
        };
        match result {
            UploadResult::HttpStatus {
                code,
                retry_after,
                body,
            } => {
                let retry_after = retry_after.as_deref().and_then(|value| {
                    parse_retry_after(
                        value,
                        time::OffsetDateTime::now_utc(),
                        self.policy.max_retry_after,
                    )
                });
                let what = match flight.kind {
                    Kind::Open => "opening a report",
                    Kind::Submit => "submitting",
                };
                match code {
                    200..=299 => match flight.kind {
                        Kind::Open => match protocol::parse_open_response(&body) {
                            Ok(report_id) => Outcome::Opened(report_id),
                            Err(e) => Outcome::Failed(failure(UploadFailureKind::Protocol, e.0)),
                        },
                        Kind::Submit => match protocol::parse_submit_response(&body) {
                            Ok(uid) => Outcome::Delivered(uid),
                            Err(e) => Outcome::Failed(failure(UploadFailureKind::Protocol, e.0)),
                        },
                    },
                    429 => Outcome::Failed(Failure {
                        retry_after,
                        ..failure(
                            UploadFailureKind::RateLimited,
                            format!("HTTP 429 while {what}"),
                        )
                    }),
                    503 if retry_after.is_some() => Outcome::Failed(Failure {
                        retry_after,
                        ..failure(
                            UploadFailureKind::RateLimited,
                            format!("HTTP 503 with Retry-After while {what}"),
                        )
                    }),
                    408 => Outcome::Failed(failure(
                        UploadFailureKind::Timeout,
                        format!("HTTP 408 while {what}"),
                    )),
                    500..=599 => Outcome::Failed(Failure {
                        retry_after,
                        ..failure(
                            UploadFailureKind::ServerError,
                            format!("HTTP {code} while {what}{}", error_text(&body)),
                        )
                    }),
                    404 | 410 if flight.kind == Kind::Submit => Outcome::Failed(Failure {
                        item_only: true,
                        forget_report: true,
                        ..failure(
                            UploadFailureKind::Rejected,
                            format!(
                                "HTTP {code}: the collector does not know the report; a new one \
                                 will be opened{}",
                                error_text(&body)
                            ),
                        )
                    }),
                    413 => Outcome::Failed(Failure {
                        park: true,
                        item_only: true,
                        ..failure(
                            UploadFailureKind::TooLarge,
                            format!("HTTP 413 while {what}{}", error_text(&body)),
                        )
                    }),
                    400 | 409 | 415 | 422 => Outcome::Failed(Failure {
                        park: true,
                        item_only: true,
                        ..failure(
                            UploadFailureKind::Rejected,
                            format!("HTTP {code} while {what}{}", error_text(&body)),
                        )
                    }),
                    400..=499 => Outcome::Failed(failure(
                        UploadFailureKind::Rejected,
                        format!(
                            "HTTP {code} while {what}: is the collector URL right?{}",
                            error_text(&body)
                        ),
                    )),
                    _ => Outcome::Failed(failure(
                        UploadFailureKind::Protocol,
                        format!("unexpected HTTP {code} while {what}"),
                    )),
                }
            }
            UploadResult::RecoverableFailure { kind, message } => {
                Outcome::Failed(failure(kind, message))
            }
            UploadResult::UnrecoverableFailure { message } => Outcome::Failed(Failure {
                park: true,
                item_only: true,
                ..failure(UploadFailureKind::Other, message)
            }),
            UploadResult::Incapable { message } => Outcome::Failed(Failure {
                park: true,
                item_only: true,
                ..failure(UploadFailureKind::Incapable, message)
            }),
            UploadResult::Done => Outcome::Failed(failure(
                UploadFailureKind::Other,
                "the uploader stopped".to_string(),
            )),
        }
    }
}

/// `: <the collector's error text>`, short, printable, or nothing.
fn error_text(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .or_else(|| v.get("detail"))
                .or_else(|| v.get("msg"))
                .map(|e| match e {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_TEXT)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        String::new()
    } else {
        format!(": {clean}")
    }
}

fn ms_to_duration(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

fn duration_to_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}
