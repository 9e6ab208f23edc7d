//! `switchyard serve`: the router as a process. Opens the store, loads the rules, starts the
//! delivery loop, the producers' API, the admin API, the rules reloader and the dead-letter
//! retention sweeper, and on SIGTERM or SIGINT stops them in order: stop accepting, let requests
//! and deliveries in progress finish (at most the drain time), close the store, exit 0.

pub mod config;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::watch;

pub use self::config::Settings;
use self::config::{Durability, LogFormat};
use crate::delivery::embedded::EmbeddedStore;
use crate::delivery::store::DeliveryStore;
use crate::ingest::putevents::PutLimits;
use crate::ingest::server::{Ingest, IngestConfig, Readiness};
use crate::ingest::sigv4::Credential;
use crate::invoke::{AllocationMode, Host, HostConfig, KvStore};
use crate::pipeline::{Pipeline, PipelineConfig, Routes};

/// Everything `serve` needs, resolved from the settings.
struct Plan {
    rules: PathBuf,
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
    pipeline: PipelineConfig,
    ingest: IngestConfig,
    host: HostConfig,
    settings: Settings,
}

fn plan(settings: Settings) -> anyhow::Result<Plan> {
    let rules = settings.rules.clone().context(
        "the rules folder is not set: pass --rules DIR (or SWITCHYARD_RULES, or `rules:` in the config file)",
    )?;
    let data_dir = settings.data_dir.clone().context(
        "the data folder is not set: pass --data-dir DIR (or SWITCHYARD_DATA_DIR, or `data_dir:` in the config file)",
    )?;
    let credentials = settings
        .credentials
        .iter()
        .flatten()
        .map(|pair| match pair.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                Ok(Credential { access_key_id: id.trim().to_owned(), secret_access_key: secret.trim().to_owned() })
            }
            _ => anyhow::bail!(
                "a credential must be ACCESS_KEY_ID:SECRET (got one without a colon or with an empty part)"
            ),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let max_concurrency = settings.max_concurrency.unwrap_or(64).clamp(1, 10_000);
    let defaults = IngestConfig::default();
    let ingest = IngestConfig {
        limits: PutLimits {
            max_entries: settings.max_entries.unwrap_or(PutLimits::default().max_entries).max(1),
            max_entries_bytes: settings.max_entries_bytes.unwrap_or(PutLimits::default().max_entries_bytes),
        },
        max_body_bytes: settings.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        tokens: settings.tokens.clone().unwrap_or_default().into_iter().filter(|t| !t.is_empty()).collect(),
        credentials,
        max_in_flight: settings.max_in_flight.unwrap_or(defaults.max_in_flight),
        max_pending: settings.max_pending.unwrap_or(defaults.max_pending),
        retry_after_s: defaults.retry_after_s,
    };
    let pipeline = PipelineConfig {
        region: settings.region.clone().unwrap_or_else(|| PipelineConfig::default().region),
        account: settings.account.clone().unwrap_or_else(|| PipelineConfig::default().account),
        buses: settings.buses.clone().unwrap_or_default(),
        hop_limit: settings.hop_limit.unwrap_or(PipelineConfig::default().hop_limit),
        max_concurrency,
    };
    let host = HostConfig {
        max_concurrency: max_concurrency as u32,
        cache_dir: settings.cache_dir.clone().or_else(crate::invoke::default_cache_dir),
        allocation: AllocationMode::Auto,
        ..HostConfig::default()
    };
    let listen = settings.listen.unwrap_or_else(|| "127.0.0.1:8080".parse().expect("a valid default address"));
    Ok(Plan { rules, data_dir, listen, pipeline, ingest, host, settings })
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(settings.log.as_deref().unwrap_or("info"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        // A log line that cannot be written (stderr on a full disk, a closed pipe) is dropped; the
        // default reports it with `eprintln!`, which panics the thread that logged when stderr is
        // what fails.
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format.unwrap_or(LogFormat::Text) {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs the router until SIGTERM or SIGINT. Exit code 0 after a clean stop, 1 when the rules do
/// not load at start (every problem is printed), 2 for other start-up failures.
pub fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    init_logging(&settings);
    let plan = plan(settings)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(serve(plan))
}

async fn serve(plan: Plan) -> anyhow::Result<ExitCode> {
    let settings = &plan.settings;
    let store = Arc::new(
        EmbeddedStore::open(&plan.data_dir)
            .with_context(|| format!("cannot open the store in {}", plan.data_dir.display()))?,
    );
    if let Some(micros) = settings.commit_delay_us {
        store.set_commit_delay(std::time::Duration::from_micros(micros));
    }
    if settings.durability == Some(Durability::None) {
        store.set_sync(false);
        tracing::warn!(
            "durability = none: producers are answered before their deliveries are on disk; a crash loses up to a second of accepted events. Use it for benchmarks only."
        );
    }
    let host = Host::new(plan.host.clone()).map_err(anyhow::Error::msg)?;
    let kv: Arc<dyn KvStore> = store.clone();
    let readiness = Arc::new(Readiness::default());
    let routes = match load_rules(&plan.rules, &host, &kv, &plan.pipeline).await {
        Ok(routes) => routes,
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!("switchyard: the rules in {} do not load: {} problems", plan.rules.display(), problems.len());
            store.close();
            return Ok(ExitCode::from(1));
        }
    };
    readiness.rules.store(routes.rule_names().count() as u64, Ordering::Relaxed);
    readiness.rules_loaded.store(true, Ordering::Release);
    let pipeline = Pipeline::new(store.clone(), routes, plan.pipeline.clone());
    let ingest = Ingest::new(pipeline.clone(), plan.ingest.clone(), readiness.clone());
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(crate::http::tls_acceptor(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(plan.listen)
        .await
        .with_context(|| format!("cannot listen on {}", plan.listen))?;
    let admin = match settings.admin_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (admin)"))?,
        ),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let drain = Duration::from_secs(settings.drain_seconds.unwrap_or(30));
    let delivering = tokio::spawn(pipeline.clone().run(stopped.clone(), drain));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let address = listener.local_addr()?;
    let handler = {
        let ingest = ingest.clone();
        move |request| ingest.clone().handle(request)
    };
    let max_connections = settings.max_connections.unwrap_or(1024);
    let serving = tokio::spawn(crate::http::serve(listener, tls, max_connections, stopped.clone(), drain, handler));
    let admin_serving = match admin {
        Some(listener) => {
            let address = listener.local_addr()?;
            if settings.admin_token.is_none() {
                tracing::warn!(%address, "the admin API has no token: anyone who can reach it can redrive and purge dead letters");
            }
            println!("switchyard: admin API on http://{address}");
            Some(tokio::spawn(crate::admin::serve(
                listener,
                store.clone(),
                settings.admin_token.clone(),
                stopped.clone(),
            )))
        }
        None => None,
    };
    let reloading = tokio::spawn(reload_loop(
        plan.rules.clone(),
        host.clone(),
        kv.clone(),
        plan.pipeline.clone(),
        pipeline.clone(),
        readiness.clone(),
        settings.reload_interval_ms.unwrap_or(1000),
        stopped.clone(),
    ));
    let sweeping = tokio::spawn(sweep_loop(pipeline.clone(), stopped.clone()));
    println!("switchyard: listening on {scheme}://{address}");
    let _ = std::io::stdout().flush();
    tracing::info!(%address, rules = readiness.rules.load(Ordering::Relaxed), "serving");

    let signal = wait_for_stop().await;
    tracing::info!("{signal}: no new requests; finishing what is in progress (at most {} s)", drain.as_secs());
    let _ = stop.send(true);
    let _ = serving.await;
    if let Some(admin) = admin_serving {
        let _ = admin.await;
    }
    let _ = delivering.await;
    let _ = reloading.await;
    let _ = sweeping.await;
    let pending = store.pending();
    store.close();
    tracing::info!(pending, "stopped; deliveries still pending run after the next start");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT (Ctrl-C), by name.
async fn wait_for_stop() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the process can only be killed.
        std::future::pending::<()>().await;
        return "stop";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Loads the rules aside (module compilation runs on a blocking thread).
async fn load_rules(
    dir: &Path,
    host: &Host,
    kv: &Arc<dyn KvStore>,
    config: &PipelineConfig,
) -> Result<Routes, Vec<crate::rules::Problem>> {
    let (dir, host, kv, config) = (dir.to_owned(), host.clone(), kv.clone(), config.clone());
    tokio::task::spawn_blocking(move || crate::rules::load(&dir, &host, Some(kv), &config)).await.unwrap_or_else(
        |join| {
            Err(vec![crate::rules::Problem {
                file: PathBuf::new(),
                line: 0,
                column: 0,
                rule: None,
                message: format!("loading the rules failed: {join}"),
            }])
        },
    )
}

/// What the rules folder looks like: each rules file's name, size and modification time.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            // The files the rules loader reads: hidden ones (an editor's or a writer's temporary
            // file) are not rules.
            if path.file_name()?.to_str()?.starts_with('.') {
                return None;
            }
            let ext = path.extension()?.to_str()?;
            if !matches!(ext, "yaml" | "yml" | "json") {
                return None;
            }
            let meta = entry.metadata().ok()?;
            Some((path, meta.len(), meta.modified().ok()))
        })
        .collect();
    files.sort();
    files
}

/// Reloads the rules when a file changes (polling every `interval_ms`) or on SIGHUP. A rule set
/// that does not load leaves the one in force serving and says why (log, metric, `/readyz`).
#[allow(clippy::too_many_arguments)]
async fn reload_loop(
    dir: PathBuf,
    host: Host,
    kv: Arc<dyn KvStore>,
    config: PipelineConfig,
    pipeline: Arc<Pipeline>,
    readiness: Arc<Readiness>,
    interval_ms: u64,
    mut stopped: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut seen = fingerprint(&dir);
    let poll = Duration::from_millis(if interval_ms == 0 { 3_600_000 } else { interval_ms });
    loop {
        let why = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(poll) => {
                if interval_ms == 0 { continue; }
                let now = fingerprint(&dir);
                if now == seen { continue; }
                seen = now;
                "a rules file changed"
            }
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                seen = fingerprint(&dir);
                "SIGHUP"
            }
        };
        match load_rules(&dir, &host, &kv, &config).await {
            Ok(routes) => {
                let count = routes.rule_names().count();
                pipeline.replace_routes(routes);
                readiness.rules.store(count as u64, Ordering::Relaxed);
                readiness.reloads_ok.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut error) = readiness.last_reload_error.lock() {
                    *error = None;
                }
                tracing::info!(rules = count, "{why}: the rules were reloaded");
            }
            Err(problems) => {
                readiness.reloads_failed.fetch_add(1, Ordering::Relaxed);
                let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
                for problem in &text {
                    tracing::error!("{problem}");
                }
                tracing::error!(
                    problems = text.len(),
                    "{why}: the new rules do not load; the rules loaded before keep serving"
                );
                if let Ok(mut error) = readiness.last_reload_error.lock() {
                    *error = Some(text.join("\n"));
                }
            }
        }
    }
}

/// Purges dead letters past their target's retention, every minute.
async fn sweep_loop(pipeline: Arc<Pipeline>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        match pipeline.sweep_dead_letters().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "dead letters past their retention were purged"),
            Err(error) => tracing::warn!("the dead-letter retention sweep failed: {error}"),
        }
    }
}
