//! Allocates 1 MiB blocks, each filled with data and kept, until memory runs out.

use std::hint::black_box;

use switchyard_guest::{Delivery, Result};

const BLOCK: usize = 1024 * 1024;

fn handle(_delivery: Delivery) -> Result {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        // A non-zero fill touches every page of the block.
        let fill = (blocks.len() % 255) as u8 + 1;
        blocks.push(black_box(vec![fill; BLOCK]));
        black_box(&blocks);
    }
}

switchyard_guest::export!(handle);
