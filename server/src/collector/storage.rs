//! The collector's durable storage: one SQLite database in the data directory.
//!
//! Why SQLite rather than an append-only JSONL file: de-duplication by measurement id needs an
//! index that survives restarts, and a `UNIQUE` column gives it atomically with the write;
//! WAL with `synchronous = FULL` makes each answer follow an fsync (the measurement is on disk
//! before the client hears "stored"); and self-hosters get a file they can query or export.
//! One connection behind a mutex is the one writer; the handlers reach it through
//! `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

/// The database file in the collector's data directory.
pub const COLLECTOR_DB: &str = "collector.db";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS reports (
    report_id       TEXT PRIMARY KEY NOT NULL,
    opened_at_ms    INTEGER NOT NULL,
    template        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
    seq             INTEGER PRIMARY KEY,
    measurement_id  TEXT UNIQUE,
    measurement_uid TEXT NOT NULL,
    report_id       TEXT NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    probe_cc        TEXT NOT NULL,
    probe_asn       TEXT NOT NULL,
    test_name       TEXT NOT NULL,
    body            BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name    TEXT PRIMARY KEY NOT NULL,
    value   INTEGER NOT NULL
);
"#;

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The data directory could not be created.
    #[error("cannot use the data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("collector database error while {context}: {source}")]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StorageError {
    move |source| StorageError::Sqlite { context, source }
}

/// What became of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored now, with this uid.
    New(String),
    /// A measurement with the same id was stored before, with this uid: nothing changed.
    Duplicate(String),
}

impl Stored {
    /// The measurement's uid.
    pub fn uid(&self) -> &str {
        match self {
            Stored::New(uid) | Stored::Duplicate(uid) => uid,
        }
    }
}

/// A measurement to store.
#[derive(Debug, Clone)]
pub struct NewMeasurement<'a> {
    /// The client's id (`content.id`), the de-duplication key.
    pub measurement_id: Option<&'a str>,
    /// The uid to give it.
    pub measurement_uid: &'a str,
    /// Its report.
    pub report_id: &'a str,
    /// Country.
    pub probe_cc: &'a str,
    /// `AS1234`.
    pub probe_asn: &'a str,
    /// The experiment.
    pub test_name: &'a str,
    /// The submission's `content`, as JSON.
    pub body: &'a [u8],
}

/// A stored measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeasurement {
    /// The client's id.
    pub measurement_id: Option<String>,
    /// The uid.
    pub measurement_uid: String,
    /// Its report.
    pub report_id: String,
    /// The measurement (the submission's `content`), as JSON.
    pub body: Vec<u8>,
}

/// The collector's database.
pub struct CollectorStorage {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for CollectorStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorStorage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CollectorStorage {
    /// Opens (or creates) the storage in `dir`.
    pub fn open(dir: &Path) -> Result<CollectorStorage, StorageError> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(COLLECTOR_DB);
        let conn = Connection::open(&path).map_err(sql("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(sql("configuring the database"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(sql("configuring the database"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("collector database not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("configuring the database"))?;
        conn.execute_batch(SCHEMA)
            .map_err(sql("creating the schema"))?;
        Ok(CollectorStorage {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an opened report.
    pub fn save_report(
        &self,
        report_id: &str,
        template: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.lock()
            .execute(
                "INSERT OR IGNORE INTO reports (report_id, opened_at_ms, template) VALUES (?1, ?2, ?3)",
                params![report_id, now_ms, template],
            )
            .map_err(sql("saving a report"))?;
        Ok(())
    }

    /// True when the report was opened here.
    pub fn report_exists(&self, report_id: &str) -> Result<bool, StorageError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT 1 FROM reports WHERE report_id = ?1",
                [report_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(sql("finding a report"))?
            .is_some())
    }

    /// Stores a measurement, durably, unless one with the same id is stored already.
    pub fn store(
        &self,
        measurement: &NewMeasurement<'_>,
        now_ms: i64,
    ) -> Result<Stored, StorageError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("storing a measurement"))?;
        let inserted = tx
            .execute(
                "INSERT INTO measurements (measurement_id, measurement_uid, report_id, \
                 received_at_ms, probe_cc, probe_asn, test_name, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (measurement_id) DO NOTHING",
                params![
                    measurement.measurement_id,
                    measurement.measurement_uid,
                    measurement.report_id,
                    now_ms,
                    measurement.probe_cc,
                    measurement.probe_asn,
                    measurement.test_name,
                    measurement.body,
                ],
            )
            .map_err(sql("storing a measurement"))?;
        let outcome = if inserted == 1 {
            Stored::New(measurement.measurement_uid.to_string())
        } else {
            let uid: String = tx
                .query_row(
                    "SELECT measurement_uid FROM measurements WHERE measurement_id = ?1",
                    [measurement.measurement_id],
                    |row| row.get(0),
                )
                .map_err(sql("finding a duplicate"))?;
            tx.execute(
                "INSERT INTO counters (name, value) VALUES ('duplicates', 1) \
                 ON CONFLICT (name) DO UPDATE SET value = value + 1",
                [],
            )
            .map_err(sql("counting a duplicate"))?;
            Stored::Duplicate(uid)
        };
        tx.commit().map_err(sql("storing a measurement"))?;
        Ok(outcome)
    }

    /// How many measurements are stored.
    pub fn count(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM measurements", [], |row| row.get(0))
            .map_err(sql("counting"))?;
        Ok(n.max(0) as u64)
    }

    /// How many submissions were recognised as duplicates (and not stored again).
    pub fn duplicates(&self) -> Result<u64, StorageError> {
        let n: Option<i64> = self
            .lock()
            .query_row(
                "SELECT value FROM counters WHERE name = 'duplicates'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql("counting"))?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// How many reports were opened.
    pub fn reports(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM reports", [], |row| row.get(0))
            .map_err(sql("counting"))?;
        Ok(n.max(0) as u64)
    }

    /// Every stored measurement, in the order received.
    pub fn measurements(&self) -> Result<Vec<StoredMeasurement>, StorageError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(
                "SELECT measurement_id, measurement_uid, report_id, body FROM measurements \
                 ORDER BY seq",
            )
            .map_err(sql("listing"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(StoredMeasurement {
                    measurement_id: row.get(0)?,
                    measurement_uid: row.get(1)?,
                    report_id: row.get(2)?,
                    body: row.get(3)?,
                })
            })
            .map_err(sql("listing"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql("listing"))?;
        Ok(rows)
    }
}
