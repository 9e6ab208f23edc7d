//! Switchyard: an EventBridge-style event router whose targets are sandboxed WebAssembly components.
//!
//! Today the crate holds the command-line front end over the pattern engine (`switchyard-pattern`);
//! ingest, transforms, the Wasm host and delivery arrive with their issues (see README.md for what is
//! present and what is absent).

pub mod admin;
pub mod cli;
pub mod clock;
pub mod delivery;
pub mod invoke;
pub mod pipeline;
pub mod transform;
