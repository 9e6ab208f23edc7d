//! The `switchyard` binary: everything is in the library's `cli` module.

/// mimalloc rather than glibc's malloc: the request and delivery paths allocate many short-lived
/// buffers of mixed sizes from two threads, where glibc's consolidation and locking cost about a
/// sixth of the router's CPU (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
