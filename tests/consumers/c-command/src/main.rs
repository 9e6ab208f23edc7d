//! A wasm32-wasip2 command: a component that exports `wasi:cli/run`, not the consumer's handler.

fn main() {
    println!("c-command is a command, not a Switchyard consumer");
}
