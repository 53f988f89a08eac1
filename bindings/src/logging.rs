//! Forwards core's `tracing` events to the app's [`Logger`]. A minimal subscriber, installed as
//! the process's global one on first use: spans are ignored, each event becomes one line.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, RwLock};

use once_cell::sync::OnceCell;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::platform::Logger;
use crate::types::LogLevel;

struct Sink {
    logger: Arc<dyn Logger>,
    max_level: Level,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static INSTALLED: OnceCell<bool> = OnceCell::new();

/// Sends Kuzet's log lines at `max_level` and above to `logger`, replacing any earlier logger.
/// If the process already has another global `tracing` subscriber, nothing is forwarded.
#[uniffi::export]
pub fn set_logger(logger: Arc<dyn Logger>, max_level: LogLevel) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = Some(Sink {
        logger,
        max_level: level(max_level),
    });
    let installed =
        *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Forwarder).is_ok());
    if installed {
        // Callsites cache whether they are enabled: make them ask again.
        tracing::callsite::rebuild_interest_cache();
    }
}

/// Stops forwarding log lines.
#[uniffi::export]
pub fn clear_logger() {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = None;
}

fn level(level: LogLevel) -> Level {
    match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    }
}

fn log_level(level: Level) -> LogLevel {
    match level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

struct Forwarder;

/// Collects an event's fields into one line: the message, then ` key=value` pairs.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Forwarder {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at any time: decide per event.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        SINK.read()
            .map(|sink| {
                sink.as_ref()
                    .is_some_and(|sink| *metadata.level() <= sink.max_level)
            })
            .unwrap_or(false)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let logger = match SINK.read() {
            Ok(sink) => match sink.as_ref() {
                Some(sink) if *metadata.level() <= sink.max_level => sink.logger.clone(),
                _ => return,
            },
            Err(_) => return,
        };
        let mut line = Line::default();
        event.record(&mut line);
        let message = format!("{}{}", line.message, line.fields);
        let level = log_level(*metadata.level());
        let target = metadata.target().to_string();
        // A logger that throws must not take down the thread that logged.
        let _ = catch_unwind(AssertUnwindSafe(|| logger.log(level, target, message)));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
