//! The recovery path for a damaged or foreign database file.
//!
//! [`recover`] never deletes anything. It moves the bad file (and its WAL) aside under a new
//! name in the same directory, creates a new database, and copies into it every row it can
//! still read from the old file: runs, results, measurements (each body checked), outbox
//! entries, timeline entries and drop counters. Rows that cannot be read are counted; a
//! salvaged measurement whose outbox entry was lost is enqueued again (the collector
//! de-duplicates by measurement id, so a second delivery is harmless). Files of other
//! applications are only moved aside, never mined.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OpenFlags, Transaction};
use serde::Serialize;

use super::codec;
use super::db::{shm_path, wal_path, DATABASE_FILE_NAME};
use super::policy::StorePolicy;
use super::schema::{self, APPLICATION_ID, EXPECTED_COLUMNS};
use super::{Store, StoreError, StoreResult};

/// The most rows read from one table (a bound on a damaged file's loop).
const MAX_ROWS_PER_TABLE: u64 = 50_000_000;

/// Tables salvaged, in an order that satisfies foreign keys.
const SALVAGED_TABLES: &[&str] = &["runs", "measurements", "outbox", "results", "timeline"];

/// What [`recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Why recovery was needed (the error opening the store gave); `None` when the store
    /// opened fine and nothing was done.
    pub problem: Option<String>,
    /// Where the old file is now kept; `None` when nothing was moved.
    pub moved_to: Option<PathBuf>,
    /// Rows copied, per table.
    pub salvaged: Vec<(String, u64)>,
    /// Rows (or damaged stretches of a table) that could not be read.
    pub unreadable: u64,
    /// Tables that could not be read at all.
    pub unreadable_tables: Vec<String>,
    /// Salvaged measurements enqueued again because their outbox entry was lost.
    pub requeued: u64,
    /// True when the old file was another application's (nothing was copied from it).
    pub foreign: bool,
}

impl RecoveryReport {
    /// Rows salvaged from `table`.
    pub fn salvaged_from(&self, table: &str) -> u64 {
        self.salvaged
            .iter()
            .find(|(name, _)| name == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// Opens the store in `dir`, recovering it if its file is damaged or foreign (see the module
/// docs). Errors that recovery cannot help with (a read-only or full disk, a newer schema, a
/// lock held by another process) are returned unchanged and nothing is moved.
pub fn recover(dir: &Path, policy: StorePolicy) -> StoreResult<(Store, RecoveryReport)> {
    let problem = match Store::open(dir, policy.clone()) {
        Ok(store) => return Ok((store, RecoveryReport::default())),
        Err(error) if error.needs_recovery() => error,
        Err(error) => return Err(error),
    };
    let path = dir.join(DATABASE_FILE_NAME);
    let aside = aside_name(dir);
    move_aside(&path, &aside)?;
    let store = Store::open(dir, policy)?;
    let mut report = RecoveryReport {
        problem: Some(problem.to_string()),
        moved_to: Some(aside.clone()),
        ..RecoveryReport::default()
    };
    salvage(&store, &aside, &mut report)?;
    tracing::warn!(
        unreadable = report.unreadable,
        requeued = report.requeued,
        "damaged store moved aside and salvaged"
    );
    Ok((store, report))
}

/// `kuzet.db.damaged-<UTC time>-<random>`.
fn aside_name(dir: &Path) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let tag = crate::random::uuid_v4().simple().to_string();
    dir.join(format!(
        "{DATABASE_FILE_NAME}.damaged-{stamp}-{}",
        &tag[..8]
    ))
}

/// Renames the database and its WAL and index files to `aside` (`aside-wal`, `aside-shm`), so
/// SQLite still finds the WAL's content when reading the old file.
fn move_aside(path: &Path, aside: &Path) -> StoreResult<()> {
    let rename = |from: PathBuf, to: PathBuf| -> StoreResult<()> {
        match fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path: from, source }),
        }
    };
    rename(wal_path(path), wal_path(aside))?;
    rename(shm_path(path), shm_path(aside))?;
    rename(path.to_path_buf(), aside.to_path_buf())?;
    if let Some(dir) = path.parent() {
        if let Ok(directory) = fs::File::open(dir) {
            let _ = directory.sync_all();
        }
    }
    Ok(())
}

/// Copies what can be read from the old file into `store`.
fn salvage(store: &Store, old: &Path, report: &mut RecoveryReport) -> StoreResult<()> {
    let source = match Connection::open_with_flags(
        old,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => conn,
        Err(_) => {
            report
                .unreadable_tables
                .push("(the whole file)".to_string());
            return Ok(());
        }
    };
    // Tolerate a file shorter than its header says (truncation): read what is there.
    let _ = source.pragma_update(None, "writable_schema", true);
    match schema::version_of(&source) {
        Ok((app_id, _)) if app_id == APPLICATION_ID => {}
        Ok(_) => {
            // Another application's database (or not Kuzet's at all): keep it aside, read
            // nothing from it.
            report.foreign = true;
            return Ok(());
        }
        Err(_) => {
            // The header page itself is unreadable; the tables may still be.
        }
    }
    let body_cap = store
        .policy()
        .max_measurement_bytes
        .unwrap_or(codec::MAX_DECOMPRESSED);
    for table in SALVAGED_TABLES {
        let Some((_, expected)) = EXPECTED_COLUMNS.iter().find(|(name, _)| name == table) else {
            continue;
        };
        let columns = match schema::columns_of(&source, table) {
            Ok(columns) if !columns.is_empty() => columns,
            _ => {
                report.unreadable_tables.push((*table).to_string());
                continue;
            }
        };
        let shared: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|c| columns.iter().any(|have| have == c))
            .collect();
        let copied = store.write("salvaging rows", |tx| {
            copy_table(
                &source,
                tx,
                table,
                &shared,
                body_cap,
                &mut report.unreadable,
            )
        })?;
        report.salvaged.push(((*table).to_string(), copied));
    }
    // Drop counters: what was lost before stays counted.
    if let Ok(mut statement) = source.prepare("SELECT name, value FROM counters") {
        if let Ok(rows) = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        }) {
            let counters: Vec<(String, i64)> = rows.filter_map(Result::ok).collect();
            store.write("salvaging counters", |tx| {
                for (name, value) in &counters {
                    super::quota::bump(tx, name, value.max(&0).unsigned_abs())?;
                }
                Ok(())
            })?;
        }
    }
    // Measurements whose outbox entry was lost go back to the queue.
    let now = store.now_ms();
    report.requeued = store.write("re-enqueuing salvaged measurements", |tx| {
        Ok(tx.execute(
            "INSERT INTO outbox (measurement_id, state, enqueued_at_ms, next_attempt_at_ms) \
             SELECT id, CASE WHEN probe_asn = 'AS0' OR probe_cc = 'ZZ' THEN 'held' \
                        ELSE 'pending' END, ?1, ?1 \
             FROM measurements m WHERE NOT EXISTS \
             (SELECT 1 FROM outbox o WHERE o.measurement_id = m.id)",
            [now],
        )? as u64)
    })?;
    Ok(())
}

/// Copies the readable rows of `table` (columns `columns`) from `source` into `tx`, walking
/// the rowids and skipping over damaged stretches. Returns the rows copied.
fn copy_table(
    source: &Connection,
    tx: &Transaction<'_>,
    table: &str,
    columns: &[&str],
    body_cap: usize,
    unreadable: &mut u64,
) -> StoreResult<u64> {
    if columns.is_empty() {
        return Ok(0);
    }
    let list = columns.join(", ");
    let select =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid >= ?1 ORDER BY rowid LIMIT 1");
    let placeholders = (1..=columns.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!("INSERT OR IGNORE INTO {table} ({list}) VALUES ({placeholders})");
    let body_index = columns.iter().position(|c| *c == "body");
    let mut next = i64::MIN;
    let mut step: i64 = 1;
    let mut copied = 0u64;
    let mut visited = 0u64;
    while visited < MAX_ROWS_PER_TABLE {
        visited += 1;
        let row = source.query_row(&select, [next], |row| {
            let rowid: i64 = row.get(0)?;
            let values = (0..columns.len())
                .map(|i| row.get::<_, Value>(i + 1))
                .collect::<rusqlite::Result<Vec<Value>>>()?;
            Ok((rowid, values))
        });
        match row {
            Ok((rowid, values)) => {
                step = 1;
                next = match rowid.checked_add(1) {
                    Some(next) => next,
                    None => break,
                };
                if let Some(index) = body_index {
                    let readable = match &values[index] {
                        Value::Blob(body) => codec::gunzip(body, body_cap)
                            .ok()
                            .and_then(|json| {
                                serde_json::from_slice::<serde_json::Value>(&json).ok()
                            })
                            .is_some_and(|v| v.is_object()),
                        _ => false,
                    };
                    if !readable {
                        *unreadable += 1;
                        continue;
                    }
                }
                match tx.execute(&insert, params_from_iter(values.iter())) {
                    Ok(n) => copied += n as u64,
                    // A row that breaks a constraint in the new database (a result whose run
                    // was lost, an outbox entry without its measurement) is not salvageable.
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        *unreadable += 1;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            Err(rusqlite::Error::QueryReturnedNoRows) => break,
            Err(_) => {
                // A damaged page: skip ahead, further each time, until rows read again.
                *unreadable += 1;
                next = if next == i64::MIN {
                    0
                } else {
                    next.saturating_add(step)
                };
                if next == i64::MAX {
                    break;
                }
                step = step.saturating_mul(2);
            }
        }
    }
    Ok(copied)
}

/// Deletes the store's files in `dir` without opening them: the database, its WAL and index,
/// and every copy [`recover`] kept aside. For wiping a store that cannot be opened (damaged)
/// and the damaged copies, which hold evidence too. Returns how many files were deleted.
pub fn destroy(dir: &Path) -> StoreResult<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name == DATABASE_FILE_NAME
            || name == format!("{DATABASE_FILE_NAME}-wal")
            || name == format!("{DATABASE_FILE_NAME}-shm")
            || name.starts_with(&format!("{DATABASE_FILE_NAME}.damaged-"))
            || name.starts_with(&format!("{DATABASE_FILE_NAME}.new-"));
        if ours && entry.path().is_file() {
            fs::remove_file(entry.path()).map_err(|source| StoreError::Io {
                path: entry.path(),
                source,
            })?;
            removed += 1;
        }
    }
    if let Ok(directory) = fs::File::open(dir) {
        let _ = directory.sync_all();
    }
    Ok(removed)
}

/// Deletes the copies of damaged databases that [`recover`] kept aside in `dir` (they hold
/// evidence: a wipe must remove them too). Returns how many files were deleted.
pub fn remove_damaged_copies(dir: &Path) -> StoreResult<usize> {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .to_string_lossy()
            .starts_with(&format!("{DATABASE_FILE_NAME}.damaged-"))
        {
            fs::remove_file(entry.path()).map_err(|source| StoreError::Io {
                path: entry.path(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}
