//! `kuzet queue`: the upload queue: what waits, in which state, and why uploads failed.

use clap::Args;
use kuzet_core::store::{format_ms, DeliveryState, OutboxItem, QueueStats};
use kuzet_core::upload::UploadFailureKind;

use super::store_open::{blocking, columns, open_existing, store_error, StoreArgs};
use crate::error::CliError;
use crate::output::table::truncate;
use crate::output::write_stdout;

/// Arguments of `kuzet queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Also list delivered measurements.
    #[arg(long)]
    pub all: bool,

    /// List at most N measurements.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary lines above the table.
pub fn format_stats(stats: &QueueStats) -> String {
    let mut text = format!(
        "{} pending, {} held, {} parked, {} delivered\n",
        stats.pending, stats.held, stats.parked, stats.delivered
    );
    if let Some(at) = stats.oldest_undelivered_at_ms {
        text.push_str(&format!("oldest undelivered: {} UTC\n", format_ms(at)));
    }
    if stats.held > 0 {
        text.push_str(
            "held: the network (ASN/country) is unknown; collectors drop such measurements\n",
        );
    }
    for collector in &stats.collectors {
        let mut line = format!("collector {}: ", collector.collector);
        if collector.consecutive_failures == 0 {
            line.push_str("ok");
            if let Some(at) = collector.last_success_at_ms {
                line.push_str(&format!(", last success {} UTC", format_ms(at)));
            }
        } else {
            line.push_str(&plural(
                u64::from(collector.consecutive_failures),
                "failure",
                "failures",
            ));
            line.push_str(" in a row");
            if collector.next_attempt_at_ms > 0 {
                line.push_str(&format!(
                    ", no attempt before {} UTC",
                    format_ms(collector.next_attempt_at_ms)
                ));
            }
            if let Some(error) = &collector.last_error {
                line.push_str(&format!(
                    "; last error: {} ({})",
                    UploadFailureKind::parse(&error.kind).describe(),
                    error.message
                ));
            }
        }
        text.push_str(&line);
        text.push('\n');
    }
    let dropped = &stats.dropped;
    if !dropped.is_empty() {
        text.push_str(&format!(
            "dropped by quotas: {} undelivered (age {}, count {}, size {}), {} delivered; \
             refused as too large: {}\n",
            dropped.undelivered_age + dropped.undelivered_count + dropped.undelivered_bytes,
            dropped.undelivered_age,
            dropped.undelivered_count,
            dropped.undelivered_bytes,
            dropped.delivered(),
            dropped.refused_too_large,
        ));
    }
    text
}

fn row(item: &OutboxItem) -> Vec<String> {
    let next = match item.state {
        DeliveryState::Pending => format_ms(item.next_attempt_at_ms),
        DeliveryState::Delivered => item
            .delivered_at_ms
            .map(|at| format!("delivered {}", format_ms(at)))
            .unwrap_or_default(),
        _ => "-".to_string(),
    };
    let error = item
        .last_error
        .as_ref()
        .map(|e| {
            truncate(
                &format!("{}: {}", UploadFailureKind::parse(&e.kind), e.message),
                70,
            )
        })
        .unwrap_or_else(|| "-".to_string());
    vec![
        item.measurement_id.clone(),
        item.state.as_str().to_string(),
        truncate(item.input.as_deref().unwrap_or("-"), 40),
        format!("{}/{}", item.attempts, item.network_failures),
        next,
        error,
    ]
}

/// Runs `kuzet queue`.
pub async fn execute(args: QueueArgs) -> Result<(), CliError> {
    let dir = args.store.dir()?;
    let Some(store) = open_existing(dir.clone()).await? else {
        let text = if args.json {
            "{\"stats\": null, \"items\": []}\n".to_string()
        } else {
            format!(
                "The queue is empty (nothing stored in {}).\n",
                dir.display()
            )
        };
        write_stdout(&text)?;
        return Ok(());
    };
    let states: Vec<DeliveryState> = if args.all {
        Vec::new()
    } else {
        vec![
            DeliveryState::Pending,
            DeliveryState::Held,
            DeliveryState::Parked,
        ]
    };
    let limit = args.limit;
    let (stats, items) = blocking(move || {
        let stats = store.queue_stats().map_err(store_error)?;
        let items = store.queue(&states, limit).map_err(store_error)?;
        Ok((stats, items))
    })
    .await?;
    let text = if args.json {
        let value = serde_json::json!({ "stats": stats, "items": items });
        serde_json::to_string_pretty(&value).map_err(|e| CliError::Run(e.to_string()))? + "\n"
    } else {
        let mut text = format_stats(&stats);
        if !items.is_empty() {
            let rows: Vec<Vec<String>> = items.iter().map(row).collect();
            text.push_str(&columns(
                &[
                    "MEASUREMENT",
                    "STATE",
                    "TARGET",
                    "ATTEMPTS/NET",
                    "NEXT ATTEMPT (UTC)",
                    "LAST ERROR",
                ],
                &rows,
                &[3],
            ));
        }
        text
    };
    write_stdout(&text)?;
    Ok(())
}
