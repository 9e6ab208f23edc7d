//! `switchyard bench http`: the router's load test over HTTP on 127.0.0.1, beside a bare hyper
//! server measured with the same load generator in the same run (the floor).
//!
//! The load generator is part of this process: `--connections` keep-alive HTTP/1.1 connections,
//! one request in flight on each, written as pre-built bytes and read with a minimal response
//! parser (status line, `content-length`, body), so that the generator spends as little of the
//! shared CPU as it can. Each request is a PutEvents of `--entries` entries whose `Detail` is
//! `--entry-bytes` of JSON; it counts as accepted when the answer is 200 with
//! `"FailedEntryCount":0`, anything else is an error.
//!
//! Every server is measured at two points: its maximum (closed loop: each connection sends its next
//! request when the previous answer arrives) and half that request rate (open loop: the
//! connections share a schedule, and each request is timed from when it was due, so waiting
//! behind a slow answer counts in its latency; see `connection_loop` for how the generator's own
//! timer lateness is kept out).
//!
//! The servers run as child processes with their own runtimes: the floor is this binary's hidden
//! `bench http-floor` (hyper 1, HTTP/1.1, keep-alive, reads the whole body, answers 200 with a
//! fixed PutEvents answer of the same entry count); the router is `switchyard serve` on a rules
//! folder written for the run, one router per mode. The floor's maximum is measured again before
//! each router, which is compared with the floor measured just before it:
//!
//! - `deliver` (accept and deliver, the product path): one rule matching every event, its target
//!   the trivial consumer `--module`; deliveries run while producers send. After each point the
//!   benchmark waits until `/metrics` shows no pending delivery and reports that drain time and the
//!   sustained rate (events accepted in the point over the point's time plus the drain).
//! - `accept` (accept only: HTTP, parse, match and the durable record): the same rule, but its
//!   target's consumer (`--park-module`, c-sleep) holds its delivery, and only one runs at a time,
//!   so the deliveries are recorded and none competes for the CPU.
//! - `match` (match and acknowledge, nothing recorded): a rule that matches no event.

use std::fmt::Write as _;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Distinct request bodies the generator rotates through.
const BODIES: usize = 16;
/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the deliveries of a point may take to drain before the benchmark gives up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Durability {
    Sync,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Accept and deliver to the trivial consumer.
    Deliver,
    /// Accept and record durably; the deliveries are held by a parked consumer.
    Accept,
    /// Match and acknowledge; no rule matches, nothing is recorded.
    Match,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HttpArgs {
    /// The trivial consumer the rule's target runs (tests/consumers' c-ok, `c_ok.wasm`; `make
    /// bench-http` builds it).
    #[arg(long, value_name = "WASM")]
    module: PathBuf,
    /// The consumer of the accept-only router, which holds its delivery (tests/consumers' c-sleep)
    /// [default: c_sleep.wasm beside --module].
    #[arg(long, value_name = "WASM")]
    park_module: Option<PathBuf>,
    /// Keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds measured per point.
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Seconds of load before each point's measurement starts.
    #[arg(long, default_value_t = 1.0)]
    warmup_s: f64,
    /// PutEvents entries per request.
    #[arg(long, default_value_t = 10)]
    entries: usize,
    /// Bytes of each entry's Detail (JSON text).
    #[arg(long, default_value_t = 1024)]
    entry_bytes: usize,
    /// The router's durability: `sync` acknowledges once deliveries are on disk, `none` before.
    #[arg(long, value_enum, default_value = "sync")]
    durability: Durability,
    /// The router's binary [default: this one].
    #[arg(long, value_name = "FILE")]
    router_bin: Option<PathBuf>,
    /// The accept+deliver rule's target `limits: concurrency` (deliveries of it that run at once)
    /// [default: the rules' default, 16].
    #[arg(long, value_name = "N")]
    target_concurrency: Option<usize>,
    /// The load generator's threads.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// The router runs to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["deliver", "accept", "match"])]
    modes: Vec<Mode>,
    /// Work in a new directory inside DIR, removed at the end (default: the system's temp dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct FloorArgs {
    /// Entries in the fixed PutEvents answer.
    #[arg(long, default_value_t = 10)]
    entries: usize,
}

/// The work directory, removed when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn bench_http(args: &HttpArgs) -> anyhow::Result<ExitCode> {
    if args.connections == 0 || args.entries == 0 || args.client_threads == 0 {
        bail!("--connections, --entries and --client-threads must be at least 1");
    }
    if !(args.duration_s > 0.0 && args.warmup_s >= 0.0) {
        bail!("--duration-s must be positive and --warmup-s not negative");
    }
    let module = absolute(&args.module)?;
    if !module.is_file() {
        bail!("the consumer {} does not exist (`make bench-http` builds c_ok.wasm)", module.display());
    }
    let park_module = match &args.park_module {
        Some(path) => absolute(path)?,
        None => module.with_file_name("c_sleep.wasm"),
    };
    if args.modes.contains(&Mode::Accept) && !park_module.is_file() {
        bail!(
            "the accept-only run needs a consumer that holds its delivery: {} does not exist (pass --park-module, or leave `accept` out of --modes)",
            park_module.display()
        );
    }
    let this = std::env::current_exe().context("finding this binary")?;
    let router_bin = args.router_bin.clone().unwrap_or_else(|| this.clone());
    let parent = args.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = WorkDir(parent.join(format!("switchyard-bench-http-{}", std::process::id())));
    std::fs::create_dir_all(&work.0).with_context(|| format!("creating {}", work.0.display()))?;

    let bodies: Vec<String> =
        (0..BODIES).map(|variant| put_events_body(variant, args.entries, args.entry_bytes)).collect();
    let body_bytes = bodies.iter().map(String::len).sum::<usize>() / bodies.len();
    let load = Load {
        connections: args.connections,
        warmup: Duration::from_secs_f64(args.warmup_s),
        duration: Duration::from_secs_f64(args.duration_s),
        entries: args.entries as u64,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    let durability = match args.durability {
        Durability::Sync => "sync",
        Durability::None => "none",
    };
    println!(
        "# switchyard bench http: PutEvents of {} entries x {} bytes ({} bytes per body), {} connections, {} client thread(s), {} s warm-up + {} s per point, router durability {durability}",
        args.entries,
        args.entry_bytes,
        body_bytes,
        args.connections,
        args.client_threads,
        args.warmup_s,
        args.duration_s
    );

    // The floor: a bare hyper server in a process of its own, measured at both points first and
    // at its maximum again before each router run after the first, so that every router is
    // compared with a floor measured a minute earlier at most (this machine's speed drifts).
    let entries = args.entries.to_string();
    let floor =
        Server::start("floor", &this, &["bench", "http-floor", "--entries", &entries], &work.0.join("floor.log"))?;
    let floor_requests = Arc::new(http_requests(&bodies, floor.addr));
    let floor_label = "floor (bare hyper)";
    let mut errors = 0;
    let mut deliver_max = None;
    for (run, &mode) in args.modes.iter().enumerate() {
        let floor_max = runtime.block_on(load.run(floor.addr, floor_requests.clone(), None))?;
        println!("{}", floor_max.line(floor_label, "max", None));
        errors += floor_max.errors;
        if run == 0 {
            let rate = Some(floor_max.req_per_s() / 2.0);
            let floor_half = runtime.block_on(load.run(floor.addr, floor_requests.clone(), rate))?;
            println!("{}", floor_half.line(floor_label, "50%", None));
            errors += floor_half.errors;
        }
        let dir = work.0.join(match mode {
            Mode::Deliver => "deliver",
            Mode::Accept => "accept",
            Mode::Match => "match",
        });
        let rules = dir.join("rules");
        std::fs::create_dir_all(&rules).with_context(|| format!("creating {}", rules.display()))?;
        std::fs::write(rules.join("bench.yaml"), rules_file(mode, &module, &park_module, args.target_concurrency))
            .with_context(|| format!("writing the rules in {}", rules.display()))?;
        let data = dir.join("data");
        let (rules_arg, data_arg) = (rules.display().to_string(), data.display().to_string());
        let mut serve_args = vec![
            "serve",
            "--rules",
            &rules_arg,
            "--data-dir",
            &data_arg,
            "--listen",
            "127.0.0.1:0",
            "--max-in-flight",
            "4096",
            "--max-connections",
            "4096",
            "--max-pending",
            "1000000000",
            "--max-entries",
            &entries,
            "--durability",
            durability,
            "--reload-interval-ms",
            "0",
            "--log",
            "warn",
        ];
        if mode == Mode::Accept {
            // The parked deliveries are abandoned at the stop, not waited for.
            serve_args.extend(["--drain-seconds", "1"]);
        }
        let router = Server::start("router", &router_bin, &serve_args, &dir.join("router.log"))?;
        let label = match mode {
            Mode::Deliver => format!("router accept+deliver ({durability})"),
            Mode::Accept => format!("router accept-only ({durability})"),
            Mode::Match => "router match-only (no rule matches)".to_owned(),
        };
        let requests = Arc::new(http_requests(&bodies, router.addr));
        let mut half_rate: Option<f64> = None;
        for point in ["max", "50%"] {
            if let Some(rate) = half_rate
                && (rate.is_nan() || rate <= 0.0)
            {
                println!("{label:<38} 50%: not measured: nothing was accepted at the maximum");
                break;
            }
            let started = Instant::now();
            let figures = runtime.block_on(load.run(router.addr, requests.clone(), half_rate))?;
            let mut extra = String::new();
            if point == "max" {
                let _ = write!(extra, "  ({:.0}% of floor)", 100.0 * figures.req_per_s() / floor_max.req_per_s());
                half_rate = Some(figures.req_per_s() / 2.0);
            }
            if mode == Mode::Deliver {
                let drain = runtime.block_on(drain(router.addr))?;
                let sustained = figures.all_accepted as f64 / (started.elapsed().as_secs_f64());
                let _ = write!(extra, "  drain {:.2} s, sustained {} ev/s", drain.as_secs_f64(), thousands(sustained));
            }
            println!("{}", figures.line(&label, point, Some(&extra)));
            errors += figures.errors;
            if mode == Mode::Deliver && point == "max" {
                deliver_max = Some((figures.req_per_s(), figures.ev_per_s(), floor_max.req_per_s()));
            }
        }
        router.stop()?;
    }
    floor.stop()?;

    if let Some((requests, events, floor)) = deliver_max {
        let share = requests / floor;
        let met = events >= 100_000.0 && share >= 0.5;
        println!(
            "target: >= 100000 accepted events/s and >= 50% of the floor's request rate (accept+deliver, max): {} ({} ev/s, {:.0}% of floor)",
            if met { "met" } else { "NOT met" },
            thousands(events),
            share * 100.0
        );
    }
    if errors > 0 {
        eprintln!(
            "switchyard: {errors} requests were not answered 200 with FailedEntryCount 0; the figures count only those that were"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// The rules folder's one file for a mode.
fn rules_file(mode: Mode, module: &Path, park_module: &Path, concurrency: Option<usize>) -> String {
    let concurrency = concurrency.map(|n| format!("\n      limits:\n        concurrency: {n}")).unwrap_or_default();
    let (source, module, limits) = match mode {
        Mode::Deliver => ("bench.orders", module, concurrency.as_str()),
        Mode::Accept => {
            ("bench.orders", park_module, "\n      limits:\n        timeout_ms: 3600000\n        concurrency: 1")
        }
        Mode::Match => ("bench.nothing-matches", module, ""),
    };
    let module = serde_json::to_string(&module.display().to_string()).expect("a string serialises");
    format!(
        "# Written by `switchyard bench http`.\n- name: bench-orders\n  event_pattern:\n    source: [{source}]\n  targets:\n    - id: consumer\n      module: {module}{limits}\n"
    )
}

/// A PutEvents body: `entries` entries of source `bench.orders`, each Detail an order padded to
/// `entry_bytes` bytes of JSON text.
fn put_events_body(variant: usize, entries: usize, entry_bytes: usize) -> String {
    let entries: Vec<serde_json::Value> = (0..entries)
        .map(|entry| {
            let n = variant * 1000 + entry;
            let mut detail = format!(
                r#"{{"order_id":"ORD-{n:06}","customer":{{"id":"C-{:05}","tier":"gold"}},"items":[{{"sku":"SKU-{:04}","quantity":2,"price":19.99}},{{"sku":"SKU-{:04}","quantity":1,"price":5.25}}],"total":45.23,"currency":"EUR","note":""#,
                n % 9973,
                n % 811,
                (n + 7) % 811
            );
            let tail = r#""}"#;
            let pad = entry_bytes.saturating_sub(detail.len() + tail.len());
            detail.extend(std::iter::repeat_n('x', pad));
            detail.push_str(tail);
            serde_json::json!({ "Source": "bench.orders", "DetailType": "OrderPlaced", "Detail": detail })
        })
        .collect();
    serde_json::json!({ "Entries": entries }).to_string()
}

/// Each body as a whole HTTP/1.1 request to `addr`.
fn http_requests(bodies: &[String], addr: SocketAddr) -> Vec<Bytes> {
    bodies
        .iter()
        .map(|body| {
            let mut request = format!(
                "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(body.as_bytes());
            Bytes::from(request)
        })
        .collect()
}

/// One server process: the floor or a router. Killed when dropped unless stopped.
struct Server {
    name: &'static str,
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `bin args` and waits for its `switchyard: listening on http://ADDR` line.
    fn start(name: &'static str, bin: &Path, args: &[&str], log: &Path) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(bin);
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log_file);
        // Only the flags given here configure the server.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SWITCHYARD_") {
                command.env_remove(key);
            }
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, address) = std::sync::mpsc::channel();
        // Reads the server's stdout to its end, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("switchyard: listening on http://") {
                    let _ = found.send(addr.trim().to_owned());
                }
            }
        });
        let mut server =
            Server { name, child: Some(child), addr: SocketAddr::from(([127, 0, 0, 1], 0)), log: log.to_owned() };
        match address.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                server.addr = addr
                    .parse()
                    .with_context(|| format!("the {name} printed an address that is not ADDR:PORT: {addr}"))?;
                Ok(server)
            }
            Err(_) => {
                let status = server.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
                if let Some(child) = server.child.take() {
                    kill(child);
                }
                bail!(
                    "the {name} did not start ({}); its log:\n{}",
                    status.map_or_else(|| "no address printed".to_owned(), |s| s.to_string()),
                    log_tail(log)
                )
            }
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let signalled = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        if !signalled.is_ok_and(|status| status.success()) {
            kill(child);
            bail!("could not send SIGTERM to the {}", self.name);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    bail!("the {} exited with {status} after SIGTERM; its log:\n{}", self.name, log_tail(&self.log))
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    kill(child);
                    bail!("the {} did not stop within 60 s of SIGTERM", self.name);
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill(child);
        }
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of a server's log.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// How load is offered.
#[derive(Debug, Clone, Copy)]
struct Load {
    connections: usize,
    warmup: Duration,
    duration: Duration,
    entries: u64,
}

/// One point's figures.
#[derive(Debug)]
struct Figures {
    /// Accepted requests sent in the measured window.
    accepted: u64,
    /// Requests in the window answered otherwise, or lost with their connection.
    errors: u64,
    /// The measured window: its planned length, or until its last answer when that came later.
    seconds: f64,
    /// Latencies of the accepted requests, in µs, sorted.
    latencies_us: Vec<u32>,
    /// Events accepted in the whole point, warm-up included.
    all_accepted: u64,
    entries: u64,
}

impl Figures {
    fn req_per_s(&self) -> f64 {
        self.accepted as f64 / self.seconds
    }

    fn ev_per_s(&self) -> f64 {
        self.req_per_s() * self.entries as f64
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        match self.latencies_us.len() {
            0 => f64::NAN,
            n => f64::from(self.latencies_us[((n - 1) as f64 * p).round() as usize]) / 1e3,
        }
    }

    /// `floor (bare hyper)   max: 71234 req/s  712340 ev/s  p50 0.85 ms  p99 2.10 ms  max 5.01 ms`
    fn line(&self, label: &str, point: &str, extra: Option<&str>) -> String {
        let mut line = format!(
            "{label:<38} {point:>3}: {:>7} req/s {:>9} ev/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            thousands(self.req_per_s()),
            thousands(self.ev_per_s()),
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0)
        );
        line.push_str(extra.unwrap_or(""));
        if self.errors > 0 {
            let _ = write!(line, "  errors {}", self.errors);
        }
        line
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    accepted: u64,
    errors: u64,
    last_done: Option<Instant>,
    latencies_us: Vec<u32>,
    all_accepted: u64,
}

impl Load {
    /// Offers load to `addr` for the warm-up and the window: as fast as answers come (`rate` None)
    /// or at `rate` requests per second.
    async fn run(&self, addr: SocketAddr, requests: Arc<Vec<Bytes>>, rate: Option<f64>) -> anyhow::Result<Figures> {
        let start = Instant::now() + Duration::from_millis(20);
        let window = (start + self.warmup, start + self.warmup + self.duration);
        let mut tasks = tokio::task::JoinSet::new();
        for connection in 0..self.connections {
            let (requests, connections) = (requests.clone(), self.connections);
            tasks.spawn(
                async move { connection_loop(addr, &requests, connection, connections, start, window, rate).await },
            );
        }
        let mut figures = Figures {
            accepted: 0,
            errors: 0,
            seconds: self.duration.as_secs_f64(),
            latencies_us: Vec::new(),
            all_accepted: 0,
            entries: self.entries,
        };
        let mut last_done = window.1;
        while let Some(joined) = tasks.join_next().await {
            let tally = joined.context("a connection task")??;
            figures.accepted += tally.accepted;
            figures.errors += tally.errors;
            figures.all_accepted += tally.all_accepted * self.entries;
            figures.latencies_us.extend(tally.latencies_us);
            last_done = last_done.max(tally.last_done.unwrap_or(last_done));
        }
        figures.seconds = (last_done - window.0).as_secs_f64();
        figures.latencies_us.sort_unstable();
        Ok(figures)
    }
}

/// One connection's requests: closed loop, or connection `index` of `connections` sharing the
/// schedule of `rate` requests per second from `start`. Counts what was due in `window`.
async fn connection_loop(
    addr: SocketAddr,
    requests: &[Bytes],
    index: usize,
    connections: usize,
    start: Instant,
    window: (Instant, Instant),
    rate: Option<f64>,
) -> anyhow::Result<Tally> {
    let mut stream = connect(addr).await?;
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut tally = Tally::default();
    tokio::time::sleep_until(start.into()).await;
    // Open loop: when this connection would have been free with a perfect clock (see below).
    let mut virtual_free = start;
    for n in 0u64.. {
        // When the request is due (open loop), or now (closed loop); it is counted in the window
        // by that time.
        let due = match rate {
            None => Instant::now(),
            Some(rate) => {
                let due = start + Duration::from_secs_f64((index as f64 + (n * connections as u64) as f64) / rate);
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
                due
            }
        };
        if due >= window.1 {
            break;
        }
        let request = &requests[(index + n as usize) % requests.len()];
        let sent = Instant::now();
        let outcome = exchange(&mut stream, request, &mut buffer).await;
        let done = Instant::now();
        let service = done - sent;
        let latency = match rate {
            None => service,
            // tokio's timer wakes to the millisecond, so a connection may send late, or fall
            // behind its schedule, for reasons that are the generator's. The latency is what a
            // perfect clock would have seen with the same response times: the request waits from
            // its due time until the connection's previous request would have been answered,
            // then takes its own response time (Lindley's recursion). Queueing behind a slow
            // server counts; the timer's lateness does not.
            Some(_) => {
                let began = due.max(virtual_free);
                virtual_free = began + service;
                (began - due) + service
            }
        };
        let accepted = match &outcome {
            Ok((status, body)) => *status == 200 && accepted_body(&buffer[body.clone()]),
            Err(_) => false,
        };
        if accepted {
            tally.all_accepted += 1;
        }
        if due >= window.0 {
            if accepted {
                tally.accepted += 1;
                tally.latencies_us.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                tally.last_done = Some(done);
            } else {
                tally.errors += 1;
            }
        }
        if outcome.is_err() {
            stream = connect(addr).await?;
        }
    }
    Ok(tally)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes `request` and reads one response into `buffer`: its status and where its body is.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<(u16, std::ops::Range<usize>)> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    stream.write_all(request).await?;
    buffer.clear();
    let head_end = loop {
        if let Some(at) = memchr::memmem::find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| invalid("the response head is not UTF-8"))?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3)?.parse::<u16>().ok())
        .ok_or_else(|| invalid("the response has no HTTP/1.1 status line"))?;
    let length = head
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| invalid("the response has no content-length"))?;
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    if buffer.len() > head_end + length {
        return Err(invalid("the server sent more than one response"));
    }
    Ok((status, head_end..head_end + length))
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    buffer.reserve(16 * 1024);
    if stream.read_buf(buffer).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// A PutEvents answer with no failed entry.
fn accepted_body(body: &[u8]) -> bool {
    const KEY: &[u8] = br#""FailedEntryCount":0"#;
    memchr::memmem::find(body, KEY).is_some_and(|at| matches!(body.get(at + KEY.len()), Some(b',' | b'}' | b' ')))
}

/// Polls the router's `/metrics` until no delivery is pending; returns how long that took.
async fn drain(addr: SocketAddr) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut stream = connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let mut buffer = Vec::new();
    loop {
        let (status, body) =
            exchange(&mut stream, &request, &mut buffer).await.context("reading the router's /metrics")?;
        if status != 200 {
            bail!("the router's /metrics answered {status}");
        }
        let text = String::from_utf8_lossy(&buffer[body]);
        let pending = text
            .lines()
            .find_map(|line| line.strip_prefix("switchyard_pending_deliveries ")?.trim().parse::<u64>().ok())
            .context("the router's /metrics has no switchyard_pending_deliveries")?;
        if pending == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > DRAIN_TIMEOUT {
            bail!("{pending} deliveries still pending {} s after the load ended", DRAIN_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `switchyard bench http-floor`: a bare hyper 1 server on 127.0.0.1:0 that reads every request's
/// body and answers 200 with a fixed PutEvents answer. Prints its address like `serve`; stops on
/// SIGTERM or when its stdin closes (its parent is gone).
pub(super) fn floor(args: &FloorArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let entries: Vec<serde_json::Value> = (0..args.entries)
        .map(|n| serde_json::json!({ "EventId": format!("00000000-0000-4000-8000-{n:012}") }))
        .collect();
    let answer = Bytes::from(serde_json::json!({ "Entries": entries, "FailedEntryCount": 0 }).to_string());
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
        println!("switchyard: listening on http://{}", listener.local_addr()?);
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => accepted?,
                _ = term.recv() => return Ok(ExitCode::SUCCESS),
            };
            let _ = stream.set_nodelay(true);
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let _ = request.into_body().collect().await;
                        let mut response = http::Response::new(Full::new(answer));
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/x-amz-json-1.1"),
                        );
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    })
}

/// `1234567.8` as `1,234,568` (`-` when not a number); the store benchmark prints with it too.
pub(super) fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
