//! The examples of rules/README.md (`jsonl pattern-cases` and `jsonl transform-cases` blocks) run
//! against the engine and the transform stage, so the reference cannot drift from the code.

use std::path::Path;

use switchyard_tests::{cases, transform_cases};

/// The bodies of the fenced blocks whose info string is `info`, each with the line it starts on.
fn blocks(info: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/README.md");
    let text = std::fs::read_to_string(&path).expect("rules/README.md exists");
    let mut found = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (idx, line) in text.lines().enumerate() {
        match &mut block {
            None if line.trim() == format!("```{info}") => block = Some((idx + 2, String::new())),
            None => {}
            Some((start, body)) if line.trim() == "```" => {
                found.push((format!("rules/README.md block at line {start}"), std::mem::take(body)));
                block = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    found
}

#[test]
fn rules_reference_examples() {
    let mut all = Vec::new();
    for (origin, body) in blocks("jsonl pattern-cases") {
        all.extend(cases::parse_lines(&origin, &body));
    }
    assert!(all.len() >= 50, "rules/README.md has only {} checkable examples", all.len());
    let failures = cases::failures(&all);
    assert!(failures.is_empty(), "{} of {} examples failed:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn rules_reference_transform_examples() {
    let mut all = Vec::new();
    for (origin, body) in blocks("jsonl transform-cases") {
        all.extend(transform_cases::parse_lines(&origin, &body));
    }
    assert!(all.len() >= 20, "rules/README.md has only {} checkable transform examples", all.len());
    let failures = transform_cases::failures(&all);
    assert!(failures.is_empty(), "{} of {} examples failed:\n{}", failures.len(), all.len(), failures.join("\n"));
}
