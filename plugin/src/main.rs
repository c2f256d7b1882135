//! `vlcp`: the daemon binary. Parses the command line ([`cli`]), loads and validates the config
//! (`vlcp::config`), sets up logging, and runs a [`Daemon`] until SIGTERM or SIGINT.
//!
//! Wiring a room into the daemon: add one `tasks.spawn(...)` line in [`Daemon::run`] (guarded by
//! `self.modules.contains(&"<module name>")` when the module is optional) that runs the room's
//! `async fn run(config: Arc<Config>, stop: watch::Receiver<bool>) -> Result<(), E>`. A room
//! returns when `stop` turns true (`stop.changed().await` or `stop.wait_for(|s| *s)`); a room
//! returning early — with an error or not — stops the daemon with status 1. Ports and sockets are
//! bound before their task is spawned so a bad address fails startup, not a task.

mod allocator;
mod cli;
mod rooms;

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing_subscriber::EnvFilter;
use vlcp::config::{Config, DEFAULT_PATH, LogFormat, Value};

use cli::{Command, ConfigSource, Options};

/// Exit status for usage and config errors (the original `vlcp-start` also exits 2 on bad usage).
const EXIT_CONFIG: u8 = 2;
/// Exit status for a failure while running.
const EXIT_RUNTIME: u8 = 1;
/// How long rooms get to finish after the stop signal.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("vlcp {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vlcp: {e}\nTry 'vlcp --help'.");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(config) = load_config(&opts) else { return ExitCode::from(EXIT_CONFIG) };
    if opts.check_config {
        let modules = config.startup_modules().unwrap_or_default();
        let name = config.source().map_or("(no config file)".into(), |p| p.display().to_string());
        println!("{name}: OK ({} keys; modules: {})", config.entries().count(), modules.join(", "));
        return ExitCode::SUCCESS;
    }
    if let Err(e) = init_logging(&opts, &config) {
        eprintln!("vlcp: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let daemon = match Daemon::new(config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vlcp: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vlcp: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let _pidfile = match opts.pidfile.as_deref().map(PidFile::create).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vlcp: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(daemon.run(shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Loads the config the options name, prints every problem (file, line, key) to stderr, and
/// applies command-line start modules. `None` means: exit with status 2.
fn load_config(opts: &Options) -> Option<Config> {
    let path = match &opts.config {
        ConfigSource::Nothing => None,
        ConfigSource::File(path) => Some(path.as_path()),
        ConfigSource::Default if Path::new(DEFAULT_PATH).exists() => Some(Path::new(DEFAULT_PATH)),
        ConfigSource::Default if opts.check_config => {
            eprintln!("vlcp: {DEFAULT_PATH} is not found; nothing to check (use -f <file>)");
            return None;
        }
        ConfigSource::Default => {
            eprintln!("vlcp: {DEFAULT_PATH} is not found; start without configurations.");
            None
        }
    };
    let mut config = match path {
        None => Config::empty(),
        Some(path) => match Config::load_lenient(path) {
            Err(e) => {
                eprintln!("vlcp: {e}");
                return None;
            }
            Ok((config, report)) => {
                for d in &report.diagnostics {
                    eprintln!("{}: {d}", path.display());
                }
                if report.has_errors() {
                    let n = report.errors().count();
                    eprintln!("vlcp: {}: {n} error{}", path.display(), if n == 1 { "" } else { "s" });
                    return None;
                }
                config
            }
        },
    };
    if !opts.startup.is_empty() {
        let paths = opts.startup.iter().map(|p| Value::Str(p.clone())).collect();
        config.set("server.startup", Value::Tuple(paths));
    }
    if let Err(e) = config.startup_modules() {
        eprintln!("vlcp: {e}");
        return None;
    }
    Some(config)
}

/// Installs the tracing subscriber: filter from `-d`, else `RUST_LOG`, else the config; text or
/// JSON lines on stderr.
fn init_logging(opts: &Options, config: &Config) -> Result<(), String> {
    let settings = config.log_settings().map_err(|e| e.to_string())?;
    let env = std::env::var("RUST_LOG").ok().filter(|s| !s.trim().is_empty());
    let directive = if opts.debug { "debug".to_string() } else { env.unwrap_or(settings.filter) };
    let filter = EnvFilter::try_new(&directive).map_err(|e| format!("bad log filter {directive:?}: {e}"))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = if opts.log_json || settings.format == LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot watch SIGTERM ({e}); stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}

/// A failure that stops the daemon.
#[derive(Debug, thiserror::Error)]
enum DaemonError {
    /// A room's task ended before shutdown was asked.
    #[error("{room} stopped unexpectedly: {reason}")]
    RoomStopped { room: &'static str, reason: String },
}

/// The running daemon: the validated config and the modules it starts.
struct Daemon {
    /// Shared read-only with every room.
    config: Arc<Config>,
    /// Module names in start order (dependencies first), from `server.startup`.
    modules: Vec<&'static str>,
}

impl Daemon {
    fn new(config: Config) -> Result<Self, vlcp::config::ConfigError> {
        let modules = config.startup_modules()?;
        Ok(Daemon { config: Arc::new(config), modules })
    }

    /// Starts the rooms, waits for `shutdown` (or a room failing), then stops every room and
    /// waits for them, at most [`STOP_GRACE`].
    async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let source = self.config.source().map_or("(none)".into(), |p| p.display().to_string());
        tracing::info!(config = %source, modules = ?self.modules, "vlcp {} starting", env!("CARGO_PKG_VERSION"));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks: JoinSet<(&'static str, Result<(), String>)> = JoinSet::new();
        // The store and the model: every other room works on them.
        let model = rooms::open_model(&self.config)
            .await
            .map_err(|reason| DaemonError::RoomStopped { room: "objectdb", reason })?;
        // What the SDN room computes for each switch, read by the management API's trace.
        let flows = vlcp::runtime::controller::ComputedFlows::default();
        if self.modules.contains(&"webapi") {
            let serve = rooms::start_webapi(&self.config, model.clone(), flows.clone(), stop_rx.clone())
                .await
                .map_err(|reason| DaemonError::RoomStopped { room: "webapi", reason })?;
            tasks.spawn(async move { ("webapi", serve.await) });
        }
        let needs_ovsdb =
            ["dockerplugin", "ovsdbmanager", "openflowserver"].iter().any(|m| self.modules.contains(m));
        let ovsdb = if needs_ovsdb {
            Some(
                rooms::start_ovsdb(&self.config)
                    .map_err(|reason| DaemonError::RoomStopped { room: "ovsdb", reason })?,
            )
        } else {
            None
        };
        if let (true, Some(ovsdb)) = (self.modules.contains(&"openflowserver"), &ovsdb) {
            let serve = rooms::start_sdn(
                &self.config,
                &self.modules,
                &model,
                ovsdb.clone(),
                flows.clone(),
                stop_rx.clone(),
            )
            .await
            .map_err(|reason| DaemonError::RoomStopped { room: "sdn", reason })?;
            tasks.spawn(async move { ("sdn", serve.await) });
        }
        if let (true, Some(ovsdb)) = (self.modules.contains(&"dockerplugin"), &ovsdb) {
            let serve =
                rooms::start_dockerplugin(&self.config, model.clone(), ovsdb.clone(), stop_rx.clone())
                    .map_err(|reason| DaemonError::RoomStopped { room: "dockerplugin", reason })?;
            tasks.spawn(async move { ("dockerplugin", serve.await) });
        }
        drop(stop_rx);
        tracing::info!("vlcp started");
        let early = tokio::select! {
            () = shutdown => None,
            Some(joined) = tasks.join_next() => Some(joined),
        };
        let _ = stop_tx.send(true);
        let result = match early {
            None => Ok(()),
            Some(Ok((room, outcome))) => Err(DaemonError::RoomStopped {
                room,
                reason: outcome.err().unwrap_or_else(|| "returned without being asked to stop".into()),
            }),
            Some(Err(join)) => Err(DaemonError::RoomStopped { room: "a task", reason: join.to_string() }),
        };
        let drained = tokio::time::timeout(STOP_GRACE, async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((room, Err(e))) = joined {
                    tracing::warn!(room, "stopped with an error: {e}");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("some rooms did not stop within {STOP_GRACE:?}; exiting anyway");
        }
        tracing::info!("vlcp stopped");
        result
    }
}

/// The pid file, removed when dropped.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn create(path: &Path) -> Result<PidFile, String> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pid file {}: {e}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
