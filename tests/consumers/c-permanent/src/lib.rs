//! Fails with a permanent failure: the router must not retry it.

use switchyard_guest::{Delivery, Failure, Result};

fn handle(_delivery: Delivery) -> Result {
    Err(Failure::permanent("order 42 is cancelled"))
}

switchyard_guest::export!(handle);
