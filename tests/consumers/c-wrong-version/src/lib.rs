//! Exports `switchyard:consumer/handler@0.2.0`: a contract version the router does not implement,
//! so loading it must fail with a clear error. Uses wit-bindgen directly over `wit/consumer.wit`.

wit_bindgen::generate!({
    world: "consumer",
    path: "wit",
});

use exports::switchyard::consumer::handler::Guest;
use switchyard::consumer::types::{Delivery, Failure};

struct Consumer;

impl Guest for Consumer {
    fn handle(_delivery: Delivery) -> Result<(), Failure> {
        Ok(())
    }
}

export!(Consumer);
