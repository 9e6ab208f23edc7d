//! Host bindings of the `switchyard:consumer` world, generated from `sdk-guest/wit` at build time.
//! The handler export is called asynchronously so that WASI's blocking calls (sleep, polls, HTTP)
//! yield to tokio and a delivery's deadline can cut them short.

wasmtime::component::bindgen!({
    path: "../sdk-guest/wit",
    world: "consumer",
    // Key-value writes wait for a durable commit: asynchronous, so the wait yields to tokio.
    imports: { "switchyard:consumer/kv": async },
    exports: { default: async },
});

pub use self::exports::switchyard::consumer::handler::Failure;
pub use self::switchyard::consumer::{config, emit, kv, log, types};
