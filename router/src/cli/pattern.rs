//! `switchyard pattern test` and `switchyard pattern check`: the offline pattern tester.
//!
//! `test` reads JSON Lines `{"pattern": ..., "event": ...}` and writes one result line per input line,
//! in order; a bad line gets an error line and processing goes on. Pattern and event are taken as raw
//! JSON text (numbers keep their literal text); either may also be given as a JSON string holding the
//! text, as EventBridge's TestEventPattern API does.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_pattern::{Limits, Matcher, Pattern};

#[derive(Debug, Subcommand)]
pub(crate) enum PatternCommand {
    /// Match events against patterns: JSON Lines in, JSON Lines out.
    ///
    /// Each input line is `{"pattern": <pattern>, "event": <event>}`; each output line is
    /// `{"match": true}`, `{"match": false}` or `{"error": "<message>"}` (an invalid pattern, an
    /// invalid event, or a line that is not such an object). Exits 0 once every line is processed.
    ///
    /// Example:
    ///   echo '{"pattern": {"source": [{"prefix": "aws."}]}, "event": {"source": "aws.ec2"}}' \
    ///     | switchyard pattern test
    Test,
    /// Validate the pattern in FILE ("-" for stdin); exit 1 with the reason when it is invalid.
    ///
    /// The message names the offending part with a JSON pointer, e.g.
    /// `at /detail/state/0: Unrecognized match type prefx`.
    Check {
        /// File holding one pattern (JSON).
        file: PathBuf,
    },
}

pub(crate) fn run(command: PatternCommand) -> anyhow::Result<ExitCode> {
    match command {
        PatternCommand::Test => test(),
        PatternCommand::Check { file } => check(&file),
    }
}

#[derive(Deserialize)]
struct TestLine<'a> {
    #[serde(borrow)]
    pattern: Option<&'a RawValue>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
}

/// The JSON text a raw value stands for: itself, or the content of a JSON string.
fn text_of(raw: &RawValue) -> Result<String, String> {
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|error| error.to_string())
    } else {
        Ok(text.to_string())
    }
}

fn test_line(line: &str) -> serde_json::Value {
    let outcome = (|| -> Result<bool, String> {
        let parsed: TestLine<'_> =
            serde_json::from_str(line).map_err(|error| format!("the line is not a JSON object: {error}"))?;
        let pattern = text_of(parsed.pattern.ok_or("the line has no \"pattern\"")?)?;
        let event = text_of(parsed.event.ok_or("the line has no \"event\"")?)?;
        let matcher = Matcher::new();
        matcher.add((), &pattern).map_err(|error| format!("invalid pattern: {error}"))?;
        let found = matcher.matches(event.as_bytes()).map_err(|error| format!("invalid event: {error}"))?;
        Ok(!found.is_empty())
    })();
    match outcome {
        Ok(matched) => serde_json::json!({ "match": matched }),
        Err(message) => serde_json::json!({ "error": message }),
    }
}

fn test() -> anyhow::Result<ExitCode> {
    super::answer_lines(test_line)
}

fn check(file: &PathBuf) -> anyhow::Result<ExitCode> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    match Pattern::parse(text.trim_end(), &Limits::default()) {
        Ok(pattern) => {
            println!("{}: valid pattern ({} branch(es))", file.display(), pattern.n_branches());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{}: {error}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
