//! Rules files: the data-driven cases of tests/cases/rules/ (one folder of rules files per case, with
//! the exact problems expected in `expected.txt`), what a clean folder builds into, `switchyard
//! check` as a process, and the rules the repository ships (rules/, examples/, rules/README.md).
//!
//! A case folder is checked as `switchyard check` does: read (every file), build (every module,
//! with a key-value store), then the examples. Problems are written as `file:line:column: rule NAME:
//! message` with the case folder removed from paths and the Wasm folder written `$SWITCHYARD_WASM`.
//! `SWITCHYARD_BLESS=1` rewrites the `expected.txt` files from what the code reports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchyard::invoke::{AllocationMode, Host, HostConfig, KvStore, MemoryKv};
use switchyard::pipeline::{PipelineConfig, RuleConfig};
use switchyard::rules::{self, Problem};
use switchyard_tests::switchyard_bin;

use crate::invoke::wasm;

const WASM_DIR: &str = env!("SWITCHYARD_WASM_DIR");

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/rules")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The variables the cases may use; tests run in parallel, so nothing is read from the process.
fn env(name: &str) -> Option<String> {
    match name {
        "SWITCHYARD_WASM" => Some(WASM_DIR.to_owned()),
        "TEST_PORT" | "DEMO_WEBHOOK_PORT" => Some("9000".to_owned()),
        "AWS_REGION" => Some("eu-west-1".to_owned()),
        _ => None,
    }
}

/// One host for this module, as `switchyard check` builds it (no cache here).
fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        Host::new(HostConfig {
            max_concurrency: 1,
            allocation: AllocationMode::OnDemand,
            cache_dir: None,
            ..HostConfig::default()
        })
        .expect("host")
    })
}

fn kv() -> Option<Arc<dyn KvStore>> {
    Some(Arc::new(MemoryKv::default()))
}

/// Every problem of a folder, as `switchyard check` finds them, sorted by place.
fn check(dir: &Path) -> Vec<Problem> {
    let scan = rules::scan_dir(dir, &env).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut problems = scan.problems;
    let all: Vec<rules::RuleSource> = scan.sources.iter().chain(&scan.partial).cloned().collect();
    if let Err(more) = rules::build(&all, host(), kv()) {
        problems.extend(more);
    }
    problems.extend(rules::check_examples(&scan.sources));
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    problems
}

/// A problem as `expected.txt` writes it: paths relative to the case, and what depends on the build
/// (where the Wasm folder is, the sha256 of c_ok.wasm) as names.
fn line(dir: &Path, text: &str) -> String {
    static C_OK_SHA256: OnceLock<String> = OnceLock::new();
    let sha256 = C_OK_SHA256.get_or_init(|| host().load(&wasm("c_ok"), None).expect("c_ok loads").sha256().to_owned());
    text.replace(&format!("{}/", dir.display()), "")
        .replace(WASM_DIR, "$SWITCHYARD_WASM")
        .replace(sha256.as_str(), "$C_OK_SHA256")
}

#[test]
fn cases() {
    let bless = std::env::var_os("SWITCHYARD_BLESS").is_some();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases/rules")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "only {} cases", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let problems = check(dir);
        let got: Vec<String> = problems.iter().map(|p| line(dir, &p.to_string())).collect();
        let got = if got.is_empty() { "ok\n".to_owned() } else { got.join("\n") + "\n" };
        let expected_path = dir.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "case {}:\n--- expected\n{expected}--- got\n{got}",
                dir.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), dirs.len(), failures.join("\n"));
}

/// A temporary folder that is removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("switchyard-rules-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> &TempDir {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn built(dir: &Path) -> Vec<RuleConfig> {
    let sources = rules::read_dir_with(dir, &env).unwrap_or_else(|p| panic!("{p:#?}"));
    rules::build(&sources, host(), kv()).unwrap_or_else(|p| panic!("{p:#?}"))
}

#[test]
fn a_clean_folder_builds_into_the_rules_it_says() {
    let rules = built(&cases_dir().join("ok-yaml"));
    assert_eq!(rules.len(), 2);
    let (orders, audit) = (&rules[0], &rules[1]);
    assert_eq!((orders.name.as_str(), orders.bus.as_str(), orders.enabled), ("order-confirmation", "default", true));
    assert_eq!(
        orders.pattern,
        r#"{"source":["shop.orders"],"detail":{"total":[{"numeric":[">",0]}],"ratio":[1.00000000000000001]}}"#
    );
    let notify = &orders.targets[0];
    assert_eq!(notify.id, "notify");
    assert_eq!(notify.consumer.path(), Path::new(WASM_DIR).join("c_ok.wasm"));
    assert_eq!(
        notify.spec.config,
        [("b", "2"), ("a", "1"), ("port", "9000"), ("literal", "${HOME} $5")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
    );
    let limits = &notify.spec.limits;
    assert_eq!(limits.timeout, Duration::from_millis(500));
    assert_eq!(limits.memory_bytes, 16 << 20);
    assert_eq!((limits.fuel, limits.emit_max_events, limits.emit_max_bytes), (None, 3, 4096));
    assert_eq!(notify.concurrency, 2);
    assert_eq!((notify.retry.maximum_retry_attempts, notify.retry.maximum_event_age_seconds), (3, 3600));
    assert_eq!((notify.retry.backoff_base_ms, notify.retry.backoff_cap_ms), (100, 5000));
    assert_eq!(notify.dead_letter_retention, Some(Duration::from_secs(14 * 86_400)));
    let hosts: Vec<String> = notify.spec.grants.http.iter().map(|h| h.to_string()).collect();
    assert_eq!(hosts, ["hooks.example.com", "*.example.org:8443", "[::1]:80"]);
    assert_eq!(notify.spec.grants.kv.as_ref().map(|kv| kv.namespace()), Some("notify"));
    assert_eq!(
        notify.input.input_transformer.as_ref().and_then(|t| t.input_template.as_deref()),
        Some(r#"{"order": <order>}"#)
    );
    let echo = &orders.targets[1];
    assert_eq!(echo.input.input_path.as_deref(), Some("$.detail"));
    assert!(echo.spec.grants.kv.is_none() && echo.spec.grants.http.is_empty());
    assert_eq!((echo.concurrency, echo.dead_letter_retention), (rules::DEFAULT_CONCURRENCY, None));
    assert_eq!(echo.spec.limits.timeout, Duration::from_secs(5));
    assert_eq!(echo.retry, Default::default());

    assert_eq!((audit.name.as_str(), audit.bus.as_str(), audit.enabled), ("audit", "audit", false));
    assert_eq!(audit.pattern, r#"{"detail": {"total": [{"numeric": [">=", 1000]}]}}"#);
    assert_eq!(audit.targets[0].input.input.as_deref(), Some(r#"{"fixed":true}"#));
}

#[test]
fn json_files_hand_patterns_over_as_written() {
    let rules = built(&cases_dir().join("ok-json"));
    assert_eq!(rules[0].pattern, r#"{"detail": {"n": [37.807807921694092], "n": [1]}}"#);
    assert_eq!(rules[0].targets[0].spec.config, [("k".into(), "v".into()), ("a".into(), "b".into())]);
    assert_eq!(rules[0].targets[0].input.input.as_deref(), Some(r#"{"x": 1}"#));
    assert_eq!(rules[1].pattern, r#"{"source": [{"prefix": "shop."}]}"#);
    assert!(!rules[1].enabled);
}

#[test]
fn relative_modules_are_found_beside_their_rules_file() {
    let dir = TempDir::new("relative");
    std::fs::create_dir_all(dir.0.join("rules/bin")).unwrap();
    std::fs::copy(wasm("c_ok"), dir.0.join("rules/bin/ok.wasm")).unwrap();
    dir.write(
        "rules/r.yaml",
        "- {name: r, event_pattern: {source: [x]}, targets: [{id: t, module: bin/ok.wasm}, {id: u, module: ./bin/../bin/ok.wasm}]}\n",
    );
    let rules = built(&dir.0.join("rules"));
    assert_eq!(rules[0].targets[0].consumer.path(), dir.0.join("rules/bin/ok.wasm"));
    let sha256 = rules[0].targets[0].consumer.sha256().to_owned();
    assert_eq!(rules[0].targets[1].consumer.sha256(), sha256);

    // The right pin, in either case, loads.
    dir.write(
        "rules/r.yaml",
        &format!(
            "- {{name: r, event_pattern: {{source: [x]}}, targets: [{{id: t, module: bin/ok.wasm, sha256: {}}}]}}\n",
            sha256.to_uppercase()
        ),
    );
    let rules = built(&dir.0.join("rules"));
    assert_eq!(rules[0].targets[0].consumer.sha256(), sha256);
}

#[test]
fn each_module_is_loaded_once() {
    let cache = TempDir::new("cache");
    let host = Host::new(HostConfig {
        max_concurrency: 1,
        allocation: AllocationMode::OnDemand,
        cache_dir: Some(cache.0.clone()),
        ..HostConfig::default()
    })
    .unwrap();
    let dir = TempDir::new("once");
    let target = |id: &str| format!("{{id: {id}, module: \"${{SWITCHYARD_WASM}}/c_echo.wasm\"}}");
    dir.write(
        "a.yaml",
        &format!(
            "- {{name: a, event_pattern: {{source: [x]}}, targets: [{}, {}]}}\n- {{name: b, event_pattern: {{source: [y]}}, targets: [{}]}}\n",
            target("t1"),
            target("t2"),
            target("t3")
        ),
    );
    let sources = rules::read_dir_with(&dir.0, &env).unwrap();
    let rules = rules::build(&sources, &host, None).unwrap();
    // A second load would have found the first one's compilation in the cache.
    for target in rules.iter().flat_map(|r| &r.targets) {
        assert!(!target.consumer.from_cache(), "{} was loaded twice", target.id);
    }
    assert!(host.load(&wasm("c_echo"), None).unwrap().from_cache());
}

#[test]
fn kv_needs_a_store() {
    let sources = rules::read_dir_with(&cases_dir().join("ok-yaml"), &env).unwrap();
    let problems = rules::build(&sources, host(), None).unwrap_err();
    let lines: Vec<String> = problems.iter().map(|p| line(&cases_dir().join("ok-yaml"), &p.to_string())).collect();
    assert_eq!(
        lines,
        [
            "orders.yaml:20:87: rule order-confirmation: target notify: capabilities: kv is asked for but this router has no key-value store"
        ]
    );
}

#[test]
fn read_dir_reports_an_unreadable_folder_and_every_problem() {
    let missing = cases_dir().join("no-such-case");
    let problems = rules::read_dir_with(&missing, &env).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.starts_with("cannot read the rules folder: "), "{}", problems[0]);
    let problems = rules::read_dir_with(&cases_dir().join("names"), &env).unwrap_err();
    assert!(problems.iter().filter(|p| p.message.contains("is already used")).count() >= 3);
    assert!(problems.iter().all(|p| p.line > 0 && p.column > 0));
}

#[test]
fn load_gives_routes() {
    let routes = rules::load_with(&cases_dir().join("ok-yaml"), &env, host(), kv(), &PipelineConfig::default())
        .unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(routes.rule_names().collect::<Vec<_>>(), ["order-confirmation", "audit"]);
    assert!(routes.has_bus("audit") && routes.has_bus("default"));
    let problems = rules::load_with(&cases_dir().join("target-count"), &env, host(), kv(), &PipelineConfig::default())
        .unwrap_err();
    assert_eq!(problems.len(), 2);
}

#[test]
fn the_demo_rules_pass_the_check() {
    let dir = repo().join("rules");
    let problems = check(&dir);
    assert!(problems.is_empty(), "{problems:#?}");
    let sources = rules::read_dir_with(&dir, &env).unwrap();
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["order-confirmation", "reserve-stock", "confirmation-email", "payment-failures-to-ops"]);
    let by_name: HashMap<&str, &rules::RuleSource> = sources.iter().map(|s| (s.name.as_str(), s)).collect();
    assert!(by_name["reserve-stock"].targets[0].kv);
    assert!(sources.iter().all(|s| !s.examples.is_empty()));
    let webhook = &by_name["payment-failures-to-ops"].targets[0];
    assert!(webhook.config.contains(&("url".into(), "http://127.0.0.1:9000/ops/payments".into())));
    let output = run_check(&[dir.to_str().unwrap()], &[("DEMO_WEBHOOK_PORT", "8080")]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn the_examples_rules_pass_the_check() {
    for example in ["inventory", "order-notification", "webhook-forwarder"] {
        let dir = TempDir::new(&format!("example-{example}"));
        std::fs::copy(repo().join("examples").join(example).join("rules.yaml"), dir.0.join("rules.yaml")).unwrap();
        let problems = check(&dir.0);
        assert!(problems.is_empty(), "{example}: {problems:#?}");
    }
}

/// The bodies of rules/README.md's fenced blocks whose info string is `info`.
fn readme_blocks(info: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("rules/README.md")).unwrap();
    let mut found = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match block.take() {
            None if line.trim() == format!("```{info}") => block = Some(String::new()),
            None => {}
            Some(body) if line.trim() == "```" => found.push(body),
            Some(mut body) => {
                body.push_str(line);
                body.push('\n');
                block = Some(body);
            }
        }
    }
    found
}

#[test]
fn the_reference_examples_pass_the_check() {
    for (info, file) in [("yaml rules-file", "orders.yaml"), ("json rules-file", "audit.json")] {
        let blocks = readme_blocks(info);
        assert_eq!(blocks.len(), 1, "{info}");
        let dir = TempDir::new(&format!("readme-{}", file.replace('.', "-")));
        dir.write(&format!("rules/{file}"), &blocks[0]);
        std::fs::create_dir_all(dir.0.join("audit")).unwrap();
        std::fs::copy(wasm("c_ok"), dir.0.join("audit/audit.wasm")).unwrap();
        let problems = check(&dir.0.join("rules"));
        assert!(problems.is_empty(), "{info}: {problems:#?}");
    }
}

fn run_check(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(switchyard_bin());
    command.arg("check").args(args).arg("--no-cache").env("SWITCHYARD_WASM", WASM_DIR).env("TEST_PORT", "9000");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("switchyard runs")
}

#[test]
fn check_command_exit_codes_and_output() {
    // Clean: nothing on stdout, the summary on stderr.
    let ok = cases_dir().join("ok-json");
    let output = run_check(&[ok.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr, "checked 1 file, 2 rules, 2 targets, 2 examples: 0 problems\n");

    // Problems: the lines of expected.txt, exit code 1.
    let dir = cases_dir().join("syntax");
    let output = run_check(&[dir.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(line(&dir, &stdout), std::fs::read_to_string(dir.join("expected.txt")).unwrap());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("checked 11 files, "), "{stderr}");
    assert!(stderr.ends_with(" problems\n"), "{stderr}");

    // --json: one object per problem, the same problems.
    let output = run_check(&[dir.to_str().unwrap(), "--json"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let objects: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    assert_eq!(objects.len(), expected.lines().count());
    let first = &objects[0];
    assert_eq!(first["file"], dir.join("a-unclosed.yaml").display().to_string());
    assert!(first["line"].as_u64().unwrap() > 0 && first["column"].is_u64());
    assert!(first["rule"].is_null() && first["message"].is_string());
    let with_rule = objects.iter().find(|o| o["rule"] == "f").expect("a problem of rule f");
    assert!(with_rule["message"].as_str().unwrap().starts_with("event_pattern: "));

    // A folder that cannot be read.
    let output = run_check(&["/nonexistent/switchyard-rules"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot read the rules folder /nonexistent/switchyard-rules"), "{stderr}");

    // --help teaches the format and points to the reference.
    let output = Command::new(switchyard_bin()).args(["check", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("rules/README.md") && help.contains("event_pattern") && help.contains("--json"), "{help}");
}
