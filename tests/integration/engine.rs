//! Engine properties that are not single cases: hostile events, deep nesting, rule changes while
//! other threads match.

use std::sync::Arc;

use switchyard_pattern::Matcher;

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let matcher: Matcher<u32> = Matcher::new();
    matcher.add(1, r#"{"a": [{"exists": true}]}"#).unwrap();
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let event = format!("{{\"a\":{}1{}}}", open.repeat(10_000), close.repeat(10_000));
        // Rust's default thread stack (2 MiB), even in debug builds: recursion stops at the depth limit.
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn({
                let matcher_event = event.clone();
                let snapshot = matcher.snapshot();
                move || {
                    let validated = snapshot.matches(matcher_event.as_bytes(), switchyard_pattern::Mode::Validate);
                    let trusted = snapshot.matches(matcher_event.as_bytes(), switchyard_pattern::Mode::Trusted);
                    (validated.map_err(|e| e.to_string()), trusted.map_err(|e| e.to_string()))
                }
            })
            .unwrap();
        let (validated, trusted) = handle.join().expect("no stack overflow");
        assert!(validated.unwrap_err().contains("nesting deeper than"));
        if open == "[" {
            // Arrays under a mentioned path are walked, so the limit applies in trusted mode too.
            assert!(trusted.unwrap_err().contains("nesting deeper than"));
        } else {
            // `a` holds an object, invisible to a leaf condition: trusted mode skips it unread.
            assert_eq!(trusted.unwrap(), Vec::<u32>::new());
        }
    }
    // Deep nesting under a key no pattern mentions is skipped iteratively, and still limited.
    let event = format!("{{\"z\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matcher.matches(event.as_bytes()).unwrap_err().to_string().contains("nesting deeper than"));
    assert_eq!(matcher.matches_trusted(event.as_bytes()).unwrap(), Vec::<u32>::new());
}

#[test]
fn huge_numbers_are_errors() {
    let matcher: Matcher<u32> = Matcher::new();
    matcher.add(1, r#"{"a": [{"numeric": [">", 0]}]}"#).unwrap();
    let event = format!("{{\"a\": {}}}", "9".repeat(100_000));
    assert!(matcher.matches(event.as_bytes()).unwrap_err().to_string().contains("number literal"));
    let event = format!("{{\"b\": {}, \"a\": 1}}", "9".repeat(100_000));
    assert!(matcher.matches(event.as_bytes()).unwrap_err().to_string().contains("number literal"));
    assert_eq!(matcher.matches(br#"{"a": 1e400}"#).unwrap(), Vec::<u32>::new());
}

#[test]
fn rules_change_while_other_threads_match() {
    let matcher: Arc<Matcher<u32>> = Arc::new(Matcher::new());
    matcher.add(0, r#"{"source": ["stable"]}"#).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let matcher = Arc::clone(&matcher);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n_matches = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let found = matcher.matches(br#"{"source": "stable", "n": 1}"#).unwrap();
                    // Rule 0 is never removed, whatever else is being added and removed.
                    assert!(found.contains(&0));
                    n_matches += 1;
                }
                n_matches
            })
        })
        .collect();
    for round in 1..200u32 {
        matcher.add(round, &format!(r#"{{"source": ["stable"], "n": [{round}]}}"#)).unwrap();
        if round > 1 {
            assert!(matcher.remove(&(round - 1)));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(matcher.len(), 2);
    let mut found = matcher.matches(br#"{"source": "stable", "n": 199}"#).unwrap();
    found.sort();
    assert_eq!(found, [0, 199]);
}

#[test]
fn matching_cost_does_not_depend_on_unrelated_rules() {
    // Not a timing test: the number of conditions evaluated is what the automaton bounds. Here the
    // check is functional: 10,000 rules on other values leave the answer for this event unchanged.
    let matcher: Matcher<u32> = Matcher::new();
    matcher.update(|changes| {
        for idx in 0..10_000u32 {
            let pattern = format!(r#"{{"detail": {{"id": ["id-{idx}"], "n": [{{"numeric": [">", {idx}]}}]}}}}"#);
            changes.add_pattern(idx, switchyard_pattern::Pattern::parse(&pattern, matcher.limits()).unwrap());
        }
    });
    let found = matcher.matches(br#"{"detail": {"id": "id-42", "n": 43}}"#).unwrap();
    assert_eq!(found, [42]);
}
