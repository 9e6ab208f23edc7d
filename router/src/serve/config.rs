//! `switchyard serve` settings: flags, then environment variables, then the config file, then
//! defaults (the first that gives a value wins). One struct is all three: clap reads the flags and
//! their `SWITCHYARD_*` variables, serde reads the file (YAML or JSON, the same keys with `_`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Settings of `switchyard serve`. Every one may come from a flag, an environment variable or the
/// config file, in that order of precedence.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Folder of rules files (*.yaml, *.yml, *.json); reloaded when a file changes or on SIGHUP.
    #[arg(long, env = "SWITCHYARD_RULES", value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Folder of the embedded store (deliveries, retries, dead letters, key-value data).
    #[arg(long, env = "SWITCHYARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the producers' API [default: 127.0.0.1:8080; port 0 picks a free port].
    #[arg(long, env = "SWITCHYARD_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Address of the admin API (dead letters); off when absent.
    #[arg(long, env = "SWITCHYARD_ADMIN_LISTEN", value_name = "ADDR:PORT")]
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token the admin API requires.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Producers' bearer tokens, comma-separated; with none (and no credentials) the API is open.
    #[arg(long, env = "SWITCHYARD_TOKENS", value_name = "TOKEN,..", value_delimiter = ',', hide_env_values = true)]
    pub tokens: Option<Vec<String>>,
    /// SigV4 credentials (ACCESS_KEY_ID:SECRET), comma-separated; signed requests are verified.
    #[arg(
        long,
        env = "SWITCHYARD_CREDENTIALS",
        value_name = "ID:SECRET,..",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub credentials: Option<Vec<String>>,
    /// `sync` (default): acknowledge producers once deliveries are on disk. `none`: acknowledge
    /// before, for benchmarks only (a crash loses the last second of events).
    #[arg(long, env = "SWITCHYARD_DURABILITY", value_name = "sync|none")]
    pub durability: Option<Durability>,
    /// With durability sync, how long a commit waits for more requests to share its fdatasync when
    /// producers or deliveries are concurrent, in µs; a lone request never waits. 0 commits at once
    /// [default: 250].
    #[arg(long, env = "SWITCHYARD_COMMIT_DELAY_US", value_name = "US")]
    pub commit_delay_us: Option<u64>,
    /// Region in event envelopes and rule ARNs [default: local].
    #[arg(long, env = "SWITCHYARD_REGION")]
    pub region: Option<String>,
    /// Account in event envelopes and rule ARNs [default: 000000000000].
    #[arg(long, env = "SWITCHYARD_ACCOUNT")]
    pub account: Option<String>,
    /// Event buses that exist even with no rule on them, comma-separated (`default` always does).
    #[arg(long, env = "SWITCHYARD_BUSES", value_delimiter = ',')]
    pub buses: Option<Vec<String>>,
    /// Hops an emitted event may be from a producer's event before it is dead-lettered [default: 8].
    #[arg(long, env = "SWITCHYARD_HOP_LIMIT")]
    pub hop_limit: Option<u32>,
    /// Deliveries that run at once over all targets; also sizes the Wasm instance pool [default: 64].
    #[arg(long, env = "SWITCHYARD_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,
    /// Entries per PutEvents request and events per /events request [default: 10].
    #[arg(long, env = "SWITCHYARD_MAX_ENTRIES")]
    pub max_entries: Option<usize>,
    /// PutEvents' total entry size must be below this many bytes [default: 262144].
    #[arg(long, env = "SWITCHYARD_MAX_ENTRIES_BYTES")]
    pub max_entries_bytes: Option<usize>,
    /// Largest request body, in bytes [default: 1048576].
    #[arg(long, env = "SWITCHYARD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Ingest requests processed at once; beyond, 429 with Retry-After [default: 512].
    #[arg(long, env = "SWITCHYARD_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Deliveries that may wait; beyond, ingest answers 503 with Retry-After [default: 1000000].
    #[arg(long, env = "SWITCHYARD_MAX_PENDING")]
    pub max_pending: Option<u64>,
    /// Open connections; more wait in the listen backlog [default: 1024].
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// PEM certificate chain: serve the producers' API over TLS (with --tls-key).
    #[arg(long, env = "SWITCHYARD_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SWITCHYARD_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How often the rules folder is checked for changes, in ms; 0 turns polling off (SIGHUP still
    /// reloads) [default: 1000].
    #[arg(long, env = "SWITCHYARD_RELOAD_INTERVAL_MS", value_name = "MS")]
    pub reload_interval_ms: Option<u64>,
    /// On SIGTERM, how long deliveries in progress may take to finish, in seconds; the rest run
    /// after the next start [default: 30].
    #[arg(long, env = "SWITCHYARD_DRAIN_SECONDS", value_name = "S")]
    pub drain_seconds: Option<u64>,
    /// Where compiled consumer modules are cached [default: $XDG_CACHE_HOME/switchyard/modules].
    #[arg(long, env = "SWITCHYARD_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "SWITCHYARD_LOG_FORMAT", value_name = "text|json")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `switchyard=debug` [default: info].
    #[arg(long, env = "SWITCHYARD_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Sync,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

macro_rules! overlay {
    ($high:expr, $low:expr, $($field:ident),* $(,)?) => {
        Settings { $($field: $high.$field.or($low.$field)),* }
    };
}

impl Settings {
    /// `self` (flags and environment) over `file`.
    pub fn over(self, file: Settings) -> Settings {
        overlay!(
            self,
            file,
            rules,
            data_dir,
            listen,
            admin_listen,
            admin_token,
            tokens,
            credentials,
            durability,
            commit_delay_us,
            region,
            account,
            buses,
            hop_limit,
            max_concurrency,
            max_entries,
            max_entries_bytes,
            max_body_bytes,
            max_in_flight,
            max_pending,
            max_connections,
            tls_cert,
            tls_key,
            reload_interval_ms,
            drain_seconds,
            cache_dir,
            log_format,
            log,
        )
    }

    /// Reads a config file (YAML or JSON, by content). Relative paths in it are relative to the
    /// file's folder.
    pub fn read_file(path: &Path) -> anyhow::Result<Settings> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
        let options = serde_saphyr::options! { strict_booleans: true };
        let mut settings: Settings = serde_saphyr::from_str_with_options(&text, options)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for dir in [
            &mut settings.rules,
            &mut settings.data_dir,
            &mut settings.tls_cert,
            &mut settings.tls_key,
            &mut settings.cache_dir,
        ]
        .into_iter()
        .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        Ok(settings)
    }
}
