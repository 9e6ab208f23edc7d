//! Loading a consumer: read, check the sha256 pin, compile (through the cache), check the
//! component against the `switchyard:consumer` world, pre-link.

use std::fmt;
use std::path::{Path, PathBuf};

use super::bindings;
use super::cache;
use super::state::State;
use super::{Consumer, HANDLER_EXPORT, Host};

pub(crate) struct Loaded {
    pub(crate) host: Host,
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
    pub(crate) from_cache: bool,
    pub(crate) pre: bindings::ConsumerPre<State>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("from_cache", &self.from_cache)
            .finish()
    }
}

/// Why a module cannot be loaded; [`LoadError`] adds the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadProblem {
    /// The file could not be read.
    Read(String),
    /// The pin is not 64 hex digits.
    BadPin(String),
    /// The module's sha256 is not the pinned one.
    Sha256Mismatch { pinned: String, actual: String },
    /// Not WebAssembly at all.
    NotWasm,
    /// A core module: built for wasm32-wasip1 or wasm32-unknown-unknown, not as a component.
    CoreModule,
    /// A WebAssembly binary of an unknown version or layer.
    UnknownVersion,
    /// wasmtime refused the component (invalid, or uses a feature the host does not enable).
    Invalid(String),
    /// The component exports the handler of another version of the WIT package.
    WrongVersion { found: String },
    /// The component does not export the handler (another world, or a command).
    MissingExport { exports: Vec<String> },
    /// The component imports something the host does not provide.
    Unlinkable(String),
    /// The handler export exists but its type does not match the world's.
    WrongType(String),
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadProblem::Read(error) => write!(f, "cannot be read: {error}"),
            LoadProblem::BadPin(pin) => write!(f, "the sha256 pin {pin:?} is not 64 hexadecimal digits"),
            LoadProblem::Sha256Mismatch { pinned, actual } => {
                write!(
                    f,
                    "sha256 mismatch: the rule pins {pinned} but the file's sha256 is {actual}; refusing to load it"
                )
            }
            LoadProblem::NotWasm => f.write_str("is not a WebAssembly file (no \\0asm header)"),
            LoadProblem::CoreModule => f.write_str(
                "is a core WebAssembly module, not a component: build the consumer for the wasm32-wasip2 target \
                 (cargo build --target wasm32-wasip2) with the switchyard-guest SDK",
            ),
            LoadProblem::UnknownVersion => f.write_str("is a WebAssembly binary of an unknown version or layer"),
            LoadProblem::Invalid(error) => write!(f, "is not a valid component: {error}"),
            LoadProblem::WrongVersion { found } => write!(
                f,
                "exports {found} but this router runs {HANDLER_EXPORT}: rebuild the consumer against the matching switchyard-guest SDK"
            ),
            LoadProblem::MissingExport { exports } => {
                write!(
                    f,
                    "does not export {HANDLER_EXPORT}, so it is not a consumer of the switchyard:consumer world; "
                )?;
                if exports.is_empty() {
                    f.write_str("it exports nothing")
                } else {
                    write!(f, "it exports {}", exports.join(", "))
                }
            }
            LoadProblem::Unlinkable(error) => write!(f, "imports something the router does not provide: {error}"),
            LoadProblem::WrongType(error) => write!(f, "exports {HANDLER_EXPORT} with the wrong type: {error}"),
        }
    }
}

/// A module that cannot be loaded, with the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    pub problem: LoadProblem,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "module {}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for LoadError {}

impl Host {
    /// Loads the consumer in `path`, refusing it unless its sha256 equals `pin` (when given).
    pub fn load(&self, path: &Path, pin: Option<&str>) -> Result<Consumer, LoadError> {
        let bytes = std::fs::read(path)
            .map_err(|e| LoadError { path: path.to_owned(), problem: LoadProblem::Read(e.to_string()) })?;
        self.load_bytes(path, &bytes, pin)
    }

    /// Loads a consumer from `bytes`; `path` names it in errors.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8], pin: Option<&str>) -> Result<Consumer, LoadError> {
        let fail = |problem| LoadError { path: path.to_owned(), problem };
        let sha256 = cache::sha256_hex(bytes);
        if let Some(pin) = pin {
            let pin = pin.trim().to_ascii_lowercase();
            if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(fail(LoadProblem::BadPin(pin)));
            }
            if pin != sha256 {
                return Err(fail(LoadProblem::Sha256Mismatch { pinned: pin, actual: sha256 }));
            }
        }
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => {}
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(fail(LoadProblem::CoreModule)),
            Some([0, b'a', b's', b'm', ..]) => return Err(fail(LoadProblem::UnknownVersion)),
            _ => return Err(fail(LoadProblem::NotWasm)),
        }
        let host = &self.inner;
        let (component, from_cache) = cache::compile(&host.engine, host.config.cache_dir.as_deref(), &sha256, bytes)
            .map_err(|e| fail(LoadProblem::Invalid(format!("{e:#}"))))?;
        let exports: Vec<String> =
            component.component_type().exports(&host.engine).map(|(name, _)| name.to_owned()).collect();
        if !exports.iter().any(|e| e == HANDLER_EXPORT) {
            let prefix = HANDLER_EXPORT.split('@').next().unwrap_or(HANDLER_EXPORT);
            return Err(fail(match exports.iter().find(|e| e.split('@').next() == Some(prefix)) {
                Some(found) => LoadProblem::WrongVersion { found: found.clone() },
                None => LoadProblem::MissingExport { exports },
            }));
        }
        let pre =
            host.linker.instantiate_pre(&component).map_err(|e| fail(LoadProblem::Unlinkable(format!("{e:#}"))))?;
        let pre = bindings::ConsumerPre::new(pre).map_err(|e| fail(LoadProblem::WrongType(format!("{e:#}"))))?;
        Ok(Consumer {
            inner: std::sync::Arc::new(Loaded { host: self.clone(), path: path.to_owned(), sha256, from_cache, pre }),
        })
    }
}
