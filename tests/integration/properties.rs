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

/// `cases` cases, or as many as `PROPTEST_CASES` says (for a longer hunt).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(cases);
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
    let violations = reference::limit_violations(pattern, pattern_text);
    match added {
        Ok(()) if violations.is_empty() => Ok(true),
        Err(error) if violations.is_empty() => {
            Err(TestCaseError::fail(format!("engine rejected a valid pattern: {error}\n  pattern: {pattern_text}")))
        }
        Err(error) => {
            let message = error.to_string();
            prop_assert!(
                violations.iter().any(|violation| message.contains(violation)),
                "engine rejected a pattern over a limit with the wrong error: {} (expected one of {:?})\n  pattern: {}",
                message,
                violations,
                pattern_text
            );
            Ok(false)
        }
        Ok(()) => Err(TestCaseError::fail(format!(
            "engine accepted a pattern over a limit ({violations:?}):\n  pattern: {pattern_text}"
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
fn zz_stats() {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new(config(2000));
    let strategy = generate::case();
    let (mut n, mut matched, mut with_or, mut derived_like, mut arrays_of_objects, mut exists_false, mut rejected) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut ops = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for _ in 0..2000 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let pt = case.pattern_text();
        let et = case.event_text();
        n += 1;
        let m = reference::matches(&case.pattern, &case.event);
        if m {
            matched += 1;
        }
        if pt.contains("$or") {
            with_or += 1;
        }
        if et.contains("[{") {
            arrays_of_objects += 1;
        }
        if pt.contains("\"exists\":false") {
            exists_false += 1;
        }
        let v = reference::limit_violations(&case.pattern, &pt);
        if !v.is_empty() {
            rejected += 1;
            println!("LIMIT {v:?} {} {}", pt.chars().count(), pt.contains("xxxxxxxxxx"));
        }
        let _ = &mut derived_like;
        for op in [
            "prefix",
            "suffix",
            "equals-ignore-case",
            "wildcard",
            "anything-but",
            "numeric",
            "exists",
            "cidr",
            "exactly",
            "$or",
        ] {
            if pt.contains(&format!("\"{op}\"")) {
                let e = ops.entry(op.into()).or_default();
                e.0 += 1;
                if m {
                    e.1 += 1;
                }
            }
        }
    }
    println!(
        "n={n} matched={matched} or={with_or} aoo={arrays_of_objects} exists_false={exists_false} over_limit={rejected}"
    );
    for (op, (k, mm)) in ops {
        println!("{op}: {k} matched {mm}");
    }
}

#[test]
fn zz_probe() {
    let probes: &[(&str, &[&str])] = &[
        (r#"{"a":[{"prefix":{"equals-ignore-case":"s"}}]}"#, &[r#"{"a":"ß"}"#, r#"{"a":"Sx"}"#]),
        (r#"{"a":[{"suffix":{"equals-ignore-case":"S"}}]}"#, &[r#"{"a":"ß"}"#]),
        (r#"{"a":[{"prefix":{"equals-ignore-case":"ß"}}]}"#, &[r#"{"a":"SSx"}"#, r#"{"a":"sx"}"#]),
        (r#"{"a":[{"anything-but":"10.0.0.1"}]}"#, &[r#"{"a":"::ffff:10.0.0.1"}"#, r#"{"a":"10.0.0.1"}"#]),
        (r#"{"a":[{"anything-but":["10.0.0.1","x"]}]}"#, &[r#"{"a":"::ffff:10.0.0.1"}"#]),
        (r#"{"a":[{"anything-but":{"equals-ignore-case":""}}]}"#, &[r#"{"a":""}"#, r#"{"a":"x"}"#]),
        (r#"{"a":[9007199254740993]}"#, &[r#"{"a":9.007199254740993e15}"#]),
        (r#"{"a":[{"numeric":["=",-0]}]}"#, &[r#"{"a":0}"#, r#"{"a":-0.0}"#, r#"{"a":1e-400}"#]),
        (r#"{"a":[0]}"#, &[r#"{"a":1e-400}"#, r#"{"a":-0}"#]),
        (r#"{"a":[1e-400]}"#, &[r#"{"a":0}"#, r#"{"a":1e-400}"#]),
        (r#"{"a":[{"wildcard":""}]}"#, &[r#"{"a":""}"#, r#"{"a":"x"}"#]),
        (r#"{"a":[{"anything-but":{"wildcard":""}}]}"#, &[r#"{"a":""}"#, r#"{"a":"x"}"#]),
        (r#"{"a":[{"equals-ignore-case":"İ"}]}"#, &[r#"{"a":"i"}"#, r#"{"a":"i̇"}"#, r#"{"a":"İ"}"#]),
        (r#"{"a":[{"equals-ignore-case":"ı"}]}"#, &[r#"{"a":"I"}"#, r#"{"a":"i"}"#]),
        (r#"{"a":[{"equals-ignore-case":"i"}]}"#, &[r#"{"a":"ı"}"#, r#"{"a":"İ"}"#]),
        (r#"{"a":["2001:db8::1"]}"#, &[r#"{"a":"2001:DB8:0:0:0:0:0:1"}"#, r#"{"a":"2001:db8:0::1"}"#]),
        (r#"{"a":["::ffff:10.0.0.1"]}"#, &[r#"{"a":"10.0.0.1"}"#]),
        (r#"{"a":["::ffff:a00:1"]}"#, &[r#"{"a":"10.0.0.1"}"#]),
        (r#"{"a":["10.0.0.1"]}"#, &[r#"{"a":"::ffff:a00:1"}"#, r#"{"a":"::a00:1"}"#, r#"{"a":"::10.0.0.1"}"#]),
        (
            r#"{"a":[{"cidr":"10.0.0.0/8"}]}"#,
            &[r#"{"a":"::ffff:a00:1"}"#, r#"{"a":"::10.0.0.1"}"#, r#"{"a":"10.0.0.01"}"#],
        ),
        (
            r#"{"a":[{"cidr":"2001:db8::/32"}]}"#,
            &[r#"{"a":"2001:db8::1"}"#, r#"{"a":"2001:DB8::"}"#, r#"{"a":"2001:0db8:0000::1"}"#],
        ),
        (
            r#"{"a":[{"exists":false}],"b":[1]}"#,
            &[r#"{"x":[{"a":1},{"b":1}]}"#, r#"{"b":[1],"a":[]}"#, r#"{"b":1,"a":{}}"#],
        ),
        (r#"{"x":{"a":[{"exists":false}],"b":[1]}}"#, &[r#"{"x":[{"a":1},{"b":1}]}"#, r#"{"x":[{"b":1}]}"#]),
        (
            r#"{"x":{"a":[1],"b":[2]}}"#,
            &[r#"{"x":[[{"a":1}],[{"b":2}]]}"#, r#"{"x":[[{"a":1},{"b":2}]]}"#, r#"{"x":[{"a":[1,3],"b":2}]}"#],
        ),
        (r#"{"x":{"a":[1]},"y":[2]}"#, &[r#"{"x":[{"a":1}],"y":2}"#]),
        (r#"{"a":[{"prefix":""}]}"#, &[r#"{"a":""}"#, r#"{"a":5}"#, r#"{"a":null}"#]),
        (r#"{"a":[{"anything-but":{"prefix":"a"}}]}"#, &[r#"{"a":5}"#, r#"{"a":null}"#, r#"{"a":"ab"}"#]),
        (r#"{"a":[{"anything-but":5}]}"#, &[r#"{"a":"5"}"#, r#"{"a":1e400}"#, r#"{"a":5.0}"#, r#"{"a":true}"#]),
        (r#"{"a":[{"anything-but":"5"}]}"#, &[r#"{"a":5}"#, r#"{"a":1e400}"#]),
        (r#"{"a":[{"equals-ignore-case":"\u212a"}]}"#, &[r#"{"a":"k"}"#, r#"{"a":"K"}"#]),
        (r#"{"a":[{"equals-ignore-case":"é"}]}"#, &[r#"{"a":"É"}"#, r#"{"a":"e\u0301"}"#]),
        (r#"{"a":[{"equals-ignore-case":"ς"}]}"#, &[r#"{"a":"Σ"}"#, r#"{"a":"σ"}"#]),
        (r#"{"a":[{"suffix":{"equals-ignore-case":"ss"}}]}"#, &[r#"{"a":"xß"}"#]),
        (r#"{"a":[{"suffix":{"equals-ignore-case":"ß"}}]}"#, &[r#"{"a":"xSS"}"#, r#"{"a":"xs"}"#]),
    ];
    for (pattern, events) in probes {
        let m = Matcher::<usize>::new();
        m.add(0, pattern).unwrap();
        let pv = Value::from_json_text(pattern).unwrap();
        for e in *events {
            let ev = Value::from_json_text(e).unwrap();
            let engine = !m.matches(e.as_bytes()).unwrap().is_empty();
            let refm = reference::matches(&pv, &ev);
            println!("{} {pattern} {e} -> engine {engine} reference {refm}", if engine == refm { "  " } else { "!!" });
        }
    }
}
