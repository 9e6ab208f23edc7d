//! What a delivery came to, and how the host tells the cases apart.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::bindings::Failure;
use super::state::State;

/// The class of a delivery's outcome. Delivery decides from it whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The consumer returned success.
    Ok,
    /// The consumer returned a retryable failure.
    Retryable,
    /// The consumer returned a permanent failure (or a retry could not help, see the message).
    Permanent,
    /// The delivery ran out of wall-clock time (or of fuel).
    Timeout,
    /// The consumer tried to grow its memory past its limit.
    OutOfMemory,
    /// The consumer exhausted its call stack.
    StackOverflow,
    /// The consumer trapped: a panic, `unreachable`, an out-of-bounds access, a failed host call.
    Trap,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Retryable => "retryable",
            OutcomeKind::Permanent => "permanent",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::OutOfMemory => "out_of_memory",
            OutcomeKind::StackOverflow => "stack_overflow",
            OutcomeKind::Trap => "trap",
        }
    }

    /// Whether another attempt may succeed: a retryable failure or a timeout.
    pub fn is_retryable(self) -> bool {
        matches!(self, OutcomeKind::Retryable | OutcomeKind::Timeout)
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event a consumer emitted; it enters the router only if the delivery succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmittedEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// JSON text of an object.
    pub detail: String,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One record the consumer logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// The result of one delivery.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// What happened, in words: the consumer's message, or the limit hit, or the trap with the
    /// last line of the consumer's stderr and a wasm backtrace.
    pub message: String,
    /// The events emitted, when the delivery succeeded; empty otherwise.
    pub emitted: Vec<EmittedEvent>,
    pub logs: Vec<LogRecord>,
    /// Log records dropped over the target's limit.
    pub logs_dropped: usize,
    /// The consumer's stderr (bounded).
    pub stderr: String,
    /// The consumer's stdout (bounded).
    pub stdout: String,
    /// From the start of instantiation to the end of the handler.
    pub duration: Duration,
}

/// What running the handler produced before classification.
pub(crate) enum Ran {
    Returned(Result<(), Failure>),
    Failed(wasmtime::Error),
    /// The deadline passed while the consumer waited in a host call (sleep, poll, HTTP).
    Elapsed,
}

pub(crate) fn classify(ran: Ran, state: &mut State, duration: Duration) -> Outcome {
    let stderr = state.stderr.text();
    let limits = &state.target.limits;
    let (kind, message) = match ran {
        Ran::Returned(Ok(())) => (OutcomeKind::Ok, String::new()),
        Ran::Returned(Err(Failure::Permanent(message))) => (OutcomeKind::Permanent, message),
        Ran::Returned(Err(Failure::Retryable(message))) => match &state.quota_refused {
            // The same delivery would hit the same quota again: retrying cannot help.
            Some(quota) => (OutcomeKind::Permanent, format!("{message} (emit quota exceeded: {quota}; not retried)")),
            None => (OutcomeKind::Retryable, message),
        },
        Ran::Elapsed => (OutcomeKind::Timeout, timeout_message(limits.timeout, duration)),
        Ran::Failed(error) => classify_error(error, state, duration, &stderr),
    };
    let emitted = if kind == OutcomeKind::Ok { std::mem::take(&mut state.emitted) } else { Vec::new() };
    Outcome {
        kind,
        message,
        emitted,
        logs: std::mem::take(&mut state.logs),
        logs_dropped: state.logs_dropped,
        stderr,
        stdout: state.stdout.text(),
        duration,
    }
}

fn timeout_message(limit: Duration, ran: Duration) -> String {
    format!("exceeded its time limit of {} ms (stopped after {} ms)", limit.as_millis(), ran.as_millis())
}

fn classify_error(error: wasmtime::Error, state: &State, duration: Duration, stderr: &str) -> (OutcomeKind, String) {
    let limits = &state.target.limits;
    if state.timed_out {
        return (OutcomeKind::Timeout, timeout_message(limits.timeout, duration));
    }
    if let Some(asked) = state.limiter.refused_memory {
        return (
            OutcomeKind::OutOfMemory,
            format!("tried to grow its memory to {} over its limit of {}", mib(asked), mib(state.limiter.memory_cap)),
        );
    }
    let trap = error.downcast_ref::<wasmtime::Trap>().copied();
    let backtrace = error.downcast_ref::<wasmtime::WasmBacktrace>().map(|bt| bt.to_string());
    match trap {
        Some(wasmtime::Trap::StackOverflow) => {
            return (OutcomeKind::StackOverflow, "exhausted its call stack (unbounded recursion?)".into());
        }
        // The shadow stack of a Rust (or C) guest lives at the bottom of linear memory (64 KiB with
        // the SDK's flags); running off it wraps the stack pointer below zero, so the access lands
        // just under 4 GiB. Any other out-of-bounds access is a plain trap.
        Some(wasmtime::Trap::MemoryOutOfBounds) if fault_address(&error).is_some_and(|a| a >= SHADOW_STACK_WRAP) => {
            return (OutcomeKind::StackOverflow, "exhausted its stack in linear memory (unbounded recursion?)".into());
        }
        Some(wasmtime::Trap::OutOfFuel) => {
            return (OutcomeKind::Timeout, format!("ran out of fuel ({} units)", limits.fuel.unwrap_or_default()));
        }
        _ => {}
    }
    // A trap, or an error a host call raised. The last stderr line usually says why (a Rust panic
    // prints its message there), and the backtrace says where.
    let mut message = match trap {
        Some(trap) => format!("trapped: {}", trap.to_string().trim_start_matches("wasm trap: ")),
        None => format!("failed: {}", root_message(&error)),
    };
    if let Some(why) = stderr_reason(stderr) {
        message.push_str(&format!(" ({why})"));
    }
    if let Some(backtrace) = backtrace {
        message.push_str("\nwasm backtrace:\n");
        message.push_str(&trim_backtrace(&backtrace));
    }
    (OutcomeKind::Trap, message)
}

/// Faulting addresses at or above this (4 GiB less 16 MiB) are a shadow stack pointer that went
/// below zero.
const SHADOW_STACK_WRAP: u64 = (1 << 32) - (16 << 20);

/// The wasm address of a memory fault, from the context wasmtime attaches to the trap
/// ("memory fault at wasm address 0x… in linear memory of size 0x…").
fn fault_address(error: &wasmtime::Error) -> Option<u64> {
    error.chain().find_map(|cause| {
        let text = cause.to_string();
        let hex = text.split("memory fault at wasm address 0x").nth(1)?;
        let end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
        u64::from_str_radix(&hex[..end], 16).ok()
    })
}

/// What the consumer's stderr says about its end: a Rust panic's location and message, else the
/// last line that is not the runtime's backtrace hint.
fn stderr_reason(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(at) = lines.iter().rposition(|l| l.contains("panicked at ")) {
        let location = lines[at][lines[at].find("panicked at ").unwrap_or(0)..].trim_end_matches(':');
        let message: Vec<&str> =
            lines[at + 1..].iter().take_while(|l| !l.starts_with("note: ")).map(|l| l.trim()).collect();
        return Some(format!("{location}: {}", message.join(" ")).trim_end_matches([':', ' ']).to_owned());
    }
    lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE") && !l.starts_with('['))
        .map(|l| format!("stderr: {l}"))
}

/// The frames of a wasm backtrace below the panic machinery (for a panic, the frames above
/// `panicking::` are the runtime aborting, not the consumer's code).
fn trim_backtrace(backtrace: &str) -> String {
    let frames: Vec<&str> = backtrace.lines().filter(|l| !l.starts_with("error while executing")).collect();
    let start = frames
        .iter()
        .rposition(|f| f.contains("::panicking::") || f.contains("rust_begin_unwind"))
        .map_or(0, |i| i + 1);
    let kept = if start < frames.len() { &frames[start..] } else { &frames[..] };
    kept.join("\n")
}

fn root_message(error: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn mib(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) { format!("{} MiB", bytes >> 20) } else { format!("{bytes} bytes") }
}
