//! Panics. On wasm32-wasip2 a panic aborts, so the router sees a trap, with the panic message on the
//! guest's stderr.

use switchyard_guest::{Delivery, Result};

fn handle(delivery: Delivery) -> Result {
    eprintln!("c-panic: about to panic on event {}", delivery.metadata.event_id);
    panic!("consumer panicked on purpose");
}

switchyard_guest::export!(handle);
