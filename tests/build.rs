//! Builds the Wasm consumers the tests run, from source, for wasm32-wasip2: the test consumers
//! (tests/consumers, one per behaviour) and the examples (examples/). Both are cargo workspaces of
//! their own; they are built into `<target dir>/wasm` and the tests find them through the
//! `SWITCHYARD_WASM_DIR` environment variable set at compile time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("tests/ is inside the repository").to_owned();
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = out.ancestors().nth(4).expect("OUT_DIR is inside the target folder").to_owned();
    let wasm_dir = target.join("wasm");
    for workspace in ["tests/consumers", "examples"] {
        build(&root.join(workspace), &wasm_dir);
    }
    for watched in ["tests/consumers", "examples", "sdk-guest"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rustc-env=SWITCHYARD_WASM_DIR={}", wasm_dir.join("wasm32-wasip2").join("release").display());
}

fn build(workspace: &Path, target_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The workspace's .cargo/config.toml (the 64 KiB stack flag) is read from the current folder,
    // and nothing of this build's own flags or target may leak into the nested one.
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "building the Wasm consumers in {} failed ({status}); is the target installed? `rustup target add wasm32-wasip2` (make test does it)",
            workspace.display()
        ),
        Err(error) => panic!("cannot run cargo to build {}: {error}", workspace.display()),
    }
}
