//! The command-line contract of `switchyard pattern test` and `switchyard pattern check`, run as a
//! real process.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use switchyard_tests::switchyard_bin;

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(switchyard_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchyard starts");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("switchyard finishes")
}

#[test]
fn pattern_test_answers_line_by_line() {
    let input = [
        r#"{"pattern": {"source": [{"prefix": "aws."}]}, "event": {"source": "aws.ec2"}}"#,
        r#"{"pattern": {"source": ["x"]}, "event": {"source": "aws.ec2"}}"#,
        r#"{"pattern": {"source": [{"prefx": "a"}]}, "event": {"source": "a"}}"#,
        r#"{"pattern": {"source": ["a"]}, "event": {"source": "a""#,
        r#"not json"#,
        r#"{"pattern": "{\"n\": [300]}", "event": "{\"n\": 3e2}"}"#,
        r#"{"pattern": {"n": [37.807807921694092]}, "event": {"n": 37.80780792169409}}"#,
        "",
    ]
    .join("\n");
    let output = run(&["pattern", "test"], &input);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0], serde_json::json!({"match": true}));
    assert_eq!(lines[1], serde_json::json!({"match": false}));
    assert!(lines[2]["error"].as_str().unwrap().contains("at /source/0: Unrecognized match type prefx"));
    assert!(lines[3]["error"].as_str().unwrap().contains("not a JSON object"));
    assert!(lines[4]["error"].as_str().unwrap().contains("not a JSON object"));
    assert_eq!(lines[5], serde_json::json!({"match": true}));
    assert_eq!(lines[6], serde_json::json!({"match": false}), "17-digit literal text must be kept");
}

#[test]
fn pattern_check_exit_codes() {
    let dir = std::env::temp_dir().join(format!("switchyard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    let bad = dir.join("bad.json");
    std::fs::write(&good, r#"{"detail": {"state": [{"anything-but": ["stopped"]}]}}"#).unwrap();
    std::fs::write(&bad, r#"{"detail": {"state": [{"numeric": [">", "5"]}]}}"#).unwrap();
    let output = run(&["pattern", "check", good.to_str().unwrap()], "");
    assert!(output.status.success(), "{output:?}");
    let output = run(&["pattern", "check", bad.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("at /detail/state/0: Value of > must be numeric"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
