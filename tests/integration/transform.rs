//! The transform stage: the data-driven cases of tests/cases/transform/ through the library and
//! through `switchyard transform test` as a real process, and property tests: rendering never
//! panics on arbitrary events and templates, the direct event reader agrees with jsonpath-rust, and
//! the values it writes agree with serde_json's reading of the event.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;
use switchyard::transform::{Evaluation, InputTransformer, RenderContext, TargetInput, TargetRef, Transform};
use switchyard_tests::generate;
use switchyard_tests::switchyard_bin;
use switchyard_tests::transform_cases::{self, TransformCase};

fn all_cases() -> Vec<(String, Result<TransformCase, String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/transform");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("tests/cases/transform").map(|entry| entry.unwrap().path()).collect();
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        all.extend(transform_cases::parse_lines(&file.file_name().unwrap().to_string_lossy(), &text));
    }
    all
}

#[test]
fn transform_cases() {
    let all = all_cases();
    assert!(all.len() >= 100, "only {} transform cases", all.len());
    let failures = transform_cases::failures(&all);
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn transform_test_command_agrees_with_the_cases() {
    let all: Vec<(String, TransformCase)> =
        all_cases().into_iter().map(|(place, case)| (place, case.expect("readable case"))).collect();
    let input: String = all.iter().map(|(_, case)| case.cli_line() + "\n").collect();
    let mut child = Command::new(switchyard_bin())
        .args(["transform", "test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("switchyard starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), all.len(), "one output line per input line");
    let mut failures = Vec::new();
    for ((place, case), line) in all.iter().zip(&lines) {
        let result = match (line.get("output"), line.get("error")) {
            (Some(output), None) => Ok(output.as_str().unwrap().to_string()),
            (None, Some(error)) => Err(error.as_str().unwrap().to_string()),
            _ => panic!("{place}: unexpected line {line}"),
        };
        if let Err(why) = case.verdict(result) {
            failures.push(format!("{place}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn transform_test_command_reports_bad_lines_and_goes_on() {
    let input = "not json\n{\"event\": {\"a\": 1}, \"input_path\": \"$.a\", \"extra\": 1}\n{\"event\": {\"a\": 1}, \"input_path\": \"$.a\"}\n";
    let mut child = Command::new(switchyard_bin())
        .args(["transform", "test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("not a valid test line"), "{}", lines[0]);
    assert!(lines[1].contains("unknown field `extra`"), "{}", lines[1]);
    assert_eq!(lines[2], r#"{"output":"1"}"#);
}

// ------------------------------------------------------------------------------------------------
// Property tests.

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const CONTEXT: RenderContext<'static> = RenderContext {
    rule_name: "r",
    rule_arn: "arn:aws:events:us-east-1:123456789012:rule/r",
    ingestion_time: "2026-11-22T00:00:00Z",
};

/// Paths over the generator's event keys: EventBridge dot notation, brackets, and RFC 9535 forms
/// that need jsonpath-rust.
fn path() -> impl Strategy<Value = String> {
    let step = prop_oneof![
        4 => select(&[".a", ".b", ".c", ".d", ".detail", "['a.b']", "['a']"][..]).prop_map(String::from),
        2 => (0usize..3).prop_map(|idx| format!("[{idx}]")),
        1 => select(&["[*]", ".*", "[-1]", "[0:2]", "[?@ > 0]", "[?@.a]", "..a", "..*"][..]).prop_map(String::from),
    ];
    prop::collection::vec(step, 0..=4).prop_map(|steps| format!("${}", steps.concat()))
}

fn paths_map(n: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(path(), n)
}

fn compile(map: &[String], template: &str, evaluation: Evaluation) -> Option<Transform> {
    let input = TargetInput {
        input_transformer: Some(InputTransformer {
            input_paths_map: map.iter().enumerate().map(|(idx, path)| (format!("p{idx}"), path.clone())).collect(),
            input_template: Some(template.to_string()),
        }),
        ..TargetInput::default()
    };
    Transform::compile_with(&input, TargetRef { rule: "r", target: "t" }, evaluation).ok()
}

/// Templates from fragments that exercise every position and shape, well-formed or not.
fn template() -> impl Strategy<Value = String> {
    let fragment = select(
        &[
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            " ",
            "\n",
            "\\",
            "\\\"",
            "<p0>",
            "<p1>",
            "<p2>",
            "<aws.events.event>",
            "<aws.events.event.json>",
            "<aws.events.rule-name>",
            "<",
            ">",
            "x",
            "1",
            "null",
            "{\"k\": ",
            "\"s <p0> t\"",
        ][..],
    );
    prop::collection::vec(fragment, 1..24).prop_map(|fragments| fragments.concat())
}

#[test]
fn rendering_never_panics() {
    let event_bytes = prop_oneof![
        3 => (generate::event(), generate::text_style()).prop_map(|(event, style)| event.to_json_text_with(style).into_bytes()),
        1 => generate::hostile_input().prop_map(|input| input.bytes().to_vec()),
    ];
    let mut runner = TestRunner::new(config(2000));
    runner
        .run(&(event_bytes, paths_map(3), template()), |(event, map, template)| {
            for evaluation in [Evaluation::Direct, Evaluation::QueryOnly] {
                if let Some(transform) = compile(&map, &template, evaluation) {
                    let _ = transform.render(&event, &CONTEXT);
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn direct_reading_agrees_with_jsonpath_rust() {
    let mut runner = TestRunner::new(config(1500));
    let shape = select(
        &["[<p0>, <p1>, <p2>]", "\"<p0>|<p1>|<p2>\"", "<p0> <p1> <p2>", "{\"a\": <p0>, \"b\": \"<p1>\", \"c\": <p2>}"]
            [..],
    );
    runner
        .run(
            &(
                (generate::event(), generate::text_style()).prop_map(|(event, style)| event.to_json_text_with(style)),
                paths_map(3),
                shape,
            ),
            |(event, map, template)| {
                let direct = compile(&map, template, Evaluation::Direct).expect("valid paths");
                let query = compile(&map, template, Evaluation::QueryOnly).expect("valid paths");
                let direct_output = direct.render(event.as_bytes(), &CONTEXT);
                let query_output = query.render(event.as_bytes(), &CONTEXT);
                prop_assert_eq!(
                    direct_output.as_ref().map(|output| String::from_utf8_lossy(output).into_owned()),
                    query_output.as_ref().map(|output| String::from_utf8_lossy(output).into_owned()),
                    "event {} map {:?} template {}",
                    event,
                    map,
                    template
                );
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn values_agree_with_serde_json() {
    // Dot-notation paths only: each selects one value or nothing, which serde_json can look up too.
    let direct_path = prop::collection::vec(
        prop_oneof![
            select(&["a", "b", "c", "d", "detail"][..]).prop_map(|name| format!(".{name}")),
            (0usize..3).prop_map(|idx| format!("[{idx}]"))
        ],
        1..=3,
    )
    .prop_map(|steps| format!("${}", steps.concat()));
    let mut runner = TestRunner::new(config(1500));
    runner
        .run(
            &(
                (generate::event(), generate::text_style()).prop_map(|(event, style)| event.to_json_text_with(style)),
                direct_path,
            ),
            |(event, path)| {
                let transform = compile(std::slice::from_ref(&path), "[<p0>]", Evaluation::Direct).expect("valid path");
                // serde_json refuses numbers beyond binary64 (1e400); the transform reads them.
                let parsed: serde_json::Value = match serde_json::from_str(&event) {
                    Ok(parsed) => parsed,
                    Err(_) => return Ok(()),
                };
                let pointer: String = path[1..]
                    .split(['.', '['])
                    .filter(|step| !step.is_empty())
                    .map(|step| format!("/{}", step.trim_end_matches(']')))
                    .collect();
                let expected = parsed.pointer(&pointer);
                // serde_json's pointer indexes objects by "0" too; JSONPath indices only select array elements.
                let expected = match expected {
                    Some(value) if pointer_steps_into_objects_by_index(&parsed, &pointer) => {
                        let _ = value;
                        None
                    }
                    other => other,
                };
                let rendered = transform.render(event.as_bytes(), &CONTEXT);
                match (expected, rendered) {
                    (None, Ok(output)) => prop_assert_eq!(String::from_utf8_lossy(&output), "[\"\"]"),
                    (Some(serde_json::Value::String(text)), Ok(output)) => {
                        prop_assert_eq!(String::from_utf8_lossy(&output).into_owned(), format!("[\"{text}\"]"));
                    }
                    (Some(serde_json::Value::String(text)), Err(error)) => {
                        prop_assert!(text.contains(['"', '\\']) || text.chars().any(char::is_control), "{}", error);
                    }
                    (Some(value), Ok(output)) => {
                        let output: serde_json::Value = serde_json::from_slice(&output).expect("JSON output");
                        prop_assert_eq!(&output[0], value, "event {} path {}", event, path);
                    }
                    (Some(value), Err(error)) => {
                        prop_assert!(value.to_string().contains('\\'), "{} for {} in {}", error, path, event);
                    }
                    (None, Err(error)) => prop_assert!(false, "{} for {} in {}", error, path, event),
                }
                Ok(())
            },
        )
        .unwrap();
}

/// Whether a JSON pointer step that is a number lands on an object rather than an array.
fn pointer_steps_into_objects_by_index(root: &serde_json::Value, pointer: &str) -> bool {
    let mut node = root;
    for step in pointer.split('/').skip(1) {
        if step.parse::<usize>().is_ok() && node.is_object() {
            return true;
        }
        match node.pointer(&format!("/{step}")) {
            Some(next) => node = next,
            None => return false,
        }
    }
    false
}
