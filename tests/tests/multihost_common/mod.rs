//! Shared by the `multihost_*` suites: the two-host lab (hosts A and B, each an OVS in its own
//! namespace, joined by an underlay with a flow-based `vxlan0` port), one ZooKeeper (single
//! server or ensemble) and one real `vlcp` daemon per host on that ZooKeeper, each driving its
//! host's bridge through unix sockets in the host's OVS directory. Optionally a dockerd per host
//! with the daemon's Docker plugin.

#![allow(dead_code)] // each suite uses its own part

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vlcp_e2e::lab::{self, Dockerd, Endpoint, EndpointOpts, Host, TwoHost, VlcpDaemon, ZooKeeper, free_port};

/// The VXLAN physical network every suite uses.
pub const PHYSNET: &str = "vx";

/// One host's daemon and its management API.
pub struct Daemon {
    pub daemon: Option<VlcpDaemon>,
    pub api: String,
    pub dir: tempfile::TempDir,
}

/// The lab with a daemon on each host.
pub struct World {
    pub daemons: Vec<Daemon>,
    pub dockerds: Vec<Dockerd>,
    pub lab: TwoHost,
}

fn startup(docker: bool) -> String {
    let mut mods = vec![
        "vlcp.service.sdn.viperflow.ViperFlow",
        "vlcp.service.sdn.ioprocessing.IOProcessing",
        "vlcp.service.sdn.l2switch.L2Switch",
        "vlcp.service.manage.webapi.WebAPI",
        "vlcp.service.sdn.vxlancast.VXLANCast",
        "vlcp.service.sdn.arpresponder.ARPResponder",
        "vlcp.service.sdn.dhcpserver.DHCPServer",
        "vlcp.service.sdn.icmpresponder.ICMPResponder",
    ];
    if docker {
        mods.push("vlcp_docker.dockerplugin.DockerPlugin");
    }
    let quoted: Vec<String> = mods.iter().map(|m| format!("'{m}'")).collect();
    format!("server.startup=({})\n", quoted.join(", "))
}

impl World {
    /// Both hosts (integration bridge `bridge`), a daemon per host on `zk` under a fresh chroot,
    /// with a dockerd per host when `docker`. The VXLAN physical network and `vxlan0` physical
    /// port are created through host A's API.
    pub fn start(bridge: &str, zk: &ZooKeeper, docker: bool) -> World {
        let lab = TwoHost::start(bridge).expect("two-host lab");
        let chroot = lab::unique("zk");
        let mut daemons = Vec::new();
        let mut dockerds = Vec::new();
        for h in [Host::A, Host::B] {
            let ovs = lab.host(h);
            ovs.vsctl(&["set", "Open_vSwitch", ".", &format!("external_ids:system-id=host-{h:?}")]).unwrap();
            let of_sock = ovs.dir().join("vlcp-openflow.sock");
            ovs.vsctl(&["set-controller", bridge, &format!("unix:{}", of_sock.display())]).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let port = free_port().unwrap();
            let mut cfg = format!(
                "proxy.kvstorage='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
                 proxy.updatenotifier='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
                 module.zookeeperdb.url='zk://{}/{chroot}'\n\
                 module.jsonrpcserver.url='unix://{}'\n\
                 module.openflowserver.url='unix://{}'\n\
                 module.httpserver.vhost.api.url='tcp://127.0.0.1:{port}/'\n\
                 module.l2switch.learning=False\n\
                 module.vxlancast.learning=False\n\
                 module.vxlancast.prepush=True\n{}",
                zk.connect_string(),
                ovs.db_sock().display(),
                of_sock.display(),
                startup(docker),
            );
            if docker {
                let d = Dockerd::start_in(Some(ovs.netns())).expect("dockerd");
                cfg.push_str(&format!(
                    "module.httpserver.vhost.docker.url='unix://{}'\n\
                     module.dockerplugin.ovsbridge='{bridge}'\n\
                     module.dockerplugin.mtu=1450\n\
                     module.dockerplugin.cidrrange='198.19.0.0/16'\n\
                     module.dockerplugin.netns='/run/netns/{}'\n",
                    d.plugin_socket().display(),
                    ovs.netns().name,
                ));
                dockerds.push(d);
            }
            let daemon = VlcpDaemon::start(dir.path(), &cfg).unwrap_or_else(|e| panic!("host {h:?}: {e}"));
            daemons.push(Daemon { daemon: Some(daemon), api: format!("http://127.0.0.1:{port}"), dir });
        }
        let w = World { daemons, dockerds, lab };
        w.api(Host::A, "createphysicalnetwork", &format!("type=vxlan&id={PHYSNET}&vnirange=`[[100,300]]`"));
        w.api(Host::A, "createphysicalport", &format!("physicalnetwork={PHYSNET}&name=vxlan0"));
        w
    }

    /// The daemon of host `h`.
    pub fn daemon(&self, h: Host) -> &Daemon {
        &self.daemons[h as usize]
    }

    /// `POST /viperflow/<method>` with a form body on host `h`'s API; panics on failure.
    pub fn api(&self, h: Host, method: &str, form: &str) -> Value {
        self.try_api(h, method, form).unwrap_or_else(|e| panic!("{method}?{form}: {e}\n{}", self.logs()))
    }

    /// Like [`World::api`], returning the error text (status line and body) instead.
    pub fn try_api(&self, h: Host, method: &str, form: &str) -> Result<Value, String> {
        self.try_api_within(h, method, form, Duration::from_secs(20))
    }

    /// [`World::try_api`] with a time limit for the answer.
    pub fn try_api_within(
        &self,
        h: Host,
        method: &str,
        form: &str,
        limit: Duration,
    ) -> Result<Value, String> {
        let url = format!("{}/viperflow/{method}", self.daemon(h).api);
        let secs = limit.as_secs().max(1).to_string();
        let out = Command::new("curl")
            .args(["-s", "-g", "--max-time", &secs, "--fail-with-body", "-d", form, &url])
            .output()
            .map_err(|e| e.to_string())?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("curl exit {:?}: {body}", out.status.code()));
        }
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        Ok(v["result"].clone())
    }

    /// A logical network with its subnet `<id>-s` (`cidr`), VNI `vni`.
    pub fn network(&self, id: &str, vni: u32, cidr: &str) {
        self.api(Host::A, "createlogicalnetwork", &format!("physicalnetwork={PHYSNET}&id={id}&vni={vni}"));
        self.api(Host::A, "createsubnet", &format!("logicalnetwork={id}&id={id}-s&cidr={cidr}"));
    }

    /// A logical port `id` on `net` with address `ip` (through host `via`'s API); returns its MAC.
    pub fn port(&self, via: Host, id: &str, net: &str, ip: &str) -> String {
        let r = self.api(
            via,
            "createlogicalport",
            &format!("logicalnetwork={net}&subnet={net}-s&id={id}&ip_address={ip}"),
        );
        r[0]["mac_address"].as_str().unwrap_or_else(|| panic!("no mac in {r}")).to_string()
    }

    /// A namespace on host `h` plugged into the bridge as logical port `id` (its MAC and IP).
    pub fn endpoint(&self, h: Host, id: &str, mac: &str, ip: &str) -> Endpoint {
        let opts = EndpointOpts {
            mtu: Some(1400),
            mac: Some(mac.to_string()),
            iface_id: Some(id.to_string()),
            ..Default::default()
        };
        self.lab.host(h).add_endpoint_with(&self.lab.bridge, &format!("{ip}/24"), &opts).unwrap()
    }

    /// Both daemons' logs and flows, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (i, d) in self.daemons.iter().enumerate() {
            let log = d.daemon.as_ref().map(|d| d.log_text()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let h = if i == 0 { Host::A } else { Host::B };
            let flows = self.lab.host(h).ofctl_br("dump-flows", &self.lab.bridge, &[]).unwrap_or_default();
            s.push_str(&format!(
                "--- host {h:?} vlcp log ---\n{}\n--- host {h:?} flows ---\n{flows}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        s
    }
}

/// One ping with a short timeout.
pub fn ping_once(ep: &Endpoint, ip: &str) -> bool {
    ep.ns.succeeds(&["ping", "-n", "-q", "-c", "1", "-W", "1", ip])
}

/// Pings (200 ms timeout each) until a reply or `limit`; the time to the first reply.
pub fn time_to_reach(ep: &Endpoint, ip: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ep.ns.succeeds(&["ping", "-n", "-q", "-c", "1", "-W", "0.2", ip]) {
            return Some(start.elapsed());
        }
    }
    None
}

/// The `p`-th percentile (0..=100) of `v` (sorted in place).
pub fn percentile(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    let i = ((v.len() * p).div_ceil(100)).clamp(1, v.len()) - 1;
    v[i]
}
