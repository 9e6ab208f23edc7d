//! The examples of rules/README.md (`jsonl pattern-cases` blocks) run against the engine, so the
//! reference cannot drift from the code.

use std::path::Path;

use switchyard_tests::cases;

#[test]
fn rules_reference_examples() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/README.md");
    let text = std::fs::read_to_string(&path).expect("rules/README.md exists");
    let mut all = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (idx, line) in text.lines().enumerate() {
        match &mut block {
            None if line.trim() == "```jsonl pattern-cases" => block = Some((idx + 2, String::new())),
            None => {}
            Some((start, body)) if line.trim() == "```" => {
                let origin = format!("rules/README.md block at line {start}");
                all.extend(cases::parse_lines(&origin, body));
                block = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(all.len() >= 50, "rules/README.md has only {} checkable examples", all.len());
    let failures = cases::failures(&all);
    assert!(failures.is_empty(), "{} of {} examples failed:\n{}", failures.len(), all.len(), failures.join("\n"));
}
