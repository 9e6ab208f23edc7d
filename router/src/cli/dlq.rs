//! `switchyard dlq`: list, show, redrive and purge dead letters in a data directory.
//!
//! The embedded store is opened directly, so the router must not be running on the same data
//! directory (the store's file is locked while it is open).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::delivery::embedded::EmbeddedStore;
use crate::delivery::letter_json;
use crate::delivery::store::{DeliveryStore, DlqFilter};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first (a table, or JSON Lines with --json).
    List(ListArgs),
    /// Show one dead letter with its event, input and error, as JSON.
    Show(ShowArgs),
    /// Put dead letters back into their target's queue, attempts reset. Idempotent: a redriven
    /// letter leaves the dead letters in the same step.
    Redrive(SelectArgs),
    /// Delete dead letters. Asks for confirmation on a terminal; elsewhere needs --yes.
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
pub struct Store {
    /// The router's data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: Store,
    #[command(flatten)]
    filter: FilterArgs,
    /// At most this many.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// JSON Lines, one dead letter per line, with every field.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this rule's dead letters.
    #[arg(long, value_name = "RULE")]
    rule: Option<String>,
    /// Only this target's.
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// Only those with this error code (TIMEOUT, TRAP, CONSUMER_PERMANENT, ...).
    #[arg(long, value_name = "CODE")]
    error_code: Option<String>,
    /// Dead-lettered at or after this time (RFC 3339, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Dead-lettered before this time (RFC 3339, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The dead letter's id.
    id: u64,
    #[command(flatten)]
    store: Store,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// One dead letter by id.
    #[arg(conflicts_with_all = ["rule", "all"], required_unless_present_any = ["rule", "all"])]
    id: Option<u64>,
    /// Every dead letter of this rule.
    #[arg(long, value_name = "RULE", conflicts_with = "all")]
    rule: Option<String>,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    store: Store,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

pub(super) fn run(command: DlqCommand) -> anyhow::Result<ExitCode> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    match command {
        DlqCommand::List(args) => {
            let store = open(&args.store)?;
            let mut filter = filter(&args.filter)?;
            filter.limit = args.limit;
            let letters = store.dlq_list(&filter)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if args.json {
                for letter in &letters {
                    writeln!(out, "{}", letter_json(letter))?;
                }
            } else {
                writeln!(
                    out,
                    "{:>8}  {:<24}  {:<24}  {:<20}  {:>8}  {:<24}  message",
                    "id", "rule", "target", "error", "attempts", "dead-lettered"
                )?;
                for l in &letters {
                    let message: String = l.error.message.lines().next().unwrap_or_default().chars().take(80).collect();
                    writeln!(
                        out,
                        "{:>8}  {:<24}  {:<24}  {:<20}  {:>8}  {:<24}  {message}",
                        l.id,
                        l.delivery.new.rule,
                        l.delivery.new.target,
                        l.error.code,
                        l.delivery.attempts,
                        time(l.dead_lettered_at_ms)
                    )?;
                }
                writeln!(out, "{} dead letter(s)", letters.len())?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show(args) => {
            let store = open(&args.store)?;
            match store.dlq_get(args.id)? {
                Some(letter) => {
                    println!("{}", serde_json::to_string_pretty(&letter_json(&letter))?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("switchyard: no dead letter {} in {}", args.id, args.store.data_dir.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        DlqCommand::Redrive(args) => {
            let store = open(&args.store)?;
            let moved = runtime.block_on(store.redrive(selection(&args), crate::clock::now_ms()))?;
            println!("redrove {moved} dead letter(s)");
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Purge(args) => {
            let store = open(&args.select.store)?;
            let filter = selection(&args.select);
            let count = store.dlq_list(&filter)?.len();
            if count == 0 {
                println!("purged 0 dead letter(s)");
                return Ok(ExitCode::SUCCESS);
            }
            if !args.yes {
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "purge deletes {count} dead letter(s) for good; pass --yes to confirm when not on a terminal"
                    );
                }
                eprint!("Delete {count} dead letter(s) for good? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("nothing purged");
                    return Ok(ExitCode::from(1));
                }
            }
            let purged = runtime.block_on(store.purge(filter))?;
            println!("purged {purged} dead letter(s)");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open(store: &Store) -> anyhow::Result<EmbeddedStore> {
    if !store.data_dir.is_dir() {
        bail!("{} is not a data directory", store.data_dir.display());
    }
    Ok(EmbeddedStore::open(&store.data_dir)?)
}

fn filter(args: &FilterArgs) -> anyhow::Result<DlqFilter> {
    Ok(DlqFilter {
        rule: args.rule.clone(),
        target: args.target.clone(),
        error_code: args.error_code.clone(),
        since_ms: args.since.as_deref().map(parse_time).transpose()?,
        until_ms: args.until.as_deref().map(parse_time).transpose()?,
        ..DlqFilter::default()
    })
}

fn selection(args: &SelectArgs) -> DlqFilter {
    DlqFilter { ids: args.id.map(|id| vec![id]), rule: args.rule.clone(), ..DlqFilter::default() }
}

/// A time given as ms since the epoch or as RFC 3339.
fn parse_time(text: &str) -> anyhow::Result<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    crate::clock::parse_rfc3339_ms(text)
        .with_context(|| format!("{text:?} is neither ms since the epoch nor an RFC 3339 time"))
}

fn time(ms: u64) -> String {
    crate::clock::rfc3339_ms(ms)
}
