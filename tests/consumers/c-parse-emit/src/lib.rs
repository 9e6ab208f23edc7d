//! The parse-and-emit benchmark consumer: prices a ~2 KB OrderPlaced event (see `order-event.json`)
//! and emits one OrderPriced event. The work itself is in `work.rs`, shared with a native benchmark.

mod work;

use switchyard_guest::{Delivery, EmitEvent, Failure, Result, emit_event};

fn handle(delivery: Delivery) -> Result {
    let (source, detail_type, detail) = work::price(&delivery.payload).map_err(Failure::permanent)?;
    emit_event(EmitEvent { source, detail_type, detail, resources: Vec::new() })?;
    Ok(())
}

switchyard_guest::export!(handle);
