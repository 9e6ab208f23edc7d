//! The conformance corpus: every `tests/cases/pattern/*.jsonl` case against the engine.

use std::path::Path;

use switchyard_tests::cases;

#[test]
fn conformance_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/pattern");
    let mut all = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("tests/cases/pattern exists").flatten().collect();
    entries.sort_by_key(|entry| entry.path());
    for entry in entries {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "jsonl") {
            let text = std::fs::read_to_string(&path).expect("readable case file");
            let origin = path.file_name().unwrap_or_default().to_string_lossy().to_string();
            all.extend(cases::parse_lines(&origin, &text));
        }
    }
    assert!(all.len() >= 300, "the corpus has only {} cases", all.len());
    let failures = cases::failures(&all);
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), all.len(), failures.join("\n"));
}
