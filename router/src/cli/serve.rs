//! `switchyard serve`: the router.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::serve::Settings;

pub(super) const LONG_ABOUT: &str = r#"Runs the router: the producers' API (EventBridge PutEvents and TestEventPattern over AWS JSON
1.1, CloudEvents and plain JSON on /events, /healthz, /readyz, /metrics), the delivery loop on
the embedded store, the admin API for dead letters, and hot reload of the rules folder.

Prints `switchyard: listening on http://ADDR:PORT` on stdout once it accepts requests. SIGTERM
or Ctrl-C stops it cleanly: no new requests, deliveries in progress finish (or run after the
next start), exit 0. SIGHUP reloads the rules. Exit code 1 when the rules do not load at start
(every problem is printed), 2 for other start-up failures.

Every setting comes from, in this order of precedence: its flag, its environment variable
(shown below), the config file (--config; YAML or JSON with the flag names as keys, `-`
written `_`, e.g. `max_in_flight: 256`), the default.

Example: switchyard serve --rules rules/ --data-dir data/ --listen 127.0.0.1:8080 --admin-listen 127.0.0.1:8081"#;

// The arguments of `switchyard serve`; its help text is LONG_ABOUT.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (YAML or JSON); flags and environment variables override what it says.
    #[arg(long, env = "SWITCHYARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

pub(super) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = match &args.config {
        Some(path) => args.settings.over(Settings::read_file(path)?),
        None => args.settings,
    };
    crate::serve::run(settings)
}
