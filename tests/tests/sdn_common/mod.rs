//! Shared fixture of the SDN end-to-end tests that drive the real `vlcp` daemon through its
//! management API: an OVS bridge whose controller is the daemon (unix socket), the daemon on the
//! shipped `config/genericl3.conf` (the manual's configuration) with its sockets, port and store
//! moved into the lab, and helpers for curl, endpoints and flow dumps.

#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vlcp_e2e::lab::{Endpoint, EndpointOpts, Ovs, VlcpDaemon, free_port, wait_until};

const MOVED: [&str; 4] = [
    "module.embeddeddb.path",
    "module.httpserver.vhost.api.url",
    "module.openflowserver.url",
    "module.jsonrpcserver.url",
];

/// The daemon, its OVS and its API.
pub struct World {
    pub ovs: Ovs,
    pub bridge: String,
    pub api: String,
    pub daemon: VlcpDaemon,
    pub dir: tempfile::TempDir,
}

impl World {
    /// OVS with `bridge` (controller: the daemon), and the daemon on genericl3.conf plus `extra`
    /// config lines.
    pub fn start(bridge: &str, extra: &str) -> World {
        let ovs = Ovs::start().expect("ovs");
        ovs.add_bridge(bridge).unwrap();
        // OVS accepts unix controller targets only inside its own run directory.
        let of_sock = ovs.dir().join("vlcp-openflow.sock");
        ovs.vsctl(&["set-controller", bridge, &format!("unix:{}", of_sock.display())]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().unwrap();
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/genericl3.conf"))
                .unwrap();
        let mut conf: String = shipped
            .lines()
            .filter(|l| !MOVED.iter().any(|k| l.trim_start().starts_with(k)))
            .map(|l| format!("{l}\n"))
            .collect();
        conf.push_str(&format!(
            "module.embeddeddb.path='{}/vlcp.redb'\n\
             module.httpserver.vhost.api.url='tcp://127.0.0.1:{port}/'\n\
             module.openflowserver.url='unix://{}'\n\
             module.jsonrpcserver.url='unix://{}'\n{extra}\n",
            dir.path().display(),
            of_sock.display(),
            ovs.db_sock().display(),
        ));
        let daemon = VlcpDaemon::start(dir.path(), &conf).unwrap_or_else(|e| panic!("{e}"));
        World { ovs, bridge: bridge.into(), api: format!("http://127.0.0.1:{port}"), daemon, dir }
    }

    /// Runs a shell script of the manual's curl commands against this daemon (the manual's
    /// `http://localhost:8081` replaced by the API address); every reply must be a result.
    pub fn sh(&self, script: &str) -> Vec<Value> {
        let script = script.replace("http://localhost:8081", &self.api);
        let out = Command::new("sh").args(["-ec", &script]).output().expect("sh");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "script failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
        let replies: Vec<Value> = serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .map(|v| v.unwrap_or_else(|e| panic!("non-JSON reply ({e}) in {text:?}")))
            .collect();
        for r in &replies {
            assert!(r.get("result").is_some(), "an API call failed: {r}\n{script}");
        }
        replies
    }

    /// `curl -g [-d data] <api><path>`; the `result` of a successful call.
    pub fn call(&self, path: &str, data: Option<&str>) -> Value {
        let mut c = Command::new("curl");
        c.args(["-s", "-g", "--fail-with-body"]);
        if let Some(d) = data {
            c.args(["-d", d]);
        }
        let url = format!("{}{path}", self.api);
        let out = c.arg(&url).output().expect("curl");
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{url}: {body}\n--- vlcp log ---\n{}", self.daemon.log_text());
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
        v["result"].clone()
    }

    /// A namespace endpoint plugged into the bridge as logical port `id` (`iface-id`), with
    /// `cidr` (or no address at all when `None`, for DHCP) and optionally a fixed MAC.
    pub fn endpoint(&self, id: &str, cidr: Option<&str>, mac: Option<&str>) -> Endpoint {
        let opts =
            EndpointOpts { mac: mac.map(str::to_owned), iface_id: Some(id.into()), ..Default::default() };
        let ep =
            self.ovs.add_endpoint_with(&self.bridge, cidr.unwrap_or("198.18.255.254/32"), &opts).unwrap();
        if cidr.is_none() {
            ep.ns.run(&["ip", "addr", "flush", "dev", "eth0"]).unwrap();
        }
        ep
    }

    /// `ovs-ofctl dump-flows` of the bridge.
    pub fn flows(&self) -> String {
        self.ovs.ofctl_br("dump-flows", &self.bridge, &[]).unwrap_or_else(|e| e.to_string())
    }

    /// Our flows (cookie marker 0x5c) other than the table defaults and the fixed l2input filters.
    pub fn object_flows(&self) -> Vec<String> {
        self.flows()
            .lines()
            .filter(|l| {
                l.contains("cookie=0x5c") && !l.contains("priority=0 ") && !l.contains("priority=1000,")
            })
            .map(str::to_owned)
            .collect()
    }

    /// Waits until `cond` holds for the flow dump.
    pub fn wait_flows(&self, what: &str, cond: impl Fn(&str) -> bool) {
        let r = wait_until(what, Duration::from_secs(30), || cond(&self.flows()).then_some(()));
        if let Err(e) = r {
            panic!("{e}\n--- flows ---\n{}\n--- vlcp log ---\n{}", self.flows(), self.daemon.log_text());
        }
    }

    /// Diagnostics for a failed assertion.
    pub fn diag(&self) -> String {
        format!(
            "--- flows ---\n{}\n--- vlcp log (tail) ---\n{}",
            self.flows(),
            tail(&self.daemon.log_text(), 40)
        )
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs busybox udhcpc on `ep`'s eth0 (retrying while flows arrive), applies the lease (address,
/// MTU, default route) and returns the script's `key=value` line.
pub fn dhcp(w: &World, ep: &Endpoint) -> String {
    let script = w.dir.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         [ \"$1\" = bound ] || exit 0\n\
         ip addr add \"$ip/$mask\" dev \"$interface\"\n\
         [ -n \"$mtu\" ] && ip link set \"$interface\" mtu \"$mtu\"\n\
         [ -n \"$router\" ] && ip route add default via \"$router\"\n\
         echo \"ip=$ip subnet=$subnet router=$router mtu=$mtu serverid=$serverid\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = || {
        ep.ns
            .run(&[
                "busybox",
                "udhcpc",
                "-i",
                "eth0",
                "-n",
                "-q",
                "-f",
                "-t",
                "3",
                "-T",
                "1",
                "-s",
                script.to_str().unwrap(),
            ])
            .ok()
            .and_then(|out| out.lines().find(|l| l.starts_with("ip=")).map(str::to_owned))
    };
    wait_until("a DHCP lease", Duration::from_secs(40), run).unwrap_or_else(|e| panic!("{e}\n{}", w.diag()))
}

/// The value of `key` in a `k=v k=v` line.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
}
