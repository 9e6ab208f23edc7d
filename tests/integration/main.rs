//! Switchyard's integration tests: one binary, one module per area.

mod admin;
mod bench_http;
mod cli;
mod conformance;
mod docs;
mod engine;
mod examples;
mod ingest_units;
mod invoke;
mod pipeline;
mod properties;
mod rules;
mod server;
mod transform;
