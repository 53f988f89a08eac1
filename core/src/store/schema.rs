//! The versioned schema and its migrations.
//!
//! A Kuzet database is marked with [`APPLICATION_ID`] (`PRAGMA application_id`) and its schema
//! version is `PRAGMA user_version`. [`MIGRATIONS`]`[i]` takes a database from version `i` to
//! `i + 1`; each runs in its own transaction together with the version bump, so a crash during
//! a migration leaves the previous version intact. After migrating, the schema is checked
//! against [`EXPECTED_COLUMNS`], so a damaged or hand-edited schema is reported rather than
//! half-used.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// `PRAGMA application_id` of Kuzet databases ("KZT1").
pub const APPLICATION_ID: i32 = 0x4b5a_5431;

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // Version 1: the initial schema. Times are milliseconds since the Unix epoch (UTC).
    r#"
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    started_at_ms   INTEGER NOT NULL,
    finished_at_ms  INTEGER,
    suite           TEXT NOT NULL,
    probe_asn       TEXT NOT NULL,
    probe_cc        TEXT NOT NULL,
    network_name    TEXT NOT NULL DEFAULT '',
    network_type    TEXT NOT NULL DEFAULT 'unknown'
);
CREATE INDEX runs_started ON runs (started_at_ms);

CREATE TABLE measurements (
    id                  TEXT PRIMARY KEY NOT NULL,
    run_id              INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    created_at_ms       INTEGER NOT NULL,
    data_format_version TEXT NOT NULL,
    test_name           TEXT NOT NULL,
    test_version        TEXT NOT NULL,
    software_name       TEXT NOT NULL,
    software_version    TEXT NOT NULL,
    probe_asn           TEXT NOT NULL,
    probe_cc            TEXT NOT NULL,
    test_start_time     TEXT NOT NULL,
    input               TEXT,
    raw_size            INTEGER NOT NULL,
    stored_size         INTEGER NOT NULL,
    encoding            TEXT NOT NULL DEFAULT 'gzip',
    body                BLOB NOT NULL
);
CREATE INDEX measurements_created ON measurements (created_at_ms);
CREATE INDEX measurements_run ON measurements (run_id);

CREATE TABLE outbox (
    measurement_id      TEXT PRIMARY KEY NOT NULL
                        REFERENCES measurements (id) ON DELETE CASCADE,
    state               TEXT NOT NULL
                        CHECK (state IN ('pending', 'held', 'parked', 'delivered')),
    enqueued_at_ms      INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    network_failures    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  INTEGER NOT NULL,
    last_attempt_at_ms  INTEGER,
    last_error_kind     TEXT,
    last_error          TEXT,
    delivered_at_ms     INTEGER,
    collector           TEXT,
    report_id           TEXT,
    measurement_uid     TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);

CREATE TABLE results (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    measurement_id  TEXT NOT NULL UNIQUE,
    test_name       TEXT NOT NULL,
    target          TEXT NOT NULL,
    verdict         TEXT NOT NULL,
    verdict_json    TEXT NOT NULL,
    failure         TEXT,
    started_at_ms   INTEGER NOT NULL,
    finished_at_ms  INTEGER NOT NULL
);
CREATE INDEX results_run ON results (run_id);

CREATE TABLE reports (
    collector       TEXT NOT NULL,
    template_key    TEXT NOT NULL,
    report_id       TEXT NOT NULL,
    opened_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (collector, template_key)
);

CREATE TABLE collectors (
    collector               TEXT PRIMARY KEY NOT NULL,
    consecutive_failures    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms      INTEGER NOT NULL DEFAULT 0,
    last_error_kind         TEXT,
    last_error              TEXT,
    last_failure_at_ms      INTEGER,
    last_success_at_ms      INTEGER
);

CREATE TABLE counters (
    name    TEXT PRIMARY KEY NOT NULL,
    value   INTEGER NOT NULL
);

CREATE TABLE totals (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    measurements    INTEGER NOT NULL,
    bytes           INTEGER NOT NULL
);
INSERT INTO totals (id, measurements, bytes) VALUES (1, 0, 0);
CREATE TRIGGER measurements_count_insert AFTER INSERT ON measurements BEGIN
    UPDATE totals SET measurements = measurements + 1, bytes = bytes + NEW.stored_size
    WHERE id = 1;
END;
CREATE TRIGGER measurements_count_delete AFTER DELETE ON measurements BEGIN
    UPDATE totals SET measurements = measurements - 1, bytes = bytes - OLD.stored_size
    WHERE id = 1;
END;
CREATE TRIGGER measurements_count_update AFTER UPDATE OF stored_size ON measurements BEGIN
    UPDATE totals SET bytes = bytes - OLD.stored_size + NEW.stored_size WHERE id = 1;
END;

CREATE TABLE timeline (
    id              INTEGER PRIMARY KEY,
    at_ms           INTEGER NOT NULL,
    status          TEXT NOT NULL,
    network_type    TEXT NOT NULL DEFAULT 'unknown',
    probe_asn       TEXT,
    probe_cc        TEXT,
    evidence_json   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_at ON timeline (at_ms);
"#,
    // Version 2: one vocabulary. A result's `verdict` is its verdict's word (e.g.
    // `dns_tampered`), `verdict_group` the group screens sort it in, and `verdict_json` a typed
    // record of version `detail_version` (rows of version 1 are upgraded by kuzet-core's
    // session::legacy when a store is opened for writing). A run keeps how it ended, how many
    // targets it planned and which it did not measure. Every connectivity check's time and
    // status is kept (the newest few), so a run can reuse a recent one.
    r#"
ALTER TABLE runs ADD COLUMN status TEXT;
ALTER TABLE runs ADD COLUMN planned INTEGER;
ALTER TABLE runs ADD COLUMN not_measured_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE results ADD COLUMN verdict_group TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN detail_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX results_detail_version ON results (detail_version);

CREATE TABLE checks (
    id              INTEGER PRIMARY KEY,
    started_at_ms   INTEGER NOT NULL,
    ended_at_ms     INTEGER NOT NULL,
    status          TEXT NOT NULL
);
CREATE INDEX checks_ended ON checks (ended_at_ms);
"#,
];

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables of the latest schema and the columns each must have.
pub const EXPECTED_COLUMNS: &[(&str, &[&str])] = &[
    (
        "runs",
        &[
            "id",
            "started_at_ms",
            "finished_at_ms",
            "suite",
            "probe_asn",
            "probe_cc",
            "network_name",
            "network_type",
            "status",
            "planned",
            "not_measured_json",
        ],
    ),
    (
        "measurements",
        &[
            "id",
            "run_id",
            "created_at_ms",
            "data_format_version",
            "test_name",
            "test_version",
            "software_name",
            "software_version",
            "probe_asn",
            "probe_cc",
            "test_start_time",
            "input",
            "raw_size",
            "stored_size",
            "encoding",
            "body",
        ],
    ),
    (
        "outbox",
        &[
            "measurement_id",
            "state",
            "enqueued_at_ms",
            "attempts",
            "network_failures",
            "next_attempt_at_ms",
            "last_attempt_at_ms",
            "last_error_kind",
            "last_error",
            "delivered_at_ms",
            "collector",
            "report_id",
            "measurement_uid",
        ],
    ),
    (
        "results",
        &[
            "id",
            "run_id",
            "measurement_id",
            "test_name",
            "target",
            "verdict",
            "verdict_json",
            "failure",
            "started_at_ms",
            "finished_at_ms",
            "verdict_group",
            "detail_version",
        ],
    ),
    (
        "reports",
        &["collector", "template_key", "report_id", "opened_at_ms"],
    ),
    (
        "collectors",
        &[
            "collector",
            "consecutive_failures",
            "next_attempt_at_ms",
            "last_error_kind",
            "last_error",
            "last_failure_at_ms",
            "last_success_at_ms",
        ],
    ),
    ("counters", &["name", "value"]),
    ("totals", &["id", "measurements", "bytes"]),
    (
        "timeline",
        &[
            "id",
            "at_ms",
            "status",
            "network_type",
            "probe_asn",
            "probe_cc",
            "evidence_json",
        ],
    ),
    ("checks", &["id", "started_at_ms", "ended_at_ms", "status"]),
];

/// Why a schema cannot be used.
#[derive(Debug)]
pub enum SchemaProblem {
    /// Not a Kuzet database (another application id, or tables of another application).
    Foreign(String),
    /// A Kuzet database written by a newer version.
    TooNew(i64),
    /// A Kuzet database whose schema does not match its version.
    Broken(String),
    /// SQLite failed.
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for SchemaProblem {
    fn from(error: rusqlite::Error) -> Self {
        SchemaProblem::Sql(error)
    }
}

/// The schema version of an open database, and whether it carries Kuzet's application id.
pub fn version_of(conn: &Connection) -> rusqlite::Result<(i32, i64)> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    Ok((app_id, version))
}

/// The names of the user tables in the database.
pub fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// The column names of `table` (empty if there is no such table).
pub fn columns_of(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = statement
        .query_map([table], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// Checks, without writing anything, that the database is empty or a Kuzet database of a
/// version this build can migrate.
pub fn check_identity(conn: &Connection) -> Result<(), SchemaProblem> {
    let (app_id, version) = version_of(conn)?;
    if app_id == 0 && version == 0 {
        let tables = table_names(conn)?;
        if !tables.is_empty() {
            return Err(SchemaProblem::Foreign(format!(
                "it has tables ({}) but no Kuzet application id",
                tables.join(", ")
            )));
        }
    } else if app_id != APPLICATION_ID {
        return Err(SchemaProblem::Foreign(format!(
            "its application id is {app_id:#x}, not Kuzet's {APPLICATION_ID:#x}"
        )));
    }
    if version > LATEST_VERSION {
        return Err(SchemaProblem::TooNew(version));
    }
    if version < 0 {
        return Err(SchemaProblem::Broken(format!(
            "negative schema version {version}"
        )));
    }
    Ok(())
}

/// Brings a writable database to [`LATEST_VERSION`], creating the schema in an empty file.
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaProblem> {
    check_identity(conn)?;
    let (_, version) = version_of(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let transaction = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let current: i64 =
            transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if current > index as i64 {
            transaction.commit()?;
            continue;
        }
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
        transaction.commit()?;
    }
    verify(conn)
}

/// Checks that the database is a Kuzet database of a version this build can read, with every
/// expected table and column (read-only: nothing is created).
pub fn verify(conn: &Connection) -> Result<(), SchemaProblem> {
    let (app_id, version) = version_of(conn)?;
    if app_id != APPLICATION_ID {
        let tables = table_names(conn)?;
        return Err(SchemaProblem::Foreign(if tables.is_empty() {
            "it is empty".to_string()
        } else {
            format!(
                "its application id is {app_id:#x} and its tables are {}",
                tables.join(", ")
            )
        }));
    }
    if version > LATEST_VERSION {
        return Err(SchemaProblem::TooNew(version));
    }
    if version < LATEST_VERSION {
        return Err(SchemaProblem::Broken(format!(
            "schema version {version} needs a migration, which a read-only store cannot do"
        )));
    }
    for (table, expected) in EXPECTED_COLUMNS {
        let columns = columns_of(conn, table)?;
        if columns.is_empty() {
            return Err(SchemaProblem::Broken(format!("table {table} is missing")));
        }
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|c| !columns.iter().any(|have| have == c))
            .collect();
        if !missing.is_empty() {
            return Err(SchemaProblem::Broken(format!(
                "table {table} lacks {}",
                missing.join(", ")
            )));
        }
    }
    let totals: Option<i64> = conn
        .query_row("SELECT measurements FROM totals WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    if totals.is_none() {
        return Err(SchemaProblem::Broken(
            "the totals row is missing".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_and_verifies() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version_of(&conn).unwrap(), (APPLICATION_ID, LATEST_VERSION));
        // Migrating again is a no-op.
        migrate(&mut conn).unwrap();
        verify(&conn).unwrap();
    }

    #[test]
    fn refuses_foreign_and_newer_databases() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT);")
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaProblem::Foreign(_))));

        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaProblem::Foreign(_))));

        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaProblem::TooNew(_))));
    }

    #[test]
    fn a_missing_table_is_reported() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch("DROP TABLE timeline;").unwrap();
        match verify(&conn) {
            Err(SchemaProblem::Broken(reason)) => assert!(reason.contains("timeline")),
            other => panic!("{other:?}"),
        }
    }
}
