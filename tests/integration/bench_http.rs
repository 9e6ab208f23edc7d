//! `switchyard bench http` runs end to end, briefly: the floor and the three router runs start,
//! take load, print their figures lines and stop cleanly. A smoke test: no timing is asserted.

use std::path::PathBuf;
use std::process::Command;

use switchyard_tests::switchyard_bin;

#[test]
fn bench_http_prints_its_figures_and_exits_0() {
    let wasm = PathBuf::from(env!("SWITCHYARD_WASM_DIR"));
    let output = Command::new(switchyard_bin())
        .args(["bench", "http", "--module"])
        .arg(wasm.join("c_ok.wasm"))
        .arg("--park-module")
        .arg(wasm.join("c_sleep.wasm"))
        .args(["--connections", "4", "--duration-s", "0.3", "--warmup-s", "0.1", "--client-threads", "1"])
        .output()
        .expect("switchyard runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    for label in [
        "floor (bare hyper)",
        "router accept+deliver (sync)",
        "router accept-only (sync)",
        "router match-only (no rule matches)",
    ] {
        for point in ["max:", "50%:"] {
            let line = stdout
                .lines()
                .find(|line| line.starts_with(label) && line.contains(point))
                .unwrap_or_else(|| panic!("no `{label} {point}` line in:\n{stdout}"));
            for figure in [" req/s ", " ev/s ", "p50 ", "p99 "] {
                assert!(line.contains(figure), "no `{figure}` in `{line}`");
            }
        }
    }
    assert!(
        stdout.lines().any(|line| line.starts_with("router accept+deliver") && line.contains("drain ")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|line| line.starts_with("target: ")), "{stdout}");
}
