//! `switchyard check`: every problem of a rules folder, one per line, and a summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::invoke::{AllocationMode, Host, HostConfig, KvStore, MemoryKv};
use crate::rules;

/// The long help of `switchyard check` (`--help`).
pub(super) const LONG_ABOUT: &str = r#"Checks a folder of rules files as the router would load them, and runs their examples.

Every *.yaml, *.yml and *.json file of DIR (not recursive, hidden files skipped) is a list of
rules. A rule has a name, an optional description, bus and state, an event_pattern and 1 to 5
targets; a target names its consumer module (a .wasm component; a relative path is relative
to the rules file) with an optional sha256 pin, its input (input, input_path or
input_transformer), retry_policy, dead_letter, limits, capabilities and config. ${NAME} in
module and in config values is replaced by the environment variable NAME. A rule may embed
example events with whether it must match them:

  - name: order-confirmation
    event_pattern: {source: [shop.orders], detail-type: [OrderPlaced]}
    targets:
      - id: notify
        module: ${SWITCHYARD_WASM}/order_notification.wasm
    examples:
      - event: {source: shop.orders, detail-type: OrderPlaced, detail: {}}
        matches: true

The check reads every file (syntax, unknown fields, names, patterns, transforms, policies),
loads and type-checks every module against the consumer world, and runs every example. Each
problem is printed on stdout as `file:line:column: rule NAME: message` (with --json, one JSON
object per line: file, line, column, rule, message); a summary goes to stderr.

Exit codes: 0 when there is no problem, 1 when there is any, 2 when DIR cannot be read.

The format is described in full in rules/README.md, section "Rules files"."#;

/// Checks a folder of rules files as the router would load them, and runs their examples.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The folder of rules files.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Print each problem as one JSON object per line.
    #[arg(long)]
    json: bool,
    /// Where compiled modules are cached (default: $XDG_CACHE_HOME/switchyard/modules).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile modules in memory; neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,
}

pub(super) fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let scan = rules::scan_dir(&args.dir, &env)
        .with_context(|| format!("cannot read the rules folder {}", args.dir.display()))?;
    let mut problems = scan.problems;
    // The rules with problems are built too, for the problems of their modules.
    let all: Vec<rules::RuleSource> = scan.sources.iter().chain(&scan.partial).cloned().collect();
    if !all.is_empty() {
        let fuel = all.iter().flat_map(|s| &s.targets).any(|t| t.limits.fuel.is_some());
        let cache_dir =
            if args.no_cache { None } else { args.cache_dir.clone().or_else(crate::invoke::default_cache_dir) };
        let host = Host::new(HostConfig {
            max_concurrency: 1,
            allocation: AllocationMode::OnDemand,
            fuel,
            cache_dir,
            ..HostConfig::default()
        })
        .map_err(anyhow::Error::msg)?;
        // A store that lives for the check: kv grants are checked, nothing is kept.
        let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
        if let Err(mut more) = rules::build(&all, &host, Some(kv)) {
            problems.append(&mut more);
        }
        problems.extend(rules::check_examples(&scan.sources));
    }
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));

    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for problem in &problems {
        if args.json {
            serde_json::to_writer(&mut stdout, problem)?;
            stdout.write_all(b"\n")?;
        } else {
            writeln!(stdout, "{problem}")?;
        }
    }
    stdout.flush()?;
    let plural = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    eprintln!(
        "checked {}, {}, {}, {}: {}",
        plural(scan.files.len(), "file"),
        plural(scan.rules, "rule"),
        plural(scan.targets, "target"),
        plural(scan.examples, "example"),
        plural(problems.len(), "problem"),
    );
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
