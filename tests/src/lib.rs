//! Support code of Switchyard's integration tests: the data-driven case runners (patterns and
//! transforms) and, for property tests, a naive reference matcher and generators.

pub mod cases;
pub mod generate;
pub mod http_stub;
pub mod reference;
pub mod router;
pub mod transform_cases;

use std::path::PathBuf;

/// The `switchyard` binary of the same build profile as this test binary (`make test` builds it
/// before running the tests).
pub fn switchyard_bin() -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/integration-<hash> → target/<profile>/switchyard
    let profile_dir = test_exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let bin = profile_dir.join("switchyard");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p switchyard` (make test does)",
        bin.display()
    );
    bin
}
