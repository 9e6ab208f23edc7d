//! Any bytes given as an event, against a fixed rule set using every operator: both entry points
//! return without panicking, and on input that `matches` accepts, `matches_trusted` agrees with it.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchyard_pattern::Matcher;

const PATTERNS: &[&str] = &[
    r#"{"a": ["x", 1, true, null]}"#,
    r#"{"a": [{"prefix": "p"}, {"suffix": {"equals-ignore-case": "S"}}]}"#,
    r#"{"a": [{"wildcard": "*x*y"}], "b": [{"exists": false}]}"#,
    r#"{"a": [{"anything-but": {"prefix": "q"}}], "c": {"d": [{"numeric": [">", 0, "<=", 10]}]}}"#,
    r#"{"ip": [{"cidr": "10.0.0.0/8"}, "2001:db8::1"]}"#,
    r#"{"$or": [{"a": [{"equals-ignore-case": "X"}]}, {"c.d": [{"exists": true}]}]}"#,
    r#"{"arr": {"k": ["1"], "v": [{"numeric": ["=", 2]}]}}"#,
    r#"{}"#,
];

fn matcher() -> &'static Matcher<usize> {
    static MATCHER: OnceLock<Matcher<usize>> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let matcher = Matcher::new();
        for (idx, pattern) in PATTERNS.iter().enumerate() {
            matcher.add(idx, pattern).expect("fuzz patterns are valid");
        }
        matcher
    })
}

fuzz_target!(|data: &[u8]| {
    let matcher = matcher();
    let validated = matcher.matches(data);
    let trusted = matcher.matches_trusted(data);
    if let Ok(mut validated) = validated {
        let mut trusted = trusted.expect("valid input is valid in trusted mode too");
        validated.sort();
        trusted.sort();
        assert_eq!(validated, trusted);
    }
});
