//! `vlcp-bench`: drives a Docker plugin socket with dockerd's call sequence and prints the figures
//! (see the `vlcp_bench` crate docs). Exit status: 0 when every call succeeded and nothing leaked,
//! 1 otherwise, 2 for usage errors or a run that could not start.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;
use vlcp_bench::{BenchConfig, run};

const USAGE: &str = "\
Usage: vlcp-bench --socket <plugin.sock> --physnet <id> [options]

Runs dockerd's plugin call sequence against a Docker network + IPAM plugin: one network, then
--keep endpoints held up, then --endpoints full lifecycles at --concurrency, then leak probes.

Options:
  --socket <path>        the plugin socket (e.g. /run/docker/plugins/vlcp.sock)
  --physnet <id>         -o physicalnetwork=<id> of the network
  -o <key=value>         another -o option of the network (repeatable)
  --endpoints <n>        endpoint lifecycles in the churn phase (default 100)
  --concurrency <n>      endpoints in flight at once (default 4)
  --keep <n>             endpoints brought up first and held during the churn (default 0)
  --subnet <cidr>        the network's subnet (default 198.19.0.0/16)
  --netns <name>         namespace where the driver creates veths (default: ours)
  --ovsdb <url>          OVSDB of the switch (unix:/path/db.sock), with --bridge: OVS port probe
  --bridge <name>        the bridge the driver plugs veths into
  --bridge-mgmt <path>   the bridge's OpenFlow management socket: flow count with --keep
  --pid <pid>            the daemon's pid: RSS and CPU time
  --api <url>            the management API (http://127.0.0.1:8081): logical port probe
  --json                 print the report as JSON instead of markdown
  -h, --help             print this help

Exit status: 0 all calls succeeded and nothing leaked; 1 failed calls or leaks; 2 usage error
or the run could not start.";

#[derive(Debug)]
struct Args {
    cfg: BenchConfig,
    json: bool,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut cfg = BenchConfig::new("", "");
    cfg.network_options.clear();
    let (mut socket, mut json) = (None, false);
    while let Some(a) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        let num =
            |name: &str, v: String| v.parse::<usize>().map_err(|_| format!("{name} {v:?}: not a number"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => json = true,
            "--socket" => socket = Some(PathBuf::from(value(&a)?)),
            "--physnet" => {
                cfg.network_options.insert("physicalnetwork".into(), Value::String(value(&a)?));
            }
            "-o" => {
                let v = value(&a)?;
                let (k, v) = v.split_once('=').ok_or_else(|| format!("-o {v:?}: expected key=value"))?;
                cfg.network_options.insert(k.into(), Value::String(v.into()));
            }
            "--endpoints" => cfg.endpoints = num(&a, value(&a)?)?,
            "--concurrency" => cfg.concurrency = num(&a, value(&a)?)?.max(1),
            "--keep" => cfg.keep = num(&a, value(&a)?)?,
            "--subnet" => cfg.subnet = value(&a)?,
            "--netns" => cfg.probes.netns = Some(value(&a)?),
            "--ovsdb" => cfg.probes.ovsdb = Some(value(&a)?),
            "--bridge" => cfg.probes.bridge = Some(value(&a)?),
            "--bridge-mgmt" => cfg.probes.bridge_mgmt = Some(PathBuf::from(value(&a)?)),
            "--pid" => {
                let v = value(&a)?;
                cfg.probes.pid = Some(v.parse().map_err(|_| format!("--pid {v:?}: not a pid"))?);
            }
            "--api" => cfg.probes.api = Some(value(&a)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    cfg.socket = socket.ok_or("--socket is required")?;
    if !cfg.network_options.contains_key("physicalnetwork") {
        return Err("--physnet (or -o physicalnetwork=<id>) is required".into());
    }
    if cfg.probes.ovsdb.is_some() != cfg.probes.bridge.is_some() {
        return Err("--ovsdb and --bridge go together".into());
    }
    Ok(Some(Args { cfg, json }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vlcp-bench: {e}\nTry 'vlcp-bench --help'.");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vlcp-bench: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match rt.block_on(run(&args.cfg)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vlcp-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("vlcp-bench: encoding the report: {e}"),
        }
    } else {
        print!("{}", report.to_markdown());
    }
    if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Option<Args>, String> {
        parse_args(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_options_and_refuses_bad_ones() {
        let a = args("--socket /s --physnet p --endpoints 7 --concurrency 0 --keep 3 -o vni=5 --json")
            .unwrap()
            .unwrap();
        assert_eq!(a.cfg.socket, PathBuf::from("/s"));
        assert_eq!((a.cfg.endpoints, a.cfg.concurrency, a.cfg.keep, a.json), (7, 1, 3, true));
        assert_eq!(a.cfg.network_options["vni"], "5");
        assert_eq!(a.cfg.network_options["physicalnetwork"], "p");
        assert!(args("--help").unwrap().is_none());
        assert!(args("--physnet p").unwrap_err().contains("--socket"));
        assert!(args("--socket /s").unwrap_err().contains("--physnet"));
        assert!(args("--socket /s --physnet p --endpoints x").unwrap_err().contains("not a number"));
        assert!(args("--socket /s --physnet p --bogus").unwrap_err().contains("--bogus"));
        assert!(args("--socket /s --physnet p --ovsdb unix:/x").unwrap_err().contains("together"));
        assert!(args("--socket").unwrap_err().contains("needs a value"));
    }
}
