//! The command line (flags named as the original `python -m vlcp_docker.cleanup`).

use std::path::PathBuf;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
usage: vlcp-cleanup -f <config> [-H <docker endpoint>] [--skipovs] [--skipiplink]
                    [--skiplogicalport] [--nodockerinfo] [--dry-run] [--json]
                    [--netns <name>] [--ovsdb <url>] [--interval <seconds>]

Removes what a Docker engine panic, a kernel panic or a power loss left behind on this host:
veths never moved into (or left by) a container, OVS ports in an error state or without a
live endpoint, and logical ports, DockerInfo and IPAM reservations whose Docker endpoint is
gone. It looks twice, <interval> seconds apart (default 5), and repairs only what both looks
agree on.

  -f <config>         the daemon's vlcp.conf (store, OVSDB, module.dockerplugin.*)
  -H <endpoint>       Docker: unix:///path, /path, tcp://host:port, host:port, :port
                      (default $DOCKER_HOST, else unix:///var/run/docker.sock)
  --skipovs           leave OVS ports alone
  --skipiplink        leave veths alone
  --skiplogicalport   leave logical ports, DockerInfo and reservations alone
  --nodockerinfo      do not use or remove DockerInfo objects
  --dry-run           print the plan, change nothing
  --json              print a machine-readable report
  --netns <name>      the network namespace OVS and dockerd live in (/run/netns/<name>)
  --ovsdb <url>       OVSDB (default module.jsonrpcserver.url of the config)
  --interval <secs>   time between the two looks (default 5)

exit status: 0 nothing to repair, 3 repaired (with --dry-run: repairs planned), 1 failed
(a source unreachable or a repair failed), 2 usage or config error";

/// Parsed options.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// `-f`.
    pub config: PathBuf,
    /// `-H`.
    pub docker: Option<String>,
    /// `--skipovs`.
    pub skip_ovs: bool,
    /// `--skipiplink`.
    pub skip_iplink: bool,
    /// `--skiplogicalport`.
    pub skip_logical_port: bool,
    /// `--nodockerinfo`.
    pub no_docker_info: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--json`.
    pub json: bool,
    /// `--netns`.
    pub netns: Option<String>,
    /// `--ovsdb`.
    pub ovsdb: Option<String>,
    /// `--interval`.
    pub interval: Duration,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Run.
    Run(Options),
    /// `-h` / `--help`.
    Help,
}

/// Parses the arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut it = args.into_iter();
    let mut config = None;
    let mut o = Options {
        config: PathBuf::new(),
        docker: None,
        skip_ovs: false,
        skip_iplink: false,
        skip_logical_port: false,
        no_docker_info: false,
        dry_run: false,
        json: false,
        netns: None,
        ovsdb: None,
        interval: Duration::from_secs(5),
    };
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-f" => config = Some(PathBuf::from(value("-f")?)),
            "-H" => o.docker = Some(value("-H")?),
            "--skipovs" => o.skip_ovs = true,
            "--skipiplink" => o.skip_iplink = true,
            "--skiplogicalport" => o.skip_logical_port = true,
            "--nodockerinfo" => o.no_docker_info = true,
            "--dry-run" => o.dry_run = true,
            "--json" => o.json = true,
            "--netns" => o.netns = Some(value("--netns")?),
            "--ovsdb" => o.ovsdb = Some(value("--ovsdb")?),
            "--interval" => {
                let v = value("--interval")?;
                let secs: f64 =
                    v.parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                        .ok_or_else(|| format!("--interval {v:?} is not a number of seconds (0 to 3600)"))?;
                o.interval = Duration::from_secs_f64(secs);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    o.config = config.ok_or("-f <config> is required")?;
    Ok(Command::Run(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Command, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_parse_as_the_originals() {
        let Command::Run(o) =
            p(&["-f", "/etc/vlcp.conf", "-H", ":2375", "--skipovs", "--dry-run", "--json"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(o.config, PathBuf::from("/etc/vlcp.conf"));
        assert_eq!(o.docker.as_deref(), Some(":2375"));
        assert!(o.skip_ovs && o.dry_run && o.json && !o.skip_iplink && !o.no_docker_info);
        assert_eq!(o.interval, Duration::from_secs(5));
        let Command::Run(o) = p(&["-f", "c", "--interval", "0.5", "--netns", "h1"]).unwrap() else {
            panic!()
        };
        assert_eq!(o.interval, Duration::from_millis(500));
        assert_eq!(o.netns.as_deref(), Some("h1"));
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn bad_command_lines_say_why() {
        assert!(p(&[]).unwrap_err().contains("-f"));
        assert!(p(&["-f"]).unwrap_err().contains("needs a value"));
        assert!(p(&["-f", "c", "--bogus"]).unwrap_err().contains("--bogus"));
        assert!(p(&["-f", "c", "--interval", "-1"]).unwrap_err().contains("interval"));
        assert!(p(&["-f", "c", "--interval", "NaN"]).unwrap_err().contains("interval"));
    }
}
