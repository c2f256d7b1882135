//! Command-line arguments of the `vlcp` daemon, shaped like the original `vlcp-start`:
//!
//! ```text
//! vlcp [-f <configfile>] [--check-config] [-d] [--log-json] [-p <pidfile>] [startmodule ...]
//! ```
//!
//! Differences from `vlcp-start`: `-d` turns on debug logging (the original daemonized; run under
//! systemd instead), `-F <n>` (fork) is refused, `--check-config`, `--log-json` and `--version`
//! are new. Hand-written (a dozen flags do not need a parser crate).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// Usage text printed by `--help`.
pub const USAGE: &str = "\
Usage: vlcp [options] [startmodule ...]

The VLCP SDN controller daemon with the Docker network and IPAM plugin.

Options:
  -f, --config <file>  config file (default /etc/vlcp.conf; started without one if that is
                       missing; -f '' means no config file)
      --check-config   validate the config file, print problems with line and key, and exit:
                       0 if valid, 2 if not
  -d, --debug          debug logging (the original vlcp-start used -d to daemonize)
      --log-json       log JSON lines instead of text
  -p, --pidfile <file> write the daemon's pid to this file while it runs
  -h, -?, --help       print this help
  -V, --version        print the version
  startmodule ...      module loading paths replacing server.startup

Logging: RUST_LOG overrides the config's level (server.loglevel or server.logging.root.level);
-d overrides both. Exit status: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 on a usage or
config error.";

/// Which config file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// `/etc/vlcp.conf` if it exists, else no config (like `vlcp-start`).
    Default,
    /// `-f <path>`: this file, which must exist.
    File(PathBuf),
    /// `-f ''`: no config file.
    Nothing,
}

/// The options for running (or checking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where the config comes from.
    pub config: ConfigSource,
    /// Validate and exit.
    pub check_config: bool,
    /// Debug logging.
    pub debug: bool,
    /// JSON log lines.
    pub log_json: bool,
    /// Pid file written while running.
    pub pidfile: Option<PathBuf>,
    /// Module loading paths replacing `server.startup` (empty: use the config's).
    pub startup: Vec<String>,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon (or check the config).
    Run(Options),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// A command line that cannot be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// An option that needs a value came last.
    MissingValue(&'static str),
    /// An option we do not know.
    UnknownOption(String),
    /// `-F`: forking into several processes is not supported.
    ForkUnsupported,
    /// An argument that is not valid UTF-8.
    NotUtf8(OsString),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::MissingValue(opt) => write!(f, "option {opt} needs a value"),
            UsageError::UnknownOption(opt) => write!(f, "unknown option {opt}"),
            UsageError::ForkUnsupported => {
                f.write_str("-F (fork into several processes) is not supported; run one daemon per host")
            }
            UsageError::NotUtf8(arg) => write!(f, "argument {arg:?} is not valid UTF-8"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let mut opts = Options {
        config: ConfigSource::Default,
        check_config: false,
        debug: false,
        log_json: false,
        pidfile: None,
        startup: Vec::new(),
    };
    let mut args = args.into_iter();
    let mut only_positional = false;
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(UsageError::NotUtf8)?;
        if only_positional || !arg.starts_with('-') || arg == "-" {
            opts.startup.push(arg);
            continue;
        }
        // `--name=value` and `-fVALUE` forms carry their value inline.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ if !arg.starts_with("--") && arg.len() > 2 => {
                (arg[..2].to_string(), Some(arg[2..].to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |opt: &'static str| -> Result<String, UsageError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .ok_or(UsageError::MissingValue(opt))?
                    .into_string()
                    .map_err(UsageError::NotUtf8),
            }
        };
        match name.as_str() {
            "--" => only_positional = true,
            "-h" | "-?" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-f" | "--config" => {
                let path = value("-f")?;
                opts.config =
                    if path.is_empty() { ConfigSource::Nothing } else { ConfigSource::File(path.into()) };
            }
            "-p" | "--pidfile" => opts.pidfile = Some(value("-p")?.into()),
            "-F" => return Err(UsageError::ForkUnsupported),
            "-d" | "--debug" if inline.is_none() => opts.debug = true,
            "--check-config" if inline.is_none() => opts.check_config = true,
            "--log-json" if inline.is_none() => opts.log_json = true,
            _ => return Err(UsageError::UnknownOption(arg)),
        }
    }
    Ok(Command::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn opts(args: &[&str]) -> Options {
        match run(args) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = opts(&[]);
        assert_eq!(o.config, ConfigSource::Default);
        assert!(!o.check_config && !o.debug && !o.log_json && o.pidfile.is_none() && o.startup.is_empty());
    }

    #[test]
    fn options_in_all_spellings() {
        let o = opts(&["-f", "/etc/x.conf", "--check-config", "-d", "--log-json", "-p", "/run/v.pid"]);
        assert_eq!(o.config, ConfigSource::File("/etc/x.conf".into()));
        assert!(o.check_config && o.debug && o.log_json);
        assert_eq!(o.pidfile, Some("/run/v.pid".into()));
        assert_eq!(opts(&["-f/a.conf"]).config, ConfigSource::File("/a.conf".into()));
        assert_eq!(opts(&["--config=/b.conf"]).config, ConfigSource::File("/b.conf".into()));
        assert_eq!(opts(&["--config", "/c.conf"]).config, ConfigSource::File("/c.conf".into()));
        assert_eq!(opts(&["-f", ""]).config, ConfigSource::Nothing);
        assert_eq!(opts(&["a.b.C", "--", "-odd"]).startup, ["a.b.C".to_string(), "-odd".to_string()]);
    }

    #[test]
    fn help_version_and_errors() {
        assert_eq!(run(&["--help"]), Ok(Command::Help));
        assert_eq!(run(&["-?"]), Ok(Command::Help));
        assert_eq!(run(&["-V"]), Ok(Command::Version));
        assert_eq!(run(&["-f"]), Err(UsageError::MissingValue("-f")));
        assert_eq!(run(&["--bogus"]), Err(UsageError::UnknownOption("--bogus".into())));
        assert_eq!(run(&["-dx"]), Err(UsageError::UnknownOption("-dx".into())));
        assert_eq!(run(&["--check-config=yes"]), Err(UsageError::UnknownOption("--check-config=yes".into())));
        assert_eq!(run(&["-F", "2"]), Err(UsageError::ForkUnsupported));
    }
}
