//! `switchyard transform test`: the offline input-transform tester.
//!
//! Reads JSON Lines, one event and one target's input settings per line, and writes one line per
//! input line, in order: the exact bytes the consumer would receive (as a JSON string) or the error.
//! A bad line gets an error line and processing goes on.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::clock;
use crate::transform::{self, InputTransformer, RenderContext, TargetInput, TargetRef, Transform};

#[derive(Debug, Subcommand)]
pub(crate) enum TransformCommand {
    /// Render target input for events: JSON Lines in, JSON Lines out.
    ///
    /// Each input line is an object with `event` and one of:
    ///   `input_paths_map` + `input_template`   (InputTransformer)
    ///   `input_path`                           (InputPath: a JSONPath)
    ///   `input`                                (Input: constant JSON text)
    ///   nothing                                (the whole event)
    /// and optionally `context`: {"rule_name", "rule_arn", "ingestion_time"} for the predefined
    /// variables <aws.events.rule-name>, <aws.events.rule-arn> and <aws.events.event.ingestion-time>.
    ///
    /// Each output line is `{"output": "<exactly the bytes the consumer receives>"}` or
    /// `{"error": "<message>"}` (invalid settings, or input that cannot be produced for this event).
    ///
    /// Example:
    ///   echo '{"event": {"detail": {"state": "on"}}, "input_paths_map": {"s": "$.detail.state"},
    ///          "input_template": "{\"state\": <s>}"}' | switchyard transform test
    ///
    /// The rules of each form, the placeholder positions and every check are in rules/README.md.
    #[command(verbatim_doc_comment)]
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Region in the rule ARN built when a line's context has no rule_arn.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account in the rule ARN built when a line's context has no rule_arn.
    #[arg(long, default_value = "123456789012")]
    account: String,
    /// Event bus in the rule ARN built when a line's context has no rule_arn.
    #[arg(long, default_value = "default")]
    bus: String,
}

pub(crate) fn run(command: TransformCommand) -> anyhow::Result<ExitCode> {
    match command {
        TransformCommand::Test(args) => test(&args),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestLine<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    input: Option<String>,
    input_path: Option<String>,
    input_paths_map: Option<BTreeMap<String, String>>,
    input_template: Option<String>,
    #[serde(default)]
    context: LineContext,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineContext {
    rule_name: Option<String>,
    rule_arn: Option<String>,
    ingestion_time: Option<String>,
}

fn test_line(line: &str, args: &TestArgs, now: &str) -> serde_json::Value {
    let outcome = (|| -> Result<String, String> {
        let parsed: TestLine<'_> =
            serde_json::from_str(line).map_err(|error| format!("not a valid test line: {error}"))?;
        let event = parsed.event.ok_or("the line has no \"event\"")?;
        let event_text = if event.get().starts_with('"') {
            serde_json::from_str::<String>(event.get()).map_err(|error| error.to_string())?
        } else {
            event.get().to_string()
        };
        // The router only transforms events the matcher has validated; so does the tester.
        serde_json::from_str::<serde::de::IgnoredAny>(&event_text)
            .map_err(|error| format!("invalid event: {error}"))?;
        let input_transformer = match (parsed.input_paths_map, parsed.input_template) {
            (None, None) => None,
            (map, template) => {
                Some(InputTransformer { input_paths_map: map.unwrap_or_default(), input_template: template })
            }
        };
        let target_input = TargetInput { input: parsed.input, input_path: parsed.input_path, input_transformer };
        let rule_name = parsed.context.rule_name.unwrap_or_else(|| "test-rule".to_string());
        let rule_arn = parsed
            .context
            .rule_arn
            .unwrap_or_else(|| transform::rule_arn(&args.region, &args.account, &args.bus, &rule_name));
        let ingestion_time = parsed.context.ingestion_time.unwrap_or_else(|| now.to_string());
        let compiled = Transform::compile(&target_input, TargetRef { rule: &rule_name, target: "test-target" })
            .map_err(|errors| errors.to_string())?;
        let context = RenderContext { rule_name: &rule_name, rule_arn: &rule_arn, ingestion_time: &ingestion_time };
        let output = compiled.render(event_text.as_bytes(), &context).map_err(|error| error.to_string())?;
        String::from_utf8(output.into_owned()).map_err(|error| format!("the output is not UTF-8: {error}"))
    })();
    match outcome {
        Ok(output) => serde_json::json!({ "output": output }),
        Err(message) => serde_json::json!({ "error": message }),
    }
}

fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let now = clock::rfc3339(SystemTime::now());
    super::answer_lines(|text| test_line(text, args, &now))
}
