//! From a file's nodes to [`RuleSource`]s: every field of every rule is checked on its own, and
//! every problem is recorded with the position of the node it concerns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::node::{DeError, Kind, Node, from_node};
use super::{ExampleSource, Problem, RuleSource, TargetSource};
use crate::delivery::policy::RetryPolicy;
use crate::invoke::{HostRule, Limits};
use crate::pipeline::DEFAULT_BUS;
use crate::transform::{InputTransformer, TargetInput, TargetRef, Transform};

/// The most targets a rule may have (EventBridge's limit).
pub const MAX_TARGETS: usize = 5;
/// Deliveries of one target that may run at once when the rules file does not say: as many as the
/// router runs at once by default, since a delivery waits on its completion's group commit and 16
/// drained a backlog a third as fast (docs/benchmarks.md).
pub const DEFAULT_CONCURRENCY: usize = 64;

const RULE_FIELDS: &[&str] = &["name", "description", "bus", "state", "event_pattern", "targets", "examples"];
const TARGET_FIELDS: &[&str] = &[
    "id",
    "module",
    "sha256",
    "input",
    "input_path",
    "input_transformer",
    "retry_policy",
    "dead_letter",
    "limits",
    "capabilities",
    "config",
];
const EXAMPLE_FIELDS: &[&str] = &["event", "matches"];

#[derive(Debug, Deserialize)]
enum State {
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "DISABLED")]
    Disabled,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetter {
    retention_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsField {
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    fuel: Option<u64>,
    emit_max_events: Option<usize>,
    emit_max_bytes: Option<usize>,
    concurrency: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capabilities {
    #[serde(default)]
    http: Vec<String>,
    #[serde(default)]
    kv: bool,
}

/// Whether `text` is a valid name: 1 to `max` characters of letters, digits, `.`, `-` and `_`.
fn name_problem(what: &str, text: &str, max: usize) -> Option<String> {
    let n = text.chars().count();
    if n == 0 || n > max {
        return Some(format!("{what} {text:?} must have 1 to {max} characters"));
    }
    if let Some(bad) = text.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        return Some(format!("{what} {text:?} may only contain letters, digits, '.', '-' and '_', not {bad:?}"));
    }
    None
}

/// Replaces every `${NAME}` with the variable NAME; `$${` is a literal `${`.
pub(crate) fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(reference) = after.strip_prefix('{') {
            let Some(end) = reference.find('}') else {
                return Err(format!("`${{` without its closing `}}` in {text:?}; write $${{ for a literal ${{"));
            };
            let name = &reference[..end];
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`${{{name}}}` is not a variable reference: a name has letters, digits and '_'; write $${{ for a literal ${{"
                ));
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => return Err(format!("the environment variable {name} is not set")),
            }
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The fields of one mapping, by name, after the unknown and repeated ones were reported.
struct Fields<'n> {
    map: HashMap<&'static str, &'n Node>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.map.get(name).copied()
    }
}

/// Reads the rules of one file, reporting problems as it goes.
pub(crate) struct Reader<'a> {
    pub(crate) file: &'a Path,
    /// The folder relative module paths are resolved against.
    pub(crate) folder: &'a Path,
    pub(crate) yaml: bool,
    /// The file's text, for JSON files (patterns and events are copied as written).
    pub(crate) json_text: Option<&'a str>,
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    /// Rule names already used, over every file, and where.
    pub(crate) names: &'a mut HashMap<String, (PathBuf, usize, usize)>,
    pub(crate) problems: Vec<Problem>,
    /// Rules with problems, with the targets that have none (see [`super::Scan::partial`]).
    pub(crate) partial: Vec<RuleSource>,
    pub(crate) targets_seen: usize,
    pub(crate) examples_seen: usize,
    rule: Option<String>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        file: &'a Path,
        folder: &'a Path,
        yaml: bool,
        json_text: Option<&'a str>,
        env: &'a dyn Fn(&str) -> Option<String>,
        names: &'a mut HashMap<String, (PathBuf, usize, usize)>,
    ) -> Reader<'a> {
        Reader {
            file,
            folder,
            yaml,
            json_text,
            env,
            names,
            problems: Vec::new(),
            partial: Vec::new(),
            targets_seen: 0,
            examples_seen: 0,
            rule: None,
        }
    }

    fn problem_at(&mut self, line: usize, column: usize, message: String) {
        self.problems.push(Problem { file: self.file.to_owned(), line, column, rule: self.rule.clone(), message });
    }

    fn problem(&mut self, node: &Node, message: String) {
        self.problem_at(node.line, node.column, message);
    }

    fn de_problem(&mut self, node: &Node, prefix: &str, error: DeError) {
        let (line, column) = error.at.unwrap_or((node.line, node.column));
        self.problem_at(line, column, format!("{prefix}{}", error.message));
    }

    /// Deserializes a field's value, reporting what is wrong (prefixed with where it is).
    fn take<T: DeserializeOwned>(&mut self, node: &Node, prefix: &str) -> Option<T> {
        match from_node(node, self.yaml) {
            Ok(value) => Some(value),
            Err(error) => {
                self.de_problem(node, prefix, error);
                None
            }
        }
    }

    /// The fields of a mapping; unknown, repeated and non-string keys are reported. `None` (and a
    /// problem) when the node is not a mapping.
    fn fields<'n>(&mut self, node: &'n Node, known: &[&'static str], what: &str, prefix: &str) -> Option<Fields<'n>> {
        let Kind::Map(entries) = &node.kind else {
            self.problem(node, format!("{prefix}{what} must be a mapping, not {}", node.describe()));
            return None;
        };
        let mut map = HashMap::new();
        for (key, value) in entries {
            let Some(name) = key.as_str(self.yaml) else {
                self.problem(key, format!("{prefix}a key must be a string, not {}", key.describe()));
                continue;
            };
            match known.iter().find(|k| **k == name) {
                Some(k) => {
                    if map.insert(*k, value).is_some() {
                        self.problem(key, format!("{prefix}duplicate field `{name}`"));
                    }
                }
                None => {
                    let expected = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                    self.problem(key, format!("{prefix}unknown field `{name}`, expected one of {expected}"));
                }
            }
        }
        Some(Fields { map })
    }

    /// A mapping or a string holding JSON text, as JSON text; `what` names the field.
    fn json_field(&mut self, node: &Node, prefix: &str, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(text) => Some(text.clone()),
            Kind::Map(_) => {
                if self.yaml
                    && let Some(key) = node.repeated_key()
                {
                    let key_text = key.as_str(true).unwrap_or_default().to_owned();
                    self.problem(key, format!("{prefix}{what}: duplicate key `{key_text}`"));
                    return None;
                }
                match node.to_json(self.json_text) {
                    Ok(text) => Some(text),
                    Err((at, message)) => {
                        self.problem(at, format!("{prefix}{what}: {message}"));
                        None
                    }
                }
            }
            _ => {
                self.problem(
                    node,
                    format!(
                        "{prefix}{what} must be a mapping, or a string holding its JSON text, not {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }

    /// Reads one rule; `None` when it has any problem (all of them reported).
    pub(crate) fn rule(&mut self, node: &Node) -> Option<RuleSource> {
        let before = self.problems.len();
        self.rule = node
            .get("name", self.yaml)
            .and_then(|n| n.as_str(self.yaml))
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        let fields = self.fields(node, RULE_FIELDS, "a rule", "")?;

        let name = match fields.get("name") {
            None => {
                self.problem(node, "missing field `name`".into());
                None
            }
            Some(value) => self.take::<String>(value, "name: ").and_then(|name| {
                if let Some(problem) = name_problem("the rule name", &name, 64) {
                    self.problem(value, problem);
                    return None;
                }
                match self.names.get(&name) {
                    Some((file, line, column)) => {
                        let message = format!(
                            "the rule name {name} is already used by the rule at {}:{line}:{column}",
                            file.display()
                        );
                        self.problem(value, message);
                        None
                    }
                    None => {
                        self.names.insert(name.clone(), (self.file.to_owned(), node.line, node.column));
                        Some(name)
                    }
                }
            }),
        };

        let description = fields.get("description").and_then(|value| {
            let text = self.take::<Option<String>>(value, "description: ")??;
            let n = text.chars().count();
            if n > 512 {
                self.problem(value, format!("description has {n} characters; the limit is 512"));
            }
            Some(text)
        });

        let bus = match fields.get("bus") {
            None => Some(DEFAULT_BUS.to_owned()),
            Some(value) => self.take::<Option<String>>(value, "bus: ").map(|bus| {
                let bus = bus.unwrap_or_else(|| DEFAULT_BUS.to_owned());
                if let Some(problem) = name_problem("the bus name", &bus, 256) {
                    self.problem(value, problem);
                }
                bus
            }),
        };

        let enabled = match fields.get("state") {
            None => Some(true),
            Some(value) => self.take::<Option<State>>(value, "state: ").map(|s| !matches!(s, Some(State::Disabled))),
        };

        let pattern = match fields.get("event_pattern") {
            None => {
                self.problem(node, "missing field `event_pattern`".into());
                None
            }
            Some(value) => self.json_field(value, "", "event_pattern").and_then(|text| {
                match switchyard_pattern::Pattern::parse(&text, &switchyard_pattern::Limits::default()) {
                    Ok(_) => Some(text),
                    Err(error) => {
                        let at = if matches!(value.kind, Kind::Map(_)) {
                            value.resolve(error.pointer(), self.yaml)
                        } else {
                            value
                        };
                        self.problem(at, format!("event_pattern: {error}"));
                        None
                    }
                }
            }),
        };

        let mut targets = Vec::new();
        match fields.get("targets") {
            None => self.problem(node, "missing field `targets`".into()),
            Some(value) => match &value.kind {
                Kind::Seq(items) => {
                    if items.is_empty() || items.len() > MAX_TARGETS {
                        self.problem(
                            value,
                            format!("a rule has 1 to {MAX_TARGETS} targets; this one has {}", items.len()),
                        );
                    }
                    let mut ids: HashMap<String, (usize, usize)> = HashMap::new();
                    for (idx, item) in items.iter().enumerate() {
                        self.targets_seen += 1;
                        if let Some(target) = self.target(item, idx, name.as_deref(), &mut ids) {
                            targets.push(target);
                        }
                    }
                }
                _ => self.problem(value, format!("targets must be a list of targets, not {}", value.describe())),
            },
        }

        let mut examples = Vec::new();
        if let Some(value) = fields.get("examples") {
            match &value.kind {
                Kind::Null => {}
                Kind::Seq(items) => {
                    for (idx, item) in items.iter().enumerate() {
                        self.examples_seen += 1;
                        if let Some(example) = self.example(item, idx + 1) {
                            examples.push(example);
                        }
                    }
                }
                _ => self.problem(value, format!("examples must be a list, not {}", value.describe())),
            }
        }

        if self.problems.len() > before {
            if !targets.is_empty() {
                // Its modules can still be checked.
                self.partial.push(RuleSource {
                    name: self.rule.clone().unwrap_or_default(),
                    description: None,
                    file: self.file.to_owned(),
                    line: node.line,
                    column: node.column,
                    bus: DEFAULT_BUS.to_owned(),
                    enabled: false,
                    pattern: "{}".to_owned(),
                    targets,
                    examples: Vec::new(),
                });
            }
            return None;
        }
        Some(RuleSource {
            name: name?,
            description,
            file: self.file.to_owned(),
            line: node.line,
            column: node.column,
            bus: bus?,
            enabled: enabled?,
            pattern: pattern?,
            targets,
            examples,
        })
    }

    fn target(
        &mut self,
        node: &Node,
        idx: usize,
        rule: Option<&str>,
        ids: &mut HashMap<String, (usize, usize)>,
    ) -> Option<TargetSource> {
        let before = self.problems.len();
        let written_id = node.get("id", self.yaml).and_then(|n| n.as_str(self.yaml)).map(str::to_owned);
        let prefix = match &written_id {
            Some(id) => format!("target {id}: "),
            None => format!("target #{}: ", idx + 1),
        };
        let fields = self.fields(node, TARGET_FIELDS, "a target", &prefix)?;

        let id = match fields.get("id") {
            None => {
                self.problem(node, format!("{prefix}missing field `id`"));
                None
            }
            Some(value) => self.take::<String>(value, &format!("{prefix}id: ")).and_then(|id| {
                if let Some(problem) = name_problem("the target id", &id, 64) {
                    self.problem(value, format!("{prefix}{problem}"));
                    return None;
                }
                if let Some((line, column)) = ids.get(&id) {
                    self.problem(
                        value,
                        format!(
                            "{prefix}the target id is used twice in this rule (first at line {line}, column {column})"
                        ),
                    );
                    return None;
                }
                ids.insert(id.clone(), (value.line, value.column));
                Some(id)
            }),
        };

        let module = match fields.get("module") {
            None => {
                self.problem(node, format!("{prefix}missing field `module`"));
                None
            }
            Some(value) => self.take::<String>(value, &format!("{prefix}module: ")).and_then(|text| {
                match expand(&text, self.env) {
                    Ok(text) if text.is_empty() => {
                        self.problem(value, format!("{prefix}module: the path is empty"));
                        None
                    }
                    Ok(text) => Some((self.folder.join(text), (value.line, value.column))),
                    Err(message) => {
                        self.problem(value, format!("{prefix}module: {message}"));
                        None
                    }
                }
            }),
        };

        let sha256 = fields.get("sha256").and_then(|value| {
            let pin = self.take::<Option<String>>(value, &format!("{prefix}sha256: "))??;
            let pin = pin.trim().to_ascii_lowercase();
            if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.problem(value, format!("{prefix}sha256: {pin:?} is not 64 hexadecimal digits"));
            }
            Some(pin)
        });

        let mut input = TargetInput::default();
        if let Some(value) = fields.get("input") {
            input.input = match &value.kind {
                Kind::Null => None,
                Kind::Str(text) => Some(text.clone()),
                _ => match value.to_json(self.json_text) {
                    Ok(text) => Some(text),
                    Err((at, message)) => {
                        self.problem(at, format!("{prefix}input: {message}"));
                        None
                    }
                },
            };
        }
        if let Some(value) = fields.get("input_path") {
            input.input_path = self.take::<Option<String>>(value, &format!("{prefix}input_path: ")).flatten();
        }
        if let Some(value) = fields.get("input_transformer") {
            input.input_transformer =
                self.take::<Option<InputTransformer>>(value, &format!("{prefix}input_transformer: ")).flatten();
        }
        // The rule and target only name the problems, which name them already.
        let target = TargetRef { rule: rule.unwrap_or("-"), target: id.as_deref().unwrap_or("-") };
        if let Err(errors) = Transform::compile(&input, target) {
            for error in errors.0 {
                let at = self.transform_node(node, &fields, &error.location);
                let message = match error.location.as_str() {
                    "target" => format!("{prefix}{}", error.message),
                    location => format!("{prefix}{location}: {}", error.message),
                };
                self.problem(at, message);
            }
        }

        let retry = match fields.get("retry_policy") {
            None => RetryPolicy::default(),
            Some(value) => {
                let policy = self
                    .take::<Option<RetryPolicy>>(value, &format!("{prefix}retry_policy: "))
                    .flatten()
                    .unwrap_or_default();
                for problem in policy.problems() {
                    self.problem(value, format!("{prefix}retry_policy: {problem}"));
                }
                policy
            }
        };

        let mut dead_letter_retention = None;
        if let Some(value) = fields.get("dead_letter") {
            let days = self
                .take::<Option<DeadLetter>>(value, &format!("{prefix}dead_letter: "))
                .flatten()
                .and_then(|d| d.retention_days);
            if let Some(days) = days {
                if !(1..=3650).contains(&days) {
                    let at = value.get("retention_days", self.yaml).unwrap_or(value);
                    self.problem(
                        at,
                        format!("{prefix}dead_letter: retention_days is {days}; it must be between 1 and 3650"),
                    );
                }
                dead_letter_retention = Some(Duration::from_secs(u64::from(days) * 86_400));
            }
        }

        let mut limits = Limits::default();
        let mut concurrency = DEFAULT_CONCURRENCY;
        let limits_at = fields.get("limits").map_or((node.line, node.column), |v| (v.line, v.column));
        if let Some(value) = fields.get("limits")
            && let Some(given) = self.take::<Option<LimitsField>>(value, &format!("{prefix}limits: ")).flatten()
        {
            let mut check = |field: &str, ok: bool, rule: &str| {
                if !ok {
                    let at = value.get(field, self.yaml).unwrap_or(value);
                    let problem = format!("{prefix}limits: {field} {rule}");
                    self.problem(at, problem);
                }
            };
            if let Some(ms) = given.timeout_ms {
                check("timeout_ms", ms >= 1, "must be at least 1");
                limits.timeout = Duration::from_millis(ms);
            }
            if let Some(mb) = given.memory_mb {
                check("memory_mb", (1..=(1 << 20)).contains(&mb), "must be between 1 and 1048576 (MiB)");
                limits.memory_bytes = usize::try_from(mb.min(1 << 20)).unwrap_or(usize::MAX) << 20;
            }
            if let Some(fuel) = given.fuel {
                check("fuel", fuel >= 1, "must be at least 1");
                limits.fuel = Some(fuel);
            }
            if let Some(n) = given.emit_max_events {
                limits.emit_max_events = n;
            }
            if let Some(n) = given.emit_max_bytes {
                limits.emit_max_bytes = n;
            }
            if let Some(n) = given.concurrency {
                check("concurrency", n >= 1, "must be at least 1");
                concurrency = n;
            }
        }

        let mut http = Vec::new();
        let mut kv = false;
        let mut kv_at = (node.line, node.column);
        if let Some(value) = fields.get("capabilities")
            && let Some(caps) = self.take::<Option<Capabilities>>(value, &format!("{prefix}capabilities: ")).flatten()
        {
            let entries = match value.get("http", self.yaml).map(|n| &n.kind) {
                Some(Kind::Seq(entries)) => entries.as_slice(),
                _ => &[],
            };
            for (idx, text) in caps.http.iter().enumerate() {
                match HostRule::parse(text) {
                    Ok(rule) => http.push(rule),
                    Err(message) => {
                        let at = entries.get(idx).unwrap_or(value);
                        self.problem(at, format!("{prefix}capabilities: {message}"));
                    }
                }
            }
            kv = caps.kv;
            if let Some(at) = value.get("kv", self.yaml) {
                kv_at = (at.line, at.column);
            }
        }

        let mut config = Vec::new();
        if let Some(value) = fields.get("config") {
            match &value.kind {
                Kind::Null => {}
                Kind::Map(entries) => {
                    for (key, entry) in entries {
                        let Some(key_text) = key.as_str(self.yaml) else {
                            self.problem(
                                key,
                                format!("{prefix}config: a key must be a string, not {}", key.describe()),
                            );
                            continue;
                        };
                        if config.iter().any(|(k, _): &(String, String)| k == key_text) {
                            self.problem(key, format!("{prefix}config: duplicate key `{key_text}`"));
                            continue;
                        }
                        let Kind::Str(text) = &entry.kind else {
                            let hint = match &entry.kind {
                                Kind::Number(n) => format!("; quote it: \"{}\"", n.text),
                                Kind::Bool { value, text } => {
                                    format!("; quote it: \"{}\"", text.clone().unwrap_or_else(|| value.to_string()))
                                }
                                _ => String::new(),
                            };
                            self.problem(
                                entry,
                                format!(
                                    "{prefix}config: the value of `{key_text}` must be a string, not {}{hint}",
                                    entry.describe()
                                ),
                            );
                            continue;
                        };
                        match expand(text, self.env) {
                            Ok(text) => config.push((key_text.to_owned(), text)),
                            Err(message) => self.problem(entry, format!("{prefix}config: {key_text}: {message}")),
                        }
                    }
                }
                _ => self.problem(value, format!("{prefix}config must be a mapping, not {}", value.describe())),
            }
        }

        if self.problems.len() > before {
            return None;
        }
        let (module, module_at) = module?;
        Some(TargetSource {
            id: id?,
            line: node.line,
            column: node.column,
            module,
            module_at,
            sha256,
            input,
            retry,
            dead_letter_retention,
            limits,
            limits_at,
            concurrency,
            http,
            kv,
            kv_at,
            config,
        })
    }

    /// The node a transform problem's location names (`InputPathsMap key "k"`, `InputTemplate ...`).
    fn transform_node<'n>(&self, target: &'n Node, fields: &Fields<'n>, location: &str) -> &'n Node {
        let transformer = fields.get("input_transformer");
        let in_transformer = |names: [&str; 2]| {
            transformer.and_then(|t| names.iter().find_map(|name| t.get(name, self.yaml))).or(transformer)
        };
        let found = if location == "Input" {
            fields.get("input")
        } else if location.starts_with("InputPath ") {
            fields.get("input_path")
        } else if let Some(key) = location.strip_prefix("InputPathsMap key ") {
            let key: String = serde_json::from_str(key).unwrap_or_default();
            in_transformer(["input_paths_map", "InputPathsMap"]).map(|map| match &map.kind {
                Kind::Map(entries) => {
                    entries.iter().find(|(k, _)| k.as_str(self.yaml) == Some(key.as_str())).map_or(map, |(k, _)| k)
                }
                _ => map,
            })
        } else if location.starts_with("InputPathsMap") {
            in_transformer(["input_paths_map", "InputPathsMap"])
        } else if location.starts_with("InputTemplate") {
            in_transformer(["input_template", "InputTemplate"])
        } else {
            None
        };
        found.unwrap_or(target)
    }

    fn example(&mut self, node: &Node, number: usize) -> Option<ExampleSource> {
        let before = self.problems.len();
        let prefix = format!("example {number}: ");
        let fields = self.fields(node, EXAMPLE_FIELDS, "an example", &prefix)?;
        let event = match fields.get("event") {
            None => {
                self.problem(node, format!("{prefix}missing field `event`"));
                None
            }
            Some(value) => self.json_field(value, &prefix, "event").and_then(|text| {
                let object = text.trim_start().starts_with('{');
                match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
                    Ok(_) if object => Some(text),
                    Ok(_) => {
                        self.problem(value, format!("{prefix}the event must be a JSON object"));
                        None
                    }
                    Err(error) => {
                        self.problem(value, format!("{prefix}the event is not JSON: {error}"));
                        None
                    }
                }
            }),
        };
        let matches = match fields.get("matches") {
            None => {
                self.problem(node, format!("{prefix}missing field `matches`"));
                None
            }
            Some(value) => self.take::<bool>(value, &format!("{prefix}matches: ")),
        };
        if self.problems.len() > before {
            return None;
        }
        Some(ExampleSource { line: node.line, column: node.column, event: event?, matches: matches? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let env = |name: &str| (name == "WASM").then(|| "/opt/wasm".to_owned());
        assert_eq!(expand("${WASM}/a.wasm", &env).unwrap(), "/opt/wasm/a.wasm");
        assert_eq!(expand("$${WASM} costs $5 ${WASM}", &env).unwrap(), "${WASM} costs $5 /opt/wasm");
        assert_eq!(expand("no$", &env).unwrap(), "no$");
        assert_eq!(expand("${NOPE}", &env).unwrap_err(), "the environment variable NOPE is not set");
        assert!(expand("${WASM", &env).unwrap_err().contains("without its closing"));
        assert!(expand("${1X}", &env).unwrap_err().contains("is not a variable reference"));
    }

    #[test]
    fn names() {
        assert_eq!(name_problem("name", "a.b-c_D9", 64), None);
        assert!(name_problem("name", "", 64).is_some());
        assert!(name_problem("name", &"x".repeat(65), 64).is_some());
        assert!(name_problem("name", "a b", 64).unwrap().contains("not ' '"));
    }
}
