//! Tries to emit a million events; stops at the first quota error and succeeds, logging how many
//! the router accepted.

use switchyard_guest::{Delivery, EmitError, Result, emit, info};

fn handle(_delivery: Delivery) -> Result {
    let mut accepted: u64 = 0;
    for i in 0..1_000_000u64 {
        match emit("test.flood", "Flood", &serde_json::json!({ "n": i })) {
            Ok(()) => accepted += 1,
            Err(EmitError::QuotaExceeded(why)) => {
                info!("accepted {accepted} events before the quota stopped them: {why}");
                return Ok(());
            }
            Err(EmitError::Invalid(_)) => {}
        }
    }
    info!("accepted {accepted} events without reaching a quota");
    Ok(())
}

switchyard_guest::export!(handle);
