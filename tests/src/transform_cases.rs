//! Reading data-driven transform cases (`tests/cases/transform/*.jsonl` and the `jsonl
//! transform-cases` blocks of rules/README.md) and checking one against the transform stage.
//!
//! A case is one line in the format `switchyard transform test` reads (`event` or `event_text`,
//! `input`, `input_path`, `input_paths_map`, `input_template`, `context`) plus a `name` and one
//! expectation: `"output": "<exact bytes>"` or `"error": "<substring>"` (or a list of substrings that
//! must all appear). Events are kept as raw JSON text so that numbers keep their literal text.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard::transform::{InputTransformer, RenderContext, TargetInput, TargetRef, Transform};

/// The predefined variables' values when a case gives no `context`.
pub const DEFAULT_RULE_NAME: &str = "test-rule";
pub const DEFAULT_RULE_ARN: &str = "arn:aws:events:us-east-1:123456789012:rule/test-rule";
pub const DEFAULT_INGESTION_TIME: &str = "2026-11-22T00:00:00Z";

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Expected {
    One(String),
    All(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformCase {
    pub name: String,
    event: Option<Box<RawValue>>,
    event_text: Option<String>,
    input: Option<String>,
    input_path: Option<String>,
    input_paths_map: Option<BTreeMap<String, String>>,
    input_template: Option<String>,
    #[serde(default)]
    context: CaseContext,
    output: Option<String>,
    error: Option<Expected>,
}

impl TransformCase {
    pub fn event_text(&self) -> String {
        match (&self.event, &self.event_text) {
            (Some(raw), _) => raw.get().to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => String::new(),
        }
    }

    fn target_input(&self) -> TargetInput {
        let input_transformer = match (&self.input_paths_map, &self.input_template) {
            (None, None) => None,
            (map, template) => Some(InputTransformer {
                input_paths_map: map.clone().unwrap_or_default(),
                input_template: template.clone(),
            }),
        };
        TargetInput { input: self.input.clone(), input_path: self.input_path.clone(), input_transformer }
    }

    /// The context with every value filled in.
    pub fn full_context(&self) -> CaseContext {
        CaseContext {
            rule_name: Some(self.context.rule_name.clone().unwrap_or_else(|| DEFAULT_RULE_NAME.to_string())),
            rule_arn: Some(self.context.rule_arn.clone().unwrap_or_else(|| DEFAULT_RULE_ARN.to_string())),
            ingestion_time: Some(
                self.context.ingestion_time.clone().unwrap_or_else(|| DEFAULT_INGESTION_TIME.to_string()),
            ),
        }
    }

    /// What the transform stage produced: the output text or the error message.
    pub fn run(&self) -> Result<String, String> {
        let context = self.full_context();
        let rule_name = context.rule_name.as_deref().expect("filled");
        let transform = Transform::compile(&self.target_input(), TargetRef { rule: rule_name, target: "test-target" })
            .map_err(|errors| errors.to_string())?;
        let render_context = RenderContext {
            rule_name,
            rule_arn: context.rule_arn.as_deref().expect("filled"),
            ingestion_time: context.ingestion_time.as_deref().expect("filled"),
        };
        let event = self.event_text();
        // The router transforms only events the matcher validated; the tester checks them the same way.
        serde_json::from_str::<serde::de::IgnoredAny>(&event).map_err(|error| format!("invalid event: {error}"))?;
        let output = transform.render(event.as_bytes(), &render_context).map_err(|error| error.to_string())?;
        String::from_utf8(output.into_owned()).map_err(|error| format!("output is not UTF-8: {error}"))
    }

    /// Compares a result (from the library or the command line) with the expectation.
    pub fn verdict(&self, result: Result<String, String>) -> Result<(), String> {
        match (&self.output, &self.error, result) {
            (Some(expected), None, Ok(output)) if &output == expected => Ok(()),
            (Some(expected), None, Ok(output)) => Err(format!("output {output:?}, expected {expected:?}")),
            (Some(_), None, Err(error)) => Err(format!("error {error:?}, expected output")),
            (None, Some(expected), Err(error)) => {
                let wanted: Vec<&String> = match expected {
                    Expected::One(one) => vec![one],
                    Expected::All(all) => all.iter().collect(),
                };
                match wanted.into_iter().find(|want| !error.contains(want.as_str())) {
                    None => Ok(()),
                    Some(missing) => Err(format!("error {error:?} does not contain {missing:?}")),
                }
            }
            (None, Some(_), Ok(output)) => Err(format!("output {output:?}, expected an error")),
            _ => Err("a case needs exactly one of output / error".to_string()),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        self.verdict(self.run())
    }

    /// This case as a `switchyard transform test` input line, with the context filled in.
    pub fn cli_line(&self) -> String {
        let mut line = serde_json::Map::new();
        // The event goes as its text (a JSON string) so that numbers keep their literal form.
        line.insert("event".into(), serde_json::Value::String(self.event_text()));
        if let Some(input) = &self.input {
            line.insert("input".into(), input.clone().into());
        }
        if let Some(path) = &self.input_path {
            line.insert("input_path".into(), path.clone().into());
        }
        if let Some(map) = &self.input_paths_map {
            line.insert("input_paths_map".into(), serde_json::to_value(map).expect("a map of strings"));
        }
        if let Some(template) = &self.input_template {
            line.insert("input_template".into(), template.clone().into());
        }
        line.insert("context".into(), serde_json::to_value(self.full_context()).expect("strings"));
        serde_json::Value::Object(line).to_string()
    }
}

/// Parses JSON Lines of cases; a line that does not parse becomes a failing entry named after it.
pub fn parse_lines(origin: &str, text: &str) -> Vec<(String, Result<TransformCase, String>)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(idx, line)| {
            let place = format!("{origin}:{}", idx + 1);
            let case = serde_json::from_str::<TransformCase>(line).map_err(|error| error.to_string());
            let label = match &case {
                Ok(case) => format!("{place} ({})", case.name),
                Err(_) => place,
            };
            (label, case)
        })
        .collect()
}

/// Every disagreement, one line each.
pub fn failures(cases: &[(String, Result<TransformCase, String>)]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|(place, case)| match case {
            Ok(case) => case.check().err().map(|why| format!("{place}: {why}")),
            Err(error) => Some(format!("{place}: unreadable case: {error}")),
        })
        .collect()
}
