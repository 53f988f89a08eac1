//! The open OONI reports: per collector and report template, the report id measurements with
//! that template are submitted in (the `reports` table).
//!
//! The store treats a template as an opaque key; the uploader builds it
//! (`ReportTemplate::key`) and decides how long a report is reused.

use rusqlite::{params, OptionalExtension};

use super::outbox::collector_success;
use super::{Store, StoreResult};

impl Store {
    /// The open report for `template_key` at `collector`, if one was opened after
    /// `opened_after_ms`.
    pub fn report_for(
        &self,
        collector: &str,
        template_key: &str,
        opened_after_ms: i64,
    ) -> StoreResult<Option<String>> {
        self.read("finding an open report", |conn| {
            Ok(conn
                .query_row(
                    "SELECT report_id FROM reports WHERE collector = ?1 AND template_key = ?2 \
                     AND opened_at_ms > ?3",
                    params![collector, template_key, opened_after_ms],
                    |row| row.get(0),
                )
                .optional()?)
        })
    }

    /// Remembers the report opened at `collector` for `template_key` (reused while the
    /// template matches), and clears the collector's failure streak. Reports older than
    /// `forget_before_ms` are forgotten at the same time.
    pub fn save_report(
        &self,
        collector: &str,
        template_key: &str,
        report_id: &str,
        forget_before_ms: i64,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        self.write("saving an open report", |tx| {
            tx.execute(
                "INSERT INTO reports (collector, template_key, report_id, opened_at_ms) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (collector, template_key) \
                 DO UPDATE SET report_id = excluded.report_id, opened_at_ms = excluded.opened_at_ms",
                params![collector, template_key, report_id, now],
            )?;
            tx.execute(
                "DELETE FROM reports WHERE opened_at_ms < ?1",
                [forget_before_ms],
            )?;
            collector_success(tx, collector, now)
        })
    }

    /// Forgets the report for `template_key` at `collector` (the collector no longer knows
    /// it), so the next attempt opens a new one.
    pub fn forget_report(&self, collector: &str, template_key: &str) -> StoreResult<()> {
        self.write("forgetting a report", |tx| {
            tx.execute(
                "DELETE FROM reports WHERE collector = ?1 AND template_key = ?2",
                params![collector, template_key],
            )?;
            Ok(())
        })
    }
}
