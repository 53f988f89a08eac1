//! A damaged or foreign database gives a clear error, is never silently replaced by an empty
//! one, and recovery keeps the old file and salvages what is readable.

mod store_support;

use std::fs;
use std::path::Path;

use kuzet_core::store::schema::{APPLICATION_ID, LATEST_VERSION};
use kuzet_core::store::{
    recover, DeliveryState, Store, StoreError, StorePolicy, DATABASE_FILE_NAME,
};
use store_support::{incompressible, kz, ok, run};

/// A store with `n` measurements (about 3 KB each, incompressible), closed cleanly (so the
/// WAL is checkpointed into the main file). Returns the ids.
fn filled_store(dir: &Path, n: usize) -> Vec<String> {
    let store = Store::open(dir, StorePolicy::no_limits()).unwrap();
    let run_id = store.begin_run(&run(&kz())).unwrap();
    let ids = (0..n)
        .map(|i| {
            let url = format!("https://site{i}.example/");
            let m = incompressible(&url, &kz(), 3_000, i as u64);
            store
                .record(run_id, &m, &ok(&url), None)
                .unwrap()
                .measurement_id
        })
        .collect();
    drop(store);
    assert!(!dir.join(format!("{DATABASE_FILE_NAME}-wal")).exists());
    ids
}

fn expect_needs_recovery(dir: &Path) -> StoreError {
    match Store::open(dir, StorePolicy::default()) {
        Ok(_) => panic!("a damaged database opened"),
        Err(error) => {
            assert!(error.needs_recovery(), "{error}");
            let text = error.to_string();
            assert!(
                text.contains("recover"),
                "the error says what to do: {text}"
            );
            assert!(
                text.contains(DATABASE_FILE_NAME),
                "the error names the file: {text}"
            );
            error
        }
    }
}

#[test]
fn garbage_is_refused_kept_and_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE_NAME);
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(&path, &garbage).unwrap();
    let error = expect_needs_recovery(dir.path());
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert_eq!(
        fs::read(&path).unwrap(),
        garbage,
        "the file was not touched"
    );
    // Opening read-only refuses it too.
    assert!(Store::open_read_only(dir.path()).is_err());

    let (store, report) = recover(dir.path(), StorePolicy::default()).unwrap();
    let aside = report.moved_to.clone().expect("moved aside");
    assert_eq!(fs::read(&aside).unwrap(), garbage, "kept byte for byte");
    assert!(report.problem.as_deref().unwrap().contains("header"));
    assert_eq!(report.salvaged_from("measurements"), 0);
    assert_eq!(store.stats().unwrap().measurements, 0);
    drop(store);
    // The new database opens normally from now on.
    Store::open(dir.path(), StorePolicy::default()).unwrap();
}

#[test]
fn empty_and_short_files_are_damage_not_a_fresh_start() {
    for content in [&b""[..], &b"SQLite format 3\0short"[..]] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(DATABASE_FILE_NAME), content).unwrap();
        assert!(matches!(
            expect_needs_recovery(dir.path()),
            StoreError::Corrupt { .. }
        ));
    }
}

#[test]
fn a_truncated_file_is_detected_and_its_readable_rows_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled_store(dir.path(), 60);
    let path = dir.path().join(DATABASE_FILE_NAME);
    let len = fs::metadata(&path).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len * 6 / 10).unwrap();
    drop(file);
    let error = expect_needs_recovery(dir.path());
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        len * 6 / 10,
        "untouched"
    );

    let (store, report) = recover(dir.path(), StorePolicy::default()).unwrap();
    let salvaged = report.salvaged_from("measurements");
    assert!(salvaged > 0, "{report:?}");
    assert!(salvaged < ids.len() as u64, "{report:?}");
    assert!(report.unreadable > 0, "{report:?}");
    // Every salvaged measurement is whole, one of ours, and on its way to the collector.
    let kept = store.measurement_ids().unwrap();
    assert_eq!(kept.len() as u64, salvaged);
    for id in &kept {
        assert!(ids.contains(id));
        let m = store.measurement(id).unwrap().unwrap();
        assert_eq!(m.id.as_deref(), Some(id.as_str()));
    }
    let queue = store.queue(&[], 1000).unwrap();
    assert_eq!(queue.len(), kept.len());
    assert!(queue
        .iter()
        .all(|item| item.state == DeliveryState::Pending));
    assert_eq!(store.runs(10).unwrap().len(), 1, "the run was salvaged too");
    assert!(report.moved_to.unwrap().exists());
}

#[test]
fn a_damaged_page_in_the_middle_costs_only_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled_store(dir.path(), 80);
    let path = dir.path().join(DATABASE_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    let page = 4096;
    let pages = bytes.len() / page;
    // Overwrite a page in the middle of the file with garbage.
    let victim = pages / 2;
    for b in &mut bytes[victim * page..(victim + 1) * page] {
        *b = 0xA5;
    }
    fs::write(&path, &bytes).unwrap();
    expect_needs_recovery(dir.path());
    let (store, report) = recover(dir.path(), StorePolicy::default()).unwrap();
    let salvaged = report.salvaged_from("measurements") as usize;
    assert!(
        salvaged >= ids.len() - 10,
        "lost at most a few rows: {report:?}"
    );
    for id in store.measurement_ids().unwrap() {
        assert!(store.measurement(&id).unwrap().is_some());
    }
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_never_mined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('someone else''s data');",
        )
        .unwrap();
    }
    let before = fs::read(&path).unwrap();
    let error = expect_needs_recovery(dir.path());
    assert!(matches!(error, StoreError::WrongSchema { .. }), "{error}");
    assert!(error.to_string().contains("notes"), "{error}");
    assert_eq!(fs::read(&path).unwrap(), before);
    let (store, report) = recover(dir.path(), StorePolicy::default()).unwrap();
    assert!(report.foreign);
    assert_eq!(fs::read(report.moved_to.unwrap()).unwrap(), before);
    assert_eq!(store.stats().unwrap().measurements, 0);
}

#[test]
fn a_kuzet_database_missing_a_table_is_refused_and_the_rest_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled_store(dir.path(), 5);
    {
        let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE_NAME)).unwrap();
        conn.execute_batch("DROP TABLE timeline;").unwrap();
    }
    let error = expect_needs_recovery(dir.path());
    assert!(matches!(error, StoreError::WrongSchema { .. }), "{error}");
    assert!(error.to_string().contains("timeline"), "{error}");
    let (store, report) = recover(dir.path(), StorePolicy::default()).unwrap();
    assert!(!report.foreign);
    assert_eq!(report.salvaged_from("measurements"), 5);
    assert_eq!(report.salvaged_from("outbox"), 5);
    assert!(report.unreadable_tables.contains(&"timeline".to_string()));
    assert_eq!(store.measurement_ids().unwrap(), ids);
}

#[test]
fn a_newer_schema_is_refused_and_recovery_does_not_touch_it() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 2);
    let path = dir.path().join(DATABASE_FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        assert_eq!(app_id, APPLICATION_ID);
    }
    let error = Store::open(dir.path(), StorePolicy::default()).unwrap_err();
    assert!(matches!(error, StoreError::TooNew { .. }), "{error}");
    assert!(!error.needs_recovery());
    assert!(matches!(
        recover(dir.path(), StorePolicy::default()),
        Err(StoreError::TooNew { .. })
    ));
    assert!(path.exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing moved"
    );
}

#[test]
fn recovery_of_a_healthy_store_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled_store(dir.path(), 3);
    let (store, report) = recover(dir.path(), StorePolicy::default()).unwrap();
    assert!(report.moved_to.is_none() && report.problem.is_none());
    assert_eq!(store.measurement_ids().unwrap(), ids);
}
