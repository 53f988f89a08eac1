//! A full disk and a read-only directory: clear errors, and nothing already stored is lost.
//! These tests mount file systems, so they need root (CI runs as root); elsewhere they say
//! SKIPPED (set KUZET_REQUIRE_MOUNTS=1 to make that a failure).

mod store_support;

use std::fs;
use std::sync::{Mutex, MutexGuard};

use kuzet_core::store::{Store, StoreError, StorePolicy, DATABASE_FILE_NAME};
use store_support::{incompressible, kz, ok, run, Mount};

/// These tests run one at a time. Each runs `mount`, and a child process holds a copy of every
/// open file descriptor of this process until it executes `mount`: space that another test
/// frees by deleting a file (SQLite's WAL, on the small tmpfs) is not free until then, and the
/// full-disk test reopening its store would find the disk still full.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the others may still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_full_disk_fails_writes_clearly_and_keeps_what_was_stored() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(dir.path(), "1m") else {
        return;
    };
    // Something to delete later, to make room again.
    let filler = dir.path().join("filler");
    fs::write(&filler, vec![0u8; 200 * 1024]).unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data, StorePolicy::no_limits()).unwrap();
    let run_id = store.begin_run(&run(&kz())).unwrap();
    let mut stored = Vec::new();
    let mut failure = None;
    for i in 0..1000 {
        let url = format!("https://site{i}.example/");
        match store.record(
            run_id,
            &incompressible(&url, &kz(), 20_000, i),
            &ok(&url),
            None,
        ) {
            Ok(recorded) => stored.push(recorded.measurement_id),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let failure = failure.expect("a 1 MiB disk fills up");
    assert!(matches!(failure, StoreError::DiskFull { .. }), "{failure}");
    let text = failure.to_string();
    assert!(
        text.contains("disk is full") && text.contains("nothing already stored was lost"),
        "{text}"
    );
    assert!(stored.len() > 5, "some measurements fit: {}", stored.len());
    // What was stored before the failure is intact, in this connection...
    assert_eq!(store.measurement_ids().unwrap(), stored);
    for id in &stored {
        assert!(store.measurement(id).unwrap().is_some());
    }
    // ...and after making room, writing works again and nothing was lost.
    fs::remove_file(&filler).unwrap();
    let url = "https://after.example/";
    let after = store
        .record(
            run_id,
            &incompressible(url, &kz(), 20_000, 9999),
            &ok(url),
            None,
        )
        .unwrap();
    drop(store);
    let store = Store::open(&data, StorePolicy::no_limits()).unwrap();
    let ids = store.measurement_ids().unwrap();
    assert_eq!(ids.len(), stored.len() + 1);
    assert!(ids.contains(&after.measurement_id));
    drop(store);
    drop(mount);
}

#[test]
fn a_read_only_directory_refuses_writes_and_still_reads_everything() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let view = dir.path().join("view");
    fs::create_dir_all(&view).unwrap();
    let ids: Vec<String> = {
        let store = Store::open(&data, StorePolicy::default()).unwrap();
        let run_id = store.begin_run(&run(&kz())).unwrap();
        (0..10)
            .map(|i| {
                let url = format!("https://site{i}.example/");
                store
                    .record(
                        run_id,
                        &incompressible(&url, &kz(), 500, i),
                        &ok(&url),
                        None,
                    )
                    .unwrap()
                    .measurement_id
            })
            .collect()
    };
    let before = fs::read(data.join(DATABASE_FILE_NAME)).unwrap();
    let Some(mount) = Mount::read_only_bind(&data, &view) else {
        return;
    };
    let error = Store::open(&view, StorePolicy::default()).unwrap_err();
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error}");
    assert!(error.to_string().contains("read-only"), "{error}");
    let store = Store::open_read_only(&view).unwrap();
    assert_eq!(store.measurement_ids().unwrap(), ids);
    assert_eq!(store.runs(10).unwrap()[0].results, 10);
    let write = store.begin_run(&run(&kz())).unwrap_err();
    assert!(matches!(write, StoreError::OpenedReadOnly(_)), "{write}");
    drop(store);
    drop(mount);
    assert_eq!(fs::read(data.join(DATABASE_FILE_NAME)).unwrap(), before);
    let store = Store::open(&data, StorePolicy::default()).unwrap();
    assert_eq!(store.measurement_ids().unwrap(), ids);
}

#[test]
fn a_read_only_directory_with_an_unfinished_wal_is_still_readable() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let view = dir.path().join("view");
    fs::create_dir_all(&view).unwrap();
    let store = Store::open(&data, StorePolicy::default()).unwrap();
    let run_id = store.begin_run(&run(&kz())).unwrap();
    let ids: Vec<String> = (0..5)
        .map(|i| {
            let url = format!("https://wal{i}.example/");
            store
                .record(
                    run_id,
                    &incompressible(&url, &kz(), 500, i),
                    &ok(&url),
                    None,
                )
                .unwrap()
                .measurement_id
        })
        .collect();
    // As if the app were killed: the connection is never closed, the WAL is not checkpointed.
    std::mem::forget(store);
    assert!(data.join(format!("{DATABASE_FILE_NAME}-wal")).exists());
    let Some(mount) = Mount::read_only_bind(&data, &view) else {
        return;
    };
    let store = Store::open_read_only(&view).unwrap();
    assert_eq!(store.measurement_ids().unwrap(), ids);
    drop(store);
    drop(mount);
}
