//! The human-readable table of `kuzet measure`: one line per URL, then a one-line summary.

#[cfg(test)]
use kuzet_core::experiment::urlgetter::UrlSummary;

/// The widest a URL cell gets; longer URLs end in an ellipsis.
pub const MAX_URL_WIDTH: usize = 60;
/// The widest a failure cell gets (unknown failures can carry long error texts).
pub const MAX_FAILURE_WIDTH: usize = 60;
/// What an empty cell shows.
const EMPTY: &str = "-";
/// Between columns.
const GAP: &str = "  ";

/// How one URL ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every step succeeded (whatever the HTTP status).
    Ok,
    /// A step failed: the failure is the result.
    Failed,
    /// Not measured: the run stopped (Ctrl-C, a budget) before it, or its task died.
    NotMeasured,
}

impl Outcome {
    /// The word shown in the VERDICT column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::NotMeasured => "not measured",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The URL measured.
    pub url: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The step that failed (`resolve`, `connect`, `tls_handshake`, `http_round_trip`).
    pub failed_step: Option<String>,
    /// The failure string, or the error for [`Outcome::NotMeasured`].
    pub failure: Option<String>,
    /// The final HTTP status.
    pub status: Option<u16>,
    /// Time spent, in milliseconds.
    pub time_ms: Option<u128>,
    /// Bytes received from the network.
    pub bytes_received: u64,
}

impl Row {
    /// The row of a measured URL, from urlgetter's summary (the tables' tests build rows so).
    #[cfg(test)]
    pub fn from_summary(summary: &UrlSummary) -> Row {
        let failed = summary.failure.is_some() || summary.failed_operation.is_some();
        Row {
            url: summary.url.clone(),
            outcome: if failed { Outcome::Failed } else { Outcome::Ok },
            failed_step: summary.failed_operation.clone(),
            failure: summary.failure.as_ref().map(|f| f.as_str().into_owned()),
            status: summary.status_code,
            time_ms: Some(summary.runtime.as_millis()),
            bytes_received: summary.bytes_received,
        }
    }

    /// The row of a URL's result as the run reported it.
    pub fn from_result(result: &kuzet_core::session::TargetResult) -> Row {
        let failed = result.failure.is_some() || result.failed_operation.is_some();
        Row {
            url: result.target.clone(),
            outcome: if failed { Outcome::Failed } else { Outcome::Ok },
            failed_step: result.failed_operation.clone(),
            failure: result.failure.clone(),
            status: result.status_code,
            time_ms: Some(result.runtime.as_millis()),
            bytes_received: result.bytes_received,
        }
    }

    /// The row of a URL the run did not measure.
    pub fn not_measured(url: &str) -> Row {
        Row {
            url: url.to_string(),
            outcome: Outcome::NotMeasured,
            failed_step: None,
            failure: None,
            status: None,
            time_ms: None,
            bytes_received: 0,
        }
    }
}

/// Counts over a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// URLs with a measurement (`ok` plus `failed`).
    pub measured: usize,
    /// URLs where every step succeeded.
    pub ok: usize,
    /// URLs where a step failed.
    pub failed: usize,
    /// URLs that could not be measured.
    pub errors: usize,
    /// Bytes received, all URLs together.
    pub bytes_received: u64,
}

impl Totals {
    /// Adds one row.
    pub fn add(&mut self, row: &Row) {
        match row.outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::NotMeasured => self.errors += 1,
        }
        if row.outcome != Outcome::NotMeasured {
            self.measured += 1;
        }
        self.bytes_received = self.bytes_received.saturating_add(row.bytes_received);
    }

    /// Counts every row.
    pub fn of(rows: &[Row]) -> Totals {
        let mut totals = Totals::default();
        rows.iter().for_each(|row| totals.add(row));
        totals
    }
}

/// Formats the table: a header, then one line per row in the given order. Every line ends in
/// `\n`; no line has trailing white space.
pub fn format_table(rows: &[Row]) -> String {
    const HEADERS: [&str; 6] = ["URL", "VERDICT", "FAILED STEP", "FAILURE", "STATUS", "TIME"];
    // Numbers are right-aligned, text left-aligned.
    const RIGHT: [bool; 6] = [false, false, false, false, true, true];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                truncate(&clean(&row.url), MAX_URL_WIDTH),
                row.outcome.as_str().to_string(),
                row.failed_step
                    .as_deref()
                    .map(clean)
                    .unwrap_or_else(|| EMPTY.into()),
                row.failure
                    .as_deref()
                    .map(|f| truncate(&clean(f), MAX_FAILURE_WIDTH))
                    .unwrap_or_else(|| EMPTY.into()),
                row.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| EMPTY.into()),
                row.time_ms
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_else(|| EMPTY.into()),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(width);
    for line in &cells {
        for (column, cell) in line.iter().enumerate() {
            widths[column] = widths[column].max(width(cell));
        }
    }
    let mut out = String::new();
    let header = HEADERS.map(str::to_string);
    for line in std::iter::once(&header).chain(&cells) {
        let mut text = String::new();
        for (column, cell) in line.iter().enumerate() {
            if column > 0 {
                text.push_str(GAP);
            }
            let pad = " ".repeat(widths[column] - width(cell));
            if RIGHT[column] {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// The one-line summary: `3 measured, 2 ok, 1 failed, 1234 bytes received`, plus the URLs that
/// could not be measured, if any.
pub fn format_summary(totals: &Totals) -> String {
    let mut text = format!(
        "{} measured, {} ok, {} failed",
        totals.measured, totals.ok, totals.failed
    );
    if totals.errors > 0 {
        text.push_str(&format!(", {} not measured", totals.errors));
    }
    text.push_str(&format!(
        ", {} received",
        format_bytes(totals.bytes_received)
    ));
    text
}

/// `512 bytes`, or `48213 bytes (47.1 KiB)` from 1 KiB up.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{bytes} bytes ({value:.1} {})", UNITS[unit])
}

/// Shortens `text` to at most `max` characters, ending it with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Replaces control characters (new lines, tabs, escapes) so a cell stays on its line.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The width of a cell, in characters.
fn width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kuzet_core::Failure;
    use std::time::Duration;

    fn summary(url: &str) -> UrlSummary {
        UrlSummary {
            url: url.to_string(),
            failed_operation: None,
            failure: None,
            status_code: Some(200),
            final_url: url.to_string(),
            redirects: 0,
            body_length: 1256,
            bytes_received: 1500,
            runtime: Duration::from_millis(42),
        }
    }

    fn failed(url: &str, step: &str, failure: Failure, ms: u64) -> UrlSummary {
        UrlSummary {
            failed_operation: Some(step.to_string()),
            failure: Some(failure),
            status_code: None,
            body_length: 0,
            bytes_received: 0,
            runtime: Duration::from_millis(ms),
            ..summary(url)
        }
    }

    #[test]
    fn rows_from_summaries() {
        let ok = Row::from_summary(&summary("https://a.example/"));
        assert_eq!(ok.outcome, Outcome::Ok);
        assert_eq!(
            (ok.status, ok.time_ms, ok.bytes_received),
            (Some(200), Some(42), 1500)
        );
        let refused = Row::from_summary(&failed(
            "http://b.example/",
            "connect",
            Failure::ConnectionRefused,
            3,
        ));
        assert_eq!(refused.outcome, Outcome::Failed);
        assert_eq!(refused.failed_step.as_deref(), Some("connect"));
        assert_eq!(refused.failure.as_deref(), Some("connection_refused"));
        assert_eq!(refused.status, None);
    }

    #[test]
    fn table_layout() {
        let rows = [
            Row::from_summary(&summary("https://a.example/")),
            Row::from_summary(&failed(
                "http://blocked.example/page",
                "tls_handshake",
                Failure::SslUnknownAuthority,
                1234,
            )),
            Row::from_summary(&UrlSummary {
                status_code: Some(404),
                ..summary("http://c.example/missing")
            }),
        ];
        let table = format_table(&rows);
        let expected = "\
URL                          VERDICT  FAILED STEP    FAILURE                STATUS     TIME
https://a.example/           ok       -              -                         200    42 ms
http://blocked.example/page  failed   tls_handshake  ssl_unknown_authority       -  1234 ms
http://c.example/missing     ok       -              -                         404    42 ms
";
        assert_eq!(table, expected);
    }

    #[test]
    fn columns_follow_content_width() {
        let short = format_table(&[Row::from_summary(&summary("http://a.b/"))]);
        let long = format_table(&[Row::from_summary(&summary(
            "http://a-much-longer-host-name.example/",
        ))]);
        let header_width = |table: &str| table.lines().next().map(|l| l.len()).unwrap_or(0);
        assert!(header_width(&long) > header_width(&short));
        // The URL column is never narrower than its header.
        assert!(short.starts_with("URL          VERDICT"), "{short}");
    }

    #[test]
    fn long_urls_and_failures_are_truncated() {
        let url = format!("https://example.org/{}", "a".repeat(100));
        let mut long = failed(
            &url,
            "http_round_trip",
            Failure::Unknown(format!("broken\nline {}", "x".repeat(100))),
            7,
        );
        long.url = url.clone();
        let table = format_table(&[Row::from_summary(&long)]);
        let line = table.lines().nth(1).expect("a row");
        let cell = line.split("  ").next().expect("url cell");
        assert_eq!(cell.chars().count(), MAX_URL_WIDTH);
        assert!(cell.ends_with('…'));
        assert!(cell.starts_with("https://example.org/aaa"));
        assert!(line.contains("unknown_failure: broken line xxx"), "{line}");
        assert_eq!(
            table.lines().count(),
            2,
            "control characters stay inside the cell"
        );
        for line in table.lines() {
            assert!(line.chars().count() < 200, "{line}");
        }
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("привет мир", 7), "привет…");
        assert_eq!(truncate("", 3), "");
    }

    #[test]
    fn not_measured_rows() {
        let row = Row::not_measured("https://x.example/");
        let table = format_table(std::slice::from_ref(&row));
        assert!(table
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("https://x.example/") && l.contains("not measured")));
        let totals = Totals::of(&[row, Row::from_summary(&summary("https://a.example/"))]);
        assert_eq!(
            totals,
            Totals {
                measured: 1,
                ok: 1,
                failed: 0,
                errors: 1,
                bytes_received: 1500
            }
        );
        assert_eq!(
            format_summary(&totals),
            "1 measured, 1 ok, 0 failed, 1 not measured, 1500 bytes (1.5 KiB) received"
        );
    }

    #[test]
    fn summary_line() {
        let rows = [
            Row::from_summary(&summary("https://a.example/")),
            Row::from_summary(&summary("https://b.example/")),
            Row::from_summary(&failed(
                "http://c.example/",
                "resolve",
                Failure::DnsNxdomain,
                5,
            )),
        ];
        assert_eq!(
            format_summary(&Totals::of(&rows)),
            "3 measured, 2 ok, 1 failed, 3000 bytes (2.9 KiB) received"
        );
        assert_eq!(
            format_summary(&Totals::default()),
            "0 measured, 0 ok, 0 failed, 0 bytes received"
        );
    }

    #[test]
    fn byte_counts() {
        assert_eq!(format_bytes(0), "0 bytes");
        assert_eq!(format_bytes(1023), "1023 bytes");
        assert_eq!(format_bytes(1024), "1024 bytes (1.0 KiB)");
        assert_eq!(format_bytes(5 * 1024 * 1024), "5242880 bytes (5.0 MiB)");
    }
}
