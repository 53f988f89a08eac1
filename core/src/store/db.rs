//! Opening the database, the one connection, error classification, statistics and wipe.

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::policy::StorePolicy;
use super::quota::DropCounters;
use super::schema::{self, SchemaProblem};
use super::{Clock, StoreError, StoreResult, SystemClock};

/// The database file inside the data directory. SQLite keeps `-wal` and `-shm` files beside it.
pub const DATABASE_FILE_NAME: &str = "kuzet.db";

/// How long a write waits for another process's lock before [`StoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database page size: SQLite's default. Larger pages pack a few-KiB compressed
/// measurement per page with less slack (16 KiB: -17 % file size), but every commit then writes
/// whole larger pages to the WAL (about 4x the bytes per enqueue): on phones, flash writes cost
/// more than a few hundred bytes of disk per measurement (BENCHMARKS.md).
pub const PAGE_SIZE: i64 = 4096;

/// The first 16 bytes of every SQLite 3 database.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The device store: one SQLite connection behind a mutex. Cheap calls, all blocking; share
/// it in an `Arc` and call it from async code through `spawn_blocking`.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    policy: StorePolicy,
    clock: Arc<dyn Clock>,
    read_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Counts over the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// The schema version.
    pub schema_version: i64,
    /// Measurements stored (any delivery state).
    pub measurements: u64,
    /// Bytes of stored (compressed) measurement bodies.
    pub stored_bytes: u64,
    /// Runs in the history.
    pub runs: u64,
    /// Results (verdicts) in the history.
    pub results: u64,
    /// Connectivity timeline entries.
    pub timeline: u64,
    /// The database file's size, WAL included.
    pub file_bytes: u64,
    /// What the quotas dropped so far.
    pub dropped: DropCounters,
}

/// What [`Store::wipe`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WipeReport {
    /// Measurements removed (delivered or not).
    pub measurements: u64,
    /// Of those, not yet delivered.
    pub undelivered: u64,
    /// Runs removed.
    pub runs: u64,
    /// Results removed.
    pub results: u64,
    /// Timeline entries removed.
    pub timeline: u64,
    /// True when the file was also compacted and the WAL truncated, so the removed rows no
    /// longer exist anywhere in the files (deleted rows are zeroed in any case:
    /// `secure_delete` is on).
    pub compacted: bool,
}

impl Store {
    /// Opens (or creates) the store in `dir`, creating the directory if needed, migrating the
    /// schema to the latest version and, if the policy says so, checking the file's integrity.
    ///
    /// A damaged, truncated or foreign file gives [`StoreError::Corrupt`] or
    /// [`StoreError::WrongSchema`] and is left untouched: see [`super::recover`]. A read-only
    /// directory gives [`StoreError::ReadOnly`]: see [`Store::open_read_only`].
    pub fn open(dir: &Path, policy: StorePolicy) -> StoreResult<Store> {
        Store::open_with_clock(dir, policy, Arc::new(SystemClock))
    }

    /// [`Store::open`] with a given clock (tests).
    pub fn open_with_clock(
        dir: &Path,
        policy: StorePolicy,
        clock: Arc<dyn Clock>,
    ) -> StoreResult<Store> {
        let path = dir.join(DATABASE_FILE_NAME);
        if let Err(source) = fs::create_dir_all(dir) {
            return Err(io_error(dir, source));
        }
        if !path.exists() {
            create_atomically(dir, &path)?;
        }
        check_header(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| classify_open(&path, dir, e, "opening the database"))?;
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| classify_sqlite(&path, e, "opening the database"))?
        {
            return Err(StoreError::ReadOnly { path });
        }
        // Nothing is written before the file is known to be a sound Kuzet database: a
        // damaged or foreign file must stay exactly as it was.
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify_sqlite(&path, e, "opening the database"))?;
        if policy.verify_on_open {
            quick_check(&conn, &path)?;
        }
        schema::check_identity(&conn).map_err(|p| schema_error(&path, dir, p))?;
        configure(&conn, true)
            .map_err(|e| classify_open(&path, dir, e, "configuring the database"))?;
        schema::migrate(&mut conn).map_err(|p| schema_error(&path, dir, p))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
            policy,
            clock,
            read_only: false,
        })
    }

    /// Opens an existing store for reading only: for a read-only directory or file system, or
    /// to look at a store another process is writing. Writes give
    /// [`StoreError::OpenedReadOnly`].
    pub fn open_read_only(dir: &Path) -> StoreResult<Store> {
        let path = dir.join(DATABASE_FILE_NAME);
        if !path.exists() {
            return Err(StoreError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no Kuzet database here"),
            });
        }
        check_header(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let attempt = Connection::open_with_flags(&path, flags).and_then(|conn| {
            configure(&conn, false)?;
            schema::version_of(&conn)?;
            Ok(conn)
        });
        let conn = match attempt {
            Ok(conn) => conn,
            Err(error) => {
                // In a read-only directory SQLite cannot create the WAL index. Without a WAL
                // file there is nothing beyond the main file, which can then be read as
                // immutable.
                let wal = wal_path(&path);
                let wal_is_empty = fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true);
                if !wal_is_empty {
                    return Err(classify_open(
                        &path,
                        dir,
                        error,
                        "opening the database read-only",
                    ));
                }
                let uri = immutable_uri(&path)?;
                let conn = Connection::open_with_flags(
                    &uri,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_URI
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| classify_sqlite(&path, e, "opening the database read-only"))?;
                configure(&conn, false)
                    .map_err(|e| classify_sqlite(&path, e, "opening the database read-only"))?;
                conn
            }
        };
        quick_check(&conn, &path)?;
        schema::verify(&conn).map_err(|p| schema_error(&path, dir, p))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
            policy: StorePolicy::default(),
            clock: Arc::new(SystemClock),
            read_only: true,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's policy.
    pub fn policy(&self) -> &StorePolicy {
        &self.policy
    }

    /// The store's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// True when opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Now, by the store's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held rolled its transaction back (rusqlite's
        // `Transaction` rolls back on drop), so the connection is usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the connection (reads).
    pub(crate) fn read<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = self.lock();
        f(&conn).map_err(|e| self.classify(e, context))
    }

    /// Runs `f` in an `IMMEDIATE` transaction and commits it: all of `f`'s writes, or none.
    pub(crate) fn write<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if self.read_only {
            return Err(StoreError::OpenedReadOnly(context));
        }
        let mut conn = self.lock();
        let transaction = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify_sqlite(&self.path, e, context))?;
        let value = f(&transaction).map_err(|e| self.classify(e, context))?;
        transaction
            .commit()
            .map_err(|e| classify_sqlite(&self.path, e, context))?;
        Ok(value)
    }

    /// Gives a store error its path and, for SQLite errors, its class.
    fn classify(&self, error: StoreError, context: &'static str) -> StoreError {
        match error {
            StoreError::Sqlite {
                source,
                context: inner,
                ..
            } => classify_sqlite(
                &self.path,
                source,
                if inner.is_empty() { context } else { inner },
            ),
            other => other,
        }
    }

    /// Counts over the whole store.
    pub fn stats(&self) -> StoreResult<StoreStats> {
        let path = self.path.clone();
        self.read("reading statistics", |conn| {
            let (_, schema_version) = schema::version_of(conn)?;
            let (measurements, stored_bytes): (i64, i64) = conn.query_row(
                "SELECT measurements, bytes FROM totals WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let count = |table: &str| -> StoreResult<u64> {
                let n: i64 =
                    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                        row.get(0)
                    })?;
                Ok(n.max(0) as u64)
            };
            Ok(StoreStats {
                schema_version,
                measurements: measurements.max(0) as u64,
                stored_bytes: stored_bytes.max(0) as u64,
                runs: count("runs")?,
                results: count("results")?,
                timeline: count("timeline")?,
                file_bytes: file_size(&path) + file_size(&wal_path(&path)),
                dropped: DropCounters::read(conn)?,
            })
        })
    }

    /// Removes every stored result, measurement (delivered or not), outbox entry, timeline
    /// entry, connectivity check, open report and counter, then compacts the file and
    /// truncates the WAL so the removed rows are gone from disk. For people who must clear
    /// their phone quickly: it asks nothing and cannot be undone.
    pub fn wipe(&self) -> StoreResult<WipeReport> {
        let mut report = self.write("wiping the store", |tx| {
            let count = |sql: &str| -> StoreResult<u64> {
                let n: i64 = tx.query_row(sql, [], |row| row.get(0))?;
                Ok(n.max(0) as u64)
            };
            let report = WipeReport {
                measurements: count("SELECT count(*) FROM measurements")?,
                undelivered: count("SELECT count(*) FROM outbox WHERE state != 'delivered'")?,
                runs: count("SELECT count(*) FROM runs")?,
                results: count("SELECT count(*) FROM results")?,
                timeline: count("SELECT count(*) FROM timeline")?,
                compacted: false,
            };
            tx.execute_batch(
                "DELETE FROM results; DELETE FROM outbox; DELETE FROM measurements; \
                 DELETE FROM runs; DELETE FROM reports; DELETE FROM collectors; \
                 DELETE FROM counters; DELETE FROM timeline; DELETE FROM checks; \
                 UPDATE totals SET measurements = 0, bytes = 0 WHERE id = 1;",
            )?;
            Ok(report)
        })?;
        // Compaction can fail (no space for the copy, another reader): the rows are deleted
        // and zeroed already, so that is reported, not an error.
        let conn = self.lock();
        let vacuumed = conn.execute_batch("VACUUM;").is_ok();
        let truncated = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|busy| busy == 0)
            .unwrap_or(false);
        report.compacted = vacuumed && truncated;
        Ok(report)
    }

    /// Writes the WAL into the main file and truncates the WAL (e.g. before copying the
    /// database). Returns false when another connection prevented it.
    pub fn checkpoint(&self) -> StoreResult<bool> {
        self.read("checkpointing", |conn| {
            let busy: i64 =
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            Ok(busy == 0)
        })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            path: PathBuf::new(),
            context: "",
            source,
        }
    }
}

/// The WAL file of a database file.
pub(crate) fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// The shared-memory index file of a database file.
pub(crate) fn shm_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-shm");
    PathBuf::from(name)
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Connection settings: durable commits, foreign keys, WAL (when writable), deleted content
/// zeroed.
fn configure(conn: &Connection, writable: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if writable {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot switch to WAL mode (got {mode})")),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", true)?;
    }
    Ok(())
}

/// Creates a new, fully migrated database at `path` without ever leaving a half-made file
/// there: it is built as a temporary file and renamed into place. So an empty or partial
/// `kuzet.db` is always damage, never "a new database".
fn create_atomically(dir: &Path, path: &Path) -> StoreResult<()> {
    let temporary = dir.join(format!(
        "{DATABASE_FILE_NAME}.new-{}",
        crate::random::uuid_v4().simple()
    ));
    let result = (|| -> StoreResult<()> {
        let mut conn = Connection::open_with_flags(
            &temporary,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify_open(&temporary, dir, e, "creating the database"))?;
        // Before the first write: the page size is fixed when the file is created.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(|e| classify_open(&temporary, dir, e, "creating the database"))?;
        configure(&conn, true)
            .map_err(|e| classify_open(&temporary, dir, e, "creating the database"))?;
        schema::migrate(&mut conn).map_err(|p| schema_error(&temporary, dir, p))?;
        conn.close()
            .map_err(|(_, e)| classify_sqlite(&temporary, e, "creating the database"))?;
        fs::File::open(&temporary)
            .and_then(|file| file.sync_all())
            .map_err(|e| io_error(&temporary, e))?;
        // A hard link never replaces an existing file: if another process created the
        // database meanwhile, theirs is kept (and may already hold measurements).
        match fs::hard_link(&temporary, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(_) if !path.exists() => {
                // File systems without hard links: rename (the race is then unguarded).
                fs::rename(&temporary, path).map_err(|e| io_error(path, e))?;
            }
            Err(_) => return Ok(()),
        }
        if let Ok(directory) = fs::File::open(dir) {
            let _ = directory.sync_all();
        }
        Ok(())
    })();
    for leftover in [
        temporary.clone(),
        wal_path(&temporary),
        shm_path(&temporary),
    ] {
        let _ = fs::remove_file(leftover);
    }
    result
}

/// Refuses files that cannot be an SQLite database before SQLite sees them: an empty file
/// (databases are created whole), a short one, or one without the SQLite header.
pub(crate) fn check_header(path: &Path) -> StoreResult<()> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(source) => return Err(io_error(path, source)),
    };
    let mut header = [0u8; 100];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(io_error(path, source)),
        }
    }
    let reason = if read == 0 {
        "the file is empty"
    } else if read < header.len() {
        "the file is shorter than an SQLite header"
    } else if &header[..16] != SQLITE_HEADER {
        "the file does not start with the SQLite header"
    } else {
        return Ok(());
    };
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    })
}

/// `PRAGMA quick_check`: reads every page, so truncation and damaged pages are found now.
fn quick_check(conn: &Connection, path: &Path) -> StoreResult<()> {
    let result = (|| -> rusqlite::Result<Vec<String>> {
        let mut statement = conn.prepare("PRAGMA quick_check(5)")?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })();
    match result {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(()),
        Ok(rows) => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("integrity check: {}", rows.join("; ")),
        }),
        Err(error) => Err(integrity_check_failure(path, error)),
    }
}

/// What a failure of `PRAGMA quick_check` itself (not a report of damage) means: damage when
/// SQLite says so or cannot make sense of the file; a full disk or a failed read or write of
/// the system otherwise, which recovery could not mend.
fn integrity_check_failure(path: &Path, error: rusqlite::Error) -> StoreError {
    // The system failed to read or write (not the file's content): not damage.
    let system_io = error.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure);
    match classify_sqlite(path, error, "checking the database") {
        StoreError::Sqlite { source, .. } if !system_io => StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("integrity check failed: {source}"),
        },
        other => other,
    }
}

/// A `file:` URI opening `path` as immutable and read-only.
fn immutable_uri(path: &Path) -> StoreResult<String> {
    let absolute = fs::canonicalize(path).map_err(|e| io_error(path, e))?;
    let url = url::Url::from_file_path(&absolute).map_err(|()| StoreError::Invalid {
        what: "database path",
        reason: "cannot be written as a file URI".to_string(),
    })?;
    Ok(format!("{url}?mode=ro&immutable=1"))
}

/// True when `dir` cannot be written (read-only mount or missing permission).
fn directory_is_read_only(dir: &Path) -> bool {
    let Some(text) = dir.to_str() else {
        return false;
    };
    let Ok(c_path) = CString::new(text) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) != 0 }
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    match source.raw_os_error() {
        Some(libc::EROFS) => StoreError::ReadOnly {
            path: path.to_path_buf(),
        },
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::DiskFull {
            path: path.to_path_buf(),
        },
        _ => StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Like [`classify_sqlite`], and a file that cannot be opened in a read-only directory is
/// [`StoreError::ReadOnly`].
fn classify_open(
    path: &Path,
    dir: &Path,
    error: rusqlite::Error,
    context: &'static str,
) -> StoreError {
    let cannot_open = matches!(
        &error,
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(e.code, rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::PermissionDenied)
    );
    if cannot_open && directory_is_read_only(dir) {
        return StoreError::ReadOnly {
            path: path.to_path_buf(),
        };
    }
    classify_sqlite(path, error, context)
}

/// Maps an SQLite error to the store error a person can act on.
pub(crate) fn classify_sqlite(
    path: &Path,
    source: rusqlite::Error,
    context: &'static str,
) -> StoreError {
    if let rusqlite::Error::SqliteFailure(error, message) = &source {
        let path = path.to_path_buf();
        match error.code {
            rusqlite::ErrorCode::DiskFull => return StoreError::DiskFull { path },
            // The WAL index (`-shm`) could not be grown: on Linux that write fails only when
            // the file system has no room left (tmpfs, a full data partition).
            rusqlite::ErrorCode::SystemIoFailure
                if error.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE =>
            {
                return StoreError::DiskFull { path }
            }
            rusqlite::ErrorCode::ReadOnly => return StoreError::ReadOnly { path },
            rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
                return StoreError::Corrupt {
                    path,
                    reason: message
                        .clone()
                        .unwrap_or_else(|| format!("{:?}", error.code)),
                }
            }
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return StoreError::Busy { path }
            }
            _ => {}
        }
    }
    StoreError::Sqlite {
        path: path.to_path_buf(),
        context,
        source,
    }
}

fn schema_error(path: &Path, dir: &Path, problem: SchemaProblem) -> StoreError {
    match problem {
        SchemaProblem::Foreign(reason) | SchemaProblem::Broken(reason) => StoreError::WrongSchema {
            path: path.to_path_buf(),
            reason,
        },
        SchemaProblem::TooNew(found) => StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: schema::LATEST_VERSION,
        },
        SchemaProblem::Sql(error) => classify_open(path, dir, error, "checking the schema"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite_error(extended_code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), Some(message.to_string()))
    }

    #[test]
    fn a_wal_index_that_cannot_grow_is_a_full_disk() {
        let path = Path::new("/data/kuzet.db");
        let error = classify_sqlite(
            path,
            sqlite_error(ffi::SQLITE_IOERR_SHMSIZE, "disk I/O error"),
            "opening the database",
        );
        assert!(matches!(error, StoreError::DiskFull { .. }), "{error}");
        assert!(!error.needs_recovery());
    }

    #[test]
    fn an_integrity_check_that_cannot_run_is_damage_only_when_sqlite_says_so() {
        let path = Path::new("/data/kuzet.db");
        // A full disk (seen when another process still held the space a deleted WAL used).
        let full = integrity_check_failure(
            path,
            sqlite_error(ffi::SQLITE_IOERR_SHMSIZE, "disk I/O error"),
        );
        assert!(matches!(full, StoreError::DiskFull { .. }), "{full}");
        // A read the system failed: an I/O error, not a file to move aside.
        let read =
            integrity_check_failure(path, sqlite_error(ffi::SQLITE_IOERR_READ, "disk I/O error"));
        assert!(matches!(read, StoreError::Sqlite { .. }), "{read}");
        assert!(!read.needs_recovery(), "{read}");
        // Damage stays damage, whichever way SQLite reports it.
        for code in [ffi::SQLITE_CORRUPT, ffi::SQLITE_NOTADB, ffi::SQLITE_ERROR] {
            let damaged = integrity_check_failure(path, sqlite_error(code, "malformed"));
            assert!(damaged.needs_recovery(), "{code}: {damaged}");
        }
    }
}
