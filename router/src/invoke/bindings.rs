//! Host bindings of the `switchyard:consumer` world, generated from `sdk-guest/wit` at build time.
//! The handler export is called asynchronously so that WASI's blocking calls (sleep, polls, HTTP)
//! yield to tokio and a delivery's deadline can cut them short.

wasmtime::component::bindgen!({
    path: "../sdk-guest/wit",
    world: "consumer",
    exports: { default: async },
});

pub use self::exports::switchyard::consumer::handler::Failure;
pub use self::switchyard::consumer::{config, emit, kv, log, types};
