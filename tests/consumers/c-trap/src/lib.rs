//! Executes the Wasm `unreachable` instruction: a trap without a panic message.

use switchyard_guest::{Delivery, Result};

fn handle(_delivery: Delivery) -> Result {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

switchyard_guest::export!(handle);
