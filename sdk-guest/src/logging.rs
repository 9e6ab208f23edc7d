use std::fmt;

/// The severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// Records `message` with `fields` at `level` in the router's log, tagged with the delivery.
///
/// The macros [`info!`](crate::info) and friends are shorthands without fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    crate::host::log(level, message, fields);
}
