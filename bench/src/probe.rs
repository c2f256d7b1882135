//! What the run looks at besides the plugin's answers: the host (veths, OVS ports, flows), the
//! daemon process (RSS, CPU time) and the management API. Every probe runs a real tool (`ip`,
//! `ovs-vsctl`, `ovs-ofctl`) or reads `/proc`; a probe that cannot run is an error, never "no
//! leak".

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use tokio::process::Command;

/// Where to look. Everything is optional; what is not given is not checked (and the report says
/// so).
#[derive(Debug, Clone, Default)]
pub struct Probes {
    /// The network namespace (`/run/netns/<name>`) the driver creates veths in; `None`: ours.
    pub netns: Option<String>,
    /// OVSDB of the switch (`unix:/path/db.sock`), for the OVS port probe (needs `bridge`).
    pub ovsdb: Option<String>,
    /// The bridge the driver plugs veths into.
    pub bridge: Option<String>,
    /// The bridge's OpenFlow management socket, for the flow count.
    pub bridge_mgmt: Option<PathBuf>,
    /// The daemon's pid, for RSS and CPU time.
    pub pid: Option<u32>,
    /// The management API (`http://127.0.0.1:8081`), for the logical port probe.
    pub api: Option<String>,
}

async fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let what = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Names of the links in `netns` (ours when `None`).
pub async fn links(netns: Option<&str>) -> Result<BTreeSet<String>, String> {
    let mut args = Vec::new();
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["-o", "link", "show"]);
    let out = run("ip", &args).await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .filter(|n| !n.is_empty())
        .collect())
}

/// The ports of `bridge`.
pub async fn ovs_ports(db: &str, bridge: &str) -> Result<BTreeSet<String>, String> {
    let db = format!("--db={db}");
    let out = run("ovs-vsctl", &["--timeout=20", &db, "list-ports", bridge]).await?;
    Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// The number of flows on the bridge behind a management socket.
pub async fn flow_count(mgmt: &std::path::Path) -> Result<u64, String> {
    let target = format!("unix:{}", mgmt.display());
    let out = run("ovs-ofctl", &["-O", "OpenFlow13", "dump-aggregate", &target]).await?;
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("flow_count="))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("ovs-ofctl dump-aggregate: no flow_count in {out:?}"))
}

/// Memory and CPU time of a process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcSample {
    /// Resident set size, kB.
    pub rss_kb: u64,
    /// Peak resident set size, kB.
    pub hwm_kb: u64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub fn proc_sample(pid: u32) -> Result<ProcSample, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("pid {pid}: {e}"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("pid {pid}: {e}"))?;
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // utime and stime are fields 14 and 15.
    let rest: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| rest.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ProcSample { rss_kb: kb("VmRSS:"), hwm_kb: kb("VmHWM:"), cpu_s: (ticks(14) + ticks(15)) as f64 / hz })
}

/// What the run left behind. Empty lists and no `probe_errors` = nothing leaked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Leaks {
    /// Veth ends of the run's endpoints still present, and new links whose names start like them.
    pub veths: Vec<String>,
    /// OVS ports added during the run and still on the bridge.
    pub ovs_ports: Vec<String>,
    /// Logical ports of the run's endpoints that still exist.
    pub logical_ports: Vec<String>,
    /// Addresses handed out during the run that cannot be reserved again (a leaked reservation or
    /// a port still holding them).
    pub addresses: Vec<String>,
    /// Probes that could not run (the run then counts as leaking: nothing was proven).
    pub probe_errors: Vec<String>,
    /// Probes skipped because the option they need was not given.
    pub not_checked: Vec<&'static str>,
}

impl Leaks {
    /// Leaked objects plus probe failures.
    pub fn count(&self) -> usize {
        self.veths.len()
            + self.ovs_ports.len()
            + self.logical_ports.len()
            + self.addresses.len()
            + self.probe_errors.len()
    }
}

/// The host before the run, to compare with after.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    pub links: BTreeSet<String>,
    pub ovs_ports: Option<BTreeSet<String>>,
}

impl Probes {
    /// Reads the links and (if configured) the bridge's ports.
    pub async fn host_state(&self) -> Result<HostState, String> {
        let links = links(self.netns.as_deref()).await?;
        let ovs_ports = match (&self.ovsdb, &self.bridge) {
            (Some(db), Some(br)) => Some(ovs_ports(db, br).await?),
            _ => None,
        };
        Ok(HostState { links, ovs_ports })
    }

    /// Compares the host now with `before`, given `(EndpointID, container-end veth name)` of the
    /// run's endpoints (host ends are those + `-tap`).
    pub async fn host_leaks(&self, before: &HostState, veths: &[(String, String)], leaks: &mut Leaks) {
        let ours: BTreeSet<String> = veths
            .iter()
            .flat_map(|(_, n)| [n.clone(), format!("{n}{}", vlcp_plugin::docker::naming::HOST_SUFFIX)])
            .collect();
        // The prefix our veth names share (before the endpoint id digits), to also catch new links
        // the driver made under another name.
        let stem = veths.first().map(|(eid, n)| name_stem(n, eid).to_string());
        match links(self.netns.as_deref()).await {
            Ok(now) => {
                leaks.veths = now
                    .iter()
                    .filter(|n| {
                        ours.contains(*n)
                            || (!before.links.contains(*n)
                                && stem.as_deref().is_some_and(|s| !s.is_empty() && n.starts_with(s)))
                    })
                    .cloned()
                    .collect();
            }
            Err(e) => leaks.probe_errors.push(format!("veths: {e}")),
        }
        match (&self.ovsdb, &self.bridge, &before.ovs_ports) {
            (Some(db), Some(br), Some(was)) => match ovs_ports(db, br).await {
                Ok(now) => {
                    leaks.ovs_ports =
                        now.iter().filter(|p| ours.contains(*p) || !was.contains(*p)).cloned().collect();
                }
                Err(e) => leaks.probe_errors.push(format!("OVS ports: {e}")),
            },
            _ => leaks.not_checked.push("OVS ports (give --ovsdb and --bridge)"),
        }
    }
}

/// `name` without the trailing characters that start `id` (`vlcpfef0c71`, `fef0c71b…` →
/// `vlcp`).
pub fn name_stem<'a>(name: &'a str, id: &str) -> &'a str {
    let id = id.to_ascii_lowercase();
    let k = (1..=name.len().min(id.len())).rev().find(|&k| name.ends_with(&id[..k])).unwrap_or(0);
    &name[..name.len() - k]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_the_endpoint_id() {
        assert_eq!(name_stem("vlcpfef0c71", "fef0c71bc56f"), "vlcp");
        assert_eq!(name_stem("x", "fef0"), "x");
        assert_eq!(name_stem("fef0", "FEF0C7"), "");
    }

    #[test]
    fn reads_our_own_process() {
        let s = proc_sample(std::process::id()).unwrap();
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb, "{s:?}");
        assert!(s.cpu_s >= 0.0);
        assert!(proc_sample(u32::MAX).is_err());
    }

    #[tokio::test]
    async fn lists_links_of_our_namespace() {
        let l = links(None).await.unwrap();
        assert!(l.contains("lo"), "{l:?}");
        assert!(links(Some("no-such-netns-vlcp-bench")).await.is_err());
    }

    #[test]
    fn leaks_count_probe_failures() {
        let mut l = Leaks::default();
        assert_eq!(l.count(), 0);
        l.not_checked.push("x");
        assert_eq!(l.count(), 0);
        l.probe_errors.push("ip: failed".into());
        l.addresses.push("198.18.0.9".into());
        assert_eq!(l.count(), 2);
    }
}
