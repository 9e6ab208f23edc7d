//! The command line: argument definitions and dispatch. Each subcommand lives in its own file and
//! owns its output format; this file only routes.

mod bench;
mod check;
mod dlq;
mod invoke;
mod pattern;
mod serve;
mod transform;

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;

use clap::{Parser, Subcommand};

/// Switchyard routes JSON events to WebAssembly consumers with EventBridge's rule language.
///
/// `serve` runs the router (EventBridge's PutEvents API, CloudEvents and plain JSON in; deliveries to
/// Wasm consumers with retries and dead letters out). `check` validates a rules folder before it is
/// served. The other commands work offline: test patterns and transforms, run one delivery through
/// a consumer, operate a stopped router's dead letters, and benchmark. `switchyard <command> --help`
/// explains each; README.md and rules/README.md have the rest.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Test and validate EventBridge event patterns offline.
    #[command(subcommand)]
    Pattern(pattern::PatternCommand),
    /// Test what a target's Input, InputPath or InputTransformer delivers for an event, offline.
    #[command(subcommand)]
    Transform(transform::TransformCommand),
    /// Inspect, redrive and purge dead letters in a data directory (the router must be stopped).
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Run the router: the HTTP API, delivery, dead letters and hot reload of the rules.
    #[command(long_about = serve::LONG_ABOUT)]
    Serve(Box<serve::ServeArgs>),
    /// Check a folder of rules files: syntax, fields, patterns, transforms, modules and examples.
    #[command(long_about = check::LONG_ABOUT)]
    Check(check::CheckArgs),
    /// Run one delivery through a consumer component and print its outcome as JSON.
    #[command(long_about = invoke::LONG_ABOUT)]
    Invoke(invoke::InvokeArgs),
    /// Benchmarks that print their figures beside a peer or a floor measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Parses the arguments and runs the subcommand; the exit code is the subcommand's.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pattern(command) => pattern::run(command),
        Command::Transform(command) => transform::run(command),
        Command::Serve(args) => serve::run(*args),
        Command::Check(args) => check::run(args),
        Command::Invoke(args) => invoke::run(args),
        Command::Dlq(command) => dlq::run(command),
        Command::Bench(command) => bench::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("switchyard: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The offline testers' loop: one answer line per input line of stdin, in order. A line that is not
/// UTF-8 is answered with an error and reading goes on.
fn answer_lines(mut answer: impl FnMut(&str) -> serde_json::Value) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for (idx, line) in stdin.split(b'\n').enumerate() {
        let line = line.context("reading stdin")?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        let result = match std::str::from_utf8(line) {
            Ok(text) => answer(text),
            Err(error) => serde_json::json!({ "error": format!("line {} is not UTF-8: {error}", idx + 1) }),
        };
        serde_json::to_writer(&mut stdout, &result)?;
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
