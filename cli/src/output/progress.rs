//! The progress bar on standard error: done/total and the URL last started. indicatif hides it
//! by itself when standard error is not a terminal, so pipes and tests see nothing of it.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The layout of the bar.
const TEMPLATE: &str = "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}";

/// A progress bar over a number of URLs. Cheap to clone; every clone drives the same bar.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` URLs on standard error.
    pub fn new(total: usize) -> Progress {
        Self::with_target(total, ProgressDrawTarget::stderr())
    }

    /// A bar that draws nothing.
    #[cfg(test)]
    pub fn hidden(total: usize) -> Progress {
        Self::with_target(total, ProgressDrawTarget::hidden())
    }

    fn with_target(total: usize, target: ProgressDrawTarget) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        let style = ProgressStyle::with_template(TEMPLATE)
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        if !bar.is_hidden() {
            // Keeps the spinner and the clock moving while a slow URL times out.
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress { bar }
    }

    /// Shows `url` as the URL being measured.
    pub fn started(&self, url: &str) {
        self.bar.set_message(url.to_string());
    }

    /// Counts one URL as done.
    pub fn finished_one(&self) {
        self.bar.inc(1);
    }

    /// Runs `f` with the bar cleared, so that `f` can print without tearing it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// How many URLs are done.
    #[cfg(test)]
    pub fn done(&self) -> u64 {
        self.bar.position()
    }

    /// Removes the bar from the terminal.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_urls() {
        let progress = Progress::hidden(3);
        progress.started("https://a.example/");
        progress.finished_one();
        progress.clone().finished_one();
        assert_eq!(progress.done(), 2);
        assert_eq!(progress.suspend(|| 7), 7);
        progress.clear();
    }

    #[test]
    fn template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }
}
