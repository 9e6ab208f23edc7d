//! Fails with a retryable failure made by `?` from an error that has a source. The router sees the
//! message "field `quantity` is not a number: invalid digit found in string".

use std::error::Error;
use std::fmt;
use std::num::ParseIntError;

use switchyard_guest::{Delivery, Result};

#[derive(Debug)]
struct QuantityError(ParseIntError);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field `quantity` is not a number")
    }
}

impl Error for QuantityError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn quantity(text: &str) -> core::result::Result<u32, QuantityError> {
    text.parse().map_err(QuantityError)
}

fn handle(_delivery: Delivery) -> Result {
    let quantity = quantity(std::hint::black_box("abc"))?;
    switchyard_guest::info!("quantity {quantity}");
    Ok(())
}

switchyard_guest::export!(handle);
