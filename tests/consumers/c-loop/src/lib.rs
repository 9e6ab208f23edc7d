//! Spins on the CPU forever; only the router's deadline (epoch interruption) stops it.

use std::hint::black_box;

use switchyard_guest::{Delivery, Result};

fn handle(_delivery: Delivery) -> Result {
    let mut counter: u64 = 0;
    loop {
        // `black_box` makes every iteration observable, so the loop cannot be optimised away.
        counter = black_box(counter.wrapping_add(1));
    }
}

switchyard_guest::export!(handle);
