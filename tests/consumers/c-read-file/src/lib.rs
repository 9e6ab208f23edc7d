//! Tries to read a file and list a directory. A consumer has no filesystem, so both should fail and
//! the handler then fails permanently saying how; if either works it succeeds and logs what it read.

use switchyard_guest::{Delivery, Failure, Result, info};

fn handle(_delivery: Delivery) -> Result {
    let mut problems = Vec::new();
    match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => {
            info!("read {} bytes from /etc/passwd", text.len());
            return Ok(());
        }
        Err(error) => problems.push(format!("read /etc/passwd: {error}")),
    }
    match std::fs::read_dir("/") {
        Ok(entries) => {
            info!("listed {} entries in /", entries.count());
            return Ok(());
        }
        Err(error) => problems.push(format!("list /: {error}")),
    }
    Err(Failure::permanent(format!("no filesystem access: {}", problems.join("; "))))
}

switchyard_guest::export!(handle);
