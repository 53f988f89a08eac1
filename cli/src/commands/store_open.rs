//! Where the CLI keeps its store, opening it (results of earlier versions are upgraded then),
//! and uploading from it: shared by the commands that measure and by `results`, `queue`,
//! `upload`, `wipe`, `recover`. Results are recorded by the run itself
//! (`kuzet_core::session`), never here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::store::{
    format_ms, DeliveryState, Store, StoreError, StorePolicy, DATABASE_FILE_NAME,
};
use kuzet_core::upload::{
    flush, FlushOptions, FlushReport, HttpUploader, UploadManager, UploadPolicy,
};

use crate::error::CliError;

/// The environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "KUZET_DATA_DIR";

/// The store's location, shared by every command that uses it.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Where results and measurements are kept [default: $KUZET_DATA_DIR, else
    /// $XDG_DATA_HOME/kuzet, else ~/.local/share/kuzet].
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The data directory: the flag, else `$KUZET_DATA_DIR`, else the XDG data directory.
    pub fn dir(&self) -> Result<PathBuf, CliError> {
        resolve_data_dir(
            self.data_dir.as_deref(),
            std::env::var_os(DATA_DIR_ENV).map(PathBuf::from),
            std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }
}

/// The data directory from the flag, `$KUZET_DATA_DIR`, `$XDG_DATA_HOME` or `$HOME`, in that
/// order (empty and relative XDG values are ignored, as the XDG spec says).
pub fn resolve_data_dir(
    flag: Option<&Path>,
    kuzet_env: Option<PathBuf>,
    xdg_data_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf, CliError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = kuzet_env.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(dir);
    }
    if let Some(xdg) = xdg_data_home.filter(|d| d.is_absolute()) {
        return Ok(xdg.join("kuzet"));
    }
    if let Some(home) = home.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(home.join(".local/share/kuzet"));
    }
    Err(CliError::Usage(format!(
        "no data directory (no $HOME): pass --data-dir DIR or set {DATA_DIR_ENV} \
         (or --no-store, to keep nothing)"
    )))
}

/// A store error as the CLI reports it (the store's messages already say what to do).
pub fn store_error(error: StoreError) -> CliError {
    CliError::Run(error.to_string())
}

/// Runs a blocking store call off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CliError> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CliError::Run(format!("the store task failed: {e}")))?
}

/// Opens (or creates) the store in `dir` for writing, upgrading results recorded by earlier
/// versions.
pub async fn open(dir: PathBuf) -> Result<Arc<Store>, CliError> {
    blocking(move || {
        kuzet_core::session::open_store(&dir, StorePolicy::default())
            .map(Arc::new)
            .map_err(|e| match e {
                kuzet_core::session::SessionError::Store(error) => store_error(error),
                other => CliError::Run(other.to_string()),
            })
    })
    .await
}

/// Opens an existing store to read it: writable if possible, read-only if the directory is.
/// `None` when there is no store yet.
pub async fn open_existing(dir: PathBuf) -> Result<Option<Arc<Store>>, CliError> {
    blocking(move || {
        if !dir.join(DATABASE_FILE_NAME).exists() {
            return Ok(None);
        }
        match kuzet_core::session::open_store(&dir, StorePolicy::default()) {
            Ok(store) => Ok(Some(Arc::new(store))),
            Err(kuzet_core::session::SessionError::Store(StoreError::ReadOnly { .. })) => {
                Store::open_read_only(&dir)
                    .map(|store| Some(Arc::new(store)))
                    .map_err(store_error)
            }
            Err(kuzet_core::session::SessionError::Store(error)) => Err(store_error(error)),
            Err(other) => Err(CliError::Run(other.to_string())),
        }
    })
    .await
}

/// Where and how to upload.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    /// The collector's base URL.
    pub collector: String,
    /// The roots its certificate is checked against.
    pub trust: TrustAnchors,
    /// The longest the upload may take.
    pub max_time: Duration,
}

/// Uploads what is pending in `store` to the target; returns the flush report.
pub async fn upload(store: Arc<Store>, target: &UploadTarget) -> Result<FlushReport, CliError> {
    let manager = UploadManager::new(store, &target.collector, UploadPolicy::default())
        .map_err(|e| CliError::Usage(format!("--collector: {e}")))?;
    let manager = Arc::new(manager);
    let uploader = {
        let trust = target.trust.clone();
        let policy = manager.policy().clone();
        HttpUploader::new(&trust, &policy).map_err(|e| CliError::Run(e.to_string()))?
    };
    flush(
        manager,
        Arc::new(uploader),
        FlushOptions {
            max_duration: target.max_time,
        },
    )
    .await
    .map_err(|e| CliError::Run(format!("upload failed: {e}")))
}

/// What is left in the queue after an upload, as lines for people, and whether anything
/// deliverable is still waiting (pending, or parked by this upload).
pub async fn upload_summary(
    store: Arc<Store>,
    report: &FlushReport,
) -> Result<(String, bool), CliError> {
    let stats = blocking(move || store.queue_stats().map_err(store_error)).await?;
    let mut text = format!(
        "uploaded {} measurement{}",
        report.delivered,
        if report.delivered == 1 { "" } else { "s" }
    );
    if report.failures > 0 {
        text.push_str(&format!(
            "; {} failed attempt{}",
            report.failures,
            if report.failures == 1 { "" } else { "s" }
        ));
    }
    text.push('\n');
    if let Some((kind, message)) = &report.last_failure {
        text.push_str(&format!("last failure: {} ({message})\n", kind.describe()));
    }
    if stats.pending > 0 {
        let next = stats
            .collectors
            .iter()
            .map(|c| c.next_attempt_at_ms)
            .chain(stats.next_attempt_at_ms)
            .max()
            .filter(|at| *at > 0)
            .map(|at| format!(", next attempt after {} UTC", format_ms(at)))
            .unwrap_or_default();
        text.push_str(&format!(
            "{} measurement{} still waiting{next}; run `kuzet upload` again later\n",
            stats.pending,
            if stats.pending == 1 { " is" } else { "s are" }
        ));
    }
    if stats.held > 0 {
        text.push_str(&format!(
            "{} measurement{} held: the network (ASN/country) is unknown, and collectors drop \
             such measurements; measure with --probe-cc and --probe-asn\n",
            stats.held,
            if stats.held == 1 { " is" } else { "s are" }
        ));
    }
    if stats.parked > 0 {
        text.push_str(&format!(
            "{} measurement{} parked after being rejected or failing too often: see `kuzet \
             queue`; `kuzet upload --retry-parked` tries again\n",
            stats.parked,
            if stats.parked == 1 { " is" } else { "s are" }
        ));
    }
    let waiting = stats.pending > 0 || report.parked > 0;
    Ok((text, waiting))
}

/// A delivery state's label in tables.
pub fn state_label(state: Option<DeliveryState>) -> &'static str {
    match state {
        Some(state) => state.as_str(),
        None => "dropped",
    }
}

/// Lays out a table: headers, then rows, columns separated by two spaces, left-aligned,
/// control characters replaced, no trailing white space. Columns listed in `right` are
/// right-aligned.
pub fn columns(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let cells: Vec<Vec<String>> = std::iter::once(header)
        .chain(
            rows.iter()
                .map(|row| row.iter().map(|c| clean(c)).collect()),
        )
        .collect();
    let mut widths = vec![0; headers.len()];
    for row in &cells {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if right.contains(&i) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Uploads after `kuzet measure --upload`: prints what happened on standard error (standard
/// output may carry JSON lines) and fails when measurements are left waiting.
pub async fn upload_after_measure(
    store: Arc<Store>,
    target: &UploadTarget,
) -> Result<(), CliError> {
    let report = upload(store.clone(), target).await?;
    let (text, waiting) = upload_summary(store, &report).await?;
    eprint!("{text}");
    if waiting {
        return Err(CliError::Run(
            "the measurements are stored, but not all could be uploaded; `kuzet upload` retries"
                .to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_order() {
        let flag = PathBuf::from("/flag");
        let env = Some(PathBuf::from("/env"));
        let xdg = Some(PathBuf::from("/xdg"));
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            resolve_data_dir(Some(&flag), env.clone(), xdg.clone(), home.clone()).unwrap(),
            flag
        );
        assert_eq!(
            resolve_data_dir(None, env, xdg.clone(), home.clone()).unwrap(),
            PathBuf::from("/env")
        );
        assert_eq!(
            resolve_data_dir(None, Some(PathBuf::new()), xdg, home.clone()).unwrap(),
            PathBuf::from("/xdg/kuzet")
        );
        assert_eq!(
            resolve_data_dir(None, None, Some(PathBuf::from("relative")), home).unwrap(),
            PathBuf::from("/home/u/.local/share/kuzet")
        );
        assert!(resolve_data_dir(None, None, None, None).is_err());
    }
}
