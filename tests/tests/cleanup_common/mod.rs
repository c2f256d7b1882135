//! Shared by the `cleanup_*` suites: a "host" (OVS + a dockerd in its namespace + our driver on
//! the engine's plugin socket, over a store shared through ZooKeeper), optionally our SDN
//! controller; crash tools (stop the plugin, `kill -9` dockerd and start it again on the same
//! data); the `vlcp-cleanup` binary with a config pointing at this host; and a full dump of
//! the state it may touch, to compare before and after.

#![allow(dead_code)] // each suite uses its own part

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::watch;
use vlcp::model::{Model, Params, PhysicalNetworkSpec};
use vlcp::objectdb::zookeeper::ZkStore;
use vlcp::objectdb::{DataObject, ObjectDb};
use vlcp::runtime::controller::SdnController;
use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::sdn::config::SdnConfig;
use vlcp::sdn::input::{self, ModelSnapshot, NetworkType};
use vlcp_e2e::lab::{Dockerd, Ovs, ZooKeeper, run, wait_until};
use vlcp_plugin::docker::driver::{DriverConfig, PluginServer, VlcpDriver, start};

pub const BRIDGE: &str = "dockerbr0";

/// One host on a shared ZooKeeper store.
pub struct Host {
    server: Option<PluginServer>,
    driver: Option<Arc<VlcpDriver>>,
    /// A dockerd this suite restarted itself (the lab's [`Dockerd`] only knows its first one).
    restarted: Option<Child>,
    pub model: Model,
    pub ovsdb: OvsdbClient,
    pub dockerd: Dockerd,
    pub ovs: Ovs,
    pub rt: Arc<Runtime>,
    pub zk_connect: String,
    dir: tempfile::TempDir,
}

/// The driver settings of every host (addresses only in 198.18.0.0/15).
fn driver_config(ovs: &Ovs) -> DriverConfig {
    DriverConfig {
        netns: Some(PathBuf::from(format!("/run/netns/{}", ovs.netns().name))),
        cidr_range: vlcp::model::rules::Cidr::parse("198.19.0.0/16", true).unwrap(),
        ..DriverConfig::default()
    }
}

impl Host {
    /// A host on `zk`; the first host of a store creates physical network `ph`.
    pub fn new(rt: Arc<Runtime>, zk: &ZooKeeper, first: bool) -> Host {
        let ovs = Ovs::start().expect("ovs");
        ovs.add_bridge(BRIDGE).unwrap();
        let dockerd = Dockerd::start_in(Some(ovs.netns())).expect("dockerd");
        let zk_connect = zk.connect_string();
        let (model, ovsdb) = rt.block_on(async {
            let store = ZkStore::connect(&zk_connect).await.expect("zookeeper store");
            let model = Model::new(ObjectDb::new(Arc::new(store)));
            if first {
                let p = serde_json::json!({"id": "ph", "type": "local"});
                let spec =
                    PhysicalNetworkSpec::from_params(Params::new(p.as_object().unwrap().clone())).unwrap();
                model.create_physical_networks(vec![spec]).await.unwrap();
            }
            let (ovsdb, _events) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).expect("ovsdb");
            ovsdb.wait_synced(Duration::from_secs(10)).await.expect("ovsdb synced");
            (model, ovsdb)
        });
        let dir = tempfile::tempdir().unwrap();
        let mut h = Host {
            server: None,
            driver: None,
            restarted: None,
            model,
            ovsdb,
            dockerd,
            ovs,
            rt,
            zk_connect,
            dir,
        };
        h.start_plugin();
        h
    }

    /// Serves our driver on the engine's plugin socket (again).
    pub fn start_plugin(&mut self) {
        assert!(self.server.is_none(), "plugin already serving");
        let _g = self.rt.enter();
        let driver = match &self.driver {
            Some(d) => d.clone(),
            None => {
                let d = VlcpDriver::new(driver_config(&self.ovs), self.model.clone(), self.ovsdb.clone())
                    .expect("driver");
                Arc::new(d)
            }
        };
        self.driver = Some(driver.clone());
        self.server = Some(start(&self.dockerd.plugin_socket(), driver).expect("plugin socket"));
    }

    /// Stops serving the plugin (the vlcp daemon is down): Docker's calls to it fail.
    pub fn stop_plugin(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
    }

    /// The driver (for its IPAM, as a crashed daemon would have used it).
    pub fn driver(&self) -> &VlcpDriver {
        self.driver.as_deref().expect("driver")
    }

    pub fn docker(&self, args: &[&str]) -> String {
        self.dockerd.docker(args).unwrap_or_else(|e| panic!("{e}\n{}", self.dockerd.log_tail(30)))
    }

    pub fn plugin(&self) -> &str {
        self.dockerd.plugin_name()
    }

    /// Creates a vlcp network `name` on 198.18.<third>.0/24, gateway .1.
    pub fn network(&self, name: &str, third: u8) -> String {
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
            "physicalnetwork=ph",
            "--subnet",
            &subnet,
            "--gateway",
            &gw,
            name,
        ])
    }

    /// `(EndpointID, IP)` of a container's only network.
    pub fn endpoint_of(&self, container: &str) -> (String, String) {
        let out = self.docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.EndpointID}} {{.IPAddress}}{{end}}",
            container,
        ]);
        let v: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(v.len(), 2, "{out}");
        (v[0].into(), v[1].into())
    }

    /// `kill -9` dockerd (its containerd goes with it; container processes stay).
    pub fn kill_dockerd(&mut self) {
        let pid = match &mut self.restarted {
            Some(c) => c.id(),
            None => self.dockerd.pid().expect("dockerd pid"),
        };
        // SAFETY: kill(2) on a pid this suite (or the lab fixture it owns) started.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        if let Some(mut c) = self.restarted.take() {
            let _ = c.wait();
        }
        let sock = self.dockerd.socket();
        wait_until("dockerd to die", Duration::from_secs(20), || {
            (!self.dockerd.cmd().arg("version").output().is_ok_and(|o| o.status.success())).then_some(())
        })
        .unwrap();
        let _ = std::fs::remove_file(sock);
    }

    /// Starts dockerd again on the same data-root, exec-root and socket, in the same namespace.
    pub fn restart_dockerd(&mut self) {
        let root = self.dockerd.socket().parent().unwrap().to_path_buf();
        let log = File::options().append(true).open(root.join("dockerd.log")).unwrap();
        // The killed engine stays a zombie until the lab fixture reaps it, so dockerd would
        // take its pid file for a running engine.
        // Same for its containerd (killed with it) if nothing reaped it yet.
        let _ = std::fs::remove_file(root.join("docker.pid"));
        let _ = std::fs::remove_file(self.dockerd.exec_root().join("containerd/containerd.pid"));
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ovs.netns().name))
            .arg("dockerd")
            .arg("--data-root")
            .arg(root.join("root"))
            .arg("--exec-root")
            .arg(self.dockerd.exec_root())
            .arg("-H")
            .arg(self.dockerd.host())
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--shutdown-timeout=2",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd");
        self.restarted = Some(child);
        wait_until("dockerd to answer again", Duration::from_secs(120), || {
            self.dockerd.cmd().arg("version").output().ok().filter(|o| o.status.success()).map(|_| ())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", self.dockerd.log_tail(30)));
    }

    /// Writes this host's `vlcp.conf` (shared ZooKeeper store, this host's OVSDB) and returns it.
    pub fn config(&self) -> PathBuf {
        let path = self.dir.path().join("vlcp.conf");
        let text = format!(
            "proxy.kvstorage='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
             proxy.updatenotifier='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
             module.zookeeperdb.url='zk://{}/'\n\
             module.jsonrpcserver.url='unix://{}'\n\
             module.dockerplugin.ovsbridge='{BRIDGE}'\n",
            self.zk_connect,
            self.ovs.db_sock().display()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `vlcp-cleanup -f <config> -H <engine> --netns <host ns> --interval 1 extra…`.
    pub fn cleanup(&self, extra: &[&str]) -> Run {
        let conf = self.config();
        let mut c = Command::new(cleanup_bin());
        c.arg("-f")
            .arg(&conf)
            .arg("-H")
            .arg(self.dockerd.host())
            .args(["--netns", &self.ovs.netns().name, "--interval", "1"])
            .args(extra)
            .env_remove("DOCKER_HOST");
        let out = run(&mut c).expect("run vlcp-cleanup");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every store key and value (a shared store: every host's objects).
    pub fn store_dump(&self) -> BTreeMap<String, String> {
        self.rt.block_on(async {
            let store = self.model.db().store();
            let keys = store.scan_prefix("").await.unwrap();
            let vals = store.mget(&keys).await.unwrap();
            keys.into_iter().zip(vals).map(|(k, v)| (k, format!("{v:?}"))).collect()
        })
    }

    /// The links of the host namespace, OVS interfaces with their iface-id and error, the
    /// containers and their networks, and the store: everything vlcp-cleanup may touch, one
    /// sorted line per thing.
    pub fn state(&self) -> Vec<String> {
        let links = self.ovs.netns().run(&["ip", "-o", "link", "show"]).unwrap();
        let mut links: Vec<String> =
            links.lines().map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_string()).collect();
        links.sort();
        let ovs = self
            .ovs
            .vsctl(&["--format=csv", "--columns=name,external_ids,ofport,error", "list", "interface"])
            .unwrap();
        let mut ovs: Vec<&str> = ovs.lines().collect();
        ovs.sort();
        let ps = self.docker(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}} {{.Networks}}"]);
        let mut lines: Vec<String> = links.into_iter().map(|l| format!("link {l}")).collect();
        lines.extend(ovs.iter().map(|l| format!("ovs {l}")));
        lines.extend(ps.lines().map(|l| format!("container {l}")));
        lines.extend(self.store_dump().into_iter().map(|(k, v)| format!("store {k} = {v}")));
        lines.sort();
        lines
    }

    /// Our objects left on this host: veth host ends, OVS interfaces bound to docker ports.
    pub fn plumbing(&self) -> (Vec<String>, Vec<String>) {
        let links = self.ovs.netns().run(&["ip", "-o", "link", "show"]).unwrap();
        let veths = links
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
            .filter(|n| n.starts_with("vlcp"))
            .collect();
        let ifaces = self
            .ovs
            .vsctl(&["--format=csv", "--no-headings", "--columns=name,external_ids", "list", "interface"])
            .unwrap();
        let ifaces = ifaces
            .lines()
            .filter(|l| l.starts_with("vlcp") || l.contains("iface-id=docker-"))
            .map(|l| l.split(',').next().unwrap_or_default().to_string())
            .collect();
        (veths, ifaces)
    }

    /// Logical port ids in the store whose DockerInfo (if any) is this host's or unrecorded.
    pub fn port_ids(&self) -> Vec<String> {
        let keys = self.rt.block_on(self.model.db().store().scan_prefix("viperflow.logicalport.")).unwrap();
        keys.iter().filter_map(|k| k.strip_prefix("viperflow.logicalport.")).map(str::to_owned).collect()
    }

    /// Reserved addresses of every IPAM pool: `(pool, ip)`.
    pub fn reservations(&self) -> Vec<(String, String)> {
        use vlcp_plugin::docker::ipam::IpamReserve;
        self.rt.block_on(async {
            let db = self.model.db();
            let keys = db.store().scan_prefix(&format!("{}.", IpamReserve::PREFIX)).await.unwrap();
            db.walk(&keys, |w| {
                let mut out = Vec::new();
                for k in &keys {
                    if let Some(r) = w.get::<IpamReserve>(k)? {
                        out.extend(r.data.reserved_ips.keys().map(|ip| (r.data.id.clone(), ip.clone())));
                    }
                }
                Ok(out)
            })
            .await
            .unwrap()
        })
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_plugin();
        if let Some(mut c) = self.restarted.take() {
            // SAFETY: kill(2) on the dockerd this suite started.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let gone = wait_until("restarted dockerd to stop", Duration::from_secs(15), || {
                c.try_wait().ok().flatten().map(|_| ())
            });
            if gone.is_err() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Fails naming the lines that differ between two [`Host::state`]s.
pub fn assert_same_state(before: &[String], after: &[String], what: &str) {
    let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(gone.is_empty() && new.is_empty(), "{what}: removed {gone:#?}\nadded {new:#?}");
}

/// What a vlcp-cleanup run printed.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` report, after checking the exit status.
    pub fn json(&self, code: i32) -> serde_json::Value {
        assert_eq!(self.code, Some(code), "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// The kinds+names of a JSON report's actions, e.g. `"logical_port docker-…"`.
pub fn actions(report: &serde_json::Value) -> Vec<String> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let name = ["name", "id", "ip"].iter().find_map(|k| a[*k].as_str()).unwrap_or_default();
            format!("{} {name}", a["kind"].as_str().unwrap())
        })
        .collect()
}

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(|deps| deps.parent()).expect("target/<profile> dir").to_path_buf()
}

/// The vlcp-cleanup binary of this checkout, built once per test process.
pub fn cleanup_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = profile_dir();
        let target = dir.parent().expect("target dir");
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(p) => p.to_string(),
            None => panic!("odd target dir {}", dir.display()),
        };
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let out = Command::new(cargo)
            .args(["build", "--quiet", "-p", "vlcp-cleanup", "--bin", "vlcp-cleanup", "--profile", &profile])
            .arg("--target-dir")
            .arg(target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "building vlcp-cleanup failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("vlcp-cleanup")
    })
}

/// Pings `ip` from inside `container` until one reply comes (up to `tries`).
pub fn ping(h: &Host, container: &str, ip: &str, tries: u32) -> bool {
    (0..tries).any(|_| {
        run(h.dockerd.cmd().args(["exec", container, "ping", "-c", "1", "-W", "1", ip]))
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// Our SDN controller on [`BRIDGE`], fed with model snapshots by [`Sdn::push_and_wait`].
pub struct Sdn {
    pub ctl: SdnController,
    pub of: Arc<Controller>,
    pub dpid: u64,
    feed: watch::Sender<Arc<ModelSnapshot>>,
}

fn subnet_of(port: &vlcp::model::LogicalPort) -> Option<String> {
    let key = port.subnet.as_ref()?.key();
    vlcp::objectdb::object::parse_object_key(vlcp::model::SubNet::PREFIX, key).and_then(|mut v| v.pop())
}

fn ids(list: Vec<serde_json::Value>) -> Vec<String> {
    list.iter().filter_map(|v| v["id"].as_str().map(str::to_owned)).collect()
}

impl Host {
    /// The model as the SDN pipeline takes it.
    pub fn snapshot(&self) -> ModelSnapshot {
        self.rt.block_on(async {
            let m = &self.model;
            let mut s = ModelSnapshot::default();
            for id in ids(m.list_physical_networks(None, &[]).await.unwrap()) {
                let p = m.physical_network(&id).await.unwrap().unwrap();
                let kind =
                    NetworkType::parse(serde_json::to_value(p.kind).unwrap().as_str().unwrap()).unwrap();
                s.physical_networks.insert(id.clone(), input::PhysicalNetwork { id, kind });
            }
            for id in ids(m.list_logical_networks(None, None, &[]).await.unwrap()) {
                let n = m.logical_network(&id).await.unwrap().unwrap();
                let dhcp = input::DhcpSettings { mtu: n.mtu.map(|v| v as u16), ..Default::default() };
                let net = input::LogicalNetwork {
                    id: id.clone(),
                    physical_network: n.physicalnetwork_id(),
                    segment: n.vni.or(n.vlanid),
                    dhcp,
                };
                s.logical_networks.insert(id, net);
            }
            for id in ids(m.list_subnets(None, None, &[]).await.unwrap()) {
                let sn = m.subnet(&id).await.unwrap().unwrap();
                let subnet = input::Subnet {
                    id: id.clone(),
                    network: sn.network_id(),
                    cidr: sn.cidr.parse().unwrap(),
                    gateway: sn.gateway.as_deref().map(|g| g.parse().unwrap()),
                    host_routes: Vec::new(),
                    external: sn.isexternal,
                    dhcp: input::DhcpSettings::default(),
                };
                s.subnets.insert(id, subnet);
            }
            for id in ids(m.list_logical_ports(None, None, &[]).await.unwrap()) {
                let p = m.logical_port(&id).await.unwrap().unwrap();
                let port = input::LogicalPort {
                    id: id.clone(),
                    network: p.network_id(),
                    subnet: subnet_of(&p),
                    mac: input::parse_mac(&p.mac_address).unwrap(),
                    ip: p.ip_address.as_deref().map(|ip| ip.parse().unwrap()),
                    hostname: None,
                };
                s.logical_ports.insert(id, port);
            }
            s
        })
    }

    /// Starts our OpenFlow controller + SDN pipeline and makes it [`BRIDGE`]'s controller.
    pub fn attach_sdn(&self) -> Sdn {
        let sock = self.ovs.dir().join("ctl.sock");
        let of = self.rt.block_on(async {
            let cfg = ControllerConfig {
                listen: vec![format!("unix:{}", sock.display())],
                ..ControllerConfig::default()
            };
            Arc::new(Controller::start(cfg).await.expect("controller listens"))
        });
        self.ovs.vsctl(&["set-controller", BRIDGE, &format!("unix:{}", sock.display())]).unwrap();
        let dpid = self.ovs.vsctl(&["get", "bridge", BRIDGE, "datapath_id"]).unwrap();
        let dpid = u64::from_str_radix(dpid.trim_matches('"'), 16).unwrap();
        let (feed, rx) = watch::channel(Arc::new(self.snapshot()));
        let ctl = {
            let _g = self.rt.enter();
            SdnController::spawn(of.clone(), self.ovsdb.clone(), rx, SdnConfig::default()).unwrap()
        };
        Sdn { ctl, of, dpid, feed }
    }
}

impl Sdn {
    /// Sends the model's current state to the controller and waits until the ports of this
    /// switch (those with an OVS interface here) are bound and their flows installed.
    pub fn push_and_wait(&self, h: &Host, want: &[String]) {
        let snap = h.snapshot();
        let mut want: Vec<String> = want.to_vec();
        want.sort();
        self.feed.send_replace(Arc::new(snap));
        let dpid = self.dpid;
        let got = h.rt.block_on(self.ctl.wait_status(Duration::from_secs(30), |s| {
            let sw = s.get(&dpid)?;
            let mut have = sw.ports.clone();
            have.sort();
            (sw.synced && have == want).then_some(())
        }));
        assert!(
            got.is_some(),
            "ports {want:?} not bound: {:?}\n{}",
            self.ctl.status(),
            h.ovs.ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default()
        );
    }
}
