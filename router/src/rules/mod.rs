//! Rules files: a folder of YAML and JSON files, each a list of rules with their event pattern and
//! targets (the format is documented in rules/README.md, "Rules files").
//!
//! Loading has three steps, so that `switchyard check` and the server share them:
//! [`read_dir`] reads and checks every file (syntax, fields, names, patterns, transforms, retry
//! policies; no module is loaded) into [`RuleSource`]s; [`build`] loads every referenced consumer
//! module with the Wasm host and returns the pipeline's [`RuleConfig`]s; [`check_examples`] runs
//! the example events embedded in the rules. [`load`] chains the first two with
//! [`Routes::build`]. Every step reports every problem it finds, each a [`Problem`] with the file,
//! line and column of what it concerns, and one broken rule never hides the problems of another.

mod node;
mod read;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::delivery::policy::RetryPolicy;
use crate::invoke::{Consumer, Grants, Host, HostRule, KvHandle, KvStore, Limits, LoadError, TargetSpec};
use crate::pipeline::{PipelineConfig, Routes, RuleConfig, TargetConfig};
use crate::transform::TargetInput;

pub use read::{DEFAULT_CONCURRENCY, MAX_TARGETS};

/// One problem of a rules folder: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(serialize_with = "display_path")]
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns no place in a file.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The rule concerned, when it has a name.
    pub rule: Option<String>,
    pub message: String,
}

fn display_path<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&path.display())
}

impl fmt::Display for Problem {
    /// `file:line:column: rule NAME: message` (without `rule NAME: ` when no rule is concerned).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if let Some(rule) = &self.rule {
            write!(f, "rule {rule}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// One rule as read from its file, checked, before its modules are loaded.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub name: String,
    pub description: Option<String>,
    /// The file the rule is in, and where the rule starts.
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub bus: String,
    pub enabled: bool,
    /// The event pattern, JSON text (numbers as written in the file).
    pub pattern: String,
    pub targets: Vec<TargetSource>,
    pub examples: Vec<ExampleSource>,
}

/// One target of a [`RuleSource`].
#[derive(Debug, Clone)]
pub struct TargetSource {
    pub id: String,
    /// Where the target starts in the rule's file.
    pub line: usize,
    pub column: usize,
    /// The module's path, `${NAME}` expanded and resolved against the rules file's folder.
    pub module: PathBuf,
    /// Where `module` is written (line, column).
    pub module_at: (usize, usize),
    /// The sha256 pin, lowercase.
    pub sha256: Option<String>,
    pub input: TargetInput,
    pub retry: RetryPolicy,
    pub dead_letter_retention: Option<Duration>,
    pub limits: Limits,
    /// Where `limits` is written (the target's position when it is not).
    pub limits_at: (usize, usize),
    pub concurrency: usize,
    pub http: Vec<HostRule>,
    pub kv: bool,
    /// Where `capabilities.kv` is written (the target's position when it is not).
    pub kv_at: (usize, usize),
    /// The config values, in file order, `${NAME}` expanded.
    pub config: Vec<(String, String)>,
}

/// An example event embedded in a rule, and whether the rule must match it.
#[derive(Debug, Clone)]
pub struct ExampleSource {
    pub line: usize,
    pub column: usize,
    /// The event, JSON text.
    pub event: String,
    pub matches: bool,
}

/// What reading a rules folder found: the files read, how many rules, targets and examples they
/// hold (with problems or not), the rules without problems, and every problem.
#[derive(Debug, Default)]
pub struct Scan {
    pub files: Vec<PathBuf>,
    pub rules: usize,
    pub targets: usize,
    pub examples: usize,
    pub sources: Vec<RuleSource>,
    /// The rules that have problems, each with only its targets that have none (a disabled rule
    /// with the pattern `{}`, named as written, possibly empty): [`build`] on them reports the
    /// problems of their modules too, as `switchyard check` does. Never run them.
    pub partial: Vec<RuleSource>,
    pub problems: Vec<Problem>,
}

/// The rules files of `dir`: `*.yaml`, `*.yml` and `*.json`, not hidden, sorted by name.
fn rules_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let wanted = [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext));
        if name.starts_with('.') || !wanted {
            continue;
        }
        let path = entry.path();
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every rules file of `dir`, looking up `${NAME}` with `env`. `Err` only when the folder
/// itself cannot be listed; a file that cannot be read is a problem like any other.
pub fn scan_dir(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> std::io::Result<Scan> {
    let mut scan = Scan { files: rules_files(dir)?, ..Scan::default() };
    let mut names = HashMap::new();
    for file in &scan.files {
        let whole = |message: String| Problem { file: file.clone(), line: 1, column: 1, rule: None, message };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(error) => {
                scan.problems.push(whole(format!("cannot be read: {error}")));
                continue;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                scan.problems.push(whole(format!("is not UTF-8 text: {}", error.utf8_error())));
                continue;
            }
        };
        let yaml = file.extension().is_none_or(|ext| ext != "json");
        let parsed = if yaml { node::parse_yaml(&text) } else { node::parse_json(&text) };
        let root = match parsed {
            Ok(root) => root,
            Err(error) => {
                scan.problems.push(Problem {
                    file: file.clone(),
                    line: error.line,
                    column: error.column,
                    rule: None,
                    message: error.message,
                });
                continue;
            }
        };
        let items = match &root.kind {
            node::Kind::Seq(items) => items.as_slice(),
            node::Kind::Null if yaml => &[],
            _ => {
                let hint =
                    if matches!(root.kind, node::Kind::Map(_)) && yaml { " (start each rule with `- `)" } else { "" };
                scan.problems.push(Problem {
                    file: file.clone(),
                    line: root.line,
                    column: root.column,
                    rule: None,
                    message: format!("a rules file must be a list of rules, not {}{hint}", root.describe()),
                });
                continue;
            }
        };
        let folder = file.parent().unwrap_or(dir);
        let json_text = (!yaml).then_some(text.as_str());
        let mut reader = read::Reader::new(file, folder, yaml, json_text, env, &mut names);
        for item in items {
            scan.rules += 1;
            if let Some(source) = reader.rule(item) {
                scan.sources.push(source);
            }
        }
        scan.partial.append(&mut reader.partial);
        scan.targets += reader.targets_seen;
        scan.examples += reader.examples_seen;
        scan.problems.append(&mut reader.problems);
    }
    Ok(scan)
}

/// Reads and checks every rules file of `dir` (syntax, fields, names, patterns, transforms,
/// policies); no module is loaded. `${NAME}` is read from the environment.
pub fn read_dir(dir: &Path) -> Result<Vec<RuleSource>, Vec<Problem>> {
    read_dir_with(dir, &|name| std::env::var(name).ok())
}

/// [`read_dir`], looking up `${NAME}` with `env`.
pub fn read_dir_with(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<RuleSource>, Vec<Problem>> {
    match scan_dir(dir, env) {
        Err(error) => Err(vec![Problem {
            file: dir.to_owned(),
            line: 0,
            column: 0,
            rule: None,
            message: format!("cannot read the rules folder: {error}"),
        }]),
        Ok(scan) if scan.problems.is_empty() => Ok(scan.sources),
        Ok(scan) => Err(scan.problems),
    }
}

/// Loads every referenced module with `host` (each distinct (path, sha256) once), grants kv from
/// `kv` when a target asks for it, and returns the pipeline's rules; every problem of every rule is
/// reported.
pub fn build(
    sources: &[RuleSource],
    host: &Host,
    kv: Option<Arc<dyn KvStore>>,
) -> Result<Vec<RuleConfig>, Vec<Problem>> {
    let mut loaded: HashMap<(PathBuf, Option<String>), Result<Consumer, LoadError>> = HashMap::new();
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    let max_memory = host.config().max_memory_bytes;
    for source in sources {
        let problem = |(line, column): (usize, usize), message: String| Problem {
            file: source.file.clone(),
            line,
            column,
            rule: (!source.name.is_empty()).then(|| source.name.clone()),
            message,
        };
        let mut targets = Vec::new();
        for target in &source.targets {
            let id = &target.id;
            let key = (target.module.clone(), target.sha256.clone());
            let consumer =
                loaded.entry(key).or_insert_with(|| host.load(&target.module, target.sha256.as_deref())).clone();
            let consumer = match consumer {
                Ok(consumer) => Some(consumer),
                Err(error) => {
                    problems.push(problem(target.module_at, format!("target {id}: {error}")));
                    None
                }
            };
            if target.limits.memory_bytes > max_memory {
                problems.push(problem(
                    target.limits_at,
                    format!(
                        "target {id}: limits: memory_mb is {}; this router allows at most {} MiB",
                        target.limits.memory_bytes >> 20,
                        max_memory >> 20
                    ),
                ));
            }
            if target.limits.fuel.is_some() && !host.config().fuel {
                problems.push(problem(
                    target.limits_at,
                    format!("target {id}: limits: fuel is set but this router does not count fuel"),
                ));
            }
            let kv = match (&kv, target.kv) {
                (_, false) => None,
                (Some(store), true) => Some(KvHandle::new(store.clone(), id)),
                (None, true) => {
                    problems.push(problem(
                        target.kv_at,
                        format!("target {id}: capabilities: kv is asked for but this router has no key-value store"),
                    ));
                    None
                }
            };
            let Some(consumer) = consumer else { continue };
            let spec = TargetSpec {
                config: target.config.clone(),
                limits: target.limits.clone(),
                grants: Grants { http: target.http.clone(), kv },
            };
            targets.push(TargetConfig {
                id: id.clone(),
                consumer,
                spec: Arc::new(spec),
                input: target.input.clone(),
                retry: target.retry,
                concurrency: target.concurrency,
                dead_letter_retention: target.dead_letter_retention,
            });
        }
        rules.push(RuleConfig {
            name: source.name.clone(),
            bus: source.bus.clone(),
            enabled: source.enabled,
            pattern: source.pattern.clone(),
            targets,
        });
    }
    if problems.is_empty() { Ok(rules) } else { Err(problems) }
}

/// Runs every rule's embedded examples against that rule's pattern; one problem per example whose
/// result differs (or whose event cannot be matched).
pub fn check_examples(sources: &[RuleSource]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for source in sources.iter().filter(|s| !s.examples.is_empty()) {
        let problem = |line, column, message| Problem {
            file: source.file.clone(),
            line,
            column,
            rule: Some(source.name.clone()),
            message,
        };
        let matcher = switchyard_pattern::Matcher::<usize>::new();
        if let Err(error) = matcher.add(0, &source.pattern) {
            problems.push(problem(source.line, source.column, format!("event_pattern: {error}")));
            continue;
        }
        for (idx, example) in source.examples.iter().enumerate() {
            let number = idx + 1;
            let message = match matcher.matches(example.event.as_bytes()) {
                Ok(hits) if hits.is_empty() == example.matches => {
                    let (does, expected) =
                        if example.matches { ("does not match", "true") } else { ("matches", "false") };
                    format!(
                        "example {number}: the event pattern {does} this event, but the example says matches: {expected}"
                    )
                }
                Ok(_) => continue,
                Err(error) => format!("example {number}: the event cannot be matched: {error}"),
            };
            problems.push(problem(example.line, example.column, message));
        }
    }
    problems
}

/// Convenience: [`read_dir`] + [`build`] + [`Routes::build`], whose messages become problems of the
/// rules they name.
pub fn load(
    dir: &Path,
    host: &Host,
    kv: Option<Arc<dyn KvStore>>,
    config: &PipelineConfig,
) -> Result<Routes, Vec<Problem>> {
    load_with(dir, &|name| std::env::var(name).ok(), host, kv, config)
}

/// [`load`], looking up `${NAME}` with `env`.
pub fn load_with(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    host: &Host,
    kv: Option<Arc<dyn KvStore>>,
    config: &PipelineConfig,
) -> Result<Routes, Vec<Problem>> {
    let sources = read_dir_with(dir, env)?;
    let rules = build(&sources, host, kv)?;
    Routes::build(rules, config)
        .map_err(|messages| messages.into_iter().map(|message| route_problem(dir, &sources, message)).collect())
}

/// A message of [`Routes::build`] (`rule NAME: ...` or `rule "NAME" target "ID": ...`) as a problem
/// at its rule.
fn route_problem(dir: &Path, sources: &[RuleSource], message: String) -> Problem {
    let rest = message.strip_prefix("rule ").unwrap_or(&message);
    let (name, rest) = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
        None => rest.split_once([':', ' ']).unwrap_or((rest, "")),
    };
    let rest = rest.trim_start_matches([':', ' ']);
    match sources.iter().find(|s| s.name == name) {
        Some(source) => Problem {
            file: source.file.clone(),
            line: source.line,
            column: source.column,
            rule: Some(source.name.clone()),
            message: rest.to_owned(),
        },
        None => Problem { file: dir.to_owned(), line: 0, column: 0, rule: None, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str) -> RuleSource {
        RuleSource {
            name: name.into(),
            description: None,
            file: "a.yaml".into(),
            line: 3,
            column: 3,
            bus: "default".into(),
            enabled: true,
            pattern: "{}".into(),
            targets: Vec::new(),
            examples: Vec::new(),
        }
    }

    #[test]
    fn route_messages_become_problems_of_their_rule() {
        let sources = [source("r1"), source("r-2")];
        let p = route_problem(Path::new("d"), &sources, "rule r1: event pattern: at /a: bad".into());
        assert_eq!(p.to_string(), "a.yaml:3:3: rule r1: event pattern: at /a: bad");
        let p = route_problem(Path::new("d"), &sources, "rule r-2 target t: retry policy: x".into());
        assert_eq!(p.to_string(), "a.yaml:3:3: rule r-2: target t: retry policy: x");
        let p = route_problem(Path::new("d"), &sources, "rule \"r-2\" target \"t\": Input: y".into());
        assert_eq!(p.to_string(), "a.yaml:3:3: rule r-2: target \"t\": Input: y");
        let p = route_problem(Path::new("d"), &sources, "rule zz: defined twice".into());
        assert_eq!(p.to_string(), "d:0:0: rule zz: defined twice");
    }

    #[test]
    fn problems_serialize_with_their_file_as_text() {
        let p = Problem { file: "x/a.yaml".into(), line: 2, column: 5, rule: None, message: "m".into() };
        assert_eq!(p.to_string(), "x/a.yaml:2:5: m");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"file": "x/a.yaml", "line": 2, "column": 5, "rule": null, "message": "m"})
        );
    }
}
