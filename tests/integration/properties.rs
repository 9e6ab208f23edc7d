//! Property tests of the pattern engine: on random well-formed patterns and events it agrees with the
//! naive reference matcher (switchyard_tests::reference), alone and with many rules at once, in both
//! reading modes; and no input, however broken or deep, makes it panic or overflow its stack.
//!
//! Failures print the pattern and event as JSON text. No regression files are written: a failure
//! found here becomes a case in tests/cases/.

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use switchyard_pattern::Matcher;
use switchyard_tests::generate::{self, HostileInput};
use switchyard_tests::reference::{self, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Adds `pattern` under `rule_idx`; Ok(true) when the engine accepted it, Ok(false) when it rightly
/// rejected a pattern over a limit.
fn add_checked(matcher: &Matcher<usize>, rule_idx: usize, pattern: &Value) -> Result<bool, TestCaseError> {
    let pattern_text = pattern.to_json_text();
    add_text_checked(matcher, rule_idx, pattern, &pattern_text)
}

fn add_text_checked(
    matcher: &Matcher<usize>,
    rule_idx: usize,
    pattern: &Value,
    pattern_text: &str,
) -> Result<bool, TestCaseError> {
    let added = matcher.add(rule_idx, pattern_text);
    match (reference::limit_violation(pattern, pattern_text), added) {
        (None, Ok(())) => Ok(true),
        (None, Err(error)) => {
            Err(TestCaseError::fail(format!("engine rejected a valid pattern: {error}\n  pattern: {pattern_text}")))
        }
        (Some(expected), Err(error)) => {
            prop_assert!(
                error.to_string().contains(expected),
                "engine rejected a pattern over a limit with the wrong error: {error} (expected {expected:?})\n  pattern: {pattern_text}"
            );
            Ok(false)
        }
        (Some(expected), Ok(())) => Err(TestCaseError::fail(format!(
            "engine accepted a pattern over a limit ({expected}):\n  pattern: {pattern_text}"
        ))),
    }
}

/// Both reading modes return `expected` (sorted rule ids) for `event_text`.
fn check_event(
    matcher: &Matcher<usize>,
    event_text: &str,
    expected: &[usize],
    context: &str,
) -> Result<(), TestCaseError> {
    for (mode, found) in [
        ("matches", matcher.matches(event_text.as_bytes())),
        ("matches_trusted", matcher.matches_trusted(event_text.as_bytes())),
    ] {
        let mut found = match found {
            Ok(found) => found,
            Err(error) => {
                return Err(TestCaseError::fail(format!(
                    "{mode} rejected a valid event: {error}\n  event: {event_text}{context}"
                )));
            }
        };
        found.sort_unstable();
        prop_assert_eq!(
            &found[..],
            expected,
            "{} disagrees with the reference\n  event: {}{}",
            mode,
            event_text,
            context
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn engine_agrees_with_reference(case in generate::case()) {
        let (pattern_text, event_text) = (case.pattern_text(), case.event_text());
        let matcher = Matcher::<usize>::new();
        if !add_text_checked(&matcher, 0, &case.pattern, &pattern_text)? {
            return Ok(());
        }
        let expected: Vec<usize> = if reference::matches(&case.pattern, &case.event) { vec![0] } else { Vec::new() };
        check_event(&matcher, &event_text, &expected, &format!("\n  pattern: {pattern_text}"))?;
    }

    #[test]
    fn many_rules_agree_with_reference(case in generate::rule_set_case()) {
        let matcher = Matcher::<usize>::new();
        let mut accepted = Vec::new();
        for (rule_idx, pattern) in case.patterns.iter().enumerate() {
            if add_checked(&matcher, rule_idx, pattern)? {
                accepted.push(rule_idx);
            }
        }
        for event in &case.events {
            let expected: Vec<usize> =
                accepted.iter().copied().filter(|rule_idx| reference::matches(&case.patterns[*rule_idx], event)).collect();
            check_event(&matcher, &event.to_json_text(), &expected, &format!("{case:?}"))?;
        }
    }
}

/// A matcher with at least one pattern per operator, on the paths the hostile inputs use.
fn hostile_matcher() -> Matcher<usize> {
    let patterns = [
        r#"{"a": ["x", 5, true, null]}"#,
        r#"{"a": {"a": [{"prefix": "a"}, {"suffix": {"equals-ignore-case": "B"}}]}}"#,
        r#"{"a.a.a": [{"exists": true}], "b": [{"exists": false}]}"#,
        r#"{"a": [{"anything-but": {"wildcard": "*x*"}}], "c": [{"numeric": [">", 0, "<=", 5]}]}"#,
        r#"{"$or": [{"a": [{"cidr": "10.0.0.0/8"}]}, {"zz": [{"equals-ignore-case": "ß"}]}]}"#,
        r#"{"zz": [{"wildcard": "a*b"}, {"anything-but": [1, 2]}], "a": [{"exists": true}]}"#,
        r#"{"d": {"e": [{"exactly": "q"}]}}"#,
        r#"{}"#,
    ];
    let matcher = Matcher::new();
    for (rule_idx, pattern) in patterns.iter().enumerate() {
        matcher.add(rule_idx, pattern).unwrap_or_else(|error| panic!("{pattern}: {error}"));
    }
    matcher
}

fn check_hostile(matcher: &Matcher<usize>, input: &HostileInput) -> Result<(), TestCaseError> {
    let validated = matcher.matches(input.bytes());
    let trusted = matcher.matches_trusted(input.bytes());
    if input.must_be_rejected() {
        prop_assert!(validated.is_err(), "matches accepted an invalid event: {:?}", input);
    }
    // Whatever passes validation is valid JSON, which the trusted reader must read the same way.
    if let Ok(mut validated) = validated {
        let mut trusted = trusted.map_err(|error| {
            TestCaseError::fail(format!("matches_trusted rejected a valid event: {error}\n  {input:?}"))
        })?;
        validated.sort_unstable();
        trusted.sort_unstable();
        prop_assert_eq!(validated, trusted, "the two reading modes disagree on {:?}", input);
    }
    Ok(())
}

#[test]
fn no_input_panics() {
    // The default stack of a spawned thread, stated: deep nesting must not recurse per level.
    let worker = std::thread::Builder::new()
        .name("no_input_panics".to_owned())
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let matcher = hostile_matcher();
            let mut runner = TestRunner::new(config(256));
            runner
                .run(&generate::hostile_input(), |input| check_hostile(&matcher, &input))
                .map_err(|failure| failure.to_string())
        })
        .expect("spawn the test thread");
    if let Err(failure) = worker.join().expect("the test thread does not panic") {
        panic!("{failure}");
    }
}

#[test]
fn deep_nesting_is_rejected_without_overflow() {
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let matcher = hostile_matcher();
            for opener in ["[", "{\"a\":"] {
                let closer = if opener == "[" { "]" } else { "}" };
                let deep = format!("{{\"zz\":{}1{}}}", opener.repeat(20_000), closer.repeat(20_000));
                assert!(matcher.matches(deep.as_bytes()).is_err(), "nesting 20,000 deep must be rejected");
                let _ = matcher.matches_trusted(deep.as_bytes());
                let unclosed = opener.repeat(20_000);
                assert!(matcher.matches(unclosed.as_bytes()).is_err());
                let _ = matcher.matches_trusted(unclosed.as_bytes());
            }
        })
        .expect("spawn the test thread");
    worker.join().expect("no panic and no stack overflow");
}

#[test]
fn reference_agrees_on_spec_examples() {
    // The reference itself, on examples taken from the decisions, so that a disagreement found by the
    // properties above points at the engine.
    let parse = |text: &str| Value::from_json_text(text).unwrap_or_else(|| panic!("not JSON: {text}"));
    let cases = [
        (r#"{"a": [300]}"#, r#"{"a": 3.0E+2}"#, true),
        (r#"{"a": [9007199254740993]}"#, r#"{"a": 9007199254740992}"#, false),
        (r#"{"a": [9007199254740993]}"#, r#"{"a": 9007199254740993}"#, true),
        (r#"{"a": [{"numeric": [">", 0]}]}"#, r#"{"a": "5"}"#, false),
        (r#"{"a": [{"exists": false}]}"#, r#"{"a": {"b": 1}}"#, true),
        (r#"{"a": [{"exists": false}]}"#, r#"{"a": []}"#, true),
        (r#"{"a": [{"exists": true}]}"#, r#"{"a": null}"#, true),
        (r#"{"a": [{"exists": false}, "x"]}"#, r#"{"a": "x"}"#, true),
        (r#"{"a": [{"anything-but": "stopped"}]}"#, r#"{"a": ["stopped", "running"]}"#, true),
        (r#"{"a": [{"anything-but": "stopped"}]}"#, r#"{"b": 1}"#, false),
        (r#"{"a": {"b": [1], "c": [2]}}"#, r#"{"a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]}"#, true),
        (r#"{"a": {"b": [1], "c": [4]}}"#, r#"{"a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]}"#, false),
        (r#"{"a.b": [1]}"#, r#"{"a": {"b": 1}}"#, true),
        (r#"{"a": ["10.0.0.1"]}"#, r#"{"a": "::ffff:10.0.0.1"}"#, true),
        (r#"{"a": [{"exactly": "10.0.0.1"}]}"#, r#"{"a": "::ffff:10.0.0.1"}"#, false),
        (r#"{"a": [{"equals-ignore-case": "ß"}]}"#, r#"{"a": "SS"}"#, true),
        (r#"{"a": [{"equals-ignore-case": "İ"}]}"#, r#"{"a": "i"}"#, false),
        (r#"{"a": [{"wildcard": "a*b"}]}"#, r#"{"a": "a/b"}"#, true),
        (r#"{"a": [{"cidr": "10.0.0.1/24"}]}"#, r#"{"a": "10.0.0.200"}"#, true),
        (r#"{"a": [{"cidr": "10.0.0.0/24"}]}"#, r#"{"a": "010.0.0.1"}"#, false),
        (r#"{"$or": [{"a": [1]}, {"b": [{"$or": [{"c": [2]}, {"d": [3]}]}]}]}"#, r#"{"a": 0, "d": 3}"#, false),
        (r#"{"$or": [{"a": [1]}, {"$or": [{"c": [2]}, {"d": [3]}]}]}"#, r#"{"a": 0, "d": 3}"#, true),
        (r#"{}"#, r#"{"x": 1}"#, true),
    ];
    for (pattern_text, event_text, expected) in cases {
        assert_eq!(
            reference::matches(&parse(pattern_text), &parse(event_text)),
            expected,
            "{pattern_text} vs {event_text}"
        );
    }
}

#[test]
fn zz_probe() {
    let probes = [
        (r#"{"a":{"b":[1]},"a.b":[2]}"#, [r#"{"a":{"b":1}}"#, r#"{"a":{"b":2}}"#, r#"{"a":{"b":[1,2]}}"#]),
        (r#"{"a.b":[2],"a":{"b":[1]}}"#, [r#"{"a":{"b":1}}"#, r#"{"a":{"b":2}}"#, r#"{"a":{"b":[1,2]}}"#]),
        (r#"{"a":[1],"a":[2]}"#, [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":[1,2]}"#]),
        (r#"{"a":[1],"$or":[{"a":[2]},{"b":[3]}]}"#, [r#"{"a":1,"b":3}"#, r#"{"a":2}"#, r#"{"a":[1,2]}"#]),
        (r#"{"$or":[{"a":[2]},{"b":[3]}],"a":[1]}"#, [r#"{"a":1,"b":3}"#, r#"{"a":1}"#, r#"{"a":[1,2]}"#]),
        (r#"{"a":{"b":[1]},"a":{"c":[2]}}"#, [r#"{"a":{"b":1}}"#, r#"{"a":{"c":2}}"#, r#"{"a":{"b":1,"c":2}}"#]),
    ];
    for (pattern, events) in probes {
        let m = Matcher::<usize>::new();
        m.add(0, pattern).unwrap();
        for e in events {
            println!("{pattern} {e} -> {:?}", m.matches(e.as_bytes()).unwrap());
        }
    }
}
