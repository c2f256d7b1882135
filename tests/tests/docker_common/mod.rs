//! Shared by the `docker_*` suites: OVS, a dockerd inside its namespace, our driver on the
//! engine's plugin socket, and optionally our SDN controller on the bridge, fed with snapshots
//! of the model the driver writes.

#![allow(dead_code)] // each suite uses its own part

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::watch;
use vlcp::model::{Model, Params, PhysicalNetworkSpec};
use vlcp::objectdb::DataObject;
use vlcp::objectdb::ObjectDb;
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp::runtime::controller::SdnController;
use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::sdn::config::SdnConfig;
use vlcp::sdn::input::{self, ModelSnapshot, NetworkType};
use vlcp_e2e::lab::{Dockerd, Ovs};
use vlcp_plugin::docker::driver::{DriverConfig, PluginServer, VlcpDriver, start};

pub const BRIDGE: &str = "dockerbr0";

/// OVS, a dockerd in its namespace, and our driver on the engine's plugin socket.
pub struct World {
    server: Option<PluginServer>,
    pub model: Model,
    /// Our OVSDB client (the driver and the controller share it).
    pub ovsdb: OvsdbClient,
    pub dockerd: Dockerd,
    pub ovs: Ovs,
    pub rt: Runtime,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let rt = Runtime::new().unwrap();
        let ovs = Ovs::start().expect("ovs");
        ovs.add_bridge(BRIDGE).unwrap();
        let dockerd = Dockerd::start_in(Some(ovs.netns())).expect("dockerd");
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("objectdb.redb")).unwrap();
        let model = Model::new(ObjectDb::new(Arc::new(store)));
        let (server, ovsdb) = rt.block_on(async {
            let p = serde_json::json!({"id": "ph", "type": "local"});
            model
                .create_physical_networks(vec![
                    PhysicalNetworkSpec::from_params(Params::new(p.as_object().unwrap().clone())).unwrap(),
                ])
                .await
                .unwrap();
            let (ovsdb, _events) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).expect("ovsdb");
            ovsdb.wait_synced(Duration::from_secs(10)).await.expect("ovsdb synced");
            let cfg = DriverConfig {
                netns: Some(PathBuf::from(format!("/run/netns/{}", ovs.netns().name))),
                cidr_range: vlcp::model::rules::Cidr::parse("198.19.0.0/16", true).unwrap(),
                ..DriverConfig::default()
            };
            let driver = VlcpDriver::new(cfg, model.clone(), ovsdb.clone()).expect("driver");
            (start(&dockerd.plugin_socket(), Arc::new(driver)).expect("plugin socket"), ovsdb)
        });
        World { server: Some(server), model, ovsdb, dockerd, ovs, rt, _dir: dir }
    }

    pub fn docker(&self, args: &[&str]) -> String {
        self.dockerd.docker(args).unwrap_or_else(|e| panic!("{e}\n{}", self.dockerd.log_tail(30)))
    }

    pub fn plugin(&self) -> &str {
        self.dockerd.plugin_name()
    }

    /// `(EndpointID, IP, MAC)` of a container's only network.
    pub fn endpoint_of(&self, container: &str) -> (String, String, String) {
        let out = self.docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.EndpointID}} {{.IPAddress}} {{.MacAddress}}{{end}}",
            container,
        ]);
        let v: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(v.len(), 3, "{out}");
        (v[0].into(), v[1].into(), v[2].into())
    }

    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.rt.block_on(self.model.db().store().scan_prefix(prefix)).unwrap()
    }

    pub fn host_links(&self) -> String {
        self.ovs.netns().run(&["ip", "-o", "link", "show"]).unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
    }
}

/// Our SDN controller on [`BRIDGE`], fed with [`World::snapshot`]s by [`Sdn::push`].
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

impl World {
    /// The model as the SDN pipeline takes it (the daemon's loader does this in production).
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
    /// Sends the model's current state to the controller and waits until exactly the model's
    /// ports on this switch are bound and their flows installed.
    pub fn push_and_wait(&self, w: &World) {
        let snap = w.snapshot();
        let mut want: Vec<String> = snap.logical_ports.keys().cloned().collect();
        want.sort();
        self.feed.send_replace(Arc::new(snap));
        let dpid = self.dpid;
        let got = w.rt.block_on(self.ctl.wait_status(Duration::from_secs(30), |s| {
            let sw = s.get(&dpid)?;
            let mut have = sw.ports.clone();
            have.sort();
            (sw.synced && have == want).then_some(())
        }));
        assert!(
            got.is_some(),
            "ports {want:?} not bound: {:?}\n{}",
            self.ctl.status(),
            w.ovs.ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default()
        );
    }
}
