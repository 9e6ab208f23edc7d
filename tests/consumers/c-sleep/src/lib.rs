//! Sleeps for an hour: the guest blocks in a host call (wasi:io poll on a clock), not on the CPU.

use std::time::Duration;

use switchyard_guest::{Delivery, Result};

fn handle(_delivery: Delivery) -> Result {
    std::thread::sleep(Duration::from_secs(3600));
    Ok(())
}

switchyard_guest::export!(handle);
