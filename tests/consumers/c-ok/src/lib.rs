//! Succeeds without touching the delivery: what the router's invocation costs on its own.

fn handle(_delivery: switchyard_guest::Delivery) -> switchyard_guest::Result {
    Ok(())
}

switchyard_guest::export!(handle);
