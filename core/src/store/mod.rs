//! The device store: one embedded SQLite database, owned by core, in a directory the app gives.
//!
//! It holds what the apps show and what must reach a collector:
//!
//! - the **results history** ([`results`]): runs (suite, network summary: ASN, country,
//!   network type; never IPs, SSIDs or identifiers) and one verdict per measured target;
//! - the **measurements** themselves, scrubbed of the probe's IP and gzip-compressed;
//! - the **outbox** ([`outbox`]): each measurement's delivery state (pending, held until the
//!   network is known, parked after too many failures, delivered), attempts and last error,
//!   and each collector's persisted backoff;
//! - the **open reports** (`reports`): per collector and report template, the OONI report id
//!   measurements are submitted in ([`Store::report_for`]);
//! - the **connectivity timeline** ([`timeline`]): status transitions with evidence;
//! - what the quotas ([`policy::StorePolicy`]) dropped, counted by reason.
//!
//! **Durability.** The database runs in WAL mode with `synchronous = FULL`: when
//! [`Store::record`] returns, the measurement, its verdict and its outbox entry are on disk,
//! written in one transaction. A process killed at any point leaves either all of them or none.
//!
//! **One writer.** A [`Store`] is one connection behind a mutex; every call is short and
//! blocking, so async code calls it through `tokio::task::spawn_blocking`. Several processes
//! may open the same directory: SQLite's locks serialise them (write transactions start
//! `IMMEDIATE` and wait up to [`db::BUSY_TIMEOUT`]).
//!
//! **Damage.** A corrupt, truncated or foreign file is never replaced silently: [`Store::open`]
//! fails with [`StoreError::Corrupt`] or [`StoreError::WrongSchema`], and
//! [`recovery::recover`] moves the file aside (kept, never deleted), salvages every readable
//! row into a new database and reports what it saved and what it could not read. A full disk or
//! a read-only directory gives [`StoreError::DiskFull`] / [`StoreError::ReadOnly`] and leaves
//! what is stored intact; [`Store::open_read_only`] still reads it.

pub mod db;
pub mod outbox;
pub mod policy;
pub mod quota;
pub mod recovery;
pub mod results;
pub mod schema;
pub mod timeline;

pub(crate) mod codec;
mod reports;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};

pub use db::{Store, StoreStats, WipeReport, DATABASE_FILE_NAME};
pub use outbox::{DeliveryState, OutboxItem, QueueStats, Recorded};
pub use policy::StorePolicy;
pub use quota::{DropCounters, QuotaReport};
pub use recovery::{destroy, recover, remove_damaged_copies, RecoveryReport};
pub use results::{
    NetworkType, NewRun, ResultRecord, ResultRewrite, Run, RunId, RunSummary, Verdict,
    MAX_NOT_MEASURED,
};
pub use timeline::{CheckRecord, NewTransition, Transition, MAX_CHECKS};

/// Errors of the device store. Each message says what happened to the data (nothing stored is
/// lost by an error) and what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file is damaged or is not an SQLite database at all.
    #[error(
        "the database {path} is damaged ({reason}); it was left untouched: recover it (`kuzet \
         recover`, or Store recovery in the app) to keep it aside, salvage every readable row \
         and start a new database"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the integrity check reported.
        reason: String,
    },
    /// The file is an SQLite database, but not one of Kuzet's (or a Kuzet database missing
    /// parts of its schema).
    #[error(
        "{path} is not a Kuzet database ({reason}); it was left untouched: move it away, or \
         recover (`kuzet recover`) to keep it aside and start a new database"
    )]
    WrongSchema {
        /// The database file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The database was written by a newer Kuzet.
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this \
         version of Kuzet understands; it was left untouched: update Kuzet"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Writing is impossible: the file or its directory is read-only.
    #[error(
        "cannot write to {path}: the database or its directory is read-only; what is stored is \
         intact and can still be read"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The disk (or the directory's quota) is full.
    #[error(
        "cannot write to {path}: the disk is full; nothing already stored was lost. Free some \
         space or lower the store quotas"
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// Another process holds the database locked for longer than the busy timeout.
    #[error("the database {path} is locked by another process; try again")]
    Busy {
        /// The database file.
        path: PathBuf,
    },
    /// The data directory could not be created or read.
    #[error("cannot use the data directory {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error("database error while {context} ({path}): {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// A measurement is larger than the policy allows; it was not stored.
    #[error(
        "the measurement is {size} bytes, more than the {max} bytes a stored measurement may \
         have; it was not stored"
    )]
    TooLarge {
        /// Its serialised size.
        size: usize,
        /// The limit ([`StorePolicy::max_measurement_bytes`]).
        max: usize,
    },
    /// A stored measurement body could not be decoded.
    #[error("a stored measurement cannot be decoded: {0}")]
    BadBody(String),
    /// A measurement could not be encoded or decoded as JSON.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// A value given to the store is not acceptable.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The store was opened read-only and a write was asked for.
    #[error("the store was opened read-only; {0} needs a writable store")]
    OpenedReadOnly(&'static str),
    /// Scrubbing the probe IP failed (the measurement could not be serialised).
    #[error("cannot scrub the measurement: {0}")]
    Scrub(String),
}

impl StoreError {
    /// True when the database file itself is damaged or foreign, so that
    /// [`recovery::recover`] is the way forward.
    pub fn needs_recovery(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::WrongSchema { .. }
        )
    }
}

/// The store's result alias.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Where the store and the uploader get the time from: milliseconds since the Unix epoch.
/// Tests use [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in milliseconds since 1970-01-01 UTC.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = time::OffsetDateTime::now_utc();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to: for tests of quotas, backoff and rate limits.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        ManualClock {
            now_ms: AtomicI64::new(now_ms),
        }
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Formats milliseconds since the epoch as `YYYY-MM-DD hh:mm:ss` UTC (for people).
pub fn format_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(at) => crate::report::format_ooni_time(at),
        Err(_) => format!("@{ms}ms"),
    }
}
