//! The transform stage: what a target's consumer receives for an event (eventbridge-spec.md §3).
//!
//! A target has at most one of `Input` (constant JSON text), `InputPath` (the value one JSONPath
//! selects, as JSON) and `InputTransformer` (InputPathsMap + InputTemplate); with none it receives
//! the event as it was accepted. [`Transform::compile`] checks a target's settings against
//! EventBridge's rules and limits when rules load and reports every problem with the rule, target
//! and placeholder it concerns; [`Transform::render`] then produces one delivery's input without
//! parsing the template again and, for EventBridge's dot-notation paths, without parsing the event.
//!
//! Rendering never panics: input it cannot produce is a [`RenderError`], a permanent failure of that
//! delivery. This module does no IO and knows nothing of consumers or delivery.

mod extract;
mod path;
mod template;
mod tree;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

pub use path::{Evaluation, MAX_PATH_CHARS};
use path::{JsonPath, ParsedEvent, Selected};
use template::{Resolution, Template, TemplateProblem, Variable};

/// EventBridge's limit on the length of `Input` and of `InputTemplate`.
pub const MAX_TEMPLATE_CHARS: usize = 8192;
/// EventBridge's limit on the entries of `InputPathsMap`.
pub const MAX_PATHS: usize = 100;
/// EventBridge's limit on the length of an InputPathsMap key.
pub const MAX_KEY_CHARS: usize = 256;

/// A target's input settings as the user wrote them. Field names are EventBridge's (`InputPath`) or
/// their snake_case twins (`input_path`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    #[serde(default, alias = "Input")]
    pub input: Option<String>,
    #[serde(default, alias = "InputPath")]
    pub input_path: Option<String>,
    #[serde(default, alias = "InputTransformer")]
    pub input_transformer: Option<InputTransformer>,
}

/// `InputTransformer` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InputTransformer {
    #[serde(default, alias = "InputPathsMap")]
    pub input_paths_map: BTreeMap<String, String>,
    #[serde(default, alias = "InputTemplate")]
    pub input_template: Option<String>,
}

/// The rule and target a transform belongs to, for messages.
#[derive(Debug, Clone, Copy)]
pub struct TargetRef<'a> {
    pub rule: &'a str,
    pub target: &'a str,
}

/// The predefined variables of InputTemplate (eventbridge-spec.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predefined {
    RuleName,
    RuleArn,
    /// The original event without `detail`, as JSON.
    Event,
    /// The whole original event, as JSON.
    EventJson,
    IngestionTime,
}

impl Predefined {
    pub const ALL: [Predefined; 5] = [
        Predefined::RuleName,
        Predefined::RuleArn,
        Predefined::Event,
        Predefined::EventJson,
        Predefined::IngestionTime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Predefined::RuleName => "aws.events.rule-name",
            Predefined::RuleArn => "aws.events.rule-arn",
            Predefined::Event => "aws.events.event",
            Predefined::EventJson => "aws.events.event.json",
            Predefined::IngestionTime => "aws.events.event.ingestion-time",
        }
    }

    pub fn from_name(name: &str) -> Option<Predefined> {
        Predefined::ALL.into_iter().find(|predefined| predefined.name() == name)
    }
}

/// The ARN of a rule: `arn:aws:events:<region>:<account>:rule/<name>` on the default bus,
/// `…:rule/<bus>/<name>` on any other.
pub fn rule_arn(region: &str, account: &str, bus: &str, rule: &str) -> String {
    if bus == "default" {
        format!("arn:aws:events:{region}:{account}:rule/{rule}")
    } else {
        format!("arn:aws:events:{region}:{account}:rule/{bus}/{rule}")
    }
}

/// What the predefined variables stand for in one delivery.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    pub rule_name: &'a str,
    pub rule_arn: &'a str,
    /// RFC 3339 time the router accepted the event.
    pub ingestion_time: &'a str,
}

/// Why a target's input could not be produced for one event: a permanent failure of that delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    message: String,
}

impl RenderError {
    fn new(message: String) -> RenderError {
        RenderError { message }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RenderError {}

/// One problem with a target's input settings, found when rules load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError {
    pub rule: String,
    pub target: String,
    /// `Input`, `InputPath`, `InputPathsMap` or `InputTemplate`, with a key or line and column.
    pub location: String,
    pub message: String,
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {:?} target {:?}: {}: {}", self.rule, self.target, self.location, self.message)
    }
}

/// Every problem of one target's input settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformErrors(pub Vec<TransformError>);

impl fmt::Display for TransformErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, error) in self.0.iter().enumerate() {
            if idx > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TransformErrors {}

/// A target's compiled input settings.
#[derive(Debug, Clone)]
pub enum Transform {
    /// The event as accepted.
    Event,
    /// `Input`: this JSON text for every event.
    Input(Box<str>),
    InputPath(Box<InputPathTransform>),
    InputTransformer(Box<InputTransformerTransform>),
}

/// A compiled `InputPath`.
#[derive(Debug, Clone)]
pub struct InputPathTransform {
    path: JsonPath,
}

/// A compiled `InputTransformer`.
#[derive(Debug, Clone)]
pub struct InputTransformerTransform {
    template: Template,
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

impl Transform {
    /// Compiles a target's input settings; paths are parsed here, once.
    pub fn compile(input: &TargetInput, target: TargetRef<'_>) -> Result<Transform, TransformErrors> {
        Transform::compile_with(input, target, Evaluation::Direct)
    }

    /// [`Transform::compile`] choosing how paths are evaluated (see [`Evaluation`]).
    pub fn compile_with(
        input: &TargetInput,
        target: TargetRef<'_>,
        evaluation: Evaluation,
    ) -> Result<Transform, TransformErrors> {
        let mut errors = Vec::new();
        let mut error = |location: String, message: String| {
            errors.push(TransformError {
                rule: target.rule.to_string(),
                target: target.target.to_string(),
                location,
                message,
            });
        };
        let n_given = [input.input.is_some(), input.input_path.is_some(), input.input_transformer.is_some()]
            .into_iter()
            .filter(|&given| given)
            .count();
        if n_given > 1 {
            error("target".to_string(), "only one of Input, InputPath or InputTransformer may be given".to_string());
            return Err(TransformErrors(errors));
        }

        let transform = if let Some(text) = &input.input {
            if chars(text) > MAX_TEMPLATE_CHARS {
                error(
                    "Input".to_string(),
                    format!("{} characters long; the limit is {MAX_TEMPLATE_CHARS}", chars(text)),
                );
            } else if let Err(json_error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
                error("Input".to_string(), format!("not valid JSON: {json_error}"));
            }
            Transform::Input(text.as_str().into())
        } else if let Some(text) = &input.input_path {
            match JsonPath::compile(text, evaluation) {
                Ok(path) => Transform::InputPath(Box::new(InputPathTransform { path })),
                Err(message) => {
                    error(format!("InputPath {text:?}"), message);
                    Transform::Event
                }
            }
        } else if let Some(transformer) = &input.input_transformer {
            let map = &transformer.input_paths_map;
            if map.len() > MAX_PATHS {
                error("InputPathsMap".to_string(), format!("{} entries; the limit is {MAX_PATHS}", map.len()));
            }
            let mut paths = BTreeMap::new();
            for (key, path_text) in map {
                let location = format!("InputPathsMap key {key:?}");
                if let Some(problem) = key_problem(key) {
                    error(location, problem);
                    continue;
                }
                match JsonPath::compile(path_text, evaluation) {
                    Ok(path) => {
                        paths.insert(key.as_str(), path);
                    }
                    Err(message) => error(location, message),
                }
            }
            match &transformer.input_template {
                None => {
                    error("InputTemplate".to_string(), "missing; InputTransformer needs one".to_string());
                    Transform::Event
                }
                Some(text) if text.is_empty() || chars(text) > MAX_TEMPLATE_CHARS => {
                    error(
                        "InputTemplate".to_string(),
                        format!("{} characters long; it must have 1 to {MAX_TEMPLATE_CHARS}", chars(text)),
                    );
                    Transform::Event
                }
                Some(text) => {
                    let resolve = |name: &str| match (Predefined::from_name(name), paths.get(name)) {
                        (Some(predefined), _) => Resolution::Variable(Variable::Predefined(predefined)),
                        (None, Some(path)) => {
                            Resolution::Variable(Variable::Path { name: name.into(), path: path.clone(), slot: None })
                        }
                        (None, None) if map.contains_key(name) => Resolution::Rejected,
                        (None, None) => Resolution::Unknown,
                    };
                    match Template::compile(text, resolve) {
                        Ok(template) => Transform::InputTransformer(Box::new(InputTransformerTransform { template })),
                        Err(problems) => {
                            for TemplateProblem { offset, message } in problems {
                                let (line, column) = template::line_column(text, offset);
                                error(format!("InputTemplate line {line} column {column}"), message);
                            }
                            Transform::Event
                        }
                    }
                }
            }
        } else {
            Transform::Event
        };
        if errors.is_empty() { Ok(transform) } else { Err(TransformErrors(errors)) }
    }

    /// The input `event` produces for this target. `event` is the accepted event's JSON text (the
    /// matcher has read it); the default and `Input` forms borrow rather than copy.
    pub fn render<'a>(&'a self, event: &'a [u8], context: &RenderContext<'_>) -> Result<Cow<'a, [u8]>, RenderError> {
        match self {
            Transform::Event => Ok(Cow::Borrowed(event)),
            Transform::Input(text) => Ok(Cow::Borrowed(text.as_bytes())),
            Transform::InputPath(transform) => {
                let root = extract::skip_space(event, 0);
                let path = &transform.path;
                let selected = path
                    .select(event, root, &mut ParsedEvent::default())
                    .map_err(|message| RenderError::new(format!("InputPath {}: {message}", path.text)))?;
                let mut out = Vec::new();
                match selected {
                    Selected::Missing => {
                        return Err(RenderError::new(format!("InputPath {} selects nothing in this event", path.text)));
                    }
                    Selected::One(span) => {
                        out.reserve(span.len());
                        extract::compact_into(&event[span], &mut out).map_err(malformed)?;
                    }
                    Selected::Many(spans) => {
                        out.push(b'[');
                        for (idx, span) in spans.into_iter().enumerate() {
                            if idx > 0 {
                                out.push(b',');
                            }
                            extract::compact_into(&event[span], &mut out).map_err(malformed)?;
                        }
                        out.push(b']');
                    }
                }
                Ok(Cow::Owned(out))
            }
            Transform::InputTransformer(transform) => {
                let mut out = Vec::new();
                transform.template.render(event, context, &mut out)?;
                Ok(Cow::Owned(out))
            }
        }
    }
}

/// What is wrong with an InputPathsMap key, if anything.
fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() || chars(key) > MAX_KEY_CHARS {
        return Some(format!("keys must have 1 to {MAX_KEY_CHARS} characters"));
    }
    if Predefined::from_name(key).is_some() {
        return Some("the name of a predefined variable is reserved".to_string());
    }
    if let Some(bad) = key.chars().find(|&ch| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')) {
        return Some(format!("keys may only contain letters, digits, '_' and '-', not {bad:?}"));
    }
    if key.len() >= 3 && key[..3].eq_ignore_ascii_case("aws") {
        return Some("keys cannot start with \"AWS\"".to_string());
    }
    None
}

fn malformed(extract::Malformed { offset }: extract::Malformed) -> RenderError {
    RenderError::new(format!("the event is not valid JSON at byte {offset}"))
}
