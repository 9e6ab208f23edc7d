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
        (r#"{"$or": [{"a": [1]}, {"b": {"$or": [{"c": [2]}, {"d": [3]}]}}]}"#, r#"{"a": 0, "d": 3}"#, false),
        (r#"{"$or": [{"a": [1]}, {"b": {"$or": [{"c": [2]}, {"d": [3]}]}}]}"#, r#"{"a": 0, "b": {"d": 3}}"#, true),
        (r#"{"$or": [{"a": [1]}, {"$or": [{"c": [2]}, {"d": [3]}]}]}"#, r#"{"a": 0, "d": 3}"#, true),
        (r#"{}"#, r#"{"x": 1}"#, true),
        // IPv4 values are not in IPv6 blocks, ::/0 included (ruler compares 4-byte and 16-byte forms).
        (r#"{"a": [{"cidr": "::/0"}]}"#, r#"{"a": "10.0.0.1"}"#, false),
        (r#"{"a": [{"cidr": "::/0"}]}"#, r#"{"a": "::ffff:10.0.0.1"}"#, false),
        // A path written twice in one branch keeps the last write (ruler); the generators avoid this case.
        (r#"{"a": [1], "$or": [{"a": [2]}, {"b": [3]}]}"#, r#"{"a": 2}"#, true),
        (r#"{"a": {"b": [1]}, "a.b": [2]}"#, r#"{"a": {"b": 1}}"#, false),
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
fn reference_helpers_follow_the_decisions() {
    use reference::{cidr_contains, comparable_value, fold_case, numbers_equal, parse_ip, wildcard_matches};
    for literal in ["0", "-0", "300", "3e2", "3.0E+2", "0.1", "-122.42916360922355", "37.80780792169409"] {
        assert!(comparable_value(literal).is_some(), "{literal} is comparable");
    }
    for literal in ["9007199254740993", "0.30000000000000001", "1e400", "123456789012345678901", "37.807807921694092"] {
        assert!(comparable_value(literal).is_none(), "{literal} is not comparable");
    }
    assert!(comparable_value("1e-400").is_none(), "underflow to 0 is not the literal's value");
    assert!(numbers_equal("-0", "0") && numbers_equal("300", "3.0E+2"));
    assert!(!numbers_equal("9007199254740993", "9007199254740992") && !numbers_equal("1e400", "1E400"));
    assert_eq!(fold_case("ß"), fold_case("SS"));
    assert_eq!(fold_case("Σ"), fold_case("ς"));
    assert_eq!(fold_case("\u{212A}"), "k");
    assert_ne!(fold_case("İ"), fold_case("i"));
    assert_ne!(fold_case("ı"), fold_case("I"));
    assert!(wildcard_matches("a*b", "a/x/b") && wildcard_matches("", "") && !wildcard_matches("", "a"));
    assert!(wildcard_matches("\\**", "*x") && !wildcard_matches("\\**", "x"));
    assert!(wildcard_matches("a\\\\*", "a\\zz") && !wildcard_matches("a\\\\*", "azz"));
    assert!(parse_ip("010.0.0.1").is_none() && parse_ip("fe80::1%eth0").is_none() && parse_ip("10.0.0.256").is_none());
    assert_eq!(parse_ip("::ffff:10.0.0.1"), parse_ip("10.0.0.1"));
    assert!(cidr_contains("10.0.0.1/24", "10.0.0.255") && !cidr_contains("10.0.0.0/24", "10.0.1.0"));
    assert!(cidr_contains("::/0", "::1") && !cidr_contains("::/0", "10.0.0.1"));
}

#[test]
fn generator_vocabularies_are_what_they_claim() {
    for literal in generate::COMPARABLE_NUMBERS {
        assert!(reference::comparable_value(literal).is_some(), "{literal} is comparable");
    }
    for literal in generate::NUMBERS {
        assert!(Value::from_json_text(literal).is_some(), "{literal} is JSON");
    }
    assert!(!generate::NONEMPTY_AFFIXES.contains(&""));
    for cidr in generate::CIDRS {
        let (network, mask_bits) = cidr.split_once('/').expect("one slash");
        let mask_bits: u32 = mask_bits.parse().expect("integer mask");
        match reference::parse_ip(network).expect("an IP literal") {
            std::net::IpAddr::V4(_) => assert!(mask_bits < 32 && !network.contains(':'), "{cidr}"),
            std::net::IpAddr::V6(_) => assert!(mask_bits < 128, "{cidr}"),
        }
    }
}
