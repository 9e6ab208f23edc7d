//! `switchyard bench match` (the CityLots benchmark of the pattern engine), `switchyard bench
//! scale` (10 rules against 10,000) and `switchyard bench store` (durable appends to the embedded
//! delivery store beside the disk's fsync floor).
//!
//! For each category of the rules file, every rule is added to one matcher and every event is matched
//! on one thread; the count of events per rule must equal the file's expected counts. It prints, per
//! category, the events/s of `matches_trusted` and of `matches` (full validation), the median of
//! `--runs` passes, beside serde_json merely validating the same events (the floor) and, when built
//! with the `bench-peers` feature, the `quamina` crate. All of them take turns on the same slices of
//! events in the same run, so drift in the shared machine's speed hits all alike.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_pattern::{Matcher, Mode};

mod http;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Match the CityLots events against each category of rules, one core, and print events/s.
    ///
    /// Output, one line per category:
    ///   CATEGORY events_per_sec=<trusted> validated_events_per_sec=<validating> counts=OK
    ///   serde_json_validate_events_per_sec=<floor> validated_over_serde=<ratio>
    /// (or counts=MISMATCH rule:want=N,got=M ...), followed by quamina_events_per_sec=<n> and
    /// ratio=<ours/quamina> when the binary was built with `--features bench-peers`. The floor is
    /// serde_json merely validating the same events.
    Match {
        /// The rules file: {"CATEGORY": {"rules": {name: pattern}, "expected": {name: count}, "dataset": ...}}.
        #[arg(long)]
        rules: PathBuf,
        /// Events, one JSON object per line; `.gz` is decompressed. Categories whose `dataset` is
        /// `citylots` use `citylots-synth.jsonl.gz` from the same folder.
        #[arg(long)]
        events: PathBuf,
        /// Run only this category (repeatable).
        #[arg(long)]
        category: Vec<String>,
        /// Passes over the events per measurement; the median is printed.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Show that matching cost does not grow with the number of rules: the same events against 10
    /// and against 10,000 generated rules (exact, prefix, numeric, multi-field, equals-ignore-case,
    /// wildcard; few of them match any event), one thread.
    ///
    /// Output: `SCALE rules=<n> events_per_sec=<trusted> validated_events_per_sec=<v> matches=<m>`
    /// per size, then `SCALE slowdown=<events/s at 10 over events/s at 10,000>`.
    Scale {
        /// Events, one JSON object per line (CityLots2 shape); `.gz` is decompressed.
        #[arg(long)]
        events: PathBuf,
        /// Passes per measurement; the median is printed.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Rule-set sizes to compare (the slowdown is the first over the last).
        #[arg(long, value_delimiter = ',', default_values_t = [10usize, 10_000])]
        sizes: Vec<usize>,
    },
    /// Durable appends to the embedded delivery store: throughput with many appends in flight,
    /// accept-to-durable latency at half that rate, and the disk's floor (append + fdatasync of a
    /// plain file) with the same batch sizes, all in one directory on one disk.
    ///
    /// Output: a Markdown table, one figure per row, ready for docs/benchmarks.md.
    Store(StoreArgs),
    /// Load test of `switchyard serve` over HTTP on 127.0.0.1 (PutEvents of 10 entries of 1 KB,
    /// durability on): requests/s, events/s and p50/p99 latency at the maximum and at half of it,
    /// beside a bare hyper server answering the same requests with the same load generator.
    Http(http::HttpArgs),
    /// The floor of `bench http`: a bare hyper server answering every request 200.
    #[command(hide = true)]
    HttpFloor(http::FloorArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// Work in a new directory inside DIR, removed at the end (default: the system's temp dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Appends in the throughput run, one delivery each.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Size of each delivery's event.
    #[arg(long, default_value_t = 1024)]
    event_bytes: usize,
    /// Appends in flight in the throughput run (one tokio task each).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

#[derive(Deserialize)]
struct Category {
    rules: BTreeMap<String, Box<RawValue>>,
    expected: BTreeMap<String, u64>,
    dataset: String,
}

/// Every event of a file in one buffer, with line boundaries.
struct Events {
    bytes: Vec<u8>,
    lines: Vec<(usize, usize)>,
}

impl Events {
    fn load(path: &Path) -> anyhow::Result<Events> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut bytes = Vec::new();
        if path.extension().is_some_and(|ext| ext == "gz") {
            flate2::read::MultiGzDecoder::new(file).read_to_end(&mut bytes)
        } else {
            std::io::BufReader::new(file).read_to_end(&mut bytes)
        }
        .with_context(|| format!("reading {}", path.display()))?;
        let mut lines = Vec::new();
        let mut start = 0;
        for end in memchr_lines(&bytes) {
            if end > start {
                lines.push((start, end));
            }
            start = end + 1;
        }
        if start < bytes.len() {
            lines.push((start, bytes.len()));
        }
        Ok(Events { bytes, lines })
    }

    /// The events of some of `lines`.
    fn slice<'a>(&'a self, lines: &'a [(usize, usize)]) -> impl Iterator<Item = &'a [u8]> + 'a {
        lines.iter().map(|&(start, end)| &self.bytes[start..end])
    }
}

fn memchr_lines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.iter().enumerate().filter(|(_, byte)| **byte == b'\n').map(|(idx, _)| idx)
}

pub(crate) fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Match { rules, events, category, runs } => bench_match(&rules, &events, &category, runs),
        BenchCommand::Scale { events, runs, sizes } => bench_scale(&events, runs, &sizes),
        BenchCommand::Store(args) => store::bench_store(&args),
        BenchCommand::Http(args) => http::bench_http(&args),
        BenchCommand::HttpFloor(args) => http::floor(&args),
    }
}

/// The generated rule `idx` of the scaling benchmark: deterministic, spread over six shapes.
fn generated_rule(idx: usize) -> String {
    // A 64-bit mix of the index (splitmix64's finaliser) as the source of pseudo-random values.
    let mut x = (idx as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let letters = |n: usize| -> String { (0..n).map(|i| (b'A' + ((x >> (5 * i)) % 26) as u8) as char).collect() };
    match idx % 6 {
        0 => format!(r#"{{"properties": {{"MAPBLKLOT": ["{:07}"]}}}}"#, x % 10_000_000),
        1 => format!(r#"{{"properties": {{"STREET": [{{"prefix": "{}"}}]}}}}"#, letters(4)),
        2 => {
            let low = -122.52 + (x % 1_000_000) as f64 * 1e-7;
            format!(
                r#"{{"geometry": {{"firstCoordinates": {{"x": [{{"numeric": [">", {low}, "<", {}]}}]}}}}}}"#,
                low + 1e-6
            )
        }
        3 => format!(r#"{{"properties": {{"BLOCK_NUM": ["{:04}"], "ODD_EVEN": ["E"]}}}}"#, x % 10_000),
        4 => format!(r#"{{"properties": {{"STREET": [{{"equals-ignore-case": "{}"}}]}}}}"#, letters(6)),
        _ => format!(r#"{{"properties": {{"MAPBLKLOT": [{{"wildcard": "{:04}*{}"}}]}}}}"#, x % 10_000, (x >> 20) % 10),
    }
}

fn bench_scale(events: &Path, runs: usize, sizes: &[usize]) -> anyhow::Result<ExitCode> {
    let events = Events::load(events)?;
    let runs = runs.max(1);
    println!("# switchyard bench scale: one thread, median of {runs} pass(es), {} events", events.lines.len());
    if sizes.is_empty() {
        bail!("--sizes needs at least one size");
    }
    let mut snapshots = Vec::new();
    for &n_rules in sizes {
        let matcher: Matcher<usize> = Matcher::new();
        let mut invalid = None;
        matcher.update(|changes| {
            for idx in 0..n_rules {
                match switchyard_pattern::Pattern::parse(&generated_rule(idx), matcher.limits()) {
                    Ok(pattern) => changes.add_pattern(idx, pattern),
                    Err(error) => invalid = Some(format!("rule {idx}: {error}")),
                }
            }
        });
        if let Some(invalid) = invalid {
            bail!("generated an invalid rule: {invalid}");
        }
        snapshots.push(matcher.snapshot());
    }
    // Both sizes and both modes take turns on each slice of 1024 events, as in `bench match`.
    let n_setups = sizes.len() * 2;
    let mut rates = vec![Vec::new(); n_setups];
    let mut n_matches = vec![0u64; sizes.len()];
    for _ in 0..runs {
        let mut seconds = vec![0.0f64; n_setups];
        n_matches.iter_mut().for_each(|n| *n = 0);
        for (slice_idx, slice) in events.lines.chunks(1024).enumerate() {
            for turn in 0..n_setups {
                let setup = (slice_idx + turn) % n_setups;
                let (size_idx, mode) =
                    (setup / 2, if setup.is_multiple_of(2) { Mode::Trusted } else { Mode::Validate });
                let started = Instant::now();
                let mut found = 0u64;
                for event in events.slice(slice) {
                    snapshots[size_idx].for_each_match(event, mode, |_| found += 1)?;
                }
                seconds[setup] += started.elapsed().as_secs_f64();
                if mode == Mode::Trusted {
                    n_matches[size_idx] += found;
                }
            }
        }
        for (setup, seconds) in seconds.into_iter().enumerate() {
            rates[setup].push(events.lines.len() as f64 / seconds);
        }
    }
    let rates: Vec<f64> = rates.into_iter().map(median_of).collect();
    for (size_idx, n_rules) in sizes.iter().enumerate() {
        println!(
            "SCALE rules={n_rules} events_per_sec={:.0} validated_events_per_sec={:.0} matches={}",
            rates[2 * size_idx],
            rates[2 * size_idx + 1],
            n_matches[size_idx]
        );
    }
    println!("SCALE slowdown={:.2}", rates[0] / rates[2 * (sizes.len() - 1)]);
    Ok(ExitCode::SUCCESS)
}

fn bench_match(rules: &Path, events: &Path, category: &[String], runs: usize) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(rules).with_context(|| format!("reading {}", rules.display()))?;
    let categories: BTreeMap<String, Category> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", rules.display()))?;
    for name in category {
        if !categories.contains_key(name) {
            bail!("no category {name:?} in {}", rules.display());
        }
    }
    let runs = runs.max(1);
    let mut datasets: BTreeMap<String, Events> = BTreeMap::new();
    let primary_shape = if events.to_string_lossy().contains("citylots2") { "citylots2" } else { "citylots" };
    println!(
        "# switchyard bench match: one thread, median of {runs} pass(es) over every event; ours, the peer and \
         the serde_json floor take turns on slices of 1024 events"
    );
    let mut all_ok = true;
    for (name, spec) in &categories {
        if !category.is_empty() && !category.contains(name) {
            continue;
        }
        let path = if spec.dataset == primary_shape {
            events.to_path_buf()
        } else {
            events.with_file_name(format!("{}-synth.jsonl.gz", spec.dataset))
        };
        if !datasets.contains_key(&spec.dataset) {
            match Events::load(&path) {
                Ok(loaded) => {
                    datasets.insert(spec.dataset.clone(), loaded);
                }
                Err(error) => {
                    println!("{name} skipped: dataset {} not loaded: {error:#}", spec.dataset);
                    continue;
                }
            }
        }
        let dataset = &datasets[&spec.dataset];
        all_ok &= bench_category(name, spec, dataset, runs)?;
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The floor: serde_json merely validating the events (deserialising into `IgnoredAny`); returns
/// the seconds it took.
fn serde_json_floor<'a>(events: impl Iterator<Item = &'a [u8]>) -> f64 {
    let started = Instant::now();
    let mut n_valid = 0usize;
    for event in events {
        n_valid += usize::from(serde_json::from_slice::<serde::de::IgnoredAny>(event).is_ok());
    }
    std::hint::black_box(n_valid);
    started.elapsed().as_secs_f64()
}

fn bench_category(name: &str, spec: &Category, events: &Events, runs: usize) -> anyhow::Result<bool> {
    let rule_names: Vec<&String> = spec.rules.keys().collect();
    let matcher: Matcher<usize> = Matcher::new();
    let mut unsupported = None;
    matcher.update(|changes| {
        for (idx, (rule_name, pattern)) in spec.rules.iter().enumerate() {
            match switchyard_pattern::Pattern::parse(pattern.get(), matcher.limits()) {
                Ok(pattern) => changes.add_pattern(idx, pattern),
                Err(error) => {
                    unsupported.get_or_insert(format!("{rule_name}: {error}"));
                }
            }
        }
    });
    if let Some(reason) = unsupported {
        println!("{name} unsupported ({reason})");
        return Ok(true);
    }
    let snapshot = matcher.snapshot();
    // Each pass alternates ours (trusted, validating) and the peer over slices of 1024 events, so a
    // change in the shared machine's speed hits all three alike; a pass's figure is the number of
    // events over the time summed across its slices.
    let mut peer = peers::Peer::new(spec);
    let mut counts = vec![0u64; rule_names.len()];
    let mut validated_counts = counts.clone();
    let mut peer_counts = counts.clone();
    let (mut trusted, mut validated, mut peer_rates, mut floor_rates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        counts.iter_mut().for_each(|count| *count = 0);
        validated_counts.iter_mut().for_each(|count| *count = 0);
        peer_counts.iter_mut().for_each(|count| *count = 0);
        let (mut trusted_time, mut validated_time, mut peer_time, mut floor_time) = (0.0, 0.0, 0.0, 0.0);
        for (slice_idx, slice) in events.lines.chunks(1024).enumerate() {
            // Whoever reads a slice first pays for bringing it into the cache: take turns.
            for turn in 0..4 {
                match (slice_idx + turn) % 4 {
                    0 => {
                        let started = Instant::now();
                        for event in events.slice(slice) {
                            snapshot.for_each_match(event, Mode::Trusted, |&rule| counts[rule] += 1)?;
                        }
                        trusted_time += started.elapsed().as_secs_f64();
                    }
                    1 => {
                        if let Ok(peer) = &mut peer {
                            peer_time += peer.pass(events.slice(slice), &mut peer_counts);
                        }
                    }
                    2 => floor_time += serde_json_floor(events.slice(slice)),
                    _ => {
                        let started = Instant::now();
                        for event in events.slice(slice) {
                            snapshot.for_each_match(event, Mode::Validate, |&rule| validated_counts[rule] += 1)?;
                        }
                        validated_time += started.elapsed().as_secs_f64();
                    }
                }
            }
        }
        let n_events = events.lines.len() as f64;
        trusted.push(n_events / trusted_time);
        validated.push(n_events / validated_time);
        peer_rates.push(n_events / peer_time);
        floor_rates.push(n_events / floor_time);
    }
    let verdict = counts_verdict(&rule_names, &spec.expected, &counts, &validated_counts);
    let ok = verdict == "OK";
    let trusted = median_of(trusted);
    let validated = median_of(validated);
    let floor = median_of(floor_rates);
    let mut line = format!(
        "{name} events_per_sec={trusted:.0} validated_events_per_sec={validated:.0} counts={verdict} \
         serde_json_validate_events_per_sec={floor:.0} validated_over_serde={:.2}",
        validated / floor
    );
    match peer {
        Ok(_) => {
            let rate = median_of(peer_rates);
            let peer_verdict = counts_verdict(&rule_names, &spec.expected, &peer_counts, &peer_counts);
            line.push_str(&format!(
                " quamina_events_per_sec={rate:.0} quamina_counts={} ratio={:.2}",
                peer_verdict.replace(' ', ","),
                trusted / rate
            ));
        }
        Err(Some(reason)) => line.push_str(&format!(" quamina=unsupported({reason})")),
        Err(None) => {}
    }
    println!("{line}");
    Ok(ok)
}

fn counts_verdict(names: &[&String], expected: &BTreeMap<String, u64>, trusted: &[u64], validated: &[u64]) -> String {
    let mut mismatches = Vec::new();
    for (idx, name) in names.iter().enumerate() {
        let want = expected.get(*name).copied().unwrap_or(0);
        if trusted[idx] != want || validated[idx] != want {
            mismatches.push(format!("{name}:want={want},got={}", trusted[idx].max(validated[idx])));
        }
    }
    if mismatches.is_empty() { "OK".to_string() } else { format!("MISMATCH {}", mismatches.join(" ")) }
}

#[cfg(feature = "bench-peers")]
mod peers {
    //! The published `quamina` crate, measured on the same events in the same process.
    use super::Category;
    use std::time::Instant;

    pub(super) struct Peer(quamina::Quamina<usize>);

    impl Peer {
        /// The peer with the category's rules, or why it cannot run them.
        pub(super) fn new(spec: &Category) -> Result<Peer, Option<String>> {
            let mut quamina = quamina::Quamina::<usize>::new();
            for (idx, (name, pattern)) in spec.rules.iter().enumerate() {
                quamina.add_pattern(idx, pattern.get()).map_err(|error| Some(format!("{name}: {error}")))?;
            }
            Ok(Peer(quamina))
        }

        /// Matches some events, adding to `counts`; returns the seconds it took.
        pub(super) fn pass<'a>(&mut self, events: impl Iterator<Item = &'a [u8]>, counts: &mut [u64]) -> f64 {
            let started = Instant::now();
            for event in events {
                if let Ok(found) = self.0.matches_for_event(event) {
                    for rule in found {
                        counts[rule] += 1;
                    }
                }
            }
            started.elapsed().as_secs_f64()
        }
    }
}

#[cfg(not(feature = "bench-peers"))]
mod peers {
    //! Without the `bench-peers` feature there is no peer to measure.
    use super::Category;

    pub(super) struct Peer;

    impl Peer {
        pub(super) fn new(_spec: &Category) -> Result<Peer, Option<String>> {
            Err(None)
        }

        pub(super) fn pass<'a>(&mut self, _events: impl Iterator<Item = &'a [u8]>, _counts: &mut [u64]) -> f64 {
            0.0
        }
    }
}

fn median_of(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

mod store {
    //! `switchyard bench store`: the embedded delivery store's durable appends beside the disk.

    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use anyhow::{Context, bail};

    use super::StoreArgs;
    use super::http::thousands;
    use crate::delivery::embedded::EmbeddedStore;
    use crate::delivery::store::{DeliveryStore, NewDelivery};

    /// How long the paced run offers load.
    const PACED_SECONDS: f64 = 3.0;
    /// How long each floor measurement writes.
    const FLOOR_SECONDS: f64 = 2.0;

    /// The work directory, removed when dropped.
    struct WorkDir(PathBuf);

    impl Drop for WorkDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A delivery whose event (JSON when there is room for it) is `bytes` long.
    fn delivery(event_id: usize, bytes: usize) -> NewDelivery {
        let (head, tail) = (r#"{"source":"bench","detail-type":"bench","detail":{"pad":""#, r#""}}"#);
        let event = if bytes >= head.len() + tail.len() {
            format!("{head}{}{tail}", "x".repeat(bytes - head.len() - tail.len())).into_bytes()
        } else {
            vec![b'x'; bytes]
        };
        NewDelivery {
            event_id: event_id.to_string(),
            source: "bench".into(),
            detail_type: "bench".into(),
            event,
            rule: "bench-rule".into(),
            target: "bench-target".into(),
            ingested_at_ms: crate::clock::now_ms(),
            hop: 0,
            causation: None,
        }
    }

    pub(super) fn bench_store(args: &StoreArgs) -> anyhow::Result<ExitCode> {
        if args.events == 0 || args.concurrency == 0 {
            bail!("--events and --concurrency must be at least 1");
        }
        let parent = args.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        let work = WorkDir(parent.join(format!("switchyard-bench-store-{}", std::process::id())));
        let store = Arc::new(EmbeddedStore::open(&work.0.join("store"))?);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
        println!(
            "# switchyard bench store: {} appends of one {}-byte event, {} in flight, in {}",
            args.events,
            args.event_bytes,
            args.concurrency,
            work.0.display()
        );

        // 1. Throughput: `concurrency` tasks, each awaiting its append before the next.
        let template = Arc::new(delivery(0, args.event_bytes));
        let commits_before = store.commits();
        let started = Instant::now();
        runtime.block_on(async {
            let next = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..args.concurrency)
                .map(|_| {
                    let (store, next, template, events) = (store.clone(), next.clone(), template.clone(), args.events);
                    tokio::spawn(async move {
                        while next.fetch_add(1, Ordering::Relaxed) < events {
                            store.append(vec![NewDelivery::clone(&template)]).await?;
                        }
                        anyhow::Ok(())
                    })
                })
                .collect();
            for task in tasks {
                task.await.context("an append task")??;
            }
            anyhow::Ok(())
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let commits = store.commits() - commits_before;
        let rate = args.events as f64 / seconds;
        let mean_batch = args.events as f64 / commits.max(1) as f64;

        // 2. Latency, open loop at half that rate: appends are issued on schedule whether or not
        // earlier ones have finished; each is timed from its issue to its durable answer.
        let paced_rate = rate / 2.0;
        let paced_count = ((paced_rate * PACED_SECONDS) as usize).max(100);
        let commits_before = store.commits();
        let started = Instant::now();
        let mut latencies = runtime.block_on(async {
            let interval = Duration::from_secs_f64(1.0 / paced_rate);
            let mut tasks = Vec::with_capacity(paced_count);
            for n in 0..paced_count {
                let at = started + interval.mul_f64(n as f64);
                if at > Instant::now() {
                    tokio::time::sleep_until(at.into()).await;
                }
                let (store, delivery) = (store.clone(), NewDelivery::clone(&template));
                let issued = Instant::now();
                tasks.push(tokio::spawn(async move { store.append(vec![delivery]).await.map(|_| issued.elapsed()) }));
            }
            let mut latencies = Vec::with_capacity(paced_count);
            for task in tasks {
                latencies.push(task.await.context("an append task")??);
            }
            anyhow::Ok(latencies)
        })?;
        let paced_seconds = started.elapsed().as_secs_f64();
        let paced_commits = store.commits() - commits_before;
        latencies.sort_unstable();
        let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
        let (p50, p99, max) = (percentile(0.5), percentile(0.99), percentile(1.0));

        let expected = (args.events + paced_count) as u64;
        store.close();
        drop(store);

        // What a restart costs with that backlog: the open verifies every page and loads the queue.
        let started = Instant::now();
        let store = EmbeddedStore::open(&work.0.join("store"))?;
        let reopen_ms = started.elapsed().as_secs_f64() * 1e3;
        let recorded = store.stats()?.pending;
        let file_bytes = super::disk_bytes(&work.0.join("store"));
        drop(store);

        // 3. The floor: append + fdatasync of a plain file in the same place, with the batches the
        // store formed, then with one event per write.
        let batch = (mean_batch.round() as usize).max(1);
        let floor_path = work.0.join("floor.dat");
        let floor_writes = fsync_floor(&floor_path, batch * args.event_bytes)?;
        let single_writes = fsync_floor(&floor_path, args.event_bytes)?;

        let kb = |bytes: usize| format!("{:.0} KB", bytes as f64 / 1024.0);
        let rows: [(String, String); 15] = [
            ("durable appends, events/s".into(), thousands(rate)),
            ("commits".into(), thousands(commits as f64)),
            ("mean batch, events per commit".into(), format!("{mean_batch:.1}")),
            ("half-rate run, events/s offered".into(), thousands(paced_count as f64 / paced_seconds)),
            ("half-rate run, mean batch".into(), format!("{:.1}", paced_count as f64 / paced_commits.max(1) as f64)),
            ("accept-to-durable p50, ms".into(), format!("{p50:.2}")),
            ("accept-to-durable p99, ms".into(), format!("{p99:.2}")),
            ("accept-to-durable max, ms".into(), format!("{max:.2}")),
            (
                format!("floor: append + fdatasync of {}, writes/s", kb(batch * args.event_bytes)),
                thousands(floor_writes),
            ),
            ("floor: events/s in those writes".into(), thousands(floor_writes * batch as f64)),
            ("store / floor, events/s".into(), format!("{:.2}", rate / (floor_writes * batch as f64))),
            (format!("floor: append + fdatasync of {}, writes/s", kb(args.event_bytes)), thousands(single_writes)),
            (
                "deliveries found after reopening".into(),
                format!("{} of {}", thousands(recorded as f64), thousands(expected as f64)),
            ),
            ("data directory size (log and database), MB".into(), format!("{:.0}", file_bytes as f64 / 1e6)),
            ("reopen (verify + load), ms".into(), format!("{reopen_ms:.0}")),
        ];
        println!("| figure | value |");
        println!("|---|---:|");
        for (figure, value) in rows {
            println!("| {figure} | {value} |");
        }
        Ok(if recorded == expected { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }

    /// Appends `bytes` to a fresh file and fdatasyncs it, over and over for `FLOOR_SECONDS`;
    /// returns the writes per second.
    fn fsync_floor(path: &Path, bytes: usize) -> anyhow::Result<f64> {
        let mut file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let buffer = vec![b'x'; bytes];
        let started = Instant::now();
        let mut writes = 0u64;
        while started.elapsed().as_secs_f64() < FLOOR_SECONDS {
            file.write_all(&buffer).with_context(|| format!("writing {}", path.display()))?;
            file.sync_data().with_context(|| format!("syncing {}", path.display()))?;
            writes += 1;
        }
        let rate = writes as f64 / started.elapsed().as_secs_f64();
        drop(file);
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        Ok(rate)
    }
}

/// The bytes of the files under `dir`, recursively.
fn disk_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => disk_bytes(&entry.path()),
            _ => entry.metadata().map_or(0, |metadata| metadata.len()),
        })
        .sum()
}
