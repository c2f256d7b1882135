//! Shared by the fault suites (`fault_*`, `docker_restart`, `docker_concurrency`,
//! `bench_docker_run`): one host as a user runs it — OVS with `dockerbr0` in its namespace, a
//! dockerd there, and the real `vlcp` daemon on the shipped `config/docker.conf` (every socket,
//! port and path moved into the lab; the store embedded or a lab ZooKeeper) — plus the tools to
//! break it: the daemon stopped, `kill -9`ed and started again on the same config and store,
//! pings from inside containers counted across the fault, and the leak census (logical ports,
//! OVS ports, host veths) to compare with the containers Docker has.

#![allow(dead_code)] // each suite uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use vlcp_e2e::lab::{self, Dockerd, DockerdOpts, Ovs, VlcpDaemon, free_port, run, wait_until, workspace_bin};

pub const BRIDGE: &str = "dockerbr0";
/// The shipped config's `module.dockerplugin.vethprefix`.
pub const VETH_PREFIX: &str = "vlcp";

/// Keys of the shipped config the lab replaces.
const MOVED: [&str; 8] = [
    "module.embeddeddb.path",
    "module.httpserver.vhost.api.url",
    "module.httpserver.vhost.docker.url",
    "module.openflowserver.url",
    "module.jsonrpcserver.url",
    "module.dockerplugin.cidrrange",
    "proxy.kvstorage",
    "proxy.updatenotifier",
];

/// Where the daemon keeps its objects.
#[derive(Debug, Clone)]
pub enum Store {
    /// The shipped default: a redb file in the daemon's dir.
    Embedded,
    /// A ZooKeeper (connect string); the host gets a fresh chroot.
    ZooKeeper(String),
}

/// Options of [`Host::start_with`].
#[derive(Debug, Clone)]
pub struct HostOpts {
    pub store: Store,
    pub dockerd: DockerdOpts,
}

impl Default for HostOpts {
    fn default() -> Self {
        HostOpts { store: Store::Embedded, dockerd: DockerdOpts::default() }
    }
}

/// One host. Field order is drop order: the engine (it removes its containers through the
/// plugin) before the daemon, the daemon before OVS, the files last.
pub struct Host {
    pub dockerd: Dockerd,
    /// Behind a lock so a test can crash it while other threads drive Docker.
    daemon: Mutex<Option<VlcpDaemon>>,
    pub ovs: Ovs,
    /// `http://127.0.0.1:<port>` of the management API.
    pub api: String,
    config: String,
    pub dir: tempfile::TempDir,
}

impl Host {
    /// OVS, dockerd and the daemon on the embedded store, with physical network `local`.
    pub fn start() -> Host {
        Host::start_with(&HostOpts::default())
    }

    pub fn start_with(opts: &HostOpts) -> Host {
        let ovs = Ovs::start().expect("ovs");
        ovs.add_bridge(BRIDGE).unwrap();
        // OVS accepts unix controller targets only inside its own run directory.
        let of_sock = ovs.dir().join("vlcp-openflow.sock");
        ovs.vsctl(&["set-controller", BRIDGE, &format!("unix:{}", of_sock.display())]).unwrap();
        let dockerd = Dockerd::start_with(Some(ovs.netns()), &opts.dockerd).expect("dockerd");
        let dir = lab::temp_dir().unwrap();
        let port = free_port().unwrap();
        let config = config(dir.path(), &ovs, &dockerd, &of_sock, port, &opts.store);
        let h = Host {
            dockerd,
            daemon: Mutex::new(None),
            ovs,
            api: format!("http://127.0.0.1:{port}"),
            config,
            dir,
        };
        h.start_daemon();
        h.api_get("createphysicalnetwork?type=local&id=local");
        h
    }

    /// Starts the daemon (again) on the same config, store and sockets.
    pub fn start_daemon(&self) {
        {
            let mut slot = self.daemon.lock().unwrap();
            assert!(slot.is_none(), "daemon already running");
            let d = VlcpDaemon::start(self.dir.path(), &self.config).unwrap_or_else(|e| panic!("{e}"));
            *slot = Some(d);
        }
        wait_until("the management API", Duration::from_secs(20), || {
            self.try_api_get("listphysicalnetworks").ok()
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
    }

    /// SIGTERM the daemon and wait for it; returns its exit code.
    pub fn stop_daemon(&self) -> Option<i32> {
        let d = self.daemon.lock().unwrap().take();
        d.expect("daemon running").stop()
    }

    /// `kill -9` the daemon (a crash: no cleanup of any kind).
    pub fn kill9_daemon(&self) {
        let d = self.daemon.lock().unwrap().take();
        d.expect("daemon running").kill9();
    }

    /// `<dir>/vlcp.conf`, the daemon's config (for vlcp-cleanup).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("vlcp.conf")
    }

    /// The daemon's whole log (every run).
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vlcp.log")).unwrap_or_default()
    }

    /// The tails of the daemon's and dockerd's logs and the bridge's flows, for failure messages.
    pub fn logs(&self) -> String {
        let log = self.daemon_log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let flows = self.ovs.ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default();
        let dlog = self.dockerd.log_text();
        let errors: Vec<&str> = dlog.lines().filter(|l| l.contains("level=error")).collect();
        let vlcp_errors: Vec<&str> =
            log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
        format!(
            "--- vlcp log ---\n{}\n--- vlcp warnings and errors ---\n{}\n--- dockerd errors ---\n{}\n\
             --- dockerd log ---\n{}\n--- flows ---\n{flows}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            vlcp_errors.join("\n"),
            errors.join("\n"),
            self.dockerd.log_tail(20)
        )
    }

    /// `GET <api>/viperflow/<path>`; the `result`, or the error text.
    pub fn try_api_get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}/viperflow/{path}", self.api);
        let out = Command::new("curl")
            .args(["-s", "-g", "--max-time", "30", "--fail-with-body", &url])
            .output()
            .map_err(|e| e.to_string())?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("{url}: curl exit {:?}: {body}", out.status.code()));
        }
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{url}: {e}: {body}"))?;
        Ok(v["result"].clone())
    }

    pub fn api_get(&self, path: &str) -> Value {
        self.try_api_get(path).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// The daemon's `/metrics` text.
    pub fn metrics(&self) -> String {
        let out = Command::new("curl").args(["-sf", &format!("{}/metrics", self.api)]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_docker(&self, args: &[&str]) -> Result<String, String> {
        self.dockerd.docker(args).map_err(|e| e.to_string())
    }

    pub fn docker(&self, args: &[&str]) -> String {
        self.try_docker(args).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    pub fn plugin(&self) -> &str {
        self.dockerd.plugin_name()
    }

    /// A vlcp network `name` on 198.18.<third>.0/24 (gateway .1) on physical network `local`.
    pub fn network(&self, name: &str, third: u8) {
        let plugin = self.plugin().to_string();
        let subnet = format!("198.18.{third}.0/24");
        let gw = format!("198.18.{third}.1");
        self.docker(&[
            "network",
            "create",
            "-d",
            &plugin,
            "--ipam-driver",
            &plugin,
            "-o",
            "physicalnetwork=local",
            "--subnet",
            &subnet,
            "--gateway",
            &gw,
            name,
        ]);
    }

    /// `docker run -d --network <net> --name <name> extra… bb:latest sleep 3600`.
    pub fn try_run(&self, name: &str, net: &str, extra: &[&str]) -> Result<String, String> {
        let mut args = vec!["run", "-d", "--network", net, "--name", name];
        args.extend_from_slice(extra);
        args.extend(["bb:latest", "sleep", "3600"]);
        self.try_docker(&args)
    }

    pub fn run(&self, name: &str, net: &str, extra: &[&str]) {
        self.try_run(name, net, extra).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
    }

    /// The container's address on its only network.
    pub fn ip(&self, c: &str) -> String {
        self.docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c])
    }

    /// The container's init pid (its network namespace).
    pub fn pid(&self, c: &str) -> u32 {
        let pid = self.docker(&["inspect", "-f", "{{.State.Pid}}", c]);
        pid.parse().unwrap_or_else(|_| panic!("pid of {c}: {pid}"))
    }

    /// The ids of the containers Docker has (all states).
    pub fn containers(&self) -> Vec<String> {
        self.docker(&["ps", "-aq"]).split_whitespace().map(str::to_owned).collect()
    }

    /// One ping from inside container `c` (the host's iputils ping in its network namespace).
    pub fn ping(&self, c: &str, ip: &str) -> bool {
        ping_cmd(self.pid(c), ip, 1, "0.2", "1").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// Pings from `c` until a reply or `limit`; the time to the first reply.
    pub fn time_to_reach(&self, c: &str, ip: &str, limit: Duration) -> Option<Duration> {
        let pid = self.pid(c);
        let start = Instant::now();
        while start.elapsed() < limit {
            if ping_cmd(pid, ip, 1, "0.2", "0.3").stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
                return Some(start.elapsed());
            }
        }
        None
    }

    /// `count` pings `interval` apart from inside `c` in the background.
    pub fn background_ping(&self, c: &str, ip: &str, count: u32, interval: &str) -> Pinger {
        let mut cmd = ping_cmd(self.pid(c), ip, count, interval, "1");
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            let out = cmd.output().expect("ping runs");
            parse_ping(&String::from_utf8_lossy(&out.stdout))
        });
        Pinger { handle, started }
    }

    /// Logical port ids the daemon has.
    pub fn logical_ports(&self) -> Vec<String> {
        let r = self.api_get("listlogicalports");
        let mut v: Vec<String> = r
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The ports on `dockerbr0`.
    pub fn ovs_ports(&self) -> Vec<String> {
        let out = self.ovs.vsctl(&["list-ports", BRIDGE]).unwrap();
        out.split_whitespace().map(str::to_owned).collect()
    }

    /// Links named after the plugin's veth prefix in the OVS namespace (a container's host end,
    /// or a leftover).
    pub fn host_veths(&self) -> Vec<String> {
        let out = self.ovs.netns().run(&["ip", "-o", "link", "show"]).unwrap();
        out.lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .filter(|n| n.starts_with(VETH_PREFIX))
            .collect()
    }

    /// What the host holds beyond what Docker's running containers need: a census to print,
    /// and whether it is clean (one logical port, one OVS port and one host veth per
    /// container attached to a vlcp network, nothing else).
    /// The driver removes veth pairs in the background after DeleteEndpoint answers, so a
    /// census that is not clean is taken again for up to 5 s.
    pub fn census(&self, attached: usize) -> Census {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let c = Census {
                attached,
                logical_ports: self.logical_ports(),
                ovs_ports: self.ovs_ports(),
                veths: self.host_veths(),
            };
            if c.clean() || Instant::now() >= deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The containers Docker has that are running.
    pub fn running(&self) -> Vec<String> {
        self.docker(&["ps", "-q"]).split_whitespace().map(str::to_owned).collect()
    }

    /// `vlcp-cleanup -f <daemon config> -H <engine> --netns <ns> --interval 1 extra…`:
    /// (exit code, stdout + stderr).
    pub fn cleanup(&self, extra: &[&str]) -> (Option<i32>, String) {
        let mut c = Command::new(workspace_bin("vlcp-cleanup").unwrap());
        c.arg("-f")
            .arg(self.config_path())
            .arg("-H")
            .arg(self.dockerd.host())
            .args(["--netns", &self.ovs.netns().name, "--interval", "1"])
            .args(extra)
            .env_remove("DOCKER_HOST");
        let out = run(&mut c).expect("run vlcp-cleanup");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    }
}

/// Logical ports, OVS ports and veths against the containers attached.
#[derive(Debug)]
pub struct Census {
    pub attached: usize,
    pub logical_ports: Vec<String>,
    pub ovs_ports: Vec<String>,
    pub veths: Vec<String>,
}

impl Census {
    pub fn clean(&self) -> bool {
        self.logical_ports.len() == self.attached
            && self.ovs_ports.len() == self.attached
            && self.veths.len() == self.attached
    }
}

/// A ping running in the background.
pub struct Pinger {
    handle: JoinHandle<(u32, u32)>,
    pub started: Instant,
}

impl Pinger {
    /// Waits for the ping to end: (transmitted, received).
    pub fn join(self) -> (u32, u32) {
        self.handle.join().expect("ping thread")
    }
}

fn ping_cmd(pid: u32, ip: &str, count: u32, interval: &str, wait: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg("-t")
        .arg(pid.to_string())
        .arg("-n")
        .args(["ping", "-n", "-q", "-c", &count.to_string(), "-i", interval, "-W", wait, ip])
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `(transmitted, received)` from iputils ping's summary.
fn parse_ping(out: &str) -> (u32, u32) {
    let line = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or("");
    let num = |word: &str| -> u32 {
        line.split(',')
            .find(|p| p.contains(word))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (num("transmitted"), num("received"))
}

/// `config/docker.conf` with every socket, port and path moved into the lab.
fn config(dir: &Path, ovs: &Ovs, dockerd: &Dockerd, of_sock: &Path, port: u16, store: &Store) -> String {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/docker.conf")).unwrap();
    let mut text: String = shipped
        .lines()
        .filter(|l| !MOVED.iter().any(|k| l.trim_start().starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect();
    match store {
        Store::Embedded => text.push_str(&format!(
            "proxy.kvstorage='vlcp.service.connection.embeddeddb.EmbeddedDB'\n\
             proxy.updatenotifier='vlcp.service.connection.embeddeddb.EmbeddedDB'\n\
             module.embeddeddb.path='{}/vlcp.redb'\n",
            dir.display()
        )),
        Store::ZooKeeper(connect) => text.push_str(&format!(
            "proxy.kvstorage='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
             proxy.updatenotifier='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
             module.zookeeperdb.url='zk://{connect}/{}'\n",
            lab::unique("zk")
        )),
    }
    text.push_str(&format!(
        "module.httpserver.vhost.api.url='tcp://127.0.0.1:{port}/'\n\
         module.httpserver.vhost.docker.url='unix://{}'\n\
         module.openflowserver.url='unix://{}'\n\
         module.jsonrpcserver.url='unix://{}'\n\
         module.dockerplugin.cidrrange='198.19.0.0/16'\n\
         module.dockerplugin.netns='/run/netns/{}'\n",
        dockerd.plugin_socket().display(),
        of_sock.display(),
        ovs.db_sock().display(),
        ovs.netns().name,
    ));
    text
}

/// The `p`-th percentile (0..=100) of `v` (sorted in place).
pub fn percentile(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    let i = ((v.len() * p).div_ceil(100)).clamp(1, v.len()) - 1;
    v[i]
}

/// Quantile `q` (0..1) of a Prometheus histogram `name{method="<method>"}` from its cumulative
/// buckets (linear inside the bucket, as Prometheus' histogram_quantile does), and the count.
pub fn histogram_quantile(metrics: &str, name: &str, method: &str, q: f64) -> Option<(f64, u64)> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let prefix = format!("{name}_bucket{{");
    for line in metrics.lines().filter(|l| l.starts_with(&prefix)) {
        if !line.contains(&format!("method=\"{method}\"")) {
            continue;
        }
        let le = line.split("le=\"").nth(1)?.split('"').next()?;
        let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
        let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
        buckets.push((le, count));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some((prev.0, total as u64));
            }
            let in_bucket = count - prev.1;
            let frac = if in_bucket > 0.0 { (rank - prev.1) / in_bucket } else { 1.0 };
            return Some((prev.0 + (le - prev.0) * frac, total as u64));
        }
        prev = (le, count);
    }
    None
}
