//! Any text given as a pattern is accepted or rejected with an error; it never panics, and an
//! accepted pattern compiles and matches a small event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_pattern::Matcher;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let matcher: Matcher<u8> = Matcher::new();
    if matcher.add(0, text).is_ok() {
        let _ = matcher.matches(br#"{"source": "aws.ec2", "detail": {"a": [1, "x", null, {"b": true}]}}"#);
    }
});
