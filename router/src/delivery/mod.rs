//! Delivery: durable deliveries, retries with backoff, and per-rule dead letters.
//!
//! `store.rs` is the storage contract (the embedded store and NATS JetStream implement it);
//! `policy.rs` decides what an attempt's outcome means (retry when, or dead-letter why).

pub mod embedded;
pub mod policy;
pub mod store;
