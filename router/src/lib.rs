//! Switchyard: an EventBridge-style event router whose targets are sandboxed WebAssembly components.
//!
//! The crate holds the router's stages (ingest, rules, transforms, the Wasm host, delivery), the
//! pipeline that orders them, the `serve` process and the command line. ARCHITECTURE.md maps them;
//! README.md says what is present and what is absent.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod delivery;
pub mod http;
pub mod ingest;
pub mod invoke;
pub mod pipeline;
pub mod rules;
pub mod serve;
pub mod transform;
