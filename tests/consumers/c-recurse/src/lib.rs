//! Recurses without bound, using Wasm stack on every call, until the stack overflows.

use std::hint::black_box;

use switchyard_guest::{Delivery, Result};

#[inline(never)]
fn descend(depth: u64) -> u64 {
    // A frame with a local array, and work after the call, so it is neither a loop nor a tail call.
    let frame = black_box([depth; 8]);
    // Never true in practice (the stack runs out first), but the function may return.
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    let below = descend(black_box(depth + 1));
    black_box(below.wrapping_add(frame[(depth % 8) as usize]))
}

fn handle(_delivery: Delivery) -> Result {
    let reached = descend(black_box(0));
    switchyard_guest::info!("recursion ended at {reached}");
    Ok(())
}

switchyard_guest::export!(handle);
