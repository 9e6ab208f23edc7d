//! Compiled modules on disk: `<cache>/<sha256 of the module>-<engine key>.cwasm`.
//!
//! The engine key hashes wasmtime's version and everything of the engine's configuration that
//! affects compiled code (wasmtime's compatibility hash), so a different engine never finds the
//! entry of another. Each file ends with the sha256 of what precedes it; an entry that is
//! truncated, corrupt or that wasmtime refuses as incompatible is compiled again and rewritten.
//! Files are written to a temporary name and renamed, so readers never see half a file.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The wasmtime release the host is built against (pinned in Cargo.toml).
const WASMTIME: &str = "wasmtime-48.0.8";

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Hasher that feeds sha256, so the key is the same across Rust releases and processes.
struct StableHasher(Sha256);

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut hasher = StableHasher(Sha256::new());
    WASMTIME.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize()[..8])
}

pub(crate) fn entry_path(dir: &Path, sha256: &str, engine: &Engine) -> PathBuf {
    dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)))
}

/// The component for `bytes`: from the cache when a sound entry exists, else compiled (and
/// cached). The flag says whether it came from the cache. Cache trouble never fails a load: it
/// is logged and the module is compiled in memory.
pub(crate) fn compile(
    engine: &Engine,
    dir: Option<&Path>,
    sha256: &str,
    bytes: &[u8],
) -> wasmtime::Result<(Component, bool)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, bytes)?, false));
    };
    let path = entry_path(dir, sha256, engine);
    if let Some(component) = read_entry(engine, &path) {
        return Ok((component, true));
    }
    let component = Component::new(engine, bytes)?;
    if let Err(error) = write_entry(&component, &path) {
        tracing::warn!(target: "switchyard::invoke", path = %path.display(), "cannot write the compiled-module cache: {error}");
    }
    Ok((component, false))
}

fn read_entry(engine: &Engine, path: &Path) -> Option<Component> {
    let file = std::fs::read(path).ok()?;
    let sound = file.len() > 32 && {
        let (body, sum) = file.split_at(file.len() - 32);
        Sha256::digest(body).as_slice() == sum
    };
    if !sound {
        tracing::warn!(target: "switchyard::invoke", path = %path.display(), "compiled-module cache entry is corrupt; compiling again");
        return None;
    }
    // SAFETY: the entry was written by `write_entry` from `Component::serialize` of this engine
    // key (its name says so), and its checksum matches, so it is wasmtime's own output, unmodified.
    // wasmtime checks its header (version, configuration) and refuses anything else.
    match unsafe { Component::deserialize(engine, &file[..file.len() - 32]) } {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::warn!(target: "switchyard::invoke", path = %path.display(), "compiled-module cache entry is incompatible ({error}); compiling again");
            None
        }
    }
}

fn write_entry(component: &Component, path: &Path) -> Result<(), String> {
    let mut body = component.serialize().map_err(|e| e.to_string())?;
    let sum = Sha256::digest(&body);
    body.extend_from_slice(&sum);
    let dir = path.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &body).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}
