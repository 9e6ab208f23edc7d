//! Write Switchyard consumers in Rust.
//!
//! A consumer is a WebAssembly component (`wasm32-wasip2`) that exports the `handler` of the WIT
//! world `switchyard:consumer/consumer@0.1.0`. This crate hides the WIT bindings behind plain Rust:
//! a consumer is a function from a [`Delivery`] to a [`Result`], exported with [`export!`].
//!
//! ```no_run
//! use switchyard_guest::prelude::*;
//!
//! #[derive(Deserialize)]
//! struct OrderPlaced {
//!     order_id: String,
//! }
//!
//! fn handle(delivery: Delivery) -> Result {
//!     let order: OrderPlaced = delivery.detail()?;
//!     info!("order {} placed", order.order_id);
//!     Ok(())
//! }
//!
//! switchyard_guest::export!(handle);
//! ```
//!
//! Natively (for unit tests) the host functions are served by [`testing::TestHost`] when the
//! `testing` feature is on; without it they panic, since there is no router to talk to.

// The generated export macro names this crate by its path; this makes that path resolve here too.
extern crate self as switchyard_guest;

#[cfg(all(feature = "arena", target_family = "wasm", not(target_feature = "atomics")))]
mod arena;
mod delivery;
mod emit;
mod failure;
mod host;
pub mod http;
mod kv_error;
mod logging;

#[cfg(all(feature = "testing", not(target_family = "wasm")))]
pub mod testing;

pub use delivery::{Delivery, Event, Metadata};
pub use emit::{EmitError, EmitEvent, emit, emit_event};
pub use failure::{Context, Failure, Result};
pub use kv_error::KvError;
pub use logging::{Level, log};
/// Serde, for `#[derive(Deserialize, Serialize)]` on payload and detail types.
pub use serde;
/// serde_json, for building and inspecting JSON values.
pub use serde_json;

/// Each delivery runs in a fresh instance that is thrown away afterwards, so a bump arena serves
/// its allocations (see `arena.rs`); the default feature `arena`, WebAssembly only.
#[cfg(all(feature = "arena", target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

/// The configuration values the consumer's target sets in the rules file.
pub mod config {
    /// The value of `key`, if the target sets it.
    pub fn get(key: &str) -> Option<String> {
        crate::host::config_get(key)
    }

    /// Every `(key, value)` the target sets.
    pub fn all() -> Vec<(String, String)> {
        crate::host::config_all()
    }
}

/// The consumer's own small key-value store, when its target grants one (`capabilities.kv`).
pub mod kv {
    pub use crate::kv_error::KvError;

    /// The value stored under `key`, or `None`.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        crate::host::kv_get(key)
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
        crate::host::kv_set(key, value)
    }

    /// Removes `key`; removing a missing key is not an error.
    pub fn delete(key: &str) -> Result<(), KvError> {
        crate::host::kv_delete(key)
    }
}

/// The items most consumers use: `use switchyard_guest::prelude::*;`.
pub mod prelude {
    pub use crate::serde::{Deserialize, Serialize};
    pub use crate::{
        Context, Delivery, EmitError, EmitEvent, Event, Failure, KvError, Level, Metadata, Result, config, debug, emit,
        emit_event, error, info, kv, trace, warn,
    };
}

/// Exports a handler function as the consumer's `handler.handle`.
///
/// The function must have the signature `fn(Delivery) -> switchyard_guest::Result`. Use the macro
/// once, in the crate that is built as the component (`crate-type = ["cdylib"]`). Outside
/// WebAssembly it only checks the handler's signature, so the crate still builds and tests natively.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        const _: () = {
            struct SwitchyardConsumer;

            impl $crate::__private::Guest for SwitchyardConsumer {
                fn handle(
                    delivery: $crate::__private::WitDelivery,
                ) -> ::core::result::Result<(), $crate::__private::WitFailure> {
                    $crate::__private::handle(delivery, $handler)
                }
            }

            #[cfg(target_family = "wasm")]
            $crate::__private::bindings::__export_consumer!(
                SwitchyardConsumer with_types_in $crate::__private::bindings
            );
        };
        // Natively nothing calls the handler; this keeps it (and what it calls) from counting as dead code.
        #[cfg(not(target_family = "wasm"))]
        const _: fn($crate::Delivery) -> $crate::Result = $handler;
    };
}

/// Records a message at [`Level::Trace`]; takes `format!` arguments.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log($crate::Level::Trace, &::std::format!($($arg)+), &[]) };
}

/// Records a message at [`Level::Debug`]; takes `format!` arguments.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)+), &[]) };
}

/// Records a message at [`Level::Info`]; takes `format!` arguments.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log($crate::Level::Info, &::std::format!($($arg)+), &[]) };
}

/// Records a message at [`Level::Warn`]; takes `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)+), &[]) };
}

/// Records a message at [`Level::Error`]; takes `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log($crate::Level::Error, &::std::format!($($arg)+), &[]) };
}

/// What [`export!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    /// The generated bindings of the `consumer` world.
    #[allow(missing_debug_implementations, unsafe_op_in_unsafe_fn, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            world: "consumer",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "__export_consumer",
            default_bindings_module: "switchyard_guest::__private::bindings",
            ownership: Borrowing { duplicate_if_necessary: false },
        });
    }

    pub use bindings::exports::switchyard::consumer::handler::Guest;
    pub use bindings::switchyard::consumer::types::{Delivery as WitDelivery, Failure as WitFailure};

    use crate::{Delivery, Metadata};

    /// Converts the WIT delivery, runs `handler` and converts its outcome back.
    pub fn handle(delivery: WitDelivery, handler: impl FnOnce(Delivery) -> crate::Result) -> Result<(), WitFailure> {
        let m = delivery.metadata;
        let delivery = Delivery {
            metadata: Metadata {
                event_id: m.event_id,
                source: m.source,
                detail_type: m.detail_type,
                rule: m.rule,
                target: m.target,
                attempt: m.attempt,
                deadline_unix_ms: m.deadline_unix_ms,
            },
            payload: delivery.payload,
        };
        handler(delivery).map_err(|failure| {
            let permanent = failure.is_permanent();
            let message = failure.into_message();
            if permanent { WitFailure::Permanent(message) } else { WitFailure::Retryable(message) }
        })
    }
}
